/* Threads: the registry, stopping and restarting them, blocking regions,
 * shadow-stack frames and fiber stacks.
 *
 * Stop protocol (the collector holds gc_lock and gc_world):
 *   1. for every registered thread t but the caller, not in a blocking
 *      region: pthread_kill(t, SIG_SUSPEND); then wait for as many acks;
 *   2. t's handler (SA_SIGINFO, SIG_RESUME blocked while it runs):
 *        - if t->in_alloc: set t->stop_pending and return; the allocation
 *          fast path calls _st_gc_safepoint() when it leaves (same steps);
 *        - else copy the interrupted registers into t->regs, set t->stop_sp
 *          to the interrupted stack pointer (minus the red zone), post the
 *          ack semaphore and sigsuspend until its t->resume_gen changes;
 *   3. restart: t->resume_gen++, then SIG_RESUME to every stopped thread
 *      that went to sleep (the handler does nothing; it only ends
 *      sigsuspend; a signal that comes early stays pending and ends it at
 *      once).  Both sides spin for a while before they sleep (spin_while):
 *      a stop is short, and a sleeping thread must be rescheduled to go on.
 * A *handshake* (_st_gc_handshake) is the same for one thread: stop it, run
 * a function on its saved state (scan its stack), restart it.  The others
 * run on; only the thread handshaken waits, for as long as the function.
 * sem_post, sigsuspend and pthread_sigmask are async-signal-safe; the
 * handler saves and restores errno.
 *
 * Blocking regions: enter saves the registers (setjmp into t->regs) and the
 * stack pointer and sets t->blocking under gc_world; leave clears it under
 * gc_world, so it waits while a collection has the world stopped (and may
 * be reading that stack).
 *
 * Registration: a thread is registered by its first GC allocation or by
 * strata_gc_register_thread; a pthread key destructor unregisters it at
 * exit (its cached spans go back under gc_lock first).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <semaphore.h>
#include <setjmp.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include "gc/internal.h"

/* setjmp here only spills the registers into a buffer that is scanned; no
 * longjmp ever returns to it, so no local can be clobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define SIG_SUSPEND SIGPWR
#define SIG_RESUME  SIGXCPU
#define RED_ZONE    128

/* A thread of strata's own that runs program code and takes part in stops
 * (the finalizer thread): it was created by the collector, which blocks
 * every signal, and would inherit that, so a stop would wait for it
 * forever while it ran a finalizer (found by review, 2026-11-28: a
 * strata_gc_collect during a finalizer hung the process).  Every signal
 * stays blocked but the stop signals and the synchronous faults. */
void _st_gc_stoppable_thread_mask(void) {
  sigset_t m;
  sigfillset(&m);
  sigdelset(&m, SIG_SUSPEND);
  sigdelset(&m, SIG_RESUME);
  sigdelset(&m, SIGSEGV);
  sigdelset(&m, SIGBUS);
  sigdelset(&m, SIGFPE);
  sigdelset(&m, SIGILL);
  sigdelset(&m, SIGABRT);
  sigdelset(&m, SIGTRAP);
  pthread_sigmask(SIG_SETMASK, &m, NULL);
}

__thread gc_thread_t *gc_self;
gc_thread_t *gc_threads;
pthread_mutex_t gc_world = PTHREAD_MUTEX_INITIALIZER;
static sem_t ack_sem;
static pthread_key_t thread_key;
static gc_thread_t *recycled;          /* unregistered thread structs (gc_world) */

ST_INTERNAL void _st_gc_thread_flush(gc_thread_t *t);

/* Spin for up to GC_SPIN_NS while *v == old; true if it changed.  Stops
 * are short (tens of microseconds), and a thread that goes to sleep for one
 * must then be woken and rescheduled: on a loaded machine that costs
 * milliseconds (another process takes the CPU meanwhile), on both sides of
 * the stop.  So both sides spin first and sleep only after the budget. */
#define GC_SPIN_NS 200000
/* Spinning pays only while every thread that takes part in a stop (the
 * registered ones and the collector) can have a core: otherwise a spinning
 * thread keeps the collector off one and lengthens the stop it waits for.
 * spin_ok is set at each registration change (gc_world). */
