/* Unit test: the large cache splits a parked mapping that is much bigger
 * than a request (large.c, lc_split).
 *
 *  1. A freed 16 MiB block is parked; malloc(2 MiB) gets the same address
 *     (the front 4 MiB of the mapping: no fresh pages), and the 12 MiB tail
 *     stays parked.
 *  2. malloc(9 MiB) then gets the tail (its own header, 4 MiB further on).
 *  3. Both blocks hold and keep their content; usable sizes are the pieces';
 *     a double free of a piece is reported (SIGABRT in a child).
 *  4. A large realloc whose pages cannot move (mremap refused) copies into
 *     a fresh block instead of failing.
 *  5. The budget: live plus parked large bytes stay within the high-water
 *     mark of the live bytes plus 4 MiB (LC_SLACK) -- fresh memory taken
 *     past parked mappings that do not fit evicts the oldest of them.
 *  6. Everything freed and trimmed: nothing stays cached or charged.
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
    unsigned char *p = strata_malloc(16 * MiB);
    CHECK(p != NULL, "malloc(16 MiB)");
    fill(p, 16 * MiB, 5);
    check(p, 16 * MiB, 5, "secure block");
    strata_free(p);
    CHECK(cached() == 0, "secure mode parked a freed large block (%zu cached)", cached());
    printf("u_largecache: secure mode: freed large blocks are unmapped, never parked\n");
    return 0;
  }
  CHECK(strata_option_set("purge_ms", -1) == 0 && strata_option_set("guard_sample", 0) == 0, "options");
  strata_malloc_trim(0);
  size_t c0 = cached();

  unsigned char *big = strata_malloc(16 * MiB);
  CHECK(big != NULL, "malloc(16 MiB)");
  fill(big, 16 * MiB, 1);
  strata_free(big);
  CHECK(cached() >= c0 + 16 * MiB, "16 MiB not parked (%zu cached)", cached());

  /* 1 */
  unsigned char *a = strata_malloc(2 * MiB);
  CHECK(a == big, "malloc(2 MiB) did not reuse the front of the parked mapping (%p, was %p)", (void *)a, (void *)big);
  size_t ua = strata_malloc_usable_size(a);
  CHECK(ua >= 2 * MiB && ua < 4 * MiB, "usable size of the front piece %zu", ua);
  CHECK(cached() >= c0 + 12 * MiB - 64 && cached() < c0 + 16 * MiB, "the tail is not parked (%zu cached)", cached());
  fill(a, 2 * MiB, 2);

  /* 2 */
  unsigned char *b = strata_malloc(9 * MiB);
  CHECK(b == big + 4 * MiB, "malloc(9 MiB) did not take the parked tail (%p, expected %p)", (void *)b,
        (void *)(big + 4 * MiB));
  CHECK(strata_malloc_usable_size(b) >= 9 * MiB && strata_malloc_usable_size(b) <= 12 * MiB + 4096, "usable size of the tail %zu",
        strata_malloc_usable_size(b));
  fill(b, 9 * MiB, 3);

  /* 3 */
  check(a, 2 * MiB, 2, "front piece");
  check(b, 9 * MiB, 3, "tail piece");
  printf("16 MiB parked, then 2 MiB at %p (front) and 9 MiB at %p (tail): no fresh mapping\n", (void *)a, (void *)b);
  strata_free(b);
  victim = b;
  int ws = test_in_child(free_victim, report, sizeof report);
  CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT && strstr(report, "free()"),
        "double free of a split piece not reported (status %d, stderr '%s')", ws, report);
  strata_free(a);

  /* 4: realloc of a large block whose pages cannot move (the in-place
   * mremap and the landing reservation both fail) copies into a fresh block */
  strata_malloc_trim(0);
  unsigned char *v = strata_malloc(3 * MiB);
  CHECK(v != NULL, "malloc(3 MiB)");
  fill(v, 3 * MiB, 7);
  _st_os_fail_next(2);
  unsigned char *w = strata_realloc(v, 12 * MiB);
  _st_os_fail_next(0);
  CHECK(w != NULL && w != v, "realloc(3 -> 12 MiB) with mremap refused: %p (errno %d)", (void *)w, errno);
  check(w, 3 * MiB, 7, "copied block");
  fill(w, 12 * MiB, 8);
  strata_free(w);
  printf("realloc with the move refused: copied into a fresh block, content kept\n");

  /* 5: four 6 MiB blocks live (the mark: 24 MiB), all freed (24 MiB
   * parked), then a 20 MiB block: it grows one parked mapping by 14 MiB of
   * fresh pages, so two more must go (20 + 18 > 24 + 4). */
  strata_malloc_trim(0);
  unsigned char *six[4];
  for (int i = 0; i < 4; i++) {
    six[i] = strata_malloc(6 * MiB);
    CHECK(six[i] != NULL, "malloc(6 MiB)");
    fill(six[i], 6 * MiB, (unsigned char)(10 + i));
  }
  for (int i = 0; i < 4; i++) strata_free(six[i]);
  CHECK(cached() >= 24 * MiB, "four 6 MiB blocks not parked (%zu cached)", cached());
  unsigned char *twenty = strata_malloc(20 * MiB);
  CHECK(twenty != NULL, "malloc(20 MiB)");
  fill(twenty, 20 * MiB, 20);
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.large_in_use + st.large_cached <= 28 * MiB + 64 * 4096,
        "live %zu + parked %zu large bytes over the mark (24 MiB) + 4 MiB", st.large_in_use, st.large_cached);
  CHECK(st.large_cached >= 6 * MiB, "evicted more than needed (%zu parked)", st.large_cached);
  check(twenty, 20 * MiB, 20, "20 MiB block");
  strata_free(twenty);
  printf("budget: 20 MiB live + %zu MiB parked after a 24 MiB mark\n", st.large_cached / MiB);

  /* 6 */
  strata_malloc_trim(0);
  CHECK(cached() == 0, "%zu bytes still cached after malloc_trim", cached());
  printf("u_largecache: ok\n");
  return 0;
}
