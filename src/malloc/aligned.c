/* The aligned family: posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc, free_aligned_sized.
 *
 * 1. align <= 16: an ordinary block (sizes rounded to 16 when align is 16,
 *    since classes that are multiples of 16 are 16-aligned).
 * 2. small enough: if the class for round_up(size, align) is a multiple of
 *    align, its blocks are naturally aligned (spans start on 64 KiB).
 * 3. else over-allocate size + align - 1 from the classes and hand out the
 *    aligned interior pointer; the page is flagged OWNER_ALIGNED so free()
 *    maps interior pointers back to their block start on its slow path.
 * 4. anything bigger, or aligned beyond 64 KiB: a large block (large.c),
 *    which supports alignments up to 256 MiB.
 */
#include <errno.h>
#include "malloc/internal.h"

static void *alloc_aligned(size_t align, size_t size) {
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  if (align <= 8) return strata_malloc(size);
  if (align == 16) return strata_malloc(size <= 16 ? 16 : st_align_up(size, 16));
  if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) _st_process_init();
  if (align <= ST_MAX_ALIGN_SMALL && size <= ST_MEDIUM_MAX) {
    size_t rounded = st_align_up(size ? size : 1, align);
    if (rounded <= ST_MEDIUM_MAX && _st_class_size(_st_class_of(rounded)) % align == 0)
      return strata_malloc(rounded);
    size_t over = size + align - 1;
    if (over <= ST_MEDIUM_MAX && _st_heap_tl != &_st_heap_dead) {
      uint8_t *p = strata_malloc(over);
      if (p == NULL) return NULL;
      uint8_t *q = (uint8_t *)st_align_up((uintptr_t)p, align);
      if (q == p) return q;
      page_t *page = st_page_of(st_segment_of(p), p);
      uintptr_t owner = atomic_load_explicit(&page->owner, memory_order_relaxed);
      if ((owner & ~OWNER_FLAGS) == (uintptr_t)_st_heap_tl) {
        /* our own heap's page: only this thread writes its owner word */
        atomic_fetch_or_explicit(&page->owner, OWNER_ALIGNED, memory_order_release);
        return q;
      }
      strata_free(p);      /* a shared orphan-heap page (no thread cache): go large */
    }
  }
  return _st_large_alloc(size, align, 0);
}

STRATA_API int strata_posix_memalign(void **out, size_t align, size_t size) {
  if (!st_is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = alloc_aligned(align, size);
  int err = errno;
  errno = saved;
  if (p == NULL) return err == EINVAL ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

STRATA_API void *strata_aligned_alloc(size_t align, size_t size) {
  if (!st_is_pow2(align)) { errno = EINVAL; return NULL; }
  return alloc_aligned(align, size);
}

/* glibc's memalign rounds a non-power-of-two alignment up. */
STRATA_API void *strata_memalign(size_t align, size_t size) {
  if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) { errno = EINVAL; return NULL; }
  if (!st_is_pow2(align)) {
    size_t a = 16;
    while (a < align) a <<= 1;
    align = a;
  }
  return alloc_aligned(align, size);
}

STRATA_API void *strata_valloc(size_t size) { return alloc_aligned(_st_os_page_size(), size); }

STRATA_API void *strata_pvalloc(size_t size) {
  size_t ps = _st_os_page_size();
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  return alloc_aligned(ps, size ? st_align_up(size, ps) : ps);
}

STRATA_API void strata_free_aligned_sized(void *p, size_t align, size_t size) {
  (void)align; (void)size;
  strata_free(p);
}

#if STRATA_OVERRIDE
#define ST_ALIAS(fn) __attribute__((alias(#fn), visibility("default"), used))
int   posix_memalign(void **, size_t, size_t) ST_ALIAS(strata_posix_memalign);
void *aligned_alloc(size_t, size_t) ST_ALIAS(strata_aligned_alloc);
void *memalign(size_t, size_t) ST_ALIAS(strata_memalign);
void *valloc(size_t) ST_ALIAS(strata_valloc);
void *pvalloc(size_t) ST_ALIAS(strata_pvalloc);
void  free_aligned_sized(void *, size_t, size_t) ST_ALIAS(strata_free_aligned_sized);
void *__libc_memalign(size_t, size_t) ST_ALIAS(strata_memalign);
void *__libc_valloc(size_t) ST_ALIAS(strata_valloc);
void *__libc_pvalloc(size_t) ST_ALIAS(strata_pvalloc);
int   __posix_memalign(void **, size_t, size_t) ST_ALIAS(strata_posix_memalign);
#endif
