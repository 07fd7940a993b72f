/* malloc, free, calloc, realloc, malloc_usable_size: the fast paths.
 *
 * malloc(n), n <= 1 KiB:  class = table[n]; page = heap->direct[class];
 *   pop page->free.  No lock, no atomic; three branches ("small?", "empty?",
 *   "sample?").  21 instructions with the checks (bench/callgrind.sh).
 * free(p):  p - base < span says p is in the segment range (segment.c), so
 *   in a small segment; page = the slice's descriptor; if page->owner is
 *   exactly the caller's heap (no flags) and p is a block's start without
 *   the free key, push onto page->free, where the next malloc of that class
 *   finds it (28 instructions; a build with STRATA_CHECK_INTERIOR=1 tests
 *   only the 16-byte alignment here, 25: config.h).  Everything else
 *   (another thread's page, a parked or purged page, segments outside the
 *   range, large blocks, NULL, pointers that are not ours) takes
 *   free_other / free_small_miss / free_small_other / _st_heap_free_slow.
 *
 * Double frees: a freed block carries ST_FREE_KEY in its second word and
 * malloc clears it; a free that finds the key confirms by searching the
 * page's free lists and reports (docs/malloc.md, "Misuse").
 */
#include <errno.h>
#include <string.h>
#include "malloc/internal.h"

ST_ENTRY void *strata_malloc(size_t size) {
  heap_t *heap = _st_heap_tl;
  unsigned c;
  if (st_likely(size <= ST_SMALL_FAST_MAX)) c = st_class_fast(size);
  else if (size <= ST_MEDIUM_MAX) c = st_class_medium(size);
  else return _st_heap_malloc_slow(size);
  page_t *page = heap->direct[c];
  block_t *b = page->free;
  if (st_likely(b != NULL)) {
    if (st_unlikely(--heap->sample_left == 0)) return _st_guarded_sample(heap, size);
    if (STRATA_CHECK_POP && st_unlikely(((uintptr_t)b ^ (uintptr_t)page) >> ST_SEGMENT_SHIFT)) return _st_list_corrupt(heap, page, b, size);
    page->free = st_next(page, b);
    page->used++;
    if (STRATA_CHECK_DFREE) ((uintptr_t *)b)[1] = 0;
    heap->req_count[c]++;
    return b;
  }
  return _st_heap_malloc_slow(size);
}

/* p itself when it is the start of a block in a span in use, else NULL
 * (strata never hands out interior pointers, see aligned.c). */
static inline __attribute__((always_inline))
block_t *small_block_checked(page_t *page, void *p) {
  /* st_block_start_any also says "one of the blocks carved so far"; below
   * the span's start it can be fooled, but no slice there is this span's */
  if (!page->in_use || (const uint8_t *)p < st_span_addr(page) || !st_block_start_any(page, p)) return NULL;
  return (block_t *)p;
}

/* free() of a pointer at or after the start of a span in use that is not
 * the start of one of its carved blocks (st_block_start): inside a block;
 * the start of a block not carved since the span was last taken, so not
 * handed out (most likely freed twice, before and after the span went
 * back to the page heap); or in the span's tail past its last block.
 * Other threads may call this: capacity is read relaxed. */
ST_NOINLINE static void free_interior(page_t *page, void *p) {
  size_t off = (size_t)((uint8_t *)p - st_span_addr(page)), bs = page->block_size;
  size_t i = st_block_index(page, off);
  if (i >= page->reserved) _st_error("free(): invalid pointer", p);
  else if (i * bs != off)
    _st_misuse("free(): invalid pointer (inside a block, not its start)", p, bs);
  else if (i >= __atomic_load_n(&page->capacity, __ATOMIC_RELAXED))
    _st_misuse("free(): double free or invalid pointer (a block not in use)", p, bs);
  else _st_misuse("free(): invalid pointer", p, bs);   /* carved meanwhile (a race) */
}

/* The owner's push of its block b, freed (and zeroed if need be), onto
 * page->free with the free key; the page retires when its last block is
 * back.  The fast path writes the same inline (its key store under
 * STRATA_CHECK_DFREE, for the measurement builds). */
static inline void free_push_own(page_t *page, block_t *b) {
  st_set_next(page, b, page->free);
  page->free = b;
  ((uintptr_t *)b)[1] = ST_FREE_KEY;
  if (--page->used == 0) _st_heap_retire(page);
}

