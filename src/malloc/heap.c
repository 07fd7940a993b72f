/* Heaps: the per-thread caches, and what happens to pages when threads die.
 *
 * A heap owns pages (spans of one size class).  For each class it keeps a
 * queue of pages that may have free blocks; direct[c] is the queue's first
 * page, the one malloc's fast path pops from.  Pages with nothing left are
 * parked on the heap's `full` list so the slow path never walks them.
 *
 * Slow path of malloc for class c (heap_find_page):
 *   1. if a remote thread freed into a parked page (full_dirty), move such
 *      pages back to their queues;
 *   2. walk queue c: collect each page's remote frees; exhausted pages are
 *      parked; of the first 8 pages that can serve (free blocks, room to
 *      carve, or held blocks to unpurge), the fullest becomes direct[c],
 *      or the first one half full (fragmentation control: sparse pages
 *      are left to empty out);
 *   3. else adopt a page of class c abandoned by an exited thread;
 *   4. else take a fresh span from the page heap (segment.c).
 *
 * Parking (the full-page protocol).  The owner parks a page with one CAS of
 * its xthread_free word from 0 (nothing pending) to XF_FULL.  A remote free
 * pushes with CAS too, so it either lands before the park (the CAS fails and
 * the owner keeps using the page) or sees XF_FULL in the old value, clears it
 * with its push, and sets the owning heap's full_dirty flag.  Heap structs
 * are never unmapped, so a remote thread reading a stale `heap` pointer can
 * at worst set a flag on a recycled heap: a wasted rescan, never a fault.
 * As a backstop against such lost wake-ups, a slow path rescans every
 * max(256, parked pages) slow paths (amortized O(1) per slow path).
 *
 * Thread exit (heap_thread_done, from a pthread key destructor): the heap
 * is *retired* whole, pages and all, and the next thread to start takes it
 * over (see "Retired heaps" below).  A retired heap that waits too long, or
 * one too many, is abandoned: every page is collected; empty ones go back
 * to the page heap, the others are *abandoned*: owner 0, heap NULL, on the
 * global abandoned list of their class.  Remote frees keep landing in their
 * xthread_free; a thread that needs a page of that class adopts one (step
 * 3).  After the destructor the thread's heap pointer is _st_heap_dead, and
 * any later malloc (from other destructors) is served by the shared
 * *orphan heap* under a lock.
 *
 * Ownership test: page->owner holds the owning heap's address (plus flag
 * bits), so a thread's free is local iff owner == its heap pointer; heap
 * structs are recycled only after all their pages were abandoned, so the
 * test can never confuse a new thread with a dead one (not even in a fork
 * child whose new threads reuse the parent's thread descriptors).  A
 * retired heap is the exception by design: the one thread that takes it
 * over becomes the owner of all its pages, which is what the test then
 * says; the dead thread's own later frees see _st_heap_dead and are remote.
 *
 * Locks, in order: heaps_lock (registry, recycled heaps) -> orphan_lock ->
 * abandoned_lock -> page-heap lock (segment.c).  No lock is held while
 * calling anything that can call malloc.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include "malloc/internal.h"

#define EMPTY_DIRECT { [0 ... ST_NCLASSES - 1] = &_st_page_empty }
page_t _st_page_empty;
heap_t _st_heap_empty = { .direct = EMPTY_DIRECT };
heap_t _st_heap_dead = { .direct = EMPTY_DIRECT };
__thread heap_t *_st_heap_tl = &_st_heap_empty;

static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static heap_t *heaps_all;          /* registry of live heaps */
static heap_t *heaps_free;         /* recycled heap structs */
static size_t heaps_live;
static pthread_key_t heap_key;
static int heap_key_ok;

/* Retired heaps: newest first, linked through next_free (heaps lock);
 * heaps_retired_n is also peeked without it. */
static heap_t *heaps_retired;
static _Atomic size_t heaps_retired_n;

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
/* Its inbox is closed for good: a batch for it is delivered by its sender
 * (per-page remote frees), since delivering under orphan_lock could free a
 * span and start the purge thread, whose creation mallocs from this heap. */
static heap_t orphan_heap = { .direct = EMPTY_DIRECT, .rb_inbox = RB_CLOSED };


/* ---- page queues ---------------------------------------------------------- */

/* direct[c]: the stash while it holds blocks, else the queue's first page
 * (see direct_ok). */
static void heap_sync_direct(heap_t *h, unsigned c) {
  page_t *s = st_stash_of(h, c);
  if (s != NULL && s->free != NULL) h->direct[c] = s;
  else h->direct[c] = st_queue_direct(h, c);
}

/* ---- full pages ----------------------------------------------------------- */

