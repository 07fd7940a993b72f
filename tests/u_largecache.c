/* Unit test: the large cache (large.c), which parks freed mappings of blocks
 * above the regions' 16 MiB (region.c has its own test, u_region).
 *
 *  1. A freed 24 MiB block is parked; malloc(20 MiB) gets the same address
 *     (the whole mapping: no fresh pages), its usable size the mapping's.
 *  2. A double free of a parked block is reported (SIGABRT in a child).
 *  3. A large realloc whose pages cannot move (mremap refused) copies into
 *     a fresh block instead of failing.
 *  4. The budget: live plus parked large bytes stay within the high-water
 *     mark of the live bytes plus 4 MiB (LC_SLACK) -- fresh memory taken
 *     past parked mappings that do not fit evicts the oldest of them.
 *  5. Everything freed and trimmed: nothing stays cached.
 * In secure mode (no large cache) it checks instead that a freed large block
 * is never parked.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "malloc/internal.h"
#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

#define MiB ((size_t)1 << 20)

static void *victim;                     /* freed again in a child */
static void free_victim(void) { strata_free(victim); }
static char report[4096];

static size_t cached(void) {
  strata_stats_t st;
  strata_stats_get(&st);
  return st.large_cached;
}

static void fill(unsigned char *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i += 4096) p[i] = (unsigned char)(v + i / 4096);
  p[n - 1] = v;
}
static void check(const unsigned char *p, size_t n, unsigned char v, const char *what) {
  for (size_t i = 0; i < n; i += 4096) CHECK(p[i] == (unsigned char)(v + i / 4096), "%s: byte %zu", what, i);
  CHECK(p[n - 1] == v, "%s: last byte", what);
}

int main(void) {
  _st_process_init();
  if (_st_secure) {   /* secure mode maps every large block afresh: no cache */
    unsigned char *p = strata_malloc(24 * MiB);
    CHECK(p != NULL, "malloc(24 MiB)");
    fill(p, 24 * MiB, 5);
    check(p, 24 * MiB, 5, "secure block");
    strata_free(p);
    CHECK(cached() == 0, "secure mode parked a freed large block (%zu cached)", cached());
    printf("u_largecache: secure mode: freed large blocks are unmapped, never parked\n");
    return 0;
  }
  CHECK(strata_option_set("purge_ms", -1) == 0 && strata_option_set("guard_sample", 0) == 0, "options");
  strata_malloc_trim(0);
  size_t c0 = cached();

  /* 1 */
  unsigned char *big = strata_malloc(24 * MiB);
  CHECK(big != NULL, "malloc(24 MiB)");
  fill(big, 24 * MiB, 1);
  strata_free(big);
  CHECK(cached() >= c0 + 24 * MiB, "24 MiB not parked (%zu cached)", cached());
  unsigned char *a = strata_malloc(20 * MiB);
  CHECK(a == big, "malloc(20 MiB) did not reuse the parked mapping (%p, was %p)", (void *)a, (void *)big);
  CHECK(strata_malloc_usable_size(a) >= 24 * MiB - 4096, "usable size %zu: not the whole mapping",
        strata_malloc_usable_size(a));
  CHECK(cached() == c0, "still %zu cached", cached());
  fill(a, 20 * MiB, 2);
  check(a, 20 * MiB, 2, "reused block");
  printf("24 MiB parked, then 20 MiB at the same address: no fresh mapping\n");

  /* 2 */
  strata_free(a);
  victim = a;
  int ws = test_in_child(free_victim, report, sizeof report);
  CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT && strstr(report, "free()"),
        "double free of a parked block not reported (status %d, stderr '%s')", ws, report);

  /* 3: realloc of a large block whose pages cannot move (the in-place
   * mremap and the landing reservation both fail) copies into a fresh block */
  strata_malloc_trim(0);
  unsigned char *v = strata_malloc(18 * MiB);
  CHECK(v != NULL, "malloc(18 MiB)");
  size_t vu = strata_malloc_usable_size(v);
  CHECK(vu > 18 * MiB, "usable %zu: no bytes past the request to check", vu);
  fill(v, 18 * MiB, 7);
  memset(v + 18 * MiB, 0x5a, vu - 18 * MiB);      /* usable: the program may use them */
  _st_os_fail_next(2);
  unsigned char *w = strata_realloc(v, 30 * MiB);
  _st_os_fail_next(0);
  CHECK(w != NULL && w != v, "realloc(18 -> 30 MiB) with mremap refused: %p (errno %d)", (void *)w, errno);
  check(w, 18 * MiB, 7, "copied block");
  for (size_t i = 18 * MiB; i < vu; i++) CHECK(w[i] == 0x5a, "usable byte %zu (request + %zu) lost", i, i - 18 * MiB);
  fill(w, 30 * MiB, 8);
  strata_free(w);
  printf("realloc with the move refused: copied into a fresh block, content kept\n");

  /* 3b: a realloc that moves into a parked mapping keeps every usable byte
   * too, not only the request's (it copied the request only: found by
   * review, 2026-11-27) */
  strata_malloc_trim(0);
  v = strata_malloc(17 * MiB);
  CHECK(v != NULL, "malloc(17 MiB)");
  vu = strata_malloc_usable_size(v);
  memset(v, 0x5a, vu);
  unsigned char *park = strata_malloc(30 * MiB);
  CHECK(park != NULL, "malloc(30 MiB)");
  memset(park, 0, 30 * MiB);
  strata_free(park);
  w = strata_realloc(v, 20 * MiB);
  CHECK(w == park, "realloc(17 -> 20 MiB) did not move into the parked mapping (%p, parked %p)", (void *)w, (void *)park);
  for (size_t i = 0; i < vu; i++) CHECK(w[i] == 0x5a, "usable byte %zu of %zu lost (request 17 MiB)", i, vu);
  strata_free(w);
  printf("realloc into a parked mapping: all %zu usable bytes kept\n", vu);

  /* 4: three 17 MiB blocks live (the mark: 51 MiB), all freed (51 MiB
   * parked), then a 30 MiB block: it grows one parked mapping by 13 MiB of
   * fresh pages, so one more must go (30 + 34 > 51 + 4), not two. */
  strata_malloc_trim(0);
  unsigned char *seventeen[3];
  for (int i = 0; i < 3; i++) {
    seventeen[i] = strata_malloc(17 * MiB);
    CHECK(seventeen[i] != NULL, "malloc(17 MiB)");
    fill(seventeen[i], 17 * MiB, (unsigned char)(10 + i));
  }
  for (int i = 0; i < 3; i++) strata_free(seventeen[i]);
  CHECK(cached() >= 51 * MiB, "three 17 MiB blocks not parked (%zu cached)", cached());
  unsigned char *thirty = strata_malloc(30 * MiB);
  CHECK(thirty != NULL, "malloc(30 MiB)");
  fill(thirty, 30 * MiB, 20);
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.large_in_use + st.large_cached <= 55 * MiB + 64 * 4096,
        "live %zu + parked %zu large bytes over the mark (51 MiB) + 4 MiB", st.large_in_use, st.large_cached);
  CHECK(st.large_cached >= 17 * MiB, "evicted more than needed (%zu parked)", st.large_cached);
  check(thirty, 30 * MiB, 20, "30 MiB block");
  strata_free(thirty);
  printf("budget: 30 MiB live + %zu MiB parked after a 51 MiB mark\n", st.large_cached / MiB);

  /* 5 */
  strata_malloc_trim(0);
  CHECK(cached() == 0, "%zu bytes still cached after malloc_trim", cached());
  printf("u_largecache: ok\n");
  return 0;
}