/* A suspected double free (the block carries the free key): confirm, or
 * free normally when the key was just user data.  The complete interior
 * test first, when the fast path ran only the alignment test: a block the
 * span has not carved since it was taken again can still carry the key of
 * its last incarnation (recycled_span_double_free in t_misuse). */
ST_NOINLINE static void free_suspect(page_t *page, block_t *b) {
  if (STRATA_CHECK_INTERIOR < 2 && !st_block_start(page, b)) { free_interior(page, b); return; }
  if (_st_stash_marked(page, b) || _st_page_holds_freed(page, b)) {
    _st_misuse("free(): double free", b, page->block_size);
    return;
  }
  if (_st_zero_free) st_zero_freed(b, page->block_size);   /* the key was user data */
  free_push_own(page, b);   /* with the key, which zeroing took (found by review) */
}

/* A remote free's claim of b failed, and word 1 holds neither the batch
 * mark nor the free key: between this free's read and its compare-and-swap
 * another thread changed it, which only a free and a malloc of the block
 * meanwhile (or the program writing a block it frees) can do -- this free
 * is a second one.  Taken for the program's value and claimed again, the
 * block went into this thread's stash while the other thread's malloc had
 * handed it out (found by review, stop 31: with a pause injected after
 * the failed claim, 8 of 17 lost claims did so, unreported). */
ST_NOINLINE ST_COLD static void claim_lost(page_t *page, block_t *b) {
  _st_misuse("free(): double free (the block was freed and handed out again while this free ran)", b,
             page->block_size);
}

/* free() of a small block that is not plainly the caller's: another thread's
 * page (the remote free), or one of ours that is parked (OWNER_FULL). */
