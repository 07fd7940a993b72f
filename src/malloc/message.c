/* Messages and the one error reporter.  Nothing here calls malloc: a
 * tiny formatter (%s %.*s %d %u %ld %lu %zu %zx %x %p %c %%) writes into a
 * stack buffer that goes to stderr with write(2). */
#include <stdarg.h>
#include <stdlib.h>
#include <stdatomic.h>
#include "malloc/internal.h"

static size_t put_num(char *buf, size_t n, size_t pos, unsigned long v, unsigned base, int neg) {
  char tmp[24];
  int k = 0;
  do { tmp[k++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
  if (neg) tmp[k++] = '-';
  while (k > 0) { if (pos + 1 < n) buf[pos] = tmp[k - 1]; pos++; k--; }
  return pos;
}

static int st_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap) {
  size_t pos = 0;
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') { if (pos + 1 < n) buf[pos] = *f; pos++; continue; }
    f++;
    int prec = -1, lng = 0;
    if (*f == '.' && f[1] == '*') { prec = va_arg(ap, int); f += 2; }
    while (*f == 'l' || *f == 'z') { lng = 1; f++; }
    switch (*f) {
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)";
      for (int i = 0; s[i] && (prec < 0 || i < prec); i++) { if (pos + 1 < n) buf[pos] = s[i]; pos++; }
      break; }
    case 'd': { long v = lng ? va_arg(ap, long) : va_arg(ap, int);
      pos = put_num(buf, n, pos, v < 0 ? (unsigned long)-v : (unsigned long)v, 10, v < 0); break; }
    case 'u': pos = put_num(buf, n, pos, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0); break;
    case 'x': pos = put_num(buf, n, pos, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0); break;
    case 'p': if (pos + 2 < n) { buf[pos] = '0'; buf[pos + 1] = 'x'; } pos += 2;
      pos = put_num(buf, n, pos, (unsigned long)va_arg(ap, void *), 16, 0); break;
    case 'c': { char c = (char)va_arg(ap, int); if (pos + 1 < n) buf[pos] = c; pos++; break; }
    case '%': if (pos + 1 < n) buf[pos] = '%'; pos++; break;
    default: if (!*f) f--; break;
    }
  }
  if (n) buf[pos < n ? pos : n - 1] = 0;
  return (int)pos;
}

int _st_snprintf(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = st_vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return r;
}

void _st_message(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int r = st_vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  _st_os_write(2, buf, r < (int)sizeof buf ? (size_t)r : sizeof buf - 1);
}

static _Atomic size_t misuse_count;
size_t _st_misuse_count(void) { return atomic_load_explicit(&misuse_count, memory_order_relaxed); }

/* One line per misuse: what, where, which size class (with
 * ST_MISUSE_LARGE: a large or region block, by its usable size); then
 * abort, or (on_misuse=ignore) count it and let the caller ignore the
 * call. */
ST_COLD void _st_misuse(const char *what, const void *p, size_t class_size) {
  atomic_fetch_add_explicit(&misuse_count, 1, memory_order_relaxed);
  int ab = _st_option(OPT_ABORT_ON_ERROR) != 0;
  bool large = (class_size & ST_MISUSE_LARGE) != 0;
  class_size &= ~ST_MISUSE_LARGE;
  if (class_size)
    _st_message("strata: %s (pointer %p, %s %zu bytes)%s\n", what, p, large ? "a large block of" : "size class",
                class_size, ab ? "; aborting" : "; ignored");
  else
    _st_message("strata: %s (pointer %p)%s\n", what, p, ab ? "; aborting" : "; ignored");
  if (ab) abort();
}

ST_COLD void _st_error(const char *what, const void *p) { _st_misuse(what, p, 0); }

/* The line after a fault report: how far outside the `size`-byte block an
 * address d bytes from its start lies, counted from the block's nearest
 * byte (1 for the first byte past it, or the byte just before it). */
ST_COLD void _st_report_distance(long d, size_t size) {
  if (d < 0) _st_message("strata: the address is %ld byte%s before the block\n", -d, d == -1 ? "" : "s");
  else if (size == 0) _st_message("strata: the address is %ld bytes after the start of the 0-byte block\n", d);
  else if ((size_t)d >= size)
    _st_message("strata: the address is %zu byte%s past the block's last byte\n", (size_t)d - size + 1,
                (size_t)d == size ? "" : "s");
}
