/* strata malloc: internal types, constants and the functions each file owns.
 *
 * Memory picture (see docs/malloc.md for the full story):
 *
 *   segment (4 MiB, aligned to 4 MiB, from the OS page layer)
 *   +-----------+-----------+-----------+-----+-----------+
 *   | slice 0   | slice 1   | slice 2   | ... | slice 63  |   64 KiB slices
 *   | header:   |<- span (1 slice) ->|<--- span (n slices) --->|
 *   | page_t[64]|  one size class each, blocks carved lazily     |
 *   +-----------+-----------+-----------+-----+-----------+
 *
 *   large block (> ST_MEDIUM_MAX): its own mapping, aligned to 4 MiB,
 *   a 64-byte large_t header at the start, the block after it.
 *
 * A pointer finds its owner through the segment map (segmap.c): one byte per
 * 4 MiB of address space says "small segment here", "large block header k
 * slots back" or "not ours".  Small: segment = p & ~(4 MiB-1), page =
 * segment->pages[slice of p].span (the head descriptor of p's span).
 *
 * Glossary of page_t fields (who reads / who writes):
 *   free, used, capacity  -- owner thread only (no atomics)
 *   owner        -- written by the owner (or adopter), read by any freeing
 *                   thread: (uintptr_t)owning heap | OWNER_FULL when
 *                   parked; 0 when abandoned or free;
 *                   the free fast path is one compare with the caller's heap
 *   xthread_free -- atomic list of blocks freed by other threads, pushed by
 *                   anyone with CAS, taken by the owner with exchange.  Bit 0
 *                   (XF_FULL) is set by the owner when it parks the page on
 *                   its full list; the first remote free clears it and tells
 *                   the heap (heap->full_dirty) that a full page has room.
 *   heap         -- owning heap, read by remote freers (heaps are never
 *                   unmapped, so a stale read is harmless)
 *   next, prev   -- the owner's queue links, or the abandoned list's (under
 *                   the abandoned lock)
 *   everything else -- set when the span is assigned (under the page-heap
 *                   lock) or by _st_page_init before the page is published
 *
 * Page invariant (checked by _st_page_check in debug builds):
 *   used + |free| == capacity <= reserved,  |xthread_free| <= used
 */
#ifndef STRATA_MALLOC_INTERNAL_H
#define STRATA_MALLOC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "config.h"
#include "os/os.h"
/* ---- STRATA_VALGRIND (valgrind.c, config.h) ----------------------------
 * In a build with -DSTRATA_VALGRIND=1 the malloc family's entry points are
 * compiled under hidden _st_real_ names, and valgrind.c defines the strata_
 * and standard names as wrappers that tell memcheck where the program's
 * blocks are (client requests).  Every file of src/malloc/ calls the real
 * functions; a file that must call the wrappers (new.c: operator new is an
 * entry point too) defines ST_VG_OUTER before including this header.  With
 * STRATA_VALGRIND=0 (the default) nothing here exists and ST_ENTRY is
 * STRATA_API: the release build's code is unchanged. */
#if STRATA_VALGRIND && !defined(ST_VG_OUTER)
#define strata_malloc              _st_real_malloc
#define strata_free                _st_real_free
#define strata_calloc              _st_real_calloc
#define strata_realloc             _st_real_realloc
#define strata_reallocarray        _st_real_reallocarray
#define strata_posix_memalign      _st_real_posix_memalign
#define strata_aligned_alloc       _st_real_aligned_alloc
#define strata_memalign            _st_real_memalign
#define strata_valloc              _st_real_valloc
#define strata_pvalloc             _st_real_pvalloc
#define strata_malloc_usable_size  _st_real_malloc_usable_size
#define strata_free_sized          _st_real_free_sized
#define strata_free_aligned_sized  _st_real_free_aligned_sized
#define strata_cfree               _st_real_cfree
#define _st_free_checked           _st_real_free_checked
#endif
#if STRATA_VALGRIND
#define ST_ENTRY ST_INTERNAL       /* the real functions: not exported */
/* Code that reads or writes freed blocks outside the wrappers (a thread's
 * exit, the purge thread, malloc_trim, the checks, statistics and the exit
 * report) runs with memcheck's error reporting off, like the wrappers'
 * calls (found by review, stop 32: a threaded program got hundreds of
 * false reports from its threads' exits). */
#include <valgrind/valgrind.h>
#define ST_VG_QUIET_BEGIN VALGRIND_DISABLE_ERROR_REPORTING
#define ST_VG_QUIET_END   VALGRIND_ENABLE_ERROR_REPORTING
#else
#define ST_ENTRY STRATA_API
#define ST_VG_QUIET_BEGIN ((void)0)
#define ST_VG_QUIET_END   ((void)0)
#endif
#include "strata/malloc.h"
#include "strata/stats.h"
#include <string.h>

/* realloc by moving: a new block of `size`, the first min(keep, size)
 * bytes copied, then p freed; NULL (errno from malloc) with p intact. */
static inline void *st_realloc_move(void *p, size_t size, size_t keep) {
  void *q = strata_malloc(size);
  if (q == NULL) return NULL;                   /* the old block stays intact */
  memcpy(q, p, keep < size ? keep : size);
  strata_free(p);
  return q;
}

/* ---- geometry ---------------------------------------------------------- */
#define ST_SEGMENT_SHIFT   22
#define ST_SEGMENT_SIZE    ((size_t)1 << ST_SEGMENT_SHIFT)      /* 4 MiB */
#define ST_SEGMENT_MASK    (ST_SEGMENT_SIZE - 1)
#define ST_SLICE_SHIFT     16
#define ST_SLICE_SIZE      ((size_t)1 << ST_SLICE_SHIFT)        /* 64 KiB */
#define ST_SLICES          (ST_SEGMENT_SIZE / ST_SLICE_SIZE)     /* 64 */
#define ST_MEDIUM_MAX      ((size_t)128 << 10)  /* largest size served from spans */
#define ST_SMALL_FAST_MAX  1024                 /* sizes with a table lookup */
#define ST_NCLASSES        88
#define ST_LARGE_HEADER    64                   /* bytes before a large block */
#define ST_MAX_ALIGN_SMALL ST_SLICE_SIZE        /* larger alignments go large */
#define ST_MAX_SIZE        ((size_t)PTRDIFF_MAX)
#define ST_EXTEND_BYTES    4096                 /* carve at most this much at once */

/* ---- size classes (sizeclass.c) ---------------------------------------- */
/* Classes: 16..128 in steps of 16, then 8 classes per doubling up to 128 KiB.
 * Waste above 128 bytes is below 12.5% of the request (tests/u_sizeclass.c). */
