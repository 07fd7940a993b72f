/* The exit report: what the program still holds when it calls exit(), for
 * `strata run` (src/tools/run.c) or anyone who sets STRATA_OPTIONS=report=PATH.
 *
 * When it runs.  Process init registers _st_report_at_exit with atexit() at
 * the first malloc (or the library constructor), so it runs late: after the
 * atexit handlers the program registered itself, and after the program's
 * own frees at exit.  Nothing is written when the process ends any other
 * way (_exit, a signal, exec).  A forked child that calls exit() writes a
 * report of its own: reports are *appended* to PATH, each with one write(2)
 * on an O_APPEND descriptor (so two processes' reports never interleave),
 * and each names its pid; a reader picks the one it wants.
 *
 * The format: text lines, fields separated by one space, numbers decimal
 * unless said hex (no 0x).  One report:
 *
 *   strata-report 1 PID EXE               header: format version 1, pid,
 *                                         /proc/self/exe (rest of the line)
 *   stats {JSON}                          strata_stats_print(fp, 1), one line
 *   text LINE                             strata_stats_print(fp, 0), a line each
 *   seg ADDR FREE DIRTY                   a segment (hex address); FREE and
 *                                         DIRTY are its slice masks (hex, bit
 *                                         i = slice i not in a span / free but
 *                                         still resident); slice 0 is the header
 *   span SEG SLICE N KIND CLS BS LIVE CAP RES
 *                                         a span of N slices from slice SLICE of
 *                                         segment SEG (hex).  KIND: c blocks of
 *                                         size class CLS (0..87), a same but
 *                                         abandoned (its thread exited), f a
 *                                         span its thread is setting up (CLS
 *                                         -1, nothing live).  BS block size,
 *                                         LIVE blocks live, CAP blocks carved,
 *                                         RES blocks the span can hold
 *   large ADDR REQ USABLE MAP             a live large block: header address
 *                                         (hex; a region block's own address),
 *                                         bytes asked, usable, mapped
 *   leak KIND SIZE COUNT BYTES            live blocks grouped: KIND small (class
 *                                         <= 1 KiB), medium (class <= 128 KiB),
 *                                         or large; SIZE the block size, or
 *                                         for large the size asked; BYTES =
 *                                         SIZE x COUNT
 *   end PID RECORDS TRUNCATED             the report is complete; TRUNCATED 1
 *                                         when seg/span/large lines were dropped
 *                                         (the heap changed between the counting
 *                                         and the filling pass; leak lines only
 *                                         count what was recorded)
 *
 * "Live" = allocated and not yet freed: for a class span, st_page_used()
 * (the `used` field plus an armed low-water mark, page.c) minus the remote
 * frees still pending in xthread_free (its count bits); the leak lines
 * also leave out the blocks waiting in remote-free batches (remote.c,
 * counted per class); a large block whose
 * header still has the live magic (a mapping parked in the large cache, or
 * a freed region block, does not).  Read without
 * stopping other threads, so exact only when the process is quiet -- which
 * it usually is in exit().
 *
 * How, without malloc under a lock: _st_segments_walk (page-heap lock) runs
 * twice, first to count, then to copy each segment and span into records in
 * an mmap'ed buffer.  Large blocks have no list: the segment map is scanned
 * for header slots (only its resident pages, found with mincore), and each
 * header is copied through a pipe (write(2) of its bytes), which fails with
 * EFAULT instead of crashing if another thread unmapped it meanwhile.  Then,
 * with no lock held, the statistics go through stdio (fopencookie into the
 * same kind of buffer; its FILE is the only malloc, made after the walk, so
 * it is in the stats line but not in the leak lines), the lines are
 * formatted with _st_snprintf, and the whole report is written at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "malloc/internal.h"
#include "malloc/report.h"

/* Must match large.c: the magic of a live large block's header (a parked
 * one has another). */
#define REPORT_LARGE_MAGIC 0x5354524c41524745ull
#define REPORT_NO_CLASS 0xffff

enum { R_SEG, R_SPAN };
typedef struct {
  uintptr_t seg;
  uint64_t free_mask, dirty_mask;      /* R_SEG */
  uint32_t block_size, live, capacity, reserved;
  uint16_t cls;
  uint8_t type, slice, count;
  char kind;                           /* c a s f */
} rec_t;

typedef struct {
  uintptr_t addr;
  size_t req, usable, map_size;
} large_rec_t;

typedef struct {
  rec_t *recs;                         /* NULL: count only */
  size_t n, cap;
  int truncated;
} walk_t;

