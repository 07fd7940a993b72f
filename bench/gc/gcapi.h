/* bench/gc/gcapi.h -- one collector API for the GC benchmarks, two backends.
 *
 * Every bench/gc/NAME.c is compiled twice (Makefile): against strata's
 * collector (include/strata/gc.h, libstrata.a) and, with -DBENCH_BOEHM,
 * against the Boehm-Demers-Weiser collector (libgc, pkg-config bdw-gc).
 * The benchmarks call only what is below, so both builds run the same code.
 *
 *   gc_init()                  once, first thing in main (before any thread)
 *   gc_alloc(n)                zeroed, conservative (any word may be a pointer)
 *   gc_alloc_atomic(n)         never scanned (contents are not zeroed by Boehm)
 *   gc_alloc_typed(t, n)       pointer layout from a gc_type_t (GC_TYPE_BITMAP)
 *   gc_write(obj, &field, v)   store a GC pointer into a GC object (barrier)
 *   GC_SET(obj, field, v)      the same, naming the field as an lvalue
 *   gc_collect()               a full collection now
 *   gc_disable()/gc_enable()   automatic collections off/on (a heap build)
 *   gc_register_thread()       first thing in a thread that allocates or
 *   gc_unregister_thread()     holds GC pointers; last thing before it exits
 *   gc_block_begin()/_end()    around a wait (pthread_join, sleep) during
 *                              which the thread touches no GC object
 *   gc_stats(&s)               collections and pauses so far (cumulative)
 *   gc_stats_window(a, b, &w)  what happened between two gc_stats snapshots
 *   gc_hist_percentile(h, p)   percentile p of a pause histogram, in ns
 *   gc_name()                  "strata", "boehm" or "boehm-incr"
 *
 * How each backend maps, and why:
 *
 *  - strata: the calls map one to one onto strata_gc_*.  Pauses come from
 *    strata_gc_stats_get (count, total, maximum, a histogram with four
 *    buckets per power of two from 1 us) and, exactly, from
 *    strata_gc_pause_log (the last STRATA_GC_PAUSE_LOG stops): a window's
 *    p50, p99 and maximum are exact when its pauses are all in the log.
 *
 *  - boehm: GC_THREADS is defined before <gc.h>, so pthread_create is
 *    redirected to GC_pthread_create and every thread the benchmarks start is
 *    registered by the collector itself; gc_register_thread is then a no-op.
 *    gc_init calls GC_allow_register_threads, which also starts the parallel
 *    marker threads (Boehm otherwise starts them only with the first extra
 *    thread, so a single-threaded program would mark serially).  Their number
 *    follows the cores, or the GC_MARKERS environment variable.
 *    BENCH_GC_INCREMENTAL=1 in the environment turns on incremental mode
 *    (GC_enable_incremental; dirty pages come from the OS, by mprotect or
 *    soft-dirty bits, so Boehm needs no write barrier: gc_write is a store).
 *    Pauses are the stops of the world, timed from the collector's events
 *    GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD, and binned into the
 *    same histogram as strata's so percentiles are computed the same way for
 *    both; the exact times are also kept (the first BOEHM_SAMPLES of them).
 *    Typed allocation is GC_MALLOC: Boehm's own typed allocator
 *    (GC_malloc_explicitly_typed) adds a descriptor word per object, and for
 *    objects whose pointers come first, as here, scans the same words.
 *
 * What neither backend's number includes: time a mutator spends inside an
 * allocation call doing collector work (Boehm's incremental steps, strata's
 * mark assists) without stopping anyone else.  pauses.c measures that from
 * the mutator's side (its stall_* fields).
 */
#ifndef BENCH_GC_GCAPI_H
#define BENCH_GC_GCAPI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GCB_PAUSE_BUCKETS 100  /* the same shape as STRATA_GC_PAUSE_BUCKETS */

/* Collector counters; all cumulative since gc_init, or over a window. */
typedef struct gcb_stats {
  uint64_t collections;
  uint64_t pauses;                    /* stops of the world (boehm), of any thread (strata) */
  uint64_t pause_total_ns;
  uint64_t pause_max_ns;
  int pause_max_exact;                /* 0: a bound (see gc_stats_window) */
  uint64_t pause_max_ack_ns;          /* strata: of the longest pause, the wait for
                                         threads to answer (0: unknown, or Boehm) */
  uint64_t taken_back;                /* strata: stops given up and asked again */
  uint64_t hist[GCB_PAUSE_BUCKETS];   /* four buckets per power of two from 1 us: see gcb_bucket_ns */
  uint64_t p50_exact_ns, p99_exact_ns; /* from every pause of a window (0: unknown) */
} gcb_stats_t;

