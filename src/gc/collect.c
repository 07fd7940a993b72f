/* A collection, the pacer, start-up, fork and statistics.
 *
 * A collection (_st_gc_collect_locked, gc_lock held by the caller, which is
 * a registered thread):
 *   1. finish sweeping the previous cycle (spans still unswept), so that no
 *      stale epoch survives into this one (see "Epochs" in internal.h);
 *   2. take gc_world and gc_fin_lock, stop every other thread (world.c);
 *   3. give back every thread cache's span; advance the epoch;
 *   4. mark from the roots (ranges, shadow frames, every stack and its saved
 *      registers, the finalizer queue) and drain;
 *   5. clear short weak references to unmarked objects; queue and mark the
 *      finalizable unmarked objects; drain; clear long weak references;
 *   6. move every span to the unswept lists, set the next trigger, restart
 *      the world; sweeping is lazy (alloc.c), finalizers run later.
 * In this version the whole mark is one stop of every thread; the pause is
 * recorded.  The write barrier is already in the API (and in every store
 * the program makes), so marking can move off the pause without changing it.
 *
 * Pacer.  After a mark with `live` bytes marked, the next collection starts
 * when allocated bytes reach
 *     trigger = max(live * (1 + gc_goal / 100), GC_MIN_TRIGGER)
 * and, with a soft limit L, no later than live + (L - live) / 2: the closer
 * the live heap is to the limit, the more often the collector runs.
 */
#include <errno.h>
#include <string.h>
#include "gc/internal.h"

#define GC_MIN_TRIGGER ((size_t)4 << 20)

_Atomic unsigned gc_epoch = 1;
_Atomic int gc_ready;
STRATA_API volatile int strata_gc_marking_flag;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static size_t trigger = GC_MIN_TRIGGER, live_after;
static int goal = 100, disabled;
static size_t soft_limit;
static int collecting;                   /* gc_lock: a collection runs (no nesting) */

/* statistics (gc_lock) */
static size_t cycles, pauses, pause_hist[STRATA_GC_PAUSE_BUCKETS];
static uint64_t pause_total, pause_max, mark_total;

void _st_gc_pause_record(uint64_t ns) {
  pauses++;
  pause_total += ns;
  if (ns > pause_max) pause_max = ns;
  uint64_t us = ns / 1000;
  unsigned b = us ? 63u - (unsigned)__builtin_clzll(us) : 0;
  if (b >= STRATA_GC_PAUSE_BUCKETS) b = STRATA_GC_PAUSE_BUCKETS - 1;
  pause_hist[b]++;
}

static void set_trigger(void) {
  size_t t;
  if (goal < 0) t = SIZE_MAX;
  else {
    t = live_after + live_after / 100 * (size_t)goal;
    if (t < GC_MIN_TRIGGER) t = GC_MIN_TRIGGER;
  }
  if (soft_limit) {
    size_t head = soft_limit > live_after ? (soft_limit - live_after) / 2 : 0;
    if (head < ((size_t)1 << 20)) head = (size_t)1 << 20;
    if (live_after + head < t) t = live_after + head;
  }
  trigger = t;
}

static void fork_prepare(void) {
  pthread_mutex_lock(&gc_lock);
  pthread_mutex_lock(&gc_world);
  pthread_mutex_lock(&gc_fin_lock);
}
static void fork_parent(void) {
  pthread_mutex_unlock(&gc_fin_lock);
  pthread_mutex_unlock(&gc_world);
  pthread_mutex_unlock(&gc_lock);
}
static void fork_child(void) {
  _st_gc_fin_fork_child();
  _st_gc_world_fork_child();
  pthread_mutex_init(&gc_lock, NULL);
}

static void gc_init_once(void) {
  if (atomic_load(&_st_init_state) != 2) _st_process_init();
  goal = (int)_st_option(OPT_GC_GOAL);
  long lim = _st_option(OPT_GC_LIMIT);
  soft_limit = lim > 0 ? (size_t)lim : lim < 0 ? _st_cgroup_max() / 10 * 9 : 0;
  if (_st_gc_pages_init((size_t)_st_option(OPT_GC_MAX_HEAP)) != 0) {
    _st_message("strata: gc: cannot reserve address space for the GC heap\n");
    return;
  }
  _st_gc_world_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  set_trigger();
  atomic_store_explicit(&gc_ready, 1, memory_order_release);
}

void _st_gc_init(void) { pthread_once(&init_once, gc_init_once); }

void _st_gc_collect_locked(const char *why) {
  (void)why;
  if (collecting) return;
  collecting = 1;
  _st_gc_sweep_all();
  pthread_mutex_lock(&gc_world);
  pthread_mutex_lock(&gc_fin_lock);
  _st_gc_stop_world();
  uint64_t t0 = _st_gc_now();
  _st_gc_flush_caches();
  unsigned e = atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  atomic_store_explicit(&gc_epoch, e >= GC_EPOCH_MAX ? 1 : e + 1, memory_order_relaxed);
  gc_marked_bytes = 0;
  _st_gc_mark_roots();
  _st_gc_weak_clear(0);
  _st_gc_finalize_mark();
  _st_gc_drain();
  _st_gc_weak_clear(1);
  _st_gc_after_mark();
  live_after = gc_marked_bytes;
  atomic_store_explicit(&gc_allocated, live_after, memory_order_relaxed);
  set_trigger();
  mark_total += _st_gc_now() - t0;
  cycles++;
  _st_gc_start_world();
  pthread_mutex_unlock(&gc_fin_lock);
  pthread_mutex_unlock(&gc_world);
  _st_gc_purge(_st_gc_now(), 0);
  collecting = 0;
}

