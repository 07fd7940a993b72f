/* bench/workloads.c -- runs ONE allocator workload and prints one result line.
 *
 *   workloads <name> [threads] [ops]
 *   workloads list
 *
 * names: churn xthread mixed realloc larson falseshare threads order large
 *        frag   (see bench/README.md)
 * threads: OS threads doing the work (0 or omitted = the workload's default)
 * ops:     operation count (0 or omitted = default); accepts k/M/G suffixes,
 *          e.g. 20M.  A fixed count (not a fixed time) so every allocator
 *          does exactly the same work.  For `frag` it is the heap size in
 *          bytes and the suffixes are binary (256M = 256 MiB).
 *
 * Output: one line on stdout, space-separated key=value (parsed by
 * the strata bench driver), always in this order:
 *   workload=NAME threads=N ops=N secs=S ops_per_sec=X peak_rss_kb=N
 *   malloc_lib=FILE check=N check_stable=0|1 figure_name=KEY figure=V
 *   figure_better=higher|lower  [workload-specific keys...]
 *
 * secs is the wall time of the timed part only.  peak_rss_kb is getrusage's
 * ru_maxrss.  figure_name names the key that is this workload's headline
 * number and figure repeats its value; figure_better says which direction is
 * good.  check folds data read back from the blocks; check_stable=1 means it
 * depends only on (workload, threads, ops) -- never on addresses, timing or
 * the thread interleaving -- so it must be identical under every allocator.
 *
 * malloc_lib is the file that defines the `malloc` this process uses (found
 * with dladdr), so the driver can verify LD_PRELOAD really took effect: the
 * dynamic loader only warns and carries on when a preload path is wrong.
 *
 * Every block obtained is written (first and last byte at least; every 4 KiB
 * page for the large/realloc workloads, every byte for frag) and read back
 * before it is freed, so an allocator cannot win by handing out memory
 * nobody touches.
 *
 * Not linked against strata: the allocator is chosen with LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

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
 * block another thread allocated.  One op = one malloc + one free.
 * The checksum is stable: every block is read once when it leaves its
 * owner's window and once more when it leaves the shared array (or at the
 * end), and which blocks go through the shared array is decided by the
 * owner's own PRNG, so the interleaving changes who reads, not the sum. */
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
  for (int i = 0; i < MIXED_WINDOW; i++) {
    check += ((unsigned char *)slot[i])[0];
    free(slot[i]);
  }
  free(slot);
  w->check = check;
  return NULL;
}

/* ---------------------------------------------------------------- realloc
 * Growing buffers: each thread keeps REALLOC_VECS vectors growing at the
 * same time (round robin), like strings/arrays being built up.  A vector
 * starts at 16 bytes and grows by realloc to size + size/4 + 16 (a 1.25x
 * policy like many containers), until it reaches its target (log-uniform
 * 4 KiB..4 MiB); then it is checked and freed and a new one starts.  Every
 * grown region is touched: one byte in every 4 KiB page of the new part
 * plus its last byte (what a vector's push_back would fault in), and the old
 * contents are checked (first byte, old last byte).  Between growth steps a
 * small block in a 64-slot window is replaced, so the heap is not pristine.
 * One op = one realloc call. */
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
    touch_pages(p, len[v], n, (unsigned char)k);
    vec[v] = p;
    len[v] = n;
    if (n >= target[v]) {                   /* done: drop it, start over */
      check += sum_pages(p, 0, n);
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
 * Larson-style server simulation (after Larson & Krishnan).  All workers
 * share one array of LARSON_WINDOW slots per worker (atomic pointers).  An
 * op picks a random slot anywhere in the array, allocates a new block of
 * 16..1024 bytes, swaps it in (atomic_exchange) and reads and frees the
 * block it displaced -- with T workers, (T-1)/T of the frees are of blocks
 * another thread allocated, while that thread is still running.  On top of
 * that, each worker is a chain of short-lived "connection" threads: every
 * LARSON_ROUND ops the current thread exits and a fresh one takes over, so
 * blocks also outlive the thread that made them.  One op = malloc + free.
 * Blocks are tagged (tag_block), so the checksum (sum of all tags) does not
 * depend on which thread freed what: check_stable=1. */
#define LARSON_WINDOW 1000
#define LARSON_ROUND 50000

static _Atomic(unsigned char *) *larson_slots;
static size_t larson_nslots;

typedef struct {
  uint64_t ops_left;
  uint64_t seed;
  uint64_t check;
} larson_state_t;

/* One "connection thread": up to LARSON_ROUND replacements, then it exits. */
static void *larson_round(void *arg) {
  larson_state_t *st = arg;
  bench_rng_t r;
  bench_rng_seed(&r, st->seed);
  uint64_t n_ops = st->ops_left < LARSON_ROUND ? st->ops_left : LARSON_ROUND;
  uint64_t check = 0;
  for (uint64_t k = 0; k < n_ops; k++) {
    uint64_t x = bench_rng_next(&r);
    size_t i = (size_t)(x % larson_nslots);
    size_t n = (size_t)(16 + (x >> 32) % 1009);
    unsigned char *p = xmalloc(n);
    tag_block(p, n, (uint32_t)(x >> 11));
    unsigned char *old = atomic_exchange_explicit(&larson_slots[i], p, memory_order_acq_rel);
    check += read_tagged(old);
    free(old);
  }
  st->check += check;
  st->ops_left -= n_ops;
  st->seed = bench_rng_next(&r);
  return NULL;
}

/* Each worker runs a chain of short-lived threads (created and joined one
 * after the other). */
static void *larson_chain(void *arg) {
  worker_t *w = arg;
  larson_state_t st;
  st.seed = 5000u + (uint64_t)w->index;
  st.ops_left = w->ops;
  st.check = 0;
  wait_start();
  while (st.ops_left > 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, larson_round, &st) != 0) die("pthread_create failed");
    pthread_join(t, NULL);
  }
  w->check = st.check;
  return NULL;
}

