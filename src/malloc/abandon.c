/* Abandoned pages: what an exited thread's pages become when its heap is
 * not taken over (heap.c, "Thread exit"), until a thread adopts them.
 *
 * A page with live blocks whose heap is abandoned gets heap NULL and owner
 * 0 (in that order, the owner store a release) and goes on the list of
 * its class, abandoned[cls], with page->abandoned = 1, all under
 * abandoned_lock; an empty one goes back to the page heap at once.
 * Invariants, all under abandoned_lock:
 *   - a page is on abandoned[c] iff page->abandoned, and then its class is
 *     c, its owner word 0 and its heap NULL;
 *   - abandoned_n[c] is the length of abandoned[c] (also peeked without
 *     the lock, as a hint: adopters skip an empty class without locking);
 *   - abandoned_count is the sum of abandoned_n.
 * The lock stands in for the owner of a listed page: a free into it
 * (_st_abandoned_free) pushes onto its remote list and may collect it, and
 * _st_abandoned_trim collects and frees the ones that emptied out.  An
 * adopter (heap.c, heap_adopt) takes a page off the list and stores its
 * heap and owner word under the lock too, so a page in use has an owner or
 * is listed whenever the lock is free: a fork (whose prepare handler takes
 * the lock) never leaves a page with neither in the child, where no thread
 * would ever finish the move (until stop 32 both stores were made outside
 * the lock, and a suspect free into such a page in the child spun 100,000
 * times before pushing unconfirmed).  A free that read owner 0 before the
 * page was adopted finds the new owner once it holds the lock.
 *
 * Lock order: heaps_lock -> orphan_lock -> abandoned_lock -> the page
 * heap's lock (heap.c).
 */
#include <sched.h>
#include "malloc/internal.h"

static pthread_mutex_t abandoned_lock = PTHREAD_MUTEX_INITIALIZER;
static page_queue_t abandoned[ST_NCLASSES];
static _Atomic unsigned abandoned_n[ST_NCLASSES];  /* lengths: written under the lock, peeked without */
static size_t abandoned_count;

void _st_page_abandon(page_t *page) {
  _st_page_collect_all(page);
  if (st_page_used(page) == 0) { _st_span_free(page); return; }
  pthread_mutex_lock(&abandoned_lock);
  atomic_store_explicit(&page->heap, NULL, memory_order_relaxed);
  atomic_store_explicit(&page->owner, 0, memory_order_release);
  page->abandoned = 1;
  st_queue_push_front(&abandoned[page->cls], page);
  atomic_fetch_add_explicit(&abandoned_n[page->cls], 1, memory_order_relaxed);
  abandoned_count++;
  pthread_mutex_unlock(&abandoned_lock);
}

/* Take p off the abandoned list (abandoned_lock held). */
static void abandoned_unlist(page_t *p) {
  st_queue_remove(&abandoned[p->cls], p);
  p->abandoned = 0;
  atomic_fetch_sub_explicit(&abandoned_n[p->cls], 1, memory_order_relaxed);
  abandoned_count--;
}

/* Take the first page of class c off the list for heap h: unlisted and
 * owned by h in one step under the lock (see the header). */
page_t *_st_abandoned_pop(unsigned c, heap_t *h) {
  if (atomic_load_explicit(&abandoned_n[c], memory_order_relaxed) == 0) return NULL;
  pthread_mutex_lock(&abandoned_lock);
  page_t *p = abandoned[c].first;
  if (p) {
    abandoned_unlist(p);
    atomic_store_explicit(&p->heap, h, memory_order_relaxed);
    atomic_store_explicit(&p->owner, st_owner_word(h, p, 0), memory_order_release);
  }
  pthread_mutex_unlock(&abandoned_lock);
  return p;
}

/* free() into a page that had no owner when the caller looked.  Under
 * abandoned_lock, which stands in for the owner of a listed page: push the
 * block like any remote free; if that leaves no live block in a page that is
 * still listed, give its span back to the page heap at once.  Otherwise a
 * page whose blocks all die after their thread left would stay resident
 * until some thread happened to adopt a page of its class.  The lock also
 * keeps _st_abandoned_trim and adopters from freeing the span under us; the
 * page cannot go away before the push, since the caller's block is live.
 * A page adopted since the caller looked is pushed to, unless the block
 * is a suspect, which goes to the new owner for confirmation: batched by
 * `via`, the heap whose delivery brought it here (rb_route), or by the
 * caller's own heap for a free() (via NULL).
 * A block that carries the free key is looked for on both of a listed
 * page's lists first: found is a double free, reported.  Pushed twice, it
 * would close the remote list into a loop (_st_page_collect_all would spin
 * under this lock) or count a live block as freed. */
