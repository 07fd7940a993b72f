/* Allocation and sweeping.
 *
 * Fast path (no lock, no atomic read-modify-write; inlined into each entry
 * point, objects up to GC_SMALL_MAX): the thread's cache holds one span per
 * (kind, class); pop a slot from its free list, or bump through the span's
 * never-used tail (a fresh span has no free list), zero it, write its state
 * byte (born marked with the current epoch) and, for objects of mixed typed
 * spans, its type.  The whole of it runs with in_alloc set, so a thread
 * stop never sees it half done (world.c).  Type descriptors are validated
 * where a span first takes one (slow path), not on every call.
 *
 * Slow path: pay a mark assist if the pacer asks for one (collect.c; no
 * lock held) for the bytes the last refill gave (t->took: a span swept
 * half full gives half a span; charging the whole span had doubled the
 * assists on a mostly live heap), then under gc_lock give the exhausted span back (to `full`),
 * run the pacer (which may collect), then find a span for (kind, class):
 *   1. a swept span with free slots (`partial`);
 *   2. an unswept one, swept now (lazy sweeping; spans that turn out empty
 *      go back to the page allocator);
 *   3. a fresh span from the page allocator.
 * Objects above GC_SMALL_MAX get a span of their own (`large`).
 *
 * Span lists, per (kind, class), all under gc_lock:
 *   partial   swept for the current epoch, free slots on s->free
 *   full      swept (or handed back by a cache), no free slot known
 *   unswept   in use, not yet swept since the last mark
 * A span in a thread cache is on no list (cached = 1).  After a mark
 * (_st_gc_after_mark, world stopped) every span in use is moved to unswept.
 *
 * Accounting (the pacer's): a mark sets gc_allocated to the bytes it found
 * live; from there it counts the free slots handed to caches (an
 * approximation from above; what a cache gives back unused is taken off)
 * and large objects, minus explicit frees.  Sweeping does not change it:
 * garbage was never counted after the mark.
 */
#include <errno.h>
#include <string.h>
#include "gc/internal.h"

gc_list_t gc_unswept[GC_NKINDS][GC_NCLASSES + 1];
static gc_list_t partial[GC_NKINDS][GC_NCLASSES], full[GC_NKINDS][GC_NCLASSES + 1];
_Atomic size_t gc_allocated, gc_nobjects, gc_nfreed;
_Atomic uint64_t gc_sweep_ns;

static unsigned kind_of(const strata_gc_type_t *type) {
  if (type == NULL || type->kind == STRATA_GC_CONSERVATIVE) return GC_KIND_CONS;
  if (type->kind == STRATA_GC_NOSCAN) return GC_KIND_NOSCAN;
  return GC_KIND_TYPED;
}

/* Small span s's scan_bits, from its kind and type (see gc_span_t). */
static void span_set_scan(gc_span_t *s) {
  const strata_gc_type_t *t = s->type;
  uint64_t bits = 0;
  if (s->kind == GC_KIND_TYPED && t != NULL && s->types == NULL && t->kind == STRATA_GC_BITMAP &&
      s->slot_size < 2 * t->size) {
    size_t words = t->size / sizeof(void *);
    bits = t->bitmap & (words >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << words) - 1);
  }
  s->scan_bits = bits;
}

static void span_drop_types(gc_span_t *s) {      /* a small span */
  if (s->types) { strata_free((void *)s->types); s->types = NULL; }
  s->type = NULL;
  s->scan_bits = 0;
}

/* ---- sweeping ------------------------------------------------------------- */

/* The slots of small span s: free the ones not marked in this epoch and
 * rebuild its free list.  Returns true if no slot is live.  Touches only s
 * and its own slots and state bytes, so it may run without gc_lock on a
 * span that is on no list and in no cache.  Two passes: the first reads
 * and clears only state bytes (one per slot), so a span with nothing live
 * -- the common case when most objects die young -- goes back without its
 * slot memory being touched; the second threads the free list. */
#define BYTES8(x) ((uint64_t)(x) * 0x0101010101010101ull)

