/* rc.c -- reference-counted objects: creation, the slow paths of retain and
 * release, death, weak references, and misuse reports.
 *
 * The fast paths are static inline in include/strata/rc.h.  They work on the
 * first header word only (see src/rc/internal.h for the layout):
 *
 *   retain   rc += ONE            slow if the old count was 0, is past 2^31,
 *                                 or the flavour bit says "wrong pair"
 *   release  rc -= ONE            slow if the new count is 0 (or the old one
 *                                 was), the object wants buffering as a cycle
 *                                 candidate (WANT), or the flavour is wrong
 *
 * Every test is folded into one or two sign/bit tests on a value already in a
 * register, so the checks cost no memory access.  The atomic flavour reads
 * WANT before its decrement: a candidate must be buffered while the caller
 * still owns a reference (after the decrement, another thread may free it).
 *
 * Death (count reaches 0 through release):
 *   1. the rc word becomes DEAD with WANT cleared (a CAS: racing weak
 *      upgrades see count 0 and fail -- "weak references are cleared first");
 *   2. type->destroy(obj) runs; it releases what the object holds;
 *   3. the strong side's storage unit is dropped; the block is freed when no
 *      weak reference or candidate-buffer entry holds a unit.
 * An object condemned by the cycle collector is DEAD with a count > 0; a
 * release that brings it to 0 does nothing, the collector frees it.
 *
 * Weak references hold storage units (the `weak` field).  Upgrade is a CAS
 * loop that only ever moves a live count n > 0 to n + 1, so a count of 0 is
 * never resurrected (std::weak_ptr::lock does the same).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "rc/internal.h"

/* ---- misuse ---------------------------------------------------------- */

ST_COLD void _st_rc_misuse(const char *what, const void *obj) {
  const char *name = "?";
  if (obj) {
    const strata_rc_type_t *t = rc_type(rc_hdr(obj));
    if (t && t->name) name = t->name;
  }
  _st_message("strata: rc: %s (object %p, type %s)%s\n", what, obj, name,
              _st_option(OPT_ABORT_ON_ERROR) ? "; aborting" : "; ignored");
  if (_st_option(OPT_ABORT_ON_ERROR)) abort();
}

/* Undo a fast path's +ONE / -ONE with the object's own kind of access. */
static void rc_add(st_rc_hdr_t *h, uint64_t d) {
  if (rc_atomic(h)) __atomic_fetch_add(&h->rc, d, __ATOMIC_RELAXED);
  else h->rc += d;
}

/* ---- objects --------------------------------------------------------- */

STRATA_API void *strata_rc_new(const strata_rc_type_t *type, size_t size) {
  if (!type || (type->flags & ~STRATA_RC_ATOMIC) || ((uintptr_t)type & TF_MASK) ||
      (type->traverse && !type->destroy)) {   /* its references would never be released */
    errno = EINVAL;
    return NULL;
  }
  if (size > (size_t)PTRDIFF_MAX - STRATA_RC_HDR) { errno = ENOMEM; return NULL; }
  st_rc_hdr_t *h = strata_malloc(STRATA_RC_HDR + size);
  if (!h) return NULL;
  memset(h, 0, STRATA_RC_HDR + size);
  bool at = type->flags & STRATA_RC_ATOMIC;
  h->tf = (uintptr_t)type | (at ? TF_ATOMIC : 0) | (type->traverse ? TF_TRACED : 0);
  h->weak = 1;                                   /* the strong side's unit */
  h->rc = RC_ONE | (at ? RC_A : 0) | (type->traverse ? RC_WANT : 0);
  rc_stat_live(1);
  return rc_obj(h);
}

STRATA_API uint32_t strata_rc_count(const void *obj) { return rc_count(rc_load(rc_hdr(obj))); }

STRATA_API uint32_t strata_rc_weak_count(const void *obj) {
  const st_rc_hdr_t *h = rc_hdr(obj);
  uint64_t w = rc_load(h);
  uint32_t n = rc_atomic(h) ? __atomic_load_n(&h->weak, __ATOMIC_ACQUIRE) : h->weak;
  /* units = weak refs + the strong side's (while alive, and while a dead
   * one's destructor runs: it used to count as a weak reference there,
   * found by review) + a buffer entry */
  n -= (w & RC_BUF) ? 1 : 0;
  n -= rc_alive(w) || ((w & RC_DEAD) && !(w & RC_GONE)) ? 1 : 0;
  return n;
}

