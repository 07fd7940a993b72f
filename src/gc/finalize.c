/* Finalizers and weak references.
 *
 * Finalizers.  A table maps objects to (fn, arg): open addressing, keys are
 * object starts, in memory from the OS layer, under gc_fin_lock.  At the end
 * of a mark (world stopped, after short weak references were cleared):
 *   1. every entry whose object is unmarked moves to the ready queue;
 *   2. each ready object is marked and traced, so it and everything it
 *      references stay allocated until its finalizer has run (the queue is a
 *      root at every collection until then);
 *   3. long weak references to objects still unmarked are cleared.
 * Finalizers run from the queue, with no lock held, on the finalizer thread
 * (started on first need, option gc_finalizer_thread) or in
 * strata_gc_run_finalizers().  A finalizer runs at most once; an object it
 * makes reachable again lives on without one.  Objects that become
 * unreachable in the same collection are finalized in no particular order.
 *
 * Weak references are small malloc'd records on a list (gc_fin_lock).  The
 * collector clears them with the world stopped, so a thread that read a
 * target before a stop holds it in a register or on its stack, and the
 * stop's scan keeps the target alive: a read never returns freed memory.
 */
#include <errno.h>
#include <string.h>
#include "gc/internal.h"

pthread_mutex_t gc_fin_lock = PTHREAD_MUTEX_INITIALIZER;
size_t gc_finalizers_run, gc_weak_cleared;

typedef struct { void *obj; strata_gc_finalizer_fn fn; void *arg; } fin_t;
#define FIN_TOMB ((void *)1)

static fin_t *table;            /* open addressing; obj NULL empty, FIN_TOMB deleted */
static size_t table_cap, table_used;
static size_t table_live;    /* written under gc_fin_lock, by live_add; peeked without it */
static void live_add(long d) { __atomic_store_n(&table_live, table_live + (size_t)d, __ATOMIC_RELAXED); }
static fin_t *ready;            /* ready queue (a ring would do; an array suffices) */
static size_t ready_n, ready_cap;

struct strata_gc_weak {
  void *target;
  int track;
  struct strata_gc_weak *next, *prev;
};
static strata_gc_weak_t *weaks;

static pthread_cond_t fin_cond = PTHREAD_COND_INITIALIZER;
static int fin_thread_started;

static size_t hash(const void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull); }

static void *os_grow(void *old, size_t old_bytes, size_t new_bytes) {
  size_t ps = _st_os_page_size();
  void *n = _st_os_alloc(st_align_up(new_bytes, ps), 0);
  if (n && old) {
    memcpy(n, old, old_bytes);
    _st_os_release(old, st_align_up(old_bytes, ps));
  }
  return n;
}

static fin_t *table_slot(const void *obj, int for_insert) {
  size_t m = table_cap - 1, i = hash(obj) & m;
  fin_t *tomb = NULL;
  for (;;) {
    fin_t *e = &table[i];
    if (e->obj == obj) return e;
    if (e->obj == NULL) return for_insert ? (tomb ? tomb : e) : NULL;
    if (e->obj == FIN_TOMB && !tomb) tomb = e;
    i = (i + 1) & m;
  }
}

static int table_grow(void) {
  size_t cap = table_cap ? table_cap * 2 : 256;
  if (table_live * 4 < table_cap) cap = table_cap;           /* only tombstones: rehash */
  fin_t *old = table;
  size_t old_cap = table_cap;
  table = _st_os_alloc(st_align_up(cap * sizeof(fin_t), _st_os_page_size()), 0);
  if (table == NULL) { table = old; return -1; }
  table_cap = cap;
  table_used = 0;
  live_add(-(long)table_live);
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].obj && old[i].obj != FIN_TOMB) { *table_slot(old[i].obj, 1) = old[i]; table_used++; live_add(1); }
  if (old) _st_os_release(old, st_align_up(old_cap * sizeof(fin_t), _st_os_page_size()));
  return 0;
}

