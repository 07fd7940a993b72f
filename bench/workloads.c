/* bench/workloads.c -- runs ONE allocator workload and prints one result line.
 *
 *   workloads <name> [threads] [ops]
 *   workloads list
 *
 * names: churn xthread mixed realloc larson   (see bench/README.md)
 * threads: OS threads doing the work (0 or omitted = the workload's default)
 * ops:     operation count (0 or omitted = default); accepts k/M/G suffixes,
 *          e.g. 20M.  A fixed count (not a fixed time) so every allocator
 *          does exactly the same work.
 *
 * Output (one line on stdout, key=value, parsed by bench_malloc):
 *   workload=churn threads=1 ops=20000000 secs=0.61 ops_per_sec=3.3e+07
 *   peak_rss_kb=2345 malloc_lib=libc.so.6 check=...
 *
 * malloc_lib is the file that defines the `malloc` this process uses (found
 * with dladdr), so the driver can verify LD_PRELOAD really took effect: the
 * dynamic loader only warns and carries on when a preload path is wrong.
 *
 * Every block obtained is written (first and last byte at least) and read
 * back before it is freed, so an allocator cannot win by handing out memory
 * nobody touches.  The bytes read are folded into `check`, which is printed
 * so the compiler cannot drop the reads.
 *
 * Not linked against strata: the allocator is chosen with LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_common.h"

#define CACHELINE 64

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

typedef struct {
  pthread_t tid;
  int index;
  uint64_t ops;       /* operations this thread must do */
  uint64_t check;     /* folded bytes read back */
  void *arg;          /* workload-specific */
} worker_t;

/* Start nthreads workers running fn, wait for all, return elapsed seconds.
 * The clock starts after all threads are created and have reached a
 * barrier, so thread creation is not charged to the allocator. */
static pthread_barrier_t start_barrier;
static double run_threads(worker_t *w, int nthreads, void *(*fn)(void *)) {
  if (nthreads == 1) {            /* no thread at all: main thread works */
    double t0 = bench_now();
    fn(&w[0]);
    return bench_now() - t0;
  }
  pthread_barrier_init(&start_barrier, NULL, (unsigned)nthreads + 1);
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&w[i].tid, NULL, fn, &w[i]) != 0) die("pthread_create failed");
  pthread_barrier_wait(&start_barrier);
  double t0 = bench_now();
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].tid, NULL);
  double t = bench_now() - t0;
  pthread_barrier_destroy(&start_barrier);
  return t;
}
static int g_threads_started;   /* 1 when run_threads made real threads */
static void wait_start(void) {
  if (g_threads_started) pthread_barrier_wait(&start_barrier);
}

/* ------------------------------------------------------------------ churn
 * Single-thread small-object churn: a window of CHURN_WINDOW live blocks; at
 * every step a random slot is freed and refilled with a new block of a
 * random size 8..256, skewed toward small (50% 8..32, 30% 33..96, 20%
 * 97..256).  One op = one malloc + one free.  With threads > 1 every thread
 * runs its own independent window (no sharing). */
#define CHURN_WINDOW 10000

static inline size_t small_size(bench_rng_t *r) {
  uint64_t x = bench_rng_next(r);
  unsigned pick = (unsigned)(x % 10);
  x >>= 8;
  if (pick < 5) return 8 + x % 25;      /* 8..32   */
  if (pick < 8) return 33 + x % 64;     /* 33..96  */
  return 97 + x % 160;                  /* 97..256 */
}

static void *churn_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 1000u + (uint64_t)w->index);
  void **slot = calloc(CHURN_WINDOW, sizeof *slot);
  if (!slot) die("calloc failed");
  uint64_t check = 0;
  for (int i = 0; i < CHURN_WINDOW; i++) {          /* fill (not timed ops) */
    size_t n = small_size(&r);
    slot[i] = xmalloc(n);
    touch(slot[i], n, (unsigned char)i);
  }
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    uint64_t x = bench_rng_next(&r);
    size_t i = (size_t)(x % CHURN_WINDOW);
    unsigned char *old = slot[i];
    check += old[0];
    free(old);
    size_t n = small_size(&r);
    slot[i] = xmalloc(n);
    touch(slot[i], n, (unsigned char)k);
  }
  for (int i = 0; i < CHURN_WINDOW; i++) free(slot[i]);
  free(slot);
  w->check = check;
  return NULL;
}

