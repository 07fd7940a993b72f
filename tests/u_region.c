/* Unit test: the large-block regions (src/malloc/region.c), blocks of
 * 128 KiB .. 16 MiB carved from 64 MiB regions in 64 KiB units.
 *
 *  1. Coalescing: two neighbouring blocks freed make one run; a block as big
 *     as both together lands on it (same address, no fresh units).
 *  2. Best fit: of a free run of 5 units and one of 20, a 4-unit block takes
 *     the run of 5.
 *  3. realloc in place: growing into the free units after a block keeps its
 *     address and content; shrinking below half frees the tail, which the
 *     next block of that size gets.  Growing past 16 MiB moves the block into
 *     a mapping of its own, content kept.
 *  4. calloc on dirty units (a freed block filled with 0xff) returns zeros.
 *  5. Misuse: a double free and a realloc of a freed block are reported
 *     (SIGABRT in a child) with "double free" / "already freed"; so is a free
 *     of a pointer inside a block.
 *  6. Purge: with purge_ms=-1 freed units stay resident (counted as cached),
 *     malloc_trim gives them back and unmaps the empty region; with
 *     purge_ms=20 and no purge thread, a later call gives them back.
 *  8. From the review of 2026-11-27: a region that cannot be mapped falls
 *     back to a mapping; at the hard limit a growth in place succeeds after
 *     the caches are trimmed and a failed allocation leaves no empty region;
 *     with purge_ms=0 a shrink gives its tail back at once; in secure mode a
 *     shrink zeroes the tail.
 *  7. Two threads allocate, fill, check and free region blocks of random
 *     sizes, half of them freed by the other thread; every byte pattern
 *     checked.
 * strata_heap_check (which checks every region's invariants) after each.
 * In secure mode blocks above 1 MiB get guarded mappings instead: it checks
 * that, that a freed region block is zeroed, and runs 7 with blocks of at
 * most 1 MiB.
 */
#include <malloc.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "malloc/internal.h"
#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define UNIT (64 * KiB)

static strata_stats_t stats(void) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  return st;
}
static void heap_ok(const char *what) { CHECK(strata_heap_check() == 0, "heap check after %s", what); }

static char *victim;
static char report[4096];
static void double_free(void) { free(victim); }
static void realloc_freed(void) { (void)!realloc(victim, 3 * MiB); }
static void interior_free(void) { free(victim + UNIT); }
static void expect_abort(void (*fn)(void), const char *words, const char *what) {
  int ws = test_in_child(fn, report, sizeof report);
  CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT && strstr(report, words),
        "%s: not reported with '%s' (status %#x, stderr '%s')", what, words, ws, report);
  printf("ok: %s reported\n", what);
}

/* --- 7: two threads, blocks handed across */
#define XN 64
static blk_t xs[2][XN];
static pthread_barrier_t xbar;
static size_t xmax = 3 * MiB;          /* largest block - 129 KiB */
static void *x_thread(void *arg) {
  int me = (int)(intptr_t)arg;
  uint64_t r = 0x9e3779b97f4a7c15ull * (uint64_t)(me + 1);
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < XN; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      size_t n = 129 * KiB + (size_t)(r >> 33) % xmax;
      xs[me][i] = blk_new(n, (unsigned)(round * XN + i), "region block");
    }
    pthread_barrier_wait(&xbar);
    /* free the other thread's odd blocks and our own even ones */
    for (int i = 0; i < XN; i++) {
      blk_t *b = (i & 1) ? &xs[1 - me][i] : &xs[me][i];
      blk_vfy(b, "before free");
      free(b->p);
    }
    pthread_barrier_wait(&xbar);
  }
  return NULL;
}

static void threads(void) {
  pthread_barrier_init(&xbar, NULL, 2);
  pthread_t t0 = test_spawn(x_thread, (void *)0), t1 = test_spawn(x_thread, (void *)1);
  test_join(t0);
  test_join(t1);
  heap_ok("two threads");
  CHECK(stats().large_count == 0, "%zu large blocks live after the threads", stats().large_count);
  printf("ok: two threads, %d blocks each, half freed by the other\n", 20 * XN);
}

