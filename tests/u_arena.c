/* u_arena.c -- arenas and pools when the page layer fails (libstrata.a,
 * the _st_os_fail_next hook of src/os/os.h) and their invariant checker.
 *
 * arena:  an oversize request and a new page-layer chunk fail with ENOMEM
 *         while the page layer fails; the arena is unchanged (stats,
 *         _st_arena_check, earlier content) and works once it recovers
 * pool:   a fresh pool's first get (its first commit) fails with ENOMEM,
 *         nothing is counted as live; the next get works; a pool creation
 *         whose reservation fails returns NULL with ENOMEM
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "arena/internal.h"
#include "os/os.h"
#include "strata/arena.h"
#include "test.h"

static void test_arena_oom(void) {
  strata_arena_opts_t o = { .first_chunk = 4096, .max_chunk = 256 << 10 };
  strata_arena_t *a = strata_arena_new_opts(NULL, &o);
  CHECK(a, "arena");
  blk_t b[64];
  for (int i = 0; i < 64; i++) {
    b[i].n = 100 + (size_t)i * 13;
    b[i].p = strata_arena_alloc(a, b[i].n);
    CHECK(b[i].p, "alloc");
    blk_fill(&b[i], 3);
  }
  strata_arena_stats_t s0, s1;
  strata_arena_stats(a, &s0);
  _st_os_fail_next(1);
  errno = 0;
  void *p = strata_arena_alloc(a, 1 << 20);          /* oversize: a page-layer chunk */
  CHECK(p == NULL && errno == ENOMEM, "oversize under failure = %p errno %d", p, errno);
  strata_arena_stats(a, &s1);
  CHECK(s1.used == s0.used && s1.chunks == s0.chunks && s1.reserved == s0.reserved, "arena changed by a failure");
  CHECK(_st_arena_check(a) == 0, "invariants after failure");
  /* normal chunks reach the page layer at 64 KiB: fill until one is needed */
  int failed = 0;
  for (int i = 0; i < 4000 && !failed; i++) {
    strata_arena_stats(a, &s0);
    if (s0.reserved >= (64 << 10)) {
      _st_os_fail_next(1);
      errno = 0;
      p = strata_arena_alloc(a, 60000);               /* no room: needs a new chunk */
      if (!p) { CHECK(errno == ENOMEM, "errno %d", errno); failed = 1; }
      _st_os_fail_next(0);
    } else {
      CHECK(strata_arena_alloc(a, 3000), "fill");
    }
  }
  CHECK(failed, "never saw a page-layer chunk fail");
  CHECK(_st_arena_check(a) == 0, "invariants after a chunk failure");
  for (int i = 0; i < 64; i++) blk_vfy(&b[i], "content after failures");
  p = strata_arena_alloc(a, 1 << 20);
  CHECK(p, "recovered");
  memset(p, 1, 1 << 20);
  strata_arena_destroy(a);
}

static void test_pool_oom(void) {
  /* warm-up: the thread's cache set and the malloc classes the pool layer
   * uses exist, so the injected failure hits the pool's own mapping */
  strata_pool_t *w = strata_pool_new(64, 0, 0, STRATA_POOL_THREADSAFE);
  CHECK(w, "warm-up pool");
  strata_pool_put(w, strata_pool_get(w));
  strata_pool_destroy(w);
  for (unsigned fl = 0; fl <= STRATA_POOL_THREADSAFE; fl++) {
    strata_pool_t *p = strata_pool_new(64, 0, 0, fl);
    CHECK(p, "pool");
    _st_os_fail_next(1);
    errno = 0;
    void *o = strata_pool_get(p);
    CHECK(o == NULL && errno == ENOMEM, "first get under failure = %p errno %d", o, errno);
    strata_pool_stats_t st;
    strata_pool_stats(p, &st);
    CHECK(st.live == 0 && st.carved == 0 && st.committed == 0, "failed get counted: live %zu", st.live);
    o = strata_pool_get(p);
    CHECK(o, "get after recovery");
    strata_pool_put(p, o);
    strata_pool_destroy(p);
    _st_os_fail_next(1);
    errno = 0;
    CHECK(strata_pool_new(64, 0, 0, fl) == NULL && errno == ENOMEM, "pool_new under failure");
    _st_os_fail_next(0);
  }
}

int main(void) {
  alarm(60);
  test_arena_oom();
  test_pool_oom();
  printf("u_arena: all passed\n");
  return 0;
}