/* ---------------------------------------------------------------- xthread
 * Producer/consumer: threads/2 pairs (at least 1).  Each producer mallocs
 * blocks of 16..512 bytes, writes them, and pushes them through its own
 * lock-free single-producer/single-consumer ring to its consumer, which
 * reads and frees them: every free is a cross-thread free.  One op = one
 * block (malloc in one thread + free in the other). */
#define RING_SIZE 4096u     /* power of two; room to run ahead a time slice */

typedef struct {
  _Alignas(CACHELINE) _Atomic size_t head;   /* next slot to pop (consumer) */
  _Alignas(CACHELINE) _Atomic size_t tail;   /* next slot to push (producer) */
  _Alignas(CACHELINE) void *slot[RING_SIZE];
} ring_t;

static inline void backoff(unsigned *spins) {
  if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    sched_yield();          /* 2 cores: never spin against the other side */
    *spins = 0;
  }
}

static void *producer_thread(void *arg) {
  worker_t *w = arg;
  ring_t *ring = w->arg;
  bench_rng_t r;
  bench_rng_seed(&r, 2000u + (uint64_t)w->index);
  size_t tail = 0, head_cache = 0;
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    size_t n = (size_t)bench_rng_range(&r, 16, 512);
    unsigned char *p = xmalloc(n);
    touch(p, n, (unsigned char)k);
    unsigned spins = 0;
    while (tail - head_cache >= RING_SIZE) {
      head_cache = atomic_load_explicit(&ring->head, memory_order_acquire);
      if (tail - head_cache >= RING_SIZE) backoff(&spins);
    }
    ring->slot[tail & (RING_SIZE - 1)] = p;
    atomic_store_explicit(&ring->tail, ++tail, memory_order_release);
  }
  return NULL;
}

static void *consumer_thread(void *arg) {
  worker_t *w = arg;
  ring_t *ring = w->arg;
  size_t head = 0, tail_cache = 0;
  uint64_t check = 0;
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    unsigned spins = 0;
    while (head == tail_cache) {
      tail_cache = atomic_load_explicit(&ring->tail, memory_order_acquire);
      if (head == tail_cache) backoff(&spins);
    }
    unsigned char *p = ring->slot[head & (RING_SIZE - 1)];
    atomic_store_explicit(&ring->head, ++head, memory_order_release);
    check += p[0];
    free(p);
  }
  w->check = check;
  return NULL;
}

/* ------------------------------------------------------------------ mixed
 * T threads, each with its own window of MIXED_WINDOW slots.  Sizes: 89%
 * small (8..256, skewed), 10% medium (1K..64K), 1% large (64K..1M).  One in
 * MIXED_XFER_EVERY frees does not free the block but exchanges it into a
 * shared array of atomic slots and frees whatever was there, typically a
 * block another thread allocated.  One op = one malloc + one free. */
#define MIXED_WINDOW 1000
#define MIXED_SHARED 1024
#define MIXED_XFER_EVERY 8

static _Atomic(void *) mixed_shared[MIXED_SHARED];

static inline size_t mixed_size(bench_rng_t *r) {
  uint64_t pick = bench_rng_next(r) % 100;
  if (pick < 89) return small_size(r);
  if (pick < 99) return (size_t)bench_rng_range(r, 1024, 64 * 1024);
  return (size_t)bench_rng_range(r, 64 * 1024 + 1, 1024 * 1024);
}

