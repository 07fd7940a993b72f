/* bench/own/arena.c -- arenas and pools side by side with their peers.
 *
 *   arena [--runs N] [--quick]         the tables (default 9 runs)
 *   arena --cg MODE K                  K iterations of one operation, for
 *                                      callgrind (bench/own/arena_callgrind.sh)
 *
 * Linked against libstrata.a (so `malloc` in this process is strata's).
 * Peers: talloc and APR pools when built with HAVE_TALLOC / HAVE_APR (the
 * Makefile adds them when pkg-config finds them); glibc's malloc through
 * __libc_malloc/__libc_free of a dlopen'd libc.so.6 (a handle lookup finds
 * libc's own definitions, not the executable's); jemalloc (malloc/free of a
 * dlopen'd libjemalloc.so.2), tcmalloc (tc_malloc/tc_free of
 * libtcmalloc_minimal.so.4) and mimalloc (mi_malloc/mi_free of
 * libmimalloc.so.2), each RTLD_LOCAL so none of them interposes; a peer
 * that is missing is skipped with a one-line notice.  jemalloc cannot be
 * dlopen'd ("cannot allocate memory in static TLS block": its initial-exec
 * TLS does not fit the surplus glibc keeps for dlopen), so it is measured in
 * a child process started with LD_PRELOAD=libjemalloc.so.2: there its TLS
 * is laid out at start-up and dlopen finds the loaded copy, while the
 * executable's own malloc (strata) stays the process malloc.  The child
 * times the strata pool again next to it, so its ratios are side by side
 * too (table 3b).
 *
 * Method: each run times every contender once, in an order rotated from run
 * to run (so drift and a noisy neighbour hit all alike); the tables give the
 * median over runs of the time per operation and the median of the per-run
 * ratios.  The machine has 2 shared cores: read the spread column (the
 * interquartile range over the median, in %) before trusting a ratio.
 *
 * Workloads:
 *  1. bump:   64 x (2^14 allocations of 8..128 bytes (a fixed pseudo-random
 *             size table), a byte written in each, then reset); strata's inline
 *             arena fast path against a plain inline pointer bump (same
 *             16-byte rounding, one preallocated buffer) in the same binary.
 *  2. tree:   create a root, 64 children, 32 allocations of 16..256 bytes in
 *             each child (every 8th child also gets a grandchild with 8
 *             allocations), free the root; strata arenas vs talloc contexts
 *             (talloc_new / talloc_size / talloc_free) vs APR pools
 *             (apr_pool_create / apr_palloc / apr_pool_destroy).  Time per
 *             allocation, creation and release included.
 *  3. pool:   64-byte objects; "pairs": get then put, 2^20 times; "batch":
 *             1000 gets then 1000 puts in the same order; "random": 4096
 *             live objects, each step puts a random one and gets a new one.
 *             Time per get+put pair: strata pool (plain and thread-safe)
 *             against malloc+free of strata, glibc, jemalloc, tcmalloc,
 *             mimalloc.
 *  4. threads: the batch workload in 2 threads at once (one shared
 *             thread-safe pool; each malloc with its own thread caches).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/arena.h"
#include "strata/malloc.h"
#include "../bench_common.h"
#ifdef HAVE_TALLOC
#include <talloc.h>
#endif
#ifdef HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>
#endif

#define NOINLINE __attribute__((noinline, noclone))
static volatile uintptr_t sink;

/* ---- sizes and indices (precomputed: the RNG is not what we measure) ---- */
#define NSZ 4096
static uint16_t sz_small[NSZ];      /* 8..128 */
static uint16_t sz_tree[NSZ];       /* 16..256 */
static uint16_t rnd_idx[1 << 16];   /* 0..4095 */

static void tables_init(void) {
  bench_rng_t r;
  bench_rng_seed(&r, 12345);
  for (int i = 0; i < NSZ; i++) {
    sz_small[i] = (uint16_t)bench_rng_range(&r, 8, 128);
    sz_tree[i] = (uint16_t)bench_rng_range(&r, 16, 256);
  }
  for (int i = 0; i < (1 << 16); i++) rnd_idx[i] = (uint16_t)bench_rng_range(&r, 0, 4095);
}

/* ---- statistics ------------------------------------------------------------ */
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(const double *v, int n, double *spread) {
  double t[64];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  double m = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
  if (spread) *spread = m > 0 ? 100.0 * (t[(3 * n) / 4] - t[n / 4]) / m : 0;
  return m;
}