/* Pass 1 for slots of up to 4 granules, 8 state bytes at a time: clear the
 * allocated bytes that are not this mark's (odd and != mv), count the live
 * ones (== mv).  The bytes between slot starts are 0 (only slot starts are
 * ever written, and a free run's state bytes are all 0: pages.c), so they
 * read as free and need no mask.  With poison, each dead slot is filled. */
static uint32_t sweep_states8(gc_span_t *s, uint8_t *st, size_t n, uint8_t mv, int poison,
                              uint32_t *freed) {
  const uint64_t lo7 = BYTES8(0x7f), hi = BYTES8(0x80), one = BYTES8(0x01), mvw = BYTES8(mv);
  size_t step = s->slot_size >> GC_GRANULE_SHIFT;
  uint32_t live = 0, dead = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, st + i, 8);
    if (w == 0) continue;                          /* eight free granules */
    uint64_t x = w ^ mvw;
    uint64_t live_hi = ~(((x & lo7) + lo7) | x) & hi;   /* bytes == mv */
    uint64_t odd = w & one;                              /* bytes allocated */
    /* counts of bytes that are 0 or 1: a multiply sums them in the top
     * byte (__builtin_popcountll is a libgcc call without -mpopcnt: 8.6%
     * of GCBench's samples) */
    unsigned nl = (unsigned)(((live_hi >> 7) * one) >> 56), na = (unsigned)((odd * one) >> 56);
    live += nl;
    if (na == nl) continue;
    dead += na - nl;
    if (st_unlikely(poison))
      for (uint64_t d = odd & ~(live_hi >> 7); d; d &= d - 1) {
        size_t g = i + (size_t)(__builtin_ctzll(d) >> 3);
        memset(s->start + (g / step) * s->slot_size, 0xdb, s->slot_size);
      }
    w &= (live_hi >> 7) * 0xff;                    /* keep the live bytes, clear the dead */
    memcpy(st + i, &w, 8);
  }
  for (; i < n; i++) {
    uint8_t v = st[i];
    if (!(v & 1)) continue;
    if (v == mv) { live++; continue; }
    st[i] = 0;
    dead++;
    if (st_unlikely(poison)) memset(s->start + (i / step) * s->slot_size, 0xdb, s->slot_size);
  }
  *freed = dead;
  return live;
}

/* Pass 2 for slots of 1 or 2 granules: thread the free slots (state 0 at
 * their start) into a list in address order, finding them 8 state bytes
 * at a time, from the end. */
static void *thread_free8(gc_span_t *s, const uint8_t *st, size_t n) {
  const uint64_t lo7 = BYTES8(0x7f), hi = BYTES8(0x80);
  size_t step = s->slot_size >> GC_GRANULE_SHIFT;
  uint64_t starts = step == 1 ? hi : 0x0080008000800080ull;   /* high bits of slot-start bytes */
  void *list = NULL;
  for (size_t i = n; i >= 8;) {
    i -= 8;
    uint64_t w;
    memcpy(&w, st + i, 8);
    uint64_t zero = ~(((w & lo7) + lo7) | w) & starts;   /* slot starts whose byte is 0 */
    while (zero) {
      unsigned b = 63u - (unsigned)__builtin_clzll(zero);
      zero &= ~((uint64_t)1 << b);
      uint8_t *slot = s->start + ((i + (b >> 3)) / step) * s->slot_size;
      *(void **)slot = list;
      list = slot;
    }
  }
  return list;
}

