/* Verification of a mark (gc_debug=2).
 * With the world stopped after marking: walk everything reachable from the
 * roots again, with a visited bitmap of its own, and check that every
 * object reached carries this cycle's mark.  An unmarked one would be swept
 * while reachable; it is reported with the object that points to it.
 *
 * Stale stack words.  When the termination did not scan a thread's stack
 * again (the first stop took a snapshot), the words of that stack below
 * where the first stop's scan began may be left over from frames that were
 * dead at the snapshot (uninitialized slots of frames pushed since) and
 * point to objects already garbage then: unmarked, and harmless, since no
 * program reads an uninitialized slot.  Every other word is exact: it was
 * scanned at the snapshot, or written since, when whatever it points to was
 * reachable -- hence reachable at the snapshot or born black.  So the walk
 * runs twice: first from the exact roots, reporting; then from the possibly
 * stale words (and the frame copies of threads in blocking regions), only
 * counting what it finds unmarked. */
#include <string.h>
#include "gc/internal.h"

static uint64_t *vmap;
static size_t vmap_bytes;
static size_t vbad, vstale;
static bool vquiet;                    /* the second walk: count, do not report */
static const void *vparent;
static const char *vroot;              /* the kind of root, while vparent is NULL */
static uint8_t vmark;                  /* this cycle's mark value */

static void verify_ptr(const void *p) {
  gc_span_t *s;
  uint8_t *slot, *stp = gc_resolve(p, &s, &slot);
  if (stp == NULL) return;
  uint8_t st = *stp;
  size_t g = gc_granule(slot);
  if (vmap[g / 64] & ((uint64_t)1 << (g % 64))) return;
  vmap[g / 64] |= (uint64_t)1 << (g % 64);
  if (st != vmark) {
    if (vquiet) {
      vstale++;
    } else if (vbad++ < 8) {
      uint8_t pst = vparent && gc_in_heap(vparent) ? gc_state[gc_granule(vparent)] : 0;
      gc_span_t *ps = vparent && gc_in_heap(vparent) ? gc_span_of(vparent) : NULL;
      _st_message("strata: gc verify: reachable object %p (state %u, class %u, kind %u) not marked (mark %u); "
                  "referenced from %p (state %u, class %u; root: %s)\n", (void *)slot, st, s->cls, s->kind,
                  vmark, vparent, pst, ps ? ps->cls : 999u, vparent ? "-" : vroot);
    }
  }
  if (s->kind != GC_KIND_NOSCAN) _st_gc_grey_push(slot);
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
size_t _st_gc_verify_marks(bool exact) {
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
  vmark = _st_gc_mark_value();
  vbad = vstale = 0;
  vquiet = false;
  vparent = NULL;
  vroot = "range";
  _st_gc_ranges_visit(verify_range);
  for (int pass = 0; pass < 2; pass++) {
    vquiet = pass == 1;
    for (gc_thread_t *t = gc_threads; t; t = t->next) {
      if (t->stop_sp == NULL && t != gc_self) continue;
      vparent = NULL;
      const uint8_t *lo, *hi;
      _st_gc_stack_range(t, (const uint8_t *)t->stop_sp, &lo, &hi);
      /* [lo, mid) may hold stale words (see the top) */
      const uint8_t *mid = !exact && t->scan_lo > lo && t->scan_lo <= hi ? t->scan_lo : lo;
      vroot = "stack";
      if (pass == 0) verify_range(mid, hi);
      else verify_range(lo, mid);
      /* with a snapshot, a register may hold a word the thread computed
       * rather than loaded (gc_resolve's span start, say): the address of
       * an object that was garbage at the snapshot, so stale like the words
       * below the scan (it was reported as lost: found by review,
       * 2026-11-28) */
      vroot = "saved registers";
      if (pass == !exact) verify_range(t->regs, t->regs + sizeof t->regs);
      vroot = "shadow frame";
      if (pass == 0)
        for (strata_gc_frame_t *f = t->frames; f; f = f->prev)
          for (size_t i = 0; i < f->n; i++) verify_ptr(f->slots[i]);
    }
    uint8_t *o;
    while ((o = _st_gc_grey_pop()) != NULL) verify_scan(o);
  }
  vquiet = false;
  if (vstale && _st_option(OPT_GC_DEBUG) >= 3)
    _st_message("strata: gc verify: %zu unmarked objects held only by stale stack words\n", vstale);
  return vbad;
}
