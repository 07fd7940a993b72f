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
 * The shared helpers are in workloads_harness.h, the `threads` and `frag`
 * workloads in workloads_release.h (headers: the Makefile builds every
 * .c file in bench/ into a binary of its own).
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

/* die, xmalloc, touching and tagging blocks, worker_t and run_threads, the
 * extra keys of the result line (g_res, extra_key) */
#include "workloads_harness.h"
/* the `threads` and `frag` workloads (run_threads_wl, run_frag) */
#include "workloads_release.h"

/* ------------------------------------------------------------------ churn
 * Single-thread small-object churn: a window of CHURN_WINDOW live blocks; at
 * every step a random slot is freed and refilled with a new block of a
 * random size 8..256, skewed toward small (50% 8..32, 30% 33..96, 20%
 * 97..256).  One op = one malloc + one free.  With threads > 1 every thread
 * runs its own independent window (no sharing).
 * ------------------------------------------------------------------ mixed
 * T threads, each with its own window of MIXED_WINDOW slots.  Sizes: 89%
 * small (8..256, skewed), 10% medium (1K..64K), 1% large (64K..1M).  One in
 * MIXED_XFER_EVERY frees does not free the block but exchanges it into a
 * shared array of atomic slots and frees whatever was there, typically a
 * block another thread allocated.  One op = one malloc + one free.
 * The checksum is stable: every block is read once when it leaves its
 * owner's window and once more when it leaves the shared array (or at the
 * end), and which blocks go through the shared array is decided by the
 * owner's own PRNG, so the interleaving changes who reads, not the sum. */
#define CHURN_WINDOW 10000
#define MIXED_WINDOW 1000
#define MIXED_SHARED 1024
#define MIXED_XFER_EVERY 8

static _Atomic(void *) mixed_shared[MIXED_SHARED];

static inline size_t small_size(bench_rng_t *r) {
  uint64_t x = bench_rng_next(r);
  unsigned pick = (unsigned)(x % 10);
  x >>= 8;
  if (pick < 5) return 8 + x % 25;      /* 8..32   */
  if (pick < 8) return 33 + x % 64;     /* 33..96  */
  return 97 + x % 160;                  /* 97..256 */
}

static inline size_t mixed_size(bench_rng_t *r) {
  uint64_t pick = bench_rng_next(r) % 100;
  if (pick < 89) return small_size(r);
  if (pick < 99) return (size_t)bench_rng_range(r, 1024, 64 * 1024);
  return (size_t)bench_rng_range(r, 64 * 1024 + 1, 1024 * 1024);
}

/* A window thread (churn, mixed): fill a window of `window` blocks (sizes
 * from size_fn; not timed ops), then per op read and free the block of a
 * random slot and put a fresh one there; at the end free the window.  mixed
 * != 0: one free in MIXED_XFER_EVERY goes through mixed_shared, and the
 * window is read again as it is freed at the end.  Always inlined with
 * constant arguments: each workload gets a loop of its own, with direct
 * calls, as if written out. */
static inline __attribute__((always_inline)) void
window_thread(worker_t *w, uint64_t seed, int window, size_t (*size_fn)(bench_rng_t *),
              int mixed) {
  bench_rng_t r = worker_rng(w, seed);
  void **slot = calloc((size_t)window, sizeof *slot);
  if (!slot) die("calloc failed");
  uint64_t check = 0;
  for (int i = 0; i < window; i++) {
    size_t n = size_fn(&r);
    slot[i] = fresh_block(n, (unsigned char)i);
  }
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    uint64_t x = bench_rng_next(&r);
    size_t i = (size_t)(x % (uint64_t)window);
    unsigned char *old = slot[i];
    check += old[0];
    if (mixed && (x >> 32) % MIXED_XFER_EVERY == 0) {
      size_t j = (size_t)((x >> 40) % MIXED_SHARED);
      old = atomic_exchange_explicit(&mixed_shared[j], old, memory_order_acq_rel);
      if (old) check += old[0];
    }
    free(old);                                  /* free(NULL) is fine */
    slot[i] = fresh_block(size_fn(&r), (unsigned char)k);
  }
  for (int i = 0; i < window; i++) {
    if (mixed) check += ((unsigned char *)slot[i])[0];
    free(slot[i]);
  }
  free(slot);
  w->check = check;
}

