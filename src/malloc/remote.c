/* Remote-free batches: frees of other threads' small blocks, sent in bulk.
 *
 * A free of a block whose page another live heap owns used to be one CAS
 * on that page's xthread_free word, a cache line the owner keeps taking back
 * (collect): on a server-style load where half the frees are remote, that
 * ping-pong was the largest cost strata had over tcmalloc and jemalloc,
 * whose thread caches take foreign blocks without an atomic.
 *
 * Now the freeing thread (B) appends the block to a batch, an array of up
 * to RB_CAP pointers, addressed to the owning heap (A), and sends the whole
 * batch with one CAS onto A's inbox.  A takes its inbox with one exchange
 * on a malloc slow path and frees every block as its owner.  B does not
 * write into a block it batches (the line stays shared, so A's first store
 * to it is an upgrade, not a transfer of a line B dirtied; the blocks of a
 * stash flush, which B wrote anyway, carry marks: see "Reusing foreign
 * blocks"), and A reads the pointers
 * from a dense array, so its misses overlap instead of chaining down a
 * list.
 *
 *      B (freeing thread)                 A (owner of the blocks' pages)
 *   out[slot(A)] = {to A, batch}
 *   batch->blocks[n++] = p    ... RB_CAP ...
 *   CAS A->inbox: batch -> old  ------>   exchange(A->inbox, NULL) on a
 *                                         slow path; for each block: push
 *                                         onto its page's free list (or
 *                                         forward it, see "Delivery")
 *                                         empty batch -> A's spares
 *
 * Invariants and protocol:
 *  - out[], spare, spare_n: the owner thread's only (or the heaps lock's,
 *    for a retired heap, see heap.c).  out[s].b is NULL or a batch with
 *    n < RB_CAP blocks whose pages all had owner out[s].to when freed.
 *  - inbox: a list of full or partial batches (linked through next),
 *    pushed by anyone with CAS (release), taken by the owner with exchange
 *    (acquire), which makes the batches' contents visible.  RB_CLOSED once
 *    the heap is being abandoned: a sender that finds it delivers its
 *    batch itself.  A recycled heap starts open again (heap_create zeroes
 *    it).  Heap structs are never unmapped, so sending to a stale heap
 *    address is harmless: whoever owns that struct now forwards.
 *  - A block in a batch is still counted in its page's `used`, like one
 *    pending in xthread_free, so its page cannot be freed under it.
 *  - Only blocks up to RB_BLOCK_MAX bytes are batched: a thread holds at
 *    most RB_SLOTS * RB_CAP * RB_BLOCK_MAX (440 KiB) of others' memory.
 *    Partial batches go out when the slot is needed for another heap, on
 *    every 64th malloc slow path of the sender, at its exit, malloc_trim,
 *    strata_stats_get and the exit report.  Each entry's size class is
 *    kept beside it, so statistics can count waiting blocks as freed
 *    (_st_remote_pending) without touching them.
 *  - The orphan heap's inbox is closed for good (heap.c says why).
 *
 * Delivery (rb_deliver): the page's owner is read again when the block is
 * delivered, since it may have changed while the block waited (the owner
 * exited and its pages were abandoned, or adopted by the deliverer):
 * owned by the deliverer -> freed as the owner's free (double-free check,
 * unpark, retire; a stash flush's block has its marks cleared first, since
 * this is its one legitimate arrival); owner 0 -> _st_abandoned_free;
 * anyone else -> the per-page remote free (not batched again, so a block
 * moves at most twice), unless it carries the free key: a suspect goes on
 * to the new owner in a batch, or is confirmed under orphan_lock for the
 * orphan heap (rb_route).
 *
 * Batches come from a pool of 64 KiB chunks mapped from the OS, never
 * returned (the number in flight is bounded by the heaps' slots and
 * spares); each heap keeps up to RB_SPARE_MAX empty ones and moves half of
 * them at a time to or from the global pool (pool_lock, a leaf lock).
 */
#include <string.h>
#include "malloc/internal.h"

#define RB_SPARE_MAX 32
#define RB_CHUNK     ((size_t)64 << 10)
#define RB_AHEAD     16

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static rbatch_t *pool;            /* empty batches (pool_lock) */

