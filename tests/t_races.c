/* t_races.c -- targeted interleavings of the thread caches, remote frees,
 * abandon/adopt, the orphan heap, large blocks and the page heap.
 *
 * Every scenario runs in its own forked child (the parent stays single
 * threaded), so one crash is reported by name and the others still run.
 * Usage: t_races [scenario ...]   (default: all).  Exit status 1 if any fail.
 *
 *  park      parking protocol: remote frees into parked pages must wake the
 *            owner (no fresh spans needed to re-allocate what came back), and
 *            no block is handed out twice (content checks)
 *  abandon   threads exit while others remote-free into their pages and new
 *            threads adopt them; afterwards strata_collect(1) leaves no
 *            abandoned page and the heap checks clean
 *  aligned   posix_memalign/aligned_alloc/memalign 32..64 KiB, freed by other
 *            threads and after the owner exited
 *  large     realloc of large blocks (moving with mremap, shrinking, large ->
 *            small -> large) while other threads churn the large cache
 *  orphan    malloc/realloc/memalign in a key destructor that runs after
 *            strata's own (orphan heap), blocks freed by other threads
 *  purge     purge_ms=0 and purge_ms=1: spans freed, purged and reused while
 *            other threads keep live data in neighbouring spans
 *  errno     free never changes errno (local, remote, parked, retiring, large,
 *            aligned, NULL), failures set ENOMEM
 *  realloc_errno  a successful realloc that moves a large block leaves errno alone
 *  stats     strata_stats_get / mallinfo2 called while other threads free
 *            pages and the page heap unmaps segments
 *  dfree     two threads released together free the same block (small
 *            classes of each remote path, a region block, and a mapping
 *            of its own), abort_on_error=0; each racer then frees one
 *            more block of the class and, once both are done, mallocs one:
 *            each round exactly one misuse is counted, the block is never
 *            handed out twice (to the racers or the owner), and the heap
 *            checks clean
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

/* ------------------------------------------------------------ helpers */

/* A mutex-protected pool of blocks (static storage: no allocation). */
enum { POOL_MAX = 1 << 16 };
typedef struct {
  pthread_mutex_t mu;
  blk_t b[POOL_MAX];
  int n;
} pool_t;
static pool_t pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int pool_put(pool_t *q, const blk_t *b) {
  pthread_mutex_lock(&q->mu);
  int ok = q->n < POOL_MAX;
  if (ok) q->b[q->n++] = *b;
  pthread_mutex_unlock(&q->mu);
  return ok;
}
/* Take a pseudo-random entry (so frees hit many pages in any order). */
static int pool_take(pool_t *q, blk_t *out, uint64_t r) {
  pthread_mutex_lock(&q->mu);
  int ok = q->n > 0;
  if (ok) {
    int i = (int)(r % (uint64_t)q->n);
    *out = q->b[i];
    q->b[i] = q->b[--q->n];
  }
  pthread_mutex_unlock(&q->mu);
  return ok;
}
static void pool_drain(pool_t *q, const char *what) {
  blk_t b;
  while (pool_take(q, &b, 0)) { blk_vfy(&b, what); free(b.p); }
}

static strata_stats_t stats(void) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "strata_stats_get");
  return st;
}

static atomic_int stop_flag;
/* Sizes the compiler cannot see (so -Walloc-size-larger-than stays quiet). */
static volatile size_t vsz_max = SIZE_MAX;
static size_t big(size_t x) { return x + vsz_max + 1; }

static size_t mixed_size(uint64_t r) {
  switch (r & 7) {
  case 0: case 1: case 2: return 1 + (r >> 8) % 128;
  case 3: case 4: return 1 + (r >> 8) % 1024;
  case 5: return 1 + (r >> 8) % 16384;
  case 6: return 16384 + (r >> 8) % (128 * 1024 - 16384);
  default: return 1 + (r >> 8) % 256;
  }
}

/* ---------------------------------------------------------------- park */
/* Round-based producer/consumer.  In each round the producer allocates
 * N blocks of one class (its pages fill up and get parked), the consumers
 * free all of them remotely, then -- with everybody else idle -- the producer
 * allocates N blocks again: every page it needs is parked with free blocks,
 * so the page heap must not hand out a single new span. */

enum { PARK_N = 6000, PARK_CONS = 2 };
static blk_t park_blk[PARK_N];
static pthread_barrier_t park_bar;
static atomic_int park_fresh_rounds;

static void *park_consumer(void *a) {
  int id = (int)(intptr_t)a;
  for (;;) {
    pthread_barrier_wait(&park_bar);          /* blocks are ready (or stop) */
    if (atomic_load(&stop_flag)) return NULL;
    for (int i = id; i < PARK_N; i += PARK_CONS) { blk_vfy(&park_blk[i], "park consumer"); free(park_blk[i].p); }
    pthread_barrier_wait(&park_bar);          /* all freed */
  }
}