/* ---- 1. bump --------------------------------------------------------------- */
/* BUMP_N allocations (about 1.1 MiB: stays in L2/L3, so the bump itself is
 * measured, not memory bandwidth), then reset; BUMP_CYCLES times. */
#define BUMP_N (1 << 14)
#define BUMP_CYCLES 64
typedef struct { char *cur, *end, *start; } rawbump_t;
static rawbump_t rb;

static inline void *raw_bump(rawbump_t *b, size_t size) {
  size_t n = (size + 15) & ~(size_t)15;
  char *p = b->cur;
  if (__builtin_expect(n <= (size_t)(b->end - p), 1)) { b->cur = p + n; return p; }
  return NULL;   /* never: the buffer holds a whole cycle */
}

static NOINLINE double run_bump_raw(void) {
  double t0 = bench_now();
  uintptr_t acc = 0;
  for (int c = 0; c < BUMP_CYCLES; c++) {
    for (int i = 0; i < BUMP_N; i++) {
      char *p = raw_bump(&rb, sz_small[i & (NSZ - 1)]);
      *p = (char)i;
      acc += (uintptr_t)p;
    }
    rb.cur = rb.start;
  }
  double t = bench_now() - t0;
  sink += acc;
  return t * 1e9 / ((double)BUMP_N * BUMP_CYCLES);
}

static strata_arena_t *bump_arena;
static NOINLINE double run_bump_arena(void) {
  double t0 = bench_now();
  uintptr_t acc = 0;
  for (int c = 0; c < BUMP_CYCLES; c++) {
    for (int i = 0; i < BUMP_N; i++) {
      char *p = strata_arena_alloc(bump_arena, sz_small[i & (NSZ - 1)]);
      *p = (char)i;
      acc += (uintptr_t)p;
    }
    strata_arena_reset(bump_arena);
  }
  double t = bench_now() - t0;
  sink += acc;
  return t * 1e9 / ((double)BUMP_N * BUMP_CYCLES);
}

/* ---- 2. tree --------------------------------------------------------------- */
#define TREE_KIDS 64
#define TREE_ALLOCS 32
#define TREE_ROUNDS 200
#define TREE_PER_ROUND (TREE_KIDS * TREE_ALLOCS + (TREE_KIDS / 8) * 8)

static NOINLINE void tree_round_strata(void) {
  unsigned k = 0;                     /* the same sizes every round */
  strata_arena_t *root = strata_arena_new(NULL);
  for (int c = 0; c < TREE_KIDS; c++) {
    strata_arena_t *ch = strata_arena_new(root);
    for (int i = 0; i < TREE_ALLOCS; i++) {
      char *p = strata_arena_alloc(ch, sz_tree[k++ & (NSZ - 1)]);
      *p = 1;
    }
    if (c % 8 == 0) {
      strata_arena_t *g = strata_arena_new(ch);
      for (int i = 0; i < 8; i++) *(char *)strata_arena_alloc(g, sz_tree[k++ & (NSZ - 1)]) = 2;
    }
  }
  strata_arena_destroy(root);
  (void)k;
}
static NOINLINE double run_tree_strata(void) {
  double t0 = bench_now();
  for (int r = 0; r < TREE_ROUNDS; r++) tree_round_strata();
  return (bench_now() - t0) * 1e9 / ((double)TREE_ROUNDS * TREE_PER_ROUND);
}

#ifdef HAVE_TALLOC
static NOINLINE void tree_round_talloc(void) {
  unsigned k = 0;                     /* the same sizes every round */
  void *root = talloc_new(NULL);
  for (int c = 0; c < TREE_KIDS; c++) {
    void *ch = talloc_new(root);
    for (int i = 0; i < TREE_ALLOCS; i++) {
      char *p = talloc_size(ch, sz_tree[k++ & (NSZ - 1)]);
      *p = 1;
    }
    if (c % 8 == 0) {
      void *g = talloc_new(ch);
      for (int i = 0; i < 8; i++) *(char *)talloc_size(g, sz_tree[k++ & (NSZ - 1)]) = 2;
    }
  }
  talloc_free(root);
  (void)k;
}
static NOINLINE double run_tree_talloc(void) {
  double t0 = bench_now();
  for (int r = 0; r < TREE_ROUNDS; r++) tree_round_talloc();
  return (bench_now() - t0) * 1e9 / ((double)TREE_ROUNDS * TREE_PER_ROUND);
}
#endif

