/* u_failinject.c -- allocation failures from the OS layer (fault injection).
 *
 * With every mapping call failing (_st_os_fail_next) and the page heap
 * exhausted, malloc/calloc/realloc/aligned_alloc/posix_memalign of small,
 * medium, large and over-aligned sizes must return NULL (posix_memalign:
 * ENOMEM) with errno ENOMEM, without crashing, without touching live blocks;
 * a failed realloc leaves the old block intact; a thread whose cache cannot
 * be created still works; free works throughout and never changes errno.
 * Once the failures stop, everything works again and the heap checks clean.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "malloc/internal.h"
#include "test.h"

enum { MAXB = 200000, MAXSPANS = 4096 };
static blk_t blks[MAXB];
static int nblks;
static page_t *spans[MAXSPANS];
static int nspans;

static void keep(void *p, size_t n, uint64_t salt) {
  CHECK(nblks < MAXB, "too many blocks");
  blk_t *b = &blks[nblks++];
  b->p = p; b->n = n;
  blk_fill(b, salt);
}
static void verify_all(const char *when) {
  for (int i = 0; i < nblks; i++) {
    size_t bad = pat_check(blks[i].p, blks[i].n, blks[i].seed);
    CHECK(bad == 0, "%s: block %d (%zu bytes at %p) corrupted at %zu", when, i, blks[i].n, blks[i].p, bad - 1);
  }
}

/* Allocate `n`-byte blocks until malloc fails; the failure must be ENOMEM. */
static void exhaust(size_t n, const char *what) {
  for (int k = 0; k < 100000; k++) {
    errno = 0;
    void *p = strata_malloc(n);
    if (p == NULL) {
      CHECK(errno == ENOMEM, "%s: malloc(%zu) failed with errno %d, want ENOMEM", what, n, errno);
      return;
    }
    keep(p, n, (uint64_t)k);
  }
  CHECK(0, "%s: malloc(%zu) never failed with the OS layer failing", what, n);
}

static void *thread_under_failure(void *a) {
  (void)a;
  /* The thread cache cannot be created (its struct comes from the OS), and
   * the orphan heap has nothing cached: a clean ENOMEM, then frees work. */
  errno = 0;
  void *p = strata_malloc(100);
  CHECK(p == NULL ? errno == ENOMEM : 1, "thread malloc: NULL with errno %d", errno);
  if (p) strata_free(p);
  errno = 0;
  void *q = strata_calloc(10, 1000);
  CHECK(q == NULL ? errno == ENOMEM : mem_is_zero(q, 10000), "thread calloc: errno %d", errno);
  if (q) strata_free(q);
  errno = 77;
  strata_free(blks[nblks - 1].p);          /* a remote free, from a thread without a cache */
  CHECK(errno == 77, "free changed errno to %d", errno);
  return NULL;
}
static void *thread_after(void *a) {
  (void)a;
  void *p = strata_malloc(100);
  CHECK(p != NULL, "thread malloc after the failures stopped");
  memset(p, 1, 100);
  strata_free(p);
  return NULL;
}

/* A thread whose heap struct cannot be mapped is served by the orphan heap;
 * once its blocks are freed, malloc_trim gives the orphan heap's empty
 * pages back (they stayed for good before stop 31: found by review). */
static void *thread_orphaned(void *a) {
  (void)a;
  void *p[40];
  for (int i = 0; i < 40; i++) {
    _st_os_fail_at(1);                     /* the heap struct's mapping fails: the orphan heap serves */
    p[i] = strata_malloc(16 + 200 * (size_t)i);
    _st_os_fail_at(0);
    CHECK(p[i] != NULL, "orphaned malloc(%d): errno %d", 16 + 200 * i, errno);
    memset(p[i], i, 16);
  }
  for (int i = 0; i < 40; i++) strata_free(p[i]);
  return NULL;
}
static size_t spans_in_use(void) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  return st.pages_in_use;
}

