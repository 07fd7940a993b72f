/* bench/workloads_release.h -- the workloads of bench/workloads.c that
 * measure the memory given back: `threads` (resident memory left once
 * short-lived threads are gone) and `frag` (resident memory after freeing
 * most, then all, of a fragmented heap).  Each has a run_ function called by
 * main and adds its own keys to the result line (see workloads.c).
 *
 * Included by workloads.c only (static functions, one binary).
 */
#ifndef STRATA_WORKLOADS_RELEASE_H
#define STRATA_WORKLOADS_RELEASE_H

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "workloads_harness.h"

/* ---------------------------------------------------------------- threads
 * Threads that come and go.  `threads` lanes run at once; each lane is a
 * chain of short-lived threads (created, joined, next).  A thread lives for
 * TH_ALLOCS allocations: it first adopts one batch of blocks left behind by
 * some earlier thread (any lane; the pool keeps TH_POOL_KEEP batches aged)
 * and frees it, then churns a window of TH_WINDOW blocks (95% 16..1024 B,
 * 5% 4..32 KiB) and exits leaving the window behind in the pool: objects
 * outlive the thread that made them and are freed by a thread that did not
 * make them, after their maker is gone.  When every lane is done, main
 * frees what is still in the pool and reports the resident memory left:
 * rss_after_exit_kb (statm, all threads exited, every block freed) and
 * rss_left_kb = rss_after_exit_kb - rss_before_kb (statm before the first
 * thread).  One op = one malloc + one free; ops are split over the lanes. */
#define TH_ALLOCS 1000
#define TH_WINDOW 100
#define TH_POOL_KEEP 8

typedef struct {
  size_t n;
  unsigned char *p[TH_WINDOW];
} th_batch_t;

static pthread_mutex_t th_lock = PTHREAD_MUTEX_INITIALIZER;
static th_batch_t **th_pool;      /* ring of batches */
static size_t th_head, th_tail, th_cap;
static atomic_ulong th_lifetimes;

typedef struct {
  uint64_t seed;
  uint64_t allocs;
  uint64_t check;
} th_life_t;

static inline size_t th_size(bench_rng_t *r) {
  uint64_t x = bench_rng_next(r);
  if (x % 20 == 0) return (size_t)(4096 + (x >> 8) % (28 * 1024 + 1));
  return (size_t)(16 + (x >> 8) % 1009);
}

/* A fresh tagged block of th_size for slot i of batch b. */
static inline void th_fill(th_batch_t *b, size_t i, bench_rng_t *r) {
  size_t n = th_size(r);
  b->p[i] = new_tagged(n, (uint32_t)bench_rng_next(r));
}

/* Read back and free every block of batch b, and b itself. */
static uint64_t th_free_batch(th_batch_t *b) {
  uint64_t check = 0;
  for (size_t i = 0; i < b->n; i++) {
    check += read_tagged(b->p[i]);
    free(b->p[i]);
  }
  free(b);
  return check;
}

static void *th_lifetime(void *arg) {
  th_life_t *life = arg;
  bench_rng_t r;
  bench_rng_seed(&r, life->seed);
  uint64_t check = 0;
  th_batch_t *old = NULL;
  pthread_mutex_lock(&th_lock);
  if (th_tail - th_head > TH_POOL_KEEP) old = th_pool[th_head++ % th_cap];
  pthread_mutex_unlock(&th_lock);
  if (old) check += th_free_batch(old);
  th_batch_t *b = xmalloc(sizeof *b);
  b->n = life->allocs < TH_WINDOW ? (size_t)life->allocs : TH_WINDOW;
  for (size_t i = 0; i < b->n; i++) th_fill(b, i, &r);
  for (uint64_t k = b->n; k < life->allocs; k++) {
    size_t i = (size_t)(bench_rng_next(&r) % b->n);
    check += read_tagged(b->p[i]);
    free(b->p[i]);
    th_fill(b, i, &r);
  }
  pthread_mutex_lock(&th_lock);
  if (th_tail - th_head >= th_cap) die("threads: pool overflow");
  th_pool[th_tail++ % th_cap] = b;
  pthread_mutex_unlock(&th_lock);
  life->check += check;
  atomic_fetch_add(&th_lifetimes, 1);
  return NULL;
}