STRATA_API int strata_gc_set_finalizer(void *obj, strata_gc_finalizer_fn fn, void *arg) {
  /* NULL too (strata_gc_base(NULL) is NULL): it matched the table's empty
   * slots, and a run of removals hung the next lookup (found by review) */
  if (obj == NULL || strata_gc_base(obj) != obj) { errno = EINVAL; return -1; }
  pthread_mutex_lock(&gc_fin_lock);
  if (fn && (table_used + 1) * 4 >= table_cap * 3 && table_grow() != 0) {
    pthread_mutex_unlock(&gc_fin_lock);
    errno = ENOMEM;
    return -1;
  }
  fin_t *e = table_cap ? table_slot(obj, fn != NULL) : NULL;
  if (fn == NULL) {
    if (e) { e->obj = FIN_TOMB; live_add(-1); }
  } else {
    if (e->obj != obj) { table_used += e->obj == NULL; live_add(1); }
    e->obj = obj; e->fn = fn; e->arg = arg;
  }
  pthread_mutex_unlock(&gc_fin_lock);
  return 0;
}

/* strata_gc_free of obj, gc_lock held (before gc_fin_lock, the lock
 * order): its finalizer goes with it, or it ran later on whatever object
 * took the slot (found by review, 2026-11-28). */
void _st_gc_finalizer_forget(const void *obj) {
  /* none set and none queued: the common case, without the lock */
  if (__atomic_load_n(&table_live, __ATOMIC_RELAXED) == 0 && __atomic_load_n(&ready_n, __ATOMIC_RELAXED) == 0)
    return;
  pthread_mutex_lock(&gc_fin_lock);
  fin_t *e = table_cap ? table_slot(obj, 0) : NULL;
  if (e) { e->obj = FIN_TOMB; live_add(-1); }
  /* queued already (unreachable in the last cycle, and freed by another
   * finalizer meanwhile): out of the queue too, or it ran on the freed
   * object (found by review, 2026-11-28) */
  for (size_t i = 0; i < ready_n; i++)
    if (ready[i].obj == obj) { ready[i] = ready[ready_n - 1]; __atomic_store_n(&ready_n, ready_n - 1, __ATOMIC_RELAXED); break; }
  pthread_mutex_unlock(&gc_fin_lock);
}

/* World stopped, gc_fin_lock held: steps 1 and 2 above. */
void _st_gc_finalize_mark(void) {
  size_t first = ready_n;
  for (size_t i = 0; i < table_cap; i++) {
    fin_t *e = &table[i];
    if (e->obj == NULL || e->obj == FIN_TOMB || _st_gc_is_marked(e->obj)) continue;
    if (ready_n == ready_cap) {
      size_t cap = ready_cap ? ready_cap * 2 : 256;
      fin_t *n = os_grow(ready, ready_cap * sizeof(fin_t), cap * sizeof(fin_t));
      if (n == NULL) break;                       /* stays in the table: next time */
      ready = n;
      ready_cap = cap;
    }
    ready[ready_n] = *e;
    __atomic_store_n(&ready_n, ready_n + 1, __ATOMIC_RELAXED);   /* peeked by _st_gc_finalizer_forget */
    e->obj = FIN_TOMB;
    live_add(-1);
  }
  for (size_t i = first; i < ready_n; i++) _st_gc_mark_ptr(ready[i].obj);
}

/* Every collection: the queued objects are roots until their finalizer
 * ran, and every registered finalizer's arg is one while it is registered
 * or queued (a GC object passed as arg only was freed before its
 * finalizer ran: found by review, 2026-11-28), unless it is the object
 * itself, which would then never be finalized. */
void _st_gc_mark_fin_roots(void) {
  for (size_t i = 0; i < ready_n; i++) {
    _st_gc_mark_ptr(ready[i].obj);
    _st_gc_mark_ptr(ready[i].arg);
  }
  for (size_t i = 0; i < table_cap; i++) {
    const fin_t *e = &table[i];
    if (e->obj != NULL && e->obj != FIN_TOMB && e->arg != e->obj) _st_gc_mark_ptr(e->arg);
  }
}

void _st_gc_weak_clear(int long_refs) {
  for (strata_gc_weak_t *w = weaks; w; w = w->next)
    if (w->track == long_refs && w->target && !_st_gc_is_marked(w->target)) {
      w->target = NULL;
      gc_weak_cleared++;
    }
}