#ifdef HAVE_APR
static NOINLINE void tree_round_apr(void) {
  unsigned k = 0;                     /* the same sizes every round */
  apr_pool_t *root;
  apr_pool_create(&root, NULL);
  for (int c = 0; c < TREE_KIDS; c++) {
    apr_pool_t *ch;
    apr_pool_create(&ch, root);
    for (int i = 0; i < TREE_ALLOCS; i++) {
      char *p = apr_palloc(ch, sz_tree[k++ & (NSZ - 1)]);
      *p = 1;
    }
    if (c % 8 == 0) {
      apr_pool_t *g;
      apr_pool_create(&g, ch);
      for (int i = 0; i < 8; i++) *(char *)apr_palloc(g, sz_tree[k++ & (NSZ - 1)]) = 2;
    }
  }
  apr_pool_destroy(root);
  (void)k;
}
static NOINLINE double run_tree_apr(void) {
  double t0 = bench_now();
  for (int r = 0; r < TREE_ROUNDS; r++) tree_round_apr();
  return (bench_now() - t0) * 1e9 / ((double)TREE_ROUNDS * TREE_PER_ROUND);
}
#endif

/* ---- 3. pools and mallocs ------------------------------------------------ */
#define OBJ 64
#define PAIRS_N (1 << 20)
#define BATCH 1000
#define RANDOM_LIVE 4096
static __thread void *slots[RANDOM_LIVE];     /* per thread: table 4 runs two at once */
static void *(*glibc_malloc)(size_t), (*glibc_free)(void *);
static void *(*je_malloc)(size_t), (*je_free)(void *);
static void *(*tc_malloc_p)(size_t), (*tc_free_p)(void *);
static void *(*mi_malloc_p)(size_t), (*mi_free_p)(void *);
static strata_pool_t *pool_plain, *pool_ts;

/* One set of three workloads per contender; GET/PUT are expressions. */
#define CONTENDER(name, GET, PUT)                                                \
  static NOINLINE double name##_pairs(void) {                                    \
    double t0 = bench_now();                                                     \
    for (int i = 0; i < PAIRS_N; i++) {                                          \
      char *p = (char *)(GET);                                                   \
      *(volatile char *)p = (char)i;                                             \
      PUT(p);                                                                    \
    }                                                                            \
    return (bench_now() - t0) * 1e9 / PAIRS_N;                                   \
  }                                                                              \
  static NOINLINE double name##_batch(void) {                                    \
    double t0 = bench_now();                                                     \
    for (int r = 0; r < PAIRS_N / BATCH; r++) {                                  \
      for (int i = 0; i < BATCH; i++) { slots[i] = (GET); *(char *)slots[i] = 1; } \
      for (int i = 0; i < BATCH; i++) PUT(slots[i]);                             \
    }                                                                            \
    return (bench_now() - t0) * 1e9 / ((PAIRS_N / BATCH) * BATCH);               \
  }                                                                              \
  static NOINLINE double name##_random(void) {                                   \
    for (int i = 0; i < RANDOM_LIVE; i++) slots[i] = (GET);                      \
    double t0 = bench_now();                                                     \
    for (int i = 0; i < PAIRS_N; i++) {                                          \
      unsigned j = rnd_idx[i & 0xffff];                                          \
      PUT(slots[j]);                                                             \
      slots[j] = (GET);                                                          \
      *(char *)slots[j] = 1;                                                     \
    }                                                                            \
    double t = bench_now() - t0;                                                 \
    for (int i = 0; i < RANDOM_LIVE; i++) PUT(slots[i]);                         \
    return t * 1e9 / PAIRS_N;                                                    \
  }

#define PPUT(p) strata_pool_put(pool_plain, (p))
#define TPUT(p) strata_pool_put(pool_ts, (p))
CONTENDER(c_pool, strata_pool_get(pool_plain), PPUT)
CONTENDER(c_pool_ts, strata_pool_get(pool_ts), TPUT)
CONTENDER(c_strata, strata_malloc(OBJ), strata_free)
CONTENDER(c_glibc, glibc_malloc(OBJ), glibc_free)
CONTENDER(c_je, je_malloc(OBJ), je_free)
CONTENDER(c_tc, tc_malloc_p(OBJ), tc_free_p)
CONTENDER(c_mi, mi_malloc_p(OBJ), mi_free_p)

