/* strata/gc.h -- the tracing garbage collector (layer 4).
 *
 * A non-moving mark-sweep collector for C programs and language VMs.
 * Objects live in a heap of their own, segregated by size class (one class
 * and one kind per span); mark bytes and allocation bytes are kept in side
 * tables, so object memory carries no header and an object's address never
 * changes (it may be handed to syscalls and other libraries).
 *
 * Kinds of objects (how the collector finds the pointers inside):
 *   - noscan:       no pointers inside (strings, numbers): never scanned;
 *   - conservative: every aligned word may be a pointer (plain C use);
 *   - typed:        a strata_gc_type_t says where the pointers are: a word
 *                   bitmap, a list of offsets, or a trace callback.
 * Pointers to anywhere inside an object (interior pointers) keep it alive.
 *
 * Roots: registered memory ranges, shadow-stack frames (for VMs), and the
 * stacks and registers of registered threads, scanned conservatively.  A
 * thread is registered by its first GC allocation (or explicitly); a thread
 * that holds GC pointers without ever allocating must register itself.
 *
 * Write barrier: every store of a GC pointer into a GC object must go
 * through strata_gc_write() (or the STRATA_GC_WRITE macro).  It costs a
 * load and a flag check when no collection is marking; while one is, it
 * shades the old target, and the new one until the thread's stack has been
 * scanned.  Stores into stacks and registered root ranges need no barrier
 * (they may use it): a collection scans them all in its first stop, or, when
 * they are too big for that, scans them again in its last.
 *
 * Error convention: allocation functions return NULL with errno = ENOMEM
 * (heap limit reached, or the OS refused memory) or EINVAL (bad argument);
 * functions returning int return 0 on success and -1 with errno set.
 *
 * Thread safety: every function may be called from any registered thread.
 * Finalizers never run inside an allocation call or under a collector lock.
 */
#ifndef STRATA_GC_H
#define STRATA_GC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- object types --------------------------------------------------------- */

typedef enum strata_gc_kind {
  STRATA_GC_NOSCAN = 0,        /* no pointers inside */
  STRATA_GC_CONSERVATIVE = 1,  /* every aligned word may be a pointer */
  STRATA_GC_BITMAP = 2,        /* bit i of `bitmap`: word i is a pointer */
  STRATA_GC_OFFSETS = 3,       /* `offsets[0..noffsets)`: byte offsets of pointers */
  STRATA_GC_TRACE = 4          /* `trace` visits each pointer field */
} strata_gc_kind_t;

/* Called by a trace callback for each pointer field of an object: *slot is
 * the field's value (NULL and non-GC values are ignored). */
typedef void (*strata_gc_visit_fn)(void *const *slot, void *ctx);
/* A trace callback: visit every field of obj (size bytes) that may hold a
 * GC pointer.  Runs on a collector thread, concurrently with the program: it
 * must only read the object, never allocate, lock or call into strata. */
typedef void (*strata_gc_trace_fn)(const void *obj, size_t size,
                                   strata_gc_visit_fn visit, void *ctx);

/* A type descriptor.  It must outlive every object allocated with it
 * (a static const object, typically).  For BITMAP and OFFSETS, `size` is the
 * size of one element: an object of n * size bytes is an array of n
 * elements with the same layout (bitmaps cover the first 64 words of an
 * element). */
typedef struct strata_gc_type {
  strata_gc_kind_t kind;
  const char *name;                /* for statistics and reports (may be NULL) */
  size_t size;                     /* BITMAP/OFFSETS: element size in bytes */
  uint64_t bitmap;                 /* BITMAP */
  const uint32_t *offsets;         /* OFFSETS */
  size_t noffsets;
  strata_gc_trace_fn trace;        /* TRACE */
} strata_gc_type_t;

/* ---- allocation ------------------------------------------------------------- */

/* A zeroed object of `size` bytes (16-byte aligned; size 0 gives a unique
 * object).  type NULL means conservative. */
void  *strata_gc_alloc(const strata_gc_type_t *type, size_t size);
void  *strata_gc_malloc(size_t size);          /* conservative */
void  *strata_gc_malloc_atomic(size_t size);   /* noscan: contents never scanned */
/* Usable size of the object containing p (0 if p is not in a GC object). */
size_t strata_gc_size(const void *p);
/* Start of the live object containing p (any interior pointer), or NULL. */
void  *strata_gc_base(const void *p);
/* Free an object at once (optional; the program must not use it again). */
void   strata_gc_free(void *p);

/* ---- roots ------------------------------------------------------------------- */

/* Scan [start, end) conservatively at every collection (global data of a
 * module, a table of handles).  Ranges may be added and removed at any
 * time; removing one that was not added fails with EINVAL. */
