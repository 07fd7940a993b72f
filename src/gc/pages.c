/* The collector's page allocator: spans of 64 KiB slices carved from one
 * reserved range of address space (see the picture in internal.h).
 *
 * 1. Start-up reserves the heap range and its side tables (span map, state
 *    bytes) as address space only; both are committed
 *    together, 4 MiB of heap at a time, as the heap grows (gc_top).
 * 2. _st_gc_span_alloc(n): first fit among the free runs, by size bucket
 *    (exact buckets for 1..GC_RUN_BUCKETS-1 slices, one bucket above); the
 *    rest of a longer run stays free.  Otherwise carve at gc_brk, the end of
 *    the used part, committing more when needed.
 * 3. _st_gc_span_free(s): the span becomes a free run and is coalesced with
 *    free neighbours (found through the span map), dirty (still resident).
 * 4. _st_gc_purge: free runs dirty for longer than purge_ms go back to the
 *    OS (madvise: they stay committed and read as zero).
 *
 * Invariants (gc_lock):
 *   - every slice below gc_brk belongs to exactly one span descriptor (in
 *     use or a free run) and gc_span_map points to it for each of its
 *     slices; slices at or above gc_brk map to NULL;
 *   - no two free runs are adjacent (coalescing);
 *   - every state byte of a free run is 0 (spans are freed only once all
 *     their slots are free);
 *   - gc_committed_spans + gc_free_bytes == gc_brk - gc_base - GC_SLICE.
 * Slice 0 is never carved: gc_base itself lives on in registers (the
 * allocation and marking code computes from it), and a conservative scan
 * that found it would keep whatever object started the heap -- and all it
 * reaches -- alive (seen as termination stops that marked a dead 64 MiB
 * tree, and as gc_debug=2 reports of an unmarked object "in a register").
 * The slice is committed with the first step but never touched.
 * Descriptors come from pages of the OS layer and are recycled, never
 * unmapped (a racing reader of the span map never faults).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "gc/internal.h"

#define GC_RUN_BUCKETS 33
#define GC_COMMIT_STEP ((size_t)4 << 20)

uint8_t *gc_base;
size_t gc_reserved;
_Atomic size_t gc_top;
gc_span_t **gc_span_map;
uint8_t *gc_state;
uintptr_t gc_state_bias;
pthread_mutex_t gc_lock = PTHREAD_MUTEX_INITIALIZER;
size_t gc_committed_spans, gc_free_bytes;

static uint8_t *gc_brk;                       /* end of the carved part */
static gc_list_t free_runs[GC_RUN_BUCKETS];   /* by length: min(n, GC_RUN_BUCKETS-1) */
static gc_span_t *desc_free;                  /* recycled descriptors */

uint64_t _st_gc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void _st_gc_list_push(gc_list_t *l, gc_span_t *s, int which) {
  s->prev = NULL;
  s->next = l->first;
  if (l->first) l->first->prev = s; else l->last = s;
  l->first = s;
  s->list = (uint8_t)which;
}
void _st_gc_list_remove(gc_list_t *l, gc_span_t *s) {
  if (s->prev) s->prev->next = s->next; else l->first = s->next;
  if (s->next) s->next->prev = s->prev; else l->last = s->prev;
  s->next = s->prev = NULL;
  s->list = GC_LIST_NONE;
}

static gc_span_t *desc_new(void) {
  if (desc_free == NULL) {
    size_t n = _st_os_page_size() * 4 / sizeof(gc_span_t);
    gc_span_t *a = _st_os_alloc(n * sizeof(gc_span_t), 0);
    if (a == NULL) return NULL;
    for (size_t i = 0; i < n; i++) { a[i].next = desc_free; desc_free = &a[i]; }
  }
  gc_span_t *s = desc_free;
  desc_free = s->next;
  memset(s, 0, sizeof *s);
  return s;
}
static void desc_recycle(gc_span_t *s) { s->in_use = 0; s->next = desc_free; desc_free = s; }

static size_t slice_index(const void *p) { return ((size_t)((const uint8_t *)p - gc_base)) >> GC_SLICE_SHIFT; }

static void map_set(gc_span_t *s, uint8_t *start, size_t n) {
  size_t i = slice_index(start);
  for (size_t k = 0; k < n; k++) gc_span_map[i + k] = s;
}

static unsigned bucket_of(size_t n) { return n < GC_RUN_BUCKETS - 1 ? (unsigned)n : GC_RUN_BUCKETS - 1; }

static void run_insert(gc_span_t *r) {
  r->in_use = 0;
  _st_gc_list_push(&free_runs[bucket_of(r->nslices)], r, GC_LIST_FREE_RUN);
}
static void run_remove(gc_span_t *r) { _st_gc_list_remove(&free_runs[bucket_of(r->nslices)], r); }

/* Commit heap and side tables up to `top` bytes of heap. */
static int commit_to(size_t top) {
  size_t cur = atomic_load_explicit(&gc_top, memory_order_relaxed);
  if (top <= cur) return 0;
  top = st_align_up(top, GC_COMMIT_STEP);
  if (top > gc_reserved) top = gc_reserved;
  size_t ps = _st_os_page_size();
  size_t st_lo = gc_align_down(cur >> GC_GRANULE_SHIFT, ps), st_hi = st_align_up(top >> GC_GRANULE_SHIFT, ps);
  size_t mp_lo = gc_align_down((cur >> GC_SLICE_SHIFT) * sizeof(void *), ps);
  size_t mp_hi = st_align_up((top >> GC_SLICE_SHIFT) * sizeof(void *), ps);
  if (_st_os_commit(gc_base + cur, top - cur) != 0) return -1;
  if (_st_os_commit(gc_state + st_lo, st_hi - st_lo) != 0 ||
      _st_os_commit((uint8_t *)gc_span_map + mp_lo, mp_hi - mp_lo) != 0) {
    _st_os_decommit(gc_base + cur, top - cur);
    return -1;
  }
  atomic_store_explicit(&gc_top, top, memory_order_release);
  return 0;
}

