/* src/gc/internal.h -- the collector's data structures and protocols.
 *
 * The heap (pages.c).  One contiguous range of address space, reserved at
 * start-up (option gc_max_heap) and committed as it is used, is cut into
 * 64 KiB *slices*; a *span* is a run of slices that holds objects of one
 * size class and one kind (small objects, many slots), or one large object.
 *
 *   gc_base                                              gc_base + gc_reserved
 *   +--------+--------+--------+---- ... ----+--------+----------------+
 *   | span A (class 3, typed)  | span B      | free   | not committed  |
 *   +--------+--------+--------+---- ... ----+--------+----------------+
 *   ^ slice 0                                         ^ gc_top (committed)
 *
 * Side tables, indexed by address, so objects carry no header:
 *   gc_span_map[(p - gc_base) >> 16]   the span holding slice p (NULL: none)
 *   gc_state[(p - gc_base) >> 4]       one byte per 16-byte granule, read at
 *                                      the granule where a slot starts:
 *                                      0 free; odd: allocated, and bits 7..1
 *                                      hold the epoch of the last mark
 * They are reserved with the heap and committed along with it.  The type of
 * a typed object is kept by its span: one type for all its objects while
 * they share one (the common case: no memory per object), else an array
 * with one entry per slot (span->types, from malloc).
 *
 * A pointer p is resolved (conservative roots, interior pointers) in O(1):
 * range check, span map, slot index by a multiply (slot_inv), state byte.
 *
 * Epochs.  Each collection increments gc_epoch (1..127, wrapping).  An
 * object is *marked* in this cycle iff state == (epoch << 1) | 1.  Objects
 * are born with the current epoch, so an object allocated after a mark is
 * never taken for garbage by the sweep of that mark.  Sweeping a span after
 * the mark of epoch e frees exactly the allocated slots whose epoch != e;
 * it may happen at any time before the next mark.  No mark array is ever
 * cleared.  (Invariant: when a mark starts, every span has been swept for
 * the previous epoch, so no stale epoch can alias after a wrap.)
 *
 * Locks (in this order), and what they protect:
 *   gc_lock      the page allocator, span lists, thread caches' refills,
 *                roots, pacer counters; held by a collection for its whole
 *                stop-the-world phase (so no thread is stopped inside it)
 *   gc_world     the thread registry and blocking-region transitions
 *   gc_fin_lock  the finalizer table and ready queue, weak references
 * A collection takes gc_lock, gc_world and gc_fin_lock, then stops the
 * other threads, so a stopped thread never holds one of them.  Nothing
 * under these locks calls malloc while the world is stopped (a stopped
 * thread may hold a malloc lock): marking uses memory from the OS layer.
 *
 * Thread stops (world.c).  Each registered thread is stopped with a signal
 * (SIGPWR); its handler saves the registers on its stack, acknowledges and
 * waits for SIGXCPU.  A thread inside the allocation fast path (in_alloc)
 * defers: the handler only sets stop_pending, and the fast path stops at its
 * end.  So a stop never sees a half-made object or a cache mid-update.
 */
#ifndef STRATA_GC_INTERNAL_H
#define STRATA_GC_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <strata/gc.h>
#include "config.h"
#include "os/os.h"
#include "malloc/internal.h"

static inline size_t gc_align_down(size_t n, size_t a) { return n & ~(a - 1); }

#define GC_SLICE_SHIFT   16
#define GC_SLICE         ((size_t)1 << GC_SLICE_SHIFT)        /* 64 KiB */
#define GC_GRANULE_SHIFT 4
#define GC_GRANULE       ((size_t)1 << GC_GRANULE_SHIFT)      /* 16 B */
#define GC_SMALL_MAX     ((size_t)32 << 10)     /* larger: a span of its own */
#define GC_NCLASSES      72                     /* classes for <= GC_SMALL_MAX (32 KiB: class 71) */
#define GC_NKINDS        3                      /* noscan, conservative, typed */
#define GC_KIND_NOSCAN   0
#define GC_KIND_CONS     1
#define GC_KIND_TYPED    2
#define GC_EPOCH_MAX     127