static inline unsigned rb_slot(const heap_t *to) {
  uintptr_t a = (uintptr_t)to;
  return (unsigned)((a >> 12) ^ (a >> 15)) & (RB_SLOTS - 1);
}

/* An empty batch for h, or NULL when none can be mapped. */
static rbatch_t *rb_get(heap_t *h) {
  rbatch_t *b = h->rb_spare;
  if (b != NULL) { h->rb_spare = b->next; h->rb_spare_n--; return b; }
  pthread_mutex_lock(&pool_lock);
  for (unsigned i = 0; i < RB_SPARE_MAX / 2 && pool != NULL; i++) {   /* take a few */
    b = pool; pool = b->next;
    __atomic_store_n(&b->next, h->rb_spare, __ATOMIC_RELAXED); h->rb_spare = b; h->rb_spare_n++;
  }
  pthread_mutex_unlock(&pool_lock);
  if (h->rb_spare == NULL) {
    rbatch_t *chunk = _st_os_alloc(RB_CHUNK, 0);
    if (chunk == NULL) return NULL;
    size_t n = RB_CHUNK / sizeof(rbatch_t);
    for (size_t i = 0; i < n; i++) chunk[i].next = i + 1 < n ? &chunk[i + 1] : NULL;
    pthread_mutex_lock(&pool_lock);
    chunk[RB_SPARE_MAX / 2 - 1].next = NULL;         /* h keeps the first few */
    chunk[n - 1].next = pool;
    pool = &chunk[RB_SPARE_MAX / 2];
    pthread_mutex_unlock(&pool_lock);
    h->rb_spare = chunk;
    h->rb_spare_n = RB_SPARE_MAX / 2;
  }
  b = h->rb_spare;
  h->rb_spare = b->next; h->rb_spare_n--;
  return b;
}

/* An emptied batch back to h's spares; when they overflow, the newest
 * half goes to the pool in one locked splice.  h NULL: to the pool. */
static void rb_put(heap_t *h, rbatch_t *b) {
  __atomic_store_n(&b->n, 0, __ATOMIC_RELAXED);
  rbatch_t *last = b;                       /* b .. last go to the pool */
  if (h != NULL) {
    __atomic_store_n(&b->next, h->rb_spare, __ATOMIC_RELAXED); h->rb_spare = b;
    if (++h->rb_spare_n <= RB_SPARE_MAX) return;
    for (unsigned i = 1; i < RB_SPARE_MAX / 2; i++) last = last->next;
    h->rb_spare = last->next;
    h->rb_spare_n -= RB_SPARE_MAX / 2;
  }
  pthread_mutex_lock(&pool_lock);
  __atomic_store_n(&last->next, pool, __ATOMIC_RELAXED); pool = b;
  pthread_mutex_unlock(&pool_lock);
}

/* Does the heap in owner word `owner` take batches? */
static inline bool rb_open(uintptr_t owner) {
  heap_t *to = (heap_t *)(owner & ~OWNER_FLAGS);
  /* acquire: a heap closes its inbox after abandoning its pages, so one
   * seen closed has its pages' new owner words visible (rb_route) */
  return atomic_load_explicit(&to->rb_inbox, memory_order_acquire) != RB_CLOSED;
}

/* Free block b, which some thread freed earlier, on behalf of heap self
 * (the caller owns self, or stands in for its owner; never NULL).
 * Another live owner gets it per page (RB_PAGE: a delivered block is not
 * batched again, so it moves at most twice) or in self's batch: a stash
 * flush's blocks, which were never batched, with the transit marks
 * (RB_TRANSIT); a suspect, as it is (RB_SUSPECT, _st_remote_suspect).
 * A block with the free key (or one its page's purged units say is held)
 * is a suspect wherever it goes: the orphan
 * heap's page confirms it under orphan_lock (_st_orphan_free), and one
 * delivered to a heap that no longer owns its page (the owner exited, and
 * another thread adopted the page) goes on to the new owner in a batch
 * when that one takes batches; a new owner moves it again only if it too
 * left meanwhile.  One whose owner word names a heap with a closed inbox
 * read it as that heap went away: the heap abandoned every page before it
 * closed (heap_abandon_all), so the word has moved on; it is read again. */
