/* Pages: one span holding blocks of one size class, and its free lists.
 *
 *   free        -- the owner's list: malloc pops from it, the owner's free
 *                  pushes onto it (LIFO, so a freed block is reused while it
 *                  is still in the cache)
 *   xthread_free-- other threads push here with CAS; the owner takes the
 *                  whole list with one exchange ("collect") when `free` runs
 *                  dry or it visits the page on a slow path
 *
 * Blocks are carved lazily: `capacity` grows by about one OS page of blocks
 * at a time, so a fresh 64 KiB span costs 4 KiB of RSS until it is used.
 *
 * Invariant (owner's view): used + |free| == capacity <=
 * reserved, and |xthread_free| <= used (a remote free stays counted in
 * `used` until the owner collects it); every listed block lies in [start, start +
 * reserved*block_size) at a block boundary.
 */
#include <string.h>
#include "malloc/internal.h"

_Static_assert(sizeof(segment_t) <= ST_SLICE_SIZE, "segment header fits in slice 0");

void _st_page_init(page_t *page, unsigned cls) {
  segment_t *seg = st_segment_of(page);
  size_t idx = (size_t)(page - seg->pages);
  page->cls = (uint16_t)cls;
  page->block_size = (uint32_t)_st_class_size(cls);
  page->bs_inv = (((uint64_t)1 << 40) + page->block_size - 1) / page->block_size;
  page->start = (uint8_t *)seg + idx * ST_SLICE_SIZE;
  page->reserved = (uint32_t)(((size_t)page->slice_count * ST_SLICE_SIZE) / page->block_size);
  page->capacity = 0;
  page->used = 0;
  page->free = NULL;
  atomic_store_explicit(&page->xthread_free, 0, memory_order_relaxed);
}

bool _st_page_extend(page_t *page) {
  uint32_t left = page->reserved - page->capacity;
  if (left == 0) return false;
  uint32_t n = (uint32_t)(ST_EXTEND_BYTES / page->block_size);
  if (n == 0) n = 1;
  if (n > left) n = left;
  size_t bs = page->block_size;
  uint8_t *first = page->start + (size_t)page->capacity * bs;
  uint8_t *b = first;
  for (uint32_t i = 1; i < n; i++, b += bs) ((block_t *)b)->next = (block_t *)(b + bs);
  ((block_t *)b)->next = page->free;
  page->free = (block_t *)first;
  page->capacity += n;
  return true;
}

/* Take the pending remote frees onto `free`.  _st_page_collect skips the
 * atomic exchange when nothing is pending; _st_page_collect_all always does
 * it, so it also clears a lone XF_FULL bit. */
void _st_page_collect(page_t *page) {
  uintptr_t x = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  if ((x & ~XF_FULL) != 0) _st_page_collect_all(page);
}

/* The list's length travels in the word (XF_COUNT), so taking it costs no
 * walk over blocks another core touched last, unless `free` is non-empty
 * and the list must be appended to it. */
void _st_page_collect_all(page_t *page) {
  uintptr_t x = atomic_exchange_explicit(&page->xthread_free, 0, memory_order_acquire);
  block_t *list = (block_t *)(x & XF_PTR_MASK);
  if (list == NULL) return;
  if (page->free != NULL) {
    block_t *tail = list;
    while (tail->next) tail = tail->next;
    tail->next = page->free;
  }
  page->free = list;
  page->used -= (uint32_t)(x >> XF_COUNT_SHIFT);
}

void _st_page_remote_free(page_t *page, block_t *b) {
  heap_t *h = atomic_load_explicit(&page->heap, memory_order_relaxed);
  ((uintptr_t *)b)[1] = _st_free_key;
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  uintptr_t want;
  do {
    b->next = (block_t *)(old & XF_PTR_MASK);
    want = (uintptr_t)b | (((old >> XF_COUNT_SHIFT) + 1) << XF_COUNT_SHIFT);   /* clears XF_FULL */
  } while (!atomic_compare_exchange_weak_explicit(&page->xthread_free, &old, want,
                                                  memory_order_acq_rel, memory_order_relaxed));
  if ((old & XF_FULL) && h != NULL)       /* first free into a parked page: wake its heap */
    atomic_store_explicit(&h->full_dirty, 1, memory_order_release);
}

static bool in_list(const block_t *b, const block_t *list, size_t limit) {
  for (; list && limit; list = list->next, limit--) if (list == b) return true;
  return false;
}

/* Is b on the free list? (owner only; confirms a suspected double free) */
bool _st_page_contains_free(page_t *page, const block_t *b) {
  return in_list(b, page->free, page->capacity + 1);
}

static long list_check(page_t *page, const block_t *b) {
  long n = 0;
  uint8_t *end = page->start + (size_t)page->capacity * page->block_size;
  for (; b; b = b->next) {
    const uint8_t *a = (const uint8_t *)b;
    if (a < page->start || a >= end || (size_t)(a - page->start) % page->block_size) return -1;
    if (++n > (long)page->capacity) return -1;
  }
  return n;
}

/* Check the page invariant.  owner_view: the caller owns the page (or holds
 * the lock that stands for its owner), so xthread_free may be walked. */
int _st_page_check(page_t *page, int owner_view) {
  if (!page->in_use || page->block_size != _st_class_size(page->cls)) return -1;
  if (page->capacity > page->reserved) return -1;
  long f = list_check(page, page->free);
  if (f < 0) return -1;
  long x = 0;
  if (owner_view) {
    uintptr_t xs = atomic_load_explicit(&page->xthread_free, memory_order_acquire);
    x = list_check(page, (block_t *)(xs & XF_PTR_MASK));
    if (x < 0 || (uintptr_t)x != xs >> XF_COUNT_SHIFT) return -1;
    if (x > (long)page->used) return -1;
  }
  if ((long)page->used + f != (long)page->capacity) return -1;
  return 0;
}
