/* Memory limits: a hard limit that allocation never crosses, and a soft
 * limit above which freed memory goes back to the OS at once.
 *
 * The charge counts what strata holds that can be resident: slices handed
 * to spans or free but not yet purged, segment headers (including the
 * 12 KiB a released slot of the segment range keeps), and large mappings
 * (live or cached), minus what has been purged since.  Memory that was never
 * touched is counted too once it is in a span, so the charge bounds the RSS
 * strata is responsible for from above -- except where a madvise failed
 * and the memory stays resident uncharged: a sparse page's units (page.c,
 * purge_flush: they count as purged) and a released slot of the segment
 * range (segment.c, rg_give: until the slot is taken again, which maps it
 * afresh).  Free slices whose purge fails stay dirty and charged, and the
 * next purge tries them again (since stop 32).  madvise of strata's own
 * private mappings fails only when fault injection makes it.  Heap structs and the segment map
 * (a few KiB per thread, 4 KiB per 16 GiB of address space) are not charged.
 *
 * Protocol: `charged` is changed only by atomic add/sub/CAS.  With a hard
 * limit, _st_charge is a CAS loop that adds only while the sum stays within
 * the limit, so under any number of racing threads the charge never exceeds
 * it: an allocation that would need more gets NULL/ENOMEM instead.  Without
 * a hard limit it is one atomic add.
 *
 * The soft limit defaults (option soft_limit=-1) to 90% of the cgroup v2
 * memory.max of the process, if one is set: the kernel would otherwise
 * start reclaiming or OOM-killing at memory.max, whatever our caches hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "malloc/internal.h"

static _Atomic size_t charged;
static _Atomic size_t hard_limit, soft_limit, limit_failures;
static size_t cgroup_max;              /* memory.max in bytes, 0 = none/unknown */

bool _st_charge(size_t bytes) {
  size_t hard = atomic_load_explicit(&hard_limit, memory_order_relaxed);
  if (hard == 0) { atomic_fetch_add_explicit(&charged, bytes, memory_order_relaxed); return true; }
  size_t cur = atomic_load_explicit(&charged, memory_order_relaxed);
  do {
    if (bytes > hard || cur > hard - bytes) {
      atomic_fetch_add_explicit(&limit_failures, 1, memory_order_relaxed);
      return false;
    }
  } while (!atomic_compare_exchange_weak_explicit(&charged, &cur, cur + bytes,
                                                  memory_order_relaxed, memory_order_relaxed));
  return true;
}

bool _st_charge_fits(size_t bytes) {
  size_t hard = atomic_load_explicit(&hard_limit, memory_order_relaxed);
  return hard == 0 || atomic_load_explicit(&charged, memory_order_relaxed) + bytes <= hard;
}

void _st_charge_force(size_t bytes) { atomic_fetch_add_explicit(&charged, bytes, memory_order_relaxed); }

void _st_uncharge(size_t bytes) { atomic_fetch_sub_explicit(&charged, bytes, memory_order_relaxed); }

size_t _st_charged(void) { return atomic_load_explicit(&charged, memory_order_relaxed); }

bool _st_over_soft(void) {
  size_t soft = atomic_load_explicit(&soft_limit, memory_order_relaxed);
  return soft != 0 && atomic_load_explicit(&charged, memory_order_relaxed) > soft;
}

/* Read a small file into buf (NUL-terminated) with plain syscalls: this runs
 * inside the first malloc. */
static ssize_t read_small(const char *path, char *buf, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return r;
}

/* memory.max of our cgroup v2 ("0::/path" in /proc/self/cgroup), 0 if none. */
static size_t cgroup_memory_max(void) {
  char cg[512], path[768], val[64];
  if (read_small("/proc/self/cgroup", cg, sizeof cg) <= 0) return 0;
  char *line = strstr(cg, "0::");
  if (line == NULL) return 0;
  line += 3;
  size_t len = strcspn(line, "\n");
  if (_st_snprintf(path, sizeof path, "/sys/fs/cgroup%.*s/memory.max", (int)len, line) >= (int)sizeof path)
    return 0;
  if (read_small(path, val, sizeof val) <= 0) {
    /* inside a container the cgroup root is often mounted as our own */
    if (read_small("/sys/fs/cgroup/memory.max", val, sizeof val) <= 0) return 0;
  }
  if (val[0] < '0' || val[0] > '9') return 0;        /* "max": no limit */
  size_t v = 0;
  for (const char *s = val; *s >= '0' && *s <= '9'; s++) v = v * 10 + (size_t)(*s - '0');
  return v;
}

void _st_limits_changed(void) {
  long hard = _st_option(OPT_HARD_LIMIT), soft = _st_option(OPT_SOFT_LIMIT);
  atomic_store(&hard_limit, hard > 0 ? (size_t)hard : 0);
  size_t s = soft > 0 ? (size_t)soft : soft < 0 ? cgroup_max / 10 * 9 : 0;
  atomic_store(&soft_limit, s);
}

void _st_limits_init(void) {
  if (_st_option(OPT_SOFT_LIMIT) < 0) cgroup_max = cgroup_memory_max();
  _st_limits_changed();
  if (_st_option(OPT_VERBOSE) && (hard_limit || soft_limit))
    _st_message("strata: limits: soft %zu, hard %zu bytes (cgroup memory.max %zu)\n",
                (size_t)soft_limit, (size_t)hard_limit, cgroup_max);
}

size_t _st_cgroup_max(void) { return cgroup_max; }

void _st_limits_stats(strata_stats_t *st) {
  st->soft_limit = atomic_load(&soft_limit);
  st->hard_limit = atomic_load(&hard_limit);
  st->limit_failures = atomic_load(&limit_failures);
}