static void *mixed_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 3000u + (uint64_t)w->index);
  void **slot = calloc(MIXED_WINDOW, sizeof *slot);
  if (!slot) die("calloc failed");
  uint64_t check = 0;
  for (int i = 0; i < MIXED_WINDOW; i++) {
    size_t n = mixed_size(&r);
    slot[i] = xmalloc(n);
    touch(slot[i], n, (unsigned char)i);
  }
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    uint64_t x = bench_rng_next(&r);
    size_t i = (size_t)(x % MIXED_WINDOW);
    unsigned char *old = slot[i];
    check += old[0];
    if ((x >> 32) % MIXED_XFER_EVERY == 0) {
      size_t j = (size_t)((x >> 40) % MIXED_SHARED);
      old = atomic_exchange_explicit(&mixed_shared[j], old, memory_order_acq_rel);
      if (old) check += old[0];
    }
    free(old);                                  /* free(NULL) is fine */
    size_t n = mixed_size(&r);
    slot[i] = xmalloc(n);
    touch(slot[i], n, (unsigned char)k);
  }
  for (int i = 0; i < MIXED_WINDOW; i++) free(slot[i]);
  free(slot);
  w->check = check;
  return NULL;
}

/* ---------------------------------------------------------------- realloc
 * Growing buffers: each thread keeps REALLOC_VECS vectors growing at the
 * same time (round robin), like strings/arrays being built up.  A vector
 * starts at 16 bytes and grows by realloc to size + size/4 + 16 (a 1.25x
 * policy like many containers), its new last byte written each step, until
 * it reaches its target (log-uniform 4 KiB..4 MiB); then it is checked and
 * freed and a new one starts.  Between growth steps a small block in a
 * 64-slot window is replaced, so the heap is not pristine.  One op = one
 * realloc call. */
#define REALLOC_VECS 8
#define REALLOC_NOISE 64

static size_t realloc_target(bench_rng_t *r) {
  /* log-uniform between 2^12 and 2^22 */
  unsigned e = 12 + (unsigned)(bench_rng_next(r) % 10);
  size_t base = (size_t)1 << e;
  return base + (size_t)(bench_rng_next(r) % base);
}

static void *realloc_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 4000u + (uint64_t)w->index);
  unsigned char *vec[REALLOC_VECS];
  size_t len[REALLOC_VECS], target[REALLOC_VECS];
  void *noise[REALLOC_NOISE];
  uint64_t check = 0;
  for (int v = 0; v < REALLOC_VECS; v++) {
    len[v] = 16;
    vec[v] = xmalloc(16);
    touch(vec[v], 16, 1);
    target[v] = realloc_target(&r);
  }
  for (int i = 0; i < REALLOC_NOISE; i++) {
    size_t n = small_size(&r);
    noise[i] = xmalloc(n);
    touch(noise[i], n, 2);
  }
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    int v = (int)(k % REALLOC_VECS);
    size_t n = len[v] + len[v] / 4 + 16;
    unsigned char *p = realloc(vec[v], n);
    if (!p) die("realloc returned NULL");
    check += p[0] + p[len[v] - 1];          /* old contents must survive */
    p[n - 1] = (unsigned char)k;
    vec[v] = p;
    len[v] = n;
    if (n >= target[v]) {                   /* done: drop it, start over */
      free(p);
      len[v] = 16;
      vec[v] = xmalloc(16);
      touch(vec[v], 16, 1);
      target[v] = realloc_target(&r);
    }
    size_t i = (size_t)(bench_rng_next(&r) % REALLOC_NOISE);
    free(noise[i]);
    size_t m = small_size(&r);
    noise[i] = xmalloc(m);
    touch(noise[i], m, (unsigned char)k);
  }
  for (int v = 0; v < REALLOC_VECS; v++) free(vec[v]);
  for (int i = 0; i < REALLOC_NOISE; i++) free(noise[i]);
  w->check = check;
  return NULL;
}

/* ----------------------------------------------------------------- larson
 * Larson-style server simulation (after Larson & Krishnan): each thread owns
 * a window of LARSON_WINDOW blocks of 16..1024 bytes and replaces random
 * ones; every LARSON_ROUND ops the thread "retires" and hands its whole
 * window to a freshly created successor thread, which keeps freeing blocks
 * the previous thread allocated.  Models thread-per-connection servers where
 * objects outlive the thread that made them.  One op = malloc + free. */
