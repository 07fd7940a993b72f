/* strata/rc.h -- reference counting with weak references and a cycle
 * collector (layer 3, ownership helpers).  Design: docs/rc.md.
 *
 * An rc object is a payload preceded by a 32-byte header, allocated with
 * strata_malloc.  Its type descriptor (strata_rc_type_t) names it, says how
 * to destroy it, how to find the strong references it holds (traverse, for
 * the cycle collector) and which flavour its counts are:
 *
 *   non-atomic  strata_rc_retain / strata_rc_release: plain increments, for
 *               objects used by one thread at a time (Rust's Rc);
 *   atomic      strata_arc_retain / strata_arc_release: relaxed increment,
 *               acq_rel decrement, as std::shared_ptr (Rust's Arc).
 *
 * Using the wrong pair on an object is reported and aborts (the flavour bit
 * is tested on the value the fast path already has in a register).
 *
 * Lifetime: the strong count starts at 1.  When it drops to 0, weak
 * references stop upgrading, then type->destroy runs (it must release the
 * references the object holds), then the memory is freed -- or, while weak
 * references remain, kept until the last one is released (as make_shared's
 * control block).
 *
 * Cycle collector (trial deletion, Bacon & Rajan 2001): an object of a type
 * with a traverse callback whose count is decremented to a non-zero value is
 * buffered as a possible cycle root in the calling thread's candidate buffer.
 * strata_rc_collect() -- or the automatic trigger when a thread's buffer
 * reaches the threshold -- finds the garbage cycles reachable from that
 * thread's candidates, marks them dead (weak references to them stop
 * upgrading), runs all their destructors while every member's memory is still
 * valid, then frees them.
 *
 * Concurrency contract: retain/release/weak operations of the atomic flavour
 * may race freely.  A collection in thread T reads and trial-counts every
 * object reachable from T's candidates: while it runs, no other thread may
 * retain, release, weak-upgrade or change the references of those objects.
 * Non-atomic objects meet this by construction.  Programs that share atomic
 * objects of traced types between threads set the threshold to 0 and call
 * strata_rc_collect() at points where those graphs are quiescent (docs/rc.md,
 * "Threads").
 *
 * Misuse reported on stderr as one line "strata: rc: ..." followed by abort()
 * (option abort_on_error=0: reported and the call ignored) in every build:
 * release of an object whose count is zero, retain of an object whose count
 * is zero, a count passing STRATA_RC_MAX (then saturated, never freed), the
 * wrong flavour's retain/release, a destructor resurrecting a collected
 * object.  Memory that was already freed cannot be checked: a release after
 * the last one is caught only while the storage is still there (weak refs,
 * or from inside the destructor).
 */
#ifndef STRATA_RC_H
#define STRATA_RC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- types ------------------------------------------------------------ */

/* visit(child, arg): called by a traverse callback once per strong
 * reference the object holds (NULL children are ignored). */
typedef void (*strata_rc_visit_fn)(void *child, void *arg);

#define STRATA_RC_ATOMIC 1u      /* strata_rc_type_t.flags: atomic flavour */

typedef struct strata_rc_type {
  const char *name;              /* for messages */
  /* Runs once when the object dies (count 0, or garbage found by the
   * collector), after weak references were cleared.  It must release every
   * strong reference the object holds and must not store a new reference
   * to the object anywhere.  May be NULL.  Does not free the object. */
  void (*destroy)(void *obj);
  /* Calls visit(child, arg) for each strong reference held (exactly the
   * ones destroy releases).  NULL: the type cannot be part of a cycle and is
   * never buffered.  A type with traverse must have destroy. */
  void (*traverse)(void *obj, strata_rc_visit_fn visit, void *arg);
  unsigned flags;                /* 0 or STRATA_RC_ATOMIC */
} strata_rc_type_t;

/* ---- header layout (docs/rc.md): the fast paths below use it -------- */

