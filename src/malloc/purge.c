/* The purge thread: gives freed memory back to the OS on time while the
 * program is idle.
 *
 * Without it, purging happens inside the program's own calls (span frees,
 * malloc_trim, strata_purge): a program that frees a lot and then sleeps
 * would keep its RSS.  The thread is optional (option purge_thread=0 turns
 * it off) and lazy: it is created the first time there is something to
 * purge later (dirty free slices or a parked large mapping), never in a
 * program that never frees memory.  It does only what a caller could do:
 * the page heap's and the large cache's timed expiry, under their locks,
 * and the retired heaps' expiry.
 * It never touches a live thread's pages (their owners' fast paths take no
 * lock); it abandons exited threads' retired heaps once they waited
 * purge_ms (heap.c), as any malloc slow path may.
 * It is created only once 16 MiB or more wait to be purged, blocks every
 * signal, and leaves as soon as it is the last thread of the process (a
 * main thread that called pthread_exit), so it never keeps a process alive.
 *
 * States (pt_state): 0 not started, 1 running, 2 could not start (never
 * retried).  While running it sleeps a tick (purge_ms/2, 10 ms .. 1 s)
 * while anything is pending, else waits on pt_cond until kicked.  A kick
 * takes pt_lock only when the thread is waiting (pt_waiting), so the common
 * kick is two relaxed loads.  A fork child starts with no thread (state 0).
 * A kick may come with strata locks held (a span freed under the orphan or
 * abandoned lock), and creating a thread allocates; so a kick only sets
 * pt_wanted, and _st_purge_poll, called where no strata lock is held (the
 * free slow path that retired a span, the malloc slow path, large frees),
 * starts the thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "malloc/internal.h"

/* A program that never has this much to purge never gets the thread:
 * small programs stay single-threaded (some check, e.g. before fork). */
#define PT_START_BYTES ((size_t)16 << 20)

static _Atomic int pt_state;
static _Atomic int pt_waiting;
static pthread_mutex_t pt_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pt_cond = PTHREAD_COND_INITIALIZER;

static void tick_sleep(void) {
  long ms = _st_option(OPT_PURGE_MS) / 2;
  if (ms < 10) ms = 10;
  if (ms > 1000) ms = 1000;
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
  while (nanosleep(&ts, &ts) != 0) {}
}

/* Field `field` (1-based, >= 3) of a /proc stat file, after the ")" that
 * ends the name; as a number, or the state letter for field 3.  -1 if
 * unreadable. */
static long stat_field(const char *path, int field) {
  char buf[1024];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char *p = strrchr(buf, ')');           /* the name may hold spaces */
  if (p == NULL) return -1;
  p++;
  for (int f = 2; f < field && *p; p++) if (*p == ' ') f++;
  if (field == 3) return *p;
  long v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

/* Never keep a process alive: when the program's last thread is gone (its
 * main thread called pthread_exit -- it stays a zombie, still counted -- and
 * the others ended), leave, and the process ends as it would have without
 * us (the last thread to exit ends it with status 0). */
static void exit_if_alone(void) {
  long threads = stat_field("/proc/self/stat", 20);
  if (threads == 1) pthread_exit(NULL);
  if (threads == 2) {
    char path[64];
    _st_snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    if (stat_field(path, 3) == 'Z') pthread_exit(NULL);
  }
}

static void *purge_main(void *arg) {
  (void)arg;
  for (;;) {
    tick_sleep();
    exit_if_alone();
    ST_VG_QUIET_BEGIN;                          /* it touches freed blocks (a retired heap's) */
    size_t left = _st_segments_tick();
    left += _st_large_tick();
    left += _st_heaps_retired_trim(0);          /* a count, not bytes: only "any?" matters */
    ST_VG_QUIET_END;
    if (left == 0) {
      pthread_mutex_lock(&pt_lock);
      atomic_store(&pt_waiting, 1);
      /* re-check under the lock: a kick before pt_waiting was set is seen here */
      pthread_mutex_unlock(&pt_lock);
      left = _st_segments_tick() + _st_large_tick();
      pthread_mutex_lock(&pt_lock);
      while (left == 0 && atomic_load(&pt_waiting)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;                          /* wake now and then: exit_if_alone */
        if (pthread_cond_timedwait(&pt_cond, &pt_lock, &ts) != 0) {
          pthread_mutex_unlock(&pt_lock);
          exit_if_alone();
          pthread_mutex_lock(&pt_lock);
        }
      }
      atomic_store(&pt_waiting, 0);
      pthread_mutex_unlock(&pt_lock);
    }
  }
  return NULL;
}

static void purge_start(void) {
#if STRATA_VALGRIND
  /* under memcheck, no thread of strata's own: it would be killed at exit
   * in the middle of its quiet work (valgrind warns), and purging inside
   * the calls is enough there */
  if (RUNNING_ON_VALGRIND) return;
#endif
  int expect = 0;
  if (!atomic_compare_exchange_strong(&pt_state, &expect, 1)) return;
  int saved = errno;                            /* free() must not change errno */
  pthread_attr_t attr;
  pthread_t t;
  int ok = pthread_attr_init(&attr) == 0;
  if (ok) {
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* the thread must not take the program's signals */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* What pthread_create allocates for the new thread (its DTV) lives as
     * long as the purge thread, i.e. for good.  From the caller's pages it
     * would pin one of them after the caller exits (an abandoned page that
     * never empties); as if the caller had no cache (_st_heap_dead) it
     * comes from the shared orphan heap, as guarded.c's warm-up does. */
    heap_t *h = _st_heap_tl;
    _st_heap_tl = &_st_heap_dead;
    ok = pthread_create(&t, &attr, purge_main, NULL) == 0;
    _st_heap_tl = h;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
  }
  if (!ok) atomic_store(&pt_state, 2);
  else if (_st_option(OPT_VERBOSE)) _st_message("strata: purge thread started\n");
  errno = saved;
}

static _Atomic int pt_wanted;

void _st_purge_poll(void) {
  if (atomic_load_explicit(&pt_wanted, memory_order_relaxed) == 0) return;
  atomic_store_explicit(&pt_wanted, 0, memory_order_relaxed);
  if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) return;
  purge_start();
}

void _st_purge_kick(size_t pending) {
  if (_st_option(OPT_PURGE_THREAD) == 0 || _st_option(OPT_PURGE_MS) <= 0) return;
  int st = atomic_load_explicit(&pt_state, memory_order_relaxed);
  if (st == 0) {
    if (pending >= PT_START_BYTES) atomic_store_explicit(&pt_wanted, 1, memory_order_relaxed);
    return;
  }
  if (st == 1 && atomic_load_explicit(&pt_waiting, memory_order_relaxed)) {
    pthread_mutex_lock(&pt_lock);
    atomic_store(&pt_waiting, 0);
    pthread_cond_signal(&pt_cond);
    pthread_mutex_unlock(&pt_lock);
  }
}

void _st_purge_fork_child(void) {
  pthread_mutex_init(&pt_lock, NULL);
  pthread_cond_init(&pt_cond, NULL);
  atomic_store(&pt_waiting, 0);
  atomic_store(&pt_state, 0);
  atomic_store(&pt_wanted, 0);
}
