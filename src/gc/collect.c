/* A collection, the pacer, start-up, fork and statistics.
 *
 * A cycle runs on the collector thread (started on first need), mostly
 * concurrently with the program:
 *   1. (gc_lock) finish sweeping the previous cycle, so no stale epoch
 *      survives into this one (see "Epochs" in internal.h);
 *   2. stop the world, briefly: give back the thread caches' spans, advance
 *      the epoch, turn the write barrier on; scan the stacks and the
 *      registered ranges when they fit in GC_STOP_SCAN bytes (a snapshot);
 *      restart the world.  From here objects are born marked (black);
 *   3. one thread at a time, a handshake (world.c): stop it, scan its stack,
 *      registers and shadow frames, take what its barrier shaded, restart
 *      it.  (Threads whose stacks are small were scanned in step 2 instead,
 *      up to GC_STOP_SCAN bytes in all: the same scan at an earlier moment
 *      with the barrier already on, and one stop fewer per thread.)  Heap objects are scanned only after every thread has passed its
 *      handshake, so a store that read the barrier flag before step 2 has
 *      landed by then;
 *   4. the registered ranges and the finalizer queue; then drain the mark
 *      stack concurrently, taking in what the barriers shade;
 *   5. stop the world again (termination): when step 2 took a snapshot
 *      (every stack and range scanned in the stop), scan only the threads
 *      registered since; otherwise rescan every stack and range.  Take the
 *      shade buffers, drain; clear short weak references, queue and mark the
 *      finalizable garbage, drain, clear long weak references; turn the
 *      barrier off; move every span to the unswept lists; restart.
 * The barrier is the hybrid one: while marking, a store shades the old and
 * the new target (strata_gc_write_slow).  Argument: an object reachable at
 * step 2 (the snapshot) is either still reachable through the path the
 * marker follows, or a store cut that path, and the store shaded it (the
 * deletion half); an object hidden in a stack that was not yet scanned and
 * moved into the heap is shaded by the insertion half.  New objects are
 * black.  So every object reachable at the snapshot or allocated since is
 * marked when the stack is empty, and nothing reachable is swept.
 *
 * After a cycle the collector thread sweeps the spans in the background, 32
 * at a time, without holding gc_lock while it sweeps (allocation sweeps the
 * ones it needs first, lazily, under the lock).
 *
 * A collection from strata_gc_collect() waits for a cycle that starts after
 * the call.  When the heap is full (or twice past the trigger while a cycle
 * runs), the allocating thread waits for the cycle to end.
 *
 * Pacer.  After a mark with `live` bytes marked, the next collection starts
 * when allocated bytes reach
 *     trigger = max(live * (1 + gc_goal / 100), GC_MIN_TRIGGER)
 * and, with a soft limit L, no later than live + (L - live) / 2: the closer
 * the live heap is to the limit, the more often the collector runs.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include "gc/internal.h"

#define GC_MIN_TRIGGER ((size_t)4 << 20)
#define GC_STOP_SCAN   ((size_t)256 << 10)   /* stack bytes scanned in the first stop */

_Atomic unsigned gc_epoch = 1;
_Atomic int gc_ready;
STRATA_API volatile int strata_gc_marking_flag;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static size_t trigger = GC_MIN_TRIGGER, live_after;
static int goal = 100, disabled;
static size_t soft_limit;

/* statistics: cycles and mark_total (gc_lock); the pause figures and the
 * pause log (pause_lock: stops are recorded by the collector after it has
 * restarted the stopped threads, under gc_lock or gc_world or neither, so
 * they have a lock of their own, taken after gc_lock and never while a
 * thread is stopped).  The log keeps the last STRATA_GC_PAUSE_LOG pauses
 * of the window (since the start or strata_gc_stats_reset) in a ring:
 * pause i of the window is plog[i % STRATA_GC_PAUSE_LOG]. */
static size_t cycles;
static _Atomic uint64_t mark_total;   /* added by the collector without gc_lock */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t pauses, pause_hist[STRATA_GC_PAUSE_BUCKETS];
static uint64_t pause_total, pause_max, pause_max_ack;
static uint64_t plog[STRATA_GC_PAUSE_LOG];

void _st_gc_pause_record(uint64_t ns, uint64_t ack_ns) {
  pthread_mutex_lock(&pause_lock);
  plog[pauses % STRATA_GC_PAUSE_LOG] = ns;
  pauses++;
  pause_total += ns;
  if (ns > pause_max) { pause_max = ns; pause_max_ack = ack_ns; }
  pause_hist[strata_gc_pause_bucket_of(ns)]++;
  pthread_mutex_unlock(&pause_lock);
}