static void *map_buf(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Under the page-heap lock: no malloc, no other strata lock. */
static void walk_cb(segment_t *seg, page_t *span, void *arg) {
  walk_t *w = arg;
  if (w->recs == NULL) { w->n++; return; }
  if (w->n >= w->cap) { w->truncated = 1; return; }
  rec_t *r = &w->recs[w->n++];
  memset(r, 0, sizeof *r);
  r->seg = (uintptr_t)seg;
  if (span == NULL) {
    r->type = R_SEG;
    r->free_mask = seg->free_mask;
    r->dirty_mask = seg->dirty_mask;
    return;
  }
  r->type = R_SPAN;
  r->slice = (uint8_t)(span - seg->pages);
  r->count = span->slice_count ? span->slice_count : 1;
  uint16_t cls = __atomic_load_n(&span->cls, __ATOMIC_RELAXED);
  r->cls = cls;
  r->block_size = __atomic_load_n(&span->block_size, __ATOMIC_RELAXED);
  r->capacity = __atomic_load_n(&span->capacity, __ATOMIC_RELAXED);
  r->reserved = __atomic_load_n(&span->reserved, __ATOMIC_RELAXED);
  if (cls < ST_NCLASSES && r->block_size == _st_class_size(cls)) {
    uint32_t used = st_page_used(span);   /* the field counts down to a low-water mark */
    uintptr_t xf = atomic_load_explicit(&span->xthread_free, memory_order_relaxed);
    uint32_t pending = (uint32_t)(xf >> XF_COUNT_SHIFT);
    r->kind = __atomic_load_n(&span->abandoned, __ATOMIC_RELAXED) ? 'a' : 'c';
    r->live = used > pending ? used - pending : 0;
  } else {                      /* being set up by its thread right now */
    r->kind = 'f';
    r->live = 0;
    r->cls = REPORT_NO_CLASS;
  }
}

/* Copy n bytes from src, which may have been unmapped meanwhile: 0, or -1
 * (EFAULT) without touching it.  fds is a pipe. */
static int safe_copy(const int fds[2], const void *src, void *dst, size_t n) {
  ssize_t w = write(fds[1], src, n);
  if (w <= 0) return -1;
  ssize_t r = read(fds[0], dst, (size_t)w);
  return w == (ssize_t)n && r == w ? 0 : -1;
}

/* The live blocks of the large-block region starting at segment-map slot
 * `slot` (region.c: 64 KiB units, unit 1 holds a header per unit); out ==
 * NULL: an upper bound on their number (a block is above 128 KiB, so at
 * least 3 of the 1022 units). */
#define REPORT_REGION_UNITS 1024
static size_t region_scan(const int fds[2], size_t slot, large_rec_t *out, size_t cap, int *truncated) {
  if (out == NULL) return (REPORT_REGION_UNITS - 2) / 3 + 1;
  const large_t *hdr = (const large_t *)((slot << ST_SEGMENT_SHIFT) + ((size_t)1 << 16));
  size_t n = 0;
  large_t chunk[32];
  for (size_t u = 0; u < REPORT_REGION_UNITS; u += 32) {
    if (safe_copy(fds, hdr + u, chunk, sizeof chunk) != 0) return n;
    for (size_t i = 0; i < 32; i++) {
      const large_t *h = &chunk[i];
      if (h->magic != ST_REGION_MAGIC || h->usable > h->map_size) continue;
      if (n >= cap) { *truncated = 1; continue; }
      out[n++] = (large_rec_t){(uintptr_t)h->block, h->req, h->usable, h->map_size};
    }
  }
  return n;
}

/* Visit the header slots of the segment map (value SEGMAP_LARGE); only
 * pages of the map that are resident can hold a non-zero byte.  out == NULL:
 * count.  Returns how many were found (at most cap stored). */
static size_t large_scan(large_rec_t *out, size_t cap, int *truncated) {
  static unsigned char vec[(SEGMAP_SLOTS >> 12) + 2];
  size_t ps = _st_os_page_size();
  uintptr_t lo = (uintptr_t)_st_segmap & ~(uintptr_t)(ps - 1);
  uintptr_t hi = (uintptr_t)_st_segmap + SEGMAP_SLOTS;
  size_t pages = (hi - lo + ps - 1) / ps;
  int have_vec = pages <= sizeof vec && mincore((void *)lo, pages * ps, vec) == 0;
  int fds[2] = {-1, -1};
  if (out != NULL && pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return 0;
  size_t n = 0;
  for (size_t pg = 0; pg < pages; pg++) {
    if (have_vec && !(vec[pg] & 1)) continue;
    uintptr_t a = lo + pg * ps, b = a + ps;
    if (a < (uintptr_t)_st_segmap) a = (uintptr_t)_st_segmap;
    if (b > hi) b = hi;
    for (size_t slot = a - (uintptr_t)_st_segmap; slot < b - (uintptr_t)_st_segmap; slot++) {
      unsigned v = __atomic_load_n(&_st_segmap[slot], __ATOMIC_RELAXED);
      if (v == SEGMAP_REGION) { n += region_scan(fds, slot, out ? out + n : NULL, out ? cap - n : 0, truncated); continue; }
      if (v != SEGMAP_LARGE) continue;
      if (out == NULL) { n++; continue; }
      const void *x = (const void *)(slot << ST_SEGMENT_SHIFT);
      large_t h;
      if (safe_copy(fds, x, &h, sizeof h) != 0 || h.magic != REPORT_LARGE_MAGIC) continue;
      if (h.block < (const uint8_t *)x || h.usable > h.map_size) continue;   /* torn: skip */
      if (n >= cap) { *truncated = 1; continue; }
      out[n++] = (large_rec_t){(uintptr_t)x, h.req, h.usable, h.map_size};
    }
  }
  if (fds[0] >= 0) { close(fds[0]); close(fds[1]); }
  return n;
}

/* ---- the output buffer, and stdio into it ---------------------------------- */

typedef struct {
  char *buf;
  size_t len, cap;
  const char *prefix;        /* put at the start of each line written via stdio */
  int bol;
} out_t;

static void out_raw(out_t *o, const char *s, size_t n) {
  if (n > o->cap - o->len) n = o->cap - o->len;
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

static ssize_t out_cookie_write(void *c, const char *s, size_t n) {
  out_t *o = c;
  for (size_t i = 0; i < n; i++) {
    if (o->bol) out_raw(o, o->prefix, strlen(o->prefix));
    out_raw(o, &s[i], 1);
    o->bol = s[i] == '\n';
  }
  return (ssize_t)n;
}

/* One formatted line (lines are short; the header's exe is cut to fit). */
#define LINE_MAX_ 1024
static void out_line(out_t *o, const char *line, int n) {
  if (n >= LINE_MAX_) n = LINE_MAX_ - 1;
  if (n > 0) out_raw(o, line, (size_t)n);
}
#define OUT(o, ...) do { char l_[LINE_MAX_]; out_line(o, l_, _st_snprintf(l_, sizeof l_, __VA_ARGS__)); } while (0)

static void write_stats(out_t *o) {
  cookie_io_functions_t io = {NULL, out_cookie_write, NULL, NULL};
  FILE *fp = fopencookie(o, "w", io);
  if (fp == NULL) return;
  setvbuf(fp, NULL, _IONBF, 0);           /* no stdio buffer to malloc */
  o->prefix = "stats "; o->bol = 1;
  strata_stats_print(fp, 1);
  if (!o->bol) out_raw(o, "\n", 1);
  o->prefix = "text "; o->bol = 1;
  strata_stats_print(fp, 0);
  if (!o->bol) out_raw(o, "\n", 1);
  fclose(fp);
}

/* ---- leaks ------------------------------------------------------------------ */

typedef struct { size_t size, count; } group_t;

static void emit_leaks(out_t *o, const rec_t *recs, size_t nrec, const large_rec_t *lg, size_t nlg,
                       group_t *groups) {
  size_t by_class[ST_NCLASSES] = {0}, pend[ST_NCLASSES] = {0};
  for (size_t i = 0; i < nrec; i++) {
    const rec_t *r = &recs[i];
    if (r->type != R_SPAN || r->live == 0) continue;
    if (r->cls < ST_NCLASSES) by_class[r->cls] += r->live;
  }
  _st_remote_pending(pend);      /* freed, waiting in a live thread's batch */
  for (unsigned c = 0; c < ST_NCLASSES; c++) by_class[c] -= pend[c] < by_class[c] ? pend[c] : by_class[c];
  /* sampled guarded blocks live outside the spans: count them in their class */
  size_t gcap = (size_t)_st_option(OPT_GUARD_SLOTS), gbytes = st_align_up(gcap * sizeof(size_t), 4096);
  size_t *gsz = map_buf(gbytes);
  if (gsz != NULL) {
    size_t ng = _st_guarded_live_sizes(gsz, gcap);
    for (size_t i = 0; i < ng && i < gcap; i++)
      by_class[gsz[i] <= ST_SMALL_FAST_MAX ? st_class_fast(gsz[i]) : st_class_medium(gsz[i])]++;
    munmap(gsz, gbytes);
  }
  for (unsigned c = 0; c < ST_NCLASSES; c++)
    if (by_class[c]) {
      size_t bs = _st_class_size(c);
      OUT(o, "leak %s %zu %zu %zu\n", bs <= ST_SMALL_FAST_MAX ? "small" : "medium", bs, by_class[c],
          bs * by_class[c]);
    }
  /* large: by size asked, in the order first seen (groups has room for nlg) */
  size_t ng = 0;
  for (size_t i = 0; i < nlg; i++) {
    size_t g = 0;
    while (g < ng && groups[g].size != lg[i].req) g++;
    if (g == ng) groups[ng++] = (group_t){lg[i].req, 0};
    groups[g].count++;
  }
  for (size_t g = 0; g < ng; g++)
    OUT(o, "leak large %zu %zu %zu\n", groups[g].size, groups[g].count, groups[g].size * groups[g].count);
}

/* ---- the handler ------------------------------------------------------------ */

static void write_all(const char *path, const char *buf, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) { _st_message("strata: report: cannot open %s (errno %d)\n", path, errno); return; }
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) { _st_message("strata: report: write to %s failed (errno %d)\n", path, errno); break; }
    buf += w;
    len -= (size_t)w;
  }
  close(fd);
}