static void park_run(void) {
  /* The first sampled malloc (guard_sample, src/malloc/guarded.c) loads
   * libgcc_s for its call stacks, and that library's own mallocs may take
   * new spans: off here, where every span is counted. */
  strata_option_set("guard_sample", 0);
  pthread_t t[PARK_CONS];
  pthread_barrier_init(&park_bar, NULL, PARK_CONS + 1);
  for (int i = 0; i < PARK_CONS; i++) t[i] = test_spawn(park_consumer, (void *)(intptr_t)i);
  static const size_t sizes[] = { 16, 48, 64, 100, 256, 700, 1024, 3000, 20000 };
  double end = now_sec() + 2.0;
  int round = 0;
  for (; round < 250 && now_sec() < end; round++) {
    size_t n = sizes[round % (sizeof sizes / sizeof sizes[0])];
    int cnt = n >= 3000 ? PARK_N / 8 : PARK_N;
    for (int i = 0; i < PARK_N; i++) {
      if (i < cnt) park_blk[i] = blk_new(n, (uint64_t)round * PARK_N + i, "park producer");
      else park_blk[i] = blk_new(16, (uint64_t)i, "park producer");
    }
    pthread_barrier_wait(&park_bar);
    pthread_barrier_wait(&park_bar);          /* consumers freed everything */
    size_t spans0 = stats().pages_in_use;
    for (int i = 0; i < PARK_N; i++) {
      if (i < cnt) park_blk[i] = blk_new(n, (uint64_t)round * 7 + i, "park producer again");
      else park_blk[i] = blk_new(16, (uint64_t)i, "park producer again");
    }
    size_t spans1 = stats().pages_in_use;
    if (spans1 > spans0) {
      atomic_fetch_add(&park_fresh_rounds, 1);
      fprintf(stderr, "park: round %d (size %zu): %zu new spans although every block came back\n",
              round, n, spans1 - spans0);
    }
    for (int i = 0; i < PARK_N; i++) { blk_vfy(&park_blk[i], "park producer own"); free(park_blk[i].p); }
  }
  atomic_store(&stop_flag, 1);
  pthread_barrier_wait(&park_bar);
  for (int i = 0; i < PARK_CONS; i++) test_join(t[i]);
  printf("park: %d rounds\n", round);
  CHECK(atomic_load(&park_fresh_rounds) == 0,
        "%d rounds needed fresh spans: remote frees into parked pages were not noticed",
        atomic_load(&park_fresh_rounds));
  CHECK(strata_heap_check() == 0, "strata_heap_check after park");
}

/* Free-running variant: producers and consumers race on parked pages. */
enum { PR_PROD = 3, PR_CONS = 2 };
static void *pr_producer(void *a) {
  uint64_t rs = 0x1234567ULL + (uintptr_t)a * 7919;
  uint64_t salt = (uint64_t)(uintptr_t)a << 40;
  blk_t mine[64];
  int nm = 0;
  while (!atomic_load(&stop_flag)) {
    uint64_t r = rnd_next(&rs);
    blk_t b = blk_new(mixed_size(r), salt++, "park-race producer");
    if ((r >> 60) < 3 && nm < 64) { mine[nm++] = b; continue; }
    if (!pool_put(&pool, &b)) { blk_vfy(&b, "park-race own"); free(b.p); }
    if (nm == 64) { for (int i = 0; i < nm; i++) { blk_vfy(&mine[i], "park-race own"); free(mine[i].p); } nm = 0; }
  }
  for (int i = 0; i < nm; i++) { blk_vfy(&mine[i], "park-race own"); free(mine[i].p); }
  return NULL;
}
static void *pr_consumer(void *a) {
  uint64_t rs = 0x987ULL + (uintptr_t)a;
  blk_t b;
  while (!atomic_load(&stop_flag)) {
    if (pool_take(&pool, &b, rnd_next(&rs))) { blk_vfy(&b, "park-race consumer"); free(b.p); }
  }
  return NULL;
}
static void park_race(void) {
  atomic_store(&stop_flag, 0);
  pthread_t p[PR_PROD], c[PR_CONS];
  for (int i = 0; i < PR_PROD; i++) p[i] = test_spawn(pr_producer, (void *)(intptr_t)i);
  for (int i = 0; i < PR_CONS; i++) c[i] = test_spawn(pr_consumer, (void *)(intptr_t)i);
  usleep(1500 * 1000);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < PR_PROD; i++) test_join(p[i]);
  for (int i = 0; i < PR_CONS; i++) test_join(c[i]);
  pool_drain(&pool, "park-race drain");
  CHECK(strata_heap_check() == 0, "strata_heap_check after park race");
}

static void test_park(void) { park_run(); park_race(); }

/* ------------------------------------------------------------- abandon */
/* Waves of short-lived threads publish blocks and exit; long-lived freers
 * free them remotely (into live, abandoned and adopted pages) while the next
 * wave adopts the abandoned pages. */

