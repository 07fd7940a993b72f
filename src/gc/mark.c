/* Marking: the grey stack, scanning objects by kind, and the roots.
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
#include <errno.h>
#include <setjmp.h>
#include <string.h>
#include "gc/internal.h"

/* setjmp here only spills the registers into a buffer that is scanned; no
 * longjmp ever returns to it, so no local can be clobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

#define CHUNK_ENTRIES ((size_t)32768 - 2)
typedef struct mchunk { struct mchunk *prev; size_t n; uint8_t *e[CHUNK_ENTRIES]; } mchunk_t;

static mchunk_t *stack_top;          /* current chunk (gc_lock) */
static mchunk_t *spare;              /* one kept for reuse */
static uint8_t mark_value;           /* this cycle's, set by mark_begin */
size_t gc_marked_bytes;
static int mark_overflow;            /* a chunk could not be mapped */

typedef struct { void *lo, *hi; } range_t;
static range_t *roots;
static size_t nroots, roots_cap;

static void push(uint8_t *obj) {
  mchunk_t *c = stack_top;
  if (st_unlikely(c == NULL || c->n == CHUNK_ENTRIES)) {
    mchunk_t *n = spare;
    if (n) spare = NULL;
    else n = _st_os_alloc(sizeof(mchunk_t), 0);
    if (n == NULL) { mark_overflow = 1; return; }
    n->prev = c;
    n->n = 0;
    stack_top = c = n;
  }
  c->e[c->n++] = obj;
}

static uint8_t *pop(void) {
  mchunk_t *c = stack_top;
  while (c && c->n == 0) {
    stack_top = c->prev;
    if (spare == NULL) spare = c; else _st_os_release(c, sizeof(mchunk_t));
    c = stack_top;
  }
  return c ? c->e[--c->n] : NULL;
}

/* Mark the object holding p, if p points into a live one. */
static inline void mark_ptr(const void *p) {
  gc_span_t *s;
  uint8_t *slot, *st = gc_resolve(p, &s, &slot);
  if (st == NULL || *st == mark_value) return;
  *st = mark_value;
  gc_marked_bytes += gc_obj_bytes(s);
  if (s->kind != GC_KIND_NOSCAN) push(slot);
}

void _st_gc_mark_ptr(const void *p) { mark_ptr(p); }

void _st_gc_mark_range(const void *lo, const void *hi) {
  uintptr_t a = ((uintptr_t)lo + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
  for (const void *const *w = (const void *const *)a; (const void *)(w + 1) <= hi; w++) mark_ptr(*w);
}

static void visit(void *const *slot, void *ctx) { (void)ctx; mark_ptr(*slot); }

static void scan_typed(uint8_t *obj, size_t size, const strata_gc_type_t *t) {
  switch (t->kind) {
    case STRATA_GC_NOSCAN: return;
    case STRATA_GC_CONSERVATIVE: _st_gc_mark_range(obj, obj + size); return;
    case STRATA_GC_BITMAP:
      for (size_t e = 0; e + t->size <= size; e += t->size) {
        uint64_t m = t->bitmap;
        while (m) {
          unsigned i = (unsigned)__builtin_ctzll(m);
          m &= m - 1;
          if ((size_t)(i + 1) * sizeof(void *) <= t->size) mark_ptr(*(void **)(obj + e + i * sizeof(void *)));
        }
      }
      return;
    case STRATA_GC_OFFSETS:
      for (size_t e = 0; e + t->size <= size; e += t->size)
        for (size_t i = 0; i < t->noffsets; i++)
          if (t->offsets[i] + sizeof(void *) <= t->size) mark_ptr(*(void **)(obj + e + t->offsets[i]));
      return;
    case STRATA_GC_TRACE: t->trace(obj, size, visit, NULL); return;
  }
}

static void scan(uint8_t *obj) {
  gc_span_t *s = gc_span_of(obj);
  size_t size = s->cls == GC_NCLASSES ? s->large_size : s->slot_size;
  if (s->kind == GC_KIND_CONS) _st_gc_mark_range(obj, obj + size);
  else if (s->kind == GC_KIND_TYPED) {
    const strata_gc_type_t *t = gc_type_of(s, obj);
    if (t) scan_typed(obj, size, t);
  }
}

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
          scan(slot);
          uint8_t *o;
          while ((o = pop()) != NULL) scan(o);
        }
      }
    }
  }
}

/* Drain the mark stack.  Popped objects wait in a small FIFO, prefetched,
 * before they are scanned: by then their first line is (likely) in cache. */
#define PREFETCH_DEPTH 8
void _st_gc_drain(void) {
  mark_value = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
  uint8_t *fifo[PREFETCH_DEPTH];
  unsigned head = 0, n = 0;
  for (;;) {
    uint8_t *o = pop();
    if (o != NULL) {
      __builtin_prefetch(o);
      if (n < PREFETCH_DEPTH) { fifo[(head + n++) % PREFETCH_DEPTH] = o; continue; }
      uint8_t *x = fifo[head];
      fifo[head] = o;
      head = (head + 1) % PREFETCH_DEPTH;
      scan(x);
    } else if (n > 0) {
      uint8_t *x = fifo[head];
      head = (head + 1) % PREFETCH_DEPTH;
      n--;
      scan(x);
    } else {
      break;
    }
  }
  recover_overflow();
}

