/* Process start-up: runs once, on the first malloc (which may come before any
 * constructor, from the dynamic loader, dlsym or pthread_create) or from the
 * library constructor, whichever is first.
 *
 *   1. page size, options, the free-list key: no calls that can allocate;
 *   2. the pthread key whose destructor hands a dying thread's pages on;
 *   3. pthread_atfork handlers (glibc may malloc here: a malloc from the
 *      initialising thread re-enters, sees state 1 and its own id, and goes
 *      on, because everything it needs was set up in steps 1-2);
 *   4. atexit(the statistics) when stats is on, and the exit report
 *      (report.c) when the `report` option names a file.
 * Other threads arriving while state is 1 wait for 2.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "malloc/internal.h"
#include "malloc/report.h"

ST_INTERNAL void _st_heaps_init(void);
_Atomic int _st_init_state;
static _Atomic uintptr_t init_thread;
uintptr_t _st_process_random = 0x9e3779b97f4a7c15ull;
static uint64_t list_secret = 0x2545f4914f6cdd1dull;
uintptr_t _st_stash_mark;          /* the stash mark (remote.c); 0 until init */
uintptr_t _st_batch_mark;          /* the batch mark (remote.c); 0 until init */
int _st_secure;
int _st_zero_free;
int _st_free_slow_all;

/* Process secrets: fresh random bits (getrandom), never derived directly from
 * AT_RANDOM, whose bytes are glibc's stack canary and pointer guard and must
 * not be written into freed blocks. */
static uint64_t mix64(uint64_t x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27; x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
static uintptr_t free_key_new(void) {
  uint64_t k = 0;
  if (getrandom(&k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
    const uint64_t *rnd = (const uint64_t *)getauxval(AT_RANDOM);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    k = mix64((rnd ? rnd[0] ^ mix64(rnd[1]) : 0) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&k);
  }
  return (uintptr_t)k;
}

/* A page's free-list key: the process secret mixed with the page's address,
 * so each page links its blocks differently (docs/hardening.md). */
uintptr_t _st_page_key(const void *page) {
  return (uintptr_t)mix64(list_secret ^ (uint64_t)(uintptr_t)page);
}

static void stats_at_exit(void) { strata_stats_print(stderr, _st_option(OPT_STATS) == 2); }

static void fork_prepare(void) { _st_heaps_fork_prepare(); _st_large_fork_prepare(); _st_guarded_fork_prepare(); }
static void fork_parent(void) { _st_guarded_fork_parent(); _st_large_fork_parent(); _st_heaps_fork_parent(); }
static void fork_child(void) {
  _st_purge_fork_child(); _st_guarded_fork_child(); _st_large_fork_child(); _st_heaps_fork_child();
}

void _st_process_init(void) {
  uintptr_t me = (uintptr_t)&_st_heap_tl;        /* unique per live thread */
  int state = 0;
  if (!atomic_compare_exchange_strong(&_st_init_state, &state, 1)) {
    if (state == 2 || atomic_load(&init_thread) == me) return;
    while (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) sched_yield();
    return;
  }
  atomic_store(&init_thread, me);
  _st_os_page_size();
  _st_options_init();
  _st_limits_init();
  _st_process_random = free_key_new();
  list_secret = free_key_new();
  _st_stash_mark = free_key_new() | 1;
  _st_batch_mark = free_key_new() | 1;
  if (_st_batch_mark == ST_FREE_KEY) _st_batch_mark ^= 4;   /* never the key */
  _st_secure = _st_option(OPT_SECURE) != 0;
  _st_zero_free = _st_secure && _st_option(OPT_SECURE_ZERO) != 0 ? _st_zero_how() : 0;
  _st_free_slow_all = (_st_zero_free && !STRATA_SECURE_DEFAULT) || (_st_secure && STRATA_CHECK_INTERIOR < 2);
  _st_heaps_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  if (_st_option(OPT_STATS)) atexit(stats_at_exit);
  if (*_st_option_report()) atexit(_st_report_at_exit);
  if (_st_option(OPT_VERBOSE)) _st_message("strata: initialised (pid %d)\n", (int)getpid());
  atomic_store_explicit(&_st_init_state, 2, memory_order_release);
}

__attribute__((constructor)) static void strata_constructor(void) {
  if (atomic_load(&_st_init_state) != 2) _st_process_init();
}
