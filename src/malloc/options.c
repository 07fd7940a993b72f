/* Options: one table, set from the STRATA_OPTIONS environment variable at
 * start-up ("name=value,name=value", also ':' or ' ' separated) or through
 * strata_option_set().  A bad name or value is reported on stderr (what was
 * wrong, what is accepted) and ignored: the default stays.  Never fatal.
 * Read on slow paths only.  Sizes accept a k, m, g or t suffix (powers of
 * 1024).
 *
 *   verbose         0   print what strata decides (start-up, errors, limits)
 *   stats           0   print the statistics at exit: 1 text, 2 JSON (stderr)
 *   abort_on_error  1   abort after reporting heap misuse (invalid/double free)
 *   on_misuse   abort   the same as a word: abort (1) or ignore (0: report,
 *                       count in the statistics, and ignore the call)
 *   secure          0   1: hardened mode (docs/hardening.md): randomized
 *                       allocation order within a page, guard pages after
 *                       large blocks, freed blocks zeroed
 *   secure_zero     1   with secure=1: 0 keeps freed blocks as they are
 *                       (the rest of secure mode stays; mimalloc's secure
 *                       build does not zero either)
 *   guard_sample 100000 one small allocation in about this many gets a page
 *                       of its own between guard pages (use-after-free and
 *                       overflow crash at the faulty access, with a report);
 *                       0 off (src/malloc/guarded.c)
 *   guard_slots    64   how many such guarded allocations may live at once
 *   seg_reserve   64g   address space reserved at the first small
 *                       allocation for the small-object segments (PROT_NONE
 *                       until used: no memory); free tells their blocks by
 *                       one compare.  0, or a reservation the OS refuses
 *                       (RLIMIT_AS): segments are mapped one by one and
 *                       found through the segment map (a little slower)
 *   thp             1   transparent huge pages: 0 never (MADV_NOHUGEPAGE
 *                       everywhere), 1 ask for large blocks in mappings of
 *                       their own (above 16 MiB) and leave segments and
 *                       regions to the system's setting, 2 ask for
 *                       small-object segments and large-block regions too
 *   purge_ms      250   give freed memory back to the OS (madvise) after it
 *                       has been unused this many milliseconds; 0 at once,
 *                       -1 never (malloc_trim and strata_purge still do)
 *   purge_thread    1   allow a background thread that purges on time when
 *                       the program is idle (started only once there is
 *                       something to purge); 0: purge only inside calls
 *   soft_limit     -1   bytes: above it, purge at once and hard; -1 follows
 *                       the cgroup v2 memory.max of the process (if any), 0 none
 *   hard_limit      0   bytes of memory strata may hold (resident or not);
 *                       an allocation that would cross it fails with ENOMEM;
 *                       0 none
 *   report       (unset) write the exit report (statistics, leaks, heap
 *                       map data; see src/malloc/report.c) to this file
 *   report_pid      0   only the process with this pid writes it (0: every
 *                       process that has the option; `strata run` sets it
 *                       to its child's, so descendants write none)
 *
 * The garbage collector's (src/gc, docs/gc.md):
 *   gc_goal       100   heap growth between collections, in percent of the
 *                       live heap (like GOGC); -1 no automatic collection
 *   gc_limit       -1   soft limit of the GC heap in bytes (like GOMEMLIMIT):
 *                       collections come sooner near it; -1 follows 90% of
 *                       the cgroup v2 memory.max (if any), 0 none
 *   gc_max_heap    16g  address space reserved for the GC heap (its hard cap)
 *   gc_finalizer_thread 1  run finalizers on a thread of their own (0: only
 *                       in strata_gc_run_finalizers)
 *   gc_debug        0   1: poison swept slots (0xdb), so a wrongly freed
 *                       object shows at its next use; 2: also walk the heap
 *                       after every mark and abort if a reachable object was
 *                       left unmarked (slow)
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "malloc/internal.h"

typedef struct { const char *name; long value, min, max; int size; } option_desc_t;

#define TB ((long)1 << 40)
static option_desc_t options[OPT_COUNT] = {
  [OPT_VERBOSE]        = { "verbose",        0, 0, 1, 0 },
  [OPT_STATS]          = { "stats",          0, 0, 2, 0 },
  [OPT_ABORT_ON_ERROR] = { "abort_on_error", 1, 0, 1, 0 },
  [OPT_THP]            = { "thp",            1, 0, 2, 0 },
  [OPT_PURGE_MS]       = { "purge_ms",     250, -1, 3600000, 0 },
  [OPT_PURGE_THREAD]   = { "purge_thread",   1, 0, 1, 0 },
  [OPT_SOFT_LIMIT]     = { "soft_limit",    -1, -1, 64 * TB, 1 },
  [OPT_HARD_LIMIT]     = { "hard_limit",     0, 0, 64 * TB, 1 },
  [OPT_GC_GOAL]        = { "gc_goal",      100, -1, 100000, 0 },
  [OPT_GC_LIMIT]       = { "gc_limit",      -1, -1, 64 * TB, 1 },
  [OPT_GC_MAX_HEAP]    = { "gc_max_heap", 16L << 30, 64L << 20, 64 * TB, 1 },
  [OPT_GC_FINALIZER_THREAD] = { "gc_finalizer_thread", 1, 0, 1, 0 },
  [OPT_GC_DEBUG]       = { "gc_debug",       0, 0, 2, 0 },
  [OPT_SECURE]         = { "secure",   STRATA_SECURE_DEFAULT, 0, 1, 0 },
  [OPT_SECURE_ZERO]    = { "secure_zero", STRATA_SECURE_ZERO, 0, 1, 0 },
  [OPT_GUARD_SAMPLE]   = { "guard_sample", 100000, 0, 1L << 30, 0 },
  [OPT_GUARD_SLOTS]    = { "guard_slots",   64, 1, 65536, 0 },
  [OPT_SEG_RESERVE]    = { "seg_reserve", 64L << 30, 0, 64 * TB, 1 },
  [OPT_REPORT_PID]     = { "report_pid",      0, 0, INT_MAX, 0 },
};

#define REPORT_MAX 256
static char report_path[REPORT_MAX];

long _st_option(st_option_t o) { return __atomic_load_n(&options[o].value, __ATOMIC_RELAXED); }
const char *_st_option_report(void) { return report_path; }

static int option_find(const char *name, size_t len) {
  for (int i = 0; i < OPT_COUNT; i++)
    if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0) return i;
  return -1;
}

/* A decimal integer, optionally negative, with a k/m/g/t suffix when
 * `size`; 0 or -1 on a malformed or overflowing value. */
