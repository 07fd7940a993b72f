/* Large blocks: anything above ST_MEDIUM_MAX (128 KiB), or too aligned for a
 * span, gets its own mapping from the OS page layer and goes straight back to
 * it on free.
 *
 *   X (aligned to max(4 MiB, align))
 *   +----------+----------------------+------------------------------+
 *   | large_t  | gap (never touched)  | block (usable bytes)         |
 *   +----------+----------------------+------------------------------+
 *   |<------ offset = max(64, align) ->|
 *
 * The segment map marks the slots from X to the block's slot (value
 * SEGMAP_LARGE + distance back to X), so free(block) finds the header even
 * when a huge alignment put the block several slots past X.  A pointer is
 * accepted only if the header's magic matches and header->block == pointer.
 *
 * realloc grows in place with mremap when the address space after the
 * mapping is free, else moves the pages (no copy) with MREMAP_FIXED onto a
 * fresh aligned reservation; shrinking unmaps the tail.  Nothing here takes
 * a lock: a large block is touched only by the thread that frees it.
 */
#include <errno.h>
#include <string.h>
#include "malloc/internal.h"

#define LARGE_MAGIC  0x5354524c41524745ull          /* "STRLARGE" */
#define LARGE_MAX_ALIGN ((size_t)256 << 20)        /* 256 MiB: 64 slots back at most */
#define THP_MIN      ((size_t)2 << 20)

static _Atomic size_t large_bytes, large_count;

static size_t large_offset(size_t align) { return align > ST_LARGE_HEADER ? align : ST_LARGE_HEADER; }
static size_t large_map_align(size_t align) { return align > ST_SEGMENT_SIZE ? align : ST_SEGMENT_SIZE; }
static size_t large_slots(size_t offset) { return offset / ST_SEGMENT_SIZE + 1; }

void *_st_large_alloc(size_t size, size_t align, int zero) {
  (void)zero;                       /* fresh mappings read as zero */
  if (align < 16) align = 16;
  size_t ps = _st_os_page_size();
  if (size > ST_MAX_SIZE || align > LARGE_MAX_ALIGN) { errno = ENOMEM; return NULL; }
  size_t offset = large_offset(align);
  size_t map_size = st_align_up(offset + size, ps);
  uint8_t *x = _st_os_alloc(map_size, large_map_align(align));
  if (x == NULL) return NULL;
  if (_st_segmap_set(x, large_slots(offset), SEGMAP_LARGE, 1) != 0) {
    _st_os_release(x, map_size);
    errno = ENOMEM;
    return NULL;
  }
  large_t *h = (large_t *)x;
  h->magic = LARGE_MAGIC;
  h->map_size = map_size;
  h->block = x + offset;
  h->usable = map_size - offset;
  h->align = align;
  if (_st_option(OPT_THP) >= 1 && h->usable >= THP_MIN) _st_os_hint_huge(h->block, h->usable, 1);
  atomic_fetch_add_explicit(&large_bytes, map_size, memory_order_relaxed);
  atomic_fetch_add_explicit(&large_count, 1, memory_order_relaxed);
  return h->block;
}

large_t *_st_large_of(const void *p, unsigned mapv) {
  uintptr_t x = ((uintptr_t)p & ~(uintptr_t)ST_SEGMENT_MASK) - (uintptr_t)(mapv - SEGMAP_LARGE) * ST_SEGMENT_SIZE;
  if (st_segmap_get((void *)x) != SEGMAP_LARGE) return NULL;
  large_t *h = (large_t *)x;
  if (h->magic != LARGE_MAGIC || h->block != (const uint8_t *)p) return NULL;
  return h;
}

void _st_large_free(large_t *h, void *p) {
  (void)p;
  size_t map_size = h->map_size, slots = large_slots((size_t)(h->block - (uint8_t *)h));
  h->magic = 0;
  _st_segmap_clear(h, slots);
  _st_os_release(h, map_size);
  atomic_fetch_sub_explicit(&large_bytes, map_size, memory_order_relaxed);
  atomic_fetch_sub_explicit(&large_count, 1, memory_order_relaxed);
}

void *_st_large_realloc(large_t *h, size_t size) {
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  size_t offset = (size_t)(h->block - (uint8_t *)h);
  size_t old_map = h->map_size;
  size_t new_map = st_align_up(offset + size, _st_os_page_size());
  if (new_map == old_map) return h->block;
  if (_st_os_remap(h, old_map, new_map, NULL) == (void *)h) {      /* in place */
    h->map_size = new_map;
    h->usable = new_map - offset;
  } else {
    size_t slots = large_slots(offset);
    uint8_t *dst = _st_os_reserve(new_map, large_map_align(h->align));
    if (dst == NULL) return NULL;
    if (_st_segmap_set(dst, slots, SEGMAP_LARGE, 1) != 0) { _st_os_release(dst, new_map); errno = ENOMEM; return NULL; }
    /* Unmark the old range before the move frees it: once unmapped, another
     * thread may map a segment there and mark it. */
    _st_segmap_clear(h, slots);
    if (_st_os_remap(h, old_map, new_map, dst) == NULL) {
      _st_segmap_set(h, slots, SEGMAP_LARGE, 1);     /* leaves exist: cannot fail */
      _st_segmap_clear(dst, slots);
      _st_os_release(dst, new_map);
      errno = ENOMEM;
      return NULL;
    }
    h = (large_t *)dst;
    h->map_size = new_map;
    h->block = dst + offset;
    h->usable = new_map - offset;
  }
  if (new_map > old_map) atomic_fetch_add_explicit(&large_bytes, new_map - old_map, memory_order_relaxed);
  else atomic_fetch_sub_explicit(&large_bytes, old_map - new_map, memory_order_relaxed);
  return h->block;
}

void _st_large_stats(strata_stats_t *st) {
  st->large_in_use = atomic_load(&large_bytes);
  st->large_count = atomic_load(&large_count);
  st->reserved += st->large_in_use;
  st->committed += st->large_in_use;
}