static void secure(void) {
  unsigned char *g = malloc(3 * MiB);
  CHECK(g != NULL && ((uintptr_t)g & (UNIT - 1)) != 0, "3 MiB at %p: not a guarded mapping", (void *)g);
  free(g);
  unsigned char *s = malloc(512 * KiB), *keep = malloc(200 * KiB);
  CHECK(s && keep && ((uintptr_t)s & (UNIT - 1)) == 0, "512 KiB at %p: not a region block", (void *)s);
  memset(s, 0xab, 512 * KiB);
  free(s);
  for (size_t i = 0; i < 512 * KiB; i += 4093) CHECK(s[i] == 0, "freed region block: byte %zu is %#x", i, s[i]);
  free(keep);
  printf("ok: secure mode: 3 MiB guarded, a freed region block zeroed\n");
  /* a shrink in place zeroes what goes free */
  unsigned char *k = malloc(1 * MiB);
  CHECK(k != NULL && ((uintptr_t)k & (UNIT - 1)) == 0, "1 MiB region block");
  memset(k, 'A', 1 * MiB);
  k = realloc(k, 300 * KiB);
  unsigned char *n2 = malloc(600 * KiB);
  CHECK(n2 == k + 320 * KiB, "600 KiB at %p, not on the freed tail %p", (void *)n2, (void *)(k + 320 * KiB));
  for (size_t i = 0; i < 600 * KiB; i += 511) CHECK(n2[i] != 'A', "the shrunk tail's old content at byte %zu", i);
  free(n2);
  free(k);
  printf("ok: secure mode: a shrunk block's tail is zeroed\n");
  xmax = 1 * MiB - 129 * KiB;
  threads();
}