/* Bucket i holds pauses up to gcb_bucket_ns(i) (1.25, 1.5, 1.75, 2, 2.5 ...
 * us; bucket 0 also everything below 1 us): strata_gc_pause_bucket_ns's
 * rule, restated so the Boehm build needs no strata header. */
static inline uint64_t gcb_bucket_ns(int i) { return ((uint64_t)(5 + i % 4) << (i / 4)) * 250; }
static inline int gcb_bucket_of(uint64_t ns) {
  uint64_t q = ns / 250;
  if (q < 4) return 0;
  int e = 63 - __builtin_clzll(q);
  int i = 4 * (e - 2) + (int)((q >> (e - 2)) & 3);
  return i < GCB_PAUSE_BUCKETS ? i : GCB_PAUSE_BUCKETS - 1;
}

/* The upper bound, in ns, of the histogram bucket that holds percentile pct
 * of the pauses (0 when there was none): strata_gc_pause_percentile's rule
 * as gc.h states it, used for Boehm (strata's figures come from strata). */
static inline uint64_t gcb_hist_percentile(const uint64_t *hist, double pct) {
  uint64_t n = 0;
  for (int i = 0; i < GCB_PAUSE_BUCKETS; i++) n += hist[i];
  if (n == 0) return 0;
  uint64_t want = (uint64_t)(pct / 100.0 * (double)n + 0.999999);
  if (want < 1) want = 1;
  uint64_t seen = 0;
  for (int i = 0; i < GCB_PAUSE_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= want) return gcb_bucket_ns(i);
  }
  return gcb_bucket_ns(GCB_PAUSE_BUCKETS - 1);
}

static inline int gcb_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
/* Percentile pct of the n values v (sorted here, in place); 0 if n is 0. */
static inline uint64_t gcb_sorted_pct(uint64_t *v, size_t n, double pct) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, gcb_cmp_u64);
  size_t k = (size_t)(pct / 100.0 * (double)n + 0.999999);
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

#ifdef BENCH_BOEHM
/* ============================== Boehm GC ================================== */
#define GC_THREADS 1
#include <gc.h>
#include <pthread.h>

typedef struct gc_type { size_t size; uint64_t bitmap; const char *name; } gc_type_t;
#define GC_TYPE_BITMAP(nm, elem_size, bits) \
  { .size = (elem_size), .bitmap = (bits), .name = (nm) }

#define BOEHM_SAMPLES 65536
/* Written only by the collecting thread, under Boehm's allocation lock.
 * The samples live in malloc memory, which Boehm does not scan (static data
 * it does: half a MiB there would be scanned at every collection). */
static struct {
  uint64_t stop_start_ns;
  uint64_t pauses, total_ns, max_ns;
  uint64_t hist[GCB_PAUSE_BUCKETS];
  uint64_t *samples;
  int incremental;
} gcb_boehm;

static inline uint64_t gcb_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void gcb_boehm_event(GC_EventType ev) {
  if (ev == GC_EVENT_PRE_STOP_WORLD) {
    gcb_boehm.stop_start_ns = gcb_mono_ns();
  } else if (ev == GC_EVENT_POST_START_WORLD && gcb_boehm.stop_start_ns) {
    uint64_t d = gcb_mono_ns() - gcb_boehm.stop_start_ns;
    gcb_boehm.stop_start_ns = 0;
    if (gcb_boehm.samples && gcb_boehm.pauses < BOEHM_SAMPLES) gcb_boehm.samples[gcb_boehm.pauses] = d;
    gcb_boehm.pauses++;
    gcb_boehm.total_ns += d;
    if (d > gcb_boehm.max_ns) gcb_boehm.max_ns = d;
    gcb_boehm.hist[gcb_bucket_of(d)]++;
  }
}

/* Boehm keeps no histogram: the rule of strata_gc_pause_percentile. */
static inline uint64_t gc_hist_percentile(const uint64_t *hist, double pct) {
  return gcb_hist_percentile(hist, pct);
}