void _st_gc_maybe_collect(size_t more) {
  if (disabled || atomic_load_explicit(&gc_allocated, memory_order_relaxed) + more < trigger) return;
  _st_gc_collect_locked("pacer");
  pthread_mutex_unlock(&gc_lock);            /* finalizers are started without the lock */
  _st_gc_finalize_wake();
  pthread_mutex_lock(&gc_lock);
}

/* ---- the API ------------------------------------------------------------------- */

STRATA_API void strata_gc_collect(void) {
  if (gc_thread() == NULL) return;
  pthread_mutex_lock(&gc_lock);
  _st_gc_collect_locked("explicit");
  pthread_mutex_unlock(&gc_lock);
  _st_gc_finalize_wake();
}

STRATA_API void strata_gc_write_slow(void *obj, void **field, void *value) {
  (void)obj;
  /* Marking runs with the world stopped in this version, so a running
   * thread never sees the flag set; when it does (concurrent marking), the
   * old and the new target are shaded here. */
  *field = value;
}

STRATA_API int strata_gc_set_goal(int percent) {
  gc_ensure_init();
  if (percent < -1) percent = -1;
  pthread_mutex_lock(&gc_lock);
  int old = goal;
  goal = percent;
  set_trigger();
  pthread_mutex_unlock(&gc_lock);
  return old;
}

STRATA_API size_t strata_gc_set_limit(size_t bytes) {
  gc_ensure_init();
  pthread_mutex_lock(&gc_lock);
  size_t old = soft_limit;
  soft_limit = bytes;
  set_trigger();
  pthread_mutex_unlock(&gc_lock);
  return old;
}

STRATA_API void strata_gc_disable(void) {
  gc_ensure_init();
  pthread_mutex_lock(&gc_lock);
  disabled++;
  pthread_mutex_unlock(&gc_lock);
}
STRATA_API void strata_gc_enable(void) {
  gc_ensure_init();
  pthread_mutex_lock(&gc_lock);
  if (disabled > 0) disabled--;
  pthread_mutex_unlock(&gc_lock);
}

STRATA_API int strata_gc_add_roots(void *start, void *end) {
  if (gc_thread() == NULL) return -1;
  pthread_mutex_lock(&gc_lock);
  int r = _st_gc_roots_add(start, end);
  pthread_mutex_unlock(&gc_lock);
  return r;
}
STRATA_API int strata_gc_remove_roots(void *start, void *end) {
  if (gc_thread() == NULL) return -1;
  pthread_mutex_lock(&gc_lock);
  int r = _st_gc_roots_remove(start, end);
  pthread_mutex_unlock(&gc_lock);
  return r;
}

STRATA_API int strata_gc_stats_get(strata_gc_stats_t *st) {
  if (st == NULL) { errno = EINVAL; return -1; }
  memset(st, 0, sizeof *st);
  if (!atomic_load(&gc_ready)) return 0;
  pthread_mutex_lock(&gc_lock);
  st->cycles = cycles;
  st->heap_live = live_after;
  st->heap_allocated = atomic_load(&gc_allocated);
  st->heap_goal = trigger;
  st->heap_committed = gc_committed_spans + gc_free_bytes;
  st->heap_limit = soft_limit;
  st->objects_allocated = atomic_load(&gc_nobjects);
  st->objects_freed = atomic_load(&gc_nfreed);
  st->pause_total_ns = pause_total;
  st->pause_max_ns = pause_max;
  st->pauses = pauses;
  memcpy(st->pause_hist, pause_hist, sizeof pause_hist);
  st->mark_ns = mark_total;
  st->sweep_ns = atomic_load(&gc_sweep_ns);
  pthread_mutex_unlock(&gc_lock);
  pthread_mutex_lock(&gc_fin_lock);
  st->finalizers_run = gc_finalizers_run;
  st->weak_cleared = gc_weak_cleared;
  pthread_mutex_unlock(&gc_fin_lock);
  return 0;
}

STRATA_API uint64_t strata_gc_pause_percentile(const strata_gc_stats_t *st, double pct) {
  if (st == NULL || st->pauses == 0) return 0;
  double want = pct / 100.0 * (double)st->pauses;
  size_t seen = 0;
  for (unsigned b = 0; b < STRATA_GC_PAUSE_BUCKETS; b++) {
    seen += st->pause_hist[b];
    if ((double)seen >= want && st->pause_hist[b]) {
      uint64_t hi = ((uint64_t)2 << b) * 1000;       /* bucket's upper bound, ns */
      return hi < st->pause_max_ns ? hi : st->pause_max_ns;
    }
  }
  return st->pause_max_ns;
}

STRATA_API void strata_gc_stats_print(FILE *fp) {
  strata_gc_stats_t st;
  strata_gc_stats_get(&st);
  fprintf(fp, "strata gc: %zu cycles; heap live %zu, allocated %zu, trigger %zu, committed %zu bytes\n",
          st.cycles, st.heap_live, st.heap_allocated, st.heap_goal, st.heap_committed);
  fprintf(fp, "  objects %zu allocated, %zu freed; %zu finalizers run, %zu weak refs cleared\n",
          st.objects_allocated, st.objects_freed, st.finalizers_run, st.weak_cleared);
  fprintf(fp, "  pauses %zu: total %.3f ms, max %.3f ms, p50 <= %.3f ms, p99 <= %.3f ms; mark %.3f ms, sweep %.3f ms\n",
          st.pauses, (double)st.pause_total_ns / 1e6, (double)st.pause_max_ns / 1e6,
          (double)strata_gc_pause_percentile(&st, 50) / 1e6, (double)strata_gc_pause_percentile(&st, 99) / 1e6,
          (double)st.mark_ns / 1e6, (double)st.sweep_ns / 1e6);
}