STRATA_API const strata_rc_type_t *strata_rc_type(const void *obj) { return rc_type(rc_hdr(obj)); }
STRATA_API int strata_rc_is_atomic(const void *obj) { return rc_atomic(rc_hdr(obj)); }

/* ---- storage units ---------------------------------------------------- */

void _st_rc_weak_add(st_rc_hdr_t *h) {
  if (rc_atomic(h)) __atomic_fetch_add(&h->weak, 1, __ATOMIC_RELAXED);  /* caller holds a unit */
  else h->weak++;
}

void _st_rc_weak_drop(st_rc_hdr_t *h) {
  uint32_t n;
  /* release: our writes to the object happen before the free; acquire: the
   * freeing thread sees everyone else's.  A caller holding the only unit
   * (weak == 1) frees without the atomic decrement, as libstdc++ does: no
   * unit can be added meanwhile (that takes a strong reference, and the
   * object is dead or dying, or another unit). */
  if (!rc_atomic(h)) n = --h->weak;
  else if (__atomic_load_n(&h->weak, __ATOMIC_ACQUIRE) == 1) n = 0;
  else n = __atomic_sub_fetch(&h->weak, 1, __ATOMIC_ACQ_REL);
  if (st_likely(n != 0)) {
    if (STRATA_DEBUG && n > STRATA_RC_MAX) _st_rc_misuse("weak count below zero", rc_obj(h));
    return;
  }
  if (STRATA_DEBUG && !(rc_load(h) & RC_DEAD))
    _st_rc_misuse("storage freed while the object is alive", rc_obj(h));
  rc_stat_live(-1);
  strata_free(h);
}

/* ---- death ------------------------------------------------------------ */

/* Count reached 0 through a release.  The caller dropped the last strong
 * reference, so nobody else writes the rc word any more: weak upgrades CAS
 * from a count > 0 and fail, buffering needs a strong reference, and a
 * collection in another thread reaching this object would break the
 * contract.  A release store suffices (no second lock-prefixed operation). */
static void rc_die(st_rc_hdr_t *h) {
  uint64_t old = rc_load(h);
  if (old & RC_DEAD) return;              /* condemned: the collector frees it */
  if (rc_count(old) != 0) return;         /* a racing misuse revived it; reported there */
  uint64_t nw = (old & ~RC_WANT) | RC_DEAD;
  if (rc_atomic(h)) __atomic_store_n(&h->rc, nw, __ATOMIC_RELEASE);
  else h->rc = nw;
  const strata_rc_type_t *t = rc_type(h);
  if (t->destroy) t->destroy(rc_obj(h));
  rc_mark_gone(h);
  _st_rc_weak_drop(h);                    /* the strong side's unit */
}

/* ---- slow paths of the inline fast paths ----------------------------- */

/* The fast path's increment is done.  The word before it is reloaded rather
 * than passed (passing it costs the fast path an instruction): exact for the
 * non-atomic flavour; for the atomic one, racing retains may make a retain
 * of a dead object read as an overflow -- misuse either way, reported. */