/* Mark assists: past assist_start allocated bytes while marking, a thread
 * that takes a span scans grey objects in proportion to the bytes it
 * takes: GC_ASSIST_RATIO bytes per byte, or more when the marking left
 * (the last cycle's live bytes less what is marked) would not end before
 * the heap goal at that rate -- then todo/room per byte, as Go's pacer
 * does, up to GC_ASSIST_MAX_RATIO.  In slices of GC_ASSIST_SLICE (each one critical section, so a stop
 * waits at most one slice).  assist_start, assist_goal and live_after are
 * written under gc_lock and read here without it (relaxed atomics: a stale
 * value only misjudges one assist). */
#define GC_ASSIST_RATIO 2
#define GC_ASSIST_MAX_RATIO 8   /* a cap: todo/room grows without bound near the goal,
                                   and one refill paid for the whole rest of a 1 GiB
                                   mark (a 226 ms stall); past it the heap overshoots
                                   the goal, up to the backstop */
#define GC_ASSIST_SLICE ((size_t)32 << 10)
/* Debt left unpaid (no grey object could be had: the collector holds the
 * rest) is carried to the thread's next refill, up to this much.  Carried
 * without a bound, it piled up to 68 MB while the pool ran dry and was then
 * paid in one refill: a 70 ms stall (bench/gc/pauses.c, 1 GiB). */
#define GC_ASSIST_CARRY (GC_SLICE * GC_ASSIST_RATIO)
static size_t assist_start = SIZE_MAX;

/* The heap goal and the trigger (gc_lock).  The goal is the heap size a
 * cycle should end at: live * (1 + gc_goal/100), at least GC_MIN_TRIGGER,
 * lower near the soft limit.  Marking runs concurrently, so the heap keeps
 * growing while it runs: the trigger comes early by what the program
 * allocated during the last marks (mark_alloc, smoothed), so that the heap
 * reaches the goal about when the marking ends -- but by an eighth of the
 * room from live to the goal at most in a small heap (a slow mark is made
 * up by assists, not by more cycles: earlier triggers, up to half the
 * room, cut GCBench's peak RSS by another 0.5 MiB for 50% more cycles),
 * half of it in a big one (GC_BIG_ROOM).  Assists start halfway from the
 * trigger to the goal; the backstop (allocation waits,
 * _st_gc_maybe_collect) is a quarter of the room past the goal in a big
 * heap, twice the trigger in a small one. */
size_t gc_heap_goal = GC_MIN_TRIGGER;
static size_t assist_goal = GC_MIN_TRIGGER;   /* gc_heap_goal, or past it after a runway */
/* Allocation past this waits for the cycle (_st_gc_maybe_collect): in a
 * big heap (GC_BIG_ROOM), a quarter of the room past the assist goal; in
 * a small one twice the trigger.  (Twice the trigger everywhere let
 * binary-trees with 2 threads, whose collector shares 2 cores with them,
 * peak at 1.3x Boehm's RSS; a quarter of the room everywhere made
 * GCBench's thread wait and mark at the backstop: 0.312 -> 0.372 s, 9
 * interleaved quiet runs, for 31.8 -> 28.0 MB.) */
static size_t backstop = 2 * GC_MIN_TRIGGER;
/* A room this big: the trigger may come up to half of it early (small
 * heaps: an eighth).  A small heap's cycles cost mostly their fixed part
 * (stops, cache flushes), so more of them cost time; a big heap's cost
 * its marking, and what is allocated meanwhile is what its peak is made of. */
#define GC_BIG_ROOM ((size_t)32 << 20)
static size_t mark_alloc;

