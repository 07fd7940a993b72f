/* Marking: the grey stack, scanning objects by kind, and shading (the
 * roots are in roots.c, the gc_debug=2 verification in verify.c).
 *
 * Tri-color, with the colours stored as:
 *   white  allocated, state byte != mark value of this epoch
 *   grey   marked (state byte == mark value) and on the mark stack
 *   black  marked and scanned (popped from the stack)
 * mark_obj() turns a white object grey (noscan objects go straight to
 * black); drain() pops grey objects and marks what they point to.  The mark
 * stack is a list of chunks from the OS layer (never malloc: the world may be
 * stopped with a malloc lock held by a stopped thread).  Invariant while
 * draining: every object reachable from the roots is black, grey, or
 * reachable from a grey object through white objects only.  When the stack
 * is empty, every reachable object is black.
 *
 * Pointers are resolved conservatively everywhere (any word that falls in a
 * live object, interior pointers included, marks it); typed objects only
 * have their pointer fields looked at.
 */
#include <string.h>
#include "gc/internal.h"

#define CHUNK_ENTRIES ((size_t)32768 - 2)
typedef struct mchunk { struct mchunk *prev; size_t n; uint8_t *e[CHUNK_ENTRIES]; } mchunk_t;

/* A marker: a grey stack, the bytes it marked, and its edge ring.  The
 * collector has one (coll: its thread only); a mark assist builds one on
 * the assisting thread's stack for the length of one slice (see "mark
 * assists").  The edge ring holds candidate pointers read from an object
 * scanned by the general path (scan_other) whose state bytes are being
 * prefetched: each is resolved and marked EDGE_DEPTH candidates later
 * (mark_edge), so the state-byte miss of one edge overlaps the work on the
 * next ones.  Invariant: outside scan_other the ring is empty (it ends with
 * edges_flush).  The drain loop's common path has a ring of its own
 * (drain_t), empty whenever a drain returns. */
#define EDGE_DEPTH 8
typedef struct marker {
  mchunk_t *top;                     /* current chunk */
  mchunk_t *spare;                   /* one kept for reuse */
  size_t marked;                     /* bytes marked */
  unsigned ehead, en;                /* edge ring: oldest, count */
  const void *edge[EDGE_DEPTH];
} marker_t;

static marker_t coll;                /* the collector's */
static _Atomic int pool_n;           /* chunks of grey objects on the assist pool */
static _Atomic size_t assist_marked; /* bytes marked by assists this cycle */
static _Atomic int assist_active;    /* slices holding grey objects of their own */
static uint8_t mark_value;           /* this cycle's, set by mark_begin */
static int mark_overflow;            /* a chunk could not be mapped */


/* The grey stack's fast paths are inline (every object marked is pushed and
 * popped once); a chunk boundary takes the slow paths. */
/* A full (or no) top chunk: a fresh one on top of it; NULL when the OS
 * refuses (mark_overflow is then set: recover_overflow finds the object). */
ST_NOINLINE static mchunk_t *chunk_grow(marker_t *m) {
  mchunk_t *n = m->spare;
  if (n) m->spare = NULL;
  else n = _st_os_alloc(sizeof(mchunk_t), 0);
  if (n == NULL) { mark_overflow = 1; return NULL; }
  n->prev = m->top;
  n->n = 0;
  m->top = n;
  return n;
}

/* Drop the empty chunks on top (one kept as the spare, the others
 * released); returns the top chunk that holds objects (NULL: none). */
ST_NOINLINE static mchunk_t *chunk_shrink(marker_t *m) {
  mchunk_t *c = m->top;
  while (c && c->n == 0) {
    m->top = c->prev;
    if (m->spare == NULL) m->spare = c; else _st_os_release(c, sizeof(mchunk_t));
    c = m->top;
  }
  return c;
}

ST_NOINLINE static void push_slow(marker_t *m, uint8_t *obj) {
  mchunk_t *c = chunk_grow(m);
  if (c) c->e[c->n++] = obj;
}

