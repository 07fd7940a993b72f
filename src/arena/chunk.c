/* Where arena chunks come from: strata_malloc below 64 KiB, the page layer
 * above, and a small per-thread cache of the common small chunk sizes.
 *
 * Why a cache: the talloc/APR workload creates and destroys many short-lived
 * child arenas, each with one or two small chunks (4 and 8 KiB by default).
 * Those sizes fill only a few blocks per malloc page, so a burst of frees
 * empties whole pages, the malloc layer retires them, and the next burst
 * pays for setting them up again.  APR keeps a free list of blocks in its
 * allocator for the same reason.  Here a thread keeps, of each power-of-two
 * size from 4 to 32 KiB, up to CC_MAX chunks and CC_CLASS_BYTES bytes (64,
 * 64, 32 and 16 chunks: at most 1.75 MiB per thread), last in, first
 * out; anything beyond goes back to strata_free at once, and the cache is
 * emptied when the thread exits (a pthread key destructor) or on
 * strata_arena_cache_flush().
 *
 * Protocol: the cache is thread-local; no locks, no atomics.  A chunk may be
 * freed by another thread than the one that made it (it is plain malloc
 * memory), so caches only ever hold blocks of the exact sizes below.
 */
#include <pthread.h>
#include "arena/internal.h"
#include "os/os.h"
#include "strata/malloc.h"

#define CC_MIN_SHIFT 12                         /* 4 KiB */
#define CC_CLASSES   4                          /* 4, 8, 16, 32 KiB */
#define CC_MAX       64                         /* chunks per class and thread */
#define CC_CLASS_BYTES ((size_t)512 << 10)      /* and bytes per class and thread */

/* Invariant: n[k] = |list[k]|, every block on list[k] is a strata_malloc
 * block of exactly 4 KiB << k, linked through its first word. */
typedef struct ccache {
  void *list[CC_CLASSES];
  unsigned n[CC_CLASSES];
} ccache_t;

static __thread ccache_t *tl_cc;
static pthread_key_t cc_key;
static pthread_once_t cc_once = PTHREAD_ONCE_INIT;

static void cc_drain(ccache_t *cc) {
  for (int k = 0; k < CC_CLASSES; k++) {
    for (void *p = cc->list[k], *n; p; p = n) { n = *(void **)p; strata_free(p); }
    cc->list[k] = NULL;
    cc->n[k] = 0;
  }
}
static void cc_exit(void *arg) {
  ccache_t *cc = (ccache_t *)arg;
  cc_drain(cc);
  if (tl_cc == cc) tl_cc = NULL;
  strata_free(cc);
}
static void cc_key_init(void) { pthread_key_create(&cc_key, cc_exit); }

/* The class of a cacheable size, or -1. */
static inline int cc_class(size_t size) {
  if (size & (size - 1)) return -1;
  int k = __builtin_ctzll(size) - CC_MIN_SHIFT;
  return k >= 0 && k < CC_CLASSES ? k : -1;
}

ST_NOINLINE static ccache_t *cc_create(void) {
  pthread_once(&cc_once, cc_key_init);
  ccache_t *cc = (ccache_t *)strata_calloc(1, sizeof *cc);
  if (!cc) return NULL;
  tl_cc = cc;
  pthread_setspecific(cc_key, cc);
  return cc;
}

ST_INTERNAL void *_st_arena_mem_get(size_t *size, uint8_t *from_os) {
  size_t n = *size;
  if (n >= ARENA_OS_MIN) {
    size_t ps = _st_os_page_size();
    n = (n + ps - 1) & ~(ps - 1);
    void *p = _st_os_alloc(n, 0);
    if (!p) return NULL;
    *size = n;
    *from_os = 1;
    return p;
  }
  *from_os = 0;
  int k = cc_class(n);
  ccache_t *cc = tl_cc;
  if (k >= 0 && cc && cc->list[k]) {
    void *p = cc->list[k];
    cc->list[k] = *(void **)p;
    cc->n[k]--;
    return p;
  }
  return strata_malloc(n);
}

ST_INTERNAL void _st_arena_mem_put(void *p, size_t size, int from_os) {
  if (from_os) { _st_os_release(p, size); return; }
  int k = cc_class(size);
  if (k >= 0) {
    ccache_t *cc = tl_cc;
    if (!cc) cc = cc_create();
    if (cc && cc->n[k] < CC_MAX && (size_t)(cc->n[k] + 1) * size <= CC_CLASS_BYTES) {
      *(void **)p = cc->list[k];
      cc->list[k] = p;
      cc->n[k]++;
      return;
    }
  }
  strata_free(p);
}

STRATA_API void strata_arena_cache_flush(void) {
  if (tl_cc) cc_drain(tl_cc);
}