extern const uint8_t _st_class_small[ST_SMALL_FAST_MAX + 1] ST_INTERNAL;
ST_INTERNAL size_t   _st_class_size(unsigned cls);
ST_INTERNAL unsigned _st_class_of(size_t size);      /* size <= ST_MEDIUM_MAX */
ST_INTERNAL unsigned _st_class_slices(unsigned cls); /* span length in slices */

static inline unsigned st_class_fast(size_t size) {  /* size <= ST_SMALL_FAST_MAX */
  return _st_class_small[size];
}
/* 1 KiB < size <= ST_MEDIUM_MAX: the classes' formula (see sizeclass.c). */
static inline unsigned st_class_medium(size_t size) {
  unsigned b = 63u - (unsigned)__builtin_clzl(size - 1);     /* 2^b < size <= 2^(b+1) */
  return 8 + (b - 7) * 8 + (unsigned)(((size - 1) >> (b - 3)) & 7);
}

/* ---- blocks, pages, segments ------------------------------------------- */
/* A free block's first word is its successor on a free list, encoded with
 * its page's key (st_next / st_set_next): an overwritten freed block yields
 * a pointer nobody chose, which the malloc fast path rejects unless it
 * lands in the page's own segment (docs/hardening.md). */
typedef struct block_s { uintptr_t enc; } block_t;

#define OWNER_FULL     ((uintptr_t)1)  /* page is on its heap's full list */
#define OWNER_SLOW     ((uintptr_t)2)  /* the owner's frees take the slow path:
                                          secure mode (zeroing), or purged units
                                          whose held blocks a double free must
                                          not reach (st_owner_word) */
#define OWNER_FLAGS    (OWNER_FULL | OWNER_SLOW)
/* xthread_free word:  63..48 count | 47..1 first block | 0 XF_FULL.
 * User-space addresses fit in 47 bits, and a page holds at most 4096 blocks,
 * so the count never overflows its 16 bits. */
#define XF_FULL        ((uintptr_t)1)
#define XF_COUNT_SHIFT 48
#define XF_PTR_MASK    ((((uintptr_t)1 << XF_COUNT_SHIFT) - 1) & ~XF_FULL)

struct heap_s;
typedef struct __attribute__((aligned(128))) page_s {
  /* first cache line: the owner's, written by every malloc and free of the
   * owner (no other thread reads it, so it never leaves the owner's cache) */
  block_t *free;                 /* blocks to hand out; owner frees here (owner) */
  uint32_t used;                 /* handed out, not yet back          (owner) */
  uint32_t capacity;             /* blocks carved so far              (owner) */
  uintptr_t key;                 /* free-list link key (set at init)          */
  struct page_s *next, *prev;    /* in a heap queue or the abandoned list     */
  /* purging inside a span that still holds live blocks (page.c, "Sparse
   * pages"), all owner-only: */
  uint32_t purge_low;            /* armed low-water mark: `used` counts down
                                    from real-used - purge_low, so the free
                                    fast path's "--used == 0" fires there too;
                                    0 when not armed (st_page_used)            */
  uint32_t held;                 /* free blocks in purged units, not listed   */
  uint64_t purged;               /* bit u: unit u of the span is purged       */
  uint32_t purge_stamp;          /* ms clock of the last unpurge of this span */
  uint8_t  unit_shift;           /* log2 bytes per purge unit (>= OS page)    */
  uint8_t  sparse_queued;        /* in its heap's sparse_q                    */
  /* second line: what every free reads, the remote ones included; written
   * rarely (page init, park, abandon, and chk once per carve of about
   * ST_EXTEND_BYTES), so other threads' frees read it
   * without taking the owner's hot line above away from it */
  struct page_s *span __attribute__((aligned(64)));  /* head descriptor of this
                                    slice's span                              */
  _Atomic uintptr_t owner;       /* heap | OWNER_*; 0 = no owner              */
  uint8_t  *chk;                 /* the last carved block's start (the first
                                    block is the span's: st_span_addr); moves
                                    when the owner carves: st_page_set_chk */
  uint64_t inv;                  /* floor((2^64-1) / block_size):
                                    st_block_index, st_block_start            */
  struct heap_s *_Atomic heap;   /* owning heap, NULL when abandoned          */
  _Atomic uintptr_t xthread_free;/* count | remote frees | XF_FULL (unbatched
                                    remote frees: remote.c)                   */
  uint32_t block_size;
  uint32_t reserved;             /* blocks the span can hold                  */
  uint16_t cls;
  uint8_t  slice_count;          /* span length (head slice only)             */
  uint8_t  slice_offset;         /* distance to the head slice                */
  uint8_t  in_use;               /* span assigned to a size class             */
  uint8_t  abandoned;            /* on the abandoned list                     */
} page_t;
_Static_assert(offsetof(page_t, sparse_queued) < 64, "the owner's fields share one cache line");
_Static_assert(sizeof(page_t) == 128, "a page descriptor is two cache lines");

/* Secure mode (option secure, read at start-up; docs/hardening.md), and
 * its zeroing of freed blocks (option secure_zero, on unless turned off). */
extern int _st_secure ST_INTERNAL;
/* 0 (no zeroing), or how a freed block below ST_ZERO_STREAM_MIN bytes is
 * zeroed (st_zero_block): ST_ZERO_REP where the CPU has fast short string
 * stores (zero.c, _st_zero_how), ST_ZERO_STORES elsewhere */
extern int _st_zero_free ST_INTERNAL;
enum { ST_ZERO_STORES = 1, ST_ZERO_REP = 2 };
/* Every free of an owner's own block takes the slow path (OWNER_SLOW on
 * every page): for zeroing when the fast path does not zero, and in secure
 * mode for the complete interior test when the fast path runs only the
 * alignment test (a build with STRATA_CHECK_INTERIOR=1). */
extern int _st_free_slow_all ST_INTERNAL;

/* The owner word for heap h (plus `flags`): OWNER_SLOW while the page has
 * purged units, and when _st_free_slow_all says every free must. */
static inline uintptr_t st_owner_word(const void *h, const page_t *page, uintptr_t flags) {
  return (uintptr_t)h | flags | ((page->purged != 0 || _st_free_slow_all) ? OWNER_SLOW : 0);
}

/* Free-list links (see block_t). */
static inline block_t *st_next(const page_t *page, const block_t *b) {
  return (block_t *)(b->enc ^ (STRATA_CHECKS ? page->key : 0));
}
static inline void st_set_next(const page_t *page, block_t *b, const block_t *next) {
  b->enc = (uintptr_t)next ^ (STRATA_CHECKS ? page->key : 0);
}
/* The span's geometry for block_size bs (page.c). */
static inline uint64_t st_block_inv(size_t bs) { return UINT64_MAX / bs; }

