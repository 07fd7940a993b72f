/* strata rc: the object header, its flags and the functions each rc file
 * owns.  The public fast paths (include/strata/rc.h) depend on the first
 * word of this layout; docs/rc.md has the full story.
 *
 * Object layout (32-byte header, payload 16-byte aligned like any malloc
 * block; the whole thing is one strata_malloc block):
 *
 *   +0        +8            +16       +20       +24              +32
 *   | rc      | tf          | weak    | gc      | link           | payload ...
 *   | u64     | type|T|A    | u32     | u32     | hdr* | color   |
 *
 *   rc word (atomic flavour: every access atomic; non-atomic: plain):
 *    63 62           32 31                      4   3    2    1    0
 *   +--+---------------+-------------------------+---+----+----+----+
 *   |0 | strong count  |          zero           |BUF|DEAD|WANT| A  |
 *   +--+---------------+-------------------------+---+----+----+----+
 *    bit 63 set = count past 2^31 (overflow) or a decrement below 0:
 *    both fast paths send "negative" words to the slow path.
 *
 *   tf: the type pointer (8-aligned) | TF_TRACED (type has traverse)
 *       | TF_ATOMIC.  Written once at creation; read-only after.
 *
 * Glossary (who reads / who writes):
 *   rc.count  -- every holder; retain/release fast paths, weak upgrade CAS
 *   rc.A      -- constant: the object's flavour (fast paths check it)
 *   rc.WANT   -- "traced, alive, not in any candidate buffer": the release
 *                fast path takes the slow path to buffer it.  Cleared by
 *                the thread that buffers (atomic fetch_and: exactly one
 *                wins), set again when the entry leaves the buffer if the
 *                object is alive; cleared for good when it dies.
 *   rc.BUF    -- "in a candidate buffer" (that entry holds a weak unit); set
 *                together with clearing WANT (one CAS), cleared when the
 *                entry is dropped.  Only the buffer's owner thread clears it.
 *   rc.DEAD   -- set when the object dies: count hit 0 (release path) or
 *                condemned by the collector (count may be > 0 then: the
 *                garbage members still point at each other).  Never
 *                cleared.  Weak upgrades fail; a release reaching 0 on a
 *                DEAD object does nothing (the collector frees it).
 *   weak      -- weak references + 1 while the strong side lives (the
 *                strong side's unit is dropped after destroy) + 1 per
 *                candidate-buffer entry.  The storage is freed when it
 *                reaches 0: whoever drops the last unit frees it.
 *                Atomic flavour: atomic, acq_rel decrement.
 *   gc, link  -- collector only (no atomics: covered by the concurrency
 *                contract): gc is the trial count, link chains the scan
 *                list, its low 2 bits are the color.
 *
 * Object invariants:
 *   count(rc) == 0            =>  DEAD and !WANT
 *   WANT                      =>  TF_TRACED and !DEAD and count > 0
 *   WANT                      =>  !BUF
 *   traced and alive          =>  WANT xor BUF
 *   BUF                       <=> exactly one buffer entry holds it
 *   weak == weak refs + (strong side not yet released ? 1 : 0) + BUF
 *   outside a collection       =>  color BLACK, link NULL
 */
#ifndef STRATA_RC_INTERNAL_H
#define STRATA_RC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "malloc/internal.h"   /* _st_message, _st_option: the error reporter */
#include "strata/malloc.h"
#include "strata/rc.h"

#define RC_ONE     STRATA_RC_ONE
#define RC_A       STRATA_RC_F_ATOMIC
#define RC_WANT    STRATA_RC_F_WANT
#define RC_DEAD    4ull
#define RC_BUF     8ull
#define RC_GONE    16ull  /* dead, its strong side's storage unit dropped (weak_count) */
#define RC_FLAGS   (RC_ONE - 1)
#define RC_NEG     (1ull << 63)
#define RC_SATURATED ((uint64_t)0x60000000u << 32)  /* count 3*2^29: far from 0 and 2^31 */

#define TF_ATOMIC  1u
#define TF_TRACED  2u
#define TF_MASK    7u

/* collector colors, in the low bits of link (Bacon & Rajan's names) */
#define GC_BLACK   0u   /* not in the current scan, or proven reachable */
#define GC_GRAY    1u   /* in the scan list, trial count being computed */
#define GC_WHITE   2u   /* trial count 0 and not reachable from a live one */
#define GC_COLOR   3u