ST_NOINLINE static void free_small_other(page_t *page, void *p, uintptr_t owner) {
  block_t *b = small_block_checked(page, p);
  if (b == NULL) {
    if (page->in_use && (uint8_t *)p >= st_span_addr(page)) free_interior(page, p);
    else _st_error("free(): invalid pointer", p);
    return;
  }
  if ((owner & ~OWNER_FLAGS) != (uintptr_t)_st_heap_tl) {
    heap_t *me = _st_heap_tl;
    bool cached = me != &_st_heap_empty && me != &_st_heap_dead;   /* the caller has a heap */
    if (cached) me->remote_frees++;
    /* in a purged unit, so most likely free already (held, page.c): its
     * memory and key are gone, only the owner (or the abandoned lock) can
     * tell; not zeroed first, which would bring the purged page back */
    if (STRATA_CHECKS && st_unlikely((owner & OWNER_SLOW) || owner == 0) && _st_page_block_held(page, b)) {
      if (owner == 0) _st_abandoned_free(NULL, page, b);
      else _st_remote_suspect(page, b, owner);
      return;
    }
    /* Claim the block: word 1 goes from what the program left there to the
     * batch mark in one compare-and-swap, so of two frees racing on two
     * cores one claims it and the other finds the mark and reports.  Both
     * read a word without a mark before (found by review, 2026-11-28), and
     * both linked the block: into two stashes, which handed it out twice,
     * or twice onto the page's remote list, a loop that a collect spun on;
     * and a batch's plain store of the mark, racing a free that linked the
     * block and keyed it, wrote the mark back over the key, and the
     * delivery freed the block a second time (found by review).  Every
     * remote path claims, in both modes, since stop 31: the default mode
     * left the batch and the stash out until then (the locked instruction
     * cost larson on 4 threads 6.5-10% more), and free_small_remote, the
     * common case written out, pays for it (docs/malloc.md, section 5).
     * The mark is also what a second free finds while the block waits in a
     * batch (rb_push).  A block that carries the free key is not claimed:
     * the paths below have it confirmed (stash mark, or by its owner). */
    uintptr_t *w = (uintptr_t *)b, w1 = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE);
    bool batched = owner != 0 && cached && page->block_size <= RB_BLOCK_MAX;
    while (STRATA_CHECKS && w1 != ST_FREE_KEY) {
      if (st_unlikely(w1 == _st_batch_mark)) {
        _st_misuse("free(): double free (another thread is freeing the block or has freed it)", b, page->block_size);
        return;
      }
      if (__atomic_compare_exchange_n(&w[1], &w1, _st_batch_mark, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
      if (w1 != ST_FREE_KEY && w1 != _st_batch_mark) { claim_lost(page, b); return; }
    }
    bool keyed = STRATA_CHECKS && w1 == ST_FREE_KEY;
    /* zero on free (secure mode), but not a block that carries the free
     * key: if it is free already, zeroing would wipe the key and the link
     * that the paths below check (it is then caught, or was user data);
     * and not word 1, the claim, which a racing free must see */
    if (_st_zero_free && !keyed) st_zero_freed(b, page->block_size);
    if (owner == 0) _st_abandoned_free(NULL, page, b);
    else if (batched) {
      if (!_st_stash_push(me, page, b, owner, keyed))       /* reused here (remote.c) */
        _st_remote_free(me, page, b, owner, keyed);         /* or batched (remote.c) */
    }
    else if (keyed) _st_remote_suspect(page, b, owner);   /* maybe freed already (remote.c) */
    else _st_page_remote_free(page, b);
  }
  else _st_heap_free_slow(page, b, owner);
}

/* The owner's free when OWNER_SLOW is its page's only flag: every free
 * takes this path in secure mode, for zeroing (and the complete interior
 * test in a build whose fast path has only the alignment test:
 * _st_free_slow_all).  With no unit of the page purged, it is the fast
 * path plus both (and what _st_heap_free_owned does, without its calls);
 * a purged unit, or a pointer that is not a carved block's start, goes on
 * to free_small_other. */
ST_NOINLINE static void free_own_slow(page_t *page, void *p, uintptr_t owner) {
  block_t *b = p;
  if (st_unlikely(!st_block_start(page, p) || __atomic_load_n(&page->purged, __ATOMIC_RELAXED) != 0)) {
    free_small_other(page, p, owner);
    return;
  }
  if (st_unlikely(((uintptr_t *)b)[1] == ST_FREE_KEY)) { free_suspect(page, b); return; }
  if (_st_zero_free) st_zero_freed(b, page->block_size);
  free_push_own(page, b);
}

/* The secure build's free of the caller's own block that the fast path
 * does not zero inline (from ST_ZERO_STREAM_MIN bytes, or above
 * ST_ZERO_INLINE_MAX without string stores): zeroing it needs a call,
 * which would make the fast path save registers. */
ST_NOINLINE static void free_zero_big(page_t *page, block_t *b) {
  _st_zero_big(b, page->block_size);
  free_push_own(page, b);
}

/* The common remote free, what free_small_other does when everything is
 * plain: another heap's page (parked full or not, no purged unit: no
 * OWNER_SLOW), a caller with a heap, the default mode, a carved block of
 * at most RB_BLOCK_MAX bytes whose word 1 holds neither the free key nor
 * the batch mark, and is claimed (the mark by compare-and-swap).  Then
 * the block goes into the caller's stash of its class (st_stash_take) or
 * into a batch for its owner (_st_remote_free), with the same checks in
 * the same order as there, in about half the instructions: no register
 * saved for paths it does not take.  Anything else goes to
 * free_small_other, which decides again from its own read of word 1. */
ST_NOINLINE static void free_small_remote(page_t *page, void *p, uintptr_t owner) {
  heap_t *me = _st_heap_tl;
  uintptr_t *w = p, w1;
  if (st_unlikely(me == &_st_heap_empty || me == &_st_heap_dead || _st_secure ||
                  page->block_size > RB_BLOCK_MAX || small_block_checked(page, p) == NULL ||
                  (STRATA_CHECKS && ((w1 = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE)) == ST_FREE_KEY ||
                                     w1 == _st_batch_mark)))) {
    free_small_other(page, p, owner);
    return;
  }
  /* the claim (free_small_other says why); lost to the mark or the key:
   * another free is at the block, and free_small_other looks at it */
  if (STRATA_CHECKS && !__atomic_compare_exchange_n(&w[1], &w1, _st_batch_mark, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    if (w1 != ST_FREE_KEY && w1 != _st_batch_mark) claim_lost(page, p);
    else free_small_other(page, p, owner);
    return;
  }
  me->remote_frees++;
  page_t *s = st_stash_of(me, page->cls);
  if (s == NULL || STRATA_CHECK_POP ||
      !atomic_load_explicit(&((heap_t *)(owner & ~OWNER_FLAGS))->owned, memory_order_relaxed) ||
      !st_stash_take(me, s, page, p))
    _st_remote_free(me, page, p, owner, false);
}

/* The fast path's owner test failed: the owner with only OWNER_SLOW,
 * another heap without OWNER_SLOW (the remote free), or anything else.  A
 * function of its own, so the fast path keeps comparing the owner word
 * with the thread's heap in memory. */
ST_NOINLINE static void free_small_miss(page_t *page, void *p, uintptr_t owner) {
  if (owner == (uintptr_t)_st_heap_tl + OWNER_SLOW) free_own_slow(page, p, owner);
  else if (!(owner & OWNER_SLOW) && (owner & ~OWNER_FLAGS) != 0 &&
           (owner & ~OWNER_FLAGS) != (uintptr_t)_st_heap_tl) free_small_remote(page, p, owner);
  else free_small_other(page, p, owner);
}

/* free() of a small block: p lies in a small segment (or a released slot
 * of the segment range, whose descriptors all read "free slice"). */
static inline __attribute__((always_inline)) void free_small(void *p, uintptr_t off) {
  /* off: p minus a segment-aligned base (the range's, or 0): its low bits
   * name the slice */
  page_t *page = st_segment_of(p)->pages[(off & ST_SEGMENT_MASK) >> ST_SLICE_SHIFT].span;
  block_t *b = p;
  uintptr_t owner = atomic_load_explicit(&page->owner, memory_order_acquire);
  if (st_likely(owner == (uintptr_t)_st_heap_tl)) {
    if (STRATA_CHECK_INTERIOR == 1 && st_unlikely((uintptr_t)p & 15)) { free_interior(page, p); return; }
    if (STRATA_CHECK_INTERIOR == 2 && st_unlikely(!st_block_start(page, p))) { free_interior(page, p); return; }
    if (STRATA_CHECK_DFREE && st_unlikely(((uintptr_t *)b)[1] == ST_FREE_KEY)) { free_suspect(page, b); return; }
    if (STRATA_SECURE_DEFAULT && _st_zero_free) {   /* secure build: zero on free */
      size_t bs = page->block_size;                 /* words 0 and 1 are written below */
      if (st_likely(_st_zero_free == ST_ZERO_REP) && bs < ST_ZERO_STREAM_MIN) st_zero_rep((uint8_t *)b + 16, bs - 16);
      else if (st_unlikely(bs > ST_ZERO_INLINE_MAX)) { free_zero_big(page, b); return; }
      else st_zero_small((uint8_t *)b + 16, bs - 16);
    }
    st_set_next(page, b, page->free);
    page->free = b;
    if (STRATA_CHECK_DFREE) ((uintptr_t *)b)[1] = ST_FREE_KEY;
    if (st_unlikely(--page->used == 0)) _st_heap_retire(page);
    return;
  }
  free_small_miss(page, p, owner);
}

/* Was p a large block (of a region, or of a mapping of its own that the
 * cache holds) that is free now?  Its size, or 0. */
static size_t large_block_freed(const void *p) {
  unsigned v = st_segmap_get(p);
  return v >= SEGMAP_REGION ? _st_region_was_freed(p) : _st_large_was_freed(p, v);
}

/* free() of everything outside the segment range: small segments mapped
 * one by one (no range, or it is full), large blocks, sampled guarded
 * blocks, NULL, and pointers that are not ours. */
ST_NOINLINE static void free_other(void *p) {
  if (p == NULL) return;
  unsigned v = st_segmap_get(p);
  if (v == SEGMAP_SMALL) { free_small(p, (uintptr_t)p); return; }
  large_t *h = v >= SEGMAP_LARGE ? _st_large_of(p, v) : NULL;
  if (h == NULL && _st_guarded_owns(p)) { _st_guarded_free(p); return; }
  size_t freed = h == NULL ? large_block_freed(p) : 0;
  if (freed) { _st_misuse("free(): double free", p, freed | ST_MISUSE_LARGE); return; }
  if (h == NULL) { _st_error("free(): invalid pointer", p); return; }
  _st_large_free(h, p);
}

ST_ENTRY void strata_free(void *p) {
  uintptr_t off = st_seg_offset(p);
  if (st_likely(off < st_seg_span())) { free_small(p, off); return; }
  free_other(p);
}

ST_ENTRY void *strata_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
  if (total > ST_MEDIUM_MAX) {                 /* zeroes only what is not fresh */
    if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) _st_process_init();
    return _st_large_alloc(total, 0, 1);
  }
  void *p = strata_malloc(total);
  if (p) memset(p, 0, total);
  return p;
}