#define STRATA_RC_HDR      32u           /* header bytes before the payload */
#define STRATA_RC_ONE      (1ull << 32)  /* count unit in the rc word */
#define STRATA_RC_MAX      0x7fffffffu   /* largest strong count */
#define STRATA_RC_F_ATOMIC 1ull          /* rc word: atomic flavour (constant) */
#define STRATA_RC_F_WANT   2ull          /* rc word: traced, not buffered, alive */

/* The rc word of an object (for the inline fast paths and white-box tests). */
static inline uint64_t *strata_rc_hdr_word(const void *obj) {
  return (uint64_t *)((char *)obj - STRATA_RC_HDR);
}
/* Out-of-line slow paths (not for direct use). */
void strata_rc_slow_retain(void *obj, int atomic_api);
void strata_rc_slow_release(void *obj, uint64_t w, int atomic_api);

/* ---- objects ------------------------------------------------------------ */

/* New object of `size` zeroed payload bytes with count 1, 16-byte aligned.
 * Returns the payload; NULL with errno ENOMEM (no memory, or size above
 * PTRDIFF_MAX - STRATA_RC_HDR) or EINVAL (type NULL, misaligned, flags
 * other than STRATA_RC_ATOMIC, or a traverse without a destroy: the
 * references it reports would never be released). */
void *strata_rc_new(const strata_rc_type_t *type, size_t size);

/* Non-atomic flavour.  obj must be a live rc object (not NULL); retain
 * returns obj.  Never fail; misuse is reported (see above). */
static inline void *strata_rc_retain(void *obj) {
  uint64_t *rc = strata_rc_hdr_word(obj);
  uint64_t old = *rc, nw = old + STRATA_RC_ONE;
  *rc = nw;
  /* slow (sign bit): count was 0, new count past STRATA_RC_MAX, or the
   * atomic flavour (bit 0 shifted to bit 63) */
  if (__builtin_expect((int64_t)((old - STRATA_RC_ONE) | nw | (old << 63)) < 0, 0))
    strata_rc_slow_retain(obj, 0);
  return obj;
}
static inline void strata_rc_release(void *obj) {
  uint64_t *rc = strata_rc_hdr_word(obj);
  uint64_t w = *rc - STRATA_RC_ONE;
  *rc = w;
  /* slow: now 0 (or was 0), buffer as a cycle candidate, wrong flavour */
  if (__builtin_expect((int64_t)(w - STRATA_RC_ONE) < 0 ||
                       (w & (STRATA_RC_F_WANT | STRATA_RC_F_ATOMIC)) != 0, 0))
    strata_rc_slow_release(obj, w, 0);
}

/* Atomic flavour.  obj must be a live rc object (not NULL); retain returns
 * obj.  Never fail; misuse is reported (see above). */
static inline void *strata_arc_retain(void *obj) {
  uint64_t old = __atomic_fetch_add(strata_rc_hdr_word(obj), STRATA_RC_ONE, __ATOMIC_RELAXED);
  /* slow: count was 0, new count past STRATA_RC_MAX, or non-atomic flavour */
  if (__builtin_expect((int64_t)((old - STRATA_RC_ONE) | (old + STRATA_RC_ONE) | (~old << 63)) < 0, 0))
    strata_rc_slow_retain(obj, 1);
  return obj;
}
static inline void strata_arc_release(void *obj) {
  uint64_t *rc = strata_rc_hdr_word(obj);
  /* A candidate must be buffered while we still hold our reference (after
   * the decrement another thread may free it): test WANT first. */
  if (__builtin_expect((__atomic_load_n(rc, __ATOMIC_RELAXED) & STRATA_RC_F_WANT) != 0, 0)) {
    strata_rc_slow_release(obj, 0, 2);
    return;
  }
  uint64_t w = __atomic_fetch_sub(rc, STRATA_RC_ONE, __ATOMIC_ACQ_REL) - STRATA_RC_ONE;
  if (__builtin_expect((int64_t)(w - STRATA_RC_ONE) < 0 || !(w & STRATA_RC_F_ATOMIC), 0))
    strata_rc_slow_release(obj, w, 1);
}

