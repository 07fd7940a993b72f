/* san_api.c -- the explicit strata_ API under UBSan and TSan.
 *
 * Built together with the library sources with -DSTRATA_OVERRIDE=0, so the
 * standard names stay the sanitizer runtime's: only strata_* is called for
 * blocks under test.  Single-thread edge cases, then 4 threads doing
 * ~200k operations with content checks and cross-thread frees through a
 * mutex-protected exchange, then strata_heap_check().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

static volatile size_t v_sz;
static size_t big(size_t n) { v_sz = n; return v_sz; }

static void edge_cases(void) {
  void *a = strata_malloc(0), *b = strata_malloc(0);
  CHECK(a && b && a != b, "strata_malloc(0) = %p, %p", a, b);
  strata_free(a); strata_free(b);
  strata_free(NULL);
  CHECK(strata_malloc_usable_size(NULL) == 0, "usable(NULL)");
  errno = 0;
  void *p = strata_malloc(big((size_t)PTRDIFF_MAX + 1));
  CHECK(p == NULL && errno == ENOMEM, "strata_malloc(PTRDIFF_MAX+1) = %p errno %d", p, errno);
  errno = 0;
  p = strata_calloc(big(SIZE_MAX / 2 + 1), 2);
  CHECK(p == NULL && errno == ENOMEM, "strata_calloc overflow = %p errno %d", p, errno);
  errno = 0;
  p = strata_reallocarray(NULL, big(SIZE_MAX / 2 + 1), 2);
  CHECK(p == NULL && errno == ENOMEM, "strata_reallocarray overflow = %p errno %d", p, errno);
  void *out = (void *)0x77;
  CHECK(strata_posix_memalign(&out, 24, 10) == EINVAL && out == (void *)0x77, "posix_memalign(24)");
  CHECK(strata_posix_memalign(&out, 0, 10) == EINVAL && out == (void *)0x77, "posix_memalign(0)");
  errno = 0;
  p = strata_aligned_alloc(big(3), 10);
  CHECK(p == NULL && errno == EINVAL, "aligned_alloc(3) = %p errno %d", p, errno);
  for (size_t al = 8; al <= (1 << 20); al <<= 1) {
    CHECK(strata_posix_memalign(&out, al, 100) == 0, "posix_memalign(%zu)", al);
    CHECK(((uintptr_t)out & (al - 1)) == 0, "posix_memalign(%zu) = %p", al, out);
    memset(out, 1, 100);
    strata_free_aligned_sized(out, al, 100);
    p = strata_aligned_alloc(al, 3000);
    CHECK(p && ((uintptr_t)p & (al - 1)) == 0, "aligned_alloc(%zu) = %p", al, p);
    memset(p, 2, 3000);
    strata_free(p);
  }
  p = strata_valloc(100);
  CHECK(p && ((uintptr_t)p & 4095) == 0, "valloc");
  strata_free(p);
  p = strata_pvalloc(100);
  CHECK(p && strata_malloc_usable_size(p) >= 4096, "pvalloc");
  memset(p, 0, 4096);
  strata_free(p);
  /* calloc zeroes recycled memory */
  for (int r = 0; r < 5; r++) {
    static const size_t sz[] = { 24, 1000, 100000, 3 << 20 };
    for (int i = 0; i < 4; i++) {
      char *d = strata_malloc(sz[i]);
      CHECK(d != NULL, "malloc");
      memset(d, 0xAB, sz[i]);
      strata_free(d);
      char *z = strata_calloc(1, sz[i]);
      CHECK(z && mem_is_zero(z, sz[i]), "strata_calloc(%zu) not zero", sz[i]);
      strata_free(z);
    }
  }
  /* realloc through every size step and back */
  static const size_t sizes[] = { 1, 24, 100, 1000, 20000, 200000, 2000000, 200, 3 };
  size_t cur = 1;
  char *q = strata_malloc(cur);
  pat_fill(q, cur, 5);
  for (int i = 0; i < 9; i++) {
    char *r = strata_realloc(q, sizes[i]);
    CHECK(r != NULL, "realloc(%zu -> %zu)", cur, sizes[i]);
    CHECK(pat_check(r, cur < sizes[i] ? cur : sizes[i], 5) == 0, "realloc(%zu -> %zu) lost contents", cur, sizes[i]);
    pat_fill(r, sizes[i], 5);
    q = r; cur = sizes[i];
  }
  errno = 0;
  char *r = strata_realloc(q, big((size_t)PTRDIFF_MAX + 1));
  CHECK(r == NULL && errno == ENOMEM && pat_check(q, cur, 5) == 0, "failed realloc");
  CHECK(strata_realloc(q, 0) == NULL, "strata_realloc(p, 0) != NULL");
  errno = 1234;
  p = strata_malloc(50);
  strata_free(p);
  CHECK(errno == 1234, "strata_free changed errno");
  strata_free_sized(strata_malloc(77), 77);
  strata_cfree(strata_malloc(5));
  errno = 0;
  CHECK(strata_option_get("no_such_option") == -1 && errno == EINVAL, "option_get(unknown)");
  errno = 0;
  CHECK(strata_stats_get(NULL) == -1 && errno == EINVAL, "stats_get(NULL)");
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0 && st.resident > 0, "stats_get");
  int t = strata_malloc_trim(0);
  CHECK(t == 0 || t == 1, "malloc_trim = %d", t);
  CHECK(strata_mallopt(1, 1) == 1, "mallopt");
  strata_collect(1);
  CHECK(strata_heap_check() == 0, "heap check after edge cases");
}