/* A span.  Fields under gc_lock unless noted.
 *   in_use: assigned to objects (class or large); otherwise a free run of
 *     slices in the page allocator (pages.c), listed in gc_free_runs.
 *   Small spans: nslots slots of slot_size bytes from start.  free is a
 *     list threaded through free slots (word 0), built by the sweep, and
 *     [bump, bump_end) a run of never-used slots (a fresh span: no list is
 *     written through memory nobody used yet); both belong to the thread
 *     whose cache holds the span (cached != 0), else to gc_lock.  nfree
 *     counts both.
 *   swept_epoch: the epoch of the last sweep; the span needs sweeping iff
 *     swept_epoch != gc_epoch (and no thread caches it). */
typedef struct gc_span {
  /* line 1: what marking reads (gc_resolve, scan); written only under
   * gc_lock while the span changes hands, never by the allocation fast
   * path, so the collector's copy of this line stays valid */
  uint8_t *start;
  size_t   slot_size;
  uint64_t slot_inv;        /* ceil(2^40 / slot_size): idx = off * inv >> 40 */
  uint32_t nslots;
  uint32_t nslices;
  uint8_t  in_use;
  uint8_t  kind;            /* GC_KIND_* */
  uint8_t  cls;             /* size class; GC_NCLASSES for a large object */
  uint8_t  cached;          /* in a thread cache */
  uint8_t  swept_epoch;
  uint8_t  dirty;           /* free run: pages may be resident */
  uint8_t  list;            /* which list it is on (GC_LIST_*); kept exact for
                               large spans and free runs only (after_mark
                               splices small spans' lists without it) */
  uint8_t  sweeping;        /* in a background sweep batch: swept without
                               gc_lock, so strata_gc_free leaves its
                               objects alone (set and cleared under gc_lock) */
  union {
    size_t   large_size;    /* a large object: the bytes asked for */
    uint64_t scan_bits;     /* a small span: the pointer words of its objects
                               when they all have one BITMAP type and a slot
                               holds one element (the drain's inline scan,
                               mark.c); 0 otherwise.  Set with type/types
                               (span_set_scan, alloc.c) */
  };
  const strata_gc_type_t *type;  /* typed span: the type of all its objects
                                 (NULL: none yet, or mixed) */
  const strata_gc_type_t **types; /* mixed typed span: the type of each slot */
  /* line 2: what allocation writes (the fast path, on every object) and
   * the list links: kept off line 1, or each allocation would take the
   * line away from a marker on another core and back */
  void    *free __attribute__((aligned(64)));
  uint8_t *bump, *bump_end; /* never-used slots at the end (a fresh span):
                               allocated by bumping once free is empty; the
                               sweep folds them into free (their state is 0) */
  uint32_t nfree;           /* slots on free plus slots in [bump, bump_end) */
  uint32_t nfree_cached;    /* nfree when a cache took it (object counts) */
  uint64_t freed_at;        /* free run: when it became free (ns) */
  struct gc_span *next, *prev;
} gc_span_t;
_Static_assert(sizeof(gc_span_t) == 128, "a span descriptor is two cache lines");

enum { GC_LIST_NONE, GC_LIST_FREE_RUN, GC_LIST_PARTIAL, GC_LIST_FULL, GC_LIST_UNSWEPT,
       GC_LIST_LARGE };

typedef struct { gc_span_t *first, *last; } gc_list_t;

/* ---- globals (pages.c) ---- */
extern uint8_t *gc_base ST_INTERNAL;
extern size_t gc_reserved ST_INTERNAL;
extern _Atomic size_t gc_top ST_INTERNAL;          /* committed bytes from gc_base */
extern gc_span_t **gc_span_map ST_INTERNAL;
extern uint8_t *gc_state ST_INTERNAL;
extern uintptr_t gc_state_bias ST_INTERNAL;        /* gc_state - (gc_base >> 4): see gc_state_at */
extern _Atomic unsigned gc_epoch ST_INTERNAL;
extern pthread_mutex_t gc_lock ST_INTERNAL;

