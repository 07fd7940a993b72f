/* t_arena.c -- arenas (include/strata/arena.h) against libstrata.so.
 *
 * content:   random sizes with a position-dependent pattern per allocation,
 *            every block checked before each reset, over several rounds
 * align:     every power of two 1..1 MiB, sizes 0..3000; non-powers EINVAL
 * overflow:  sizes that wrap when rounded, SIZE_MAX, PTRDIFF_MAX, calloc
 *            n*size overflow: NULL with ENOMEM, arena still usable
 * zero:      size 0 gives distinct non-NULL pointers
 * oversize:  a large request gets its own chunk and the current chunk's
 *            room stays in use
 * order:     destruction order over a tree of arenas and destructors,
 *            recorded in an array and compared with the exact expected list
 * marks:     restore undoes allocations, destructors and children made
 *            after the mark, keeps what came before (content), nests;
 *            invalid marks EINVAL
 * reset:     chunks reused (no chunk allocation after the first round) and
 *            RSS stable over 40 rounds of 24 MiB; after a spike, chunks left
 *            unused by a whole cycle go back (unless keep_unused); the
 *            retain budget frees kept ones
 * helpers:   strdup/strndup/memdup/calloc/realloc, alloc_dtor, stats
 * cache:     a destroyed arena's first chunk is reused by the next arena
 *            (per-thread chunk cache); flush; threads exiting with cached
 *            chunks
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/arena.h"
#include "strata/malloc.h"
#include "test.h"

static volatile size_t v_sz;
static size_t opaque(size_t n) { v_sz = n; return v_sz; }

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long a = 0, r = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &a, &r) != 2) r = -1;
  fclose(f);
  return r * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- content stress ------------------------------------------------------- */
static void test_content(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  CHECK(a, "arena_new: errno %d", errno);
  enum { N = 20000 };
  static blk_t b[N];
  uint64_t rng = 42;
  for (int round = 0; round < 6; round++) {
    size_t used = 0;
    for (int i = 0; i < N; i++) {
      uint64_t r = rnd_next(&rng);
      size_t n = (r % 16 == 0) ? r % 20000 : r % 300;     /* mostly small, some large */
      b[i].p = strata_arena_alloc(a, n);
      b[i].n = n;
      CHECK(b[i].p, "alloc(%zu) failed errno %d", n, errno);
      CHECK(((uintptr_t)b[i].p & 15) == 0, "alloc(%zu) = %p not 16-aligned", n, b[i].p);
      blk_fill(&b[i], (uint64_t)round);
      used += (n + 15) & ~(size_t)15;
    }
    for (int i = 0; i < N; i++) blk_vfy(&b[i], "arena content");
    strata_arena_stats_t st;
    strata_arena_stats(a, &st);
    CHECK(st.used >= used && st.used < used + used / 2 + 65536, "used %zu vs requested %zu", st.used, used);
    strata_arena_reset(a);
    strata_arena_stats(a, &st);
    CHECK(st.used == 0 && st.chunks == 1, "after reset used %zu chunks %zu", st.used, st.chunks);
  }
  strata_arena_destroy(a);
}

/* ---- alignment and bad arguments ------------------------------------------ */
static void test_align(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  CHECK(a, "new");
  for (size_t al = 1; al <= ((size_t)1 << 20); al <<= 1) {
    for (size_t n = 0; n <= 3000; n += 997) {
      void *p = strata_arena_alloc_aligned(a, n, al);
      CHECK(p && ((uintptr_t)p & (al - 1)) == 0, "aligned(%zu, %zu) = %p errno %d", n, al, p, errno);
      memset(p, 0x5a, n);
      void *q = strata_arena_alloc(a, 8);
      CHECK(q && ((uintptr_t)q & 15) == 0 && (q >= (void *)((char *)p + n) || (char *)q + 8 <= (char *)p),
            "next alloc %p overlaps aligned %p+%zu", q, p, n);
    }
  }
  size_t bad[] = { 0, 3, 24, 48, 1000, SIZE_MAX };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    void *p = strata_arena_alloc_aligned(a, 16, opaque(bad[i]));
    CHECK(p == NULL && errno == EINVAL, "aligned(16, %zu) = %p errno %d", bad[i], p, errno);
  }
  errno = 0;
  CHECK(strata_arena_alloc_aligned(a, 16, opaque((size_t)1 << 40)) == NULL && errno == EINVAL, "align 2^40");
  strata_arena_destroy(a);
}

