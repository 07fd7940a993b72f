/* t_rss_bound.c -- RSS stays bounded under a long cross-thread
 * producer/consumer run.
 *
 * 2 producers allocate and touch blocks (sizes drift between phases, so
 * freed pages of one size class must be reused by others or returned),
 * 2 consumers verify and free them (every free is a remote free), through a
 * bounded queue.  A sampler reads RSS from /proc/self/statm.  After warm-up:
 *   max RSS <= 4 * max live bytes + 64 MiB, and
 *   max RSS of the last third < 1.5 * max RSS of the first third.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

static double RUN_SECONDS = 7.0, WARMUP = 1.0;
enum { QCAP = 2048, MAXS = 4096 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static blk_t q[QCAP];
static size_t qhead, qcount;
static int producers_left = 2;
static atomic_long live_bytes, bytes_flowed, blocks_flowed;
static atomic_int stop;
static double t0;

static size_t read_rss(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long size = 0, res = 0;
  int n = fscanf(f, "%ld %ld", &size, &res);
  fclose(f);
  return n == 2 ? (size_t)res * (size_t)sysconf(_SC_PAGESIZE) : 0;
}

/* Sizes drift: every 0.5 s the producers switch between a few regimes. */
static size_t pick_size(uint64_t *rs, int regime) {
  uint64_t r = rnd_next(rs);
  if (r % 1000 == 0) return 256 * 1024 + (r >> 16) % (1536 * 1024); /* large */
  switch (regime % 4) {
  case 0: return 16 + (r >> 16) % 256;
  case 1: return 1024 + (r >> 16) % 7168;
  case 2: return 8192 + (r >> 16) % 57344;
  default: return 16 + (r >> 16) % 65536;
  }
}

static void *producer(void *a) {
  uint64_t rs = 0xBEEF + (uintptr_t)a * 1000003;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    int regime = (int)((now_sec() - t0) / 0.5);
    blk_t b[16];
    for (int k = 0; k < 16; k++) {
      b[k].n = pick_size(&rs, regime + (int)(uintptr_t)a);
      b[k].p = malloc(b[k].n);
      CHECK(b[k].p != NULL, "malloc(%zu)", b[k].n);
      blk_fill(&b[k], rs);   /* touch every page */
      atomic_fetch_add_explicit(&live_bytes, (long)b[k].n, memory_order_relaxed);
    }
    pthread_mutex_lock(&mu);
    while (qcount + 16 > QCAP && !atomic_load(&stop)) pthread_cond_wait(&not_full, &mu);
    int full = qcount + 16 > QCAP;
    if (!full) {
      for (int k = 0; k < 16; k++) q[(qhead + qcount++) % QCAP] = b[k];
      pthread_cond_signal(&not_empty);
    }
    pthread_mutex_unlock(&mu);
    if (full) /* stopping */
      for (int k = 0; k < 16; k++) {
        free(b[k].p);
        atomic_fetch_sub_explicit(&live_bytes, (long)b[k].n, memory_order_relaxed);
      }
  }
  pthread_mutex_lock(&mu);
  producers_left--;
  pthread_cond_broadcast(&not_empty);
  pthread_mutex_unlock(&mu);
  return NULL;
}

