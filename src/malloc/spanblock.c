/* Span blocks: requests above the largest size class (128 KiB) up to
 * ST_SPAN_BLOCK_MAX (1 MiB) get a span of their own, ceil(size / 64 KiB)
 * slices, straight from the page heap.
 *
 * Why not a mapping of their own, like large blocks: freed slices stay in
 * their segment, resident (dirty) until the delayed purge, so the next block
 * of that range -- a vector growing by realloc, a server's I/O buffers --
 * reuses pages without a syscall or a page fault, and neighbouring free
 * slices coalesce in the segment's free mask.  Why not thread-cached size
 * classes: a 64 KiB-granular span wastes less than a class would (the tail
 * of the last slice, never touched, is address space only) and needs no
 * per-thread cache of blocks this big.
 *
 * A span block's descriptor: cls = ST_CLASS_SPAN, one block (reserved =
 * capacity = used = 1) of block_size = the span's bytes, owner =
 * ST_OWNER_SPAN (never a heap's address, so every free of it leaves the
 * fast path; free_small_other hands it to _st_spanblock_free).  No thread
 * owns it: any thread frees it.
 *
 * The span cache.  The page-heap lock is shared by all threads, so each
 * thread keeps the last few span blocks it freed (ST_SPAN_CACHE of them,
 * ST_SPAN_CACHE_BYTES at most) and reuses one, without the lock, for its next
 * span block of n slices when it has n to n + n/4 + 1 (the block's size
 * stays the span's, so realloc and malloc_usable_size see all of it).  A cached block keeps its span and
 * in_use, with owner _st_owner_span_cached (a free of it is a double free,
 * reported) and used 0 (not counted as in use).  The cache is emptied when
 * the thread exits and by malloc_trim.
 */
#include <errno.h>
#include <string.h>
#include "malloc/internal.h"

static const char span_owner_tag[2];       /* their addresses are the owner ids */
const uintptr_t _st_owner_span = (uintptr_t)&span_owner_tag[0];
const uintptr_t _st_owner_span_cached = (uintptr_t)&span_owner_tag[1];

static bool heap_real(heap_t *h) { return h != &_st_heap_empty && h != &_st_heap_dead; }

/* The smallest cached span block of n to n + n/4 + 1 slices from the
 * caller's cache, or NULL. */
static page_t *cache_take(unsigned n) {
  heap_t *h = _st_heap_tl;
  int best = -1;
  for (unsigned i = 0; i < ST_SPAN_CACHE; i++) {
    page_t *p = h->span_cache[i];
    if (p != NULL && p->slice_count >= n && p->slice_count <= n + n / 4 + 1 &&
        (best < 0 || p->slice_count < h->span_cache[best]->slice_count))
      best = (int)i;
  }
  if (best < 0) return NULL;
  page_t *p = h->span_cache[best];
  h->span_cache[best] = NULL;
  h->span_cache_bytes -= (size_t)p->slice_count * ST_SLICE_SIZE;
  return p;
}

static bool cache_put(page_t *page) {
  heap_t *h = _st_heap_tl;
  size_t bytes = (size_t)page->slice_count * ST_SLICE_SIZE;
  if (!heap_real(h) || h->span_cache_bytes + bytes > ST_SPAN_CACHE_BYTES) return false;
  for (unsigned i = 0; i < ST_SPAN_CACHE; i++)
    if (h->span_cache[i] == NULL) {
      atomic_store_explicit(&page->owner, _st_owner_span_cached, memory_order_relaxed);
      h->span_cache[i] = page;
      h->span_cache_bytes += bytes;
      return true;
    }
  return false;
}

void _st_spanblock_flush(heap_t *h) {
  for (unsigned i = 0; i < ST_SPAN_CACHE; i++) {
    page_t *p = h->span_cache[i];
    if (p) { h->span_cache[i] = NULL; _st_span_free(p); }
  }
  h->span_cache_bytes = 0;
}

void *_st_spanblock_alloc(size_t size, int zero) {
  if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) _st_process_init();
  unsigned n = (unsigned)((size + ST_SLICE_SIZE - 1) / ST_SLICE_SIZE);
  page_t *page = cache_take(n);
  if (page != NULL) {
    page->used = 1;
    atomic_store_explicit(&page->owner, _st_owner_span, memory_order_release);
    if (zero) memset(page->start, 0, size);
    return page->start;
  }
  page = _st_span_alloc(n);
  if (page == NULL) { errno = ENOMEM; return NULL; }
  segment_t *seg = st_segment_of(page);
  page->cls = ST_CLASS_SPAN;
  page->block_size = (uint32_t)((size_t)n * ST_SLICE_SIZE);
  page->inv = st_block_inv(page->block_size);
  page->start = (uint8_t *)seg + (size_t)(page - seg->pages) * ST_SLICE_SIZE;
  page->reserved = page->capacity = page->used = 1;
  atomic_store_explicit(&page->owner, _st_owner_span, memory_order_release);
  if (zero) memset(page->start, 0, size);
  return page->start;
}

/* realloc to size (<= ST_SPAN_BLOCK_MAX) by taking the free slices after
 * the block, without copying.  Only the thread reallocating touches the
 * block's geometry: nobody else may use the block meanwhile. */
bool _st_spanblock_grow(page_t *page, size_t size) {
  unsigned n = (unsigned)((size + ST_SLICE_SIZE - 1) / ST_SLICE_SIZE);
  if (!_st_span_grow(page, n)) return false;
  page->block_size = (uint32_t)((size_t)n * ST_SLICE_SIZE);
  page->inv = st_block_inv(page->block_size);
  return true;
}

void _st_spanblock_free(page_t *page) {
  if (_st_secure) _st_zero_big(page->start, page->block_size);   /* zero on free */
  page->used = 0;
  if (!cache_put(page)) _st_span_free(page);
}