static void test_overflow(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  size_t bad[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16, (size_t)PTRDIFF_MAX,
                   (size_t)PTRDIFF_MAX + 1, SIZE_MAX / 2, (size_t)1 << 62 };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    void *p = strata_arena_alloc(a, opaque(bad[i]));
    CHECK(p == NULL && errno == ENOMEM, "alloc(%zu) = %p errno %d", bad[i], p, errno);
    errno = 0;
    p = strata_arena_alloc_aligned(a, opaque(bad[i]), 4096);
    CHECK(p == NULL && errno == ENOMEM, "aligned alloc(%zu) = %p errno %d", bad[i], p, errno);
  }
  errno = 0;
  CHECK(strata_arena_calloc(a, opaque(SIZE_MAX / 2 + 1), 2) == NULL && errno == ENOMEM, "calloc overflow");
  errno = 0;
  CHECK(strata_arena_calloc(a, opaque((size_t)1 << 33), (size_t)1 << 31) == NULL && errno == ENOMEM, "calloc 2^64");
  errno = 0;
  CHECK(strata_arena_realloc(a, strata_arena_alloc(a, 8), 8, opaque(SIZE_MAX)) == NULL && errno == ENOMEM, "realloc");
  strata_arena_opts_t o = { .first_chunk = 1 << 20, .max_chunk = 4096 };
  errno = 0;
  CHECK(strata_arena_new_opts(NULL, &o) == NULL && errno == EINVAL, "first > max");
  o = (strata_arena_opts_t){ .first_chunk = (size_t)1 << 31 };
  errno = 0;
  CHECK(strata_arena_new_opts(NULL, &o) == NULL && errno == EINVAL, "first 2 GiB");
  errno = 0;
  CHECK(strata_arena_on_release(a, NULL, NULL) == -1 && errno == EINVAL, "on_release NULL");
  errno = 0;
  CHECK(strata_arena_strdup(a, NULL) == NULL && errno == EINVAL, "strdup NULL");
  void *p = strata_arena_alloc(a, 100);           /* still usable */
  CHECK(p, "alloc after failures");
  memset(p, 1, 100);
  strata_arena_destroy(a);
}

static void test_zero_and_oversize(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  void *z[64];
  for (int i = 0; i < 64; i++) {
    z[i] = strata_arena_alloc(a, 0);
    CHECK(z[i], "alloc(0)");
    for (int j = 0; j < i; j++) CHECK(z[i] != z[j], "alloc(0) twice %p", z[i]);
  }
  char *s1 = strata_arena_alloc(a, 32);
  strata_arena_stats_t st0, st1;
  strata_arena_stats(a, &st0);
  char *big = strata_arena_alloc(a, 1 << 20);      /* oversize: own chunk */
  CHECK(big, "big");
  memset(big, 7, 1 << 20);
  char *s2 = strata_arena_alloc(a, 32);
  strata_arena_stats(a, &st1);
  CHECK(s2 == s1 + 32, "small after oversize not adjacent: %p %p", (void *)s1, (void *)s2);
  CHECK(st1.chunks == st0.chunks + 1 && st1.chunk_allocs == st0.chunk_allocs + 1, "oversize chunk count");
  strata_arena_reset(a);                           /* oversize chunks go back */
  {
    strata_arena_t *u = strata_arena_new(NULL);    /* uniform mid-size requests: chunks grow */
    for (int i = 0; i < 2000; i++) CHECK(strata_arena_alloc(u, 4000), "4000");
    strata_arena_stats_t su;
    strata_arena_stats(u, &su);
    CHECK(su.chunk_allocs < 20, "2000 x 4000 B took %zu chunks", su.chunk_allocs);
    strata_arena_destroy(u);
  }
  strata_arena_stats(a, &st1);
  CHECK(st1.kept_chunks == 0 && st1.chunk_frees == 1, "oversize not released on reset: kept %zu frees %zu",
        st1.kept_chunks, st1.chunk_frees);
  strata_arena_destroy(a);
}

/* ---- release order -------------------------------------------------------- */
static int order[64], norder;
static void rec(void *arg) { CHECK(norder < 64, "too many"); order[norder++] = (int)(intptr_t)arg; }

static void expect(const int *want, int n, const char *what) {
  int ok = norder == n;
  for (int i = 0; ok && i < n; i++) ok = order[i] == want[i];
  if (!ok) {
    fprintf(stderr, "%s: got", what);
    for (int i = 0; i < norder; i++) fprintf(stderr, " %d", order[i]);
    fprintf(stderr, "\n  want");
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
    fprintf(stderr, "\n");
  }
  CHECK(ok, "%s: release order", what);
  norder = 0;
}