void _st_abandoned_free(heap_t *via, page_t *page, block_t *b) {
  bool suspect = false;
  for (unsigned tries = 0;; tries++) {
    pthread_mutex_lock(&abandoned_lock);
    bool now = STRATA_CHECKS && page->in_use &&
               (_st_page_block_held(page, b) || ((uintptr_t *)b)[1] == ST_FREE_KEY);
    if (tries == 0) suspect = now;
    else if (suspect && !now && page->in_use) {   /* handed out again while we waited */
      pthread_mutex_unlock(&abandoned_lock);      /* (found by review) */
      _st_remote_rehanded(page, b);
      return;
    }
    if (!suspect || page->abandoned || !page->in_use || tries == 100000)
      break;                       /* (the bound only guards against a state
                                      this file never leaves a page in) */
    /* A suspect (keyed or held: maybe freed already) in a page in use that
     * is not listed: adopted since the caller looked (the owner word is
     * stored under this lock, see the header).  Only the lock, with the
     * page listed, or an owner can confirm it: the owner does. */
    uintptr_t owner = atomic_load_explicit(&page->owner, memory_order_acquire);
    pthread_mutex_unlock(&abandoned_lock);
    if (owner != 0) {
      /* a delivery batches it with the delivering heap (via), which sends
       * its batches; never a heap of the caller's own, which for the purge
       * thread (expiring a retired heap) would be one that never sends
       * (found by review: blocks stranded, a heap too many) */
      if (via != NULL) _st_remote_reroute(via, b);
      else _st_remote_suspect(page, b, owner);
      return;
    }
    if (tries >= 64) sched_yield();
  }
  if (STRATA_CHECKS && !page->in_use) {           /* its span went back meanwhile */
    pthread_mutex_unlock(&abandoned_lock);
    _st_misuse("free(): double free", b, 0);
    return;
  }
  if (STRATA_CHECKS && page->abandoned &&
      ((st_unlikely(((uintptr_t *)b)[1] == ST_FREE_KEY) && _st_page_holds_freed(page, b)) ||
       _st_page_block_held(page, b))) {   /* the lock stands in for the owner */
    pthread_mutex_unlock(&abandoned_lock);
    _st_misuse("free(): double free", b, page->block_size);
    return;
  }
  if (page->abandoned) st_zero_keyed(page, b);   /* the key was user data (confirmed above) */
  size_t pending = _st_page_remote_free(page, b);
  if (page->abandoned && pending >= st_page_used(page)) {
    _st_page_collect_all(page);
    if (st_page_used(page) == 0) { abandoned_unlist(page); _st_span_free(page); }
  }
  pthread_mutex_unlock(&abandoned_lock);
}

/* Give abandoned pages that emptied out back to the page heap. */
size_t _st_abandoned_trim(void) {
  size_t freed = 0;
  pthread_mutex_lock(&abandoned_lock);
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    page_t *next;
    for (page_t *p = abandoned[c].first; p; p = next) {
      next = p->next;
      _st_page_collect_all(p);        /* no owner: the lock stands in for one */
      if (st_page_used(p) == 0) {
        abandoned_unlist(p);
        freed += (size_t)p->slice_count * ST_SLICE_SIZE;
        _st_span_free(p);
      }
    }
  }
  pthread_mutex_unlock(&abandoned_lock);
  return freed;
}

size_t _st_abandoned_count(void) {
  pthread_mutex_lock(&abandoned_lock);
  size_t n = abandoned_count;
  pthread_mutex_unlock(&abandoned_lock);
  return n;
}

/* The lists' invariants (above) and every listed page's (_st_page_check). */
int _st_abandoned_check(void) {
  int bad = 0;
  size_t n = 0;
  pthread_mutex_lock(&abandoned_lock);
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    unsigned len = 0;
    for (page_t *p = abandoned[c].first; p; p = p->next, len++)
      if (!p->abandoned || p->cls != c || atomic_load_explicit(&p->owner, memory_order_relaxed) != 0 ||
          _st_page_check(p, 0) != 0) bad = 1;
    if (len != atomic_load_explicit(&abandoned_n[c], memory_order_relaxed)) bad = 1;
    n += len;
  }
  if (n != abandoned_count) bad = 1;
  pthread_mutex_unlock(&abandoned_lock);
  if (bad) _st_message("strata: heap check: abandoned page\n");
  return bad ? -1 : 0;
}

void _st_abandoned_lock(void) { pthread_mutex_lock(&abandoned_lock); }
void _st_abandoned_unlock(void) { pthread_mutex_unlock(&abandoned_lock); }
void _st_abandoned_fork_child(void) { pthread_mutex_init(&abandoned_lock, NULL); }
