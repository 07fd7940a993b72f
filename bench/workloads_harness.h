/* bench/workloads_harness.h -- what every workload of bench/workloads.c
 * uses: failing, allocating and touching blocks, tagged blocks, the worker
 * threads and their timing, and the extra keys of the result line.
 *
 * Included by workloads.c (and workloads_release.h) only: static functions,
 * one copy in the one binary.  Not linked against strata: the allocator is
 * chosen with LD_PRELOAD.
 */
#ifndef STRATA_WORKLOADS_HARNESS_H
#define STRATA_WORKLOADS_HARNESS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define CACHELINE 64
#define PAGE 4096

static void die(const char *msg) {
  fprintf(stderr, "workloads: %s\n", msg);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) die("malloc returned NULL");
  return p;
}

/* Write the first and last byte of a fresh block (the allocator must have
 * handed out real, writable memory of at least n bytes). */
static inline void touch(void *p, size_t n, unsigned char v) {
  unsigned char *c = p;
  c[0] = v;
  c[n - 1] = v;
}

/* A fresh block of n bytes, touched with v. */
static inline void *fresh_block(size_t n, unsigned char v) {
  void *p = xmalloc(n);
  touch(p, n, v);
  return p;
}

/* Write one byte in every 4 KiB page of [from, to) of p: byte `from`, every
 * 4096-aligned offset in the range, and byte to-1, so every page of the
 * range is really faulted in (and a vector grown piecewise has the same
 * aligned bytes written as one touched at once).  sum_pages reads the same
 * bytes back. */
static inline void touch_pages(unsigned char *p, size_t from, size_t to, unsigned char v) {
  p[from] = v;
  for (size_t o = (from + PAGE) & ~(size_t)(PAGE - 1); o < to; o += PAGE)
    p[o] = (unsigned char)(v + (o >> 12));
  p[to - 1] = v;
}
static inline uint64_t sum_pages(const unsigned char *p, size_t from, size_t to) {
  uint64_t s = p[from];
  for (size_t o = (from + PAGE) & ~(size_t)(PAGE - 1); o < to; o += PAGE) s += p[o];
  return s + p[to - 1];
}
/* Read back the pages of a block of n bytes (sum_pages), then free it. */
static inline uint64_t free_pages(unsigned char *p, size_t n) {
  uint64_t s = sum_pages(p, 0, n);
  free(p);
  return s;
}

/* Tagged blocks (>= 8 bytes): a 32-bit tag and the block's size at the
 * start, the tag's low byte at the end.  Reading a block back needs nothing
 * but the pointer, so blocks can be freed by any thread and still be folded
 * into a checksum that does not depend on who freed them or when. */
#define MAX_TAGGED (64u << 20)
static inline void tag_block(unsigned char *p, size_t n, uint32_t tag) {
  uint32_t n32 = (uint32_t)n;
  memcpy(p, &tag, 4);
  memcpy(p + 4, &n32, 4);
  p[n - 1] = (unsigned char)tag;
}
static inline uint64_t read_tagged(const unsigned char *p) {
  uint32_t tag, n32;
  memcpy(&tag, p, 4);
  memcpy(&n32, p + 4, 4);
  if (n32 < 8 || n32 > MAX_TAGGED) die("corrupt block (size field overwritten)");
  if (p[n32 - 1] != (unsigned char)tag) die("corrupt block (last byte overwritten)");
  return (uint64_t)tag + n32;
}
/* A fresh tagged block of n bytes. */
static inline unsigned char *new_tagged(size_t n, uint32_t tag) {
  unsigned char *p = xmalloc(n);
  tag_block(p, n, tag);
  return p;
}

typedef struct {
  pthread_t tid;
  int index;
  uint64_t ops;       /* operations this thread must do */
  uint64_t check;     /* folded bytes read back */
  void *arg;          /* workload-specific */
} worker_t;

/* Worker i's share of ops over n workers: an even split, the first workers
 * take the remainder. */
static inline uint64_t ops_share(uint64_t ops, int n, int i) {
  return ops / (uint64_t)n + ((uint64_t)i < ops % (uint64_t)n);
}

/* The worker's PRNG: seeded from base + its index. */
static inline bench_rng_t worker_rng(const worker_t *w, uint64_t base) {
  bench_rng_t r;
  bench_rng_seed(&r, base + (uint64_t)w->index);
  return r;
}

/* Create n threads, fn on the even workers and fn_odd on the odd ones, and
 * return when every one of them has reached *bar (initialised here for
 * n + 1: the threads and the caller). */
static void start_threads(pthread_barrier_t *bar, worker_t *w, int n, void *(*fn)(void *),
                          void *(*fn_odd)(void *)) {
  pthread_barrier_init(bar, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++)
    if (pthread_create(&w[i].tid, NULL, (i & 1) ? fn_odd : fn, &w[i]) != 0)
      die("pthread_create failed");
  pthread_barrier_wait(bar);
}

/* Run fn(arg) in a thread of its own and wait for it to end. */
static void run_in_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, arg) != 0) die("pthread_create failed");
  pthread_join(t, NULL);
}

/* Start nthreads workers (fn on even, fn_odd on odd indices), wait for all,
 * return elapsed seconds.  The clock starts after all threads are created
 * and have reached a barrier, so thread creation is not charged to the
 * allocator. */
static pthread_barrier_t start_barrier;
static double run_threads2(worker_t *w, int nthreads, void *(*fn)(void *),
                           void *(*fn_odd)(void *)) {
  if (nthreads == 1) {            /* no thread at all: main thread works */
    double t0 = bench_now();
    fn(&w[0]);
    return bench_now() - t0;
  }
  start_threads(&start_barrier, w, nthreads, fn, fn_odd);
  double t0 = bench_now();
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].tid, NULL);
  double t = bench_now() - t0;
  pthread_barrier_destroy(&start_barrier);
  return t;
}
static double run_threads(worker_t *w, int nthreads, void *(*fn)(void *)) {
  return run_threads2(w, nthreads, fn, fn);
}
static int g_threads_started;   /* 1 when run_threads made real threads */
static void wait_start(void) {
  if (g_threads_started) pthread_barrier_wait(&start_barrier);
}

/* What main prints besides the common keys.  Workloads set these and may
 * add keys with extra_key(). */
static struct {
  uint64_t check_extra;           /* folded by main-thread cleanup code */
  int check_stable;
  const char *figure_name;        /* NULL = ops_per_sec */
  double figure;
  const char *figure_better;
  char extra[1024];
} g_res = {0, 1, NULL, 0, "higher", ""};

static void extra_key(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void extra_key(const char *fmt, ...) {
  size_t len = strlen(g_res.extra);
  if (len + 2 >= sizeof g_res.extra) return;
  g_res.extra[len++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_res.extra + len, sizeof g_res.extra - len, fmt, ap);
  va_end(ap);
}

#endif