typedef struct st_rc_hdr st_rc_hdr_t;
struct st_rc_hdr {
  uint64_t     rc;     /* see the rc word above */
  uintptr_t    tf;     /* type | TF_* ; immutable */
  uint32_t     weak;   /* storage units; see glossary */
  uint32_t     gc;     /* collector: trial count */
  uintptr_t    link;   /* collector: next in scan list | color */
};
_Static_assert(sizeof(st_rc_hdr_t) == STRATA_RC_HDR, "rc header size");

static inline st_rc_hdr_t *rc_hdr(const void *obj) {
  return (st_rc_hdr_t *)((char *)obj - STRATA_RC_HDR);
}
static inline void *rc_obj(st_rc_hdr_t *h) { return (char *)h + STRATA_RC_HDR; }
static inline const strata_rc_type_t *rc_type(const st_rc_hdr_t *h) {
  return (const strata_rc_type_t *)(h->tf & ~(uintptr_t)TF_MASK);
}
static inline bool rc_atomic(const st_rc_hdr_t *h) { return h->tf & TF_ATOMIC; }
static inline bool rc_traced(const st_rc_hdr_t *h) { return h->tf & TF_TRACED; }

/* rc word access by flavour: atomic objects always atomically. */
static inline uint64_t rc_load(const st_rc_hdr_t *h) {
  return rc_atomic(h) ? __atomic_load_n(&h->rc, __ATOMIC_ACQUIRE) : h->rc;
}
static inline uint64_t rc_fetch_and(st_rc_hdr_t *h, uint64_t m) {
  if (rc_atomic(h)) return __atomic_fetch_and(&h->rc, m, __ATOMIC_ACQ_REL);
  uint64_t o = h->rc; h->rc = o & m; return o;
}
static inline uint64_t rc_fetch_or(st_rc_hdr_t *h, uint64_t m) {
  if (rc_atomic(h)) return __atomic_fetch_or(&h->rc, m, __ATOMIC_ACQ_REL);
  uint64_t o = h->rc; h->rc = o | m; return o;
}
static inline uint32_t rc_count(uint64_t w) { return (uint32_t)(w >> 32); }
static inline bool rc_alive(uint64_t w) { return rc_count(w) != 0 && !(w & RC_DEAD); }
/* Just before a dead object's strong side drops its storage unit (its
 * destructor has run).  Other threads may still read the word (a weak
 * upgrade's load, then a CAS that fails on count 0): by flavour. */
static inline void rc_mark_gone(st_rc_hdr_t *h) { (void)rc_fetch_or(h, RC_GONE); }

/* ---- rc.c: objects, weak units, misuse reports ---- */
ST_INTERNAL void _st_rc_weak_add(st_rc_hdr_t *h);        /* caller holds a unit */
ST_INTERNAL void _st_rc_weak_drop(st_rc_hdr_t *h);       /* may free the storage */
ST_INTERNAL void _st_rc_misuse(const char *what, const void *obj); /* reports; may abort */

/* ---- cycle.c: candidate buffer and collector ---- */
/* Buffer a traced object as a possible cycle root if it still WANTs it (the
 * caller holds a strong reference): one CAS WANT -> BUF, a weak unit, an
 * entry in the calling thread's buffer.  Returns true if it buffered. */
ST_INTERNAL bool _st_rc_buffer(st_rc_hdr_t *h);
/* Test hook (tests/u_rc.c): nonzero makes the growth of the candidate
 * buffer and of the scan stack fail, as if out of memory. */
ST_INTERNAL extern int _st_rc_fail_alloc;
/* After a release that buffered: run the automatic collection if due. */
ST_INTERNAL void _st_rc_maybe_collect(void);
/* objects_live += d: this thread's counter slot (NULL until claimed) */
ST_INTERNAL extern __thread int64_t *_st_rc_live;
ST_INTERNAL void _st_rc_stat_live_slow(long d);
static inline void rc_stat_live(long d) {
  int64_t *n = _st_rc_live;
  if (st_likely(n != NULL)) __atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
  else _st_rc_stat_live_slow(d);
}

#endif