static inline void push(marker_t *m, uint8_t *obj) {
  mchunk_t *c = m->top;
  if (st_unlikely(c == NULL || c->n == CHUNK_ENTRIES)) { push_slow(m, obj); return; }
  c->e[c->n++] = obj;
}

ST_NOINLINE static uint8_t *pop_slow(marker_t *m) {
  mchunk_t *c = chunk_shrink(m);
  return c ? c->e[--c->n] : NULL;
}

static inline uint8_t *pop(marker_t *m) {
  mchunk_t *c = m->top;
  if (st_likely(c != NULL && c->n != 0)) return c->e[--c->n];
  return pop_slow(m);
}

/* Mark the object holding p, if p points into a live one.  Two markers (the
 * collector and an assist) may both see it white and both push it: it is
 * then scanned twice, which is harmless (and rare). */
static inline __attribute__((always_inline)) void mark_found(marker_t *m, gc_span_t *s, uint8_t *slot, uint8_t *st) {
  if (st == NULL || *st == mark_value) return;
  *st = mark_value;
  m->marked += gc_obj_bytes(s);
  if (s->kind != GC_KIND_NOSCAN) push(m, slot);
}

static inline void mark_ptr(marker_t *m, const void *p) {
  gc_span_t *s = NULL;
  uint8_t *slot = NULL, *st = gc_resolve(p, &s, &slot);
  mark_found(m, s, slot, st);
}

/* mark_ptr of a p known to be inside the heap's committed range. */
static inline void mark_ptr_in(marker_t *m, const void *p) {
  gc_span_t *s = NULL;
  uint8_t *slot = NULL, *st = gc_resolve_in(p, &s, &slot);
  mark_found(m, s, slot, st);
}

void _st_gc_mark_ptr(const void *p) { mark_ptr(&coll, p); }

/* The collector's grey stack, for verify.c (world stopped) */
void _st_gc_grey_push(uint8_t *obj) { push(&coll, obj); }
uint8_t *_st_gc_grey_pop(void) { return pop(&coll); }
uint8_t _st_gc_mark_value(void) { return mark_value; }

/* A candidate pointer found in a heap object: into the edge ring (its
 * state byte prefetched), the oldest one out of it and marked. */
static inline void mark_edge(marker_t *m, const void *p) {
  if ((uintptr_t)p - (uintptr_t)gc_base >= atomic_load_explicit(&gc_top, memory_order_relaxed)) return;
  __builtin_prefetch(gc_state_at(p));
  if (m->en < EDGE_DEPTH) { m->edge[(m->ehead + m->en++) % EDGE_DEPTH] = p; return; }
  const void *q = m->edge[m->ehead];
  m->edge[m->ehead] = p;
  m->ehead = (m->ehead + 1) % EDGE_DEPTH;
  mark_ptr_in(m, q);
}

static void edges_flush(marker_t *m) {
  while (m->en) {
    const void *q = m->edge[m->ehead];
    m->ehead = (m->ehead + 1) % EDGE_DEPTH;
    m->en--;
    mark_ptr_in(m, q);
  }
}

/* Every aligned word of an object (conservative kind). */
static void scan_words(marker_t *m, const uint8_t *lo, const uint8_t *hi) {
  for (const void *const *w = (const void *const *)lo; (const void *)(w + 1) <= (const void *)hi; w++) mark_edge(m, *w);
}