static int ncpus = 1, nregistered;
static volatile int spin_ok;
static void spin_update(void) { spin_ok = nregistered + 1 <= ncpus; }

static bool spin_while(volatile sig_atomic_t *v, sig_atomic_t old) {
  if (!spin_ok) return __atomic_load_n(v, __ATOMIC_ACQUIRE) != old;
  uint64_t t0 = 0;
  for (unsigned i = 1;; i++) {
    if (__atomic_load_n(v, __ATOMIC_ACQUIRE) != old) return true;
    __builtin_ia32_pause();
    if ((i & 63) == 0) {
      uint64_t now = _st_gc_now();             /* clock_gettime: async-signal-safe */
      if (t0 == 0) t0 = now;
      else if (now - t0 > GC_SPIN_NS) return false;
    }
  }
}

/* Wait, with SIG_RESUME blocked on entry, until t is restarted: spin, then
 * sleep.  `sleeping` tells the collector a signal is needed: it stores
 * resume_gen, then reads sleeping; we store sleeping, then read resume_gen
 * (both sequentially consistent), so at least one of us sees the other's
 * store and the signal is never lost (a signal sent before sigsuspend stays
 * pending, since SIG_RESUME is blocked here, and ends it at once). */
static void wait_for_restart(gc_thread_t *t, sig_atomic_t gen) {
  if (spin_while(&t->resume_gen, gen)) return;
  sigset_t wait_mask;
  pthread_sigmask(SIG_BLOCK, NULL, &wait_mask);
  sigdelset(&wait_mask, SIG_RESUME);
  __atomic_store_n(&t->sleeping, 1, __ATOMIC_SEQ_CST);
  while (__atomic_load_n(&t->resume_gen, __ATOMIC_SEQ_CST) == gen) sigsuspend(&wait_mask);
  __atomic_store_n(&t->sleeping, 0, __ATOMIC_RELAXED);
}

/* Was request req taken back -- it, or a later one?  stop_cancel only
 * grows: a take-back sets it to the thread's latest request, and every
 * request after that is above it.  So any req <= stop_cancel is dead: the
 * collector waits for none of them (only for a request above stop_cancel).
 * "== req" was not enough: a thread that read its request and then lost
 * its core for longer than one try (300 us + up to 20 ms) found the next
 * try's number in stop_cancel, acknowledged the stale request and slept in
 * its handler (SIG_SUSPEND blocked), while the collector waited, with no
 * deadline after GC_STOP_TRIES, for the ack of a later one: a hang. */
static bool stop_taken_back(gc_thread_t *t, sig_atomic_t req) {
  unsigned c = (unsigned)__atomic_load_n(&t->stop_cancel, __ATOMIC_SEQ_CST);
  return (int)(c - (unsigned)req) >= 0;            /* c >= req, wrap-safe */
}

/* The stop itself, in t's own context (the handler, or a deferred stop at
 * the end of a critical section): publish the saved state, acknowledge the
 * request it answers (stop_ack = stop_req: the collector waits for exactly
 * that, so a stray signal or a stale ack can never pass for a stop), and
 * wait to be restarted.  SIG_SUSPEND and SIG_RESUME are blocked here. */
static void stop_here(gc_thread_t *t, sig_atomic_t req) {
  sig_atomic_t gen = t->resume_gen;
  __atomic_store_n(&t->stop_seen, req, __ATOMIC_RELAXED);
  if (stop_taken_back(t, req)) return;   /* taken back (a newer request, if any, is pending) */
  __atomic_store_n(&t->stop_ack, req, __ATOMIC_SEQ_CST);     /* publishes the state */
  sem_post(&ack_sem);
  /* taken back after all (the collector stores stop_cancel, then reads
   * stop_ack; we store stop_ack, then read stop_cancel: one of us sees the
   * other, and if the collector saw the ack it restarts us; a later value
   * than req means req was taken back too, unseen) */
  if (stop_taken_back(t, req)) return;
  wait_for_restart(t, gen);
}