static bool sweep_slots(gc_span_t *s) {
  uint8_t mv = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  int poison = _st_option(OPT_GC_DEBUG) != 0;
  uint32_t live = 0, freed = 0;
  size_t step = s->slot_size >> GC_GRANULE_SHIFT;
  uint8_t *st = &gc_state[gc_granule(s->start)];
  size_t n = (size_t)s->nslots * step;             /* the span's state bytes */
  if (step <= 4) live = sweep_states8(s, st, n, mv, poison, &freed);
  else
    for (uint32_t i = 0; i < s->nslots; i++, st += step) {
      uint8_t v = *st;
      if (!(v & 1)) continue;
      if (v == mv) { live++; continue; }
      *st = 0;
      freed++;
      if (poison) memset(s->start + (size_t)i * s->slot_size, 0xdb, s->slot_size);
    }
  s->swept_epoch = (uint8_t)atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  atomic_fetch_add_explicit(&gc_nfreed, freed, memory_order_relaxed);
  s->bump = s->bump_end = NULL;
  if (live == 0) { s->free = NULL; s->nfree = s->nslots; return true; }
  void *list = NULL;
  st = &gc_state[gc_granule(s->start)];
  if (step <= 2 && n % 8 == 0) list = thread_free8(s, st, n);
  else {
    st += (size_t)(s->nslots - 1) * step;
    for (uint32_t i = s->nslots; i-- > 0; st -= step) {
      if (*st & 1) continue;
      uint8_t *slot = s->start + (size_t)i * s->slot_size;
      *(void **)slot = list;
      list = slot;
    }
  }
  s->free = list;
  s->nfree = s->nslots - live;
  return false;
}

/* Sweep small span s (gc_lock held; on no list, not cached).  Returns false
 * if the span was empty and went back to the page allocator. */
static bool sweep_small(gc_span_t *s) {
  if (!sweep_slots(s)) return true;
  span_drop_types(s);
  _st_gc_span_free(s);
  return false;
}

static bool sweep_large(gc_span_t *s) {
  uint8_t *st = &gc_state[gc_granule(s->start)];
  s->swept_epoch = (uint8_t)atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  if (*st == gc_mark_value(s->swept_epoch)) return true;
  *st = 0;
  atomic_fetch_add_explicit(&gc_nfreed, 1, memory_order_relaxed);
  s->type = NULL;
  _st_gc_span_free(s);
  return false;
}

/* Put a swept span on the list its state calls for. */
static void file_span(gc_span_t *s) {
  if (s->cls == GC_NCLASSES) _st_gc_list_push(&full[s->kind][GC_NCLASSES], s, GC_LIST_LARGE);
  else if (s->nfree) _st_gc_list_push(&partial[s->kind][s->cls], s, GC_LIST_PARTIAL);
  else _st_gc_list_push(&full[s->kind][s->cls], s, GC_LIST_FULL);
}

void _st_gc_sweep_all(void) {
  uint64_t t0 = _st_gc_now();
  for (unsigned k = 0; k < GC_NKINDS; k++)
    for (unsigned c = 0; c <= GC_NCLASSES; c++) {
      gc_span_t *s;
      while ((s = gc_unswept[k][c].first) != NULL) {
        _st_gc_list_remove(&gc_unswept[k][c], s);
        if (c == GC_NCLASSES ? sweep_large(s) : sweep_small(s)) file_span(s);
      }
    }
  atomic_fetch_add_explicit(&gc_sweep_ns, _st_gc_now() - t0, memory_order_relaxed);
}

/* Sweep up to max unswept spans (gc_lock NOT held); returns how many.  The
 * collector thread calls it in batches after a cycle, so garbage goes back
 * without waiting for allocation to come by (background sweeping). */
size_t _st_gc_sweep_some(size_t max) {
  gc_span_t *batch[64];
  bool empty[64];
  if (max > 64) max = 64;
  size_t n = 0, large = 0;
  uint64_t t0 = _st_gc_now();
  /* 1. take a batch off the unswept lists (large spans: swept right here,
   *    strata_gc_free may look for them on their list) */
  pthread_mutex_lock(&gc_lock);
  for (unsigned k = 0; k < GC_NKINDS && n < max; k++)
    for (unsigned c = 0; c <= GC_NCLASSES && n < max; c++) {
      gc_span_t *s;
      while (n < max && (s = gc_unswept[k][c].first) != NULL) {
        _st_gc_list_remove(&gc_unswept[k][c], s);
        if (c == GC_NCLASSES) { if (sweep_large(s)) file_span(s); large++; max--; continue; }
        s->sweeping = 1;
        batch[n++] = s;
      }
    }
  pthread_mutex_unlock(&gc_lock);
  if (n == 0) {
    atomic_fetch_add_explicit(&gc_sweep_ns, _st_gc_now() - t0, memory_order_relaxed);
    return large;
  }
  /* 2. sweep them without the lock: allocation goes on meanwhile */
  for (size_t i = 0; i < n; i++) {
    empty[i] = sweep_slots(batch[i]);
    if (empty[i]) span_drop_types(batch[i]);
  }
  /* 3. file them, or give the empty ones back */
  pthread_mutex_lock(&gc_lock);
  for (size_t i = 0; i < n; i++) {
    batch[i]->sweeping = 0;
    if (empty[i]) _st_gc_span_free(batch[i]);
    else file_span(batch[i]);
  }
  pthread_mutex_unlock(&gc_lock);
  atomic_fetch_add_explicit(&gc_sweep_ns, _st_gc_now() - t0, memory_order_relaxed);
  return n + large;
}