static bool heap_park(heap_t *h, page_t *page) {
  uintptr_t expect = 0;
  if (!atomic_compare_exchange_strong_explicit(&page->xthread_free, &expect, XF_FULL,
                                               memory_order_acq_rel, memory_order_relaxed))
    return false;                         /* remote frees arrived: keep using it */
  st_queue_remove(&h->queues[page->cls], page);
  heap_sync_direct(h, page->cls);
  atomic_store_explicit(&page->owner, st_owner_word(h, page, OWNER_FULL), memory_order_relaxed);
  st_queue_push_front(&h->full, page);
  return true;
}

static void heap_unpark(heap_t *h, page_t *page) {
  st_queue_remove(&h->full, page);
  atomic_store_explicit(&page->owner, st_owner_word(h, page, 0), memory_order_relaxed);
  _st_page_collect_all(page);
  /* To the back: the current page is used up first, and by the time the walk
   * reaches this one more of its blocks may have come back. */
  st_queue_push_back(&h->queues[page->cls], page);
  heap_sync_direct(h, page->cls);
}

static void heap_rescue(heap_t *h) {
  /* exchange, not a store: the acquire pairs with the remote free's release,
   * so every block pushed before a flag we clear is seen by the scan. */
  atomic_exchange_explicit(&h->full_dirty, 0, memory_order_acquire);
  page_t *next;
  size_t n = 0;
  for (page_t *p = h->full.first; p; p = next, n++) {
    next = p->next;
    if (atomic_load_explicit(&p->xthread_free, memory_order_acquire) & ~XF_FULL)
      heap_unpark(h, p);
  }
  /* the backstop scan costs O(parked pages): space it by as many slow paths */
  h->rescue_at = h->slow_count + (n > 256 ? n : 256);
}

/* ---- abandon / adopt ------------------------------------------------------ */

/* The inbox is drained while h still owns its pages (the cheap own free),
 * and closed only after the last page is abandoned: a sender that finds it
 * closed delivers the batch itself, and if a page's owner word still named
 * h then, a block that carries the free key (maybe freed twice) would have
 * nowhere to be confirmed.  Closed after, each such block finds its page
 * abandoned (confirmed under abandoned_lock) or adopted by a heap that
 * takes batches. */
static void heap_abandon_all(heap_t *h) {
  page_t *p, *next;
  _st_stash_flush(h);
  _st_remote_flush(h);
  _st_remote_drain(h);        /* pending batches freed as their owner */
  _st_heap_dead_flush(h);
  _st_sparse_drain(h, 2);
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    for (p = h->queues[c].first; p; p = next) { next = p->next; p->next = p->prev = NULL; _st_page_abandon(p); }
    h->queues[c].first = h->queues[c].last = NULL;
    h->direct[c] = &_st_page_empty;
  }
  for (p = h->full.first; p; p = next) { next = p->next; p->next = p->prev = NULL; _st_page_abandon(p); }
  h->full.first = h->full.last = NULL;
  _st_remote_close(h);        /* what came meanwhile; later batches are delivered by their senders */
}

/* Adopt an abandoned page of class c into h; returns it if it has room. */
static page_t *heap_adopt(heap_t *h, unsigned c) {
  for (int tries = 0; tries < 8; tries++) {
    page_t *p = _st_abandoned_pop(c, h);          /* owned by h from here */
    if (p == NULL) return NULL;
    _st_page_collect_all(p);
    if (st_page_used(p) == 0 && h->queues[c].first != NULL) { _st_span_free(p); continue; }
    st_queue_push_front(&h->queues[c], p);
    heap_sync_direct(h, c);
    if (p->free || _st_page_extend(p)) return p;
    if (!heap_park(h, p)) { _st_page_collect(p); if (p->free) return p; }
  }
  return NULL;
}

/* ---- the slow path -------------------------------------------------------- */

static page_t *heap_fresh_page(heap_t *h, unsigned c) {
  page_t *p = _st_span_alloc(_st_class_slices(c));
  if (p == NULL) return NULL;
  _st_page_init(p, c);
  atomic_store_explicit(&p->heap, h, memory_order_relaxed);
  atomic_store_explicit(&p->owner, st_owner_word(h, p, 0), memory_order_relaxed);
  _st_page_extend(p);
  st_queue_push_front(&h->queues[c], p);
  heap_sync_direct(h, c);
  return p;
}

/* Fragmentation control: among the first FIND_CANDIDATES pages of the
 * queue that can serve, take the fullest (the first one at least half full
 * ends the search), so that sparse pages are not refilled and get a chance
 * to empty out (and go back to the page heap) or to stay purged.  But a
 * page with fewer than FIND_ROOM free blocks only when no candidate has
 * more: a page a free just unparked holds one, so it was the fullest there
 * is, served one malloc and was parked again, and a program replacing
 * random blocks of a class whose pages are all full paid both slow paths
 * on every pair (bench/fixed.c at 256 bytes: 521 instructions a pair, 3.7x
 * the time it takes now; docs/malloc.md section 19). */