enum { RB_PAGE, RB_TRANSIT, RB_SUSPECT };
/* Can a block of class cls carry a stash or transit mark (in word 2)?  Only
 * the stash classes: their blocks are 256 bytes or more.  cls is promoted
 * to unsigned here: a page's uint16_t cls would promote to int, and every
 * class below ST_STASH_FIRST would pass.  Word 2 of a 16-byte block is the
 * next block's (another thread's), or past the span's end. */
static inline bool st_stash_class(unsigned cls) { return cls - ST_STASH_FIRST < ST_STASH_N; }
static void rb_push(heap_t *me, page_t *page, block_t *b, uintptr_t owner, uint8_t keyed);
/* The report for a free that found the block free (keyed or held), made
 * while the block was then handed out again before the free reached its
 * owner (rb_deliver, rb_route, _st_abandoned_free). */
void _st_remote_rehanded(const page_t *page, block_t *b) {
  _st_misuse("free(): double free (the block was handed out again before another thread's second free of it arrived)",
             b, page->in_use ? page->block_size : 0);
}

static void rb_route(heap_t *self, block_t *b, int how) {
  page_t *page = st_page_of(st_segment_of(b), b);
  if (st_unlikely(!page->in_use)) { _st_misuse("free(): double free", b, 0); return; }
  /* a suspect: the free key, or (its memory and key purged away) a unit
   * that says the block is held (found by review: a held block freed twice
   * into a page adopted meanwhile was pushed to the new owner unconfirmed) */
  bool keyed = STRATA_CHECKS && how != RB_TRANSIT &&
               (((uintptr_t *)b)[1] == ST_FREE_KEY || _st_page_block_held(page, b));
  /* a suspect (its caller saw the key, or the unit purged) that is neither
   * now was handed out again since: the free that made it one was a second
   * free (see rb_deliver; found by review: it was freed as a plain one) */
  if (STRATA_CHECKS && st_unlikely(how == RB_SUSPECT && !keyed)) { _st_remote_rehanded(page, b); return; }
  uintptr_t owner;
  for (int tries = 0;; tries++) {
    owner = atomic_load_explicit(&page->owner, memory_order_acquire);
    if ((owner & ~OWNER_FLAGS) == (uintptr_t)self) { _st_heap_free_owned(self, page, b, owner); return; }
    if (owner == 0) { _st_abandoned_free(self, page, b); return; }
    if (keyed && _st_orphan_free(page, b, owner)) return;
    if (!keyed || how != RB_PAGE || rb_open(owner) || tries == 3) break;
  }
  if (how == RB_PAGE && !(keyed && rb_open(owner) && !_st_stash_marked(page, b)))
    _st_page_remote_free(page, b);             /* (reports a block in a stash) */
  else {
    if (STRATA_CHECKS && how == RB_TRANSIT) {   /* stripped by rb_deliver */
      ((uintptr_t *)b)[1] = ST_FREE_KEY;
      ((uintptr_t *)b)[2] = st_transit_mark();
    }
    /* a suspect keeps RB_KEYED even when it is one because its unit is
     * purged (its word 1 reads 0 then): see rb_deliver */
    rb_push(self, page, b, owner, keyed || ((uintptr_t *)b)[1] == ST_FREE_KEY ? RB_KEYED : 0);
  }
}
/* A block that leaves a stash (stash_flush_one) or arrives from one
 * (rb_deliver) on its way to its owner's list: the stash or transit mark
 * off, and the batch mark, not 0, in word 1 until a free path writes the
 * key, so a second free meanwhile finds it and reports (with 0 it claimed
 * the block and stashed it while the owner listed it: found by review). */
static inline void mark_going_home(block_t *b) {
  if (!STRATA_CHECKS) return;
  __atomic_store_n(&((uintptr_t *)b)[1], _st_batch_mark, __ATOMIC_RELEASE);
  ((uintptr_t *)b)[2] = 0;
}