static void *ab_worker(void *a) {
  uint64_t rs = 0xA5A5ULL ^ ((uintptr_t)a * 0x9E3779B97F4A7C15ULL);
  uint64_t salt = (uint64_t)(uintptr_t)a << 32;
  blk_t keep[32];
  int nk = 0;
  int n = 200 + (int)(rnd_next(&rs) % 600);
  for (int i = 0; i < n; i++) {
    uint64_t r = rnd_next(&rs);
    blk_t b;
    if ((r & 15) == 0) {           /* the other free paths too */
      size_t al = (size_t)32 << ((r >> 4) % 12);   /* 32 .. 64 KiB */
      b.n = 1 + (r >> 20) % 3000;
      CHECK(posix_memalign(&b.p, al, b.n) == 0, "posix_memalign(%zu, %zu)", al, b.n);
      CHECK(((uintptr_t)b.p & (al - 1)) == 0, "misaligned %p for %zu", b.p, al);
      blk_fill(&b, salt++);
    } else {
      b = blk_new(mixed_size(r), salt++, "abandon worker");
    }
    if ((r >> 61) == 0 && nk < 32) { keep[nk++] = b; continue; }   /* freed locally below */
    if (!pool_put(&pool, &b)) { blk_vfy(&b, "abandon worker"); free(b.p); }
  }
  for (int i = 0; i < nk; i += 2) { blk_vfy(&keep[i], "abandon worker keep"); free(keep[i].p); }
  for (int i = 1; i < nk; i += 2) if (!pool_put(&pool, &keep[i])) free(keep[i].p);
  return NULL;                    /* exits with blocks outstanding */
}
static void *ab_freer(void *a) {
  uint64_t rs = 0x5151ULL + (uintptr_t)a;
  blk_t b;
  while (!atomic_load(&stop_flag)) {
    if (pool_take(&pool, &b, rnd_next(&rs))) { blk_vfy(&b, "abandon freer"); free(b.p); }
    else sched_yield();
  }
  return NULL;
}
static void test_abandon(void) {
  enum { FREERS = 2, WIDTH = 4 };
  pthread_t f[FREERS], w[WIDTH];
  for (int i = 0; i < FREERS; i++) f[i] = test_spawn(ab_freer, (void *)(intptr_t)i);
  double end = now_sec() + 2.0;
  uintptr_t id = 1;
  int waves = 0;
  while (now_sec() < end) {
    for (int i = 0; i < WIDTH; i++) w[i] = test_spawn(ab_worker, (void *)id++);
    for (int i = 0; i < WIDTH; i++) test_join(w[i]);
    waves++;
  }
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < FREERS; i++) test_join(f[i]);
  CHECK(strata_heap_check() == 0, "strata_heap_check with blocks of exited threads outstanding");
  pool_drain(&pool, "abandon drain");
  CHECK(strata_heap_check() == 0, "strata_heap_check after drain");
  strata_collect(1);
  strata_stats_t st = stats();
  printf("abandon: %d waves of %d threads; after collect: abandoned %zu, spans %zu, heaps %zu\n",
         waves, WIDTH, st.pages_abandoned, st.pages_in_use, st.heaps);
  CHECK(st.pages_abandoned == 0, "%zu abandoned pages left after everything was freed and collected",
        st.pages_abandoned);
  CHECK(st.heaps == 1, "%zu thread caches live after all threads exited", st.heaps);
  CHECK(strata_heap_check() == 0, "strata_heap_check after collect");
}

/* ------------------------------------------------------------- aligned */

static void *al_worker(void *a) {
  uint64_t rs = 0xA11ULL * ((uintptr_t)a + 3);
  uint64_t salt = (uint64_t)(uintptr_t)a << 36;
  int n = 400;
  for (int i = 0; i < n; i++) {
    uint64_t r = rnd_next(&rs);
    size_t al = (size_t)32 << (r % 12);                       /* 32 .. 64 KiB */
    size_t sz = (r >> 8) & 1 ? 1 + (r >> 12) % 512 : 1 + (r >> 12) % (128 * 1024);
    if (((r >> 40) & 31) == 0) sz = 130 * 1024 + (r >> 12) % 300000;   /* some large */
    blk_t b = { NULL, sz, 0 };
    switch ((r >> 50) % 3) {
    case 0: CHECK(posix_memalign(&b.p, al, sz) == 0, "posix_memalign(%zu, %zu)", al, sz); break;
    case 1: b.p = aligned_alloc(al, sz); break;
    default: b.p = memalign(al, sz); break;
    }
    CHECK(b.p != NULL, "aligned alloc(%zu, %zu) failed", al, sz);
    CHECK(((uintptr_t)b.p & (al - 1)) == 0, "%p not %zu-aligned", b.p, al);
    CHECK(malloc_usable_size(b.p) >= sz, "usable %zu < %zu", malloc_usable_size(b.p), sz);
    blk_fill(&b, salt++);
    if ((r >> 58) < 5) { blk_vfy(&b, "aligned own"); free(b.p); continue; }
    if (!pool_put(&pool, &b)) { blk_vfy(&b, "aligned own"); free(b.p); }
  }
  return NULL;
}
static void test_aligned(void) {
  enum { FREERS = 2 };
  pthread_t f[FREERS];
  atomic_store(&stop_flag, 0);
  for (int i = 0; i < FREERS; i++) f[i] = test_spawn(ab_freer, (void *)(intptr_t)i);
  double end = now_sec() + 1.5;
  uintptr_t id = 1;
  while (now_sec() < end) {
    pthread_t w[3];
    for (int i = 0; i < 3; i++) w[i] = test_spawn(al_worker, (void *)id++);
    for (int i = 0; i < 3; i++) test_join(w[i]);
  }
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < FREERS; i++) test_join(f[i]);
  /* the rest is freed by main after the owners exited */
  pool_drain(&pool, "aligned drain");
  strata_collect(1);
  strata_stats_t st = stats();
  CHECK(st.pages_abandoned == 0, "%zu abandoned pages left", st.pages_abandoned);
  CHECK(strata_heap_check() == 0, "strata_heap_check after aligned");
}

/* --------------------------------------------------------------- large */