static double run_larson(worker_t *w, int threads) {
  larson_nslots = (size_t)threads * LARSON_WINDOW;
  larson_slots = calloc(larson_nslots, sizeof *larson_slots);
  if (!larson_slots) die("calloc failed");
  bench_rng_t r;
  bench_rng_seed(&r, 5077);
  for (size_t i = 0; i < larson_nslots; i++) {     /* initial fill: not timed */
    uint64_t x = bench_rng_next(&r);
    size_t n = (size_t)(16 + (x >> 32) % 1009);
    unsigned char *p = xmalloc(n);
    tag_block(p, n, (uint32_t)x);
    atomic_store(&larson_slots[i], p);
  }
  double secs = run_threads(w, threads, larson_chain);
  for (size_t i = 0; i < larson_nslots; i++) {
    unsigned char *p = atomic_load(&larson_slots[i]);
    g_res.check_extra += read_tagged(p);
    free(p);
  }
  free(larson_slots);
  return secs;
}

/* ------------------------------------------------------------- falseshare
 * Passive false sharing (after Hoard's cache-scratch): the main thread
 * allocates one FS_SIZE-byte object per worker, back to back (so several
 * share a cache line), and hands object i to worker i.  Each worker writes
 * its object hard, frees it, and then FS-loops: malloc(FS_SIZE), write
 * every byte FS_REPS times (volatile write + read back), free.  An
 * allocator that gives the freed object -- allocated by main, on a line
 * shared with the other workers' objects -- back to the thread that freed
 * it makes the workers write the same cache lines from different cores for
 * the rest of the run.  One op = one malloc + FS_REPS*FS_SIZE writes + one
 * free; ops are split over the workers. */
#define FS_SIZE 8
#define FS_REPS 100

static inline uint64_t fs_write_hard(unsigned char *a, uint64_t k) {
  volatile unsigned char *v = a;
  uint64_t s = 0;
  for (unsigned r = 0; r < FS_REPS; r++)
    for (unsigned j = 0; j < FS_SIZE; j++) {
      v[j] = (unsigned char)(r + j + k);
      s += v[j];
    }
  return s;
}

static void *fs_thread(void *arg) {
  worker_t *w = arg;
  unsigned char *given = w->arg;
  wait_start();
  uint64_t check = fs_write_hard(given, (uint64_t)w->index);
  free(given);
  for (uint64_t k = 0; k < w->ops; k++) {
    unsigned char *a = xmalloc(FS_SIZE);
    check += fs_write_hard(a, k);
    free(a);
  }
  w->check = check;
  return NULL;
}

static double run_falseshare(worker_t *w, int threads) {
  for (int i = 0; i < threads; i++) {             /* back to back, by main */
    w[i].arg = xmalloc(FS_SIZE);
    memset(w[i].arg, 0, FS_SIZE);
  }
  extra_key("object_size=%d writes_per_op=%d", FS_SIZE, FS_SIZE * FS_REPS);
  return run_threads(w, threads, fs_thread);
}

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