static void set_trigger(int after_cycle) {
  size_t g;
  if (goal < 0) g = SIZE_MAX;
  else {
    g = live_after + live_after / 100 * (size_t)goal;
    if (g < GC_MIN_TRIGGER) g = GC_MIN_TRIGGER;
  }
  if (soft_limit) {
    size_t head = soft_limit > live_after ? (soft_limit - live_after) / 2 : 0;
    if (head < ((size_t)1 << 20)) head = (size_t)1 << 20;
    if (live_after + head < g) g = live_after + head;
  }
  __atomic_store_n(&gc_heap_goal, g, __ATOMIC_RELAXED);
  if (g == SIZE_MAX) {
    trigger = SIZE_MAX;
    __atomic_store_n(&assist_goal, g, __ATOMIC_RELAXED);
    __atomic_store_n(&assist_start, SIZE_MAX, __ATOMIC_RELAXED);
    __atomic_store_n(&backstop, SIZE_MAX, __ATOMIC_RELAXED);
    return;
  }
  size_t room = g > live_after ? g - live_after : 0;
  size_t cap = room >= GC_BIG_ROOM ? room / 2 : room / 8;
  size_t early = mark_alloc < cap ? mark_alloc : cap;
  trigger = g - early;
  /* At the end of a cycle, a runway of at least half the room from the
   * heap as it is now: what the program allocated during the last mark is
   * counted (occupancy) but not live, and when it filled the room, cycles
   * ran back to back with the mutator assisting all the time (binary-trees:
   * 131 cycles instead of 81, half the mutator's time in assists).  The
   * goal the assists measure the room left against moves with it
   * (assist_goal); gc_heap_goal, which bounds lazy sweeping, does not (with
   * it raised, refills took fresh spans and t_gc's steady heap grew).
   * Not when the program sets a goal or a limit: that must be able to
   * start a cycle at once (a lower limit with the heap above it). */
  if (after_cycle) {
    size_t now = atomic_load_explicit(&gc_allocated, memory_order_relaxed);
    /* ... but no further than half the room past the goal: what a slow
     * cycle let the program allocate is floating garbage, and a runway
     * measured from it ratchets -- each trigger later than the last, the
     * backstop with it.  t_gc's steady 0.4 MiB live
     * set went to a 33 MiB heap with the trigger at 16 MiB when the
     * collector thread got little CPU (load 4 on 2 cores). */
    if (now > g) now = g;
    if (now + room / 2 > trigger) {
      trigger = now + room / 2;
      if (g < trigger + room / 2) g = trigger + room / 2;
    }
  }
  __atomic_store_n(&assist_goal, g, __ATOMIC_RELAXED);
  __atomic_store_n(&assist_start, trigger + (g - trigger) / 2, __ATOMIC_RELAXED);
  __atomic_store_n(&backstop, room >= GC_BIG_ROOM ? g + (g - live_after) / 4 : 2 * trigger, __ATOMIC_RELAXED);
}

static pthread_mutex_t cycle_lock;
static pthread_cond_t cycle_cond;
static uint64_t cycles_requested, cycles_started, cycles_done;
static int collector_started;
ST_INTERNAL void _st_gc_mark_fork_child(void);

static void fork_prepare(void) {
  pthread_mutex_lock(&gc_lock);
  pthread_mutex_lock(&cycle_lock);
  pthread_mutex_lock(&gc_world);
  pthread_mutex_lock(&gc_fin_lock);
}
static void fork_parent(void) {
  pthread_mutex_unlock(&gc_fin_lock);
  pthread_mutex_unlock(&gc_world);
  pthread_mutex_unlock(&cycle_lock);
  pthread_mutex_unlock(&gc_lock);
}
/* The collector thread does not survive: a cycle in progress is dropped
 * (the barrier goes off; the next cycle starts from scratch). */
static void fork_child(void) {
  _st_gc_fin_fork_child();
  _st_gc_world_fork_child();
  _st_gc_mark_fork_child();
  pthread_mutex_init(&cycle_lock, NULL);
  pthread_cond_init(&cycle_cond, NULL);      /* the parent's waiters are not here */
  collector_started = 0;
  cycles_requested = cycles_started = cycles_done = 0;
  strata_gc_marking_flag = 0;
  pthread_mutex_init(&gc_lock, NULL);
  pthread_mutex_init(&pause_lock, NULL);
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
  set_trigger(0);
  atomic_store_explicit(&gc_ready, 1, memory_order_release);
}

void _st_gc_init(void) { pthread_once(&init_once, gc_init_once); }

/* ---- the cycle ---------------------------------------------------------------- */

static pthread_mutex_t cycle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cycle_cond = PTHREAD_COND_INITIALIZER;
/* cycle_lock: cycles_requested, cycles_started, cycles_done, collector_started */
static size_t allocated_at_start;
static size_t stack_rescans;           /* cycles whose termination rescanned (gc_lock) */
/* The termination must rescan every stack and range: no snapshot, or a
 * range was added / a stack switched while marking.  Set by any thread,
 * read by the collector with gc_lock and gc_world held. */
_Atomic int gc_rescan;

static void cb_mark_thread(gc_thread_t *t, void *arg) {
  (void)arg;
  _st_gc_mark_thread(t);
  t->scanned = 1;                                  /* t is stopped (or blocking) */
}