enum { LG_OWNERS = 2, LG_BLOCKS = 6 };
static void *lg_owner(void *a) {
  uint64_t rs = 0x1A46EULL + (uintptr_t)a * 31;
  uint64_t salt = (uint64_t)(uintptr_t)a << 40;
  blk_t b[LG_BLOCKS];
  for (int i = 0; i < LG_BLOCKS; i++) b[i] = blk_new(200000 + (size_t)i * 70000, salt++, "large owner");
  while (!atomic_load(&stop_flag)) {
    uint64_t r = rnd_next(&rs);
    blk_t *x = &b[r % LG_BLOCKS];
    blk_vfy(x, "large before realloc");
    size_t nn;
    switch ((r >> 8) % 6) {
    case 0: nn = x->n * 2 + (r >> 20) % 4096; if (nn > (24u << 20)) nn = 300000; break;  /* grow: moves */
    case 1: nn = x->n / 3 + 140000; break;                    /* shrink, still large */
    case 2: nn = 1 + (r >> 20) % 100000; break;               /* large -> small/medium */
    case 3: nn = (5u << 20) + (r >> 20) % (1u << 20); break;  /* a few MiB */
    case 4: nn = x->n + 1 + (r >> 20) % 8192; break;          /* grow a little (in place?) */
    default: nn = 129 * 1024 + (r >> 20) % 4096; break;       /* just above the medium limit */
    }
    void *q = realloc(x->p, nn);
    CHECK(q != NULL, "realloc(%zu -> %zu) failed", x->n, nn);
    size_t keep = nn < x->n ? nn : x->n;
    size_t bad = pat_check(q, keep, x->seed);
    CHECK(bad == 0, "realloc(%p, %zu -> %zu) = %p lost contents at offset %zu", x->p, x->n, nn, q, bad - 1);
    x->p = q; x->n = nn;
    blk_fill(x, salt++);
    if ((r >> 30) % 8 == 0) {     /* hand a block to the churners, take a fresh one */
      if (!pool_put(&pool, x)) free(x->p);
      *x = blk_new(150000 + (r >> 40) % 500000, salt++, "large owner fresh");
    }
  }
  for (int i = 0; i < LG_BLOCKS; i++) { blk_vfy(&b[i], "large owner end"); free(b[i].p); }
  return NULL;
}
static void *lg_churn(void *a) {
  uint64_t rs = 0xC4C4EULL + (uintptr_t)a;
  uint64_t salt = (uint64_t)(uintptr_t)a << 48;
  while (!atomic_load(&stop_flag)) {
    uint64_t r = rnd_next(&rs);
    blk_t b;
    if (pool_take(&pool, &b, r)) { blk_vfy(&b, "large churn (from owner)"); free(b.p); }
    size_t n = 130 * 1024 + (r >> 8) % (3u << 20);
    blk_t c = { ((r >> 50) & 3) == 0 ? calloc(1, n) : malloc(n), n, 0 };
    CHECK(c.p != NULL, "large churn malloc(%zu)", n);
    if (((r >> 50) & 3) == 0) CHECK(mem_is_zero(c.p, n), "calloc(%zu) from the large cache not zeroed", n);
    blk_fill(&c, salt++);
    if ((r >> 40) % 64 == 0) strata_collect(1);    /* empties the large cache under the others */
    blk_vfy(&c, "large churn own");
    free(c.p);
  }
  return NULL;
}
static void test_large(void) {
  pthread_t o[LG_OWNERS], c[2];
  for (int i = 0; i < LG_OWNERS; i++) o[i] = test_spawn(lg_owner, (void *)(intptr_t)i);
  for (int i = 0; i < 2; i++) c[i] = test_spawn(lg_churn, (void *)(intptr_t)i);
  usleep(2000 * 1000);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < LG_OWNERS; i++) test_join(o[i]);
  for (int i = 0; i < 2; i++) test_join(c[i]);
  pool_drain(&pool, "large drain");
  strata_collect(1);
  strata_stats_t st = stats();
  printf("large: after collect: %zu large blocks (%zu bytes), %zu cached\n",
         st.large_count, st.large_in_use, st.large_cached);
  CHECK(st.large_count == 0 && st.large_in_use == 0, "large accounting: %zu blocks, %zu bytes still counted",
        st.large_count, st.large_in_use);
  CHECK(st.large_cached == 0, "large cache holds %zu bytes after strata_collect", st.large_cached);
  CHECK(strata_heap_check() == 0, "strata_heap_check after large");
}

/* -------------------------------------------------------------- orphan */
/* Key created after strata's (which is created at start-up), so in each
 * destructor round strata's destructor runs first: our destructor's
 * allocations are served by the orphan heap. */