static inline void gc_init(void) {
  gcb_boehm.samples = malloc(BOEHM_SAMPLES * sizeof(uint64_t));
  GC_INIT();
  GC_set_on_collection_event(gcb_boehm_event);
  const char *e = getenv("BENCH_GC_INCREMENTAL");
  if (e && *e && *e != '0') {
    GC_enable_incremental();
    gcb_boehm.incremental = GC_is_incremental_mode();
  }
  GC_allow_register_threads();   /* also starts the parallel markers */
}
static inline const char *gc_name(void) { return gcb_boehm.incremental ? "boehm-incr" : "boehm"; }
static inline void gc_describe(char *buf, size_t n) {
  snprintf(buf, n, "boehm %d.%d.%d markers=%d incremental=%d", GC_VERSION_MAJOR,
           GC_VERSION_MINOR, GC_VERSION_MICRO, GC_get_parallel() + 1, GC_is_incremental_mode());
}

static inline void *gc_alloc(size_t n) { return GC_MALLOC(n); }
static inline void *gc_alloc_atomic(size_t n) { return GC_MALLOC_ATOMIC(n); }
static inline void *gc_alloc_typed(const gc_type_t *t, size_t n) { (void)t; return GC_MALLOC(n); }
static inline void gc_write(void *obj, void **field, void *value) { (void)obj; *field = value; }
static inline void gc_collect(void) { GC_gcollect(); }
static inline void gc_disable(void) { GC_disable(); }
static inline void gc_enable(void) { GC_enable(); }
/* Threads come from GC_pthread_create (redirected pthread_create): already
 * registered, and unregistered when they return. */
static inline void gc_register_thread(void) {}
static inline void gc_unregister_thread(void) {}
/* Boehm stops threads with signals wherever they are: waits need nothing. */
static inline void gc_block_begin(void) {}
static inline void gc_block_end(void) {}

static inline uint64_t gcb_exact_pct(uint64_t from, uint64_t to, double pct) {
  if (to > BOEHM_SAMPLES) to = BOEHM_SAMPLES;
  if (to <= from || !gcb_boehm.samples) return 0;
  size_t n = to - from;
  uint64_t *v = malloc(n * sizeof *v);
  if (!v) return 0;
  memcpy(v, gcb_boehm.samples + from, n * sizeof *v);
  uint64_t r = gcb_sorted_pct(v, n, pct);
  free(v);
  return r;
}

static void *gcb_boehm_snapshot(void *arg) {
  gcb_stats_t *s = arg;
  s->collections = GC_get_gc_no();
  s->pauses = gcb_boehm.pauses;
  s->pause_total_ns = gcb_boehm.total_ns;
  s->pause_max_ns = gcb_boehm.max_ns;
  memcpy(s->hist, gcb_boehm.hist, sizeof s->hist);
  return NULL;
}
static inline void gc_stats(gcb_stats_t *s) {
  memset(s, 0, sizeof *s);
  GC_call_with_alloc_lock(gcb_boehm_snapshot, s);
  s->pause_max_exact = 1;
  s->p50_exact_ns = gcb_exact_pct(0, s->pauses, 50);
  s->p99_exact_ns = gcb_exact_pct(0, s->pauses, 99);
}

#else
/* ============================== strata ===================================== */
#include <strata/gc.h>

typedef strata_gc_type_t gc_type_t;
#define GC_TYPE_BITMAP(nm, elem_size, bits) \
  { .kind = STRATA_GC_BITMAP, .name = (nm), .size = (elem_size), .bitmap = (bits) }

static inline void gc_init(void) { strata_gc_register_thread(); }
static inline const char *gc_name(void) { return "strata"; }
static inline void gc_describe(char *buf, size_t n) {
  snprintf(buf, n, "strata gc");
  if (getenv("BENCH_GC_STATS")) strata_gc_stats_print(stderr);  /* the collector's own account */
}

static inline void *gc_alloc(size_t n) { return strata_gc_malloc(n); }
static inline void *gc_alloc_atomic(size_t n) { return strata_gc_malloc_atomic(n); }
static inline void *gc_alloc_typed(const gc_type_t *t, size_t n) { return strata_gc_alloc(t, n); }
static inline void gc_write(void *obj, void **field, void *value) { strata_gc_write(obj, field, value); }
static inline void gc_collect(void) { strata_gc_collect(); }
static inline void gc_disable(void) { strata_gc_disable(); }
static inline void gc_enable(void) { strata_gc_enable(); }
static inline void gc_register_thread(void) { strata_gc_register_thread(); }
static inline void gc_unregister_thread(void) { strata_gc_unregister_thread(); }
static inline void gc_block_begin(void) { strata_gc_blocking_enter(); }
static inline void gc_block_end(void) { strata_gc_blocking_leave(); }