/* Usable bytes at p and, through *page_out / *large_out, where p lives.
 * Returns (size_t)-1 for a pointer strata did not hand out, and
 * USABLE_GUARDED for one in the sampled pool, whose functions judge it
 * (guarded.c). */
#define USABLE_GUARDED ((size_t)-2)
static size_t block_usable(void *p, page_t **page_out, large_t **large_out) {
  unsigned v = st_segmap_get(p);
  *page_out = NULL; *large_out = NULL;
  if (v == SEGMAP_SMALL) {
    page_t *page = st_page_of(st_segment_of(p), p);
    block_t *b = small_block_checked(page, p);
    if (b == NULL) return (size_t)-1;
    *page_out = page;
    return page->block_size;
  }
  large_t *h = v >= SEGMAP_LARGE ? _st_large_of(p, v) : NULL;
  if (h == NULL) return _st_guarded_owns(p) ? USABLE_GUARDED : (size_t)-1;
  *large_out = h;
  return h->usable;
}

/* Is the small block p (from block_usable) free?  Known for the caller's
 * own pages (the free key, confirmed on its free list) and for a block in
 * some thread's stash (the key and the stash mark); a block freed into
 * another thread's page cannot be told from a live one without its owner.
 * For realloc and malloc_usable_size. */
static bool small_block_freed(page_t *page, const void *p) {
  uintptr_t owner = atomic_load_explicit(&page->owner, memory_order_relaxed);
  bool mine = (owner & ~OWNER_FLAGS) == (uintptr_t)_st_heap_tl;
  /* held in a purged unit: its memory, key and all, is gone; the unit says
   * it is free (page.c; found by review: it was handed back as live) */
  if (mine && (owner & OWNER_SLOW) && _st_page_block_held(page, p)) return true;
  if (((const uintptr_t *)p)[1] != ST_FREE_KEY) return false;
  if (_st_stash_marked(page, p)) return true;                /* in a stash (remote.c) */
  return mine && _st_page_holds_freed(page, p);
}