#define FIND_CANDIDATES 8
#define FIND_ROOM 8

static page_t *heap_find_page(heap_t *h, unsigned c) {
  _st_heap_dead_flush(h);
  _st_remote_drain(h);                          /* blocks other threads freed in batches */
  if ((h->slow_count & 63) == 0) {               /* and ours that wait too long */
    _st_stash_age(h);
    _st_remote_flush(h);
  }
  if (atomic_load_explicit(&h->full_dirty, memory_order_acquire) || ++h->slow_count >= h->rescue_at)
    heap_rescue(h);
  page_t *next, *best = NULL;
  uint32_t best_used = 0, best_room = 0;
  bool best_roomy = false;
  int seen = 0;
  for (page_t *p = h->queues[c].first; p && seen < FIND_CANDIDATES; p = next) {
    next = p->next;
    _st_page_collect(p);
    if (p->free == NULL && p->capacity == p->reserved && p->held == 0) {
      _st_page_arm(p);
      if (heap_park(h, p)) continue;            /* exhausted: parked */
      _st_page_collect(p);                      /* a remote free raced the park */
      if (p->free == NULL) continue;
    }
    seen++;
    uint32_t used = st_page_used(p);
    /* room: the blocks it serves without an unpurge, listed or still to
     * carve; blocks held in purged units do not count, or a purged page
     * won over pages with resident free blocks and its unpurge failed
     * under a hard limit while they waited (found by review) */
    uint32_t taken = used + p->held;
    uint32_t room = p->reserved > taken ? p->reserved - taken : 0;
    /* (a class with few blocks a page keeps the fullest-first order) */
    bool roomy = room >= (p->reserved >= 4 * FIND_ROOM ? FIND_ROOM : 1);
    /* roomy beats not; among roomy pages the fullest; among the others the
     * one with the most room (it serves the most mallocs before the next
     * search; one with none needs an unpurge: the last choice) */
    if (best == NULL || (roomy && (!best_roomy || used > best_used)) || (!best_roomy && !roomy && room > best_room)) {
      best = p;
      best_used = used;
      best_room = room;
      best_roomy = roomy;
    }
    if (best_roomy && best_used >= p->reserved / 2) break;   /* half full or more: good enough */
  }
  if (best != NULL && (best->free != NULL || _st_page_extend(best))) {
    if (best != h->queues[c].first) {
      st_queue_remove(&h->queues[c], best);
      st_queue_push_front(&h->queues[c], best);
      heap_sync_direct(h, c);
    }
    return best;
  }
  page_t *p = heap_adopt(h, c);
  if (p) return p;
  return heap_fresh_page(h, c);
}

void *_st_heap_malloc_class(heap_t *h, size_t size) {
  if (h->sparse_n && (h->slow_count & 15) == 0) _st_sparse_drain(h, 0);
  unsigned c = size <= ST_SMALL_FAST_MAX ? st_class_fast(size) : _st_class_of(size);
  page_t *p = h->direct[c];
  if (p->free == NULL) {
    if (st_is_stash(h, p)) { heap_sync_direct(h, c); p = h->direct[c]; }   /* stash ran dry */
    if (p->free == NULL && (p = heap_find_page(h, c)) == NULL) { errno = ENOMEM; return NULL; }
  }
  block_t *b = p->free;
  if (st_unlikely(st_segment_of(b) != st_segment_of(p)) && !st_is_stash(h, p))
    return _st_list_corrupt(h, p, b, size);
  p->free = st_next(p, b);
  p->used++;
  ((uintptr_t *)b)[1] = 0;
  h->req_count[c]++;
  h->req_sample[c].n++;
  h->req_sample[c].bytes += size;
  if (STRATA_DEBUG && !st_is_stash(h, p) && _st_page_check(p, 1) != 0) _st_error("malloc: page invariant broken", b);
  return b;
}

static void heaps_register(heap_t *h);   /* heaps lock held */