/* The percentile of a (window's) histogram by strata's own rule. */
static inline uint64_t gc_hist_percentile(const uint64_t *hist, double pct) {
  strata_gc_stats_t st;
  memset(&st, 0, sizeof st);
  st.pause_max_ns = UINT64_MAX;     /* a window's maximum is not known here: no clamp
                                       (with 0 every percentile read 0) */
  for (int i = 0; i < GCB_PAUSE_BUCKETS && i < STRATA_GC_PAUSE_BUCKETS; i++) {
    st.pause_hist[i] = (size_t)hist[i];
    st.pauses += (size_t)hist[i];
  }
  return strata_gc_pause_percentile(&st, pct);
}

static inline void gc_stats(gcb_stats_t *s) {
  strata_gc_stats_t st;
  memset(s, 0, sizeof *s);
  if (strata_gc_stats_get(&st) != 0) return;
  s->collections = st.cycles;
  s->pauses = st.pauses;
  s->pause_total_ns = st.pause_total_ns;
  s->pause_max_ns = st.pause_max_ns;
  s->pause_max_ack_ns = st.pause_max_ack_ns;
  s->taken_back = st.stops_taken_back;
  s->pause_max_exact = 1;
  for (int i = 0; i < GCB_PAUSE_BUCKETS && i < STRATA_GC_PAUSE_BUCKETS; i++)
    s->hist[i] = st.pause_hist[i];
}
#endif

#define GC_SET(obj, field, value) gc_write((void *)(obj), (void **)&(field), (void *)(value))

/* What happened between snapshots a (earlier) and b.  The maximum pause is
 * exact when it grew during the window; otherwise the largest pause of the
 * window is bounded by its histogram bucket (and by the earlier maximum), and
 * pause_max_exact says so.  Boehm's exact percentiles cover the window's
 * samples. */
static inline void gc_stats_window(const gcb_stats_t *a, const gcb_stats_t *b, gcb_stats_t *w) {
  memset(w, 0, sizeof *w);
  w->collections = b->collections - a->collections;
  w->pauses = b->pauses - a->pauses;
  w->pause_total_ns = b->pause_total_ns - a->pause_total_ns;
  w->taken_back = b->taken_back - a->taken_back;
  int top = -1;
  for (int i = 0; i < GCB_PAUSE_BUCKETS; i++) {
    w->hist[i] = b->hist[i] - a->hist[i];
    if (w->hist[i]) top = i;
  }
  if (b->pause_max_ns > a->pause_max_ns) {
    w->pause_max_ns = b->pause_max_ns;
    w->pause_max_ack_ns = b->pause_max_ack_ns;
    w->pause_max_exact = 1;
  } else if (top >= 0) {
    uint64_t bound = gcb_bucket_ns(top);
    w->pause_max_ns = bound < a->pause_max_ns ? bound : a->pause_max_ns;
    w->pause_max_exact = 0;
  } else {
    w->pause_max_exact = 1;
  }
#ifdef BENCH_BOEHM
  w->p50_exact_ns = gcb_exact_pct(a->pauses, b->pauses, 50);
  w->p99_exact_ns = gcb_exact_pct(a->pauses, b->pauses, 99);
  /* every stop is sampled (up to BOEHM_SAMPLES): the exact max is known */
  if (!w->pause_max_exact && b->pauses <= BOEHM_SAMPLES && gcb_boehm.samples) {
    w->pause_max_ns = gcb_exact_pct(a->pauses, b->pauses, 100);
    w->pause_max_exact = 1;
  }
#else
  /* strata logs its last STRATA_GC_PAUSE_LOG pauses: when the window's are
   * all still there, its percentiles and maximum are exact */
  size_t dropped = 0, n = (size_t)w->pauses;
  uint64_t *v = n ? malloc(STRATA_GC_PAUSE_LOG * sizeof *v) : NULL;
  size_t kept = v ? strata_gc_pause_log(v, STRATA_GC_PAUSE_LOG, &dropped) : 0;
  if (v && a->pauses >= dropped && b->pauses - dropped <= kept) {
    uint64_t *win = v + (a->pauses - dropped);
    w->p50_exact_ns = gcb_sorted_pct(win, n, 50);
    w->p99_exact_ns = gcb_sorted_pct(win, n, 99);
    w->pause_max_ns = gcb_sorted_pct(win, n, 100);
    w->pause_max_exact = 1;
  }
  free(v);
#endif
}

#endif