/* gc_world held, marking on: once every registered thread's stack is
 * scanned, stores need no insertion shading (bit 1 of the flag off; a
 * thread registering later turns it on again, world.c). */
static void all_scanned(void) {
  if (atomic_load_explicit(&gc_rescan, memory_order_relaxed)) return;   /* every store shades */
  for (gc_thread_t *t = gc_threads; t; t = t->next)
    if (!t->scanned) return;
  strata_gc_marking_flag = 1;
}

/* Steps 1 and 2. */
static void cycle_start(void) {
  pthread_mutex_lock(&gc_lock);
  _st_gc_sweep_all();
  pthread_mutex_lock(&gc_world);
  pthread_mutex_lock(&gc_fin_lock);
  _st_gc_stop_world();
  _st_gc_flush_caches();
  unsigned e = atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  atomic_store_explicit(&gc_epoch, e >= GC_EPOCH_MAX ? 1 : e + 1, memory_order_relaxed);
  _st_gc_mark_begin();
  allocated_at_start = atomic_load_explicit(&gc_allocated, memory_order_relaxed);
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    t->shaded_bytes = t->assist_debt = 0;
    t->scan_lo = NULL;
  }
  strata_gc_marking_flag = 1 | 2;                   /* bit 1 cleared below once every stack is scanned */
  /* Small stacks are scanned right here, as if each thread's handshake came
   * at this moment (the barrier is on, every thread is stopped outside a
   * critical section): one stop per thread and cycle fewer.  Only up to
   * GC_STOP_SCAN bytes of stack in all, so the stop stays short; the rest
   * get a handshake of their own. */
  size_t budget = GC_STOP_SCAN;
  bool every = true;
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    size_t n = _st_gc_stack_bytes(t);
    t->scanned = n <= budget;
    if (t->scanned) { budget -= n; _st_gc_mark_thread(t); }
    else every = false;
  }
  /* A snapshot: when every stack fits, the registered ranges are scanned
   * in this stop too.  Then everything reachable right now is shaded or
   * reachable from a shaded object, every later cut of a heap path goes
   * through the barrier (deletion half), and stores into stacks and ranges
   * -- barriered or not -- only change memory already scanned: the
   * termination need not scan these stacks and ranges again (once per
   * cycle, as the design asks).  Otherwise it rescans them all. */
  bool snapshot = every && _st_gc_ranges_bytes() <= budget;
  if (snapshot) _st_gc_mark_ranges();
  atomic_store_explicit(&gc_rescan, !snapshot, memory_order_relaxed);
  all_scanned();
  _st_gc_start_world();
  pthread_mutex_unlock(&gc_fin_lock);
  pthread_mutex_unlock(&gc_world);
  pthread_mutex_unlock(&gc_lock);
}

/* A range was added or a stack switched while marking: this cycle is no
 * longer a snapshot.  _locked: the caller holds gc_world. */
void _st_gc_rescan_now_locked(void) {
  atomic_store_explicit(&gc_rescan, 1, memory_order_relaxed);
  if (strata_gc_marking_flag) strata_gc_marking_flag = 1 | 2;   /* every store shades its value */
}
void _st_gc_rescan_now(void) {
  pthread_mutex_lock(&gc_world);
  _st_gc_rescan_now_locked();
  pthread_mutex_unlock(&gc_world);
}

/* Shade buffers handed over before the termination stop (cycle_mark). */
#define GC_FLUSH_ROUNDS 1
#define GC_FLUSH_WAIT_NS ((uint64_t)1000000)
_Atomic unsigned gc_flush_gen;

/* Has every running registered thread answered flush request g?  (Threads
 * in blocking regions cannot; the termination stop takes theirs.) */
static bool flushes_answered(unsigned g) {
  bool all = true;
  pthread_mutex_lock(&gc_world);
  for (gc_thread_t *t = gc_threads; t && all; t = t->next)
    if (!t->blocking && atomic_load_explicit(&t->flush_seen, memory_order_relaxed) != g) all = false;
  pthread_mutex_unlock(&gc_world);
  return all;
}