static void *th_lifetime(void *arg) {
  th_life_t *life = arg;
  bench_rng_t r;
  bench_rng_seed(&r, life->seed);
  uint64_t check = 0;
  th_batch_t *old = NULL;
  pthread_mutex_lock(&th_lock);
  if (th_tail - th_head > TH_POOL_KEEP) old = th_pool[th_head++ % th_cap];
  pthread_mutex_unlock(&th_lock);
  if (old) {
    for (size_t i = 0; i < old->n; i++) {
      check += read_tagged(old->p[i]);
      free(old->p[i]);
    }
    free(old);
  }
  th_batch_t *b = xmalloc(sizeof *b);
  b->n = life->allocs < TH_WINDOW ? (size_t)life->allocs : TH_WINDOW;
  for (size_t i = 0; i < b->n; i++) {
    size_t n = th_size(&r);
    b->p[i] = xmalloc(n);
    tag_block(b->p[i], n, (uint32_t)bench_rng_next(&r));
  }
  for (uint64_t k = b->n; k < life->allocs; k++) {
    size_t i = (size_t)(bench_rng_next(&r) % b->n);
    check += read_tagged(b->p[i]);
    free(b->p[i]);
    size_t n = th_size(&r);
    b->p[i] = xmalloc(n);
    tag_block(b->p[i], n, (uint32_t)bench_rng_next(&r));
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
    pthread_t t;
    if (pthread_create(&t, NULL, th_lifetime, &life) != 0) die("pthread_create failed");
    pthread_join(t, NULL);
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
  while (th_head < th_tail) {                   /* survivors: freed by main */
    th_batch_t *b = th_pool[th_head++ % th_cap];
    for (size_t i = 0; i < b->n; i++) {
      g_res.check_extra += read_tagged(b->p[i]);
      free(b->p[i]);
    }
    free(b);
  }
  free(th_pool);
  long rss_after = bench_rss_kb();
  extra_key("lifetimes=%lu rss_before_kb=%ld rss_after_exit_kb=%ld rss_left_kb=%ld",
            (unsigned long)atomic_load(&th_lifetimes), rss_before, rss_after,
            rss_after - rss_before);
  return secs;
}

/* ------------------------------------------------------------------ order
 * Reverse-order and FIFO-order frees.  Each thread (independently)
 * repeats: allocate ORDER_N blocks of mixed small sizes (small_size, 8..256
 * B), read them all in allocation order (a "use" pass: locality of what the
 * allocator handed out shows here), then free them -- in reverse order on
 * even rounds, in allocation (FIFO) order on odd rounds.  FIFO frees turn a
 * LIFO free list upside down for the next round.  One op = one malloc +
 * one free. */
#define ORDER_N 20000

static void *order_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 8000u + (uint64_t)w->index);
  unsigned char **blk = calloc(ORDER_N, sizeof *blk);
  if (!blk) die("calloc failed");
  uint64_t check = 0, done = 0;
  wait_start();
  for (unsigned round = 0; done < w->ops; round++) {
    size_t n = w->ops - done < ORDER_N ? (size_t)(w->ops - done) : ORDER_N;
    for (size_t i = 0; i < n; i++) {
      size_t sz = small_size(&r);
      blk[i] = xmalloc(sz);
      touch(blk[i], sz, (unsigned char)(i + round));
    }
    for (size_t i = 0; i < n; i++) check += blk[i][0];
    if ((round & 1) == 0) {
      for (size_t i = n; i-- > 0;) { check += blk[i][0] * 3u; free(blk[i]); }
    } else {
      for (size_t i = 0; i < n; i++) { check += blk[i][0] * 5u; free(blk[i]); }
    }
    done += n;
  }
  free(blk);
  w->check = check;
  return NULL;
}

/* ------------------------------------------------------------------ large
 * Large blocks: each thread keeps a window of LARGE_WINDOW blocks of
 * 128 KiB..8 MiB (log-uniform) and replaces a random one per op.  Every
 * block is touched in full (one byte per 4 KiB page, plus the last byte)
 * when allocated and the same bytes are read back before it is freed, so
 * page faults and zeroing of fresh memory are charged to whoever maps and
 * unmaps.  One op = one malloc + one free. */
#define LARGE_WINDOW 4

static inline size_t large_size(bench_rng_t *r) {
  unsigned e = 17 + (unsigned)(bench_rng_next(r) % 6);   /* 128K .. 4M base */
  size_t base = (size_t)1 << e;
  return base + (size_t)(bench_rng_next(r) % base);       /* < 8 MiB */
}