static pthread_key_t orph_key;
static atomic_int orph_dtors;
static void orph_dtor(void *v) {
  uintptr_t id = (uintptr_t)v;
  uint64_t rs = 0x0F0FULL + id * 77;
  uint64_t salt = (uint64_t)id << 40;
  for (int i = 0; i < 60; i++) {
    uint64_t r = rnd_next(&rs);
    blk_t b;
    switch (r & 7) {
    case 0: {                          /* aligned from a dead thread */
      size_t al = (size_t)32 << ((r >> 4) % 12);
      b.n = 1 + (r >> 20) % 5000;
      CHECK(posix_memalign(&b.p, al, b.n) == 0, "posix_memalign in destructor");
      CHECK(((uintptr_t)b.p & (al - 1)) == 0, "misaligned in destructor");
      blk_fill(&b, salt++);
      break; }
    case 1: {                          /* realloc chain */
      b = blk_new(1 + (r >> 8) % 500, salt++, "orphan realloc base");
      size_t nn = 1 + (r >> 20) % 20000;
      void *q = realloc(b.p, nn);
      CHECK(q != NULL, "realloc in destructor");
      CHECK(pat_check(q, nn < b.n ? nn : b.n, b.seed) == 0, "realloc in destructor lost contents");
      b.p = q; b.n = nn;
      blk_fill(&b, salt++);
      break; }
    case 2:
      b.n = 1 + (r >> 8) % 3000;
      b.p = calloc(1, b.n);
      CHECK(b.p != NULL && mem_is_zero(b.p, b.n), "calloc in destructor");
      blk_fill(&b, salt++);
      break;
    case 3:
      b = blk_new(140000 + (r >> 8) % 100000, salt++, "orphan large");
      break;
    default:
      b = blk_new(mixed_size(r), salt++, "orphan small");
      break;
    }
    if ((r >> 60) == 0) { blk_vfy(&b, "orphan own"); free(b.p); }
    else if (!pool_put(&pool, &b)) { blk_vfy(&b, "orphan own"); free(b.p); }
  }
  atomic_fetch_add(&orph_dtors, 1);
}
static void *orph_thread(void *a) {
  blk_t b = blk_new(100, (uintptr_t)a, "orphan thread");    /* strata state exists */
  CHECK(pool_put(&pool, &b), "pool full");
  CHECK(pthread_setspecific(orph_key, a) == 0, "setspecific");
  return NULL;
}
static void test_orphan(void) {
  CHECK(pthread_key_create(&orph_key, orph_dtor) == 0, "pthread_key_create");
  enum { FREERS = 2, WIDTH = 6 };
  pthread_t f[FREERS];
  for (int i = 0; i < FREERS; i++) f[i] = test_spawn(ab_freer, (void *)(intptr_t)i);
  double end = now_sec() + 2.0;
  uintptr_t id = 1;
  int started = 0;
  while (now_sec() < end) {
    pthread_t w[WIDTH];
    for (int i = 0; i < WIDTH; i++) w[i] = test_spawn(orph_thread, (void *)id++);
    for (int i = 0; i < WIDTH; i++) test_join(w[i]);
    started += WIDTH;
  }
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < FREERS; i++) test_join(f[i]);
  CHECK(atomic_load(&orph_dtors) == started, "%d of %d destructors ran", atomic_load(&orph_dtors), started);
  pool_drain(&pool, "orphan drain");
  strata_collect(1);
  strata_stats_t st = stats();
  printf("orphan: %d threads; abandoned %zu, heaps %zu\n", started, st.pages_abandoned, st.heaps);
  CHECK(st.pages_abandoned == 0, "%zu abandoned pages left", st.pages_abandoned);
  CHECK(st.heaps == 1, "%zu thread caches live after all threads exited", st.heaps);
  CHECK(strata_heap_check() == 0, "strata_heap_check after orphan");
}

/* --------------------------------------------------------------- purge */

static void *pg_worker(void *a) {
  uint64_t rs = 0x9E9EULL + (uintptr_t)a * 1009;
  uint64_t salt = (uint64_t)(uintptr_t)a << 40;
  enum { K = 48 };
  blk_t b[K];
  for (int i = 0; i < K; i++) b[i] = blk_new(8192 + (size_t)i * 1111, salt++, "purge");
  while (!atomic_load(&stop_flag)) {
    uint64_t r = rnd_next(&rs);
    int i = (int)(r % K);
    blk_vfy(&b[i], "purge: live block (madvised while in use?)");
    if ((r >> 32) & 1) {          /* hand it to another thread: its span empties remotely */
      if (!pool_put(&pool, &b[i])) free(b[i].p);
    } else {
      free(b[i].p);
    }
    size_t n = (r >> 40) & 1 ? 16384 + (r >> 20) % (112 * 1024) : 1 + (r >> 20) % 2048;
    b[i] = blk_new(n, salt++, "purge");
    blk_t x;
    if (pool_take(&pool, &x, r >> 7)) { blk_vfy(&x, "purge: pooled block"); free(x.p); }
    if ((r & 1023) == 0) strata_collect(1);
  }
  for (int i = 0; i < K; i++) { blk_vfy(&b[i], "purge end"); free(b[i].p); }
  return NULL;
}
static void purge_run(long ms, double secs) {
  CHECK(strata_option_set("purge_ms", ms) == 0, "strata_option_set(purge_ms, %ld)", ms);
  atomic_store(&stop_flag, 0);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) t[i] = test_spawn(pg_worker, (void *)(intptr_t)i);
  usleep((useconds_t)(secs * 1e6));
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < 3; i++) test_join(t[i]);
  pool_drain(&pool, "purge drain");
  CHECK(strata_heap_check() == 0, "strata_heap_check after purge_ms=%ld", ms);
}
static void test_purge(void) { purge_run(0, 1.0); purge_run(1, 1.0); }

/* --------------------------------------------------------------- errno */

#define FREE_KEEPS_ERRNO(p, what)                                                     \
  do {                                                                                \
    errno = 4242;                                                                     \
    free(p);                                                                          \
    CHECK(errno == 4242, "free (%s) changed errno to %d", what, errno);               \
  } while (0)