static int parse_long(const char *s, size_t len, int size, long *out) {
  if (len == 0 || len > 24) return -1;
  unsigned shift = 0;
  if (size) {
    switch (s[len - 1]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
      default: break;
    }
    if (shift) len--;
  }
  size_t i = 0;
  int neg = 0;
  if (len > 0 && s[0] == '-') { neg = 1; i = 1; }
  if (i == len || len - i > 18) return -1;
  long v = 0;
  for (; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (shift && v > (LONG_MAX >> shift)) return -1;
  v <<= shift;
  *out = neg ? -v : v;
  return 0;
}

static void known_options(void) {
  _st_message("strata: STRATA_OPTIONS: known options:");
  for (int i = 0; i < OPT_COUNT; i++) _st_message(" %s", options[i].name);
  _st_message(" on_misuse report\n");
}

/* One name=value pair from the environment. */
static void option_from_env(const char *name, size_t nlen, const char *val, size_t vlen, int has_value) {
  if (nlen == 0) {                              /* "=5": a value without a name */
    _st_message("strata: STRATA_OPTIONS: a value without an option name ('=%.*s%s') ignored\n",
                (int)(vlen > 64 ? 64 : vlen), val, vlen > 64 ? "..." : "");
    known_options();
    return;
  }
  if (nlen == 6 && memcmp(name, "report", 6) == 0) {
    if (!has_value || vlen == 0 || vlen >= REPORT_MAX) {
      _st_message("strata: STRATA_OPTIONS: bad value for 'report' (a file name of 1..%d bytes); ignored\n",
                  REPORT_MAX - 1);
      return;
    }
    memcpy(report_path, val, vlen);
    report_path[vlen] = 0;
    return;
  }
  int i = option_find(name, nlen);
  long v;
  if (nlen == 9 && memcmp(name, "on_misuse", 9) == 0) {   /* a name alone reads "1": abort */
    if ((vlen == 5 && memcmp(val, "abort", 5) == 0) || (vlen == 1 && val[0] == '1')) options[OPT_ABORT_ON_ERROR].value = 1;
    else if ((vlen == 6 && memcmp(val, "ignore", 6) == 0) || (vlen == 1 && val[0] == '0')) options[OPT_ABORT_ON_ERROR].value = 0;
    else _st_message("strata: STRATA_OPTIONS: bad value '%.*s' for 'on_misuse' (expected abort or ignore); kept\n",
                     (int)(vlen > 64 ? 64 : vlen), val);
    return;
  }
  if (i < 0) {                                  /* messages stay short and whole */
    _st_message("strata: STRATA_OPTIONS: unknown option '%.*s%s' ignored\n", (int)(nlen > 64 ? 64 : nlen), name,
                nlen > 64 ? "..." : "");
    known_options();
  } else if (!has_value && (options[i].size || options[i].max > 2)) {
    /* a name alone means =1 for switches and levels only: hard_limit alone
     * (or "hard_limit = 5m", cut at the spaces) set a 1-byte limit and
     * every allocation failed, unreported (found by review, stop 32) */
    _st_message("strata: STRATA_OPTIONS: '%s' needs a value (%s=...); %ld kept\n", options[i].name,
                options[i].name, options[i].value);
  } else if (parse_long(val, vlen, options[i].size, &v) != 0 || v < options[i].min || v > options[i].max) {
    _st_message("strata: STRATA_OPTIONS: bad value '%.*s%s' for '%s' (expected %s%ld..%ld); %ld kept\n",
                (int)(vlen > 64 ? 64 : vlen), val, vlen > 64 ? "..." : "", options[i].name, options[i].size ? "a size, k/m/g/t suffix ok, " : "",
                options[i].min, options[i].max, options[i].value);
  } else {
    options[i].value = v;
  }
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
    int has_value = *s == '=';
    if (has_value) {
      val = ++s;
      /* report= takes the rest up to a comma (a path may hold ':') */
      int path = nlen == 6 && memcmp(name, "report", 6) == 0;
      while (*s && *s != ',' && (path || (*s != ':' && *s != ' '))) s++;
      vlen = (size_t)(s - val);
    }
    option_from_env(name, nlen, val, vlen, has_value);
  }
}