/* Segment header, at the start of slice 0.
 * Invariant: bit i of free_mask is set iff slice i is not part of a span;
 * bit 0 (the header) is never set; the segment is on the page heap's list
 * iff free_mask != 0. All fields under the page-heap lock. */
typedef struct segment_s {
  struct segment_s *next_all, *prev_all;   /* every live segment (page-heap lock) */
  uint64_t free_mask;
  uint64_t dirty_mask;           /* free slices not yet purged */
  uint64_t dirty_since;          /* ns, when dirty_mask last became non-zero */
  unsigned max_run;              /* longest run of free slices in free_mask */
  unsigned ph_idx;               /* 1 + its entry in the page heap's search table,
                                    0 for none (segment.c)                    */
  struct segment_s *next, *prev;
  uint32_t dirty_ms[ST_SLICES];  /* slice i's free time (ms, coarse clock) while
                                    its dirty_mask bit is set */
  page_t pages[ST_SLICES];
} segment_t;

/* Large block header.  Invariant: block == (uint8_t*)this + offset and
 * map_size covers header and block; the segment map names this header for
 * every 4 MiB slot from `this` to `block`. */
typedef struct large_s {
  uint64_t magic;
  size_t   map_size;     /* bytes mapped, from the header */
  size_t   usable;       /* bytes usable at block */
  uint8_t *block;
  size_t   align;        /* alignment asked for (>= 16) */
  size_t   dirty_end;    /* a bound on the bytes from `this` the program has
                            asked for (pages past it are known clean) */
  size_t   req;          /* the size last asked for (malloc or realloc) */
  uint64_t stack_at;     /* where the allocation's call stack (st_stack_t)
                            lies, as an offset from `this`; 0 for none (only
                            secure mode's mappings keep one: large.c) */
} large_t;

static inline segment_t *st_segment_of(const void *p) {
  return (segment_t *)((uintptr_t)p & ~(uintptr_t)ST_SEGMENT_MASK);
}
/* The first byte of the span whose head descriptor is page. */
static inline uint8_t *st_span_addr(const page_t *page) {
  segment_t *seg = st_segment_of(page);
  return (uint8_t *)seg + (size_t)(page - seg->pages) * ST_SLICE_SIZE;
}
static inline page_t *st_page_of(segment_t *seg, const void *p) {
  return seg->pages[((uintptr_t)p & ST_SEGMENT_MASK) >> ST_SLICE_SHIFT].span;
}

/* Division by the block size bs (<= 2^20) in a span of S < 2^31 bytes
 * holding R = reserved blocks, with inv = floor((2^64-1)/bs) = (2^64 - e)/bs,
 * 1 <= e <= bs (e is never 0, even for a power of two).
 *
 * st_block_index: ceil(2^64/bs) = inv + 1 = (2^64 + e')/bs, 0 <= e' < bs; for
 * off = i*bs + r (r < bs, off < S), off * (inv+1) = i*2^64 + i*e' + r*(inv+1)
 * with i*e' + r*(inv+1) < 2^64: the high word is i.
 *
 * st_block_start: is p (in the span) the start of one of the C = capacity
 * blocks carved so far (0 <= C <= R)?  Measured from the last carved
 * block's start, chk = start + (C-1)*bs (start - bs while C == 0): for
 * p = chk + d*bs + r (d from -(C-1) up to at most R, 0 <= r < bs),
 * (p - chk) * inv = -d*e + r*inv mod 2^64:
 *   r == 0, d <= 0: -d*e <= (C-1)*bs < S < 2^31        -- a carved block: yes
 *   r == 0, d >= 1: 2^64 - d*e >= 2^64 - S, huge         -- past the last
 *   r >= 1: >= inv - S > 2^31 (inv >= 2^44), no wrap     -- inside a block
 * so one multiply and one compare answer "a block's start?", "not the tail
 * of the span past its last block?" (a free of start + R*bs used to pass
 * and put a block that overhangs the span on the free list: found by
 * review, 2026-11-27) and "carved, not a block this incarnation of the span
 * never had?" (chk used to be the R-th block's, so a double free of a block
 * whose span was freed and taken again by the same class, not yet carved
 * that far, was pushed, and the carve later handed it out a second time:
 * found by review, 2026-11-27).  chk moves when the owner carves
 * (st_page_set_chk); the owner reads it plainly, other threads with
 * st_block_start_any (a relaxed load: a block another thread frees
 * legitimately was carved before it was handed out, and that hand-out
 * happened before this free, so the load sees that carve or a later one). */
static inline size_t st_block_index(const page_t *page, size_t off) {
  return (size_t)(((unsigned __int128)off * (page->inv + 1)) >> 64);
}
static inline bool st_block_start(const page_t *page, const void *p) {
  return ((uintptr_t)p - (uintptr_t)page->chk) * page->inv <= 0x7fffffffu;
}
static inline bool st_block_start_any(const page_t *page, const void *p) {
  uintptr_t chk = (uintptr_t)__atomic_load_n(&page->chk, __ATOMIC_RELAXED);
  return ((uintptr_t)p - chk) * page->inv <= 0x7fffffffu;
}
/* After `capacity` changed (owner, or page init before publication). */
static inline void st_page_set_chk(page_t *page) {
  uintptr_t chk = (uintptr_t)st_span_addr(page) + ((uintptr_t)page->capacity - 1) * page->block_size;
  __atomic_store_n(&page->chk, (uint8_t *)chk, __ATOMIC_RELAXED);
}

/* ---- the segment range (segment.c) ------------------------------------- */
/* Small segments come from one reserved range when the OS grants it: a
 * pointer p is in a small segment's slot below the high-water mark iff
 * p - _st_seg_base < _st_seg_span (one subtraction and compare on free's fast
 * path), and every such slot has a readable header (segment.c, "The segment
 * range").  Before the range exists, or without one, _st_seg_base is 2^63 and
 * _st_seg_span 0: the test fails for every user pointer, even when a reader
 * sees one of the two values stale. */
extern uintptr_t _st_seg_base ST_INTERNAL;   /* written with __atomic_store_n */
extern uintptr_t _st_seg_span ST_INTERNAL;   /* (release), read as below */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ST_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define ST_TSAN 1
#endif
/* p - base and the span: p is in the range iff the first is below the
 * second.  The base is segment-aligned, so the offset's low bits are p's
 * (free finds the slice from it without another copy of p). */
#if defined(__x86_64__) && !defined(ST_TSAN)
/* Plain loads, which gcc folds into the sub and the cmp (it does not fold
 * atomic ones): on x86 a load is never reordered with a later load, so this
 * is the acquire load below, in 4 instructions instead of 7. */