static void *er_worker(void *a) {
  uint64_t rs = 0xE770ULL + (uintptr_t)a;
  uint64_t salt = (uint64_t)(uintptr_t)a << 40;
  while (!atomic_load(&stop_flag)) {
    uint64_t r = rnd_next(&rs);
    blk_t b;
    if (pool_take(&pool, &b, r)) { blk_vfy(&b, "errno remote"); FREE_KEEPS_ERRNO(b.p, "remote"); }
    blk_t c;
    if (r & 1) c = blk_new(mixed_size(r >> 3), salt++, "errno");
    else c = blk_new(140000 + (r >> 8) % (2u << 20), salt++, "errno large");
    if ((r >> 20) & 1) { if (!pool_put(&pool, &c)) FREE_KEEPS_ERRNO(c.p, "local"); }
    else { blk_vfy(&c, "errno local"); FREE_KEEPS_ERRNO(c.p, "local/retire"); }
  }
  return NULL;
}
static void test_errno(void) {
  /* single-threaded kinds */
  FREE_KEEPS_ERRNO(NULL, "NULL");
  void *v[4000];
  for (int i = 0; i < 4000; i++) { v[i] = malloc(64); CHECK(v[i] != NULL, "malloc"); }
  for (int i = 0; i < 4000; i++) FREE_KEEPS_ERRNO(v[i], "small, retiring spans");
  for (size_t al = 32; al <= 65536; al <<= 1) {
    void *p = NULL;
    CHECK(posix_memalign(&p, al, 100) == 0, "posix_memalign");
    FREE_KEEPS_ERRNO(p, "aligned");
  }
  for (int i = 0; i < 40; i++) {          /* fills and overflows the large cache */
    void *p = malloc((size_t)(1 + i % 20) << 20);
    CHECK(p != NULL, "malloc large");
    FREE_KEEPS_ERRNO(p, "large");
  }
  strata_collect(1);
  /* failures: NULL + ENOMEM, and the old block survives a failed realloc */
  errno = 0;
  CHECK(malloc(big(SIZE_MAX)) == NULL && errno == ENOMEM, "malloc(SIZE_MAX): errno %d", errno);
  errno = 0;
  CHECK(malloc(big((size_t)PTRDIFF_MAX + 1)) == NULL && errno == ENOMEM, "malloc(PTRDIFF_MAX+1): errno %d", errno);
  errno = 0;
  CHECK(calloc(big(SIZE_MAX / 2), 3) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
  errno = 0;
  CHECK(aligned_alloc(4096, big((size_t)1 << 62)) == NULL && errno == ENOMEM, "aligned_alloc huge: errno %d", errno);
  blk_t b = blk_new(300000, 1, "errno realloc");
  errno = 0;
  CHECK(realloc(b.p, big((size_t)1 << 62)) == NULL && errno == ENOMEM, "realloc huge: errno %d", errno);
  blk_vfy(&b, "block after failed realloc");
  FREE_KEEPS_ERRNO(b.p, "large after failed realloc");
  /* concurrent */
  atomic_store(&stop_flag, 0);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) t[i] = test_spawn(er_worker, (void *)(intptr_t)i);
  usleep(1000 * 1000);
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < 3; i++) test_join(t[i]);
  blk_t x;
  while (pool_take(&pool, &x, 0)) { blk_vfy(&x, "errno drain"); FREE_KEEPS_ERRNO(x.p, "after owner exit"); }
}

/* ------------------------------------------------------- realloc_errno */
/* A realloc that succeeds must not leave errno at ENOMEM: growing a large
 * block first tries mremap in place, and when that fails (the next address
 * range is taken) moves the block -- a success.  Programs that clear errno
 * and test it after a call (or after a sequence of calls) see a phantom
 * ENOMEM.  (malloc, free and in-place reallocs leave errno alone.) */
static void test_realloc_errno(void) {
  blk_t a = blk_new(200000, 1, "realloc_errno");
  blk_t blocker = blk_new(200000, 2, "realloc_errno blocker");   /* the next 4 MiB slot */
  for (size_t n = 1u << 20; n <= (32u << 20); n *= 2) {
    errno = 0;
    void *q = realloc(a.p, n);
    CHECK(q != NULL, "realloc(%zu -> %zu) failed", a.n, n);
    size_t bad = pat_check(q, a.n, a.seed);
    CHECK(bad == 0, "realloc lost contents at %zu", bad - 1);
    int e = errno;
    CHECK(e == 0, "successful realloc(%p, %zu -> %zu) = %p (%s) left errno = %d (%s)", a.p, a.n, n, q,
          q == a.p ? "in place" : "moved", e, strerror(e));
    a.p = q; a.n = n;
    blk_fill(&a, n);
  }
  free(a.p);
  free(blocker.p);
}

/* --------------------------------------------------------------- stats */
/* strata_stats_get (and mallinfo2, malloc_stats, malloc_info) must be safe to
 * call while other threads allocate and free: "read without stopping anyone"
 * (stats.h).  Workers fill several segments and free them all at once, so
 * spans are retired and whole segments unmapped under the readers. */