/* The options read once, when strata starts: a change at run time would be
 * reported as done and do nothing (found by review, stop 31: secure=1 set
 * at run time read back 1 and freed blocks were not zeroed), so
 * strata_option_set refuses one (EINVAL) unless the value stays. */
static bool option_startup_only(int i) { return i == OPT_SECURE || i == OPT_SECURE_ZERO || i == OPT_STATS; }

/* on_misuse is abort_on_error under another name (abort 1, ignore 0) */
static int option_find_api(const char *name) {
  if (name == NULL) return -1;
  if (strcmp(name, "on_misuse") == 0) return OPT_ABORT_ON_ERROR;
  return option_find(name, strlen(name));
}

STRATA_API int strata_option_set(const char *name, long value) {
  int i = option_find_api(name);
  if (i < 0 || value < options[i].min || value > options[i].max ||
      (option_startup_only(i) && value != _st_option((st_option_t)i))) { errno = EINVAL; return -1; }
  __atomic_store_n(&options[i].value, value, __ATOMIC_RELAXED);
  if (i == OPT_SOFT_LIMIT || i == OPT_HARD_LIMIT) _st_limits_changed();
  if (i == OPT_GUARD_SAMPLE) _st_guarded_changed();
  return 0;
}

STRATA_API long strata_option_get(const char *name) {
  int i = option_find_api(name);
  if (i < 0) { errno = EINVAL; return -1; }
  return _st_option((st_option_t)i);
}