#define LARSON_WINDOW 1000
#define LARSON_ROUND 50000

typedef struct {
  void **slot;
  uint64_t ops_left;
  uint64_t seed;
  uint64_t check;
} larson_state_t;

/* One "connection thread": up to LARSON_ROUND replacements, then it exits
 * and leaves its window (and its blocks) to the next thread. */
static void *larson_round(void *arg) {
  larson_state_t *st = arg;
  bench_rng_t r;
  bench_rng_seed(&r, st->seed);
  uint64_t n_ops = st->ops_left < LARSON_ROUND ? st->ops_left : LARSON_ROUND;
  for (uint64_t k = 0; k < n_ops; k++) {
    uint64_t x = bench_rng_next(&r);
    size_t i = (size_t)(x % LARSON_WINDOW);
    unsigned char *old = st->slot[i];
    st->check += old[0];
    free(old);
    size_t n = (size_t)(16 + (x >> 32) % 1009);
    st->slot[i] = xmalloc(n);
    touch(st->slot[i], n, (unsigned char)k);
  }
  st->ops_left -= n_ops;
  st->seed = bench_rng_next(&r);
  return NULL;
}

/* Each worker runs a chain of short-lived threads (created and joined one
 * after the other) that pass the same window along. */
static void *larson_chain(void *arg) {
  worker_t *w = arg;
  larson_state_t st;
  st.seed = 5000u + (uint64_t)w->index;
  st.ops_left = w->ops;
  st.check = 0;
  st.slot = calloc(LARSON_WINDOW, sizeof *st.slot);
  if (!st.slot) die("calloc failed");
  bench_rng_t r;
  bench_rng_seed(&r, st.seed + 77);
  for (int i = 0; i < LARSON_WINDOW; i++) {
    size_t n = (size_t)bench_rng_range(&r, 16, 1024);
    st.slot[i] = xmalloc(n);
    touch(st.slot[i], n, 3);
  }
  wait_start();
  while (st.ops_left > 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, larson_round, &st) != 0) die("pthread_create failed");
    pthread_join(t, NULL);
  }
  for (int i = 0; i < LARSON_WINDOW; i++) free(st.slot[i]);
  free(st.slot);
  w->check = st.check;
  return NULL;
}

/* ------------------------------------------------------------------- main */

typedef struct {
  const char *name;
  int default_threads;
  uint64_t default_ops;
  const char *what;
} workload_t;

static const workload_t workloads[] = {
  {"churn",   1, 20000000, "1-thread small-object churn, 10k live slots, 8..256 B"},
  {"xthread", 2, 10000000, "producer->consumer SPSC rings, all frees cross-thread, 16..512 B"},
  {"mixed",   2,  8000000, "T threads, 89% small/10% 1K-64K/1% 64K-1M, 1/8 frees via shared slots"},
  {"realloc", 1,   300000, "8 vectors growing 1.25x by realloc to 4K..4M, plus small-block noise"},
  {"larson",  2, 10000000, "server-style: short-lived threads inherit and free others' blocks"},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

static uint64_t parse_count(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) die("bad number");
  switch (*end) {
    case 'k': case 'K': v *= 1e3; end++; break;
    case 'm': case 'M': v *= 1e6; end++; break;
    case 'g': case 'G': v *= 1e9; end++; break;
    default: break;
  }
  if (*end) die("bad number suffix (use k, M or G)");
  return (uint64_t)v;
}

/* Which shared object defines the malloc this process calls? */
static const char *malloc_lib(void) {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (!sym || !dladdr(sym, &info) || !info.dli_fname) return "unknown";
  const char *slash = strrchr(info.dli_fname, '/');
  const char *base = slash ? slash + 1 : info.dli_fname;
  return *base ? base : "main";
}