static void test_order(void) {
  norder = 0;
  strata_arena_t *root = strata_arena_new(NULL);
  CHECK(strata_arena_on_release(root, rec, (void *)1) == 0, "dtor");
  strata_arena_t *c1 = strata_arena_new(root);
  strata_arena_on_release(c1, rec, (void *)11);
  strata_arena_t *g1 = strata_arena_new(c1);
  strata_arena_on_release(g1, rec, (void *)111);
  strata_arena_on_release(g1, rec, (void *)112);
  strata_arena_on_release(c1, rec, (void *)12);
  strata_arena_on_release(root, rec, (void *)2);
  strata_arena_t *c2 = strata_arena_new(root);
  strata_arena_on_release(c2, rec, (void *)21);
  strata_arena_t *c3 = strata_arena_new(root);
  strata_arena_on_release(c3, rec, (void *)31);
  strata_arena_on_release(root, rec, (void *)3);
  CHECK(strata_arena_parent(g1) == c1 && strata_arena_parent(c1) == root && !strata_arena_parent(root), "parents");
  strata_arena_stats_t st;
  strata_arena_stats(root, &st);
  CHECK(st.children == 3 && st.dtors == 3, "children %zu dtors %zu", st.children, st.dtors);
  /* explicit destroy of a middle child: released once, unlinked */
  strata_arena_destroy(c2);
  expect((int[]){ 21 }, 1, "destroy c2");
  strata_arena_stats(root, &st);
  CHECK(st.children == 2, "children after destroy %zu", st.children);
  /* reverse registration order over children and destructors together:
   * root: d1, c1, d2, c2(gone), c3, d3  ->  d3, c3, d2, c1, d1
   * c1: d11, g1, d12 -> d12, g1(d112, d111), d11 */
  strata_arena_destroy(root);
  expect((int[]){ 3, 31, 2, 12, 112, 111, 11, 1 }, 8, "destroy root");

  /* many children: reverse creation order, each exactly once */
  root = strata_arena_new(NULL);
  for (int i = 0; i < 40; i++) {
    strata_arena_t *c = strata_arena_new(root);
    CHECK(c, "child %d", i);
    strata_arena_on_release(c, rec, (void *)(intptr_t)(100 + i));
    memset(strata_arena_alloc(c, 5000), i, 5000);   /* a second chunk */
  }
  strata_arena_reset(root);                         /* reset releases children too */
  int want[40];
  for (int i = 0; i < 40; i++) want[i] = 139 - i;
  expect(want, 40, "reset: 40 children");
  strata_arena_stats(root, &st);
  CHECK(st.children == 0 && st.dtors == 0, "after reset children %zu dtors %zu", st.children, st.dtors);
  strata_arena_destroy(root);
}