int main(void) {
  /* warm up: process init, this thread's cache, a few classes */
  for (int i = 0; i < 64; i++) keep(strata_malloc((size_t)i * 16 + 1), (size_t)i * 16 + 1, 1);
  strata_collect(1);                       /* empty the large cache */
  /* first, while no exited thread has left a heap struct to recycle (a new
   * thread would take one without an OS call) */
  size_t before = spans_in_use();
  for (int r = 0; r < 3; r++) test_join(test_spawn(thread_orphaned, NULL));
  strata_collect(1);
  CHECK(spans_in_use() <= before + 1, "the orphan heap kept %zu spans after its blocks were freed (%zu before)",
        spans_in_use(), before);
  printf("u_failinject: start\n");
  fflush(stdout);

  /* Fail every mapping call, then take every free slice of the page heap. */
  _st_os_fail_next(1 << 30);
  for (;;) {
    errno = 0;
    page_t *s = _st_span_alloc(1);
    if (s == NULL) { CHECK(errno == ENOMEM, "span_alloc failed with errno %d", errno); break; }
    CHECK(nspans < MAXSPANS, "page heap never ran out");
    spans[nspans++] = s;
  }

  /* small and medium classes: fill what is cached, then a clean failure */
  static const size_t sizes[] = { 16, 100, 1024, 5000, 40000, 131072 };
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) exhaust(sizes[i], "small/medium");
  verify_all("after exhausting the classes");

  /* large */
  errno = 0;
  CHECK(strata_malloc(1 << 20) == NULL && errno == ENOMEM, "large malloc: errno %d", errno);
  errno = 0;
  CHECK(strata_calloc(1, 1 << 20) == NULL && errno == ENOMEM, "large calloc: errno %d", errno);

  /* aligned: from the classes and large */
  static const size_t aligns[] = { 32, 4096, 65536, 1 << 20, 1 << 23 };
  for (unsigned i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
    errno = 0;
    void *p = strata_aligned_alloc(aligns[i], 131072);
    CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(%zu, 128K) = %p errno %d", aligns[i], p, errno);
    void *out = (void *)0x1;
    errno = 55;
    int rc = strata_posix_memalign(&out, aligns[i], 131072);
    CHECK(rc == ENOMEM && out == (void *)0x1 && errno == 55, "posix_memalign(%zu) = %d out %p errno %d",
          aligns[i], rc, out, errno);
    errno = 0;
    p = strata_memalign(aligns[i], 300000);
    CHECK(p == NULL && errno == ENOMEM, "memalign(%zu, 300000) = %p errno %d", aligns[i], p, errno);
  }

  /* realloc: small -> exhausted class, and small -> large */
  blk_t *b = &blks[0];
  for (size_t n = 5000; n <= (4u << 20); n *= 4) {
    errno = 0;
    void *q = strata_realloc(b->p, n);
    CHECK(q == NULL && errno == ENOMEM, "realloc(%zu -> %zu) = %p errno %d", b->n, n, q, errno);
  }
  verify_all("after failed small reallocs");

  /* realloc of a large block: growing past the regions' 16 MiB (a mapping
   * is needed: fails), and large -> small into an exhausted class.  (Growing
   * within 16 MiB may succeed in place with no OS call at all.) */
  _st_os_fail_next(0);
  void *lg = strata_malloc(3000000);
  CHECK(lg != NULL, "large malloc with the failures off");
  keep(lg, 3000000, 99);
  _st_os_fail_next(1 << 30);
  for (size_t n = 18000000; n <= (64u << 20); n *= 2) {
    errno = 0;
    void *q = strata_realloc(lg, n);
    CHECK(q == NULL && errno == ENOMEM, "realloc(large 3000000 -> %zu) = %p errno %d", n, q, errno);
  }
  errno = 0;
  void *q = strata_realloc(lg, 5000);
  CHECK(q == NULL && errno == ENOMEM, "realloc(large -> 5000) = %p errno %d", q, errno);
  verify_all("after failed large reallocs");

  /* a new thread under failure */
  test_join(test_spawn(thread_under_failure, NULL));
  nblks--;                                 /* that thread freed the last block */

  /* frees work and keep errno while mappings fail */
  for (int i = nblks - 1; i >= nblks / 2; i--) {
    errno = 4242;
    strata_free(blks[i].p);
    CHECK(errno == 4242, "free changed errno to %d under failure", errno);
  }
  nblks /= 2;
  CHECK(strata_heap_check() == 0, "heap check under failure");

  /* recovery */
  _st_os_fail_next(0);
  for (int i = 0; i < nspans; i++) _st_span_free(spans[i]);
  verify_all("after recovery");
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = strata_malloc(sizes[i]);
    CHECK(p != NULL, "malloc(%zu) after recovery", sizes[i]);
    keep(p, sizes[i], 5);
  }
  q = strata_realloc(blks[0].p, 3u << 20);
  CHECK(q != NULL && pat_check(q, blks[0].n, blks[0].seed) == 0, "realloc after recovery");
  blks[0].p = q;
  test_join(test_spawn(thread_after, NULL));
  for (int i = 0; i < nblks; i++) strata_free(blks[i].p);

  /* A parked large mapping too small for a request is grown (its pages move
   * with mremap) and serves it; when the move fails the parked mapping is
   * dropped and a fresh one serves it.  Both keep the content right. */
  for (int fail = 0; fail <= 2 && !_st_secure; fail += 2) {   /* secure mode parks nothing */
    strata_collect(1);                             /* nothing parked */
    unsigned char *a = strata_malloc(17u << 20);   /* above the regions: a mapping */
    CHECK(a != NULL, "17 MiB block");
    memset(a, 0x5a, 17u << 20);
    strata_free(a);                                /* parked, dirty */
    _st_os_fail_next(fail);        /* 2: the in-place mremap and the reservation fail */
    size_t big = (30u << 20) + 12345;
    unsigned char *b = strata_malloc(big);
    CHECK(b != NULL, "30 MiB block from a parked 17 MiB mapping (fail=%d): errno %d", fail, errno);
    CHECK(strata_malloc_usable_size(b) >= big, "usable %zu < %zu", strata_malloc_usable_size(b), big);
    /* the moved pages still hold the old block's bytes; fresh ones are zero */
    CHECK(b[1000] == (fail ? 0 : 0x5a), "byte 1000 is %#x (fail=%d)", b[1000], fail);
    for (size_t i = 0; i < big; i += 4096) b[i] = (unsigned char)(i >> 12);
    b[big - 1] = 0xee;
    for (size_t i = 0; i < big; i += 4096) CHECK(b[i] == (unsigned char)(i >> 12), "byte %zu", i);
    CHECK(b[big - 1] == 0xee, "last byte");
    CHECK(strata_heap_check() == 0, "heap check after the grown block (fail=%d)", fail);
    strata_free(b);
  }
  _st_os_fail_next(0);
  strata_collect(1);
  CHECK(strata_heap_check() == 0, "heap check at the end");
  printf("u_failinject: ok (%d spans hoarded)\n", nspans);
  return 0;
}