/* Steps 3 and 4. */
static void cycle_mark(void) {
  /* no snapshot (or it was spoiled since): handshakes for the threads not
   * scanned yet, then the ranges */
  if (atomic_load_explicit(&gc_rescan, memory_order_relaxed)) {
    pthread_mutex_lock(&gc_world);
    for (gc_thread_t *t = gc_threads; t; t = t->next)
      if (!t->scanned) _st_gc_handshake(t, cb_mark_thread, NULL);
    all_scanned();
    pthread_mutex_unlock(&gc_world);
    pthread_mutex_lock(&gc_lock);
    _st_gc_mark_ranges();
    pthread_mutex_unlock(&gc_lock);
  }
  pthread_mutex_lock(&gc_fin_lock);
  _st_gc_mark_fin_roots();
  pthread_mutex_unlock(&gc_fin_lock);
  for (int round = 0;; ) {
    _st_gc_drain(true);
    _st_gc_take_shaded();
    _st_gc_take_pool();
    if (_st_gc_mark_idle()) {
      /* Before the termination stop: ask the threads to hand over their
       * partly filled shade buffers (at their next barrier or allocation
       * slow path), give them GC_FLUSH_WAIT_NS to do it, and mark what
       * they hand over now, concurrently -- otherwise the stop marks it,
       * with every thread waiting (most of a 1 GiB heap's termination). */
      if (round++ >= GC_FLUSH_ROUNDS) break;
      unsigned g = atomic_fetch_add_explicit(&gc_flush_gen, 1, memory_order_release) + 1;
      uint64_t t0 = _st_gc_now();
      while (!flushes_answered(g) && _st_gc_now() - t0 < GC_FLUSH_WAIT_NS) sched_yield();
      continue;
    }
    if (_st_gc_mark_waiting()) sched_yield();     /* only assists hold work: let them finish */
  }
}

/* Step 5. */
static void cycle_finish(void) {
  pthread_mutex_lock(&gc_lock);
  pthread_mutex_lock(&gc_world);
  pthread_mutex_lock(&gc_fin_lock);
  _st_gc_stop_world();
  size_t shaded = 0;
  /* Without a snapshot (or after a range was added or a stack switched
   * during the cycle) every stack and range is scanned again; with one,
   * only threads that registered since the first stop are scanned (once),
   * and the others just hand over their shade buffers. */
  bool rescan = atomic_load_explicit(&gc_rescan, memory_order_relaxed);
  if (rescan) { _st_gc_mark_ranges(); stack_rescans++; }
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    if (rescan || !t->scanned) _st_gc_mark_thread(t);
    else _st_gc_take_thread_shade(t);
    shaded += t->shaded_bytes;
  }
  _st_gc_mark_fin_roots();
  _st_gc_take_shaded();
  _st_gc_take_pool();                     /* what assists left (none is running) */
  _st_gc_drain(false);
  _st_gc_weak_clear(0);
  _st_gc_finalize_mark();
  _st_gc_drain(false);
  _st_gc_weak_clear(1);
  if (st_unlikely(_st_option(OPT_GC_DEBUG) >= 2) && _st_gc_verify_marks(rescan) != 0)
    _st_error("gc: marking missed reachable objects", NULL);
  strata_gc_marking_flag = 0;
  _st_gc_flush_caches();
  _st_gc_after_mark();
  /* The goal follows what was found live; what was allocated during the
   * cycle (born marked) is occupancy, not live: counting it as live would
   * let floating garbage raise every next goal. */
  size_t now = atomic_load_explicit(&gc_allocated, memory_order_relaxed);
  size_t during = now > allocated_at_start ? now - allocated_at_start : 0;
  mark_alloc = (mark_alloc + during) / 2;
  __atomic_store_n(&live_after, _st_gc_marked_bytes() + shaded, __ATOMIC_RELAXED);
  atomic_store_explicit(&gc_allocated, live_after + (now > allocated_at_start ? now - allocated_at_start : 0),
                        memory_order_relaxed);
  set_trigger(1);
  cycles++;
  _st_gc_start_world();
  pthread_mutex_unlock(&gc_fin_lock);
  pthread_mutex_unlock(&gc_world);
  _st_gc_purge(_st_gc_now(), 0);
  pthread_mutex_unlock(&gc_lock);
}

static void *collector_main(void *arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_mutex_lock(&cycle_lock);
  for (;;) {
    while (cycles_done >= cycles_requested) pthread_cond_wait(&cycle_cond, &cycle_lock);
    cycles_started++;
    pthread_mutex_unlock(&cycle_lock);
    uint64_t t0 = _st_gc_now();
    cycle_start();
    cycle_mark();
    cycle_finish();
    atomic_fetch_add_explicit(&mark_total, _st_gc_now() - t0, memory_order_relaxed);
    _st_gc_finalize_wake();
    /* background sweeping: batches taken off the lists under gc_lock and
     * swept without it, so allocation is not held up */
    while (_st_gc_sweep_some(32) != 0) {}
    pthread_mutex_lock(&cycle_lock);
    cycles_done++;
    pthread_cond_broadcast(&cycle_cond);
  }
  return NULL;
}

