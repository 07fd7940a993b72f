/* bench/gc/gcb_util.h -- clocks, memory, random numbers and the result line
 * shared by the GC benchmarks (the collector side is in gcapi.h).
 *
 * Every benchmark prints exactly one result line on stdout:
 *
 *   bench=NAME gc=strata|boehm|boehm-incr time_s=T peak_rss_kb=K
 *   collections=C pause_p50_us=P pause_p99_us=Q pause_max_us=M check=X [k=v ...]
 *
 * check is a value that depends only on the benchmark's parameters, never on
 * the collector or on timing, so bench/gc/run.sh can verify that all
 * collectors computed the same thing; a benchmark that finds damage in its
 * own data prints check=FAIL and exits 1.  Pauses are over the measured
 * window only (gc_stats_window).  Anything else goes to stderr.
 */
#ifndef BENCH_GC_UTIL_H
#define BENCH_GC_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gcapi.h"

static inline double gcb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t gcb_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* When the program started (a constructor: before main). */
static double gcb_started;
__attribute__((constructor)) static void gcb_start(void) { gcb_started = gcb_now(); }

/* Peak resident set of the process so far, in KiB. */
static inline long gcb_peak_rss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_maxrss;
}

/* xorshift-multiply generator: deterministic per seed, one per thread. */
typedef struct { uint64_t s; } gcb_rng_t;
static inline void gcb_rng_seed(gcb_rng_t *r, uint64_t seed) {
  r->s = (seed + 1) * 0xD1B54A32D192ED03ull;
}
static inline uint64_t gcb_rng_next(gcb_rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* A tag for data that depends only on its logical position (checkable). */
static inline uint64_t gcb_tag(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x7F4A7C15ull);
  z = (z ^ (z >> 29)) * 0xBF58476D1CE4E5B9ull;
  return z ^ (z >> 32);
}

/* Parse a size with an optional k/m/g suffix (bytes). */
static inline size_t gcb_parse_size(const char *s) {
  char *end;
  double v = strtod(s, &end);
  switch (*end) {
    case 'k': case 'K': v *= 1024; break;
    case 'm': case 'M': v *= 1024 * 1024; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
    default: break;
  }
  return (size_t)v;
}

/* The result line; extra (may be NULL) is appended as is ("k=v k=v"). */
static inline void gcb_report(const char *bench, double time_s, const gcb_stats_t *w,
                              const char *check, const char *extra) {
  printf("bench=%s gc=%s time_s=%.3f peak_rss_kb=%ld collections=%llu "
         "pause_p50_us=%.1f pause_p99_us=%.1f pause_max_us=%.1f check=%s "
         "pauses=%llu pause_total_ms=%.1f pause_max_exact=%d",
         bench, gc_name(), time_s, gcb_peak_rss_kb(), (unsigned long long)w->collections,
         gc_hist_percentile(w->hist, 50) / 1e3, gc_hist_percentile(w->hist, 99) / 1e3,
         w->pause_max_ns / 1e3, check, (unsigned long long)w->pauses,
         w->pause_total_ns / 1e6, w->pause_max_exact);
  if (w->p99_exact_ns)
    printf(" pause_p50_exact_us=%.1f pause_p99_exact_us=%.1f", w->p50_exact_ns / 1e3,
           w->p99_exact_ns / 1e3);
  /* CPU time: of the calling thread (the main thread: the mutator, plus
   * whatever collector work it does itself), and of the whole process; and
   * how the main thread spent the rest of its life since the program
   * started: waiting for a CPU (runnable: the machine's load) or asleep
   * (blocked: stops, locks, waits for the collector -- the design's part) */
  struct timespec tc, pc;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &tc);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &pc);
  double main_cpu = (double)tc.tv_sec + (double)tc.tv_nsec * 1e-9;
  printf(" main_cpu_s=%.3f cpu_s=%.3f", main_cpu, (double)pc.tv_sec + (double)pc.tv_nsec * 1e-9);
  unsigned long long run_ns = 0, runq_ns = 0;
  FILE *ss = fopen("/proc/thread-self/schedstat", "r");
  if (ss) {
    if (fscanf(ss, "%llu %llu", &run_ns, &runq_ns) == 2) {
      double life = gcb_now() - gcb_started;
      double sleep = life - (double)run_ns * 1e-9 - (double)runq_ns * 1e-9;
      printf(" main_life_s=%.3f main_run_s=%.3f main_runq_s=%.3f main_sleep_s=%.3f", life, (double)run_ns * 1e-9, (double)runq_ns * 1e-9, sleep > 0 ? sleep : 0.0);
    }
    fclose(ss);
  }
  if (extra && *extra) printf(" %s", extra);
  printf("\n");
  fflush(stdout);
  char desc[128];
  gc_describe(desc, sizeof desc);
  fprintf(stderr, "# %s: %s\n", bench, desc);
}

#endif