/* ---- marks ---------------------------------------------------------------- */
static void test_marks(void) {
  norder = 0;
  strata_arena_t *a = strata_arena_new(NULL);
  blk_t keep[200];
  for (int i = 0; i < 200; i++) {
    keep[i].n = 1 + i * 7;
    keep[i].p = strata_arena_alloc(a, keep[i].n);
    blk_fill(&keep[i], 1);
  }
  strata_arena_on_release(a, rec, (void *)1);
  strata_arena_stats_t s0, s1, s2;
  strata_arena_stats(a, &s0);
  strata_arena_mark_t m = strata_arena_mark(a);
  for (int i = 0; i < 2000; i++) memset(strata_arena_alloc(a, 300), 0xee, 300);   /* new chunks */
  strata_arena_on_release(a, rec, (void *)2);
  strata_arena_t *ch = strata_arena_new(a);
  strata_arena_on_release(ch, rec, (void *)20);
  strata_arena_stats_t mid;
  strata_arena_stats(a, &mid);
  strata_arena_mark_t inner = strata_arena_mark(a);
  strata_arena_on_release(a, rec, (void *)3);
  void *big = strata_arena_alloc(a, 300000);        /* oversize after the inner mark */
  CHECK(big, "big");
  CHECK(strata_arena_restore(a, inner) == 0, "restore inner");
  expect((int[]){ 3 }, 1, "inner restore");
  strata_arena_stats(a, &s1);
  CHECK(s1.used == mid.used && s1.chunks == mid.chunks, "inner: used %zu/%zu chunks %zu/%zu", s1.used, mid.used,
        s1.chunks, mid.chunks);
  CHECK(strata_arena_restore(a, m) == 0, "restore outer");
  expect((int[]){ 20, 2 }, 2, "outer restore");
  strata_arena_stats(a, &s2);
  CHECK(s2.used == s0.used && s2.chunks == s0.chunks && s2.dtors == 1 && s2.children == 0,
        "outer: used %zu/%zu chunks %zu/%zu dtors %zu", s2.used, s0.used, s2.chunks, s0.chunks, s2.dtors);
  CHECK(s2.kept_chunks > 0, "chunks after the mark should be kept for reuse");
  for (int i = 0; i < 200; i++) blk_vfy(&keep[i], "before-mark block");
  /* the same allocations again reuse the kept chunks */
  for (int i = 0; i < 2000; i++) memset(strata_arena_alloc(a, 300), 0xdd, 300);
  strata_arena_stats(a, &s1);
  CHECK(s1.chunk_allocs == mid.chunk_allocs + 1, "re-run after restore allocated chunks: %zu vs %zu",
        s1.chunk_allocs, mid.chunk_allocs + 1);   /* +1: the oversize chunk made after the inner mark */
  for (int i = 0; i < 200; i++) blk_vfy(&keep[i], "before-mark block");
  /* invalid marks: another arena's, and the inner one after the outer restore moved below it */
  strata_arena_t *b = strata_arena_new(NULL);
  errno = 0;
  CHECK(strata_arena_restore(a, strata_arena_mark(b)) == -1 && errno == EINVAL, "foreign mark");
  strata_arena_mark_t bad = strata_arena_mark(a);
  bad.pos += 16 * 1000000;
  errno = 0;
  CHECK(strata_arena_restore(a, bad) == -1 && errno == EINVAL, "mark beyond the position");
  strata_arena_destroy(b);
  strata_arena_destroy(a);
  expect((int[]){ 1 }, 1, "destroy");
}

/* ---- reset reuse, RSS, retain --------------------------------------------- */
static void test_reset_reuse(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  strata_arena_stats_t st;
  size_t allocs1 = 0;
  long rss2 = 0;
  for (int round = 0; round < 40; round++) {
    size_t total = 0;
    uint64_t rng = 7;                                /* same sequence each round */
    while (total < (24u << 20)) {
      size_t n = 16 + rnd_next(&rng) % 1000;
      char *p = strata_arena_alloc(a, n);
      CHECK(p, "alloc");
      p[0] = 1; p[n - 1] = 2;
      total += n;
    }
    strata_arena_stats(a, &st);
    if (round == 0) allocs1 = st.chunk_allocs;
    else CHECK(st.chunk_allocs == allocs1, "round %d: %zu chunk allocations, first round %zu", round,
               st.chunk_allocs, allocs1);
    if (round == 1) rss2 = rss_kb();
    strata_arena_reset(a);
    strata_arena_stats(a, &st);
    CHECK(st.chunk_frees == 0, "reset freed chunks");
  }
  long rss40 = rss_kb();
  CHECK(rss40 - rss2 < 4096, "RSS grew from %ld to %ld KiB over 40 resets", rss2, rss40);
  strata_arena_stats(a, &st);
  size_t kept = st.kept_chunks, reserved = st.reserved;
  CHECK(kept > 5 && reserved > (24u << 20), "kept %zu reserved %zu", kept, reserved);
  /* a spike, then small cycles: the chunks the small cycles leave unused go
   * back at the second reset after the spike */
  for (int i = 0; i < 20000; i++) CHECK(strata_arena_alloc(a, 4000), "spike");
  strata_arena_reset(a);
  strata_arena_stats(a, &st);
  size_t spike_reserved = st.reserved;
  CHECK(spike_reserved >= (75u << 20) && st.chunk_frees == 0, "after the spike: reserved %zu frees %zu",
        spike_reserved, st.chunk_frees);
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 1000; i++) CHECK(strata_arena_alloc(a, 1000), "small cycle");
    strata_arena_reset(a);
  }
  strata_arena_stats(a, &st);
  CHECK(st.reserved < (4u << 20) && st.chunk_frees > 0, "after small cycles: reserved %zu (spike %zu)",
        st.reserved, spike_reserved);
  /* keep_unused: nothing goes back */
  strata_arena_opts_t ko = { .keep_unused = 1 };
  strata_arena_t *k = strata_arena_new_opts(NULL, &ko);
  for (int i = 0; i < 20000; i++) CHECK(strata_arena_alloc(k, 4000), "spike");
  strata_arena_reset(k);
  for (int round = 0; round < 3; round++) { strata_arena_alloc(k, 1000); strata_arena_reset(k); }
  strata_arena_stats(k, &st);
  CHECK(st.chunk_frees == 0 && st.reserved >= (75u << 20), "keep_unused: frees %zu", st.chunk_frees);
  strata_arena_destroy(k);
  for (int i = 0; i < 20000; i++) CHECK(strata_arena_alloc(a, 1000), "again");
  strata_arena_reset(a);
  strata_arena_set_retain(a, 2u << 20);              /* excess goes back */
  strata_arena_stats(a, &st);
  CHECK(st.reserved <= (2u << 20) + 8192 && st.chunk_frees >= 1, "retain 2 MiB: reserved %zu frees %zu",
        st.reserved, st.chunk_frees);
  strata_arena_set_retain(a, 0);
  strata_arena_stats(a, &st);
  CHECK(st.kept_chunks == 0 && st.chunks == 1, "retain 0: kept %zu", st.kept_chunks);
  strata_arena_destroy(a);
}