static void mark_range(marker_t *m, const void *lo, const void *hi) {
  uintptr_t a = ((uintptr_t)lo + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
  for (const void *const *w = (const void *const *)a; (const void *)(w + 1) <= hi; w++) mark_ptr(m, *w);
}
void _st_gc_mark_range(const void *lo, const void *hi) { mark_range(&coll, lo, hi); }

static void visit(void *const *slot, void *ctx) { mark_edge(ctx, *slot); }

static void scan_typed(marker_t *m, uint8_t *obj, size_t size, const strata_gc_type_t *t) {
  switch (t->kind) {
    case STRATA_GC_NOSCAN: return;
    case STRATA_GC_CONSERVATIVE: scan_words(m, obj, obj + size); return;
    case STRATA_GC_BITMAP:
      for (size_t e = 0; e + t->size <= size; e += t->size) {
        uint64_t bits = t->bitmap;
        while (bits) {
          unsigned i = (unsigned)__builtin_ctzll(bits);
          bits &= bits - 1;
          if ((size_t)(i + 1) * sizeof(void *) <= t->size) mark_edge(m, *(void **)(obj + e + i * sizeof(void *)));
        }
      }
      return;
    case STRATA_GC_OFFSETS:
      for (size_t e = 0; e + t->size <= size; e += t->size)
        for (size_t i = 0; i < t->noffsets; i++)
          if (t->offsets[i] + sizeof(void *) <= t->size) mark_edge(m, *(void **)(obj + e + t->offsets[i]));
      return;
    case STRATA_GC_TRACE: t->trace(obj, size, visit, m); return;
  }
}

/* Every other object: conservative, mixed typed spans, the other kinds.
 * Leaves m's ring empty: the objects it marked are on m's stack. */
ST_NOINLINE static void scan_other(marker_t *m, gc_span_t *s, uint8_t *obj, size_t size) {
  if (s->kind == GC_KIND_CONS) scan_words(m, obj, obj + size);
  else if (s->kind == GC_KIND_TYPED) {
    const strata_gc_type_t *t = gc_type_of(s, obj);
    if (t) scan_typed(m, obj, size, t);
  }
  edges_flush(m);
}

/* Scan grey object obj with m's own stack and ring (the general path:
 * recover_overflow). */
static void scan(marker_t *m, uint8_t *obj) {
  gc_span_t *s = gc_span_of(obj);
  scan_other(m, s, obj, s->cls == GC_NCLASSES ? s->large_size : s->slot_size);
}

static size_t drain_marker(marker_t *m, size_t budget, bool share);

/* Rescan the whole heap for grey objects that fell off a full mark stack:
 * every marked object is scanned again (idempotent), until nothing new gets
 * marked.  Slow, but only when the OS refused memory for the stack. */
static void recover_overflow(void) {
  while (mark_overflow) {
    mark_overflow = 0;
    size_t top = atomic_load_explicit(&gc_top, memory_order_relaxed);
    for (size_t off = 0; off < top; off += GC_SLICE) {
      gc_span_t *s = gc_span_map[off >> GC_SLICE_SHIFT];
      if (s == NULL || !s->in_use || s->start != gc_base + off || s->kind == GC_KIND_NOSCAN) continue;
      for (uint32_t i = 0; i < s->nslots; i++) {
        uint8_t *slot = s->start + (size_t)i * s->slot_size;
        if (gc_state[gc_granule(slot)] == mark_value) {
          scan(&coll, slot);
          drain_marker(&coll, SIZE_MAX, false);
        }
      }
    }
  }
}

static void donate(void);
static _Atomic int assist_want;      /* assists found the pool empty: donate */

/* ---- the drain loop ----------------------------------------------------------
 * drain_marker keeps everything it touches per object in a local drain_t:
 * the heap's bounds and state-byte bias, the mark value, the top chunk of
 * m's grey stack as three pointers, the marked-bytes count (added to
 * m->marked every 64 objects: the pacer reads it) and the edge ring.
 * Marking stores a state byte, and a char store may alias any memory the
 * compiler cannot see is private: had these lived in globals and in *m,
 * each would be reloaded after every mark (callgrind, a tree of 16-byte
 * typed nodes: 212 instructions an object with them there, 137 in locals,
 * 118 with span->scan_bits).
 * Since drain_t's address never leaves drain_marker (the slow paths take
 * values), it stays in registers and on drain_marker's own stack.
 *
 * The protocol with m: while the loop runs, m->top is the chunk d.c and
 * d.c->n is stale (the count is d.sp - d.sb); dr_sync writes it back and
 * must come before anything that reads or changes m's stack (donate, the
 * general scan path, the end of the drain), dr_load reads it again after.
 *
 * gc_top is read once per drain.  It only grows, and whatever lies above
 * the value read was allocated after it -- while marking, born black -- so
 * a candidate found there needs no marking. */
typedef struct {
  uintptr_t base, bias;
  size_t top;
  gc_span_t **map;
  uint8_t mv;
  marker_t *m;
  mchunk_t *c;                       /* m->top */
  uint8_t **sb, **sp, **se;          /* c->e, c->e + count, c->e + CHUNK_ENTRIES (NULL: no chunk) */
  size_t marked;
  unsigned rh;                       /* the ring's next slot; NULL entries are empty */
  const void *ring[EDGE_DEPTH];
} drain_t;

static inline __attribute__((always_inline)) void dr_sync(drain_t *d) {
  if (d->c) d->c->n = (size_t)(d->sp - d->sb);
}
/* d's top chunk is now c (m->top; NULL: the stack is empty). */
static inline __attribute__((always_inline)) void dr_set(drain_t *d, mchunk_t *c) {
  d->c = c;
  d->sb = c ? c->e : NULL;
  d->sp = c ? c->e + c->n : NULL;
  d->se = c ? c->e + CHUNK_ENTRIES : NULL;
}
static inline __attribute__((always_inline)) void dr_load(drain_t *d) { dr_set(d, d->m->top); }

static inline __attribute__((always_inline)) void dr_push(drain_t *d, uint8_t *obj) {
  if (st_unlikely(d->sp == d->se)) {
    dr_sync(d);
    mchunk_t *c = chunk_grow(d->m);
    if (c == NULL) return;
    dr_set(d, c);
  }
  *d->sp++ = obj;
}

static inline __attribute__((always_inline)) uint8_t *dr_pop(drain_t *d) {
  if (st_likely(d->sp != d->sb)) return *--d->sp;
  if (d->c == NULL) return NULL;
  d->c->n = 0;
  mchunk_t *c = chunk_shrink(d->m);               /* a chunk with objects, or NULL */
  dr_set(d, c);
  return c ? *--d->sp : NULL;
}

/* Mark what in-range candidate p points into (gc_resolve_in, with the
 * drain's locals). */
static inline __attribute__((always_inline)) void dr_mark(drain_t *d, const void *p) {
  gc_span_t *s;
  uint8_t *slot, *st = gc_resolve_at(d->map, d->base, d->bias, p, &s, &slot);
  if (st == NULL || *st == d->mv) return;
  *st = d->mv;
  d->marked += gc_obj_bytes(s);
  if (s->kind != GC_KIND_NOSCAN) dr_push(d, slot);
}

/* A candidate pointer read from a heap object: its state byte prefetched,
 * into the ring; the one it replaces (EDGE_DEPTH candidates older) marked. */
static inline __attribute__((always_inline)) void dr_edge(drain_t *d, const void *p) {
  if ((uintptr_t)p - d->base >= d->top) return;
  __builtin_prefetch((const void *)(d->bias + ((uintptr_t)p >> GC_GRANULE_SHIFT)));
  const void *q = d->ring[d->rh];
  d->ring[d->rh] = p;
  d->rh = (d->rh + 1) % EDGE_DEPTH;
  if (q) dr_mark(d, q);
}

/* Mark every candidate in the ring (oldest first); returns whether there
 * was any. */
static inline __attribute__((always_inline)) bool dr_flush(drain_t *d) {
  bool any = false;
  for (unsigned i = 0; i < EDGE_DEPTH; i++) {
    const void *q = d->ring[d->rh];
    d->ring[d->rh] = NULL;
    d->rh = (d->rh + 1) % EDGE_DEPTH;
    if (q) { any = true; dr_mark(d, q); }
  }
  return any;
}

/* Scan grey object obj; returns its size.  The common case inline: a span
 * of one BITMAP type whose slot holds one element, whose pointer words
 * span->scan_bits holds (scan_typed's bound check folded in), and
 * conservative objects; everything else through m (scan_other). */
static inline __attribute__((always_inline)) size_t dr_scan(drain_t *d, uint8_t *obj) {
  gc_span_t *s = d->map[((uintptr_t)obj - d->base) >> GC_SLICE_SHIFT];
  uint64_t bits = s->scan_bits;
  if (st_likely(s->cls != GC_NCLASSES && bits != 0)) {
    do {
      unsigned i = (unsigned)__builtin_ctzll(bits);
      bits &= bits - 1;
      dr_edge(d, ((void *const *)obj)[i]);
    } while (bits);
    return s->slot_size;
  }
  size_t size = s->cls == GC_NCLASSES ? s->large_size : s->slot_size;
  if (s->kind == GC_KIND_CONS) {                   /* every word (scan_words) */
    void *const *w = (void *const *)obj, *const *end = (void *const *)(obj + (size & ~(sizeof(void *) - 1)));
    for (; w < end; w++) dr_edge(d, *w);
    return size;
  }
  dr_sync(d);
  scan_other(d->m, s, obj, size);
  dr_load(d);
  return size;
}

/* Scan grey objects from m's stack until it is empty or `budget` bytes
 * have been scanned; returns the bytes scanned.  Popped objects wait in a
 * small FIFO, prefetched, before they are scanned: by then their first
 * line is (likely) in cache.  Objects still in the FIFO when the budget
 * runs out go back on the stack.  With share (the collector's concurrent
 * drain only: never with the world stopped, when nothing would take the
 * pool back), every 64 objects it looks whether an assist waits for work,
 * and gives some away. */
#define PREFETCH_DEPTH 16
static size_t drain_marker(marker_t *m, size_t budget, bool share) {
  drain_t d;
  d.base = (uintptr_t)gc_base;
  d.bias = gc_state_bias;
  d.top = atomic_load_explicit(&gc_top, memory_order_acquire);
  d.map = gc_span_map;
  d.mv = mark_value;
  d.m = m;
  d.marked = 0;
  d.rh = 0;
  for (unsigned i = 0; i < EDGE_DEPTH; i++) d.ring[i] = NULL;
  dr_load(&d);
  uint8_t *fifo[PREFETCH_DEPTH];
  unsigned head = 0, n = 0, k = 0;
  size_t done = 0;
  for (;;) {
    if (st_unlikely((++k & 63) == 0)) {
      m->marked += d.marked;                       /* the pacer reads it (_st_gc_marked_bytes) */
      d.marked = 0;
      if (share && atomic_load_explicit(&assist_want, memory_order_relaxed)) {
        dr_sync(&d);
        donate();
        dr_load(&d);
      }
    }
    uint8_t *x;
    uint8_t *o = done < budget ? dr_pop(&d) : NULL;
    if (o == NULL && done < budget && dr_flush(&d))   /* the stack is dry: resolve the edges */
      o = dr_pop(&d);
    if (o != NULL) {
      __builtin_prefetch(o);
      if (n < PREFETCH_DEPTH) { fifo[(head + n++) % PREFETCH_DEPTH] = o; continue; }
      x = fifo[head];
      fifo[head] = o;
      head = (head + 1) % PREFETCH_DEPTH;
    } else if (n > 0 && done < budget) {
      x = fifo[head];
      head = (head + 1) % PREFETCH_DEPTH;
      n--;
    } else {
      break;
    }
    done += dr_scan(&d, x);
  }
  dr_flush(&d);                                    /* budget spent: marked, and pushed */
  while (n > 0) {                                  /* budget spent: back on the stack */
    dr_push(&d, fifo[head]);
    head = (head + 1) % PREFETCH_DEPTH;
    n--;
  }
  dr_sync(&d);
  m->marked += d.marked;
  return done;
}

/* Drain the collector's mark stack (see drain_marker). */
void _st_gc_drain(bool share) {
  mark_value = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  drain_marker(&coll, SIZE_MAX, share);
  recover_overflow();
}

bool _st_gc_is_marked(const void *p) {
  if (!gc_in_heap(p)) return true;                 /* not ours: never cleared */
  gc_span_t *s;
  uint8_t *slot, *st = gc_resolve(p, &s, &slot);
  return st && *st == gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
}

void _st_gc_mark_begin(void) {
  mark_value = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  coll.marked = 0;
  atomic_store_explicit(&assist_marked, 0, memory_order_relaxed);
}

/* t stopped (or the caller): its shade buffer onto the collector's stack. */
void _st_gc_take_thread_shade(gc_thread_t *t) {
  for (uint32_t i = 0; i < t->nshade; i++) push(&coll, t->shade[i]);
  t->nshade = 0;
}


/* ---- the mutators' side: shading ----------------------------------------------------
 * While marking is on, the write barrier and weak-reference reads shade
 * objects: a white object gets the mark value and goes into the calling
 * thread's shade buffer (no lock); a full buffer moves to shade_q under
 * mark_lock.  Both run in the caller's critical section (in_alloc), so a
 * stop never finds them half done, and the collector takes mark_lock only
 * while every mutator runs (never during a handshake). */
static pthread_mutex_t mark_lock = PTHREAD_MUTEX_INITIALIZER;
static mchunk_t *shade_q;               /* full chunks of shaded objects (mark_lock) */
static mchunk_t *shade_spare;           /* (mark_lock) */

static void shade_flush(gc_thread_t *t) {
  pthread_mutex_lock(&mark_lock);
  for (uint32_t i = 0; i < t->nshade; i++) {
    mchunk_t *c = shade_q;
    if (c == NULL || c->n == CHUNK_ENTRIES) {
      mchunk_t *n = shade_spare;
      if (n) shade_spare = NULL;
      else n = _st_os_alloc(sizeof(mchunk_t), 0);
      if (n == NULL) { mark_overflow = 1; break; }   /* the heap rescan finds it */
      n->prev = c;
      n->n = 0;
      shade_q = c = n;
    }
    c->e[c->n++] = t->shade[i];
  }
  t->nshade = 0;
  pthread_mutex_unlock(&mark_lock);
}

void _st_gc_shade(gc_thread_t *t, const void *p) {
  uint8_t mv = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  gc_span_t *s;
  uint8_t *slot, *st = gc_resolve(p, &s, &slot);
  if (st == NULL || *st == mv) return;
  *st = mv;
  t->shaded_bytes += gc_obj_bytes(s);
  if (s->kind == GC_KIND_NOSCAN) return;
  if (t->nshade == sizeof t->shade / sizeof t->shade[0]) shade_flush(t);
  t->shade[t->nshade++] = slot;
}

/* A thread that leaves hands what it shaded to shade_q (unregister). */
void _st_gc_shade_handoff(gc_thread_t *t) { if (t->nshade) shade_flush(t); }

/* Move shade_q onto the mark stack (collector; mark_lock taken here). */
void _st_gc_take_shaded(void) {
  pthread_mutex_lock(&mark_lock);
  mchunk_t *c = shade_q;
  shade_q = NULL;
  pthread_mutex_unlock(&mark_lock);
  while (c) {
    mchunk_t *prev = c->prev;
    for (size_t i = 0; i < c->n; i++) push(&coll, c->e[i]);
    pthread_mutex_lock(&mark_lock);
    if (shade_spare == NULL) { shade_spare = c; c = NULL; }
    pthread_mutex_unlock(&mark_lock);
    if (c) _st_os_release(c, sizeof(mchunk_t));
    c = prev;
  }
}

/* Anything left to mark? (collector) */


/* ---- mark assists ---------------------------------------------------------------------
 * An allocating thread that has run ahead of the marker (the pacer decides:
 * collect.c) does marking work in proportion to what it allocates, in
 * slices (_st_gc_assist), each inside its critical section:
 *   1. take a chunk of grey objects from the pool (mark_lock); none: raise
 *      assist_want, and the collector's drain gives some away (donate);
 *   2. scan them with a marker of its own (its grey stack in a chunk from
 *      aspare), until the slice's budget of scanned bytes is spent;
 *   3. put every grey object left back on the pool (mark_lock).
 * Invariant: outside a slice, every grey object is on the collector's
 * stack, the pool, a shade buffer or shade_q.  A slice never outlives a
 * stop (stops wait for the critical section), so the termination stop
 * finds all of them (_st_gc_take_pool).  The collector stops its concurrent
 * drain only when its stack, shade_q and the pool are all empty and no
 * slice holds work (assist_active): otherwise what a slice puts back would
 * be marked in the termination stop, with every thread waiting. */
#define WCHUNK 254
typedef struct wchunk { struct wchunk *next; size_t n; uint8_t *e[WCHUNK]; } wchunk_t;
static wchunk_t *pool;                /* grey objects given away (mark_lock) */
static wchunk_t *wfree;               /* empty wchunks (mark_lock) */
static mchunk_t *aspare;              /* assist stacks, for reuse (mark_lock; via prev) */
_Atomic size_t gc_assist_bytes;       /* bytes scanned by assists, all cycles */
_Atomic uint64_t gc_assist_ns;        /* time spent in assists, all threads */

static wchunk_t *wchunk_get(void) {   /* mark_lock held */
  if (wfree == NULL) {
    size_t bytes = (size_t)64 << 10, n = bytes / sizeof(wchunk_t);
    wchunk_t *a = _st_os_alloc(bytes, 0);
    if (a == NULL) return NULL;
    for (size_t i = 0; i < n; i++) { a[i].next = wfree; wfree = &a[i]; }
  }
  wchunk_t *w = wfree;
  wfree = w->next;
  w->n = 0;
  return w;
}

/* Collector: give part of its stack to the pool (an assist asked). */
static void donate(void) {
  atomic_store_explicit(&assist_want, 0, memory_order_relaxed);
  mchunk_t *c = coll.top;
  if (c == NULL || c->n < 32) return;            /* too little to share */
  pthread_mutex_lock(&mark_lock);
  wchunk_t *w = wchunk_get();
  if (w) {
    size_t k = c->n / 2 < WCHUNK ? c->n / 2 : WCHUNK;
    c->n -= k;
    memcpy(w->e, c->e + c->n, k * sizeof w->e[0]);
    w->n = k;
    w->next = pool;
    pool = w;
    atomic_fetch_add_explicit(&pool_n, 1, memory_order_release);
  }
  pthread_mutex_unlock(&mark_lock);
}

/* One assist slice (the caller is in its critical section and marking is
 * on): returns the bytes it scanned, 0 when there was no work to take. */
size_t _st_gc_assist(size_t budget) {
  if (atomic_load_explicit(&pool_n, memory_order_acquire) == 0) {
    atomic_store_explicit(&assist_want, 1, memory_order_relaxed);
    return 0;
  }
  uint64_t t0 = _st_gc_now();
  marker_t m = {0};
  pthread_mutex_lock(&mark_lock);
  wchunk_t *w = pool;
  if (w) {                             /* active first: the collector reads pool_n, then
                                          assist_active, and must not see both at 0 */
    pool = w->next;
    atomic_fetch_add_explicit(&assist_active, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&pool_n, 1, memory_order_release);
  }
  m.spare = aspare;
  if (aspare) aspare = aspare->prev;
  pthread_mutex_unlock(&mark_lock);
  if (w == NULL) { atomic_store_explicit(&assist_want, 1, memory_order_relaxed); return 0; }
  for (size_t i = 0; i < w->n; i++) push(&m, w->e[i]);
  size_t done = drain_marker(&m, budget, false);
  uint8_t *o;
  /* what is left goes back on the pool */
  pthread_mutex_lock(&mark_lock);
  w->n = 0;
  while (w && (o = pop(&m)) != NULL) {
    if (w->n == WCHUNK) {
      w->next = pool;
      pool = w;
      atomic_fetch_add_explicit(&pool_n, 1, memory_order_release);
      if ((w = wchunk_get()) == NULL) mark_overflow = 1;   /* the heap rescan finds them */
    }
    if (w) w->e[w->n++] = o;
  }
  if (w && w->n) {
    w->next = pool;
    pool = w;
    atomic_fetch_add_explicit(&pool_n, 1, memory_order_release);
  } else if (w) {
    w->next = wfree;
    wfree = w;
  }
  if (m.spare) { m.spare->prev = aspare; aspare = m.spare; }
  atomic_fetch_sub_explicit(&assist_active, 1, memory_order_release);
  pthread_mutex_unlock(&mark_lock);
  atomic_fetch_add_explicit(&assist_marked, m.marked, memory_order_relaxed);
  atomic_fetch_add_explicit(&gc_assist_bytes, done, memory_order_relaxed);
  atomic_fetch_add_explicit(&gc_assist_ns, _st_gc_now() - t0, memory_order_relaxed);
  return done ? done : 1;
}

/* Collector: move the pool onto its own stack (concurrently, or with the
 * world stopped at termination: then no slice is running). */
void _st_gc_take_pool(void) {
  if (atomic_load_explicit(&pool_n, memory_order_acquire) == 0) return;
  pthread_mutex_lock(&mark_lock);
  wchunk_t *w = pool;
  pool = NULL;
  atomic_store_explicit(&pool_n, 0, memory_order_relaxed);
  pthread_mutex_unlock(&mark_lock);
  while (w) {
    wchunk_t *next = w->next;
    for (size_t i = 0; i < w->n; i++) push(&coll, w->e[i]);
    pthread_mutex_lock(&mark_lock);
    w->next = wfree;
    wfree = w;
    pthread_mutex_unlock(&mark_lock);
    w = next;
  }
}

/* Nothing for the collector to do but wait for assist slices? */
bool _st_gc_mark_waiting(void) {
  if (!(coll.top == NULL || (coll.top->n == 0 && coll.top->prev == NULL))) return false;
  pthread_mutex_lock(&mark_lock);
  bool waiting = pool == NULL && atomic_load_explicit(&assist_active, memory_order_relaxed) != 0;
  pthread_mutex_unlock(&mark_lock);
  return waiting;
}

/* Anything left to mark?  (Collector.)  The shade queue, the pool and the
 * count of running assist slices are read together under mark_lock, under
 * which all three change: read one by one, an assist that took a chunk, or
 * put its leftovers back, between two of the reads made the marking look
 * finished while it held work -- the termination stop then marked it, with
 * every thread waiting.  (Not the whole cause of the long stops the edge
 * ring brought, see docs/gc.md section 11: those remained.) */
bool _st_gc_mark_idle(void) {
  if (!(coll.top == NULL || (coll.top->n == 0 && coll.top->prev == NULL))) return false;
  pthread_mutex_lock(&mark_lock);
  bool idle = shade_q == NULL && pool == NULL && atomic_load_explicit(&assist_active, memory_order_relaxed) == 0;
  pthread_mutex_unlock(&mark_lock);
  return idle;
}

/* The child of a fork: the parent's cycle is dropped (collect.c), and with
 * it every grey object and counter of this file -- an assist slice that
 * was running in another thread would otherwise leave assist_active set
 * for good, and the child's first cycle would wait for it forever. */
void _st_gc_mark_fork_child(void) {
  pthread_mutex_init(&mark_lock, NULL);
  coll.top = NULL;                      /* chunks of the dropped cycle: leaked, not reused */
  shade_q = NULL;
  pool = NULL;
  atomic_store(&pool_n, 0);
  atomic_store(&assist_active, 0);
  atomic_store(&assist_want, 0);
}

/* This cycle's live bytes so far: the collector's marks and the assists'. */
size_t _st_gc_marked_bytes(void) {
  return coll.marked + atomic_load_explicit(&assist_marked, memory_order_relaxed);
}