static inline uintptr_t st_seg_offset(const void *p) { return (uintptr_t)p - _st_seg_base; }
static inline uintptr_t st_seg_span(void) { return _st_seg_span; }
#else
static inline uintptr_t st_seg_offset(const void *p) {
  return (uintptr_t)p - __atomic_load_n(&_st_seg_base, __ATOMIC_RELAXED);
}
static inline uintptr_t st_seg_span(void) { return __atomic_load_n(&_st_seg_span, __ATOMIC_ACQUIRE); }
#endif
static inline bool st_in_seg_range(const void *p) { return st_seg_offset(p) < st_seg_span(); }

/* ---- segment map (segmap.c) -------------------------------------------- */
/* One byte per 4 MiB slot of the 47-bit user address space (32 MiB of
 * zero-fill-on-demand BSS; a 4 KiB page of it covers 16 GiB): 0 = not
 * strata's, 1 = small segment, 2 + k = large block whose header is k slots
 * back (k <= 64), SEGMAP_FREED a quarantined freed mapping.  Addresses
 * above 2^47 are never strata's. */
#define SEGMAP_SMALL 1
#define SEGMAP_LARGE 2
#define SEGMAP_FREED 127    /* a freed large mapping held inaccessible (secure
                               mode's quarantine, large.c) */
#define SEGMAP_REGION 128   /* + k: slot k of a large-block region (region.c) */
#define SEGMAP_SLOTS ((size_t)1 << (47 - ST_SEGMENT_SHIFT))
extern uint8_t _st_segmap[SEGMAP_SLOTS] ST_INTERNAL;
static inline unsigned st_segmap_get(const void *p) {
  uintptr_t slot = (uintptr_t)p >> ST_SEGMENT_SHIFT;
  if (st_unlikely(slot >= SEGMAP_SLOTS)) return 0;
  return __atomic_load_n(&_st_segmap[slot], __ATOMIC_RELAXED);
}
ST_INTERNAL int  _st_segmap_set(const void *p, size_t slots, unsigned first_value, int large);
ST_INTERNAL void _st_segmap_clear(const void *p, size_t slots);

/* ---- page heap: spans from segments (segment.c) ------------------------ */
ST_INTERNAL page_t *_st_span_alloc(unsigned slices);     /* NULL + ENOMEM */
ST_INTERNAL void    _st_span_free(page_t *page);
ST_INTERNAL void    _st_span_free_reset(page_t *page, int reset);   /* see segment.c */
ST_INTERNAL size_t  _st_segments_trim(void);             /* release cached segments */
ST_INTERNAL void    _st_segments_stats(strata_stats_t *st);
ST_INTERNAL size_t  _st_segments_tick(void);            /* purge expired; dirty bytes left */
ST_INTERNAL void    _st_pageheap_lock(void), _st_pageheap_unlock(void),
                    _st_pageheap_reinit(void);
ST_INTERNAL int     _st_segments_check(void);
ST_INTERNAL void    _st_segments_walk(void (*fn)(segment_t *seg, page_t *span, void *arg), void *arg);

/* ---- pages (page.c) ---------------------------------------------------- */
ST_INTERNAL void  _st_page_init(page_t *page, unsigned cls);
ST_INTERNAL bool  _st_page_extend(page_t *page);          /* carve more blocks */
ST_INTERNAL void  _st_page_collect(page_t *page);         /* remote frees onto free */
ST_INTERNAL void  _st_page_collect_all(page_t *page);     /* same, and clear XF_FULL */
ST_INTERNAL size_t _st_page_remote_free(page_t *page, block_t *b);  /* returns the count pending */
ST_INTERNAL int   _st_page_check(page_t *page, int owner_view);
ST_INTERNAL bool  _st_page_holds_freed(page_t *page, const block_t *b);   /* free or remote list */
ST_INTERNAL void  _st_page_low_water(page_t *page);       /* used hit purge_low */
ST_INTERNAL void  _st_sparse_unqueue(struct heap_s *h, page_t *page);  /* before its span goes */
ST_INTERNAL void  _st_sparse_drain(struct heap_s *h, int mode);  /* 0 aged, 1 all, 2 drop */
ST_INTERNAL void  _st_page_arm(page_t *page);             /* set purge_low if worth it */
ST_INTERNAL size_t _st_page_purge(page_t *page);          /* purge free units now */
ST_INTERNAL size_t _st_page_purged_bytes(const page_t *page);
/* Is block b in a purged unit (held)?  Exact for the page's owner, or under
 * the lock that stands in for it; for any other thread a hint (the units
 * are read relaxed), which the owner then confirms. */
ST_INTERNAL bool  _st_page_block_held(const page_t *page, const void *b);

/* Blocks handed out and not freed (the `used` field counts down to the
 * armed low-water mark, see page_t). */
static inline uint32_t st_page_used(const page_t *page) { return page->used + page->purge_low; }

/* ---- heaps: per-thread caches (heap.c) --------------------------------- */
typedef struct page_queue_s { page_t *first, *last; } page_queue_t;
#define ST_SPARSE_Q 16
#define ST_DEAD_Q   16

/* Remote-free batches (remote.c): blocks of one other heap's pages that
 * this thread freed, sent to that heap's inbox in one CAS. */
#define RB_CAP        55                 /* blocks per batch: 512 bytes in all */
#define RB_SLOTS      8                  /* batches a heap fills at once */
#define RB_BLOCK_MAX  1024               /* bigger blocks go straight to their page */
#define RB_CLOSED     ((struct rbatch_s *)1)   /* inbox of a heap being abandoned */
typedef struct rbatch_s {
  struct rbatch_s *next;                 /* in an inbox, a heap's spares or the pool */
  uint32_t n, pad;                       /* n: relaxed atomic (_st_remote_pending) */
  block_t *blocks[RB_CAP];
  uint8_t cls[RB_CAP];                   /* each block's size class, for the counts,
                                            | RB_KEYED */
} rbatch_t;
/* In cls[i]: block i carried the free key when it was batched (a suspect,
 * or user data): if the key is gone when it is delivered, the block was
 * handed out again meanwhile, and this free was a second one (remote.c,
 * rb_deliver).  Classes are below 128. */
#define RB_KEYED      0x80
_Static_assert(ST_NCLASSES <= RB_KEYED, "a class number leaves the top bit of cls[] free");
_Static_assert(sizeof(rbatch_t) <= 512, "a batch is 512 bytes");
typedef struct { struct heap_s *to; rbatch_t *b; } rb_out_t;
/* The foreign-block stash (remote.c, "Reusing foreign blocks"): classes
 * ST_STASH_FIRST (256 bytes) to ST_STASH_LAST (1024 = RB_BLOCK_MAX), at
 * most ST_STASH_MAX blocks each. */
