/* bench/bench_common.h -- small helpers shared by the benchmark programs.
 *
 * The benchmarks are NOT linked against strata: the allocator under test is
 * whatever malloc the process resolves at run time (LD_PRELOAD picks it).
 */
#ifndef STRATA_BENCH_COMMON_H
#define STRATA_BENCH_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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

/* Resident set size right now, in KiB, from /proc/self/statm (field 2 is
 * resident pages).  Unlike getrusage's ru_maxrss this goes down again when
 * the allocator returns memory to the OS.  -1 if it cannot be read. */
static inline long bench_rss_kb(void) {
  /* open/read, not stdio: no malloc while measuring the allocator */
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long size = 0, resident = -1;
  if (sscanf(buf, "%ld %ld", &size, &resident) != 2 || resident < 0) return -1;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A 32-bit mix of two numbers (for data tags that do not depend on
 * addresses or timing, so checksums compare across allocators). */
static inline uint32_t bench_mix32(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  return (uint32_t)(z ^ (z >> 29));
}

#endif