static void report_at_exit(void);
void _st_report_at_exit(void) {
  ST_VG_QUIET_BEGIN;
  report_at_exit();
  ST_VG_QUIET_END;
}

static void report_at_exit(void) {
  const char *path = _st_option_report();
  if (path == NULL || *path == 0) return;
  long only = _st_option(OPT_REPORT_PID);
  if (only != 0 && only != (long)getpid()) return;   /* a descendant of that process */
  int saved_errno = errno;
  _st_remote_quiesce();        /* the caller's batches: its spans exact too */

  /* 1. count, map the record buffers, fill them */
  walk_t w = {NULL, 0, 0, 0};
  _st_segments_walk(walk_cb, &w);
  int trunc = 0;
  size_t nlarge_guess = large_scan(NULL, 0, &trunc);
  size_t rec_cap = w.n * 2 + 64, lg_cap = nlarge_guess * 2 + 16;
  size_t rec_bytes = st_align_up(rec_cap * sizeof(rec_t), 4096);
  size_t lg_bytes = st_align_up(lg_cap * (sizeof(large_rec_t) + sizeof(group_t)), 4096);
  char *mem = map_buf(rec_bytes + lg_bytes);
  if (mem == NULL) { _st_message("strata: report: out of memory\n"); return; }
  rec_t *recs = (rec_t *)mem;
  large_rec_t *lg = (large_rec_t *)(mem + rec_bytes);
  group_t *groups = (group_t *)(lg + lg_cap);
  w = (walk_t){recs, 0, rec_cap, 0};
  _st_segments_walk(walk_cb, &w);
  size_t nlg = large_scan(lg, lg_cap, &trunc);
  if (nlg > lg_cap) nlg = lg_cap;
  trunc |= w.truncated;

  /* 2. format (no lock held from here on) */
  size_t out_cap = ((size_t)1 << 20) + w.n * 96 + nlg * 96 + ST_NCLASSES * 64 + ST_SLICES * 64;
  out_cap = st_align_up(out_cap, 4096);
  out_t o = {map_buf(out_cap), 0, out_cap, "", 1};
  if (o.buf == NULL) { munmap(mem, rec_bytes + lg_bytes); _st_message("strata: report: out of memory\n"); return; }
  char exe[512];
  ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[el > 0 ? el : 0] = 0;
  for (char *c = exe; *c; c++) if (*c == '\n') *c = '?';
  OUT(&o, "strata-report 1 %d %s\n", (int)getpid(), exe[0] ? exe : "?");
  write_stats(&o);
  for (size_t i = 0; i < w.n; i++) {
    const rec_t *r = &recs[i];
    if (r->type == R_SEG) {
      OUT(&o, "seg %lx %lx %lx\n", (unsigned long)r->seg, (unsigned long)r->free_mask,
          (unsigned long)r->dirty_mask);
    } else {
      int cls = r->kind == 'f' ? -1 : (int)r->cls;
      OUT(&o, "span %lx %u %u %c %d %u %u %u %u\n", (unsigned long)r->seg, (unsigned)r->slice,
          (unsigned)r->count, r->kind, cls, r->block_size, r->live, r->capacity, r->reserved);
    }
  }
  for (size_t i = 0; i < nlg; i++)
    OUT(&o, "large %lx %zu %zu %zu\n", (unsigned long)lg[i].addr, lg[i].req, lg[i].usable, lg[i].map_size);
  emit_leaks(&o, recs, w.n, lg, nlg, groups);
  OUT(&o, "end %d %zu %d\n", (int)getpid(), w.n + nlg, trunc);

  /* 3. one write */
  write_all(path, o.buf, o.len);
  munmap(o.buf, out_cap);
  munmap(mem, rec_bytes + lg_bytes);
  errno = saved_errno;
}