static inline bool gc_in_heap(const void *p) {
  return (uintptr_t)p - (uintptr_t)gc_base < atomic_load_explicit(&gc_top, memory_order_acquire);
}
static inline gc_span_t *gc_span_of(const void *p) {
  return gc_span_map[((uintptr_t)p - (uintptr_t)gc_base) >> GC_SLICE_SHIFT];
}
static inline size_t gc_granule(const void *p) {
  return ((uintptr_t)p - (uintptr_t)gc_base) >> GC_GRANULE_SHIFT;
}
/* &gc_state[gc_granule(p)] with one load (gc_base is granule-aligned). */
static inline uint8_t *gc_state_at(const void *p) {
  return (uint8_t *)(gc_state_bias + ((uintptr_t)p >> GC_GRANULE_SHIFT));
}
/* The slot of s that contains p (p inside s's slices), or NULL. */
static inline uint8_t *gc_slot_of(const gc_span_t *s, const void *p) {
  if ((const uint8_t *)p < s->start) return NULL;
  size_t off = (size_t)((const uint8_t *)p - s->start);
  size_t idx = s->nslots == 1 ? (off < s->slot_size ? 0 : 1) : (size_t)((off * s->slot_inv) >> 40);
  if (idx >= s->nslots) return NULL;
  return s->start + idx * s->slot_size;
}
static inline uint8_t gc_mark_value(unsigned epoch) { return (uint8_t)((epoch << 1) | 1); }
/* Resolve a candidate pointer: the state byte of the allocated object that
 * holds p (any interior pointer), with its span and slot; NULL when p is not
 * inside a live object.  The one place conservative pointers are judged. */
static inline uint8_t *gc_resolve_in(const void *p, gc_span_t **span, uint8_t **slot_out);
static inline uint8_t *gc_resolve(const void *p, gc_span_t **span, uint8_t **slot_out) {
  if ((uintptr_t)p - (uintptr_t)gc_base >= atomic_load_explicit(&gc_top, memory_order_acquire)) return NULL;
  return gc_resolve_in(p, span, slot_out);
}
/* gc_resolve_in with the heap's span map, base and state bias passed in
 * (the drain loop holds them in locals, mark.c). */
static inline uint8_t *gc_resolve_at(gc_span_t *const *map, uintptr_t base, uintptr_t bias,
                                     const void *p, gc_span_t **span, uint8_t **slot_out) {
  gc_span_t *s = map[((uintptr_t)p - base) >> GC_SLICE_SHIFT];
  if (s == NULL || !s->in_use) return NULL;
  uint8_t *slot = gc_slot_of(s, p);
  if (slot == NULL) return NULL;
  uint8_t *st = (uint8_t *)(bias + ((uintptr_t)slot >> GC_GRANULE_SHIFT));
  if (!(*st & 1)) return NULL;
  *span = s;
  *slot_out = slot;
  return st;
}
/* gc_resolve of a p already known to be below gc_base + gc_top. */
static inline uint8_t *gc_resolve_in(const void *p, gc_span_t **span, uint8_t **slot_out) {
  return gc_resolve_at(gc_span_map, (uintptr_t)gc_base, gc_state_bias, p, span, slot_out);
}
/* Bytes an object of span s counts for (live and shaded totals). */
static inline size_t gc_obj_bytes(const gc_span_t *s) {
  return s->cls == GC_NCLASSES ? (size_t)s->nslices * GC_SLICE : s->slot_size;
}
static inline size_t gc_slot_index(const gc_span_t *s, const void *slot) {
  return (size_t)((((size_t)((const uint8_t *)slot - s->start)) * s->slot_inv) >> 40);
}
/* The type of typed object obj in span s. */
static inline const strata_gc_type_t *gc_type_of(const gc_span_t *s, const void *obj) {
  if (s->type) return s->type;
  return s->types ? s->types[gc_slot_index(s, obj)] : NULL;
}

ST_INTERNAL int  _st_gc_pages_init(size_t reserve);
ST_INTERNAL gc_span_t *_st_gc_span_alloc(size_t nslices);      /* gc_lock held */
ST_INTERNAL void _st_gc_span_free(gc_span_t *s);               /* gc_lock held */
ST_INTERNAL size_t _st_gc_purge(uint64_t now, int all);        /* gc_lock held */
ST_INTERNAL void _st_gc_list_push(gc_list_t *l, gc_span_t *s, int which);
ST_INTERNAL void _st_gc_list_remove(gc_list_t *l, gc_span_t *s);
ST_INTERNAL uint64_t _st_gc_now(void);
extern size_t gc_committed_spans ST_INTERNAL;      /* bytes in spans in use (gc_lock) */
extern size_t gc_free_bytes ST_INTERNAL;           /* bytes in free runs (gc_lock) */