/* A block of a stash flush arrives with the free key and the transit mark
 * (rb_route): this is its one legitimate arrival, so both go before it is
 * freed here, which then needs no search of its page's free list.
 * A block that carried the key when it was batched (`keyed`, RB_KEYED) and
 * has lost it since was handed out again after the free that sent it, so
 * that free was a second one: malloc clears the key, and nothing else
 * writes a block that waits in a batch (secure mode does not zero a keyed
 * block; a purge leaves it alone, as it counts as in use).  A legitimate
 * free of a block whose user data held the key arrives with it, and is
 * confirmed on the page's lists as before.  A suspect sent because its
 * unit was purged (held, page.c) has RB_KEYED too: a legitimate free never
 * finds its block held (a live block's unit is not purged, and the thread
 * that frees it got it after the unit was brought back), so if the unit
 * is back by the delivery and the key absent, the block was handed out
 * again; still held, it goes on to the owner, which reports it.  Reported
 * here, where the owner freed it as its own before: then the block was in
 * use by its new taker, and the next malloc handed it out a second time. */
static void rb_deliver(heap_t *self, block_t *b, bool keyed) {
  uintptr_t *w = (uintptr_t *)b;
  if (STRATA_CHECKS && w[1] == ST_FREE_KEY && st_stash_class(st_page_of(st_segment_of(b), b)->cls) &&
      w[2] == st_transit_mark())
    mark_going_home(b);
  else if (STRATA_CHECKS && st_unlikely(keyed) && w[1] != ST_FREE_KEY &&
           !_st_page_block_held(st_page_of(st_segment_of(b), b), b)) {
    _st_remote_rehanded(st_page_of(st_segment_of(b), b), b);
    return;
  }
  /* a block batched without the key carries the batch mark (rb_push),
   * which nothing but a free writes over while it waits: the owner's own
   * second free (its fast path knows only the key) listed it, and its
   * malloc may have handed it out since (found by review, 2026-11-28:
   * delivered, it was freed under its new taker) */
  else if (STRATA_CHECKS && st_unlikely(!keyed) && w[1] != _st_batch_mark) {
    _st_misuse("free(): double free (freed again while another thread's free of it waited in a batch)",
               b, st_page_of(st_segment_of(b), b)->block_size);
    return;
  }
  rb_route(self, b, RB_PAGE);
}

/* The lines rb_deliver will touch for block b: the block (written), and
 * both lines of its slice's descriptor, which is its page's for the
 * one-slice spans of every batched class. */
static inline void rb_prefetch(const block_t *b) {
  const page_t *d = &st_segment_of(b)->pages[((uintptr_t)b & ST_SEGMENT_MASK) >> ST_SLICE_SHIFT];
  __builtin_prefetch(b, 1);
  __builtin_prefetch(d, 1);
  __builtin_prefetch((const char *)d + 64, 0);
}

static void rb_deliver_all(heap_t *self, rbatch_t *list) {
  while (list != NULL) {
    rbatch_t *next = list->next;
    uint32_t n = list->n;
    /* every block's line is still in its freer's cache, and the descriptors
     * may have left ours: ask for them RB_AHEAD deliveries early, so the
     * misses overlap instead of coming one after the other */
    for (uint32_t i = 0; i < n && i < RB_AHEAD; i++) rb_prefetch(list->blocks[i]);
    for (uint32_t i = 0; i < n; i++) {
      if (i + RB_AHEAD < n) rb_prefetch(list->blocks[i + RB_AHEAD]);
      rb_deliver(self, list->blocks[i], (list->cls[i] & RB_KEYED) != 0);
    }
    rb_put(self, list);
    list = next;
  }
}

/* Send batch b of heap `from` to heap `to` (or deliver it, if closed). */
static void rb_send(heap_t *from, heap_t *to, rbatch_t *b) {
  /* acquire, also on a failed CAS: one that sees the inbox closed delivers
   * here, and must see what the closing heap's owner did before (rb_open) */
  rbatch_t *old = atomic_load_explicit(&to->rb_inbox, memory_order_acquire);
  do {
    if (old == RB_CLOSED) { __atomic_store_n(&b->next, NULL, __ATOMIC_RELAXED); rb_deliver_all(from, b); return; }
    __atomic_store_n(&b->next, old, __ATOMIC_RELAXED);   /* relaxed: racy readers count */
  } while (!atomic_compare_exchange_weak_explicit(&to->rb_inbox, &old, b,
                                                  memory_order_release, memory_order_acquire));
}