/* ---- after a mark, and thread caches -------------------------------------- */

static void span_uncache(gc_span_t *s) {
  s->cached = 0;
  atomic_fetch_add_explicit(&gc_nobjects, s->nfree_cached - s->nfree, memory_order_relaxed);
  atomic_fetch_sub_explicit(&gc_allocated, (size_t)s->nfree * s->slot_size, memory_order_relaxed);
  _st_gc_list_push(&full[s->kind][s->cls], s, GC_LIST_FULL);
}

/* Give back every span thread t caches (gc_lock held; t stopped or t itself). */
static void cache_flush(gc_thread_t *t) {
  for (unsigned k = 0; k < GC_NKINDS; k++)
    for (unsigned c = 0; c < GC_NCLASSES; c++) {
      gc_span_t *s = t->cache[k][c];
      if (s) { t->cache[k][c] = NULL; span_uncache(s); }
    }
}

void _st_gc_flush_caches(void) {
  for (gc_thread_t *t = gc_threads; t; t = t->next) cache_flush(t);
}
void _st_gc_thread_flush(gc_thread_t *t);
void _st_gc_thread_flush(gc_thread_t *t) { cache_flush(t); }

static void list_append(gc_list_t *dst, gc_list_t *src) {
  gc_span_t *s;
  while ((s = src->first) != NULL) { _st_gc_list_remove(src, s); _st_gc_list_push(dst, s, GC_LIST_UNSWEPT); }
}

/* Move all of src to the end of dst in O(1).  The spans keep their `list`
 * tags: only large spans' tags are read (strata_gc_free), and those are
 * moved with list_append. */
static void list_splice(gc_list_t *dst, gc_list_t *src) {
  if (src->first == NULL) return;
  if (dst->first == NULL) *dst = *src;
  else {
    dst->last->next = src->first;
    src->first->prev = dst->last;
    dst->last = src->last;
  }
  src->first = src->last = NULL;
}

/* With the world stopped, at the end of a mark: every span needs sweeping.
 * Small spans move list by list, in O(1) each (with a heap of 1 GiB, moving
 * them one by one took a large part of the termination stop); large spans
 * one by one, for their tags. */
void _st_gc_after_mark(void) {
  for (unsigned k = 0; k < GC_NKINDS; k++) {
    for (unsigned c = 0; c < GC_NCLASSES; c++) {
      list_splice(&gc_unswept[k][c], &partial[k][c]);
      list_splice(&gc_unswept[k][c], &full[k][c]);
    }
    list_append(&gc_unswept[k][GC_NCLASSES], &full[k][GC_NCLASSES]);
  }
}

static bool type_valid(const strata_gc_type_t *type) {
  return !((unsigned)type->kind > STRATA_GC_TRACE ||
           (type->kind == STRATA_GC_TRACE && type->trace == NULL) ||
           (type->kind == STRATA_GC_OFFSETS && type->noffsets && type->offsets == NULL) ||
           ((type->kind == STRATA_GC_BITMAP || type->kind == STRATA_GC_OFFSETS) &&
            (type->size == 0 || type->size % sizeof(void *))));
}

/* ---- the slow path ----------------------------------------------------------- */

