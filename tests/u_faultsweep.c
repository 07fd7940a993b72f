/* u_faultsweep.c -- a fault-injection sweep over the OS layer (issue 7).
 *
 * A fixed workload (small, medium, span, large and over-aligned blocks,
 * calloc, a realloc chain from 24 bytes to 17 MiB -- through region blocks
 * and a move out of a region into a mapping of its own -- then down to
 * 200 KiB (the mapping's tail unmapped), and a 1 MiB-aligned 2 MiB block (a
 * mapping) grown to 3 MiB; all content-checked) needs
 * some number N of OS calls (mmap, mprotect, mremap, madvise) when the heap
 * starts empty.  For every k in 1..N+2 the k-th call fails (odd k:
 * _st_os_fail_at; even k: it and the next 3, _st_os_fail_from, since a
 * mapping that fails is tried once more after strata gives its caches back,
 * which absorbs a single failure), and then:
 *   - every allocation that failed returned NULL with errno ENOMEM;
 *   - a failed realloc left the old block intact (checked);
 *   - every block that was handed out holds its pattern until its free;
 *   - strata_heap_check() is clean;
 *   - the same workload run again without faults allocates everything.
 * At least one k must make an allocation fail (so the sweep reaches the
 * failure paths at all).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include "malloc/internal.h"
#include "test.h"

enum { NB = 400 };
static blk_t blk[NB];
static int nb;
static int nulls;                  /* allocations that failed in this run */

static void got(void *p, size_t n, uint64_t salt, const char *what) {
  if (p == NULL) {
    CHECK(errno == ENOMEM, "%s(%zu) failed with errno %d, not ENOMEM", what, n, errno);
    nulls++;
    return;
  }
  CHECK(nb < NB, "too many blocks");
  blk[nb].p = p; blk[nb].n = n;
  blk_fill(&blk[nb], salt);
  nb++;
}