#define ST_STASH_FIRST   15
#define ST_STASH_LAST    31
#define ST_STASH_N       (ST_STASH_LAST - ST_STASH_FIRST + 1)
#define ST_STASH_MAX     32
#define ST_STASH_IDLE    4    /* ... while no malloc took one since it was empty */

/* Invariants:
 *  direct[c] == queues[c].first, or &_st_page_empty when the queue is empty;
 *  every page in queues[c] and full has heap == this and owner == this|flags;
 *  pages in `full` have OWNER_FULL set and were full when parked.
 * Only the owner thread touches a heap, except `full_dirty` (set by remote
 * freers) and the registry links (heaps lock).  A heap whose thread exited
 * may be *retired* (heap.c): on the retired list, owned by no thread, its
 * queues untouched (the heaps lock stands in for the owner) until one new
 * thread takes it whole, or it is abandoned like a dying thread's heap. */
typedef struct heap_s {
  page_t *direct[ST_NCLASSES];
  /* small mallocs left before the next one is sampled for a guarded page
   * (guarded.c); SIZE_MAX-ish when sampling is off.  Owner only. */
  size_t sample_left;
  uint64_t rng;                         /* secure mode's carving order (page.c) */
  page_queue_t queues[ST_NCLASSES];
  page_queue_t full;
  _Atomic int full_dirty;
  struct heap_s *next_all, *prev_all;   /* registry of live heaps (heaps lock) */
  struct heap_s *next_free;             /* recycled or retired heap structs (heaps lock) */
  uint64_t retired_at;                  /* while retired: when (ns, coarse clock) */
  unsigned expire_tick;                 /* paces the retired-heap expiry check */
  uint64_t slow_count;                  /* slow-path calls, to pace full-list rescans */
  uint64_t rescue_at;                   /* slow_count of the next backstop rescan */
  /* statistics: written by the owner only (plain stores), read racily by
   * strata_stats_get; folded into the totals when the heap is recycled */
  size_t remote_frees;                  /* this thread's frees into others' pages */
  size_t req_count[ST_NCLASSES];        /* mallocs of class c (the fast path counts) */
  struct { size_t n, bytes; } req_sample[ST_NCLASSES];  /* of those, the slow-path
                                           mallocs and the bytes they asked: the mean
                                           request per class, for the statistics */
  /* sparse pages waiting to be purged (page.c, "Sparse pages"): a FIFO
   * ring; a queued page has sparse_queued set and leaves the ring before
   * its span is freed (heap_release_span) */
  struct page_s *sparse_q[ST_SPARSE_Q];
  size_t sparse_seen[ST_SPARSE_Q];      /* req_count of its class when queued */
  uint32_t sparse_when[ST_SPARSE_Q];    /* ms clock when queued */
  unsigned sparse_head, sparse_n;
  unsigned rb_draining;                 /* in _st_remote_drain: see _st_page_low_water */
  /* empty spans with purged units, waiting to be purged whole and freed
   * together (heap.c, _st_heap_retire) */
  struct page_s *dead_q[ST_DEAD_Q];
  unsigned dead_n;
  /* remote-free batches (remote.c): out and spares owner only; the inbox on
   * a line of its own, pushed by any thread with CAS, taken by the owner */
  rb_out_t rb_out[RB_SLOTS];
  rbatch_t *rb_spare;
  unsigned rb_spare_n;
  _Atomic(rbatch_t *) rb_inbox __attribute__((aligned(64)));
  char rb_pad[56];
  /* 1 while a thread owns this heap (not retired, abandoned or recycled):
   * only such a heap's blocks may be stashed by others (remote.c).  Written
   * at thread start and exit, read by other threads' frees: a line of its
   * own, so those reads stay hits. */
  _Atomic uint8_t owned __attribute__((aligned(64)));
  /* foreign blocks this thread freed and reuses itself (remote.c): the
   * stash of class c is a pseudo page whose free list the malloc fast path
   * pops when direct[c] points at it; capacity counts pushes since it was
   * last empty, used pops (so the stash holds capacity - used blocks).
   * Owner only; read racily by _st_remote_pending. */
  page_t stash[ST_STASH_N];
} heap_t;

extern page_t _st_page_empty ST_INTERNAL;
extern heap_t _st_heap_empty ST_INTERNAL;        /* threads before their first malloc */
extern heap_t _st_heap_dead ST_INTERNAL;         /* threads whose cache was destroyed */
extern __thread heap_t *_st_heap_tl ST_INTERNAL;

/* The slow path of malloc (reads the caller's heap itself, so the fast path
 * keeps the size where it arrived: one register move fewer). */
ST_INTERNAL void *_st_heap_malloc_slow(size_t size);
ST_INTERNAL heap_t *_st_heap_own(void);         /* the caller's heap, made if it has none */
ST_INTERNAL heap_t *_st_heap_borrow(void **key);        /* a heap for an exiting thread's one batch */
ST_INTERNAL void _st_heap_unborrow(heap_t *h, void *key); /* ... given back (as at thread exit) */
ST_INTERNAL void *_st_heap_malloc_class(heap_t *heap, size_t size);  /* size <= ST_MEDIUM_MAX */
ST_INTERNAL void  _st_heap_free_slow(page_t *page, block_t *b, uintptr_t owner);
ST_INTERNAL void  _st_heap_free_owned(heap_t *h, page_t *page, block_t *b, uintptr_t owner);
ST_INTERNAL void  _st_heap_dead_flush(heap_t *h);    /* free the spans waiting in dead_q */   /* retired heaps' inboxes (exit report) */

/* ---- remote-free batches (remote.c) -------------------------------------- */
ST_INTERNAL void _st_remote_free(heap_t *me, page_t *page, block_t *b, uintptr_t owner, bool keyed);
ST_INTERNAL void _st_remote_suspect(page_t *page, block_t *b, uintptr_t owner);
ST_INTERNAL bool _st_orphan_free(page_t *page, block_t *b, uintptr_t owner);   /* heap.c */
ST_INTERNAL void _st_remote_flush(heap_t *me);    /* send every partial batch */
ST_INTERNAL void _st_remote_drain(heap_t *h);     /* owner: free what the inbox holds */
ST_INTERNAL void _st_remote_close(heap_t *h);     /* flush, drain and close: h goes away */
ST_INTERNAL void _st_remote_quiesce(void);        /* the caller's flush and drain */
ST_INTERNAL void _st_remote_pending(size_t counts[ST_NCLASSES]);   /* blocks waiting, per class */
ST_INTERNAL bool _st_stash_push(heap_t *me, page_t *page, block_t *b, uintptr_t owner, bool keyed);  /* false: full */
ST_INTERNAL void _st_stash_flush(heap_t *h);      /* every stashed block to its owner */
ST_INTERNAL void _st_stash_age(heap_t *h);        /* the idle classes' blocks to their owners */
ST_INTERNAL bool _st_stash_marked(const page_t *page, const block_t *b);  /* freed into a stash */
extern uintptr_t _st_stash_mark ST_INTERNAL;     /* per-process secret (init.c) */
/* The batch mark, a per-process secret (init.c) that a block waiting in a
 * remote-free batch carries in word 1 (unless it carries the free key):
 * a second free by another thread before the delivery finds it and is
 * reported at the call (remote.c, rb_push; alloc.c, free_small_other). */