STRATA_API void strata_rc_slow_retain(void *obj, int atomic_api) {
  st_rc_hdr_t *h = rc_hdr(obj);
  uint64_t old = rc_load(h) - RC_ONE;
  if ((bool)atomic_api != rc_atomic(h)) {
    rc_add(h, -RC_ONE);
    _st_rc_misuse(atomic_api ? "strata_arc_retain on a non-atomic object (use strata_rc_retain)"
                             : "strata_rc_retain on an atomic object (use strata_arc_retain)", obj);
    return;
  }
  if (rc_count(old) == 0) {
    rc_add(h, -RC_ONE);
    _st_rc_misuse("retain of an object whose count is zero (dead)", obj);
    return;
  }
  /* Past STRATA_RC_MAX: pin the count far from 0 and from 2^32 (as Linux's
   * refcount_t saturates): the object is leaked, never freed early. */
  _st_rc_misuse("reference count overflow (saturated, object leaked)", obj);
  if (rc_atomic(h)) {
    old = __atomic_load_n(&h->rc, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&h->rc, &old, (old & RC_FLAGS) | RC_SATURATED, 1,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
  } else {
    h->rc = (h->rc & RC_FLAGS) | RC_SATURATED;
  }
}

/* w: the rc word after the fast path's decrement.  api: 0 non-atomic fast
 * path, 1 atomic fast path, 2 atomic fast path that saw WANT (nothing
 * decremented yet). */
STRATA_API void strata_rc_slow_release(void *obj, uint64_t w, int api) {
  st_rc_hdr_t *h = rc_hdr(obj);
  bool at = rc_atomic(h);
  if (api == 2) {
    if (!at) {
      _st_rc_misuse("strata_arc_release on a non-atomic object (use strata_rc_release)", obj);
      return;
    }
    /* Buffer while we still hold our reference -- unless it is the last
     * one (count 1): then the object is about to die, not to become a
     * cycle root.  (A weak upgrade racing in after this test only makes it
     * live on unbuffered; its own release buffers it later.) */
    bool buffered = rc_count(__atomic_load_n(&h->rc, __ATOMIC_RELAXED)) > 1 && _st_rc_buffer(h);
    w = __atomic_fetch_sub(&h->rc, RC_ONE, __ATOMIC_ACQ_REL) - RC_ONE;
    if ((int64_t)(w - RC_ONE) >= 0) {
      if (buffered) _st_rc_maybe_collect();
      return;
    }
    /* it reached 0 (or was 0): below */
  } else if ((bool)api != at) {
    rc_add(h, RC_ONE);
    _st_rc_misuse(api ? "strata_arc_release on a non-atomic object (use strata_rc_release)"
                      : "strata_rc_release on an atomic object (use strata_arc_release)", obj);
    return;
  }
  if ((int64_t)w < 0) {                   /* the count was already 0 */
    rc_add(h, RC_ONE);
    _st_rc_misuse("release of an object whose count is already zero", obj);
    return;
  }
  if (rc_count(w) == 0) { rc_die(h); return; }
  /* non-atomic, count > 0, WANT: a possible cycle root */
  if (_st_rc_buffer(h)) _st_rc_maybe_collect();
}

/* ---- weak references ---------------------------------------------------- */

static bool weak_add_checked(st_rc_hdr_t *h) {
  uint32_t n;
  if (rc_atomic(h)) n = __atomic_fetch_add(&h->weak, 1, __ATOMIC_RELAXED);
  else n = h->weak++;
  if (st_unlikely(n >= STRATA_RC_MAX)) {
    if (rc_atomic(h)) __atomic_fetch_sub(&h->weak, 1, __ATOMIC_RELAXED);
    else h->weak--;
    errno = EOVERFLOW;
    return false;
  }
  return true;
}

STRATA_API strata_weak_t strata_weak_new(void *obj) {
  strata_weak_t r = { NULL };
  if (!obj || !rc_alive(rc_load(rc_hdr(obj)))) { errno = EINVAL; return r; }
  if (weak_add_checked(rc_hdr(obj))) r.obj = obj;
  return r;
}

STRATA_API strata_weak_t strata_weak_copy(strata_weak_t w) {
  strata_weak_t r = { NULL };
  if (!w.obj) { errno = EINVAL; return r; }
  if (weak_add_checked(rc_hdr(w.obj))) r.obj = w.obj;
  return r;
}

STRATA_API void *strata_weak_lock(strata_weak_t w) {
  if (!w.obj) return NULL;
  st_rc_hdr_t *h = rc_hdr(w.obj);
  if (!rc_atomic(h)) {
    if (!rc_alive(h->rc)) return NULL;
    return strata_rc_retain(w.obj);
  }
  uint64_t old = __atomic_load_n(&h->rc, __ATOMIC_RELAXED);
  do {
    if (!rc_alive(old)) return NULL;      /* never from 0: no resurrection */
    if (st_unlikely(rc_count(old) >= STRATA_RC_MAX)) {
      _st_rc_misuse("reference count overflow in strata_weak_lock", w.obj);
      return NULL;
    }
  } while (!__atomic_compare_exchange_n(&h->rc, &old, old + RC_ONE, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED));
  return w.obj;
}

STRATA_API int strata_weak_expired(strata_weak_t w) {
  return !w.obj || !rc_alive(rc_load(rc_hdr(w.obj)));
}

STRATA_API void strata_weak_release(strata_weak_t w) {
  if (w.obj) _st_rc_weak_drop(rc_hdr(w.obj));
}