int _st_gc_pages_init(size_t reserve) {
  size_t ps = _st_os_page_size();
  for (reserve = st_align_up(reserve, GC_COMMIT_STEP); reserve >= ((size_t)64 << 20); reserve /= 2) {
    gc_base = _st_os_reserve(reserve, GC_COMMIT_STEP);
    if (gc_base == NULL) continue;
    gc_state = _st_os_reserve(st_align_up(reserve >> GC_GRANULE_SHIFT, ps), 0);
    gc_span_map = _st_os_reserve(st_align_up((reserve >> GC_SLICE_SHIFT) * sizeof(void *), ps), 0);
    if (gc_state && gc_span_map) break;
    if (gc_state) _st_os_release(gc_state, st_align_up(reserve >> GC_GRANULE_SHIFT, ps));
    if (gc_span_map) _st_os_release(gc_span_map, st_align_up((reserve >> GC_SLICE_SHIFT) * sizeof(void *), ps));
    _st_os_release(gc_base, reserve);
    gc_base = NULL;
  }
  if (gc_base == NULL) { errno = ENOMEM; return -1; }
  gc_reserved = reserve;
  gc_state_bias = (uintptr_t)gc_state - ((uintptr_t)gc_base >> GC_GRANULE_SHIFT);
  gc_brk = gc_base + GC_SLICE;                   /* slice 0 stays unused: see the top */
  return 0;
}

gc_span_t *_st_gc_span_alloc(size_t n) {
  gc_span_t *r = NULL;
  for (unsigned b = bucket_of(n); b < GC_RUN_BUCKETS && r == NULL; b++)
    for (gc_span_t *c = free_runs[b].first; c; c = c->next)
      if (c->nslices >= n) { r = c; break; }
  if (r != NULL) {
    run_remove(r);
    gc_free_bytes -= r->nslices * GC_SLICE;
    if (r->nslices > n) {                          /* split: the tail stays free */
      gc_span_t *t = desc_new();
      if (t == NULL) { run_insert(r); gc_free_bytes += r->nslices * GC_SLICE; errno = ENOMEM; return NULL; }
      t->start = r->start + n * GC_SLICE;
      t->nslices = (uint32_t)(r->nslices - n);
      t->dirty = r->dirty;
      t->freed_at = r->freed_at;
      map_set(t, t->start, t->nslices);
      run_insert(t);
      gc_free_bytes += t->nslices * GC_SLICE;
      r->nslices = (uint32_t)n;
    }
  } else {
    size_t used = (size_t)(gc_brk - gc_base);
    if (n > (gc_reserved - used) / GC_SLICE) { errno = ENOMEM; return NULL; }
    if (commit_to(used + n * GC_SLICE) != 0) { errno = ENOMEM; return NULL; }
    r = desc_new();
    if (r == NULL) { errno = ENOMEM; return NULL; }
    r->start = gc_brk;
    r->nslices = (uint32_t)n;
    gc_brk += n * GC_SLICE;
  }
  uint8_t *start = r->start;
  uint32_t nsl = r->nslices;
  uint8_t dirty = r->dirty;
  memset(r, 0, sizeof *r);
  r->start = start;
  r->nslices = nsl;
  r->dirty = dirty;                 /* tells the caller whether it must zero */
  r->in_use = 1;
  map_set(r, r->start, r->nslices);
  gc_committed_spans += n * GC_SLICE;
  return r;
}

void _st_gc_span_free(gc_span_t *s) {
  gc_committed_spans -= s->nslices * GC_SLICE;
  gc_free_bytes += s->nslices * GC_SLICE;
  s->in_use = 0;
  s->dirty = 1;
  s->freed_at = _st_gc_now();
  s->free = NULL;
  size_t i = slice_index(s->start);
  if (i > 0) {                                    /* coalesce with the run before */
    gc_span_t *l = gc_span_map[i - 1];
    if (l && !l->in_use) {
      run_remove(l);
      l->nslices += s->nslices;
      if (s->freed_at > l->freed_at) l->freed_at = s->freed_at;
      l->dirty = 1;
      desc_recycle(s);
      s = l;
    }
  }
  uint8_t *end = s->start + s->nslices * GC_SLICE;
  if (end < gc_brk) {                             /* ... and the one after */
    gc_span_t *r = gc_span_map[slice_index(end)];
    if (r && !r->in_use) {
      run_remove(r);
      s->nslices += r->nslices;
      s->dirty |= r->dirty;
      desc_recycle(r);
    }
  }
  map_set(s, s->start, s->nslices);
  run_insert(s);
}

size_t _st_gc_purge(uint64_t now, int all) {
  long ms = _st_option(OPT_PURGE_MS);
  if (ms < 0 && !all) return 0;
  uint64_t delay = ms < 0 ? 0 : (uint64_t)ms * 1000000ull;
  size_t bytes = 0;
  for (unsigned b = 0; b < GC_RUN_BUCKETS; b++)
    for (gc_span_t *r = free_runs[b].first; r; r = r->next)
      if (r->dirty && (all || now - r->freed_at >= delay)) {
        if (_st_os_reset(r->start, r->nslices * GC_SLICE) == 0) { r->dirty = 0; bytes += r->nslices * GC_SLICE; }
      }
  return bytes;
}
