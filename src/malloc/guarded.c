/* Sampled guarded allocations (the GWP-ASan idea): one small malloc in about
 * `guard_sample` gets a page of its own between guard pages.
 *
 * The malloc fast path counts heap->sample_left down and calls
 * _st_guarded_sample when it reaches zero.  This file re-arms the count.
 * (First cut: the count only; the guarded pages themselves are TODO.)
 */
#include <stdint.h>
#include "malloc/internal.h"

size_t _st_guarded_interval(void) {
  long n = _st_option(OPT_GUARD_SAMPLE);
  return n > 0 ? (size_t)n : SIZE_MAX;
}

void *_st_guarded_sample(heap_t *heap, size_t size) {
  heap->sample_left = _st_guarded_interval();
  return _st_heap_malloc_class(heap, size);
}