typedef struct {
  const char *name;
  double (*fn[3])(void);
  int present;
} contender_t;

static contender_t pools[] = {
  { "strata pool", { c_pool_pairs, c_pool_batch, c_pool_random }, 1 },
  { "strata pool (threadsafe)", { c_pool_ts_pairs, c_pool_ts_batch, c_pool_ts_random }, 1 },
  { "strata malloc/free", { c_strata_pairs, c_strata_batch, c_strata_random }, 1 },
  { "glibc malloc/free", { c_glibc_pairs, c_glibc_batch, c_glibc_random }, 0 },
  { "jemalloc malloc/free", { c_je_pairs, c_je_batch, c_je_random }, 0 },
  { "tcmalloc tc_malloc/tc_free", { c_tc_pairs, c_tc_batch, c_tc_random }, 0 },
  { "mimalloc mi_malloc/mi_free", { c_mi_pairs, c_mi_batch, c_mi_random }, 0 },
};
#define NPOOLS ((int)(sizeof pools / sizeof pools[0]))

static char dl_err[256];
static int load_pair(const char *lib, const char *m, const char *f, void *(**pm)(size_t), void (**pf)(void *)) {
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) { snprintf(dl_err, sizeof dl_err, "%s", dlerror()); return 0; }
  *(void **)pm = dlsym(h, m);
  *(void **)pf = dlsym(h, f);
  if (!*pm || !*pf) { snprintf(dl_err, sizeof dl_err, "%s lacks %s/%s", lib, m, f); return 0; }
  void *p = (*pm)(OBJ);                          /* sanity: one round trip */
  if (!p) { snprintf(dl_err, sizeof dl_err, "%s: %s failed", lib, m); return 0; }
  memset(p, 1, OBJ);
  (*pf)(p);
  return 1;
}

/* The peers: pools[] index, short name, library, symbols. */
static const struct peer { int idx; const char *name, *lib, *m, *f; void *(**pm)(size_t); void (**pf)(void *); } peers[] = {
  { 3, "glibc", "libc.so.6", "__libc_malloc", "__libc_free", &glibc_malloc, &glibc_free },
  { 4, "jemalloc", "libjemalloc.so.2", "malloc", "free", &je_malloc, &je_free },
  { 5, "tcmalloc", "libtcmalloc_minimal.so.4", "tc_malloc", "tc_free", &tc_malloc_p, &tc_free_p },
  { 6, "mimalloc", "libmimalloc.so.2", "mi_malloc", "mi_free", &mi_malloc_p, &mi_free_p },
};
#define NPEERS ((int)(sizeof peers / sizeof peers[0]))
static const char *only_peer;                    /* --peer-child NAME */
static int need_preload[NPEERS];

/* dlopen each peer.  One that cannot be loaded that way only because its
 * initial-exec TLS does not fit the static TLS surplus (jemalloc) is run
 * later in a child process with LD_PRELOAD, where its TLS is laid out at
 * start-up; a peer that is not installed is skipped with a notice. */
static void load_peers(void) {
  for (int i = 0; i < NPEERS; i++) {
    const struct peer *q = &peers[i];
    if (only_peer && strcmp(only_peer, q->name) != 0) { pools[q->idx].present = 0; continue; }
    if (only_peer && q->idx >= 2) { pools[1].present = pools[2].present = 0; }
    pools[q->idx].present = load_pair(q->lib, q->m, q->f, q->pm, q->pf);
    if (pools[q->idx].present) continue;
    if (!only_peer && strstr(dl_err, "static TLS")) {
      need_preload[i] = 1;
      printf("  (%s: dlopen fails (%s): measured in a child process under LD_PRELOAD)\n", q->name, dl_err);
    } else {
      printf("  (%s not available: %s; skipped)\n", q->name, dl_err);
    }
  }
  if (only_peer) pools[1].present = pools[2].present = 0;
}

/* ---- the tables ------------------------------------------------------------ */
#define MAXRUNS 64