/* ------------------------------------------------------------- threads */

enum { NT = 4, XCAP = 1024, SLOTS = 128 };
static pthread_mutex_t xmu = PTHREAD_MUTEX_INITIALIZER;
static blk_t xs[XCAP];
static int xn;
static long ops_per_thread = 35000;
static atomic_long cross_frees;

static void *worker(void *arg) {
  uint64_t rs = 0x1234 + (uintptr_t)arg * 0x9E3779B97F4A7C15ULL;
  blk_t slot[SLOTS];
  memset(slot, 0, sizeof slot);
  for (long i = 0; i < ops_per_thread; i++) {
    uint64_t r = rnd_next(&rs);
    blk_t *b = &slot[r % SLOTS];
    if (b->p) {
      blk_vfy(b, "worker slot");
      unsigned op = (unsigned)((r >> 16) % 4);
      if (op == 0) {           /* hand it to another thread */
        int given = 0;
        pthread_mutex_lock(&xmu);
        if (xn < XCAP) { xs[xn++] = *b; given = 1; }
        pthread_mutex_unlock(&xmu);
        if (!given) strata_free(b->p);
      } else if (op == 1) {
        size_t nn = 1 + (r >> 24) % 5000;
        void *q = strata_realloc(b->p, nn);
        CHECK(q != NULL, "realloc");
        CHECK(pat_check(q, nn < b->n ? nn : b->n, b->seed) == 0, "realloc lost contents");
        strata_free(q);
      } else {
        strata_free(b->p);
      }
      b->p = NULL;
    } else {
      size_t n = (r >> 40) % 500 == 0 ? 1 + (r >> 8) % 300000 : 1 + (r >> 8) % 2000;
      unsigned op = (unsigned)((r >> 20) % 8);
      if (op == 0) b->p = strata_calloc(1, n);
      else if (op == 1) b->p = strata_aligned_alloc(64, n);
      else b->p = strata_malloc(n);
      CHECK(b->p != NULL, "allocation of %zu", n);
      if (op == 0) CHECK(mem_is_zero(b->p, n), "calloc not zero");
      b->n = n;
      blk_fill(b, r);
    }
    if ((r & 7) == 0) {        /* free something another thread allocated */
      blk_t o = { 0, 0, 0 };
      pthread_mutex_lock(&xmu);
      if (xn) o = xs[--xn];
      pthread_mutex_unlock(&xmu);
      if (o.p) {
        blk_vfy(&o, "cross-thread block");
        strata_free(o.p);
        atomic_fetch_add(&cross_frees, 1);
      }
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (slot[i].p) {
      blk_vfy(&slot[i], "final check");
      strata_free(slot[i].p);
    }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  double t0 = now_sec();
  edge_cases();
  printf("edge cases ok (%.2f s)\n", now_sec() - t0);
  pthread_t th[NT];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < NT; i++)
      th[i] = test_spawn(worker, (void *)(uintptr_t)(i + round * NT));
    for (int i = 0; i < NT; i++) test_join(th[i]);
    ops_per_thread /= 2;
  }
  /* Blocks of exited threads, freed by main. */
  for (int i = 0; i < xn; i++) {
    blk_vfy(&xs[i], "leftover");
    strata_free(xs[i].p);
  }
  xn = 0;
  CHECK(strata_heap_check() == 0, "strata_heap_check() after the threaded part");
  printf("san_api: %ld cross-thread frees, all passed (%.2f s)\n", atomic_load(&cross_frees), now_sec() - t0);
  return 0;
}