static void suspend_handler(int sig, siginfo_t *info, void *ctx) {
  (void)sig; (void)info;
  int saved = errno;
  gc_thread_t *t = gc_self;
  sig_atomic_t req = t ? t->stop_req : 0;
  if (t == NULL || t->stop_ack == req) { errno = saved; return; }   /* nothing asked */
  if (t->in_alloc) { t->stop_pending = 1; errno = saved; return; }
  ucontext_t *uc = ctx;
  size_t n = sizeof uc->uc_mcontext.gregs < sizeof t->regs ? sizeof uc->uc_mcontext.gregs : sizeof t->regs;
  memcpy(t->regs, uc->uc_mcontext.gregs, n);
  memset(t->regs + n, 0, sizeof t->regs - n);      /* nothing stale from an older stop */
  t->stop_sp = (uint8_t *)uc->uc_mcontext.gregs[REG_RSP] - RED_ZONE;
  stop_here(t, req);
  errno = saved;
}

static void resume_handler(int sig) { (void)sig; }


ST_NOINLINE uint8_t *_st_gc_sp_below(void) {
  uint8_t *sp = __builtin_frame_address(0);
  __asm__ volatile("" : : "r"(sp) : "memory");     /* a real call, a frame of its own */
  return sp;
}

void _st_gc_safepoint(void) {
  /* Every callee-saved register of the interrupted code is saved in this
   * frame by the prologue (scanned: the stack is read from below it, see
   * _st_gc_sp_below).  setjmp alone is not enough: glibc stores rbp (and
   * rsp, pc) mangled in the jmp_buf, so an object the caller held in rbp --
   * the allocation fast path keeps the new object there -- was invisible
   * to the scan. */
  __builtin_unwind_init();
  gc_thread_t *t = gc_self;
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIG_RESUME);
  sigaddset(&block, SIG_SUSPEND);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  t->stop_pending = 0;
  sig_atomic_t req = t->stop_req;
  if (t->stop_ack != req) {
    jmp_buf regs;
    memset(&regs, 0, sizeof regs);                 /* setjmp leaves the signal-mask part
                                                      unwritten: stale stack words */
    setjmp(regs);
    size_t n = sizeof regs < sizeof t->regs ? sizeof regs : sizeof t->regs;
    memcpy(t->regs, &regs, n);
    /* the rest of t->regs held an older stop's registers (or a blocking
     * region's frame): scanned as roots, and reported by gc_debug=2's walk
     * as unmarked objects "in saved registers" after a snapshot */
    memset(t->regs + n, 0, sizeof t->regs - n);
    t->stop_sp = _st_gc_sp_below();
    stop_here(t, req);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- stop and restart ------------------------------------------------------- */

static uint64_t stop_started, stop_acked;

/* Stop t (not the caller); false if it cannot be signalled (exited). */
/* Ask t to stop (not the caller); false if it cannot be signalled. */
static bool stop_one(gc_thread_t *t) {
  t->stop_req++;
  if (pthread_kill(t->tid, SIG_SUSPEND) == 0) return true;
  t->stop_ack = t->stop_req;
  t->stop_sp = NULL;                              /* gone: nothing to scan */
  return false;
}
/* Wait until t has answered its latest request, or until `deadline`
 * (_st_gc_now() time; 0: none).  True if it answered. */
static bool wait_stopped(gc_thread_t *t, uint64_t deadline) {
  uint64_t t0 = _st_gc_now();
  while (spin_ok && __atomic_load_n(&t->stop_ack, __ATOMIC_ACQUIRE) != t->stop_req && _st_gc_now() - t0 < GC_SPIN_NS)
    for (int i = 0; i < 64; i++) __builtin_ia32_pause();
  while (__atomic_load_n(&t->stop_ack, __ATOMIC_ACQUIRE) != t->stop_req) {
    uint64_t wait = 2000000, now = _st_gc_now();
    if (deadline) {
      if (now >= deadline) return false;
      if (deadline - now < wait) wait = deadline - now;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)wait;
    if (ts.tv_nsec >= 1000000000) { ts.tv_sec++; ts.tv_nsec -= 1000000000; }
    sem_timedwait(&ack_sem, &ts);                  /* posts only wake us; the ack decides */
  }
  return true;
}
static void restart_one(gc_thread_t *t) {
  __atomic_store_n(&t->resume_gen, t->resume_gen + 1, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(&t->sleeping, __ATOMIC_SEQ_CST)) pthread_kill(t->tid, SIG_RESUME);
}

/* Taking a stop back.  A thread that is not on a CPU answers a stop only
 * once the scheduler runs it again: on a loaded machine, milliseconds,
 * while every thread that did answer waits with it (one stop of 2.2 ms
 * and one of 3.9 ms on the 1 GiB pause benchmark, where stops are
 * otherwise 100-250 us).  So a stop that is not complete within
 * GC_STOP_PATIENCE_NS is taken back: every request is cancelled
 * (stop_cancel; a thread that sees its request cancelled does not stop,
 * and one that stopped anyway is restarted), the collector waits -- no
 * thread stopped -- until each late thread has run its handler (stop_seen:
 * it has a CPU now), and asks again.  Nothing was done while the world
 * was stopped, so nothing is undone.  After GC_STOP_TRIES attempts it
 * waits for as long as it takes.  Each attempt taken back counts as a
 * pause (the threads that answered were stopped that long). */
#define GC_STOP_PATIENCE_NS 300000
#define GC_STOP_TRIES 8
#define GC_STOP_SEEN_WAIT_NS 20000000

_Atomic size_t gc_stops_taken_back;

static void stop_take_back(gc_thread_t *me) {
  atomic_fetch_add_explicit(&gc_stops_taken_back, 1, memory_order_relaxed);
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    if (t == me || t->blocking) continue;
    __atomic_store_n(&t->stop_cancel, t->stop_req, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&t->stop_ack, __ATOMIC_SEQ_CST) == t->stop_req) restart_one(t);
  }
  uint64_t stopped = _st_gc_now() - stop_started;
  _st_gc_pause_record(stopped, stopped);
  /* until every late thread has looked at its request (sleeping: no stop) */
  uint64_t t0 = _st_gc_now();
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    if (t == me || t->blocking) continue;
    while (__atomic_load_n(&t->stop_seen, __ATOMIC_ACQUIRE) != t->stop_req &&
           __atomic_load_n(&t->stop_ack, __ATOMIC_ACQUIRE) != t->stop_req &&
           _st_gc_now() - t0 < GC_STOP_SEEN_WAIT_NS) {
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
    }
  }
}