static heap_t *heap_create(void) {
  pthread_mutex_lock(&heaps_lock);
  heap_t *h = heaps_retired;
  if (h != NULL) {                    /* a dead thread's heap, pages and all */
    heaps_retired = h->next_free;
    atomic_fetch_sub_explicit(&heaps_retired_n, 1, memory_order_relaxed);
    h->next_free = NULL;
    h->sample_left = _st_guarded_interval();
    heaps_register(h);
    atomic_store_explicit(&h->owned, 1, memory_order_relaxed);
    pthread_mutex_unlock(&heaps_lock);
    /* Publish before pthread_setspecific, which may itself call malloc. */
    _st_heap_tl = h;
    if (heap_key_ok) pthread_setspecific(heap_key, h);
    /* Blocks sent while it was retired, before any malloc here can hand one
     * out: a second free waiting in the inbox (the exiting thread's
     * suspect, _st_remote_suspect) is then confirmed, not freed again after
     * the block was reused (review of 2026-11-27). */
    _st_remote_drain(h);
    if (atomic_load_explicit(&heaps_retired_n, memory_order_relaxed)) _st_heaps_retired_trim(0);
    return h;
  }
  h = heaps_free;
  if (h) heaps_free = h->next_free;
  pthread_mutex_unlock(&heaps_lock);
  if (h == NULL) {
    h = _st_os_alloc(st_align_up(sizeof(heap_t), _st_os_page_size()), 0);
    if (h == NULL) return NULL;
  }
  memset(h, 0, sizeof *h);
  for (unsigned c = 0; c < ST_NCLASSES; c++) h->direct[c] = &_st_page_empty;
  for (unsigned i = 0; i < ST_STASH_N; i++) {
    h->stash[i].key = _st_page_key(&h->stash[i]);
    h->stash[i].cls = (uint16_t)(ST_STASH_FIRST + i);
  }
  h->sample_left = _st_guarded_interval();
  h->rng = _st_page_key(h) | 1;
  atomic_store_explicit(&h->owned, 1, memory_order_relaxed);
  pthread_mutex_lock(&heaps_lock);
  heaps_register(h);
  pthread_mutex_unlock(&heaps_lock);
  /* Publish before pthread_setspecific, which may itself call malloc. */
  _st_heap_tl = h;
  if (heap_key_ok) pthread_setspecific(heap_key, h);
  return h;
}

static void heaps_register(heap_t *h) {
  h->prev_all = NULL;
  h->next_all = heaps_all;
  if (heaps_all) heaps_all->prev_all = h;
  heaps_all = h;
  heaps_live++;
}

/* A block that carries the free key, for a page of the orphan heap, whose
 * inbox is closed: confirmed under orphan_lock, which stands in for the
 * orphan's owner (only orphan_malloc takes its pages' lists, under it).
 * Found on the page's lists is a double free, reported; otherwise pushed,
 * like any free of an orphan's block (not freed as its owner here: see
 * orphan_heap).  false if the page is not the orphan heap's. */
bool _st_orphan_free(page_t *page, block_t *b, uintptr_t owner) {
  if ((owner & ~OWNER_FLAGS) != (uintptr_t)&orphan_heap) return false;
  pthread_mutex_lock(&orphan_lock);
  owner = atomic_load_explicit(&page->owner, memory_order_acquire);
  bool twice = (owner & ~OWNER_FLAGS) == (uintptr_t)&orphan_heap &&
               (_st_page_holds_freed(page, b) || _st_page_block_held(page, b));
  if (!twice) {
    st_zero_keyed(page, b);                  /* the key was user data */
    _st_page_remote_free(page, b);
  }
  pthread_mutex_unlock(&orphan_lock);
  if (twice) _st_misuse("free(): double free", b, page->block_size);
  return true;
}

static void *orphan_malloc(size_t size) {
  pthread_mutex_lock(&orphan_lock);
  void *p = _st_heap_malloc_class(&orphan_heap, size);
  pthread_mutex_unlock(&orphan_lock);
  return p;
}

/* The caller's heap, made now if it has none yet; NULL in a thread whose
 * heap is gone (it is exiting) or when none can be made. */
heap_t *_st_heap_own(void) {
  heap_t *h = _st_heap_tl;
  if (h == &_st_heap_dead) return NULL;
  return h == &_st_heap_empty ? heap_create() : h;
}

/* A heap for a thread whose own is gone, for one batch: made (or taken
 * over) as for a new thread, and given back with _st_heap_unborrow, which
 * does what the thread's exit did (its batches go out; the heap is retired
 * or abandoned) and puts the key back as it found it (*key), so no
 * destructor round runs for the borrowed heap.  The thread is exiting, or
 * a live one is in a moment where it poses as dead (purge.c and guarded.c
 * around pthread_create), whose own heap stays under the key.  NULL when
 * none can be made. */
heap_t *_st_heap_borrow(void **key) {
  if (_st_heap_tl != &_st_heap_dead) return NULL;
  *key = heap_key_ok ? pthread_getspecific(heap_key) : NULL;
  return heap_create();
}
void _st_heap_unborrow(heap_t *h, void *key) {
  _st_heap_thread_done(h);
  if (heap_key_ok) pthread_setspecific(heap_key, key);
}

/* Above the size classes: a large block (a region's up to 16 MiB). */
static void *heap_alloc_big(size_t size) {
  return _st_large_alloc(size, 0, 0);
}

