/* Options: one table, set from the STRATA_OPTIONS environment variable at
 * start-up ("name=value,name=value", also ':' or ' ' separated) or through
 * strata_option_set().  A bad name or value is reported on stderr and
 * ignored, never fatal.  Read on slow paths only.
 *
 *   verbose         0   print what strata decides (start-up, errors)
 *   show_stats      0   print malloc_stats() at exit
 *   abort_on_error  1   abort after reporting heap misuse (invalid/double free)
 *   thp             1   transparent huge pages: 0 never (MADV_NOHUGEPAGE
 *                       everywhere), 1 ask for large blocks of 2 MiB and more
 *                       and leave segments to the system's setting, 2 ask
 *                       for small-object segments too
 *   purge_ms      250   give a freed span's memory back to the OS (madvise)
 *                       after this many milliseconds unused; 0 at once,
 *                       -1 never (malloc_trim still does)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "malloc/internal.h"

typedef struct { const char *name; long value, min, max; } option_desc_t;

static option_desc_t options[OPT_COUNT] = {
  [OPT_VERBOSE]        = { "verbose",        0, 0, 1 },
  [OPT_SHOW_STATS]     = { "show_stats",     0, 0, 1 },
  [OPT_ABORT_ON_ERROR] = { "abort_on_error", 1, 0, 1 },
  [OPT_THP]            = { "thp",            1, 0, 2 },
  [OPT_PURGE_MS]       = { "purge_ms",     250, -1, 3600000 },
};

long _st_option(st_option_t o) { return __atomic_load_n(&options[o].value, __ATOMIC_RELAXED); }

static int option_find(const char *name, size_t len) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0) return i;
  return -1;
}

static int parse_long(const char *s, size_t len, long *out) {
  if (len == 0 || len > 18) return -1;
  long v = 0;
  int neg = 0;
  size_t i = 0;
  if (s[0] == '-') { neg = 1; i = 1; if (len == 1) return -1; }
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = neg ? -v : v;
  return 0;
}

void _st_options_init(void) {
  const char *env = getenv("STRATA_OPTIONS");
  if (env == NULL) return;
  const char *s = env;
  while (*s) {
    while (*s == ',' || *s == ':' || *s == ' ') s++;
    if (!*s) break;
    const char *name = s;
    while (*s && *s != '=' && *s != ',' && *s != ':' && *s != ' ') s++;
    size_t nlen = (size_t)(s - name);
    const char *val = "1";
    size_t vlen = 1;
    if (*s == '=') {
      val = ++s;
      while (*s && *s != ',' && *s != ':' && *s != ' ') s++;
      vlen = (size_t)(s - val);
    }
    int i = option_find(name, nlen);
    long v;
    if (i < 0) _st_message("strata: STRATA_OPTIONS: unknown option '%.*s' ignored\n", (int)nlen, name);
    else if (parse_long(val, vlen, &v) != 0 || v < options[i].min || v > options[i].max)
      _st_message("strata: STRATA_OPTIONS: bad value for '%s' ignored\n", options[i].name);
    else options[i].value = v;
  }
}

STRATA_API int strata_option_set(const char *name, long value) {
  int i = name ? option_find(name, strlen(name)) : -1;
  if (i < 0 || value < options[i].min || value > options[i].max) { errno = EINVAL; return -1; }
  __atomic_store_n(&options[i].value, value, __ATOMIC_RELAXED);
  return 0;
}

STRATA_API long strata_option_get(const char *name) {
  int i = name ? option_find(name, strlen(name)) : -1;
  if (i < 0) { errno = EINVAL; return -1; }
  return _st_option((st_option_t)i);
}