/* Ask for a cycle; with wait, for one that starts after this call, and wait
 * for its end, in a blocking region (the cycle's stops need not wait for
 * this thread).  Never called with gc_lock held when waiting. */
static void cycle_request(int wait) {
  if (wait) strata_gc_blocking_enter();
  pthread_mutex_lock(&cycle_lock);
  if (!collector_started) {
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &a, collector_main, NULL) == 0) collector_started = 1;
    pthread_attr_destroy(&a);
  }
  if (collector_started) {
    uint64_t want = wait ? cycles_started + 1 : cycles_done + 1;
    if (cycles_requested < want) cycles_requested = want;
    pthread_cond_broadcast(&cycle_cond);
    while (wait && cycles_done < want) pthread_cond_wait(&cycle_cond, &cycle_lock);
  }
  pthread_mutex_unlock(&cycle_lock);
  if (wait) strata_gc_blocking_leave();
}

/* A thread that has run twice past the trigger while a cycle marks (no
 * lock held): rather than sleep until the marking ends, it marks too, in
 * assist slices, for as long as grey objects can be had; a slice that
 * finds none asks the collector to share (assist_want) and the thread
 * yields before it looks again.  It gives up after GC_BEHIND_IDLE empty
 * looks in a row (the marking is down to what cannot be shared: the
 * collector's last objects, or the termination stop). */
#define GC_BEHIND_IDLE 32

/* One assist slice in a critical section; the bytes it scanned (0: no grey
 * object to take, or marking is over). */
static size_t assist_slice(gc_thread_t *t) {
  gc_cs_enter(t);
  size_t n = strata_gc_marking_flag ? _st_gc_assist(GC_ASSIST_SLICE) : 0;
  gc_cs_leave(t);
  return n;
}

static void behind_assist(void) {
  gc_thread_t *t = gc_self;
  if (t == NULL) return;
  for (int idle = 0; idle < GC_BEHIND_IDLE && strata_gc_marking_flag;) {
    size_t n = assist_slice(t);
    if (n) idle = 0;
    else { idle++; sched_yield(); }
  }
}

/* gc_lock held (the heap is full): drop it and wait for a cycle that starts
 * after this call to end. */
void _st_gc_collect_wait(void) {
  pthread_mutex_unlock(&gc_lock);
  cycle_request(1);
  _st_gc_lock_mutator();
}

/* The pacer, from the allocation slow path (gc_lock held).  At the trigger
 * a cycle is asked for -- or earlier, once half the room from live to the
 * goal is used, when the heap would have to grow: every span is in use
 * (or full of objects not yet found dead) and no free run is left, so
 * this allocation takes new memory from the OS.  What the last cycle
 * found live may have died since, and a cycle now lets the sweep recycle
 * it instead.  (GCBench's stretch tree: found live at 15.5 MiB while being
 * built, dead a moment later, and the heap grew to the goal of twice that
 * before the next cycle, in about half the runs: peak RSS 32-37 MiB
 * against 27.5 in the others.  Boehm's collector has a like rule: collect
 * rather than grow once enough was allocated.)  A heap at its extent's
 * high-water mark is not affected.  At the backstop (the collector has fallen
 * behind, or not started yet) the allocating thread marks alongside it
 * for as long as there is marking to share (behind_assist), then waits for
 * the cycle to end, its background sweep included.  (Waiting only for the
 * marking let a thread that is behind take fresh spans while the sweeper
 * held the swept-to-be ones in a batch: t_gc's steady heap grew from 8 to
 * 25 MiB.) */
void _st_gc_maybe_collect(size_t more) {
  size_t a = atomic_load_explicit(&gc_allocated, memory_order_relaxed) + more;
  if (disabled) return;
  if (a < trigger && (a <= gc_committed_spans + gc_free_bytes || a < live_after + (gc_heap_goal - live_after) / 2))
    return;
  int behind = a >= __atomic_load_n(&backstop, __ATOMIC_RELAXED);
  pthread_mutex_lock(&cycle_lock);
  int pending = cycles_requested > cycles_done;
  pthread_mutex_unlock(&cycle_lock);
  if (!pending) cycle_request(0);
  if (!behind) return;
  pthread_mutex_unlock(&gc_lock);
  pthread_mutex_lock(&cycle_lock);
  uint64_t want = cycles_requested;
  pthread_mutex_unlock(&cycle_lock);
  behind_assist();
  strata_gc_blocking_enter();                      /* the stops need not wait for us */
  pthread_mutex_lock(&cycle_lock);
  while (cycles_done < want) pthread_cond_wait(&cycle_cond, &cycle_lock);
  pthread_mutex_unlock(&cycle_lock);
  pthread_mutex_lock(&gc_lock);
  strata_gc_blocking_leave();
}