void *_st_heap_malloc_slow(size_t size) {
  heap_t *h = _st_heap_tl;
  _st_purge_poll();
  if (st_unlikely(h == &_st_heap_empty || h == &_st_heap_dead)) {
    if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) _st_process_init();
    if (size > ST_MEDIUM_MAX) return heap_alloc_big(size);
    if (h == &_st_heap_dead || (h = heap_create()) == NULL) return orphan_malloc(size);
  }
  if (st_unlikely(atomic_load_explicit(&heaps_retired_n, memory_order_relaxed) != 0) &&
      (++h->expire_tick & 63) == 0)
    _st_heaps_retired_trim(0);
  if (size > ST_MEDIUM_MAX) return heap_alloc_big(size);
  return _st_heap_malloc_class(h, size);
}

/* ---- free slow paths ------------------------------------------------------ */

/* `used` reached 0: the page is empty, or reached its armed low-water mark
 * (page.c, "Sparse pages"). */
void _st_heap_retire(page_t *page) {
  if (page->purge_low != 0) { _st_page_low_water(page); return; }
  heap_t *h = atomic_load_explicit(&page->heap, memory_order_relaxed);
  page_queue_t *q = &h->queues[page->cls];
  if (q->first == page && page->next == NULL) return;   /* keep the class's last page */
  st_queue_remove(q, page);
  heap_sync_direct(h, page->cls);
  _st_sparse_unqueue(h, page);
  if (page->purged != 0) {
    /* Its span goes back purged whole (segment.c), one system call each:
     * in a burst of frees that empties many sparse spans, wait for a few
     * and purge them in one call (one TLB flush). */
    h->dead_q[h->dead_n++] = page;
    if (h->dead_n == ST_DEAD_Q) _st_heap_dead_flush(h);
    return;
  }
  _st_span_free(page);
  _st_purge_poll();
}

/* The spans in h->dead_q are empty, out of every queue and unreachable
 * (no live block, so no free can name them): purge them whole in one call
 * and give them back.  Flushed when full, and on the owner's next malloc
 * slow path, trim, exit or abandon. */
void _st_heap_dead_flush(heap_t *h) {
  unsigned n = h->dead_n;
  if (n == 0) return;
  struct iovec iov[ST_DEAD_Q];
  for (unsigned i = 0; i < n; i++) {
    page_t *p = h->dead_q[i];
    iov[i].iov_base = st_span_addr(p);
    iov[i].iov_len = (size_t)p->slice_count * ST_SLICE_SIZE;
  }
  int ok = _st_os_reset_many(iov, n) == 0 ? 1 : -1;
  h->dead_n = 0;
  for (unsigned i = 0; i < n; i++) _st_span_free_reset(h->dead_q[i], ok);
  _st_purge_poll();
}

/* Free of block b (its start) into a page of heap h, whose owner word is
 * `owner` (h plus flags), by h's owner or a thread standing in for it.
 * `own`: the owner's own free, whose block nobody zeroed yet (a block
 * another thread sent was zeroed by it, unless it held the key). */
static void heap_free_owned(heap_t *h, page_t *page, block_t *b, uintptr_t owner, bool own) {
  if (st_unlikely(((uintptr_t *)b)[1] == ST_FREE_KEY) &&
      (_st_stash_marked(page, b) || _st_page_holds_freed(page, b))) {
    _st_misuse("free(): double free", b, page->block_size);
    return;
  }
  if (owner & OWNER_SLOW) {
    if (_st_page_block_held(page, b)) {   /* free already, held */
      _st_misuse("free(): double free", b, page->block_size);
      return;
    }
    if (_st_zero_free) st_zero_freed(b, page->block_size);    /* zero on free */
  }
  /* without OWNER_SLOW (the secure build, whose fast path zeroes): the
   * owner's free into a parked page, and a block whose user data held the
   * key, confirmed above, which another thread sent unzeroed
   * (free_small_other must not wipe a free block's link); both were listed
   * with their bytes (found by review, 2026-11-28) */
  else if (own) { if (_st_zero_free) st_zero_freed(b, page->block_size); }
  else st_zero_keyed(page, b);
  if (owner & OWNER_FULL) heap_unpark(h, page);
  st_set_next(page, b, page->free);
  page->free = b;
  ((uintptr_t *)b)[1] = ST_FREE_KEY;
  if (--page->used == 0) _st_heap_retire(page);
}

void _st_heap_free_owned(heap_t *h, page_t *page, block_t *b, uintptr_t owner) {
  heap_free_owned(h, page, b, owner, false);
}

/* Free of block b (its start) by the owner of a page with flags set. */
void _st_heap_free_slow(page_t *page, block_t *b, uintptr_t owner) {
  heap_free_owned(_st_heap_tl, page, b, owner, true);
}

/* h's empty pages back to the page heap, the one page per class the retire
 * policy keeps included; the others purged where they can (h's owner, or
 * orphan_lock for the orphan heap). */