ST_ENTRY void *strata_realloc(void *p, size_t size) {
  if (p == NULL) return strata_malloc(size);
  if (size == 0) { strata_free(p); return NULL; }
  /* the pointer is judged before the size: a freed or foreign pointer
   * with a size above ST_MAX_SIZE used to get a silent ENOMEM (found by
   * review, stop 30) */
  page_t *page; large_t *h;
  size_t usable = block_usable(p, &page, &h);
  if (usable == USABLE_GUARDED) return _st_guarded_realloc(p, size);   /* (judges both) */
  if (usable == (size_t)-1) {
    size_t freed = large_block_freed(p);
    _st_misuse(freed ? "realloc(): pointer already freed" : "realloc(): invalid pointer", p,
               freed ? freed | ST_MISUSE_LARGE : 0);
    errno = EINVAL;
    return NULL;
  }
  if (page != NULL && st_unlikely(small_block_freed(page, p))) {
    _st_misuse("realloc(): pointer already freed", p, page->block_size);
    errno = EINVAL;
    return NULL;
  }
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  if (h != NULL && size > ST_MEDIUM_MAX) return _st_large_realloc(h, size);
  if (size <= usable && (size >= usable / 2 || usable <= 64)) {   /* fits, not too loose */
    if (h != NULL) _st_large_set_req(h, size);   /* kept at or below 128 KiB: the stats' request */
    return p;
  }
  return st_realloc_move(p, size, usable);
}

ST_ENTRY void *strata_reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
  return strata_realloc(p, total);
}

ST_ENTRY size_t strata_malloc_usable_size(const void *p) {
  if (p == NULL) return 0;
  page_t *page; large_t *h;
  size_t usable = block_usable((void *)p, &page, &h);
  if (usable == USABLE_GUARDED) usable = _st_guarded_usable(p);      /* reports a bad one */
  else if (usable == (size_t)-1)
    _st_error(large_block_freed((void *)p) ? "malloc_usable_size(): pointer already freed"
                                           : "malloc_usable_size(): invalid pointer", p);
  else if (page != NULL && st_unlikely(small_block_freed(page, p))) {   /* (found by review, stop 30) */
    _st_misuse("malloc_usable_size(): pointer already freed", p, page->block_size);
    return 0;
  }
  return usable == (size_t)-1 ? 0 : usable;
}