static void *th_lane(void *arg) {
  worker_t *w = arg;
  th_life_t life = {0, 0, 0};
  uint64_t left = w->ops;
  wait_start();
  for (uint64_t j = 0; left > 0; j++) {
    life.seed = ((uint64_t)bench_mix32(7000u + (uint64_t)w->index, j) << 32) | j;
    life.allocs = left < TH_ALLOCS ? left : TH_ALLOCS;
    left -= life.allocs;
    run_in_thread(th_lifetime, &life);
  }
  w->check = life.check;
  return NULL;
}

static double run_threads_wl(worker_t *w, int threads) {
  th_cap = TH_POOL_KEEP + (size_t)threads + 8;
  th_pool = calloc(th_cap, sizeof *th_pool);
  if (!th_pool) die("calloc failed");
  long rss_before = bench_rss_kb();
  double secs = run_threads(w, threads, th_lane);
  while (th_head < th_tail)                     /* survivors: freed by main */
    g_res.check_extra += th_free_batch(th_pool[th_head++ % th_cap]);
  free(th_pool);
  long rss_after = bench_rss_kb();
  extra_key("lifetimes=%lu rss_before_kb=%ld rss_after_exit_kb=%ld rss_left_kb=%ld",
            (unsigned long)atomic_load(&th_lifetimes), rss_before, rss_after,
            rss_after - rss_before);
  return secs;
}

/* ------------------------------------------------------------------- frag
 * Fragmentation and release.  Build a heap of `ops` bytes (split over the
 * threads) of blocks of 16 B..16 KiB (log-uniform), every byte written;
 * then free a random 90% of the blocks (random order); then free all the
 * rest (allocation order).  Resident memory (statm) is sampled after each
 * step: rss_peak_kb (heap built), rss_after90_kb (with live_after90_kb of
 * blocks still live) and, after a second with the threads idle,
 * rss_after90_1s_kb (an allocator may purge after a delay),
 * rss_after_all_kb (everything freed) and, after one more idle second,
 * rss_after_all_1s_kb.  The threads stay alive until that last sample.
 * The bookkeeping arrays are mmap'ed, outside the allocator.  secs = build
 * + both frees (not the idle seconds).  figure = rss_after_all_kb (lower
 * is better). */
#define FRAG_MIN 16

typedef struct {
  unsigned char **p;
  uint32_t *n;
  uint32_t *perm;
  size_t count;
  uint64_t live_after90;
} frag_t;

static int frag_nthreads;
static pthread_barrier_t frag_bar;
static long frag_rss[5];
static double frag_time[5];

static void frag_sample(int phase) {
  if (phase == 2 || phase == 4) sleep(1);
  frag_time[phase] = bench_now();
  frag_rss[phase] = bench_rss_kb();
}

/* End of a phase: with one thread sample now; with more, meet main (which
 * samples between the two barriers). */
static void frag_phase(int phase) {
  if (frag_nthreads == 1) { frag_sample(phase); return; }
  pthread_barrier_wait(&frag_bar);
  pthread_barrier_wait(&frag_bar);
}

static void *frag_map(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("mmap failed");
  return p;
}