/* From the allocation slow path, gc_lock NOT held, marking on: the
 * thread is about to take `more` bytes; if allocation has run past
 * assist_start, it pays for them with marking work first. */
void _st_gc_assist_maybe(gc_thread_t *t, size_t more) {
  size_t a = atomic_load_explicit(&gc_allocated, memory_order_relaxed);
  if (a < __atomic_load_n(&assist_start, __ATOMIC_RELAXED)) return;
  /* proportional: the marking left (estimated from the last cycle's live
   * bytes) over the room left before the goal, so that marking ends about
   * when the heap reaches the goal; at least GC_ASSIST_RATIO */
  size_t live = __atomic_load_n(&live_after, __ATOMIC_RELAXED), g = __atomic_load_n(&assist_goal, __ATOMIC_RELAXED);
  size_t marked = _st_gc_marked_bytes();
  size_t todo = live > marked ? live - marked : GC_ASSIST_SLICE;
  size_t room = g > a + more ? g - a - more : 0;
  size_t debt = more * GC_ASSIST_RATIO;
  if (room < todo / GC_ASSIST_RATIO)
    debt = room >= todo / GC_ASSIST_MAX_RATIO ? (size_t)((double)todo / (double)room * (double)more)
                                              : more * GC_ASSIST_MAX_RATIO;
  t->assist_debt += debt;
  while (t->assist_debt > 0 && strata_gc_marking_flag) {
    size_t n = assist_slice(t);
    if (n == 0) break;                              /* no grey object to take: go on */
    t->assist_debt -= n < t->assist_debt ? n : t->assist_debt;
  }
  if (t->assist_debt > GC_ASSIST_CARRY) t->assist_debt = GC_ASSIST_CARRY;
}

/* ---- the API ------------------------------------------------------------------- */

STRATA_API void strata_gc_collect(void) {
  if (gc_thread() == NULL) return;
  cycle_request(1);
}

/* The barrier while marking (the store is done: see gc.h).  The deletion
 * half always: the old target was reachable at the snapshot and may now be
 * held only by a stack the marker has already scanned.  The insertion half
 * only while this thread's stack is unscanned in this cycle (t->scanned 0):
 * until then its stack may hold a white object that this store hides in a
 * black one; once scanned, every white object the thread can reach it got
 * from the heap, along a path whose cutting shades it (the deletion half),
 * as in Go's hybrid barrier -- with one exception: a cycle without a
 * snapshot (gc_rescan) shades the stored value for every thread, since a
 * scanned thread may hold a white object it read from a root range that
 * was scanned later, or stored there by a thread not yet scanned, and
 * range stores need no barrier (a black object would hide it; the
 * termination rescans stacks and ranges, not heap objects).  Since the inline part stores before it tests
 * the flag, no store is left unbarriered after the first stop.  (The
 * insertion half had been hiding a scan gap -- rbp saved mangled by setjmp
 * at a deferred stop, world.c -- that lost objects in 2-7 of 12 torture
 * runs when it was first skipped; with that fixed, 0 of 64.)  All of it in
 * a critical section: a stop waits for its end. */
STRATA_API void strata_gc_write_shade(void *obj, void *old, void *value) {
  (void)obj;
  gc_thread_t *t = gc_self;
  if (t == NULL) return;                            /* not registered: nothing to shade into */
  gc_cs_enter(t);
  if (strata_gc_marking_flag) {
    if (old) _st_gc_shade(t, old);
    if (value && (!t->scanned || atomic_load_explicit(&gc_rescan, memory_order_relaxed))) _st_gc_shade(t, value);
    _st_gc_shade_flush_if_asked(t);
  }
  gc_cs_leave(t);
}

STRATA_API int strata_gc_set_goal(int percent) {
  gc_ensure_init();
  if (percent < -1) percent = -1;
  pthread_mutex_lock(&gc_lock);
  int old = goal;
  goal = percent;
  set_trigger(0);
  pthread_mutex_unlock(&gc_lock);
  return old;
}