/* The slot for `to` holds no batch for it: send what it holds and start
 * an empty one.  NULL when no batch can be had.  A send to a closed inbox
 * delivers the batch here, and a delivery may batch a suspect again
 * (rb_route), into this very slot: so look again after each send. */
ST_NOINLINE static rbatch_t *rb_slot_take(heap_t *me, rb_out_t *o, heap_t *to) {
  rbatch_t *b;
  while ((b = o->b) != NULL && b->n != 0 && o->to != to) {
    __atomic_store_n(&o->b, NULL, __ATOMIC_RELAXED);   /* before the send, which may deliver */
    rb_send(me, o->to, b);
  }
  o->to = to;
  if (b == NULL) __atomic_store_n(&o->b, b = rb_get(me), __ATOMIC_RELAXED);
  return b;
}

void _st_remote_free(heap_t *me, page_t *page, block_t *b, uintptr_t owner, bool keyed) {
  rb_push(me, page, b, owner, STRATA_CHECKS && keyed ? RB_KEYED : 0);
}

/* Batch b for the owner (keyed: RB_KEYED or 0, kept with its class). */
static void rb_push(heap_t *me, page_t *page, block_t *b, uintptr_t owner, uint8_t keyed) {
  heap_t *to = (heap_t *)(owner & ~OWNER_FLAGS);
  rb_out_t *o = &me->rb_out[rb_slot(to)];
  rbatch_t *bt = o->b;
  if (st_unlikely(o->to != to || bt == NULL) && (bt = rb_slot_take(me, o, to)) == NULL) {
    if (STRATA_CHECKS && st_stash_class(page->cls) && ((uintptr_t *)b)[2] == st_transit_mark())
      ((uintptr_t *)b)[2] = 0;              /* a flushed block goes home now, not in transit */
    _st_page_remote_free(page, b);
    return;
  }
  uint32_t n = bt->n;
  bt->blocks[n] = b;
  /* a block without the key gets the batch mark, so a second free before
   * the delivery is caught at the call (free_small_other): before, a second
   * remote free batched it too, and when the owner's malloc took the block
   * back between the two deliveries, the second freed the new taker's
   * block (found by review, 2026-11-27).  The delivery's own free sets the
   * key over it, and malloc clears word 1. */
  if (STRATA_CHECKS && !keyed) ((uintptr_t *)b)[1] = _st_batch_mark;
  __atomic_store_n(&bt->cls[n], (uint8_t)(page->cls | keyed), __ATOMIC_RELAXED);
  __atomic_store_n(&bt->n, n + 1, __ATOMIC_RELAXED);    /* read by _st_remote_pending */
  if (n + 1 == RB_CAP) { __atomic_store_n(&o->b, NULL, __ATOMIC_RELAXED); rb_send(me, to, bt); }
}

/* A remote free of a block that carries the free key, by a thread that
 * would push it straight onto its page's remote list (a block over
 * RB_BLOCK_MAX bytes, or a caller without a heap).  Its first free may be
 * waiting on that list, and a second push would close the list into a loop
 * that the owner's collect spins on; only the owner may look for it there
 * (_st_page_holds_freed).  So it goes to the owner in a batch, unmarked,
 * and the owner's free confirms it (_st_heap_free_owned): found is a double
 * free, reported at the delivery; not found was user data, freed.  A
 * caller without a heap gets one here.  A thread whose heap is gone (it
 * is exiting) has a block of the orphan heap confirmed under orphan_lock
 * (_st_orphan_free), and sends any other in a heap it borrows for the
 * moment (_st_heap_borrow: made, used for this one batch and given back as
 * at thread exit).  A block in a stash is pushed, which reports it.
 * Suspects are rare, so the bound on the foreign memory a batch holds
 * barely moves. */
void _st_remote_reroute(heap_t *self, block_t *b) { rb_route(self, b, RB_SUSPECT); }