static size_t heap_trim_pages(heap_t *h) {
  size_t freed = 0;
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    page_t *next;
    for (page_t *p = h->queues[c].first; p; p = next) {
      next = p->next;
      _st_page_collect(p);
      if (st_page_used(p) != 0) { freed += _st_page_purge(p); continue; }
      st_queue_remove(&h->queues[c], p);
      _st_sparse_unqueue(h, p);
      freed += (size_t)p->slice_count * ST_SLICE_SIZE;
      _st_span_free(p);
    }
    heap_sync_direct(h, c);
  }
  return freed;
}

/* Give the calling thread's empty pages back to the page heap (malloc_trim). */
size_t _st_heap_trim_self(void) {
  heap_t *h = _st_heap_tl;
  if (h == &_st_heap_empty || h == &_st_heap_dead) return 0;
  _st_remote_quiesce();
  _st_heap_dead_flush(h);
  _st_sparse_drain(h, 1);
  heap_rescue(h);
  return heap_trim_pages(h);
}

/* ... and the orphan heap's (the mallocs of threads that could not get a
 * heap: a fault at thread start, or thread-exit destructors): before, its
 * empty pages stayed for good, one span per class it had served (found by
 * review, stop 31: 29 spans in use after every block was freed, against 2
 * without the fault). */
size_t _st_heap_trim_orphan(void) {
  pthread_mutex_lock(&orphan_lock);
  size_t freed = heap_trim_pages(&orphan_heap);
  pthread_mutex_unlock(&orphan_lock);
  return freed;
}

/* ---- thread exit, fork ---------------------------------------------------- */

/* Counters of heaps that are gone (heaps lock). */
static size_t dead_remote_frees, dead_req_count[ST_NCLASSES], dead_req_bytes[ST_NCLASSES];

/* A heap's requested bytes in class c: its mallocs times the mean request
 * of its slow-path mallocs (the fast path counts but does not add sizes). */
static size_t heap_req_bytes(const heap_t *h, unsigned c) {
  size_t n = __atomic_load_n(&h->req_count[c], __ATOMIC_RELAXED);
  size_t sn = __atomic_load_n(&h->req_sample[c].n, __ATOMIC_RELAXED);
  size_t sb = __atomic_load_n(&h->req_sample[c].bytes, __ATOMIC_RELAXED);
  if (sn == 0) return n * _st_class_size(c);
  return (size_t)((double)sb / (double)sn * (double)n);
}

static void stats_fold(heap_t *h) {         /* heaps lock held */
  dead_remote_frees += h->remote_frees;
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    dead_req_count[c] += h->req_count[c];
    dead_req_bytes[c] += heap_req_bytes(h, c);
  }
}

static void stats_add(strata_stats_t *st, const heap_t *h) {
  st->remote_frees += __atomic_load_n(&h->remote_frees, __ATOMIC_RELAXED);
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    st->classes[c].mallocs += __atomic_load_n(&h->req_count[c], __ATOMIC_RELAXED);
    st->classes[c].requested += heap_req_bytes(h, c);
  }
}

/* The fast path popped a block outside its page's segment (see block_t). */
void *_st_list_corrupt(heap_t *h, page_t *page, block_t *b, size_t size) {
  _st_misuse("malloc(): corrupted free list (a freed block was overwritten)", b, page->block_size);
  /* ignored (on_misuse=ignore): the list cannot be followed, so its blocks
   * are given up, counted as in use for good (the span leaks, but
   * used + |free| + held == capacity still holds and the heap checks) */
  page->free = NULL;
  page->used = page->capacity - page->held - page->purge_low;
  return _st_heap_malloc_class(h, size);
}

/* ---- retired heaps ----------------------------------------------------------
 * A thread that exits does not abandon its pages: its heap, pages and all,
 * is retired (heaps_retired, newest first), and the next thread to start
 * takes it whole (heap_create).  The pages keep their class and their
 * carved, resident blocks, so a program whose threads come and go reuses
 * the same memory in the same layout.  Abandoning instead sent every empty
 * page back to the page heap and made the next thread carve ~40 spans
 * afresh, on dirty slices last used by other classes; each new layout
 * touched other OS pages of them, until whole segments were resident (bench
 * workload `threads`: 12 MiB resident for 1.4 MiB live, and 40 span
 * frees and allocations per thread).
 *
 * Invariants: a retired heap is on heaps_retired and in no registry; no
 * thread owns it (its dead thread's heap pointer is _st_heap_dead), so its
 * page lists, queues and sparse ring are touched only by the one thread that
 * unlinks it from heaps_retired under the heaps lock (the taker, or the one
 * that abandons it).  Its pages' owner words keep its address, so remote
 * frees into them are pushed and counted as for a live owner, and for the
 * taker they are its own.  Its span-block cache is empty (flushed at exit)
 * and its counters were folded into the dead totals and zeroed.
 *
 * A retired heap is abandoned (heap_abandon_all, as a dying thread's used
 * to be) when it is one more than RETIRED_MAX, when it has waited purge_ms
 * (checked at thread start and exit, on every 64th malloc slow path while
 * any is retired, and by the purge thread), and by malloc_trim and
 * strata_purge.  purge_ms=0 (give memory back at once) or memory above the
 * soft limit retires nothing: the heap is abandoned at exit. */