void _st_gc_stop_world(void) {
  gc_thread_t *me = gc_self;
  for (int attempt = 1;; attempt++) {
    stop_started = _st_gc_now();
    /* gc_debug=2 (the torture test) takes back nearly every stop's first
     * three attempts: the races of taking back get exercised */
    uint64_t patience = _st_option(OPT_GC_DEBUG) >= 2 && attempt < 4 ? 10000 : GC_STOP_PATIENCE_NS;
    uint64_t deadline = attempt < GC_STOP_TRIES ? stop_started + patience : 0;
    for (gc_thread_t *t = gc_threads; t; t = t->next)
      if (t != me && !t->blocking) stop_one(t);
    bool all = true;
    for (gc_thread_t *t = gc_threads; t && all; t = t->next)
      if (t != me && !t->blocking && !wait_stopped(t, deadline)) all = false;
    if (all) break;
    stop_take_back(me);
  }
  stop_acked = _st_gc_now();
}

void _st_gc_start_world(void) {
  gc_thread_t *me = gc_self;
  for (gc_thread_t *t = gc_threads; t; t = t->next)
    if (t != me && !t->blocking && t->stop_sp) restart_one(t);
  _st_gc_pause_record(_st_gc_now() - stop_started, stop_acked - stop_started);
}

/* Stop t alone, run fn on it, restart it (gc_world held; t != caller).  A
 * thread in a blocking region is not stopped: its state was saved at
 * enter, and gc_world keeps it from leaving meanwhile. */