void _st_remote_suspect(page_t *page, block_t *b, uintptr_t owner) {
  if (_st_stash_marked(page, b)) { _st_page_remote_free(page, b); return; }   /* reports it */
  heap_t *me = _st_heap_own();
  if (me != NULL) { rb_route(me, b, RB_SUSPECT); return; }
  if (_st_orphan_free(page, b, owner)) return;
  void *key;
  if ((me = _st_heap_borrow(&key)) != NULL) {    /* exiting: a heap for this one batch */
    rb_route(me, b, RB_SUSPECT);
    _st_heap_unborrow(me, key);                  /* sends it */
    return;
  }
  _st_page_remote_free(page, b);
}

static bool rb_out_empty(const heap_t *h);
/* Send all of me's batches.  A send to a closed inbox delivers the batch
 * here, which may batch a block again (rb_route) into a slot already
 * passed: so until they are all empty (found by review: a retiring heap
 * kept such a batch). */
void _st_remote_flush(heap_t *me) {
  do for (unsigned s = 0; s < RB_SLOTS; s++) {
    rb_out_t *o = &me->rb_out[s];
    rbatch_t *b = o->b;
    heap_t *to = o->to;
    if (b == NULL) continue;
    __atomic_store_n(&o->b, NULL, __ATOMIC_RELAXED);   /* before the send, which may deliver */
    o->to = NULL;
    if (b->n != 0) rb_send(me, to, b);
    else rb_put(me, b);
  } while (!rb_out_empty(me));
}

void _st_remote_drain(heap_t *h) {
  /* only the owner closes the inbox, so one that is open stays open here */
  rbatch_t *x = atomic_load_explicit(&h->rb_inbox, memory_order_relaxed);
  if (x == NULL || x == RB_CLOSED) return;
  h->rb_draining = 1;
  rb_deliver_all(h, atomic_exchange_explicit(&h->rb_inbox, NULL, memory_order_acquire));
  h->rb_draining = 0;
}

/* Are all of h's outgoing slots empty? */
static bool rb_out_empty(const heap_t *h) {
  for (unsigned s = 0; s < RB_SLOTS; s++)
    if (h->rb_out[s].b != NULL && h->rb_out[s].b->n != 0) return false;
  return true;
}

/* h goes away (heap_abandon_all): its pages were abandoned already, so a
 * block delivered here (or by a sender that finds the inbox closed) goes
 * to the abandoned page, whose lock confirms a suspect, or on to the
 * page's new owner.  A delivery may batch a suspect on again, into any
 * slot: flush until none holds one. */
void _st_remote_close(heap_t *h) {
  _st_remote_flush(h);
  rbatch_t *list = atomic_exchange_explicit(&h->rb_inbox, RB_CLOSED, memory_order_acq_rel);
  if (list != RB_CLOSED) rb_deliver_all(h, list);
  while (!rb_out_empty(h)) _st_remote_flush(h);
  while (h->rb_spare != NULL) {             /* spares back to the pool */
    rbatch_t *b = h->rb_spare;
    h->rb_spare = b->next;
    rb_put(NULL, b);
  }
  h->rb_spare_n = 0;
}

void _st_remote_quiesce(void) {
  heap_t *h = _st_heap_tl;
  if (h == &_st_heap_empty || h == &_st_heap_dead) return;
  _st_stash_flush(h);
  _st_remote_flush(h);
  _st_remote_drain(h);
}

/* Count the blocks waiting in h's batches (its slots and its inbox) per
 * class.  Another thread's batches are read racily, with relaxed atomic
 * loads of the counts and classes only (never the blocks), and batches are
 * never unmapped: the worst a race gives is a count a little off, exact
 * when the process is quiet.  An inbox walk stops after 256 batches. */