STRATA_API size_t strata_gc_run_finalizers(void) {
  size_t ran = 0;
  gc_thread_t *t = gc_thread();                /* registered before taking the lock */
  for (;;) {
    pthread_mutex_lock(&gc_fin_lock);
    if (ready_n == 0) { pthread_mutex_unlock(&gc_fin_lock); return ran; }
    fin_t f = ready[ready_n - 1];
    __atomic_store_n(&ready_n, ready_n - 1, __ATOMIC_RELAXED);
    gc_finalizers_run++;
    /* From here the object is reachable only through f (this stack, which
     * a running mark may have scanned already): shade it, as a barrier
     * would when a root lets go of an object. */
    if (t) gc_cs_enter(t);
    if (t && strata_gc_marking_flag) _st_gc_shade(t, f.obj);
    pthread_mutex_unlock(&gc_fin_lock);
    if (t) gc_cs_leave(t);
    f.fn(f.obj, f.arg);
    f.obj = NULL;
    ran++;
  }
}

static void *finalizer_main(void *arg) {
  (void)arg;
  _st_gc_stoppable_thread_mask();               /* not the collector's: all blocked */
  strata_gc_register_thread();
  pthread_mutex_lock(&gc_fin_lock);
  for (;;) {
    while (ready_n == 0) pthread_cond_wait(&fin_cond, &gc_fin_lock);
    pthread_mutex_unlock(&gc_fin_lock);
    strata_gc_blocking_leave();
    strata_gc_run_finalizers();
    strata_gc_blocking_enter();                  /* idle: never holds up a collection */
    pthread_mutex_lock(&gc_fin_lock);
  }
  return NULL;
}

void _st_gc_finalize_wake(void) {
  pthread_mutex_lock(&gc_fin_lock);
  int work = ready_n > 0;
  int start = work && !fin_thread_started && _st_option(OPT_GC_FINALIZER_THREAD);
  if (start) fin_thread_started = 1;
  if (work) pthread_cond_signal(&fin_cond);
  pthread_mutex_unlock(&gc_fin_lock);
  if (start) {
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &a, finalizer_main, NULL) != 0) fin_thread_started = 0;
    pthread_attr_destroy(&a);
  }
}

void _st_gc_fin_fork_child(void) {
  pthread_mutex_init(&gc_fin_lock, NULL);
  pthread_cond_init(&fin_cond, NULL);
  fin_thread_started = 0;                          /* it did not survive the fork */
}

/* ---- weak references ---------------------------------------------------------- */

STRATA_API strata_gc_weak_t *strata_gc_weak_new(void *obj, int track_resurrection) {
  if (obj != NULL && strata_gc_base(obj) == NULL) { errno = EINVAL; return NULL; }
  strata_gc_weak_t *w = strata_malloc(sizeof *w);
  if (w == NULL) return NULL;
  w->target = obj;
  w->track = track_resurrection != 0;
  w->prev = NULL;
  pthread_mutex_lock(&gc_fin_lock);
  w->next = weaks;
  if (weaks) weaks->prev = w;
  weaks = w;
  pthread_mutex_unlock(&gc_fin_lock);
  return w;
}

/* While marking, the target is shaded before it is returned: the caller's
 * stack may have been scanned already, and the target must not be swept
 * from under it (a read never returns freed memory). */
STRATA_API void *strata_gc_weak_get(strata_gc_weak_t *w) {
  if (w == NULL) return NULL;
  /* read, then test the flag (as the write barrier stores, then tests): a
   * stop that comes between leaves p in this thread's registers or stack,
   * which that stop scans; with the test first, a first stop between the
   * two let a white target through unshaded once the stack counted as
   * scanned */
  void *p0 = *(void *volatile *)&w->target;
  atomic_signal_fence(memory_order_seq_cst);
  if (st_likely(!strata_gc_marking_flag)) return p0;
  gc_thread_t *t = gc_thread();
  if (t == NULL) return NULL;
  gc_cs_enter(t);
  void *p = *(void *volatile *)&w->target;
  if (p && strata_gc_marking_flag) _st_gc_shade(t, p);
  gc_cs_leave(t);
  return p;
}

STRATA_API void strata_gc_weak_free(strata_gc_weak_t *w) {
  if (w == NULL) return;
  pthread_mutex_lock(&gc_fin_lock);
  if (w->prev) w->prev->next = w->next; else weaks = w->next;
  if (w->next) w->next->prev = w->prev;
  pthread_mutex_unlock(&gc_fin_lock);
  strata_free(w);
}