void _st_gc_handshake(gc_thread_t *t, void (*fn)(gc_thread_t *t, void *arg), void *arg) {
  if (t->blocking) { fn(t, arg); return; }
  uint64_t t0 = _st_gc_now();
  if (!stop_one(t)) return;
  wait_stopped(t, 0);
  uint64_t acked = _st_gc_now();
  fn(t, arg);
  restart_one(t);
  _st_gc_pause_record(_st_gc_now() - t0, acked - t0);
}

/* ---- registration ------------------------------------------------------------- */

static void stack_bounds(gc_thread_t *t) {
  pthread_attr_t a;
  void *addr = NULL;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_destroy(&a);
  }
  if (addr == NULL) {                              /* unknown: from here, 1 MiB up */
    addr = (void *)((uintptr_t)__builtin_frame_address(0) - 4096);
    size = (size_t)1 << 20;
  }
  t->stack_lo = addr;
  t->stack_hi = (uint8_t *)addr + size;
}

/* Unlink the caller's t.  Until it is unlinked (under gc_world) the thread
 * stays stoppable: gc_self must still be set, or the stop handler would
 * not answer a collector that is waiting for it. */
static void unregister(gc_thread_t *t) {
  pthread_mutex_lock(&gc_lock);
  _st_gc_thread_flush(t);
  _st_gc_shade_handoff(t);              /* what it shaded must still be scanned */
  pthread_mutex_lock(&gc_world);
  if (t->prev) t->prev->next = t->next; else gc_threads = t->next;
  if (t->next) t->next->prev = t->prev;
  if (gc_self == t) gc_self = NULL;
  t->next = recycled;
  recycled = t;
  nregistered--;
  spin_update();
  pthread_mutex_unlock(&gc_world);
  pthread_mutex_unlock(&gc_lock);
}

static void thread_exit(void *arg) { unregister(arg); }

gc_thread_t *_st_gc_thread_slow(void) {
  gc_ensure_init();
  if (gc_self) return gc_self;
  pthread_mutex_lock(&gc_world);
  gc_thread_t *t = recycled;
  if (t) recycled = t->next;
  pthread_mutex_unlock(&gc_world);
  if (t == NULL) t = _st_os_alloc(st_align_up(sizeof *t, _st_os_page_size()), 0);
  if (t == NULL) return NULL;
  memset(t, 0, sizeof *t);
  t->tid = pthread_self();
  stack_bounds(t);
  pthread_mutex_lock(&gc_world);
  t->next = gc_threads;
  if (gc_threads) gc_threads->prev = t;
  gc_threads = t;
  nregistered++;
  spin_update();
  gc_self = t;
  if (strata_gc_marking_flag) strata_gc_marking_flag = 1 | 2;  /* its stack is unscanned (scanned = 0) */
  pthread_mutex_unlock(&gc_world);
  pthread_setspecific(thread_key, t);
  return t;
}

STRATA_API int strata_gc_register_thread(void) {
  return gc_thread() ? 0 : -1;
}

STRATA_API void strata_gc_unregister_thread(void) {
  gc_thread_t *t = gc_self;
  if (t == NULL) return;
  pthread_setspecific(thread_key, NULL);
  unregister(t);
}

STRATA_API void strata_gc_set_stack(void *lo, void *hi) {
  gc_thread_t *t = gc_thread();
  if (t == NULL) return;
  uint8_t here;                       /* below the caller's frames */
  pthread_mutex_lock(&gc_world);
  t->alt_lo = lo;
  t->alt_hi = hi;
  /* Left from the thread's own stack: its frames there are suspended, not
   * dead, and stay a root while the thread runs on the fiber (they were
   * dropped, and an object held only by the caller's frame was freed:
   * found by review, 2026-11-28). */
  if (lo == NULL) t->own_sp = NULL;
  else if (&here >= t->stack_lo && &here < t->stack_hi) t->own_sp = &here;
  /* the new stack was not in this cycle's snapshot */
  if (strata_gc_marking_flag) _st_gc_rescan_now_locked();
  pthread_mutex_unlock(&gc_world);
}