/* ---- allocation and sweeping (alloc.c) ---- */
ST_INTERNAL void   _st_gc_sweep_all(void);                     /* gc_lock held */
ST_INTERNAL size_t _st_gc_sweep_some(size_t max);              /* gc_lock NOT held */
ST_INTERNAL void   _st_gc_flush_caches(void);                  /* gc_lock, world stopped */
ST_INTERNAL void   _st_gc_after_mark(void);                    /* gc_lock, world stopped */
extern gc_list_t gc_unswept[GC_NKINDS][GC_NCLASSES + 1] ST_INTERNAL;
extern _Atomic size_t gc_allocated ST_INTERNAL;    /* bytes in objects, approximate */
extern _Atomic size_t gc_nobjects ST_INTERNAL, gc_nfreed ST_INTERNAL;
extern _Atomic uint64_t gc_sweep_ns ST_INTERNAL;

/* ---- threads (world.c) ---- */
typedef struct gc_thread {
  pthread_t tid;
  struct gc_thread *next, *prev;      /* registry (gc_world) */
  uint8_t *stack_lo, *stack_hi;       /* the thread's own stack */
  uint8_t *alt_lo, *alt_hi;           /* a fiber stack set with set_stack, or NULL */
  uint8_t *own_sp;                    /* where the own stack was left for the fiber
                                         (set_stack called on it), or NULL */
  volatile uint8_t *stop_sp;          /* where its stack ended when stopped */
  const uint8_t *scan_lo;             /* where the last scan of its stack in this cycle
                                         began (NULL: none yet); read by gc_debug's
                                         verify (collector, world stopped) */
  volatile sig_atomic_t in_alloc;     /* inside the allocation fast path */
  volatile sig_atomic_t stop_pending; /* a stop arrived during in_alloc */
  volatile sig_atomic_t blocking;     /* in a blocking region (gc_world) */
  volatile sig_atomic_t resume_gen;   /* bumped to restart it after a stop */
  volatile sig_atomic_t stop_req;     /* stops asked for (collector writes) */
  volatile sig_atomic_t stop_ack;     /* the last request it stopped for (it writes) */
  volatile sig_atomic_t stop_cancel;  /* a request the collector took back (it writes;
                                         see world.c, "Taking a stop back") */
  volatile sig_atomic_t stop_seen;    /* the last request its handler or safepoint
                                         looked at (it writes) */
  volatile sig_atomic_t sleeping;     /* stopped and asleep in sigsuspend: a restart
                                         must signal it (seq_cst, see world.c) */
  uint8_t scanned;                    /* its stack was scanned in this cycle (set by
                                         the collector at the first stop or at its
                                         handshake, with t stopped; read by t's
                                         barrier: no insertion shading once set) */
  /* objects the write barrier shaded while marking, for the collector to
   * scan (owner appends inside its critical section; the collector takes
   * them at a handshake or with the world stopped) */
  size_t assist_debt;                 /* bytes of marking it owes (its own; reset
                                         at each cycle's first stop) */
  size_t took;                        /* bytes its last span refill gave it (its own):
                                         what its next refill's assist pays for */
  uint32_t nshade;
  _Atomic unsigned flush_seen;        /* the gc_flush_gen it last answered (written by
                                         the thread, read by the collector) */
  size_t shaded_bytes;                /* bytes it shaded this cycle (stats, pacer) */
  uint8_t *shade[253];
  strata_gc_frame_t *frames;          /* shadow stack */
  gc_span_t *cache[GC_NKINDS][GC_NCLASSES];   /* spans it allocates from (gc_lock
                                          for install/flush; fast path reads) */
  uint8_t regs[512] __attribute__((aligned(16)));  /* registers saved by a stop or
                                          a blocking region (jmp_buf/ucontext) */
} gc_thread_t;