static void rb_count(heap_t *h, void *arg) {
  size_t *counts = arg;
  for (unsigned s = 0; s < RB_SLOTS; s++) {
    rbatch_t *b = __atomic_load_n(&h->rb_out[s].b, __ATOMIC_RELAXED);
    if (b == NULL) continue;
    uint32_t n = __atomic_load_n(&b->n, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < n && i < RB_CAP; i++) {
      uint8_t c = __atomic_load_n(&b->cls[i], __ATOMIC_RELAXED) & ~RB_KEYED;
      if (c < ST_NCLASSES) counts[c]++;
    }
  }
  for (unsigned i = 0; i < ST_STASH_N; i++) {          /* and in its stash */
    uint32_t pushed = __atomic_load_n(&h->stash[i].capacity, __ATOMIC_RELAXED);
    uint32_t popped = __atomic_load_n(&h->stash[i].used, __ATOMIC_RELAXED);
    if (pushed > popped && pushed - popped <= ST_STASH_MAX) counts[ST_STASH_FIRST + i] += pushed - popped;
  }
  rbatch_t *b = atomic_load_explicit(&h->rb_inbox, memory_order_acquire);
  for (unsigned k = 0; b != NULL && b != RB_CLOSED && k < 256; k++) {
    uint32_t n = __atomic_load_n(&b->n, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < n && i < RB_CAP; i++) {
      uint8_t c = __atomic_load_n(&b->cls[i], __ATOMIC_RELAXED) & ~RB_KEYED;
      if (c < ST_NCLASSES) counts[c]++;
    }
    b = __atomic_load_n(&b->next, __ATOMIC_RELAXED);
  }
}

/* Blocks freed but still waiting in some batch, per class: statistics and
 * the exit report count them as freed (a pending per-page remote free is
 * subtracted the same way, through the xthread_free count). */
void _st_remote_pending(size_t counts[ST_NCLASSES]) {
  _st_heaps_each(rb_count, counts);
}

void _st_remote_fork_prepare(void) { pthread_mutex_lock(&pool_lock); }
void _st_remote_fork_parent(void) { pthread_mutex_unlock(&pool_lock); }
void _st_remote_fork_child(void) { pthread_mutex_init(&pool_lock, NULL); }

/* ---- reusing foreign blocks -------------------------------------------------
 *
 * A batch sends a foreign block home, where its owner frees it and, later,
 * hands it out again: on a server-style load the freeing thread has just
 * read the block (its line is in the freer's cache) and will itself malloc
 * a block of that size soon after.  So a thread keeps the foreign blocks it
 * frees, up to ST_STASH_MAX per class, in a stash, and its next mallocs of
 * the class take them back (LIFO) before its own pages' blocks, as
 * tcmalloc's and glibc's thread caches do with any block.  larson with 4
 * threads: about 8% less CPU time (docs/malloc.md, section 8).
 *
 * The stash of class c is a pseudo page in the heap (heap_t.stash): its
 * free list is encoded with its own key like a page's, and direct[c]
 * points at it while it holds blocks, so the malloc fast path pops it
 * unchanged and counts the pop in its `used`.  When it runs dry, the malloc
 * slow path moves direct[c] back to the queue's first page.  A stashed
 * block stays counted in its own page's `used` (it is out, as far as its
 * page knows), so its page can never be freed under it.
 *
 * A stash that no malloc has popped since it was last empty takes at most
 * ST_STASH_IDLE blocks: a thread that only frees (a consumer) would
 * otherwise keep 32 blocks per class from their owner for good.
 *
 * What is stashed (the rest goes into a batch as before):
 *  - blocks of 256 bytes to RB_BLOCK_MAX: a smaller block shares its cache
 *    lines with neighbours its owner keeps handing out, and reusing it here
 *    made mixed 6% slower (false sharing);
 *  - whose owner heap has a live thread (heap_t.owned): the blocks of an
 *    exited thread's heap go home, so that heap can empty out and go, and
 *    long-lived blocks (glibc keeps a thread's DTV) do not pin its pages;
 *  - not in secure mode, whose malloc checks each popped block's segment
 *    against its page.
 *
 * Misuse.  A stashed block carries the free key in word 1 (cleared by
 * malloc, like any freed block) and, in word 2, the stash mark, a random
 * per-process secret (init.c).  A free that finds the free key confirms a
 * double free on the page's lists or by the mark (_st_stash_marked), so a
 * double free of a stashed block (or of one a flush sent home in a batch)
 * is reported by whichever thread repeats it: the stasher or any other
 * thread that would stash it, the owner, or a per-page remote free.  One
 * the flush sent straight to an abandoned page is caught there like any
 * block freed into such a page (_st_abandoned_free); one sent per page to
 * a live owner (when no batch could be had) is not caught.  The mark
 * outlives the malloc that takes the block back, but only counts together
 * with the free key, which that malloc cleared: a false report needs a
 * program that stores the free key itself in word 1 of a block that went
 * through a stash and leaves word 2 untouched.
 *
 * Flush (_st_stash_flush): at thread exit, heap abandon, malloc_trim,
 * strata_stats_get and the exit report, every stashed block goes home as a
 * remote free.  One that waits in a batch carries the free key and the
 * transit mark (st_transit_mark: the stash mark with bit 1 flipped), and
 * the delivery clears both before freeing it as the owner's; one freed at
 * once (its page is the flusher's own, or abandoned) goes clean, and that
 * free sets the key.  Before the transit mark, every delivered block
 * carried the key alone, and its owner searched its page's free list to
 * confirm it was no double free: 1.4% of larson's time with 4 threads,
 * whose short-lived threads flush at every exit.  Every 64th malloc slow
 * path, the stash of a class that no malloc took from since the last such
 * tick goes home too (_st_stash_age).  A thread that makes
 * no call at all keeps what it stashed, as it keeps its partial batches.
 *
 * Blocks stashed while their owner lived stay in the stash after it exits
 * (only the push reads heap_t.owned); they go home with the next flush, or
 * are handed out by the stasher's mallocs.
 *
 * A build without the checks (STRATA_CHECKS=0, which only measures their
 * cost) stashes as well but neither marks nor checks: its malloc does not
 * clear the free key, so a mark would make legitimate frees look double. */