/* Typed spans remember the type of their objects while they all share one
 * (span->type), so neither allocation nor marking touches memory per object
 * for it.  The first object of another type makes the span mixed: a per-slot
 * array (malloc'd, under gc_lock, never with in_alloc set) filled with the
 * old type, and from then on the fast path writes each object's entry.
 * Returns false if the array cannot be had (the caller fails with ENOMEM). */
static bool span_note_type(gc_span_t *s, const strata_gc_type_t *type) {
  if (s->types) return true;
  if (s->type == NULL && s->nfree == s->nslots) { s->type = type; span_set_scan(s); return true; }
  const strata_gc_type_t **a = strata_malloc(s->nslots * sizeof *a);
  if (a == NULL) return false;
  for (uint32_t i = 0; i < s->nslots; i++) a[i] = s->type;
  s->types = a;
  s->type = NULL;
  span_set_scan(s);                                /* 0: a mixed span is scanned per slot */
  return true;
}

static gc_span_t *span_new_small(unsigned kind, unsigned c) {
  gc_span_t *s = _st_gc_span_alloc(_st_class_slices(c));
  if (s == NULL) return NULL;
  s->kind = (uint8_t)kind;
  s->cls = (uint8_t)c;
  s->slot_size = _st_class_size(c);
  span_set_scan(s);
  s->slot_inv = (((uint64_t)1 << 40) + s->slot_size - 1) / s->slot_size;
  s->nslots = (uint32_t)(s->nslices * GC_SLICE / s->slot_size);
  s->swept_epoch = (uint8_t)atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  s->free = NULL;
  s->bump = s->start;
  s->bump_end = s->start + (size_t)s->nslots * s->slot_size;
  s->nfree = s->nslots;
  return s;
}

/* A span of (kind, c) with free slots, off every list (gc_lock held).
 * Lazy sweeping looks at GC_LAZY_SWEEP spans at most while the heap is
 * below the pacer's goal: after a mark of a large heap that is mostly
 * live, the unswept list can hold thousands of full spans, and sweeping
 * them all in one refill, under gc_lock, stalled every allocating thread
 * (bench/gc/pauses.c, 1 GiB).  Past the bound a fresh span is taken and the
 * background sweep catches up.  At or over the goal it sweeps on: taking
 * fresh spans there let a steady heap grow (t_gc's steady test). */
#define GC_LAZY_SWEEP 8
static gc_span_t *span_refill(unsigned kind, unsigned c) {
  gc_span_t *s = partial[kind][c].first;
  if (s) { _st_gc_list_remove(&partial[kind][c], s); return s; }
  uint64_t t0 = 0;
  size_t bound = gc_committed_spans < gc_heap_goal ? GC_LAZY_SWEEP : SIZE_MAX;
  for (size_t n = 0; n < bound && (s = gc_unswept[kind][c].first) != NULL; n++) {
    if (!t0) t0 = _st_gc_now();
    _st_gc_list_remove(&gc_unswept[kind][c], s);
    if (!sweep_small(s)) { s = NULL; continue; }
    if (s->nfree) break;
    file_span(s);
    s = NULL;
  }
  if (t0) atomic_fetch_add_explicit(&gc_sweep_ns, _st_gc_now() - t0, memory_order_relaxed);
  return s ? s : span_new_small(kind, c);
}