static void table_bump(int runs) {
  double raw[MAXRUNS], ar[MAXRUNS], ratio[MAXRUNS], s1, s2, s3;
  for (int r = 0; r < runs; r++) {
    if (r % 2) { ar[r] = run_bump_arena(); raw[r] = run_bump_raw(); }
    else { raw[r] = run_bump_raw(); ar[r] = run_bump_arena(); }
    ratio[r] = ar[r] / raw[r];
  }
  double mr = median(raw, runs, &s1), ma = median(ar, runs, &s2), mq = median(ratio, runs, &s3);
  printf("\n== 1. bump: %d x (%d allocations of 8..128 bytes, a byte written in each, then reset); %d runs, medians\n",
         BUMP_CYCLES, BUMP_N, runs);
  printf("%-28s %10s %8s %14s\n", "", "ns/alloc", "spread", "vs raw bump");
  printf("%-28s %10.3f %7.1f%% %14s\n", "raw inline pointer bump", mr, s1, "1.00");
  printf("%-28s %10.3f %7.1f%% %13.2fx   (target: <= 2x)\n", "strata_arena_alloc", ma, s2, mq);
  (void)s3;
}

static void table_tree(int runs) {
  typedef double (*fn_t)(void);
  const char *names[3] = { "strata arenas", "talloc", "APR pools" };
  fn_t fns[3] = { run_tree_strata, NULL, NULL };
#ifdef HAVE_TALLOC
  fns[1] = run_tree_talloc;
#endif
#ifdef HAVE_APR
  fns[2] = run_tree_apr;
#endif
  double t[3][MAXRUNS], ratio[3][MAXRUNS];
  for (int r = 0; r < runs; r++) {
    for (int j = 0; j < 3; j++) {
      int k = (j + r) % 3;
      if (fns[k]) t[k][r] = fns[k]();
    }
    for (int k = 0; k < 3; k++) if (fns[k]) ratio[k][r] = t[k][r] / t[0][r];
  }
  printf("\n== 2. tree: %d x (root, %d children x %d allocs of 16..256 B, every 8th child a grandchild x 8, free root);"
         " %d runs\n", TREE_ROUNDS, TREE_KIDS, TREE_ALLOCS, runs);
  printf("%-28s %10s %8s %14s\n", "", "ns/alloc", "spread", "vs strata");
  for (int k = 0; k < 3; k++) {
    if (!fns[k]) { printf("%-28s (not built: development package missing)\n", names[k]); continue; }
    double s, m = median(t[k], runs, &s), q = median(ratio[k], runs, NULL);
    printf("%-28s %10.2f %7.1f%% %13.2fx\n", names[k], m, s, q);
  }
  printf("(ns/alloc includes creating and freeing the arenas: %d allocations per round)\n", TREE_PER_ROUND);
}

static void table_pool(int runs) {
  const char *wl[3] = { "pairs", "batch", "random" };
  double t[NPOOLS][3][MAXRUNS];
  for (int r = 0; r < runs; r++)
    for (int w = 0; w < 3; w++)
      for (int j = 0; j < NPOOLS; j++) {
        int k = (j + r) % NPOOLS;
        if (pools[k].present) t[k][w][r] = pools[k].fn[w]();
      }
  if (only_peer)
    printf("\n== 3b. pool vs %s, in a child process under LD_PRELOAD (strata pool measured again there)\n", only_peer);
  else
    printf("\n== 3. pool: %d-byte objects, ns per get+put (malloc+free); %d runs, medians;"
           " ratio = contender / strata pool, per run\n", OBJ, runs);
  printf("%-28s", "");
  for (int w = 0; w < 3; w++) printf(" %8s %6s %7s", wl[w], "spread", "ratio");
  printf("\n");
  for (int k = 0; k < NPOOLS; k++) {
    if (!pools[k].present) {
      if (!only_peer) printf("%-28s (%s)\n", pools[k].name, k >= 3 && need_preload[k - 3] ? "see 3b" : "not available");
      continue;
    }
    printf("%-28s", pools[k].name);
    for (int w = 0; w < 3; w++) {
      double ratio[MAXRUNS], s;
      for (int r = 0; r < runs; r++) ratio[r] = t[k][w][r] / t[0][w][r];
      double m = median(t[k][w], runs, &s);
      printf(" %8.2f %5.0f%% %6.2fx", m, s, median(ratio, runs, NULL));
    }
    printf("\n");
  }
}