static void usage(FILE *f) {
  fprintf(f, "usage: workloads <name> [threads] [ops]   (ops accepts k/M/G)\n"
             "       workloads list\nworkloads:\n");
  for (size_t i = 0; i < N_WORKLOADS; i++)
    fprintf(f, "  %-8s threads=%d ops=%llu  %s\n", workloads[i].name,
            workloads[i].default_threads,
            (unsigned long long)workloads[i].default_ops, workloads[i].what);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 4) { usage(stderr); return 2; }
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < N_WORKLOADS; i++) printf("%s\n", workloads[i].name);
    return 0;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return 0;
  }
  const workload_t *wl = NULL;
  for (size_t i = 0; i < N_WORKLOADS; i++)
    if (strcmp(argv[1], workloads[i].name) == 0) wl = &workloads[i];
  if (!wl) { fprintf(stderr, "workloads: unknown workload '%s'\n", argv[1]); usage(stderr); return 2; }

  int threads = argc > 2 ? (int)parse_count(argv[2]) : 0;
  uint64_t ops = argc > 3 ? parse_count(argv[3]) : 0;
  if (threads <= 0) threads = wl->default_threads;
  if (ops == 0) ops = wl->default_ops;
  if (threads > 1024) die("too many threads");

  worker_t *w = calloc((size_t)threads, sizeof *w);
  if (!w) die("calloc failed");
  for (int i = 0; i < threads; i++) {
    w[i].index = i;
    /* split the op count evenly; the first threads take the remainder */
    w[i].ops = ops / (uint64_t)threads + ((uint64_t)i < ops % (uint64_t)threads);
  }
  g_threads_started = threads > 1;

  double secs;
  ring_t *rings = NULL;
  if (strcmp(wl->name, "xthread") == 0) {
    int pairs = threads / 2 > 0 ? threads / 2 : 1;
    threads = pairs * 2;
    g_threads_started = 1;
    free(w);
    w = calloc((size_t)threads, sizeof *w);
    rings = aligned_alloc(CACHELINE, sizeof(ring_t) * (size_t)pairs);
    if (!w || !rings) die("alloc failed");
    memset(rings, 0, sizeof(ring_t) * (size_t)pairs);
    for (int p = 0; p < pairs; p++) {
      uint64_t n = ops / (uint64_t)pairs + ((uint64_t)p < ops % (uint64_t)pairs);
      w[2 * p] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
      w[2 * p + 1] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
    }
    /* run_threads starts one fn for all: dispatch on the odd/even slot */
    pthread_barrier_init(&start_barrier, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++)
      if (pthread_create(&w[i].tid, NULL, (i & 1) ? consumer_thread : producer_thread, &w[i]) != 0)
        die("pthread_create failed");
    pthread_barrier_wait(&start_barrier);
    double t0 = bench_now();
    for (int i = 0; i < threads; i++) pthread_join(w[i].tid, NULL);
    secs = bench_now() - t0;
    pthread_barrier_destroy(&start_barrier);
  } else if (strcmp(wl->name, "churn") == 0) {
    secs = run_threads(w, threads, churn_thread);
  } else if (strcmp(wl->name, "mixed") == 0) {
    secs = run_threads(w, threads, mixed_thread);
    for (int j = 0; j < MIXED_SHARED; j++) free(atomic_exchange(&mixed_shared[j], NULL));
  } else if (strcmp(wl->name, "realloc") == 0) {
    secs = run_threads(w, threads, realloc_thread);
  } else {
    secs = run_threads(w, threads, larson_chain);
  }

  uint64_t check = 0;
  for (int i = 0; i < threads; i++) check += w[i].check;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (secs <= 0) secs = 1e-9;
  printf("workload=%s threads=%d ops=%llu secs=%.6f ops_per_sec=%.6g peak_rss_kb=%ld "
         "malloc_lib=%s check=%llu\n",
         wl->name, threads, (unsigned long long)ops, secs, (double)ops / secs,
         ru.ru_maxrss, malloc_lib(), (unsigned long long)check);
  free(rings);
  free(w);
  return fflush(stdout) == 0 ? 0 : 1;
}