bool _st_stash_marked(const page_t *page, const block_t *b) {
  /* the stash mark is odd, the transit mark is it with bit 1 flipped */
  return STRATA_CHECKS && st_stash_class(page->cls) &&
         (((const uintptr_t *)b)[2] | 2) == (_st_stash_mark | 2);
}

bool _st_stash_push(heap_t *me, page_t *page, block_t *b, uintptr_t owner, bool keyed) {
  page_t *s = st_stash_of(me, page->cls);
  if (s == NULL || _st_secure || STRATA_CHECK_POP) return false;
  /* a second free of a block in a stash (this one or another thread's) or
   * on its way home from one: reported here, whatever the room left */
  if (STRATA_CHECKS && st_unlikely(keyed)) {
    if (__atomic_load_n(&((uintptr_t *)b)[1], __ATOMIC_ACQUIRE) == ST_FREE_KEY && _st_stash_marked(page, b)) { _st_misuse("free(): double free", b, page->block_size); return true; }
    return false;                       /* its owner confirms (rb_deliver) */
  }
  return atomic_load_explicit(&((heap_t *)(owner & ~OWNER_FLAGS))->owned, memory_order_relaxed) &&
         st_stash_take(me, s, page, b);
}

/* Send the blocks of h's stash i home.  They lose the free key and the
 * stash mark, which would make the free that takes them home search for
 * them (own page, abandoned page) or report them; those that go in a batch
 * get the key back with the transit mark (rb_route), so a double free
 * while they travel is reported at the call, and their delivery needs no
 * search (rb_deliver).  Every free path sets the key again. */
static void stash_flush_one(heap_t *h, unsigned i) {
  page_t *s = &h->stash[i];
  unsigned c = ST_STASH_FIRST + i;
  block_t *b = s->free;
  s->free = NULL;
  s->capacity = s->used = 0;
  if (h->direct[c] == s) h->direct[c] = st_queue_direct(h, c);
  while (b != NULL) {
    block_t *next = st_next(s, b);
    mark_going_home(b);
    rb_route(h, b, RB_TRANSIT);
    b = next;
  }
}

void _st_stash_flush(heap_t *h) {
  for (unsigned i = 0; i < ST_STASH_N; i++) stash_flush_one(h, i);
}

/* Every 64th malloc slow path: a stash no malloc popped since the last
 * tick goes home, so a class the thread stopped using does not keep its
 * blocks (and their spans) from their owners.  `reserved` holds the pop
 * count seen at the last tick (a stash uses no other field of line 1). */
void _st_stash_age(heap_t *h) {
  for (unsigned i = 0; i < ST_STASH_N; i++) {
    page_t *s = &h->stash[i];
    if (s->free != NULL && s->used == s->reserved) stash_flush_one(h, i);
    s->reserved = s->used;
  }
}
