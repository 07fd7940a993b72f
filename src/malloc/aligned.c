/* The aligned family: posix_memalign, aligned_alloc, memalign, valloc,
 * pvalloc, free_aligned_sized.
 *
 * 1. align <= 16: an ordinary block (every class is a multiple of 16).
 * 2. align <= 64 KiB and round_up(size, align) <= 128 KiB: the block of that
 *    rounded size is naturally aligned.  Spans start on 64 KiB boundaries and
 *    a block's address is start + k * class_size, so it suffices that the
 *    class size is a multiple of align -- and it always is: a rounded size r
 *    is a multiple of align; with 2^b < r <= 2^(b+1) the classes in that
 *    doubling are the multiples of 2^(b-3), so if align <= 2^(b-3) every
 *    class there is a multiple of align, and if align > 2^(b-3) then r itself
 *    is a multiple of 2^(b-3), hence a class, and the one chosen.
 *    (tests/u_sizeclass.c checks this for every size and alignment.)
 * 3. anything bigger: a large block (large.c): up to 16 MiB with align <=
 *    64 KiB a region block (region.c), which starts on a 64 KiB unit;
 *    beyond, a mapping of its own, for alignments up to 256 MiB.
 * So no interior pointer is ever handed out, and free() needs no special case.
 */
#include <errno.h>
#include "malloc/internal.h"

static void *alloc_aligned(size_t align, size_t size) {
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  if (align <= 16) return strata_malloc(size);
  size_t rounded = st_align_up(size ? size : 1, align);
  if (align <= ST_MAX_ALIGN_SMALL && rounded <= ST_MEDIUM_MAX) {
    if (STRATA_DEBUG && _st_class_size(_st_class_of(rounded)) % align != 0)
      _st_error("aligned_alloc: class not naturally aligned", NULL);
    return strata_malloc(rounded);
  }
  if (atomic_load_explicit(&_st_init_state, memory_order_acquire) != 2) _st_process_init();
  return _st_large_alloc(size, align, 0);
}

ST_ENTRY int strata_posix_memalign(void **out, size_t align, size_t size) {
  if (!st_is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = alloc_aligned(align, size);
  int err = errno;
  errno = saved;
  if (p == NULL) return err == EINVAL ? EINVAL : ENOMEM;
  *out = p;
  return 0;
}

ST_ENTRY void *strata_aligned_alloc(size_t align, size_t size) {
  if (!st_is_pow2(align)) { errno = EINVAL; return NULL; }
  return alloc_aligned(align, size);
}

/* glibc's memalign rounds a non-power-of-two alignment up. */
ST_ENTRY void *strata_memalign(size_t align, size_t size) {
  if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) { errno = EINVAL; return NULL; }
  if (!st_is_pow2(align)) {
    size_t a = 16;
    while (a < align) a <<= 1;
    align = a;
  }
  return alloc_aligned(align, size);
}

ST_ENTRY void *strata_valloc(size_t size) { return alloc_aligned(_st_os_page_size(), size); }

ST_ENTRY void *strata_pvalloc(size_t size) {
  size_t ps = _st_os_page_size();
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  return alloc_aligned(ps, size ? st_align_up(size, ps) : ps);
}

ST_ENTRY void strata_free_aligned_sized(void *p, size_t align, size_t size) {
  _st_free_checked(p, size, align, ST_FREE_ALIGNED_SIZED);
}

#if !STRATA_VALGRIND   /* else valgrind.c exports them */
#define ST_ALIASES_ALIGNED
#include "malloc/aliases.h"
#endif