extern __thread gc_thread_t *gc_self ST_INTERNAL;
extern gc_thread_t *gc_threads ST_INTERNAL;        /* registry (gc_world) */
extern _Atomic size_t gc_stops_taken_back ST_INTERNAL;   /* written by the collector */
extern pthread_mutex_t gc_world ST_INTERNAL;
ST_INTERNAL gc_thread_t *_st_gc_thread_slow(void);  /* register the caller */
ST_INTERNAL void _st_gc_stop_world(void);          /* gc_lock and gc_world held */
ST_INTERNAL void _st_gc_start_world(void);
ST_INTERNAL void _st_gc_handshake(gc_thread_t *t, void (*fn)(gc_thread_t *t, void *arg), void *arg);
ST_INTERNAL void _st_gc_safepoint(void);           /* honour a deferred stop */
ST_INTERNAL void _st_gc_lock_mutator(void);        /* gc_lock, waiting in a blocking region */
ST_INTERNAL void _st_gc_world_init(void);
ST_INTERNAL void _st_gc_world_fork_child(void);
ST_INTERNAL void _st_gc_pause_record(uint64_t ns, uint64_t ack_ns);  /* one thread stop (of which
                                   ack_ns waiting for the threads to answer), for stats */

/* The stack pointer of a frame below the caller's: everything the caller
 * saved on the stack (its locals, a jmp_buf, and the callee-saved registers
 * its prologue pushed, which sit below its own frame address) lies above
 * it.  A scan that starts at __builtin_frame_address(0) of a function
 * instead misses those pushed registers: an object held by the code that
 * called it only in such a register was lost (found with the torture test
 * once the barrier stopped shading stored values behind a scanned stack). */
ST_INTERNAL uint8_t *_st_gc_sp_below(void);

static inline gc_thread_t *gc_thread(void) {
  gc_thread_t *t = gc_self;
  return st_likely(t != NULL) ? t : _st_gc_thread_slow();
}

/* A critical section: a stop that arrives inside is deferred to its end
 * (world.c), so no stop sees a half-made object, a half-shaded store or a
 * shade buffer mid-update.  No blocking call inside, except a mutex the
 * collector never holds while stopping threads. */
static inline void gc_cs_enter(gc_thread_t *t) {
  t->in_alloc = 1;
  atomic_signal_fence(memory_order_seq_cst);
}
static inline void gc_cs_leave(gc_thread_t *t) {
  atomic_signal_fence(memory_order_seq_cst);
  t->in_alloc = 0;
  atomic_signal_fence(memory_order_seq_cst);
  if (st_unlikely(t->stop_pending)) _st_gc_safepoint();
}

/* ---- marking (mark.c) ---- */
ST_INTERNAL void _st_gc_mark_init(void);
ST_INTERNAL void _st_gc_mark_range(const void *lo, const void *hi);  /* conservative */
ST_INTERNAL void _st_gc_mark_ptr(const void *p);   /* a candidate pointer */
ST_INTERNAL void _st_gc_drain(bool share);        /* scan until the mark stack is empty; share:
                                                      the world runs, give work to assists */
ST_INTERNAL void _st_gc_mark_begin(void);          /* this cycle's mark value */
ST_INTERNAL uint8_t _st_gc_mark_value(void);       /* ... which is this */
ST_INTERNAL void _st_gc_grey_push(uint8_t *obj);   /* the collector's grey stack (verify.c) */
ST_INTERNAL uint8_t *_st_gc_grey_pop(void);        /* NULL when empty */
ST_INTERNAL void _st_gc_take_thread_shade(gc_thread_t *t);  /* t stopped, blocking or self */

/* ---- roots (roots.c) ---- */
ST_INTERNAL void _st_gc_mark_ranges(void);         /* registered ranges (gc_lock) */
ST_INTERNAL void _st_gc_mark_thread(gc_thread_t *t);  /* t stopped, blocking or self */
ST_INTERNAL size_t _st_gc_ranges_bytes(void);       /* registered ranges' bytes (gc_lock) */
ST_INTERNAL void _st_gc_ranges_visit(void (*fn)(const void *lo, const void *hi));  /* (gc_lock) */
/* The live part of t's stack, given where it stopped (sp) */
ST_INTERNAL void _st_gc_stack_range(const gc_thread_t *t, const uint8_t *sp, const uint8_t **lo,
                                    const uint8_t **hi);
/* The termination must rescan every stack and range, and every barriered
 * store shades its value (collect.c: no snapshot this cycle). */