/* ---- 4. two threads ------------------------------------------------------- */
/* The batch workload in 2 threads at once on the same allocator (the
 * thread-safe pool is shared): wall time per get+put pair per thread. */
#define NTHREADS 2
static pthread_barrier_t t4_bar;
static double (*t4_fn)(void);
static void *t4_thread(void *arg) {
  (void)arg;
  pthread_barrier_wait(&t4_bar);
  t4_fn();
  return NULL;
}
static double run_threads(double (*fn)(void)) {
  pthread_t t[NTHREADS];
  t4_fn = fn;
  pthread_barrier_init(&t4_bar, NULL, NTHREADS + 1);
  for (int i = 0; i < NTHREADS; i++) pthread_create(&t[i], NULL, t4_thread, NULL);
  double t0 = bench_now();
  pthread_barrier_wait(&t4_bar);
  for (int i = 0; i < NTHREADS; i++) pthread_join(t[i], NULL);
  double dt = bench_now() - t0;
  pthread_barrier_destroy(&t4_bar);
  return dt * 1e9 / ((PAIRS_N / BATCH) * BATCH);
}

static void table_threads(int runs) {
  double t[NPOOLS][MAXRUNS];
  for (int r = 0; r < runs; r++)
    for (int j = 0; j < NPOOLS; j++) {
      int k = (j + r) % NPOOLS;
      if (k != 0 && pools[k].present) t[k][r] = run_threads(pools[k].fn[1]);
    }
  printf("\n== 4. %d threads at once, batch workload each (the thread-safe pool shared); wall ns per get+put"
         " per thread; %d runs\n", NTHREADS, runs);
  printf("%-28s %8s %6s %7s\n", "", "batch", "spread", "ratio");
  for (int k = 1; k < NPOOLS; k++) {
    if (!pools[k].present) continue;
    double ratio[MAXRUNS], sp = 0;
    for (int r = 0; r < runs; r++) ratio[r] = t[k][r] / t[1][r];
    double m = median(t[k], runs, &sp);
    printf("%-28s %8.2f %5.0f%% %6.2fx\n", pools[k].name, m, sp, median(ratio, runs, NULL));
  }
  printf("(ratio against the thread-safe pool; on a 2-core machine shared with other work)\n");
}

/* ---- callgrind mode -------------------------------------------------------- */
/* One operation K times inside cg_loop (callgrind --toggle-collect=cg_loop):
 * bump / arena: one 32-byte allocation (the arena was warmed with the same
 * K, so its chunks are kept; chunk changes are amortised in); pool /
 * pool_ts / strata / glibc / jemalloc / tcmalloc / mimalloc: one get+put
 * (malloc+free) pair of 64 bytes; tree / tree_talloc / tree_apr: one
 * round of workload 2 (divide by its allocations); none: the empty loop. */
static int cg_mode;
static strata_arena_t *cg_arena;
static NOINLINE void cg_loop(long k) {
  for (long i = 0; i < k; i++) {
    char *p;
    switch (cg_mode) {
    case 0: p = (char *)&sink; break;
    case 1: p = raw_bump(&rb, 32); *(volatile char *)p = 1; break;
    case 2: p = strata_arena_alloc(cg_arena, 32); *(volatile char *)p = 1; break;
    case 3: p = strata_pool_get(pool_plain); *(volatile char *)p = 1; strata_pool_put(pool_plain, p); break;
    case 4: p = strata_pool_get(pool_ts); *(volatile char *)p = 1; strata_pool_put(pool_ts, p); break;
    case 5: p = strata_malloc(OBJ); *(volatile char *)p = 1; strata_free(p); break;
    case 6: p = glibc_malloc(OBJ); *(volatile char *)p = 1; glibc_free(p); break;
    case 7: p = je_malloc(OBJ); *(volatile char *)p = 1; je_free(p); break;
    case 8: p = tc_malloc_p(OBJ); *(volatile char *)p = 1; tc_free_p(p); break;
    case 9: p = mi_malloc_p(OBJ); *(volatile char *)p = 1; mi_free_p(p); break;
    case 10: tree_round_strata(); p = (char *)&sink; break;
#ifdef HAVE_TALLOC
    case 11: tree_round_talloc(); p = (char *)&sink; break;
#endif
#ifdef HAVE_APR
    case 12: tree_round_apr(); p = (char *)&sink; break;
#endif
    default: p = (char *)&sink; break;
    }
    (void)p;
  }
}