/* ---- helpers -------------------------------------------------------------- */
static int dtor_hits;
static void obj_dtor(void *o) { CHECK(*(int *)o == 4242, "dtor sees its object"); dtor_hits++; }

static void test_helpers(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  char *s = strata_arena_strdup(a, "hello, arena");
  CHECK(s && strcmp(s, "hello, arena") == 0, "strdup");
  char *t = strata_arena_strndup(a, "abcdef", 3);
  CHECK(t && strcmp(t, "abc") == 0, "strndup");
  int v[5] = { 1, 2, 3, 4, 5 };
  int *w = strata_arena_memdup(a, v, sizeof v);
  CHECK(w && memcmp(v, w, sizeof v) == 0, "memdup");
  memset(strata_arena_alloc(a, 64), 0xff, 64);
  unsigned char *z = strata_arena_calloc(a, 100, 3);
  CHECK(z && mem_is_zero(z, 300), "calloc zero");
  char *r = strata_arena_alloc(a, 10);
  memcpy(r, "0123456789", 10);
  char *r2 = strata_arena_realloc(a, r, 10, 100);   /* last allocation: in place */
  CHECK(r2 == r && memcmp(r2, "0123456789", 10) == 0, "realloc in place");
  strata_arena_alloc(a, 1);
  char *r3 = strata_arena_realloc(a, r2, 100, 200);  /* not last: copied */
  CHECK(r3 && r3 != r2 && memcmp(r3, "0123456789", 10) == 0, "realloc copy");
  for (int i = 0; i < 10; i++) {
    int *o = strata_arena_alloc_dtor(a, sizeof(int), obj_dtor);
    CHECK(o, "alloc_dtor");
    *o = 4242;
  }
  strata_arena_destroy(a);
  CHECK(dtor_hits == 10, "alloc_dtor destructors ran %d times", dtor_hits);
  strata_arena_destroy(NULL);
}

/* ---- the per-thread chunk cache ------------------------------------------- */
static void *cache_thread(void *arg) {
  (void)arg;
  for (int r = 0; r < 50; r++) {                 /* chunks cached in this thread */
    strata_arena_t *root = strata_arena_new(NULL);
    for (int i = 0; i < 20; i++) memset(strata_arena_alloc(strata_arena_new(root), 6000), r, 6000);
    strata_arena_destroy(root);
  }
  return NULL;                                   /* the cache is drained at exit */
}

static void test_chunk_cache(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  strata_arena_destroy(a);
  strata_arena_t *b = strata_arena_new(NULL);    /* LIFO cache: the same first chunk */
  CHECK(b == a, "first chunk not reused from the thread's cache: %p then %p", (void *)a, (void *)b);
  strata_arena_destroy(b);
  strata_arena_cache_flush();
  for (int i = 0; i < 4; i++) test_join(test_spawn(cache_thread, NULL));
  b = strata_arena_new(NULL);
  CHECK(b && strata_arena_strdup(b, "after flush"), "arena after flush");
  strata_arena_destroy(b);
}

int main(void) {
  alarm(120);                          /* a hang (e.g. a broken release loop) fails */
  test_content();
  test_align();
  test_overflow();
  test_zero_and_oversize();
  test_order();
  test_marks();
  test_reset_reuse();
  test_helpers();
  test_chunk_cache();
  printf("t_arena: all passed\n");
  return 0;
}
