/* bench/bench_common.h -- small helpers shared by the benchmark programs.
 *
 * The benchmarks are NOT linked against strata: the allocator under test is
 * whatever malloc the process resolves at run time (LD_PRELOAD picks it).
 */
#ifndef STRATA_BENCH_COMMON_H
#define STRATA_BENCH_COMMON_H

#include <stdint.h>
#include <time.h>

/* splitmix64: fast, deterministic, good enough statistically for picking
 * sizes and slots.  One state per thread, seeded from the thread index. */
typedef struct { uint64_t s; } bench_rng_t;

static inline void bench_rng_seed(bench_rng_t *r, uint64_t seed) {
  r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

static inline uint64_t bench_rng_next(bench_rng_t *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi] (inclusive); the modulo bias is irrelevant here. */
static inline uint64_t bench_rng_range(bench_rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + bench_rng_next(r) % (hi - lo + 1);
}

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