STRATA_API size_t strata_gc_set_limit(size_t bytes) {
  gc_ensure_init();
  pthread_mutex_lock(&gc_lock);
  size_t old = soft_limit;
  soft_limit = bytes;
  set_trigger(0);
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
  if (strata_gc_marking_flag) _st_gc_rescan_now();
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
  st->stack_rescans = stack_rescans;
  st->heap_live = live_after;
  st->heap_allocated = atomic_load(&gc_allocated);
  st->heap_goal = trigger;
  st->heap_committed = gc_committed_spans + gc_free_bytes;
  st->heap_limit = soft_limit;
  st->objects_allocated = atomic_load(&gc_nobjects);
  st->objects_freed = atomic_load(&gc_nfreed);
  pthread_mutex_lock(&pause_lock);
  st->pause_total_ns = pause_total;
  st->pause_max_ns = pause_max;
  st->pause_max_ack_ns = pause_max_ack;
  st->stops_taken_back = atomic_load_explicit(&gc_stops_taken_back, memory_order_relaxed);
  st->pauses = pauses;
  memcpy(st->pause_hist, pause_hist, sizeof pause_hist);
  pthread_mutex_unlock(&pause_lock);
  st->mark_ns = atomic_load_explicit(&mark_total, memory_order_relaxed);
  st->sweep_ns = atomic_load(&gc_sweep_ns);
  st->assist_bytes = atomic_load(&gc_assist_bytes);
  st->assist_ns = atomic_load(&gc_assist_ns);
  pthread_mutex_unlock(&gc_lock);
  pthread_mutex_lock(&gc_fin_lock);
  st->finalizers_run = gc_finalizers_run;
  st->weak_cleared = gc_weak_cleared;
  pthread_mutex_unlock(&gc_fin_lock);
  return 0;
}

STRATA_API void strata_gc_stats_reset(void) {
  if (!atomic_load(&gc_ready)) return;
  pthread_mutex_lock(&gc_lock);
  atomic_store_explicit(&mark_total, 0, memory_order_relaxed);
  atomic_store(&gc_sweep_ns, 0);
  atomic_store(&gc_assist_bytes, 0);
  atomic_store(&gc_assist_ns, 0);
  pthread_mutex_lock(&pause_lock);
  pauses = 0;
  pause_total = pause_max = pause_max_ack = 0;
  memset(pause_hist, 0, sizeof pause_hist);
  pthread_mutex_unlock(&pause_lock);
  pthread_mutex_unlock(&gc_lock);
}

STRATA_API size_t strata_gc_pause_log(uint64_t *ns, size_t max, size_t *dropped) {
  pthread_mutex_lock(&pause_lock);
  size_t kept = pauses < STRATA_GC_PAUSE_LOG ? pauses : STRATA_GC_PAUSE_LOG;
  size_t first = pauses - kept;                     /* the oldest pause still logged */
  size_t n = ns == NULL ? 0 : kept < max ? kept : max;
  for (size_t i = 0; i < n; i++) ns[i] = plog[(first + i) % STRATA_GC_PAUSE_LOG];
  if (dropped) *dropped = first;
  pthread_mutex_unlock(&pause_lock);
  return n;
}

STRATA_API uint64_t strata_gc_pause_percentile(const strata_gc_stats_t *st, double pct) {
  if (st == NULL || st->pauses == 0) return 0;
  double want = pct / 100.0 * (double)st->pauses;
  size_t seen = 0;
  for (unsigned b = 0; b < STRATA_GC_PAUSE_BUCKETS; b++) {
    seen += st->pause_hist[b];
    if ((double)seen >= want && st->pause_hist[b]) {
      uint64_t hi = strata_gc_pause_bucket_ns(b);
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
  fprintf(fp, "  pauses %zu: total %.3f ms, max %.3f ms (%.3f ms of it waiting for threads to answer), p50 <= %.3f ms, p99 <= %.3f ms; mark %.3f ms, sweep %.3f ms\n",
          st.pauses, (double)st.pause_total_ns / 1e6, (double)st.pause_max_ns / 1e6, (double)st.pause_max_ack_ns / 1e6,
          (double)strata_gc_pause_percentile(&st, 50) / 1e6, (double)strata_gc_pause_percentile(&st, 99) / 1e6,
          (double)st.mark_ns / 1e6, (double)st.sweep_ns / 1e6);
  fprintf(fp, "  mark assists: %zu bytes scanned, %.3f ms; %zu cycles rescanned every stack at termination; "
          "%zu stops taken back\n",
          st.assist_bytes, (double)st.assist_ns / 1e6, st.stack_rescans, st.stops_taken_back);
}