extern _Atomic int gc_rescan ST_INTERNAL;
ST_INTERNAL void _st_gc_rescan_now(void);          /* while marking; takes gc_world */
ST_INTERNAL void _st_gc_rescan_now_locked(void);   /* the same, gc_world held */
ST_INTERNAL size_t _st_gc_stack_bytes(const gc_thread_t *t);  /* what a scan of it reads */
ST_INTERNAL void _st_gc_shade(gc_thread_t *t, const void *p);  /* mutator, marking on */
ST_INTERNAL void _st_gc_take_shaded(void);         /* collector: shade_q -> mark stack */
ST_INTERNAL void _st_gc_shade_handoff(gc_thread_t *t);  /* leaving thread: buffer -> shade_q */
extern _Atomic unsigned gc_flush_gen ST_INTERNAL;   /* bumped: threads, hand over your shade buffers */
/* In a critical section, marking: hand the shade buffer over if the
 * collector asked since this thread last did (cycle_mark). */
static inline void _st_gc_shade_flush_if_asked(gc_thread_t *t) {
  unsigned g = atomic_load_explicit(&gc_flush_gen, memory_order_acquire);
  if (st_unlikely(atomic_load_explicit(&t->flush_seen, memory_order_relaxed) != g)) {
    atomic_store_explicit(&t->flush_seen, g, memory_order_relaxed);
    if (t->nshade) _st_gc_shade_handoff(t);
  }
}
ST_INTERNAL bool _st_gc_mark_idle(void);
ST_INTERNAL void _st_gc_mark_fin_roots(void);      /* the finalizer queue (gc_fin_lock) */
ST_INTERNAL size_t _st_gc_verify_marks(bool exact); /* gc_debug: reachable but unmarked (verify.c) */
ST_INTERNAL bool _st_gc_is_marked(const void *obj); /* obj: an object start */
ST_INTERNAL size_t _st_gc_marked_bytes(void);       /* this cycle's live bytes so far */
ST_INTERNAL size_t _st_gc_assist(size_t budget);   /* one mark-assist slice (in a critical section) */
ST_INTERNAL void _st_gc_take_pool(void);           /* collector: assist pool -> mark stack */
ST_INTERNAL bool _st_gc_mark_waiting(void);        /* only assist slices hold grey objects */
ST_INTERNAL void _st_gc_assist_maybe(gc_thread_t *t, size_t more);  /* pacer: assist if behind */
extern _Atomic size_t gc_assist_bytes ST_INTERNAL;
extern _Atomic uint64_t gc_assist_ns ST_INTERNAL;
ST_INTERNAL int  _st_gc_roots_add(void *lo, void *hi);      /* roots.c */
ST_INTERNAL int  _st_gc_roots_remove(void *lo, void *hi);

/* ---- finalizers and weak references (finalize.c) ---- */
extern pthread_mutex_t gc_fin_lock ST_INTERNAL;
ST_INTERNAL void _st_gc_weak_clear(int long_refs); /* world stopped, after marking */
ST_INTERNAL void _st_gc_finalize_mark(void);       /* resurrect finalizable garbage */
ST_INTERNAL void _st_gc_finalize_wake(void);       /* after the world restarts */
ST_INTERNAL void _st_gc_stoppable_thread_mask(void);       /* world.c: the finalizer thread's signals */
ST_INTERNAL void _st_gc_finalizer_forget(const void *obj);   /* strata_gc_free, gc_lock held */
ST_INTERNAL void _st_gc_fin_fork_child(void);
extern size_t gc_finalizers_run ST_INTERNAL, gc_weak_cleared ST_INTERNAL;

/* ---- collection (collect.c) ---- */
ST_INTERNAL void _st_gc_init(void);
extern _Atomic int gc_ready ST_INTERNAL;
static inline void gc_ensure_init(void) {
  if (st_unlikely(!atomic_load_explicit(&gc_ready, memory_order_acquire))) _st_gc_init();
}
ST_INTERNAL void _st_gc_maybe_collect(size_t more);  /* pacer check; gc_lock held */
extern size_t gc_heap_goal ST_INTERNAL;             /* the pacer's heap goal (written under gc_lock) */
ST_INTERNAL void _st_gc_collect_wait(void);        /* gc_lock held: dropped while a full cycle runs */

#endif