/* Strong count now (a snapshot for the atomic flavour).  Never fails. */
uint32_t strata_rc_count(const void *obj);
/* Weak references now (not counting the strong side's own).  Never fails. */
uint32_t strata_rc_weak_count(const void *obj);
/* The object's type descriptor.  Never fails. */
const strata_rc_type_t *strata_rc_type(const void *obj);
/* 1 for the atomic flavour, 0 for the non-atomic one.  Never fails. */
int strata_rc_is_atomic(const void *obj);

/* ---- weak references (weak_ptr) ------------------------------------------
 * A weak reference keeps the storage of the object (its header and payload
 * memory), not the object: once the strong count is 0 or the collector has
 * condemned it, strata_weak_lock returns NULL.  Both flavours; for the
 * atomic flavour these may race with retain/release/lock in other threads. */
typedef struct strata_weak { void *obj; } strata_weak_t;

/* Weak reference to a live object (obj must be held strongly by the caller).
 * Returns {NULL} and sets errno EINVAL if obj is NULL or dead, EOVERFLOW if
 * the weak count would pass STRATA_RC_MAX. */
strata_weak_t strata_weak_new(void *obj);
/* Another weak reference to the same storage.  {NULL} (errno EINVAL) if w is
 * empty, EOVERFLOW as above. */
strata_weak_t strata_weak_copy(strata_weak_t w);
/* A new strong reference if the object is alive, else NULL (not an error;
 * errno unchanged).  Never resurrects: a CAS loop that fails on count 0. */
void *strata_weak_lock(strata_weak_t w);
/* 1 if strata_weak_lock would now return NULL, else 0.  Never fails. */
int strata_weak_expired(strata_weak_t w);
/* Drops the weak reference; frees the storage if it was the last holder.
 * An empty w is ignored.  Never fails. */
void strata_weak_release(strata_weak_t w);

/* ---- cycle collector ------------------------------------------------------ */

/* Collects garbage cycles reachable from the calling thread's candidates.
 * Returns the number of objects reclaimed (>= 0), or -1 with errno ENOMEM
 * (no memory for the scan stack), EINVAL (a traverse callback reported more
 * references to an object than its count: misuse, reported on stderr, which
 * aborts unless on_misuse=ignore) -- in both cases nothing was changed and
 * the candidates are kept -- or EDEADLK
 * (called from a destructor run by a collection).  See the concurrency
 * contract above. */
long strata_rc_collect(void);

/* Automatic collection when a thread's candidate buffer holds this many
 * objects (default 10000); 0 turns automatic collection off (then also at
 * thread exit).  Process-wide.  Returns the previous value; never fails. */
size_t strata_rc_set_threshold(size_t n);
size_t strata_rc_get_threshold(void);

/* Candidates buffered by the calling thread now.  Never fails. */
size_t strata_rc_candidates(void);

typedef struct strata_rc_stats {
  uint64_t collections;        /* collections run (explicit + automatic) */
  uint64_t auto_collections;   /* of those, started by the threshold */
  uint64_t candidates;         /* buffer entries examined */
  uint64_t scanned;            /* objects trial-counted (gray) */
  uint64_t cycles;             /* garbage groups found (each holds >= 1 cycle;
                                  cycles joined by references count once) */
  uint64_t reclaimed;          /* objects reclaimed by the collector */
  uint64_t resurrected;        /* condemned objects a destructor kept: leaked */
  uint64_t buffer_failures;    /* candidates not buffered (no memory) */
  uint64_t time_ns;            /* wall time spent in collections */
  uint64_t objects_live;       /* rc objects created minus storage freed */
} strata_rc_stats_t;

/* Process-wide totals.  Never fails (out may not be NULL). */
void strata_rc_stats_get(strata_rc_stats_t *out);

/* Checks the calling thread's candidate buffer (every entry buffered, traced,
 * holding a weak unit, no duplicates, no collector marks left).  Returns 0,
 * or reports on stderr and returns -1.  For tests; O(candidates). */
int strata_rc_check(void);

#ifdef __cplusplus
}
#endif
#endif