#define RETIRED_MAX 4

/* Abandon h's pages and recycle the struct; h is unlinked from everything
 * and ours alone (no lock held). */
static void heap_expire(heap_t *h) {
  heap_abandon_all(h);
  pthread_mutex_lock(&heaps_lock);
  h->next_free = heaps_free;     /* recycled, never unmapped (see header) */
  heaps_free = h;
  pthread_mutex_unlock(&heaps_lock);
}

/* Abandon the retired heaps that waited purge_ms (all with force); returns
 * how many stay retired.  No strata lock may be held. */
size_t _st_heaps_retired_trim(int force) {
  if (atomic_load_explicit(&heaps_retired_n, memory_order_relaxed) == 0) return 0;
  long ms = _st_option(OPT_PURGE_MS);
  if (!force && ms < 0) return atomic_load_explicit(&heaps_retired_n, memory_order_relaxed);
  uint64_t now = st_now_ns(), age = ms > 0 ? (uint64_t)ms * 1000000 : 0;
  heap_t *dead = NULL;
  pthread_mutex_lock(&heaps_lock);
  heap_t **pp = &heaps_retired;
  while (*pp) {
    heap_t *h = *pp;
    if (force || now - h->retired_at >= age) {
      *pp = h->next_free;
      atomic_fetch_sub_explicit(&heaps_retired_n, 1, memory_order_relaxed);
      h->next_free = dead;
      dead = h;
    } else {
      pp = &h->next_free;
    }
  }
  size_t left = atomic_load_explicit(&heaps_retired_n, memory_order_relaxed);
  pthread_mutex_unlock(&heaps_lock);
  while (dead) { heap_t *h = dead; dead = h->next_free; heap_expire(h); }
  return left;
}

static void heap_thread_done(void *arg);
void _st_heap_thread_done(void *arg) {
  ST_VG_QUIET_BEGIN;
  heap_thread_done(arg);
  ST_VG_QUIET_END;
}

static void heap_thread_done(void *arg) {
  heap_t *h = arg;
  if (h == NULL || h == &_st_heap_empty || h == &_st_heap_dead) return;
  _st_heap_tl = &_st_heap_dead;
  atomic_store_explicit(&h->owned, 0, memory_order_relaxed);   /* others stop stashing its blocks */
  _st_stash_flush(h);
  _st_remote_flush(h);        /* a retired heap has no sender of its own */
  _st_heap_dead_flush(h);
  bool retire = _st_option(OPT_PURGE_MS) != 0 && !_st_over_soft();
  if (!retire) heap_abandon_all(h);
  heap_t *victim = NULL;
  pthread_mutex_lock(&heaps_lock);
  if (h->prev_all) h->prev_all->next_all = h->next_all; else heaps_all = h->next_all;
  if (h->next_all) h->next_all->prev_all = h->prev_all;
  heaps_live--;
  stats_fold(h);
  if (retire) {
    h->remote_frees = 0;
    memset(h->req_count, 0, sizeof h->req_count);
    memset(h->req_sample, 0, sizeof h->req_sample);
    h->retired_at = st_now_ns();
    h->next_free = heaps_retired;
    heaps_retired = h;
    if (atomic_fetch_add_explicit(&heaps_retired_n, 1, memory_order_relaxed) + 1 > RETIRED_MAX) {
      heap_t **pp = &heaps_retired;            /* one too many: the oldest goes */
      while ((*pp)->next_free) pp = &(*pp)->next_free;
      victim = *pp;
      *pp = NULL;
      atomic_fetch_sub_explicit(&heaps_retired_n, 1, memory_order_relaxed);
    }
  } else {
    h->next_free = heaps_free;     /* recycled, never unmapped (see header) */
    heaps_free = h;
  }
  pthread_mutex_unlock(&heaps_lock);
  if (victim) heap_expire(victim);
  _st_heaps_retired_trim(0);
  if (retire) _st_purge_kick(0);                 /* a waiting purge thread: expire it on time */
}

ST_INTERNAL void _st_heaps_init(void);
void _st_heaps_init(void) {
  if (pthread_key_create(&heap_key, _st_heap_thread_done) == 0) heap_key_ok = 1;
}

void _st_heaps_fork_prepare(void) {
  pthread_mutex_lock(&heaps_lock);
  pthread_mutex_lock(&orphan_lock);
  _st_abandoned_lock();
  _st_pageheap_lock();
  _st_remote_fork_prepare();
}
void _st_heaps_fork_parent(void) {
  _st_remote_fork_parent();
  _st_pageheap_unlock();
  _st_abandoned_unlock();
  pthread_mutex_unlock(&orphan_lock);
  pthread_mutex_unlock(&heaps_lock);
}
/* In the child only the forking thread lives.  The other threads' heaps stay
 * as they were: their blocks remain valid and freeable (frees go to the
 * pages' remote lists), their cached free space is not reused.  Walking them
 * is unsafe, since their owners may have been mid-update at the fork. */