static void *churn_thread(void *arg) {
  window_thread(arg, 1000u, CHURN_WINDOW, small_size, 0);
  return NULL;
}

static void *mixed_thread(void *arg) {
  window_thread(arg, 3000u, MIXED_WINDOW, mixed_size, 1);
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
  bench_rng_t r = worker_rng(w, 2000u);
  size_t tail = 0, head_cache = 0;
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    unsigned char *p = fresh_block((size_t)bench_rng_range(&r, 16, 512), (unsigned char)k);
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

/* A new vector: 16 bytes, growing to a fresh target. */
static void realloc_start(unsigned char **vec, size_t *len, size_t *target, bench_rng_t *r) {
  *len = 16;
  *vec = fresh_block(16, 1);
  *target = realloc_target(r);
}

static void *realloc_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r = worker_rng(w, 4000u);
  unsigned char *vec[REALLOC_VECS];
  size_t len[REALLOC_VECS], target[REALLOC_VECS];
  void *noise[REALLOC_NOISE];
  uint64_t check = 0;
  for (int v = 0; v < REALLOC_VECS; v++) realloc_start(&vec[v], &len[v], &target[v], &r);
  for (int i = 0; i < REALLOC_NOISE; i++) noise[i] = fresh_block(small_size(&r), 2);
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
      check += free_pages(p, n);
      realloc_start(&vec[v], &len[v], &target[v], &r);
    }
    size_t i = (size_t)(bench_rng_next(&r) % REALLOC_NOISE);
    free(noise[i]);
    noise[i] = fresh_block(small_size(&r), (unsigned char)k);
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

/* Size of a larson block from its random number x: 16..1024. */
static inline size_t larson_size(uint64_t x) { return (size_t)(16 + (x >> 32) % 1009); }

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
    unsigned char *p = new_tagged(larson_size(x), (uint32_t)(x >> 11));
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
  while (st.ops_left > 0) run_in_thread(larson_round, &st);
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
    atomic_store(&larson_slots[i], new_tagged(larson_size(x), (uint32_t)x));
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
  bench_rng_t r = worker_rng(w, 8000u);
  unsigned char **blk = calloc(ORDER_N, sizeof *blk);
  if (!blk) die("calloc failed");
  uint64_t check = 0, done = 0;
  wait_start();
  for (unsigned round = 0; done < w->ops; round++) {
    size_t n = w->ops - done < ORDER_N ? (size_t)(w->ops - done) : ORDER_N;
    for (size_t i = 0; i < n; i++) blk[i] = fresh_block(small_size(&r), (unsigned char)(i + round));
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

/* A fresh large block (its size in *len), every page touched with v. */
static inline unsigned char *large_block(size_t *len, bench_rng_t *r, unsigned char v) {
  *len = large_size(r);
  unsigned char *p = xmalloc(*len);
  touch_pages(p, 0, *len, v);
  return p;
}

static void *large_thread(void *arg) {
  worker_t *w = arg;
  bench_rng_t r = worker_rng(w, 9000u);
  unsigned char *blk[LARGE_WINDOW];
  size_t len[LARGE_WINDOW];
  uint64_t check = 0;
  for (int i = 0; i < LARGE_WINDOW; i++) blk[i] = large_block(&len[i], &r, (unsigned char)i);
  wait_start();
  for (uint64_t k = 0; k < w->ops; k++) {
    size_t i = (size_t)(bench_rng_next(&r) % LARGE_WINDOW);
    check += free_pages(blk[i], len[i]);
    blk[i] = large_block(&len[i], &r, (unsigned char)k);
  }
  for (int i = 0; i < LARGE_WINDOW; i++) check += free_pages(blk[i], len[i]);
  w->check = check;
  return NULL;
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
    uint64_t n = ops_share(ops, pairs, p);
    w[2 * p] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
    w[2 * p + 1] = (worker_t){.index = p, .ops = n, .arg = &rings[p]};
  }
  g_threads_started = 1;
  /* producers on the even slots, consumers on the odd ones (threads >= 2) */
  return run_threads2(w, threads, producer_thread, consumer_thread);
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
    w[i].ops = ops_share(ops, threads, i);
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