static void *large_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r;
  bench_rng_seed(&r, 9000u + (uint64_t)w->index);
  unsigned char *blk[LARGE_WINDOW];
  size_t len[LARGE_WINDOW];
  uint64_t check = 0;
  for (int i = 0; i < LARGE_WINDOW; i++) {
    len[i] = large_size(&r);
    blk[i] = xmalloc(len[i]);
    touch_pages(blk[i], 0, len[i], (unsigned char)i);
  }
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    size_t i = (size_t)(bench_rng_next(&r) % LARGE_WINDOW);
    check += sum_pages(blk[i], 0, len[i]);
    free(blk[i]);
    len[i] = large_size(&r);
    blk[i] = xmalloc(len[i]);
    touch_pages(blk[i], 0, len[i], (unsigned char)k);
  }
  for (int i = 0; i < LARGE_WINDOW; i++) {
    check += sum_pages(blk[i], 0, len[i]);
    free(blk[i]);
  }
  w->check = check;
  return NULL;
}

/* ------------------------------------------------------------------- frag
 * Fragmentation and release.  Build a heap of `ops` bytes (split over the
 * threads) of blocks of 16 B..16 KiB (log-uniform), every byte written;
 * then free a random 90% of the blocks (random order); then free all the
 * rest (allocation order).  Resident memory (statm) is sampled after each
 * step: rss_peak_kb (heap built), rss_after90_kb (with live_after90_kb of
 * blocks still live), rss_after_all_kb (everything freed) and, after one
 * more second with the threads idle, rss_after_all_1s_kb (an allocator may
 * purge after a delay).  The threads stay alive until that last sample.
 * The bookkeeping arrays are mmap'ed, outside the allocator.  secs = build
 * + both frees.  figure = rss_after_all_kb (lower is better). */
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
static long frag_rss[4];
static double frag_time[4];

static void frag_sample(int phase) {
  if (phase == 3) sleep(1);
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
  bench_rng_t r;
  bench_rng_seed(&r, 10000u + (uint64_t)w->index);
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
  for (size_t i = 0; i < c; i++)
    if (f->p[i]) {
      check += (uint64_t)(f->p[i][0] + f->p[i][f->n[i] - 1]) * 3u;
      free(f->p[i]);
    }
  frag_phase(2);
  frag_phase(3);                                   /* idle 1 s, then sample */
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
    pthread_barrier_init(&frag_bar, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++)
      if (pthread_create(&w[i].tid, NULL, frag_thread, &w[i]) != 0) die("pthread_create failed");
    pthread_barrier_wait(&frag_bar);               /* all set up: start */
    t0 = bench_now();
    for (int phase = 0; phase < 4; phase++) {
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
  extra_key("blocks=%llu build_secs=%.6f rss_peak_kb=%ld rss_after90_kb=%ld live_after90_kb=%llu "
            "rss_after_all_kb=%ld rss_after_all_1s_kb=%ld",
            (unsigned long long)blocks, frag_time[0] - t0, frag_rss[0], frag_rss[1],
            (unsigned long long)(live / 1024), frag_rss[2], frag_rss[3]);
  g_res.figure_name = "rss_after_all_kb";
  g_res.figure = (double)frag_rss[2];
  g_res.figure_better = "lower";
  return frag_time[2] - t0;
}

/* ------------------------------------------------------------------- main */

static double run_xthread(worker_t **wp, int *threadsp, uint64_t ops, ring_t **ringsp) {
  int pairs = *threadsp / 2 > 0 ? *threadsp / 2 : 1;
  int threads = pairs * 2;
  *threadsp = threads;
  free(*wp);
  worker_t *w = calloc((size_t)threads, sizeof *w);
  ring_t *rings = aligned_alloc(CACHELINE, sizeof(ring_t) * (size_t)pairs);
  if (!w || !rings) die("alloc failed");
  *wp = w;
  *ringsp = rings;
  memset(rings, 0, sizeof(ring_t) * (size_t)pairs);
  for (int p = 0; p < pairs; p++) {
    uint64_t n = ops / (uint64_t)pairs + ((uint64_t)p < ops % (uint64_t)pairs);
    w[2 * p] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
    w[2 * p + 1] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
  }
  g_threads_started = 1;
  /* run_threads starts one fn for all: dispatch on the odd/even slot */
  pthread_barrier_init(&start_barrier, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&w[i].tid, NULL, (i & 1) ? consumer_thread : producer_thread, &w[i]) != 0)
      die("pthread_create failed");
  pthread_barrier_wait(&start_barrier);
  double t0 = bench_now();
  for (int i = 0; i < threads; i++) pthread_join(w[i].tid, NULL);
  double secs = bench_now() - t0;
  pthread_barrier_destroy(&start_barrier);
  return secs;
}