void _st_heaps_fork_child(void) {
  pthread_mutex_init(&heaps_lock, NULL);
  pthread_mutex_init(&orphan_lock, NULL);
  _st_abandoned_fork_child();
  _st_pageheap_reinit();
  _st_remote_fork_child();
}

/* fn(h, arg) for every live and retired heap, under the heaps lock (fn
 * must not lock anything; it may only read other heaps racily). */
void _st_heaps_each(void (*fn)(heap_t *h, void *arg), void *arg) {
  pthread_mutex_lock(&heaps_lock);
  for (heap_t *h = heaps_all; h; h = h->next_all) fn(h, arg);
  for (heap_t *h = heaps_retired; h; h = h->next_free) fn(h, arg);
  pthread_mutex_unlock(&heaps_lock);
}

/* ---- stats and checks ----------------------------------------------------- */

/* Counts only: other heaps' page lists are never walked (their owners may be
 * changing them); bytes in use come from the segments (segment.c). */
void _st_heaps_stats(strata_stats_t *st) {
  pthread_mutex_lock(&heaps_lock);
  st->heaps = heaps_live;
  for (heap_t *h = heaps_all; h; h = h->next_all) stats_add(st, h);
  st->remote_frees += dead_remote_frees;
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    st->classes[c].mallocs += dead_req_count[c];
    st->classes[c].requested += dead_req_bytes[c];
  }
  pthread_mutex_lock(&orphan_lock);
  stats_add(st, &orphan_heap);
  pthread_mutex_unlock(&orphan_lock);
  pthread_mutex_unlock(&heaps_lock);
  st->pages_abandoned = _st_abandoned_count();
}

static int check_queue(heap_t *h, page_queue_t *q, int full, int owner_view) {
  page_t *prev = NULL;
  for (page_t *p = q->first; p; prev = p, p = p->next) {
    if (p->prev != prev) return -1;
    if (atomic_load_explicit(&p->heap, memory_order_relaxed) != h) return -1;
    uintptr_t o = atomic_load_explicit(&p->owner, memory_order_relaxed);
    if ((o & ~OWNER_FLAGS) != (uintptr_t)h || (!(o & OWNER_FULL)) != !full) return -1;
    if (_st_page_check(p, owner_view) != 0) return -1;
  }
  return q->last == prev ? 0 : -1;
}

/* direct[c]: the stash while it holds blocks; else the queue's first page
 * (or the empty page), or the stash that ran dry (the next malloc of c
 * takes the slow path, which moves on to the queue). */
static bool direct_ok(heap_t *h, unsigned c) {
  page_t *q = st_queue_direct(h, c);
  page_t *s = st_stash_of(h, c);
  if (s == NULL) return h->direct[c] == q;
  if (s->free != NULL) return h->direct[c] == s;
  return h->direct[c] == q || h->direct[c] == s;
}

/* Check the calling thread's heap fully, other heaps' list structure only
 * where it is safe (their owners may be running), and the segments. */
int _st_heaps_check(void) {
  int bad = 0;
  heap_t *me = _st_heap_tl;
  if (me != &_st_heap_empty && me != &_st_heap_dead) {
    for (unsigned c = 0; c < ST_NCLASSES; c++) {
      if (check_queue(me, &me->queues[c], 0, 1) != 0) { bad = 1; _st_message("strata: heap check: class %u queue\n", c); }
      if (!direct_ok(me, c)) { bad = 1; _st_message("strata: heap check: class %u direct\n", c); }
    }
    if (check_queue(me, &me->full, 1, 1) != 0) { bad = 1; _st_message("strata: heap check: full list\n"); }
  }
  pthread_mutex_lock(&heaps_lock);            /* retired heaps: the lock stands in for an owner */
  for (heap_t *h = heaps_retired; h; h = h->next_free) {
    for (unsigned c = 0; c < ST_NCLASSES; c++)
      if (check_queue(h, &h->queues[c], 0, 0) != 0 ||
          !direct_ok(h, c) || (st_stash_of(h, c) && st_stash_of(h, c)->free != NULL)) bad = 1;
    if (check_queue(h, &h->full, 1, 0) != 0) bad = 1;
    if (bad) { _st_message("strata: heap check: retired heap\n"); break; }
  }
  pthread_mutex_unlock(&heaps_lock);
  if (_st_abandoned_check() != 0) bad = 1;
  if (_st_segments_check() != 0) bad = 1;
  if (_st_region_check() != 0) bad = 1;
  return bad ? -1 : 0;
}