static void workload(uint64_t seed) {
  nb = 0; nulls = 0;
  uint64_t r = seed;
  for (int i = 0; i < 200; i++) { size_t n = 1 + rnd_next(&r) % 1024; errno = 0; got(strata_malloc(n), n, r, "malloc"); }
  for (int i = 0; i < 30; i++) { size_t n = 2048 + rnd_next(&r) % (126 << 10); errno = 0; got(strata_malloc(n), n, r, "malloc"); }
  for (int i = 0; i < 4; i++) { size_t n = (200 << 10) + rnd_next(&r) % (700 << 10); errno = 0; got(strata_malloc(n), n, r, "malloc"); }
  for (int i = 0; i < 3; i++) { size_t n = (2 << 20) + rnd_next(&r) % (4 << 20); errno = 0; got(strata_malloc(n), n, r, "malloc"); }
  for (int i = 0; i < 3; i++) {
    size_t a = (size_t)1 << (12 + 4 * i), n = 100 + rnd_next(&r) % 50000;   /* 4 KiB, 64 KiB, 1 MiB */
    errno = 0;
    void *p = strata_aligned_alloc(a, st_align_up(n, a));
    if (p) CHECK(((uintptr_t)p & (a - 1)) == 0, "aligned_alloc(%zu) misaligned", a);
    got(p, p ? n : st_align_up(n, a), r, "aligned_alloc");
  }
  for (int i = 0; i < 20; i++) {
    size_t n = 16 + rnd_next(&r) % 300000;
    errno = 0;
    unsigned char *p = strata_calloc(1, n);
    if (p) CHECK(mem_is_zero(p, n), "calloc(%zu) not zero", n);
    got(p, n, r, "calloc");
  }
  /* a realloc chain: a failure must leave the block as it was */
  size_t n = 24;
  errno = 0;
  unsigned char *p = strata_malloc(n);
  if (p == NULL) { CHECK(errno == ENOMEM, "malloc(24) errno %d", errno); nulls++; }
  else {
    blk_t b = { p, n, 0 };
    blk_fill(&b, 7);
    while (n < ((size_t)17 << 20)) {
      size_t m = n * 3 < ((size_t)17 << 20) ? n * 3 : (size_t)17 << 20;
      errno = 0;
      unsigned char *q = strata_realloc(b.p, m);
      if (q == NULL) {
        CHECK(errno == ENOMEM, "realloc(%zu) errno %d", m, errno);
        blk_vfy(&b, "a block whose realloc failed");
        nulls++;
        break;
      }
      blk_t nbk = { q, n, b.seed };
      blk_vfy(&nbk, "the preserved prefix after realloc");
      b.p = q; b.n = m;
      blk_fill(&b, 7);
      n = m;
    }
    if (b.n > ((size_t)1 << 20)) {             /* shrink: the mapping's tail goes */
      size_t m = 200 << 10;
      unsigned char *q = strata_realloc(b.p, m);
      if (q == NULL) { CHECK(errno == ENOMEM, "realloc(%zu) errno %d", m, errno); nulls++; }
      else { b.p = q; b.n = m; }
    }
    blk_vfy(&b, "the realloc chain's block");
    strata_free(b.p);
  }
  /* an over-aligned mapped block grows (mremap, or a copy aligned alike) */
  void *a = NULL;
  errno = 0;
  int e = strata_posix_memalign(&a, (size_t)1 << 20, (size_t)2 << 20);
  if (e != 0) { CHECK(e == ENOMEM, "posix_memalign errno %d", e); nulls++; }
  else {
    blk_t b = { a, (size_t)2 << 20, 0 };
    blk_fill(&b, 8);
    errno = 0;
    unsigned char *q = strata_realloc(b.p, (size_t)3 << 20);
    if (q == NULL) { CHECK(errno == ENOMEM, "realloc(3 MiB) errno %d", errno); blk_vfy(&b, "a failed aligned realloc"); nulls++; }
    else { b.p = q; blk_vfy(&b, "the aligned block's preserved prefix"); }
    strata_free(b.p);
  }
  for (int i = 0; i < nb; i++) blk_vfy(&blk[i], "a block of the sweep");
  for (int i = nb - 1; i >= 0; i--) strata_free(blk[i].p);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(strata_option_set("purge_ms", 0) == 0 && strata_option_set("purge_thread", 0) == 0 &&
        strata_option_set("guard_sample", 0) == 0, "options");
  strata_collect(1);
  size_t c0 = _st_os_calls();
  workload(1);
  CHECK(nulls == 0, "the workload fails without faults");
  strata_collect(1);
  size_t calls = _st_os_calls() - c0;
  CHECK(calls >= 10, "the workload made only %zu OS calls", calls);
  if (calls > 400) calls = 400;
  int failing = 0, total = 0;
  for (int k = 1; k <= (int)calls + 2; k++) {
    strata_collect(1);                       /* an empty heap: the OS calls recur */
    if (k % 2) _st_os_fail_at(k);
    else _st_os_fail_from(k, 4);
    workload((uint64_t)k * 7919);
    _st_os_fail_at(0);
    _st_os_fail_next(0);                     /* the rest of an even k's 4, if the run ended first */
    if (nulls) failing++;
    total += nulls;
    CHECK(strata_heap_check() == 0, "heap check after failing OS call %d", k);
    workload((uint64_t)k * 104729);          /* the fault has stopped: all must work */
    CHECK(nulls == 0, "after failing OS call %d, %d allocations still fail", k, nulls);
  }
  CHECK(failing > 0, "no k made an allocation fail: the sweep missed the failure paths");
  printf("u_faultsweep: %zu OS calls per run; failing call k = 1..%zu (even k: and the next 3): %d runs saw %d "
         "failed allocations (NULL + ENOMEM, old blocks intact), heap clean and working after each\n",
         calls, calls + 2, failing, total);
  return 0;
}