int  strata_gc_add_roots(void *start, void *end);
int  strata_gc_remove_roots(void *start, void *end);

/* A shadow-stack frame: n pointer slots the collector reads precisely.
 * Frames are per thread, pushed and popped in LIFO order (a VM's frames). */
typedef struct strata_gc_frame {
  struct strata_gc_frame *prev;    /* set by push */
  size_t n;
  void **slots;
} strata_gc_frame_t;
void strata_gc_push_frame(strata_gc_frame_t *f);
void strata_gc_pop_frame(strata_gc_frame_t *f);

/* ---- threads ----------------------------------------------------------------- */

/* Register the calling thread (its stack is found with pthread_getattr_np).
 * Idempotent.  The first GC allocation of a thread registers it; the main
 * thread needs no call.  Unregister before the thread's stack goes away
 * (threads that exit are unregistered automatically). */
int  strata_gc_register_thread(void);
void strata_gc_unregister_thread(void);
/* The calling thread now runs on [lo, hi) (a fiber or coroutine stack).
 * Pass NULL, NULL to go back to the thread's own stack.  Called on the
 * thread's own stack, it keeps that stack (from the caller's frame up) a
 * root while the thread runs on the fiber.  The stacks of fibers that are
 * suspended (not the current one) are not scanned: what they hold must be
 * reachable otherwise (a root, or a frame: strata_gc_push_frame). */
void strata_gc_set_stack(void *lo, void *hi);
/* Blocking regions: between enter and leave the thread promises not to
 * touch GC objects (it sits in a syscall); a collection does not wait for
 * it and scans the stack as it was at enter. */
void strata_gc_blocking_enter(void);
void strata_gc_blocking_leave(void);

/* ---- the write barrier ------------------------------------------------------- */

/* Read by the inline barrier: 0 no collection marks; bit 0 one marks (the
 * old target of a store must be shaded); bit 1 as well, some thread's
 * stack is not yet scanned in this cycle (the new value may need shading
 * too, which the slow path decides for the calling thread). */
extern volatile int strata_gc_marking_flag;
void strata_gc_write_shade(void *obj, void *old, void *value);

/* Store value into *field, a pointer field of obj (or of a root range).
 * The old value is read and the store made before the flag is tested, so a
 * thread stopped anywhere in here either has not stored yet (and will see
 * the flag) or stored before the collector's snapshot: no store is left
 * unbarriered behind a collection's first stop.  While marking, the slow
 * path shades the old target (always) and the new one (while the thread's
 * stack is not yet scanned in this cycle); a store over NULL once every
 * stack is scanned -- the initialization of a new object -- makes no call. */
static inline void strata_gc_write(void *obj, void **field, void *value) {
  void *old = *field;
  *field = value;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);   /* the store is not moved past the test */
  int marking = strata_gc_marking_flag;
  if (__builtin_expect(marking != 0, 0) && (old != NULL || (marking & 2)))
    strata_gc_write_shade(obj, old, value);
}
#define STRATA_GC_WRITE(obj, field, value) \
  strata_gc_write((void *)(obj), (void **)&(field), (void *)(value))

/* ---- collection and pacing ----------------------------------------------------- */

/* Run a full collection now (from any registered thread); returns when its
 * marking is done (sweeping stays lazy). */
void strata_gc_collect(void);
/* Heap-growth goal in percent (like GOGC): the next collection starts when
 * the heap reaches live * (1 + goal / 100).  Default 100; -1 disables
 * the goal's collections (a soft limit, when set, still brings them near
 * it, as GOGC=off with GOMEMLIMIT does).  Returns the previous value. */
int  strata_gc_set_goal(int percent);
/* Soft memory limit in bytes for the GC heap (like GOMEMLIMIT; 0 = none,
 * the default is 90% of the cgroup limit when there is one): collections
 * come sooner as the heap nears it.  Returns the previous value. */
size_t strata_gc_set_limit(size_t bytes);
/* Disable / enable automatic collections (nests). */
void strata_gc_disable(void);
void strata_gc_enable(void);

/* ---- finalizers and weak references ---------------------------------------------- */

typedef void (*strata_gc_finalizer_fn)(void *obj, void *arg);
/* Call fn(obj, arg) once obj is unreachable (NULL fn removes it).  The
 * object and everything it references stay allocated until the finalizer
 * has run; if the finalizer makes obj reachable again, it lives on (without
 * a finalizer).  arg, if it is a GC object other than obj, is kept alive
 * while the finalizer is registered; an arg that references obj keeps obj
 * reachable, so obj is never finalized (as in Go).  NULL or a pointer that
 * is not a GC object's start: -1 with EINVAL.  strata_gc_free of obj
 * removes its finalizer.  Finalizers run on the finalizer thread (option
 * gc_finalizer_thread, default on) or in strata_gc_run_finalizers. */