static __thread volatile int st_in_stats;
static void st_segv(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char buf[256];
  int n = snprintf(buf, sizeof buf,
                   "stats: %s at address %p in a thread %s strata_stats_get/mallinfo2\n",
                   sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", si->si_addr,
                   st_in_stats ? "inside" : "outside");
  if (n > 0) (void)!write(2, buf, (size_t)n);
  _exit(1);
}
static void *st_worker(void *a) {
  (void)a;
  enum { N = 20000 };
  static __thread void *v[N];
  while (!atomic_load(&stop_flag)) {
    for (int i = 0; i < N; i++) { v[i] = malloc(1000); CHECK(v[i] != NULL, "malloc"); }
    for (int i = 0; i < N; i++) free(v[i]);
  }
  return NULL;
}
static void *st_reader(void *a) {
  long k = 0;
  while (!atomic_load(&stop_flag)) {
    st_in_stats = 1;
    if ((uintptr_t)a & 1) { struct mallinfo2 mi = mallinfo2(); (void)mi; }
    else { strata_stats_t st; strata_stats_get(&st); }
    st_in_stats = 0;
    k++;
  }
  return (void *)k;
}
static void test_stats(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = st_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  pthread_t w[3], r[2];
  for (int i = 0; i < 3; i++) w[i] = test_spawn(st_worker, NULL);
  for (int i = 0; i < 2; i++) r[i] = test_spawn(st_reader, (void *)(intptr_t)i);
  usleep(2500 * 1000);
  atomic_store(&stop_flag, 1);
  long calls = 0;
  for (int i = 0; i < 3; i++) test_join(w[i]);
  for (int i = 0; i < 2; i++) calls += (long)(intptr_t)test_join(r[i]);
  printf("stats: %ld concurrent stats calls survived\n", calls);
}

/* ---------------------------------------------------------------- dfree */
static pthread_barrier_t df_bar;
static void *volatile df_target;
static void *volatile df_next[2];         /* main's blocks each racer frees right after */
static void *volatile df_got[2][2];       /* what each racer's two mallocs then got */
static size_t df_size;
static atomic_int df_arrive, df_gen;
static void df_pair(void) {               /* the two racers meet spinning: released together */
  int g = atomic_load(&df_gen);
  if (atomic_fetch_add(&df_arrive, 1) == 1) {
    atomic_store(&df_arrive, 0);
    atomic_fetch_add(&df_gen, 1);
  } else
    for (unsigned spins = 0; atomic_load(&df_gen) == g; spins++)
      if (spins > 4096) sched_yield();   /* the other racer may be waiting for this CPU */
}
/* A pause of tens of cycles: the spin release above reaches the two
 * racers that far apart, so a jitter of compiler barriers alone (up to 64
 * of them before stop 31) let the frees overlap too rarely to find the
 * stash's race of stop 30 in 400 rounds. */
static inline void df_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __asm__ volatile("pause" ::: "memory");
#else
  for (int i = 0; i < 16; i++) __asm__ volatile("" ::: "memory");
#endif
}
static void *df_racer(void *a) {
  bool heapless = (uintptr_t)a & 0x100;   /* frees onto the page's remote list */
  if (!heapless) free(malloc(8));         /* a heap of its own: the batch and stash paths */
  unsigned rng = (unsigned)(uintptr_t)a * 2654435761u;
  for (;;) {
    pthread_barrier_wait(&df_bar);
    void *p = df_target;
    if (p == NULL) return NULL;
    df_pair();
    rng = rng * 1103515245u + 12345u;     /* jitter: either may come first */
    for (unsigned i = (rng >> 8) % 200; i; i--) df_pause();
    free(p);
    /* at once one more remote free of the class: a stash or batch moves
     * on before any flush (a review's harness did this: a plain store that
     * drained late let the other racer's stash list the block, 2026-11-28);
     * then, once both racers' frees have returned (a malloc before that
     * could take the block back before the other's free, which would then
     * free a live block: no allocator can tell), two mallocs of the class,
     * which would hand out a block both racers kept: the first takes the
     * block freed last (a stash is newest first), the second the raced one
     * (with one malloc, the stashes' race passed: the flush at the stats
     * call sent both copies home and the second delivery reported it) */
    unsigned id = ((unsigned)(uintptr_t)a & 0xff) - 1;
    free(df_next[id]);
    df_pair();
    if (!heapless)
      for (int j = 0; j < 2; j++) {
        char *g = malloc(df_size);
        if (g != NULL) memset(g, 0x40 + (int)id, df_size < 4096 ? df_size : 4096);
        df_got[id][j] = g;
      }
    strata_stats_t st;
    strata_stats_get(&st);                /* sends its batches and stash home (a heapless
                                             loser that saw the key got a heap to send it) */
    pthread_barrier_wait(&df_bar);
  }
}
/* Small blocks too (found by review, 2026-11-28): both racers read word 1
 * without a mark and both linked the block -- into two stashes (256 B -
 * 1 KiB, handed out twice at the first race), or twice onto the page's
 * remote list (above 1 KiB: a loop) -- until the remote free claimed word
 * 1 with a compare-and-swap.  The main thread owns the blocks and keeps
 * 32 of the class live so the page stays; its stats call takes its inbox,
 * whose deliveries report a suspect confirmed on the page's lists.  Each
 * size twice: both racers with heaps (the same path), then the second
 * without one, whose free goes onto the page's remote list while the
 * other's is batched or stashed (a batch's plain store of its mark once
 * wrote over the key of a racing free that had linked the block: handed
 * out twice, found by review). */