static void *alloc_large(unsigned kind, size_t size, const strata_gc_type_t *type) {
  if (kind == GC_KIND_TYPED && !type_valid(type)) { errno = EINVAL; return NULL; }
  size_t n = (size + GC_SLICE - 1) / GC_SLICE;
  gc_thread_t *t = gc_self;
  if (st_unlikely(strata_gc_marking_flag) && t) _st_gc_assist_maybe(t, n * GC_SLICE);
  _st_gc_lock_mutator();
  _st_gc_maybe_collect(n * GC_SLICE);
  gc_span_t *s = _st_gc_span_alloc(n);
  if (s == NULL) {                                  /* out of heap: collect, retry */
    _st_gc_collect_wait();
    _st_gc_sweep_all();
    s = _st_gc_span_alloc(n);
  }
  if (s == NULL) { pthread_mutex_unlock(&gc_lock); errno = ENOMEM; return NULL; }
  if (s->dirty) {
    if (size >= ((size_t)1 << 20) && _st_os_reset(s->start, n * GC_SLICE) == 0) {}
    else memset(s->start, 0, size);
  }
  s->kind = (uint8_t)kind;
  s->cls = GC_NCLASSES;
  s->slot_size = n * GC_SLICE;
  s->nslots = 1;
  s->large_size = size;
  s->swept_epoch = (uint8_t)atomic_load_explicit(&gc_epoch, memory_order_relaxed);
  size_t g = gc_granule(s->start);
  if (kind == GC_KIND_TYPED) s->type = type;
  gc_state[g] = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  _st_gc_list_push(&full[kind][GC_NCLASSES], s, GC_LIST_LARGE);
  atomic_fetch_add_explicit(&gc_allocated, n * GC_SLICE, memory_order_relaxed);
  atomic_fetch_add_explicit(&gc_nobjects, 1, memory_order_relaxed);
  /* The object must be held by a real pointer (a register or the stack)
   * from here on: once gc_lock is released a cycle may start and scan this
   * thread, and a pointer to the span descriptor would not keep it. */
  uint8_t *volatile obj = s->start;
  pthread_mutex_unlock(&gc_lock);
  return obj;
}

static ST_NOINLINE void *alloc_slow(gc_thread_t *t, unsigned kind, unsigned c,
                                    const strata_gc_type_t *type) {
  if (kind == GC_KIND_TYPED && !type_valid(type)) { errno = EINVAL; return NULL; }
  if (st_unlikely(strata_gc_marking_flag)) {
    gc_cs_enter(t);
    if (strata_gc_marking_flag) _st_gc_shade_flush_if_asked(t);
    gc_cs_leave(t);
    size_t took = t->took;                          /* each refill is paid for once */
    t->took = 0;
    _st_gc_assist_maybe(t, took);
  }
  _st_gc_lock_mutator();
  gc_span_t *s = t->cache[kind][c];
  if (s == NULL || s->nfree == 0) {                /* exhausted: another span */
    if (s) { t->cache[kind][c] = NULL; span_uncache(s); }
    _st_gc_maybe_collect(_st_class_slices(c) * GC_SLICE);
    s = span_refill(kind, c);
    if (s == NULL) {                                /* out of heap: collect, retry */
      _st_gc_collect_wait();
      _st_gc_sweep_all();
      s = span_refill(kind, c);
    }
    if (s == NULL) { pthread_mutex_unlock(&gc_lock); errno = ENOMEM; return NULL; }
    s->cached = 1;
    s->nfree_cached = s->nfree;
    t->took = (size_t)s->nfree * s->slot_size;
    atomic_fetch_add_explicit(&gc_allocated, (size_t)s->nfree * s->slot_size, memory_order_relaxed);
    t->cache[kind][c] = s;
  }
  /* one object now, under the lock (no collection can run) */
  if (kind == GC_KIND_TYPED && s->type != type && !span_note_type(s, type)) {
    pthread_mutex_unlock(&gc_lock);
    errno = ENOMEM;
    return NULL;
  }
  uint8_t *p = s->free;
  if (p) s->free = *(void **)p;
  else { p = s->bump; s->bump += s->slot_size; }
  s->nfree--;
  memset(p, 0, s->slot_size);
  if (s->types) s->types[gc_slot_index(s, p)] = type;
  gc_state[gc_granule(p)] = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  pthread_mutex_unlock(&gc_lock);
  return p;
}

/* ---- the fast path --------------------------------------------------------------- */

/* Zero a slot (size: a multiple of 16, never 0): the malloc layer's
 * st_zero_small (16-byte stores from both ends, no `rep stos`, which is
 * slow to start) up to its bound, memset above. */
static inline void slot_zero(uint8_t *p, size_t size) {
  if (size > ST_ZERO_INLINE_MAX) memset(p, 0, size);
  else {
    if (size == 0) __builtin_unreachable();        /* spares st_zero_small's test for 0 */
    st_zero_small(p, size);
  }
}