extern uintptr_t _st_batch_mark ST_INTERNAL;
/* The mark of a block a stash flush sent home in a batch (remote.c). */
static inline uintptr_t st_transit_mark(void) { return _st_stash_mark ^ 2; }
static inline bool st_is_stash(const heap_t *h, const page_t *p) {
  return (uintptr_t)p - (uintptr_t)h->stash < sizeof h->stash;
}
/* A heap's page queues, and the abandoned lists (doubly linked through
 * page->next/prev; the owner's, or under abandoned_lock). */
static inline void st_queue_remove(page_queue_t *q, page_t *p) {
  if (p->prev) p->prev->next = p->next; else q->first = p->next;
  if (p->next) p->next->prev = p->prev; else q->last = p->prev;
  p->next = p->prev = NULL;
}
static inline void st_queue_push_front(page_queue_t *q, page_t *p) {
  p->prev = NULL; p->next = q->first;
  if (q->first) q->first->prev = p; else q->last = p;
  q->first = p;
}
static inline void st_queue_push_back(page_queue_t *q, page_t *p) {
  p->next = NULL; p->prev = q->last;
  if (q->last) q->last->next = p; else q->first = p;
  q->last = p;
}
/* What direct[c] holds when the stash of c is empty (heap.c). */
static inline page_t *st_queue_direct(const heap_t *h, unsigned c) {
  return h->queues[c].first ? h->queues[c].first : &_st_page_empty;
}
static inline page_t *st_stash_of(heap_t *h, unsigned c) {   /* NULL: no stash */
  return c - ST_STASH_FIRST < ST_STASH_N ? &h->stash[c - ST_STASH_FIRST] : NULL;
}
ST_INTERNAL void _st_heaps_each(void (*fn)(heap_t *h, void *arg), void *arg);
ST_INTERNAL void _st_remote_fork_prepare(void), _st_remote_fork_parent(void),
                 _st_remote_fork_child(void);
ST_INTERNAL void  _st_heap_retire(page_t *page);
ST_INTERNAL void  _st_heap_thread_done(void *heap);
ST_INTERNAL void  _st_heaps_fork_prepare(void), _st_heaps_fork_parent(void),
                  _st_heaps_fork_child(void);
/* Abandoned pages (abandon.c): an exited thread's pages with live blocks,
 * listed per class under abandoned_lock until a thread adopts one. */
ST_INTERNAL void  _st_page_abandon(page_t *page);   /* list it, or free its span */
ST_INTERNAL page_t *_st_abandoned_pop(unsigned c, heap_t *h);  /* unlisted and h's, or NULL */
ST_INTERNAL size_t _st_abandoned_trim(void);
ST_INTERNAL size_t _st_abandoned_count(void);
ST_INTERNAL int   _st_abandoned_check(void);
ST_INTERNAL void  _st_abandoned_lock(void), _st_abandoned_unlock(void),
                  _st_abandoned_fork_child(void);
ST_INTERNAL size_t _st_heaps_retired_trim(int force);  /* abandon retired heaps */
ST_INTERNAL void  _st_abandoned_free(heap_t *via, page_t *page, block_t *b);
ST_INTERNAL void  _st_remote_reroute(heap_t *self, block_t *b);   /* a suspect, batched by self */
ST_INTERNAL void  _st_remote_rehanded(const page_t *page, block_t *b);   /* its report */
ST_INTERNAL size_t _st_heap_trim_self(void);        /* the caller's empty pages */
ST_INTERNAL size_t _st_heap_trim_orphan(void);      /* the orphan heap's */
ST_INTERNAL void  _st_heaps_stats(strata_stats_t *st);
ST_INTERNAL int   _st_heaps_check(void);

#define ST_SECURE_GUARD_MIN ((size_t)1 << 20)  /* secure mode: bigger blocks get a guard page */

/* ---- sampled guarded allocations (guarded.c) ---------------------------- */
/* The malloc fast path counts heap->sample_left down; at zero it calls
 * _st_guarded_sample, which re-arms the count and returns either a block on
 * a page of its own between guard pages or an ordinary one.  Guarded blocks
 * live in one pool mapping that the segment map does not mark (value 0);
 * free/realloc/usable_size ask _st_guarded_owns before calling p invalid. */
ST_INTERNAL void  *_st_guarded_sample(heap_t *heap, size_t size);
ST_INTERNAL size_t _st_guarded_interval(void);   /* the next count (2^32 when off: re-check) */
ST_INTERNAL void   _st_guarded_changed(void);    /* strata_option_set("guard_sample") */
ST_INTERNAL bool   _st_guarded_owns(const void *p);
ST_INTERNAL void   _st_guarded_free(void *p);    /* p owned: frees or reports */
ST_INTERNAL size_t _st_guarded_usable(const void *p);   /* (size_t)-1: not a live block (reported) */
ST_INTERNAL void  *_st_guarded_realloc(void *p, size_t size);
ST_INTERNAL bool   _st_guarded_sizes(const void *p, size_t *req, size_t *usable);
ST_INTERNAL void   _st_guarded_stats(strata_stats_t *st);

/* Call stacks for reports (guarded.c): the caller's, without strata's own
 * frames (depth 0 before this library's constructor has run, or inside a
 * capture).  The first capture may malloc (the unwinder's set-up). */
#define ST_STACK_DEPTH 24
typedef struct { int tid, depth; void *pc[ST_STACK_DEPTH]; } st_stack_t;
ST_INTERNAL void _st_stack_capture(st_stack_t *s);
ST_INTERNAL void _st_stack_print(const char *what, const st_stack_t *s);
/* The SIGSEGV/SIGBUS handler (guarded.c), installed once, by the guarded
 * pool or the first quarantined large block: it reports a fault in either,
 * then hands the signal on to the handler that was there before.  The
 * quarantine's side (large.c) reads its ring without a lock. */
ST_INTERNAL void _st_fault_handler_install(void);
ST_INTERNAL bool _st_large_in_quarantine(uintptr_t a);
ST_INTERNAL void _st_large_fault_report(uintptr_t a, const char *rw, bool stacks);
ST_INTERNAL size_t _st_guarded_live_sizes(size_t *sizes, size_t cap);   /* exit report */
ST_INTERNAL void   _st_guarded_fork_prepare(void), _st_guarded_fork_parent(void),
                   _st_guarded_fork_child(void);