int main(void) {
  _st_process_init();
  CHECK(strata_option_set("purge_ms", -1) == 0 && strata_option_set("guard_sample", 0) == 0, "options");
  CHECK(strata_option_set("purge_thread", 0) == 0, "option");
  strata_malloc_trim(0);
  if (_st_secure) { secure(); printf("u_region: ok (secure mode)\n"); return 0; }

  /* 1 */
  char *a = malloc(3 * MiB), *b = malloc(2 * MiB), *fence = malloc(1 * MiB);
  CHECK(a && b && fence, "malloc");
  CHECK(b == a + 3 * MiB && fence == b + 2 * MiB, "not carved in order: %p %p %p", (void *)a, (void *)b, (void *)fence);
  CHECK(((uintptr_t)a & (UNIT - 1)) == 0, "block %p not on a 64 KiB unit", (void *)a);
  CHECK(malloc_usable_size(a) == 3 * MiB, "usable %zu", malloc_usable_size(a));
  memset(a, 1, 3 * MiB);
  memset(b, 2, 2 * MiB);
  free(a);
  free(b);
  size_t cached = stats().large_cached;
  CHECK(cached >= 5 * MiB, "5 MiB freed, %zu cached", cached);
  char *c = malloc(5 * MiB);
  CHECK(c == a, "5 MiB did not land on the coalesced run (%p, expected %p)", (void *)c, (void *)a);
  CHECK(stats().large_cached == cached - 5 * MiB, "cached %zu -> %zu", cached, stats().large_cached);
  heap_ok("coalescing");
  printf("ok: 3 + 2 MiB freed, 5 MiB reuses them at %p\n", (void *)c);
  free(c);
  free(fence);
  strata_malloc_trim(0);

  /* 2: runs of 5 and 20 units, separated by live blocks */
  char *p5 = malloc(5 * UNIT), *s1 = malloc(UNIT * 3), *p20 = malloc(20 * UNIT), *s2 = malloc(UNIT * 3);
  CHECK(p5 && s1 && p20 && s2, "malloc");
  free(p20);
  free(p5);
  char *p4 = malloc(4 * UNIT);
  CHECK(p4 == p5, "4 units went to %p, not to the 5-unit run at %p", (void *)p4, (void *)p5);
  heap_ok("best fit");
  printf("ok: best fit\n");
  free(p4); free(s1); free(s2);
  strata_malloc_trim(0);

  /* 3 */
  blk_t g = blk_new(2 * MiB, 31, "grower");
  char *g0 = g.p;
  char *q = realloc(g.p, 6 * MiB);
  CHECK(q == g0, "growing into free units moved the block (%p -> %p)", (void *)g0, (void *)q);
  blk_vfy(&g, "grown in place");
  g.p = q; g.n = 6 * MiB; blk_fill(&g, 32);
  q = realloc(g.p, 1 * MiB);
  CHECK(q == g0 && malloc_usable_size(q) == 1 * MiB, "shrink: %p usable %zu", (void *)q, malloc_usable_size(q));
  g.n = 1 * MiB;
  blk_vfy(&g, "shrunk");
  char *tail = malloc(5 * MiB);
  CHECK(tail == g0 + 1 * MiB, "the freed tail was not reused (%p, expected %p)", (void *)tail, (void *)(g0 + MiB));
  free(tail);
  q = realloc(g.p, 20 * MiB);
  CHECK(q != NULL && q != g0, "growing past 16 MiB: %p", (void *)q);
  g.p = q;
  blk_vfy(&g, "moved into a mapping");
  free(q);
  heap_ok("realloc");
  printf("ok: realloc in place (grow, shrink) and out of the region\n");
  strata_malloc_trim(0);

  /* 4 */
  char *d = malloc(2 * MiB);
  memset(d, 0xff, 2 * MiB);
  free(d);
  unsigned char *z = calloc(1, 2 * MiB);
  CHECK(z == (unsigned char *)d, "calloc did not reuse the dirty units");
  for (size_t i = 0; i < 2 * MiB; i++) CHECK(z[i] == 0, "calloc on dirty units: byte %zu is %#x", i, z[i]);
  free(z);
  printf("ok: calloc on dirty units\n");

  /* 5 */
  victim = malloc(3 * MiB);
  CHECK(victim != NULL, "malloc");
  expect_abort(interior_free, "invalid pointer", "free of a pointer inside a region block");
  free(victim);
  expect_abort(double_free, "double free", "double free of a region block");
  expect_abort(realloc_freed, "already freed", "realloc of a freed region block");
  heap_ok("misuse");

  /* 6 */
  strata_malloc_trim(0);
  size_t reserved0 = stats().reserved;
  char *e = malloc(8 * MiB);
  memset(e, 3, 8 * MiB);
  free(e);
  CHECK(stats().large_cached >= 8 * MiB, "freed 8 MiB not counted as cached: %zu", stats().large_cached);
  strata_malloc_trim(0);
  CHECK(stats().large_cached == 0, "%zu cached after malloc_trim", stats().large_cached);
  CHECK(stats().reserved <= reserved0, "reserved %zu -> %zu: the empty region stayed", reserved0, stats().reserved);
  /* without the purge thread, large-block calls purge on time themselves */
  CHECK(strata_option_set("purge_ms", 20) == 0, "option");
  e = malloc(8 * MiB);
  memset(e, 4, 8 * MiB);
  free(e);
  CHECK(stats().large_cached >= 8 * MiB, "freed 8 MiB not cached: %zu", stats().large_cached);
  struct timespec ts = {0, 60 * 1000000};
  nanosleep(&ts, NULL);
  free(malloc(200 * KiB));                       /* activity: a timed purge */
  CHECK(stats().large_cached < 1 * MiB, "%zu still cached 60 ms after the free (purge_ms=20)", stats().large_cached);
  CHECK(strata_option_set("purge_ms", -1) == 0, "option");
  printf("ok: purge and release (malloc_trim, and on time from calls)\n");

  /* 8: the review's cases (2026-11-27) */
  strata_malloc_trim(0);
  /* a region that cannot be mapped: the block gets a mapping of its own */
  size_t reserved1 = stats().reserved;
  _st_os_fail_next(1);
  char *m = malloc(200 * KiB);
  _st_os_fail_next(0);
  CHECK(m != NULL, "malloc(200 KiB) with the region's mmap refused: errno %d", errno);
  CHECK(((uintptr_t)m & (UNIT - 1)) != 0, "%p: a region block, though no region could be mapped", (void *)m);
  memset(m, 5, 200 * KiB);
  free(m);
  strata_malloc_trim(0);
  CHECK(stats().reserved <= reserved1, "reserved %zu -> %zu", reserved1, stats().reserved);
  /* at the hard limit: a failed block leaves no empty region behind, and a
   * growth in place succeeds once the caches are trimmed */
  char *x = malloc(8 * MiB), *y = malloc(8 * MiB);
  CHECK(x && y && y == x + 8 * MiB, "malloc");
  memset(x, 6, 8 * MiB);
  memset(y, 7, 8 * MiB);
  free(x);                                       /* 8 MiB dirty, cached */
  strata_stats_t s = stats();
  CHECK(strata_option_set("hard_limit", (long)(s.committed + 2 * MiB)) == 0, "hard_limit");
  char *w = realloc(y, 12 * MiB);
  CHECK(w == y, "growing in place at the hard limit: %p (errno %d), expected %p", (void *)w, errno, (void *)y);
  CHECK(w[0] == 7 && w[8 * MiB - 1] == 7, "content");
  size_t regions_before = stats().reserved;
  errno = 0;
  char *no = malloc(15 * MiB);                   /* more than the room: fails */
  CHECK(no == NULL && errno == ENOMEM, "malloc(15 MiB) over the hard limit: %p errno %d", (void *)no, errno);
  CHECK(stats().reserved <= regions_before, "a failed allocation left a region (%zu -> %zu)", regions_before, stats().reserved);
  CHECK(strata_option_set("hard_limit", 0) == 0, "hard_limit");
  free(w);
  heap_ok("at the hard limit");
  /* purge_ms=0: a shrink gives the tail back at once */
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");
  char *sh = malloc(8 * MiB);
  memset(sh, 8, 8 * MiB);
  sh = realloc(sh, 1 * MiB);
  CHECK(stats().large_cached == 0, "purge_ms=0: %zu cached after a shrink", stats().large_cached);
  free(sh);
  CHECK(strata_option_set("purge_ms", -1) == 0, "option");
  printf("ok: no region -> mapping; hard limit: grow after trim, no region left; purge_ms=0 shrink\n");

  /* 7 */
  threads();
  strata_malloc_trim(0);
  printf("u_region: ok\n");
  return 0;
}