/* The end of a fast path that made p, when a stop arrived inside it: the
 * stop is honoured here, with p held in this frame (the stop's scan reads
 * it).  Out of line, so the fast path keeps no register across a call. */
static ST_NOINLINE void *alloc_safepoint(void *p) {
  void *volatile keep = p;
  _st_gc_safepoint();
  return keep;
}

/* Slot p of s is taken (critical section open): make the object -- zero
 * it, note its type in a mixed span, mark it born -- and leave. */
static ST_NOINLINE void *alloc_finish(gc_thread_t *t, gc_span_t *s, uint8_t *p,
                                      const strata_gc_type_t *type) {
  slot_zero(p, s->slot_size);
  if (s->types != NULL) s->types[gc_slot_index(s, p)] = type;
  *gc_state_at(p) = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  gc_cs_leave(t);
  return p;
}

/* Take a slot of s (critical section open), or NULL if it has none. */
static inline uint8_t *span_take(gc_span_t *s) {
  uint8_t *p = s->free;
  if (st_likely(p != NULL)) s->free = *(void **)p;
  else if (st_likely((p = s->bump) < s->bump_end)) s->bump = p + s->slot_size;
  else return NULL;
  s->nfree--;
  return p;
}

/* The fast path missed (critical section open). */
static ST_NOINLINE void *alloc_leave_slow(gc_thread_t *t, unsigned kind, unsigned c,
                                          const strata_gc_type_t *type) {
  gc_cs_leave(t);
  return alloc_slow(t, kind, c, type);
}

/* A typed object whose cached span s does not hold this type alone: a
 * mixed span takes it (per-slot type), anything else is the slow path's. */
static ST_NOINLINE void *alloc_typed_other(gc_thread_t *t, gc_span_t *s, unsigned c,
                                           const strata_gc_type_t *type) {
  uint8_t *p;
  if (s->types != NULL && type_valid(type) && (p = span_take(s)) != NULL)
    return alloc_finish(t, s, p, type);
  return alloc_leave_slow(t, GC_KIND_TYPED, c, type);
}

/* The fast path: a slot from the span the thread caches for (kind, class
 * c), made into an object, in one critical section.  Every way out that
 * is not the common one is a tail call, so the path saves no register.
 * Typed: the span's objects all have this type (set by the slow path,
 * which validated it; a span with one type has no per-slot array). */
static inline __attribute__((always_inline)) void *gc_alloc_fast(gc_thread_t *t, unsigned kind, unsigned c,
                                                                 const strata_gc_type_t *type) {
  gc_cs_enter(t);
  gc_span_t *s = t->cache[kind][c];
  if (st_unlikely(s == NULL)) return alloc_leave_slow(t, kind, c, type);
  if (kind == GC_KIND_TYPED && st_unlikely(s->type != type)) return alloc_typed_other(t, s, c, type);
  uint8_t *p = span_take(s);
  if (st_unlikely(p == NULL)) return alloc_leave_slow(t, kind, c, type);
  if (st_unlikely(s->slot_size > 64)) return alloc_finish(t, s, p, type);
  slot_zero(p, s->slot_size);
  *gc_state_at(p) = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  atomic_signal_fence(memory_order_seq_cst);
  t->in_alloc = 0;
  atomic_signal_fence(memory_order_seq_cst);
  if (st_unlikely(t->stop_pending)) return alloc_safepoint(p);
  return p;
}

/* Every call the entry points do not take straight to the fast path:
 * large, medium (no table lookup for the class) or invalid sizes, an
 * unregistered caller, a non-typed descriptor. */
static ST_NOINLINE void *alloc_entry(unsigned kind, const strata_gc_type_t *type, size_t size) {
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  if (type != NULL) {
    if (!type_valid(type)) { errno = EINVAL; return NULL; }
    kind = kind_of(type);
    if (kind != GC_KIND_TYPED) type = NULL;
  }
  gc_thread_t *t = gc_thread();
  if (st_unlikely(t == NULL)) { errno = ENOMEM; return NULL; }
  if (size > GC_SMALL_MAX) return alloc_large(kind, size, type);
  unsigned c = size <= ST_SMALL_FAST_MAX ? st_class_fast(size) : _st_class_of(size);
  switch (kind) {
    case GC_KIND_NOSCAN: return gc_alloc_fast(t, GC_KIND_NOSCAN, c, NULL);
    case GC_KIND_CONS:   return gc_alloc_fast(t, GC_KIND_CONS, c, NULL);
    default:             return gc_alloc_fast(t, GC_KIND_TYPED, c, type);
  }
}