/* Could a block at p have been asked for with `size` bytes (and alignment
 * `align`, 0 for the plain family)?  The sizes that can land in a block of
 * bs usable bytes: at most bs, and more than half of it (the next class
 * down is above bs/2, and realloc keeps a block only while the new size is
 * at least half of it) unless bs <= 64; or, aligned, any size whose
 * round_up(size, align) has this block's class (aligned.c).  A large
 * block, aligned or not: at most its usable size, at least half the size
 * last asked for.  (An aligned request used to pass with any size up to
 * the block's: found by review.)  Pointers strata does not know pass: free
 * reports them. */
static bool size_fits(void *p, size_t size, size_t align, size_t *bs_out) {
  unsigned v = st_segmap_get(p);
  size_t bs;
  if (v == SEGMAP_SMALL) {
    page_t *page = st_page_of(st_segment_of(p), p);
    if (!page->in_use) return true;
    bs = page->block_size;
    if (size <= bs && align > 16) {
      size_t r = st_align_up(size ? size : 1, align);
      if (r <= ST_MEDIUM_MAX && _st_class_of(r) == page->cls) return true;
    }
  } else {
    /* a large block may sit in a bigger cached mapping: judged by the size
     * last asked for (malloc or realloc); a sampled one stands for a small
     * block: by its request, with the small rule's exceptions (any size up
     * to 64 bytes; an aligned request, sampled as the rounded-up size).
     * Sampled blocks passed with any size, then the large rule alone
     * reported right sizes (both found by review). */
    large_t *h = v >= SEGMAP_LARGE ? _st_large_of(p, v) : NULL;
    size_t req, usable;
    if (h != NULL) {
      *bs_out = h->usable | ST_MISUSE_LARGE;
      return size <= h->usable && size >= h->req / 2;
    }
    if (v != 0 || !_st_guarded_owns(p) || !_st_guarded_sizes(p, &req, &usable)) return true;
    /* the lower bound of the class its request stands for, so a size the
     * unsampled block would refuse is refused here too (req / 2 before:
     * found by review), reported with that class; the upper bound its
     * usable size, which malloc_usable_size may have told the program */
    size_t cs = _st_class_size(_st_class_of(req ? req : 1));
    *bs_out = cs;
    return size <= usable && (cs <= 64 || size >= cs / 2 || align > 16);
  }
  *bs_out = bs;
  return size <= bs && (bs <= 64 || size >= bs / 2);
}

/* free_sized, free_aligned_sized and C++'s sized delete (`call`: which of
 * them, ST_FREE_SIZED..): a size that cannot be the block's is reported as
 * misuse (and the call ignored), and so is an alignment (align != 0: the
 * aligned calls) that is no power of two or that p does not have (any
 * alignment passed before stop 30: found by review).  The report names the
 * function called (all were "free_sized()" before stop 32). */
void _st_free_checked(void *p, size_t size, size_t align, int call) {
  static const char *const wrong_size[] = {
    "free_sized(): size does not match the block", "free_aligned_sized(): size does not match the block",
    "operator delete(): size does not match the block" };
  if (align != 0 && p != NULL && st_unlikely(!st_is_pow2(align) || ((uintptr_t)p & (align - 1)) != 0)) {
    _st_misuse(call == ST_FREE_DELETE ? "operator delete(): alignment does not match the block"   /* align: */
               : "free_aligned_sized(): alignment does not match the block", p, 0);   /* those two only */
    return;
  }
  size_t bs = 0;
  if (p != NULL && st_unlikely(!size_fits(p, size, align, &bs))) {
    _st_misuse(wrong_size[call], p, bs);
    return;
  }
  strata_free(p);
}

ST_ENTRY void strata_free_sized(void *p, size_t size) { _st_free_checked(p, size, 0, ST_FREE_SIZED); }

ST_ENTRY void strata_cfree(void *p) { strata_free(p); }

#if !STRATA_VALGRIND   /* else valgrind.c exports them */
#define ST_ALIASES_CORE
#include "malloc/aliases.h"
#endif
