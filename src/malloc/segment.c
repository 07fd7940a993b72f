/* The page heap: spans of 64 KiB slices carved from 4 MiB segments.
 *
 * Every thread's cache gets its pages (spans) here and gives them back when
 * they empty out.  One mutex (the page-heap lock) protects all segment
 * headers' free masks and lists; it is taken once per span, i.e. once per
 * 64 KiB or more of small allocations, never on a malloc/free fast path.
 *
 *  1. _st_span_alloc(n): first fit over the segments that have free slices
 *     (a run of n set bits in free_mask), else the cached empty segment, else
 *     a fresh segment from the OS page layer.
 *  2. _st_span_free(page): the span's memory goes back to the OS right away
 *     (madvise DONTNEED: RSS shrinks, the range stays mapped), its slices are
 *     marked free; a segment whose slices are all free is kept as the single
 *     cached segment, or unmapped if one is cached already.
 *
 * Lock order: heaps lock -> orphan lock -> abandoned lock -> page-heap lock.
 */
#include <errno.h>
#include <string.h>
#include "malloc/internal.h"

#define ALL_SLICES_FREE (~(uint64_t)1)   /* every slice but the header */

static pthread_mutex_t ph_lock = PTHREAD_MUTEX_INITIALIZER;
static segment_t *ph_list;       /* segments with free slices (and live spans) */
static segment_t *ph_cache;      /* one entirely free segment, memory reset */
static size_t ph_segments;       /* live segments, cached one included */
static size_t ph_spans;          /* spans handed out */

void _st_pageheap_lock(void) { pthread_mutex_lock(&ph_lock); }
void _st_pageheap_unlock(void) { pthread_mutex_unlock(&ph_lock); }
void _st_pageheap_reinit(void) { pthread_mutex_init(&ph_lock, NULL); }

static void list_remove(segment_t *s) {
  if (s->prev) s->prev->next = s->next; else ph_list = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}
static void list_push(segment_t *s) {
  s->prev = NULL; s->next = ph_list;
  if (ph_list) ph_list->prev = s;
  ph_list = s;
}

/* Index of the first run of n set bits in m, or -1. */
static int find_run(uint64_t m, unsigned n) {
  uint64_t r = m;
  for (unsigned k = 1; k < n && r; k++) r &= m >> k;
  return r ? __builtin_ctzll(r) : -1;
}

static segment_t *segment_new(void) {
  segment_t *s = _st_os_alloc(ST_SEGMENT_SIZE, ST_SEGMENT_SIZE);
  if (s == NULL) return NULL;
  if (_st_segmap_set(s, 1, SEGMAP_SMALL, 0) != 0) {
    _st_os_release(s, ST_SEGMENT_SIZE);
    errno = ENOMEM;
    return NULL;
  }
  if (_st_option(OPT_THP) >= 2) _st_os_hint_huge(s, ST_SEGMENT_SIZE, 1);
  s->free_mask = ALL_SLICES_FREE;             /* the mapping is fresh: all zero */
  for (unsigned i = 0; i < ST_SLICES; i++) s->pages[i].span = &s->pages[i];
  ph_segments++;
  return s;
}

static void segment_release(segment_t *s) {
  _st_segmap_clear(s, 1);
  _st_os_release(s, ST_SEGMENT_SIZE);
  ph_segments--;
}

page_t *_st_span_alloc(unsigned n) {
  pthread_mutex_lock(&ph_lock);
  segment_t *s;
  int start = -1;
  for (s = ph_list; s != NULL; s = s->next)
    if ((start = find_run(s->free_mask, n)) >= 0) break;
  if (s == NULL) {
    if (ph_cache != NULL) { s = ph_cache; ph_cache = NULL; }
    else if ((s = segment_new()) == NULL) { pthread_mutex_unlock(&ph_lock); errno = ENOMEM; return NULL; }
    list_push(s);
    start = find_run(s->free_mask, n);
  }
  uint64_t bits = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << start;
  s->free_mask &= ~bits;
  if (s->free_mask == 0) list_remove(s);
  page_t *page = &s->pages[start];
  memset(page, 0, sizeof *page);
  page->slice_count = (uint8_t)n;
  page->in_use = 1;
  page->span = page;
  for (unsigned i = 1; i < n; i++) {
    memset(&s->pages[start + i], 0, sizeof(page_t));
    s->pages[start + i].slice_offset = (uint8_t)i;
    s->pages[start + i].span = page;
  }
  ph_spans++;
  pthread_mutex_unlock(&ph_lock);
  return page;
}

void _st_span_free(page_t *page) {
  segment_t *s = st_segment_of(page);
  unsigned start = (unsigned)(page - s->pages), n = page->slice_count;
  if (STRATA_DEBUG && (!page->in_use || start == 0 || start + n > ST_SLICES))
    _st_error("span_free: corrupt page descriptor", page);
  /* The span is ours alone until its bits are set: give the memory back first. */
  if (_st_option(OPT_PURGE))
    _st_os_reset((uint8_t *)s + (size_t)start * ST_SLICE_SIZE, (size_t)n * ST_SLICE_SIZE);
  pthread_mutex_lock(&ph_lock);
  page->in_use = 0;
  for (unsigned i = 1; i < n; i++) s->pages[start + i].span = &s->pages[start + i];
  atomic_store_explicit(&page->owner, 0, memory_order_relaxed);
  atomic_store_explicit(&page->heap, NULL, memory_order_relaxed);
  uint64_t bits = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << start;
  if (s->free_mask == 0) list_push(s);
  s->free_mask |= bits;
  ph_spans--;
  if (s->free_mask == ALL_SLICES_FREE) {
    list_remove(s);
    if (ph_cache == NULL) ph_cache = s;
    else segment_release(s);
  }
  pthread_mutex_unlock(&ph_lock);
}

size_t _st_segments_trim(void) {
  pthread_mutex_lock(&ph_lock);
  segment_t *s = ph_cache;
  ph_cache = NULL;
  if (s) segment_release(s);
  pthread_mutex_unlock(&ph_lock);
  return s ? ST_SEGMENT_SIZE : 0;
}

void _st_segments_stats(strata_stats_t *st) {
  pthread_mutex_lock(&ph_lock);
  st->segments = ph_segments;
  st->pages_in_use = ph_spans;
  st->reserved += ph_segments * ST_SEGMENT_SIZE;
  st->committed += ph_segments * ST_SEGMENT_SIZE;
  pthread_mutex_unlock(&ph_lock);
}

/* Walk every listed segment: masks and descriptors agree. */
int _st_segments_check(void) {
  int bad = 0;
  pthread_mutex_lock(&ph_lock);
  for (segment_t *s = ph_list; s; s = s->next) {
    if (s->free_mask == 0 || (s->free_mask & 1)) bad = 1;
    if (st_segmap_get(s) != SEGMAP_SMALL) bad = 1;
    for (unsigned i = 1; i < ST_SLICES;) {
      page_t *p = &s->pages[i];
      bool is_free = (s->free_mask >> i) & 1;
      if (is_free) { if (p->in_use) bad = 1; i++; continue; }
      if (!p->in_use || p->slice_count == 0 || i + p->slice_count > ST_SLICES) { bad = 1; break; }
      i += p->slice_count;
    }
  }
  pthread_mutex_unlock(&ph_lock);
  if (bad) _st_message("strata: heap check: segment list inconsistent\n");
  return bad ? -1 : 0;
}