/* ---- secure mode: zeroing freed blocks (zero.c) -------------------------- */
/* Blocks from ST_ZERO_STREAM_MIN bytes up are zeroed with non-temporal
 * stores (zero.c says why), up to ST_ZERO_INLINE_MAX inline with 16-byte
 * stores (no call: the free fast path of a secure build stays a leaf
 * function), in between with memset. */
#ifndef ST_ZERO_STREAM_MIN
#define ST_ZERO_STREAM_MIN ((size_t)32 << 10)
#endif
#ifndef ST_ZERO_INLINE_MAX
#define ST_ZERO_INLINE_MAX 256
#endif
_Static_assert(ST_ZERO_INLINE_MAX <= 256, "st_zero_small covers at most 256 bytes");
ST_INTERNAL void _st_zero_big(void *p, size_t n);   /* p 16-aligned, n % 16 == 0 */
/* may_alias: the stores must stay ordered with the free-list link and key
 * stores (uintptr_t) that follow them on the same block */
typedef long long st_v16_t __attribute__((vector_size(16), may_alias));
/* [p, p + n) becomes 0, n <= ST_ZERO_INLINE_MAX: 16-byte stores from both
 * ends, which overlap in the middle -- 2, 4, 8 or 16 of them after at most
 * four well-predicted compares (a jump table of 16 entries costs more
 * instructions and mispredicts on every change of size).  p is 16-byte
 * aligned and n a multiple of 16 (every block and block size is). */
static inline __attribute__((always_inline)) void st_zero_small(void *p, size_t n) {
  st_v16_t *q = p, *e = (st_v16_t *)((uint8_t *)p + n), z = {0, 0};
#if defined(__x86_64__)
  __asm__("" : "+x"(z));   /* opaque: gcc would rebuild the zero before every store */
#endif
  if (n <= 32) {
    if (n != 0) { q[0] = z; e[-1] = z; }
    return;
  }
  if (n <= 64) { q[0] = z; q[1] = z; e[-2] = z; e[-1] = z; return; }
  if (n <= 128) {
    q[0] = z; q[1] = z; q[2] = z; q[3] = z;
    e[-4] = z; e[-3] = z; e[-2] = z; e[-1] = z;
    return;
  }
  q[0] = z; q[1] = z; q[2] = z; q[3] = z; q[4] = z; q[5] = z; q[6] = z; q[7] = z;
  e[-8] = z; e[-7] = z; e[-6] = z; e[-5] = z; e[-4] = z; e[-3] = z; e[-2] = z; e[-1] = z;
}
/* [p, p + n) becomes 0 with one string store (`rep stosb`; x86-64 only,
 * where _st_zero_how chose it): no branch on n and, on this machine, 1.8x
 * faster than st_zero_small on churn's frees (docs/hardening.md). */
static inline __attribute__((always_inline)) void st_zero_rep(void *p, size_t n) {
#if defined(__x86_64__)
  __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(0) : "memory");
#else
  memset(p, 0, n);
#endif
}
/* Any block: [p, p + n) becomes 0 (_st_zero_free set). */
static inline void st_zero_block(void *p, size_t n) {
  if (_st_zero_free == ST_ZERO_REP && n < ST_ZERO_STREAM_MIN) st_zero_rep(p, n);
  else if (n <= ST_ZERO_INLINE_MAX) st_zero_small(p, n);
  else _st_zero_big(p, n);
}
ST_INTERNAL int _st_zero_how(void);   /* ST_ZERO_REP or ST_ZERO_STORES, for this CPU */

/* The coarse monotonic clock (a vDSO read, no syscall; a few ms of
 * resolution is plenty for purge delays and ages). */
static inline uint64_t st_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint32_t st_now_ms(void) { return (uint32_t)(st_now_ns() / 1000000u); }

/* ---- large-block regions (region.c) -------------------------------------- */
#define ST_REGION_MAGIC 0x5354524c52474e4cull         /* "STRLRGNL": a live region block */
#define RG_MAX_BLOCK    ((size_t)16 << 20)            /* larger blocks get mappings */
ST_INTERNAL void    *_st_region_alloc(size_t size, size_t align, int zero, bool *at_limit);
ST_INTERNAL large_t *_st_region_of(const void *p);    /* the live block at p, or NULL */
ST_INTERNAL size_t   _st_region_was_freed(const void *p);   /* its size when freed, else 0 */
ST_INTERNAL void     _st_region_free(large_t *h);
ST_INTERNAL void     _st_region_free_moved(large_t *h);   /* its charge went with it */
ST_INTERNAL bool     _st_region_resize(large_t *h, size_t size);
ST_INTERNAL void     _st_region_set_req(large_t *h, size_t size);   /* kept for a new request */
ST_INTERNAL size_t   _st_region_tick(void), _st_region_trim(void);
ST_INTERNAL void     _st_region_stats(strata_stats_t *st);
ST_INTERNAL int      _st_region_check(void);
ST_INTERNAL void     _st_region_fork_prepare(void), _st_region_fork_parent(void),
                     _st_region_fork_child(void);
static inline bool st_large_in_region(const large_t *h) { return h->magic == ST_REGION_MAGIC; }

/* ---- large blocks (large.c) -------------------------------------------- */
ST_INTERNAL void   _st_large_set_req(large_t *h, size_t size);    /* kept for a new request */
ST_INTERNAL void  *_st_large_alloc(size_t size, size_t align, int zero);
ST_INTERNAL void   _st_large_free(large_t *h, void *p);
ST_INTERNAL large_t *_st_large_of(const void *p, unsigned mapv);
ST_INTERNAL size_t   _st_large_was_freed(const void *p, unsigned mapv);   /* its usable size, or 0 */
ST_INTERNAL void  *_st_large_realloc(large_t *h, size_t size);
ST_INTERNAL void   _st_large_stats(strata_stats_t *st);
ST_INTERNAL size_t _st_large_trim(void);             /* empty the large cache */
ST_INTERNAL size_t _st_large_tick(void);             /* expire old entries; bytes left */
ST_INTERNAL void   _st_large_fork_prepare(void), _st_large_fork_parent(void),
                   _st_large_fork_child(void);

/* ---- process init, options, errors (init.c, options.c) ----------------- */
ST_INTERNAL void _st_process_init(void);
extern _Atomic int _st_init_state ST_INTERNAL;    /* 0 none, 1 running, 2 done */