static void test_dfree(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  static const size_t sizes[] = { 16, 128, 512, 1024, 2048, 4096, 200000, (size_t)20 << 20 };
  /* every remote path claims in both modes (since stop 31; the default
   * mode left the batch and the stash unclaimed before: alloc.c) */
  int secure = strata_option_get("secure") == 1;
  unsigned passes = 2;
  for (unsigned k = 0; k < passes * sizeof sizes / sizeof sizes[0]; k++) {
    size_t n = sizes[k / passes], touch = n < 4096 ? n : 4096;
    uintptr_t mixed = k % passes ? 0x100 : 0;
    char *keep[32];
    for (int i = 0; i < 32; i++) CHECK((keep[i] = malloc(n)) != NULL, "malloc");
    pthread_barrier_init(&df_bar, NULL, 3);
    pthread_t t[2];
    for (uintptr_t i = 0; i < 2; i++) t[i] = test_spawn(df_racer, (void *)((i + 1) | (i == 1 ? mixed : 0)));
    for (int r = 0; r < 400; r++) {
      strata_stats_t st;
      /* main's stash goes home first: main frees the racers' blocks at the
       * end of each round, and one a stash kept would come back here as the
       * target, a block a racer owns, whose own free takes no atomic (the
       * owner's race with a remote free is not caught: hardening.md) */
      strata_stats_get(&st);
      char *p = malloc(n);
      CHECK(p != NULL, "malloc");
      memset(p, 1, touch);
      df_target = p;
      df_size = n;
      for (int i = 0; i < 2; i++) {
        CHECK((df_next[i] = malloc(n)) != NULL, "malloc");
        df_got[i][0] = df_got[i][1] = NULL;
      }
      strata_stats_get(&st);
      size_t before = st.misuses;
      pthread_barrier_wait(&df_bar);      /* both free it */
      pthread_barrier_wait(&df_bar);
      strata_stats_get(&st);
      CHECK(st.misuses - before == 1, "round %d, %zu bytes%s: %zu misuses counted for one double free", r,
            n, mixed ? " (one racer heapless)" : "", st.misuses - before);
      char *q[8];
      for (int i = 0; i < 8; i++) {
        CHECK((q[i] = malloc(n)) != NULL, "malloc");
        memset(q[i], 2 + i, touch);
        for (int j = 0; j < i; j++) CHECK(q[j] != q[i], "round %d, %zu bytes: %p handed out twice", r, n, (void *)q[i]);
        for (int j = 0; j < 32; j++) CHECK(keep[j] != q[i], "round %d: a live block handed out", r);
      }
      for (int i = 0; i < 4; i++) {
        char *g = df_got[i / 2][i % 2];
        if (g == NULL) continue;            /* heapless */
        for (int j = 0; j < 4; j++)
          CHECK(j == i || g != df_got[j / 2][j % 2], "round %d, %zu bytes: %p handed out twice to the racers", r, n,
                (void *)g);
        for (int j = 0; j < 8; j++) CHECK(g != q[j], "round %d, %zu bytes: %p handed out twice", r, n, (void *)g);
        CHECK(g[0] == 0x40 + i / 2 && g[touch - 1] == 0x40 + i / 2, "round %d, %zu bytes: a racer's block overlaps", r, n);
      }
      for (int i = 0; i < 8; i++) {
        CHECK(q[i][0] == 2 + i && q[i][touch - 1] == 2 + i, "round %d, %zu bytes: blocks overlap", r, n);
        free(q[i]);
      }
      for (int i = 0; i < 4; i++) free(df_got[i / 2][i % 2]);
    }
    for (int i = 0; i < 32; i++) free(keep[i]);
    df_target = NULL;
    pthread_barrier_wait(&df_bar);
    for (int i = 0; i < 2; i++) test_join(t[i]);
    pthread_barrier_destroy(&df_bar);
  }
  CHECK(strata_heap_check() == 0, "heap check");
  printf("dfree: 400 racing double frees per class and path (16 B - 20 MiB, same and mixed paths, %s mode), "
         "each counted once\n", secure ? "secure" : "default");
}

/* ---------------------------------------------------------------- main */

typedef struct { const char *name; void (*fn)(void); double limit; } scenario_t;
static const scenario_t scenarios[] = {
  { "park", test_park, 20 },     { "abandon", test_abandon, 20 }, { "aligned", test_aligned, 20 },
  { "large", test_large, 20 },   { "orphan", test_orphan, 20 },   { "purge", test_purge, 20 },
  { "errno", test_errno, 20 },   { "realloc_errno", test_realloc_errno, 20 },
  { "stats", test_stats, 20 },   { "dfree", test_dfree, 20 },
};
enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };

static int run(const scenario_t *s) {
  fflush(stdout);
  fflush(stderr);
  double t0 = now_sec();
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    alarm((unsigned)s->limit * 2);       /* a deadlock ends as SIGALRM */
    s->fn();
    fflush(stdout);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (ok) printf("PASS %s (%.1f s)\n", s->name, now_sec() - t0);
  else if (WIFSIGNALED(st))
    printf("FAIL %s: killed by signal %d (%s)%s\n", s->name, WTERMSIG(st), strsignal(WTERMSIG(st)),
           WTERMSIG(st) == SIGALRM ? " -- deadlock or livelock?" : "");
  else printf("FAIL %s: exit status %d\n", s->name, WEXITSTATUS(st));
  fflush(stdout);
  return ok;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  int failed = 0, ran = 0;
  for (int i = 0; i < NSCEN; i++) {
    int want = argc < 2;
    for (int k = 1; k < argc; k++) if (strcmp(argv[k], scenarios[i].name) == 0) want = 1;
    if (!want) continue;
    ran++;
    if (!run(&scenarios[i])) failed++;
  }
  CHECK(ran > 0, "no such scenario");
  printf("t_races: %d of %d scenarios failed\n", failed, ran);
  return failed ? 1 : 0;
}