int  strata_gc_set_finalizer(void *obj, strata_gc_finalizer_fn fn, void *arg);
/* Run the finalizers that are ready, in the caller; returns how many ran. */
size_t strata_gc_run_finalizers(void);

/* Weak references.  A short weak reference is cleared when its target
 * becomes unreachable, before the target's finalizer runs; a long one
 * (track_resurrection) is cleared only once the target is really gone,
 * after finalization.  The reference itself is not a GC object: free it with
 * strata_gc_weak_free. */
typedef struct strata_gc_weak strata_gc_weak_t;
strata_gc_weak_t *strata_gc_weak_new(void *obj, int track_resurrection);
void *strata_gc_weak_get(strata_gc_weak_t *w);   /* the target, or NULL once cleared */
void  strata_gc_weak_free(strata_gc_weak_t *w);

/* ---- statistics ----------------------------------------------------------------- */

/* The pause histogram: four buckets per power of two from 1 us (bucket i
 * holds pauses up to strata_gc_pause_bucket_ns(i): 1.25, 1.5, 1.75, 2,
 * 2.5, 3, 3.5, 4, 5, ... us; bucket 0 also takes everything below 1 us),
 * so a percentile is known to within 25% (e.g. 224 us against 256 us). */
#define STRATA_GC_PAUSE_BUCKETS 100
static inline uint64_t strata_gc_pause_bucket_ns(unsigned i) {   /* upper bound */
  return ((uint64_t)(5 + i % 4) << (i / 4)) * 250;
}
static inline unsigned strata_gc_pause_bucket_of(uint64_t ns) {
  uint64_t q = ns / 250;                      /* quarter microseconds */
  if (q < 4) return 0;
  unsigned e = 63u - (unsigned)__builtin_clzll(q);          /* >= 2 */
  unsigned i = 4 * (e - 2) + (unsigned)((q >> (e - 2)) & 3);
  return i < STRATA_GC_PAUSE_BUCKETS ? i : STRATA_GC_PAUSE_BUCKETS - 1;
}

typedef struct strata_gc_stats {
  size_t cycles;               /* completed collections */
  size_t heap_live;            /* bytes marked live at the end of the last cycle */
  size_t heap_allocated;       /* bytes in allocated objects now */
  size_t heap_goal;            /* the pacer's trigger for the next cycle */
  size_t heap_committed;       /* bytes of spans (in use or cached) */
  size_t heap_limit;           /* the soft limit (0: none) */
  size_t objects_allocated;    /* objects allocated so far */
  size_t objects_freed;        /* objects swept so far */
  size_t finalizers_run;
  size_t weak_cleared;
  uint64_t pause_total_ns;     /* every stop of any thread, summed */
  uint64_t pause_max_ns;
  uint64_t pause_max_ack_ns;   /* of the longest stop, the time spent waiting for
                                  the stopped threads to answer (a thread that
                                  had no core answers late: scheduling, not work) */
  size_t pauses;
  size_t pause_hist[STRATA_GC_PAUSE_BUCKETS];
  uint64_t mark_ns;            /* wall time spent marking, all cycles */
  uint64_t sweep_ns;           /* time spent sweeping, all threads */
  size_t assist_bytes;         /* bytes scanned by allocating threads (mark assists) */
  uint64_t assist_ns;          /* time allocating threads spent in assists */
  size_t stack_rescans;        /* cycles whose termination scanned every stack again
                                  (the first stop could not take a whole snapshot) */
  size_t stops_taken_back;     /* stops of the world given up and asked again
                                  because a thread took too long to answer (each
                                  one also counts as a pause); cumulative */
} strata_gc_stats_t;

int  strata_gc_stats_get(strata_gc_stats_t *out);
/* Start a new statistics window: the pause figures (count, total, max,
 * histogram, log), mark, sweep and assist times go back to zero; cycles,
 * heap and object counts do not.  For measuring a phase of a program. */
void strata_gc_stats_reset(void);
/* Every pause, exactly: the collector keeps the last STRATA_GC_PAUSE_LOG
 * stops of the window.  Copies up to max of them (ns, oldest first) and
 * returns how many; *dropped (may be NULL) gets how many pauses of the
 * window came before the oldest one kept (0: ns holds the whole window
 * when max was big enough). */
#define STRATA_GC_PAUSE_LOG 4096
size_t strata_gc_pause_log(uint64_t *ns, size_t max, size_t *dropped);
/* Pause percentile (0..100) from the histogram, in nanoseconds (upper
 * bucket bound; 0 when there was no pause). */
uint64_t strata_gc_pause_percentile(const strata_gc_stats_t *st, double pct);
void strata_gc_stats_print(FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