typedef struct {
  const char *name;
  int default_threads;
  uint64_t default_ops;
  const char *what;
} workload_t;

static const workload_t workloads[] = {
  {"churn",      1, 20000000, "1-thread small-object churn, 10k live slots, 8..256 B"},
  {"xthread",    2, 10000000, "producer->consumer SPSC rings, all frees cross-thread, 16..512 B"},
  {"mixed",      2,  8000000, "T threads, 89% small/10% 1K-64K/1% 64K-1M, 1/8 frees via shared slots"},
  {"realloc",    1,   300000, "8 vectors growing 1.25x by realloc to 4K..4M (every page touched), plus noise"},
  {"larson",     2, 10000000, "server: threads replace random blocks in a shared array (cross-thread frees), short-lived threads"},
  {"falseshare", 2,  2000000, "8-byte objects made by main, freed and re-malloc'ed by workers, written hard"},
  {"threads",    2,  4000000, "threads come and go (1000 allocs each), leave blocks behind; RSS after exit"},
  {"order",      1, 20000000, "20k small blocks, freed in reverse order, then in FIFO order, repeat"},
  {"large",      1,     3000, "4-block window of 128K..8M blocks, every page touched"},
  {"frag",       1, 256u << 20, "heap of OPS bytes (16 B..16 KiB), free 90% at random, then all; RSS each step"},
};
#define N_WORKLOADS (sizeof workloads / sizeof workloads[0])

/* k/M/G: decimal by default, binary (KiB/MiB/GiB) when binary != 0. */
static uint64_t parse_count(const char *s, int binary) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0) die("bad number");
  double k = binary ? 1024.0 : 1000.0;
  switch (*end) {
    case 'k': case 'K': v *= k; end++; break;
    case 'm': case 'M': v *= k * k; end++; break;
    case 'g': case 'G': v *= k * k * k; end++; break;
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
    fprintf(f, "  %-10s threads=%d ops=%llu  %s\n", workloads[i].name,
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
  const char *name = wl->name;

  int threads = argc > 2 ? (int)parse_count(argv[2], 0) : 0;
  uint64_t ops = argc > 3 ? parse_count(argv[3], strcmp(name, "frag") == 0) : 0;
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
  if (strcmp(name, "xthread") == 0) {
    secs = run_xthread(&w, &threads, ops, &rings);
  } else if (strcmp(name, "churn") == 0) {
    secs = run_threads(w, threads, churn_thread);
  } else if (strcmp(name, "mixed") == 0) {
    secs = run_threads(w, threads, mixed_thread);
    for (int j = 0; j < MIXED_SHARED; j++) {
      unsigned char *p = atomic_exchange(&mixed_shared[j], NULL);
      if (p) { g_res.check_extra += p[0]; free(p); }
    }
  } else if (strcmp(name, "realloc") == 0) {
    secs = run_threads(w, threads, realloc_thread);
  } else if (strcmp(name, "larson") == 0) {
    secs = run_larson(w, threads);
  } else if (strcmp(name, "falseshare") == 0) {
    secs = run_falseshare(w, threads);
  } else if (strcmp(name, "threads") == 0) {
    secs = run_threads_wl(w, threads);
  } else if (strcmp(name, "order") == 0) {
    secs = run_threads(w, threads, order_thread);
  } else if (strcmp(name, "large") == 0) {
    secs = run_threads(w, threads, large_thread);
  } else {
    secs = run_frag(w, threads);
  }

  uint64_t check = g_res.check_extra;
  for (int i = 0; i < threads; i++) check += w[i].check;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  if (secs <= 0) secs = 1e-9;
  double ops_per_sec = (double)ops / secs;
  if (!g_res.figure_name) {
    g_res.figure_name = "ops_per_sec";
    g_res.figure = ops_per_sec;
    g_res.figure_better = "higher";
  }
  printf("workload=%s threads=%d ops=%llu secs=%.6f ops_per_sec=%.6g peak_rss_kb=%ld "
         "malloc_lib=%s check=%llu check_stable=%d figure_name=%s figure=%.6g "
         "figure_better=%s%s\n",
         name, threads, (unsigned long long)ops, secs, ops_per_sec, ru.ru_maxrss,
         malloc_lib(), (unsigned long long)check, g_res.check_stable, g_res.figure_name,
         g_res.figure, g_res.figure_better, g_res.extra);
  free(rings);
  free(w);
  return fflush(stdout) == 0 ? 0 : 1;
}