/* The caller's callee-saved registers may hold GC pointers for the whole
 * region; once this returns they live in registers or in the frames of
 * whatever it calls next (below the point scanned).  So the prologue is
 * made to save every one of them in this frame (__builtin_unwind_init),
 * before anything here can change them, and this frame -- saved registers
 * and locals, from the frame below down here up to the frame address -- is
 * copied into t->regs, which a collection scans.  (A setjmp here captured
 * them only after the prologue had reused some.)  The scan of the stack
 * itself starts at this frame: the caller's frames lie above it. */
STRATA_API void strata_gc_blocking_enter(void) {
  __builtin_unwind_init();
  gc_thread_t *t = gc_thread();
  if (t == NULL) return;
  pthread_mutex_lock(&gc_world);
  uint8_t *hi = __builtin_frame_address(0), *lo = _st_gc_sp_below();
  size_t n = (size_t)(hi - lo);
  if (n > sizeof t->regs) { lo = hi - sizeof t->regs; n = sizeof t->regs; }  /* keep the part nearest hi */
  memcpy(t->regs, lo, n);
  memset(t->regs + n, 0, sizeof t->regs - n);
  t->stop_sp = hi;
  t->blocking = 1;
  pthread_mutex_unlock(&gc_world);
}

STRATA_API void strata_gc_blocking_leave(void) {
  gc_thread_t *t = gc_self;
  if (t == NULL) return;
  pthread_mutex_lock(&gc_world);
  t->blocking = 0;
  pthread_mutex_unlock(&gc_world);
}

/* gc_lock for a mutator (registered, outside any critical section).  When
 * it is busy -- most often because the collector holds it to stop the
 * world -- the thread waits in a blocking region: the collector neither
 * signals it nor waits for it to be scheduled, answer and sleep again,
 * which on a loaded machine made the stop as long as the scheduler liked.
 * Order: gc_lock is taken inside the region, and gc_world after it (in
 * blocking_leave), the collector's order too. */
void _st_gc_lock_mutator(void) {
  if (pthread_mutex_trylock(&gc_lock) == 0) return;
  strata_gc_blocking_enter();
  pthread_mutex_lock(&gc_lock);
  strata_gc_blocking_leave();
}

STRATA_API void strata_gc_push_frame(strata_gc_frame_t *f) {
  gc_thread_t *t = gc_thread();
  if (t == NULL) return;
  f->prev = t->frames;
  atomic_signal_fence(memory_order_seq_cst);
  t->frames = f;
}

STRATA_API void strata_gc_pop_frame(strata_gc_frame_t *f) {
  gc_thread_t *t = gc_self;
  if (t == NULL || t->frames != f) { _st_error("strata_gc_pop_frame(): not the innermost frame", f); return; }
  t->frames = f->prev;
}

void _st_gc_world_init(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  ncpus = n > 0 ? (int)n : 1;
  sem_init(&ack_sem, 0, 0);
  pthread_key_create(&thread_key, thread_exit);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sa.sa_sigaction = suspend_handler;
  sigfillset(&sa.sa_mask);                         /* nothing interrupts the handler */
  sigdelset(&sa.sa_mask, SIGSEGV);
  sigdelset(&sa.sa_mask, SIGBUS);
  sigaction(SIG_SUSPEND, &sa, NULL);
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_RESTART;
  sa.sa_handler = resume_handler;
  /* A restart signal can arrive after the stop already ended (the waiter
   * saw resume_gen change first); a stop must not nest inside its handler. */
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIG_SUSPEND);
  sigaction(SIG_RESUME, &sa, NULL);
}

/* In a fork child only the forking thread lives: forget the others (their
 * cached spans go back to the lists). */
void _st_gc_world_fork_child(void) {
  pthread_mutex_init(&gc_world, NULL);
  sem_init(&ack_sem, 0, 0);
  gc_thread_t *me = gc_self, *next;
  for (gc_thread_t *t = gc_threads; t; t = next) {
    next = t->next;
    if (t == me) continue;
    _st_gc_thread_flush(t);
    if (t->prev) t->prev->next = t->next; else gc_threads = t->next;
    if (t->next) t->next->prev = t->prev;
  }
  if (me) me->tid = pthread_self();
  nregistered = me != NULL;
  spin_update();
}