typedef enum {
  OPT_VERBOSE, OPT_STATS, OPT_ABORT_ON_ERROR, OPT_THP, OPT_PURGE_MS,
  OPT_PURGE_THREAD, OPT_SOFT_LIMIT, OPT_HARD_LIMIT,
  OPT_GC_GOAL, OPT_GC_LIMIT, OPT_GC_MAX_HEAP, OPT_GC_FINALIZER_THREAD, OPT_GC_DEBUG,
  OPT_SECURE, OPT_SECURE_ZERO, OPT_GUARD_SAMPLE, OPT_GUARD_SLOTS, OPT_SEG_RESERVE,
  OPT_REPORT_PID, OPT_COUNT
} st_option_t;
ST_INTERNAL long _st_option(st_option_t o);
ST_INTERNAL void _st_options_init(void);
/* The `report` option: a file the exit report goes to ("" when unset). */
ST_INTERNAL const char *_st_option_report(void);

ST_INTERNAL size_t _st_cgroup_max(void);   /* cgroup v2 memory.max, 0 none (limits.c) */
ST_INTERNAL void _st_error(const char *what, const void *p);   /* reports; may abort */
/* A heap misuse by the program: one line (what, the pointer, its size class
 * when known, else 0), counted; aborts unless on_misuse=ignore, in which case
 * the caller ignores the call. */
ST_INTERNAL void _st_misuse(const char *what, const void *p, size_t class_size);
#define ST_MISUSE_LARGE ((size_t)1 << 63)   /* with _st_misuse's size: a large or region block's usable size */
ST_INTERNAL void _st_report_distance(long d, size_t size);   /* where an address d bytes from a block lies */
ST_INTERNAL size_t _st_misuse_count(void);
/* free of a block the caller says has `size` bytes (alignment `align`, 0
 * plain): a size that cannot be the block's is misuse (alloc.c). */
enum { ST_FREE_SIZED, ST_FREE_ALIGNED_SIZED, ST_FREE_DELETE };   /* _st_free_checked's callers */
ST_INTERNAL void _st_free_checked(void *p, size_t size, size_t align, int call);
/* The malloc fast path popped a block outside its page's segment: the free
 * list was overwritten.  Reports; ignored, the page's listed blocks are
 * given up (leaked, the counts kept true) and malloc goes on elsewhere. */
ST_INTERNAL void *_st_list_corrupt(struct heap_s *heap, page_t *page, block_t *b, size_t size);
ST_INTERNAL void _st_message(const char *fmt, ...);            /* stderr, no malloc */
ST_INTERNAL int  _st_snprintf(char *buf, size_t n, const char *fmt, ...);

/* ---- the purge thread (purge.c) ----------------------------------------- */
/* There is memory waiting to be purged: make sure someone will (wakes the
 * thread if it sleeps; asks _st_purge_poll to start it).  Any context. */
ST_INTERNAL void _st_purge_kick(size_t pending_bytes);
ST_INTERNAL void _st_purge_poll(void);           /* no strata lock held: may start it */
ST_INTERNAL void _st_purge_fork_child(void);

/* ---- memory limits (limits.c) ------------------------------------------ */
/* The charge: bytes strata holds that may be resident -- slices in spans or
 * free but dirty, segment headers, large mappings -- minus what was purged.
 * _st_charge fails (false, limit_failures counted) when the hard limit
 * would be crossed; it never blocks.  _st_over_soft: purge at once. */
ST_INTERNAL bool _st_charge(size_t bytes);
ST_INTERNAL void _st_uncharge(size_t bytes);
ST_INTERNAL size_t _st_charged(void);            /* the charge now (tests, reports) */
ST_INTERNAL void _st_charge_force(size_t bytes);
ST_INTERNAL bool _st_charge_fits(size_t bytes);    /* a hint: would it fit now? */   /* memory that is back already */
ST_INTERNAL bool _st_over_soft(void);
ST_INTERNAL void _st_limits_init(void);
ST_INTERNAL void _st_limits_changed(void);
ST_INTERNAL void _st_limits_stats(strata_stats_t *st);

/* ---- small helpers ------------------------------------------------------ */
static inline size_t st_align_up(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
static inline bool st_is_pow2(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

/* The free key: stored in the second word of a freed block (malloc clears
 * it); seeing it again on free flags a probable double free, then confirmed
 * on the page's free list, so user data that happens to hold it costs a
 * slow free, never a wrong report.  A constant that fits a sign-extended
 * 32-bit immediate (one instruction to test, one to store, no load) and is
 * neither a pointer nor a small integer. */
#define ST_FREE_KEY ((uintptr_t)(intptr_t)(int32_t)0xA5F3C1D7u)
/* Put b, another heap's block of page's class that me frees, unkeyed and
 * claimed (word 1 holds the batch mark), on me's stash s of that class, if
 * s has room (remote.c,
 * "Reusing foreign blocks", says when a block may go there); false: full.
 * The caller has checked everything else (_st_stash_push, and alloc.c's
 * free_small_remote for the common case). */
static inline bool st_stash_take(heap_t *me, page_t *s, const page_t *page, block_t *b) {
  if (s->free == NULL) s->capacity = s->used = 0;
  else if (s->capacity - s->used >= (s->used != 0 ? ST_STASH_MAX : ST_STASH_IDLE)) return false;
  st_set_next(s, b, s->free);
  s->free = b;
  if (STRATA_CHECKS) {   /* the mark before the key: a free that sees the key sees the mark */
    ((uintptr_t *)b)[2] = _st_stash_mark;
    __atomic_store_n(&((uintptr_t *)b)[1], ST_FREE_KEY, __ATOMIC_RELEASE);
  }
  s->capacity++;
  me->direct[page->cls] = s;
  return true;
}
/* Zero on free a block of bs bytes but its word 1, which a free path
 * writes next (the free key, or the batch mark: remote frees claim the
 * block there, and a racing free must still see it; zeroed, it let a
 * second free through: found by review, 2026-11-28).  A build without
 * the checks writes neither, so it zeroes word 1 too. */
static inline void st_zero_freed(block_t *b, size_t bs) {
  uintptr_t *w = (uintptr_t *)b;
  w[0] = 0;
  if (!STRATA_CHECKS) w[1] = 0;
  if (bs > 16) st_zero_block(w + 2, bs - 16);
}
/* Secure mode, a free confirmed as a first one of a block whose user data
 * held the free key: the freeing thread left it unzeroed (zeroing first
 * would have wiped the key of a block freed twice, and with it the link
 * of a free block), so whoever confirmed it zeroes it now (heap.c,
 * abandon.c, remote.c). */
static inline void st_zero_keyed(const page_t *page, block_t *b) {
  if (_st_zero_free && ((uintptr_t *)b)[1] == ST_FREE_KEY) st_zero_freed(b, page->block_size);
}
/* Random bits drawn once per process (getrandom), for seeding. */
extern uintptr_t _st_process_random ST_INTERNAL;
ST_INTERNAL uintptr_t _st_page_key(const void *page);   /* init.c */

#endif