static int cg_main(const char *mode, long k) {
  const char *modes[] = { "none", "bump", "arena", "pool", "pool_ts", "strata", "glibc", "jemalloc", "tcmalloc",
                          "mimalloc", "tree", "tree_talloc", "tree_apr" };
  cg_mode = -1;
  for (int i = 0; i < 13; i++) if (!strcmp(mode, modes[i])) cg_mode = i;
#ifndef HAVE_TALLOC
  if (cg_mode == 11) return 3;
#endif
#ifndef HAVE_APR
  if (cg_mode == 12) return 3;
#endif
#ifdef HAVE_APR
  apr_initialize();
#endif
  if (cg_mode < 0) { fprintf(stderr, "arena --cg: unknown mode %s\n", mode); return 2; }
  int ok = 1;
  if (cg_mode == 6) ok = load_pair("libc.so.6", "__libc_malloc", "__libc_free", &glibc_malloc, &glibc_free);
  if (cg_mode == 7) ok = load_pair("libjemalloc.so.2", "malloc", "free", &je_malloc, &je_free);
  if (cg_mode == 8) ok = load_pair("libtcmalloc_minimal.so.4", "tc_malloc", "tc_free", &tc_malloc_p, &tc_free_p);
  if (cg_mode == 9) ok = load_pair("libmimalloc.so.2", "mi_malloc", "mi_free", &mi_malloc_p, &mi_free_p);
  if (!ok) return 3;
  cg_arena = strata_arena_new(NULL);
  for (long i = 0; i < k + 200; i++) strata_arena_alloc(cg_arena, 32);   /* warm: chunks kept */
  strata_arena_reset(cg_arena);
  cg_loop(cg_mode >= 10 ? 2 : 100);             /* warm: caches, pages, first calls */
  cg_loop(k);
  printf("cg %s: %ld iterations\n", mode, k);
  return 0;
}

int main(int argc, char **argv) {
  int runs = 9, quick = 0;
  tables_init();
  size_t rbsize = (size_t)BUMP_N * 128 + 4096;
  rb.start = rb.cur = strata_malloc(rbsize);
  rb.end = rb.start + rbsize;
  memset(rb.start, 0, rbsize);                   /* pages present, as the arena's are after a run */
  pool_plain = strata_pool_new(OBJ, 0, 0, 0);
  pool_ts = strata_pool_new(OBJ, 0, 0, STRATA_POOL_THREADSAFE);
  bump_arena = strata_arena_new(NULL);
  if (!rb.start || !pool_plain || !pool_ts || !bump_arena) { fprintf(stderr, "arena: setup failed\n"); return 1; }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--cg") && i + 2 < argc) return cg_main(argv[i + 1], atol(argv[i + 2]));
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--peer-child") && i + 1 < argc) only_peer = argv[++i];
    else { fprintf(stderr, "usage: arena [--runs N] [--quick] | --cg MODE K\n"); return 2; }
  }
  if (quick) runs = 3;
  if (runs < 1) runs = 1;
  if (runs > MAXRUNS) runs = MAXRUNS;
#ifdef HAVE_APR
  apr_initialize();
#endif
  if (!only_peer) printf("strata arena/pool benchmark: %d runs", runs);
  FILE *la = fopen("/proc/loadavg", "r");
  char lbuf[64] = "";
  if (la && fgets(lbuf, sizeof lbuf, la) && !only_peer) printf(", load average %.14s", lbuf);
  if (la) fclose(la);
  if (!only_peer) printf("\n");
  load_peers();
  if (only_peer) { table_pool(runs); return (int)(sink & 0); }
  run_bump_arena(); run_bump_raw();              /* warm-up: chunks, pages */
  table_bump(runs);
  run_tree_strata();
  table_tree(runs);
  table_pool(runs);
  table_threads(runs);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  for (int i = 0; i < NPEERS && n > 0; i++) {
    if (!need_preload[i]) continue;
    self[n] = 0;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "LD_PRELOAD=%s '%s' --peer-child %s --runs %d", peers[i].lib, self, peers[i].name, runs);
    fflush(stdout);
    if (system(cmd) != 0) printf("  (%s: the LD_PRELOAD child failed)\n", peers[i].name);
  }
  return (int)(sink & 0);
}