static void *frag_thread(void *arg) {
  worker_t *w = arg;
  frag_t *f = w->arg;
  bench_rng_t r = worker_rng(w, 10000u);
  uint64_t check = 0, bytes = 0;
  size_t cap = (size_t)(w->ops / FRAG_MIN) + 2;
  f->p = frag_map(cap * sizeof *f->p);
  f->n = frag_map(cap * sizeof *f->n);
  f->perm = frag_map(cap * sizeof *f->perm);
  if (frag_nthreads > 1) pthread_barrier_wait(&frag_bar);       /* start */
  size_t c = 0;
  while (bytes < w->ops && c < cap) {
    unsigned e = (unsigned)(bench_rng_next(&r) % 10);           /* 16..8K base */
    size_t base = (size_t)FRAG_MIN << e;
    size_t n = base + (size_t)(bench_rng_next(&r) % base);       /* 16..16383 */
    unsigned char *p = xmalloc(n);
    memset(p, (int)(unsigned char)(c * 7 + (size_t)w->index), n);
    f->p[c] = p;
    f->n[c] = (uint32_t)n;
    f->perm[c] = (uint32_t)c;            /* bookkeeping resident before sample 0 */
    c++;
    bytes += n;
  }
  f->count = c;
  frag_phase(0);
  for (size_t i = c; i > 1; i--) {                               /* shuffle */
    size_t j = (size_t)(bench_rng_next(&r) % i);
    uint32_t t = f->perm[i - 1];
    f->perm[i - 1] = f->perm[j];
    f->perm[j] = t;
  }
  size_t n90 = c - c / 10;
  for (size_t k = 0; k < n90; k++) {
    size_t i = f->perm[k];
    check += f->p[i][0] + f->p[i][f->n[i] - 1];
    free(f->p[i]);
    f->p[i] = NULL;
  }
  uint64_t live = 0;
  for (size_t i = 0; i < c; i++)
    if (f->p[i]) live += f->n[i];
  f->live_after90 = live;
  frag_phase(1);
  frag_phase(2);                                   /* idle 1 s, then sample */
  for (size_t i = 0; i < c; i++)
    if (f->p[i]) {
      check += (uint64_t)(f->p[i][0] + f->p[i][f->n[i] - 1]) * 3u;
      free(f->p[i]);
    }
  frag_phase(3);
  frag_phase(4);                                   /* idle 1 s, then sample */
  munmap(f->p, cap * sizeof *f->p);
  munmap(f->n, cap * sizeof *f->n);
  munmap(f->perm, cap * sizeof *f->perm);
  w->check = check;
  return NULL;
}

static double run_frag(worker_t *w, int threads) {
  frag_t *f = calloc((size_t)threads, sizeof *f);
  if (!f) die("calloc failed");
  for (int i = 0; i < threads; i++) w[i].arg = &f[i];
  frag_nthreads = threads;
  double t0;
  if (threads == 1) {
    t0 = bench_now();
    frag_thread(&w[0]);
  } else {
    start_threads(&frag_bar, w, threads, frag_thread, frag_thread);   /* all set up */
    t0 = bench_now();
    for (int phase = 0; phase < 5; phase++) {
      pthread_barrier_wait(&frag_bar);             /* all done with phase */
      frag_sample(phase);
      pthread_barrier_wait(&frag_bar);
    }
    for (int i = 0; i < threads; i++) pthread_join(w[i].tid, NULL);
    pthread_barrier_destroy(&frag_bar);
  }
  uint64_t live = 0, blocks = 0;
  for (int i = 0; i < threads; i++) { live += f[i].live_after90; blocks += f[i].count; }
  free(f);
  extra_key("blocks=%llu build_secs=%.6f rss_peak_kb=%ld rss_after90_kb=%ld rss_after90_1s_kb=%ld "
            "live_after90_kb=%llu rss_after_all_kb=%ld rss_after_all_1s_kb=%ld",
            (unsigned long long)blocks, frag_time[0] - t0, frag_rss[0], frag_rss[1], frag_rss[2],
            (unsigned long long)(live / 1024), frag_rss[3], frag_rss[4]);
  g_res.figure_name = "rss_after_all_kb";
  g_res.figure = (double)frag_rss[3];
  g_res.figure_better = "lower";
  return (frag_time[1] - t0) + (frag_time[3] - frag_time[2]);   /* without the idle second */
}

#endif