bool _st_gc_is_marked(const void *p) {
  if (!gc_in_heap(p)) return true;                 /* not ours: never cleared */
  gc_span_t *s;
  uint8_t *slot, *st = gc_resolve(p, &s, &slot);
  return st && *st == gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
}

/* ---- roots -------------------------------------------------------------------- */

int _st_gc_roots_add(void *lo, void *hi) {
  if (lo == NULL || hi == NULL || (uintptr_t)hi < (uintptr_t)lo) { errno = EINVAL; return -1; }
  if (nroots == roots_cap) {
    size_t cap = roots_cap ? roots_cap * 2 : 64;
    range_t *n = _st_os_alloc(st_align_up(cap * sizeof(range_t), _st_os_page_size()), 0);
    if (n == NULL) { errno = ENOMEM; return -1; }
    if (roots) {
      memcpy(n, roots, nroots * sizeof(range_t));
      _st_os_release(roots, st_align_up(roots_cap * sizeof(range_t), _st_os_page_size()));
    }
    roots = n;
    roots_cap = cap;
  }
  roots[nroots].lo = lo;
  roots[nroots].hi = hi;
  nroots++;
  return 0;
}

int _st_gc_roots_remove(void *lo, void *hi) {
  for (size_t i = nroots; i-- > 0;)
    if (roots[i].lo == lo && roots[i].hi == hi) { roots[i] = roots[--nroots]; return 0; }
  errno = EINVAL;
  return -1;
}

/* The stack of t as it was stopped (or of the caller, from here). */
/* The live part of t's stack, given where it was stopped: from sp up on
 * the stack sp is in (its own or a fiber's); a fiber stack whole when sp is
 * in neither. */
static void stack_range(const gc_thread_t *t, const uint8_t *sp, const uint8_t **lo_out,
                        const uint8_t **hi_out) {
  const uint8_t *lo = t->stack_lo, *hi = t->stack_hi;
  if (t->alt_lo && sp >= t->alt_lo && sp < t->alt_hi) { lo = t->alt_lo; hi = t->alt_hi; }
  if (sp >= lo && sp < hi) lo = sp;
  else if (t->alt_lo) { lo = t->alt_lo; hi = t->alt_hi; }
  *lo_out = lo;
  *hi_out = hi;
}

/* Bytes of stack a scan of t would read now (t stopped, blocking or self). */
size_t _st_gc_stack_bytes(const gc_thread_t *t) {
  const uint8_t *lo, *hi;
  if (t != gc_self && t->stop_sp == NULL) return 0;
  stack_range(t, t == gc_self ? (const uint8_t *)__builtin_frame_address(0) : (const uint8_t *)t->stop_sp, &lo, &hi);
  return (size_t)(hi - lo);
}

static void mark_stack_of(gc_thread_t *t, const uint8_t *sp) {
  const uint8_t *lo, *hi;
  stack_range(t, sp, &lo, &hi);
  _st_gc_mark_range(lo, hi);
  _st_gc_mark_range(t->regs, t->regs + sizeof t->regs);
  for (strata_gc_frame_t *f = t->frames; f; f = f->prev)
    for (size_t i = 0; i < f->n; i++) mark_ptr(f->slots[i]);
}


void _st_gc_mark_begin(void) {
  mark_value = gc_mark_value(atomic_load_explicit(&gc_epoch, memory_order_relaxed));
}

/* The registered ranges (gc_lock held: add/remove take it). */
void _st_gc_mark_ranges(void) {
  for (size_t i = 0; i < nroots; i++) _st_gc_mark_range(roots[i].lo, roots[i].hi);
}

/* Thread t, stopped (or blocking, or the caller): its stack, registers,
 * frames and what its barrier shaded. */
void _st_gc_mark_thread(gc_thread_t *t) {
  if (t == gc_self) {
    jmp_buf regs;                                   /* spill the caller's registers */
    setjmp(regs);
    mark_stack_of(t, (const uint8_t *)__builtin_frame_address(0));
    _st_gc_mark_range(&regs, (uint8_t *)&regs + sizeof regs);
  } else if (t->stop_sp != NULL) {                /* NULL: it could not be stopped */
    mark_stack_of(t, (const uint8_t *)t->stop_sp);
  }
  for (uint32_t i = 0; i < t->nshade; i++) push(t->shade[i]);
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
    for (size_t i = 0; i < c->n; i++) push(c->e[i]);
    pthread_mutex_lock(&mark_lock);
    if (shade_spare == NULL) { shade_spare = c; c = NULL; }
    pthread_mutex_unlock(&mark_lock);
    if (c) _st_os_release(c, sizeof(mchunk_t));
    c = prev;
  }
}

/* Anything left to mark? (collector) */
bool _st_gc_mark_idle(void) {
  return (stack_top == NULL || (stack_top->n == 0 && stack_top->prev == NULL)) && shade_q == NULL;
}