static void *consumer(void *a) {
  (void)a;
  for (;;) {
    blk_t b[16];
    int n = 0;
    pthread_mutex_lock(&mu);
    while (qcount == 0 && producers_left > 0) pthread_cond_wait(&not_empty, &mu);
    /* Keep the queue around half full: consume only above the mark, so the
     * live set stays steady instead of draining to zero. */
    while (n < 16 && qcount > (producers_left ? QCAP / 2 : 0)) {
      b[n++] = q[qhead];
      qhead = (qhead + 1) % QCAP;
      qcount--;
    }
    int done = qcount == 0 && producers_left == 0;
    pthread_cond_broadcast(&not_full);
    pthread_mutex_unlock(&mu);
    for (int k = 0; k < n; k++) {
      blk_vfy(&b[k], "consumer");
      free(b[k].p);
      atomic_fetch_sub_explicit(&live_bytes, (long)b[k].n, memory_order_relaxed);
      atomic_fetch_add_explicit(&bytes_flowed, (long)b[k].n, memory_order_relaxed);
      atomic_fetch_add_explicit(&blocks_flowed, 1, memory_order_relaxed);
    }
    if (done) break;
    if (n == 0) {
      pthread_mutex_lock(&mu);
      if (qcount <= QCAP / 2 && producers_left > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
        pthread_cond_timedwait(&not_empty, &mu, &ts);
      }
      pthread_mutex_unlock(&mu);
    }
  }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *quick = getenv("STRATA_TEST_QUICK");
  if (quick && *quick == '1') { RUN_SECONDS = 3.0; WARMUP = 0.5; }
  size_t rss0 = read_rss();
  CHECK(rss0 > 0, "cannot read /proc/self/statm");
  t0 = now_sec();
  pthread_t th[4];
  for (int i = 0; i < 2; i++) th[i] = test_spawn(producer, (void *)(uintptr_t)i);
  for (int i = 0; i < 2; i++) th[2 + i] = test_spawn(consumer, (void *)(uintptr_t)i);

  static double ts[MAXS];
  static size_t rss[MAXS], live[MAXS];
  int ns = 0;
  size_t live_max = 0;
  while (now_sec() - t0 < RUN_SECONDS && ns < MAXS) {
    usleep(20000);
    double t = now_sec() - t0;
    long l = atomic_load(&live_bytes);
    size_t r = read_rss();
    if (t >= WARMUP) { ts[ns] = t; rss[ns] = r; live[ns] = l > 0 ? (size_t)l : 0; ns++; }
    if (l > 0 && (size_t)l > live_max) live_max = (size_t)l;
  }
  atomic_store(&stop, 1);
  pthread_mutex_lock(&mu);
  pthread_cond_broadcast(&not_full);
  pthread_cond_broadcast(&not_empty);
  pthread_mutex_unlock(&mu);
  for (int i = 0; i < 4; i++) test_join(th[i]);
  double el = now_sec() - t0;

  CHECK(ns >= 30, "only %d RSS samples", ns);
  size_t rmax = 0, first = 0, last = 0, live_avg = 0;
  for (int i = 0; i < ns; i++) {
    if (rss[i] > rmax) rmax = rss[i];
    if (i < ns / 3 && rss[i] > first) first = rss[i];
    if (i >= ns - ns / 3 && rss[i] > last) last = rss[i];
    live_avg += live[i] / (size_t)ns;
  }
  long flowed = atomic_load(&bytes_flowed);
  size_t bound = 4 * live_max + ((size_t)64 << 20);
  printf("run %.1f s: %ld blocks, %.1f MB/s flowing; RSS at start %zu MiB\n", el,
         atomic_load(&blocks_flowed), flowed / el / 1e6, rss0 >> 20);
  printf("live set: max %zu MiB, avg %zu MiB; RSS after warm-up: max %zu MiB (bound %zu MiB)\n",
         live_max >> 20, live_avg >> 20, rmax >> 20, bound >> 20);
  printf("max RSS first third %zu MiB, last third %zu MiB (growth %.1f%%)\n", first >> 20, last >> 20,
         first ? 100.0 * ((double)last - (double)first) / (double)first : 0.0);
  for (int i = 0; i < ns; i += ns / 10 ? ns / 10 : 1)
    printf("  t=%5.2f s  rss %4zu MiB  live %4zu MiB\n", ts[i], rss[i] >> 20, live[i] >> 20);
  strata_stats_t st;
  if (strata_stats_get(&st) == 0)
    printf("strata: reserved %zu MiB, committed %zu MiB, small in use %zu KiB, large in use %zu KiB, "
           "segments %zu, abandoned pages %zu, maps %zu, unmaps %zu\n",
           st.reserved >> 20, st.committed >> 20, st.small_in_use >> 10, st.large_in_use >> 10, st.segments,
           st.pages_abandoned, st.os_maps, st.os_unmaps);
  CHECK(flowed / el > 20e6, "only %.1f MB/s flowed: too slow to mean anything", flowed / el / 1e6);
  CHECK(rmax <= bound, "RSS %zu MiB exceeds 4 x live set (%zu MiB) + 64 MiB", rmax >> 20, live_max >> 20);
  CHECK((double)last < 1.5 * (double)first, "RSS keeps growing: max %zu MiB in the first third, %zu MiB in the last",
        first >> 20, last >> 20);
  printf("t_rss_bound: all passed\n");
  return 0;
}