STRATA_API void *strata_gc_alloc(const strata_gc_type_t *type, size_t size) {
  gc_thread_t *t = gc_self;
  if (st_likely(t != NULL && size <= ST_SMALL_FAST_MAX && type != NULL && type->kind >= STRATA_GC_BITMAP))
    return gc_alloc_fast(t, GC_KIND_TYPED, st_class_fast(size), type);  /* an invalid type misses */
  return alloc_entry(GC_KIND_CONS, type, size);
}
STRATA_API void *strata_gc_malloc(size_t size) {
  gc_thread_t *t = gc_self;
  if (st_likely(t != NULL && size <= ST_SMALL_FAST_MAX)) return gc_alloc_fast(t, GC_KIND_CONS, st_class_fast(size), NULL);
  return alloc_entry(GC_KIND_CONS, NULL, size);
}
STRATA_API void *strata_gc_malloc_atomic(size_t size) {
  gc_thread_t *t = gc_self;
  if (st_likely(t != NULL && size <= ST_SMALL_FAST_MAX)) return gc_alloc_fast(t, GC_KIND_NOSCAN, st_class_fast(size), NULL);
  return alloc_entry(GC_KIND_NOSCAN, NULL, size);
}

/* ---- queries and explicit free --------------------------------------------------- */

/* The live object holding p: its span and start, or NULL. */
static uint8_t *object_of(const void *p, gc_span_t **span_out) {
  if (gc_base == NULL) return NULL;
  gc_span_t *s;
  uint8_t *slot;
  if (gc_resolve(p, &s, &slot) == NULL) return NULL;
  if (s->cls == GC_NCLASSES && (size_t)((const uint8_t *)p - slot) >= s->large_size && p != slot)
    return NULL;
  *span_out = s;
  return slot;
}

STRATA_API size_t strata_gc_size(const void *p) {
  gc_span_t *s;
  if (object_of(p, &s) == NULL) return 0;
  return s->cls == GC_NCLASSES ? s->large_size : s->slot_size;
}

STRATA_API void *strata_gc_base(const void *p) {
  gc_span_t *s;
  return object_of(p, &s);
}

STRATA_API void strata_gc_free(void *p) {
  if (p == NULL) return;
  gc_thread();                                      /* registered, so the lock is safe */
  pthread_mutex_lock(&gc_lock);
  gc_span_t *s;
  uint8_t *obj = object_of(p, &s);
  if (obj != p) {
    pthread_mutex_unlock(&gc_lock);
    _st_error("strata_gc_free(): not the start of a live GC object", p);
    return;
  }
  if (s->sweeping) {                                /* being swept without the lock: */
    pthread_mutex_unlock(&gc_lock);                 /* the next cycle reclaims it */
    return;
  }
  _st_gc_finalizer_forget(obj);
  gc_state[gc_granule(obj)] = 0;
  atomic_fetch_add_explicit(&gc_nfreed, 1, memory_order_relaxed);
  if (s->cls == GC_NCLASSES) {
    _st_gc_list_remove(s->list == GC_LIST_UNSWEPT ? &gc_unswept[s->kind][GC_NCLASSES]
                                                  : &full[s->kind][GC_NCLASSES], s);
    atomic_fetch_sub_explicit(&gc_allocated, (size_t)s->nslices * GC_SLICE, memory_order_relaxed);
    _st_gc_span_free(s);
  } else {
    atomic_fetch_sub_explicit(&gc_allocated, s->slot_size, memory_order_relaxed);
    if (_st_option(OPT_GC_DEBUG)) memset(obj, 0xdb, s->slot_size);
  }
  pthread_mutex_unlock(&gc_lock);
}