void _st_gc_mark_fork_child(void) { pthread_mutex_init(&mark_lock, NULL); }

/* ---- verification (gc_debug=1) ------------------------------------------------------
 * With the world stopped after marking: walk everything reachable from the
 * roots again, with a visited bitmap of its own, and check that every
 * object reached carries this cycle's mark.  An unmarked one would be swept
 * while reachable; it is reported with the object that points to it. */
static uint64_t *vmap;
static size_t vmap_bytes;
static size_t vbad;
static const void *vparent;

static void verify_ptr(const void *p) {
  gc_span_t *s;
  uint8_t *slot, *stp = gc_resolve(p, &s, &slot);
  if (stp == NULL) return;
  uint8_t st = *stp;
  size_t g = gc_granule(slot);
  if (vmap[g / 64] & ((uint64_t)1 << (g % 64))) return;
  vmap[g / 64] |= (uint64_t)1 << (g % 64);
  if (st != mark_value) {
    if (vbad++ < 8) {
      uint8_t pst = vparent && gc_in_heap(vparent) ? gc_state[gc_granule(vparent)] : 0;
      gc_span_t *ps = vparent && gc_in_heap(vparent) ? gc_span_of(vparent) : NULL;
      _st_message("strata: gc verify: reachable object %p (state %u, class %u, kind %u) not marked (mark %u); "
                  "referenced from %p (state %u, class %u)\n", (void *)slot, st, s->cls, s->kind, mark_value,
                  vparent, pst, ps ? ps->cls : 999u);
    }
  }
  if (s->kind != GC_KIND_NOSCAN) push(slot);
}

static void verify_visit(void *const *slot, void *ctx) { (void)ctx; verify_ptr(*slot); }

static void verify_range(const void *lo, const void *hi) {
  uintptr_t a = ((uintptr_t)lo + sizeof(void *) - 1) & ~(uintptr_t)(sizeof(void *) - 1);
  for (const void *const *w = (const void *const *)a; (const void *)(w + 1) <= hi; w++) verify_ptr(*w);
}

static void verify_scan(uint8_t *obj) {
  gc_span_t *s = gc_span_of(obj);
  size_t size = s->cls == GC_NCLASSES ? s->large_size : s->slot_size;
  vparent = obj;
  if (s->kind == GC_KIND_CONS) verify_range(obj, obj + size);
  else if (s->kind == GC_KIND_TYPED) {
    const strata_gc_type_t *t = gc_type_of(s, obj);
    if (t == NULL || t->kind == STRATA_GC_NOSCAN) return;
    if (t->kind == STRATA_GC_CONSERVATIVE) verify_range(obj, obj + size);
    else if (t->kind == STRATA_GC_TRACE) t->trace(obj, size, verify_visit, NULL);
    else if (t->kind == STRATA_GC_BITMAP) {
      for (size_t e = 0; e + t->size <= size; e += t->size)
        for (uint64_t m = t->bitmap; m; m &= m - 1) {
          unsigned i = (unsigned)__builtin_ctzll(m);
          if ((size_t)(i + 1) * sizeof(void *) <= t->size) verify_ptr(*(void **)(obj + e + i * sizeof(void *)));
        }
    } else {
      for (size_t e = 0; e + t->size <= size; e += t->size)
        for (size_t i = 0; i < t->noffsets; i++)
          if (t->offsets[i] + sizeof(void *) <= t->size) verify_ptr(*(void **)(obj + e + t->offsets[i]));
    }
  }
}

/* World stopped, marking done (gc_lock held).  Returns the number of
 * reachable objects found unmarked (0: the mark is complete). */
size_t _st_gc_verify_marks(void) {
  size_t top = atomic_load_explicit(&gc_top, memory_order_relaxed);
  size_t need = st_align_up((top >> GC_GRANULE_SHIFT) / 8 + 8, _st_os_page_size());
  if (need > vmap_bytes) {
    if (vmap) _st_os_release(vmap, vmap_bytes);
    vmap = _st_os_alloc(need, 0);
    vmap_bytes = vmap ? need : 0;
    if (vmap == NULL) return 0;
  } else {
    memset(vmap, 0, vmap_bytes);
  }
  vbad = 0;
  vparent = NULL;
  for (size_t i = 0; i < nroots; i++) verify_range(roots[i].lo, roots[i].hi);
  for (gc_thread_t *t = gc_threads; t; t = t->next) {
    if (t->stop_sp == NULL && t != gc_self) continue;
    vparent = NULL;
    const uint8_t *lo, *hi;
    stack_range(t, (const uint8_t *)t->stop_sp, &lo, &hi);
    verify_range(lo, hi);
    verify_range(t->regs, t->regs + sizeof t->regs);
    for (strata_gc_frame_t *f = t->frames; f; f = f->prev)
      for (size_t i = 0; i < f->n; i++) verify_ptr(f->slots[i]);
  }
  uint8_t *o;
  while ((o = pop()) != NULL) verify_scan(o);
  return vbad;
}
