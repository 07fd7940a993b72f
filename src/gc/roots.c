/* The roots: the registered ranges, and each thread's stack (its own, or
 * the fiber stack it runs on, and its own while it runs on a fiber),
 * saved registers and shadow frames.  Marking them is mark.c's
 * conservative range marking (_st_gc_mark_range) over each.
 *
 * Invariants: roots[0..nroots) are the ranges strata_gc_add_roots
 * registered and not removed (gc_lock held to change or read them: add and
 * remove take it, and so does every cycle that marks them); a thread is
 * scanned only while it is stopped, blocking, or is the caller, from where
 * it stopped (stop_sp) up, so its live frames and nothing above its top.
 */
#include <errno.h>
#include <setjmp.h>
#include <string.h>
#include "gc/internal.h"

/* setjmp here only spills the registers into a buffer that is scanned; no
 * longjmp ever returns to it, so no local can be clobbered. */
#pragma GCC diagnostic ignored "-Wclobbered"

typedef struct { void *lo, *hi; } range_t;
static range_t *roots;
static size_t nroots, roots_cap;

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

/* The live part of t's stack, given where it was stopped: from sp up on
 * the stack sp is in (its own or a fiber's); a fiber stack whole when sp is
 * in neither. */
void _st_gc_stack_range(const gc_thread_t *t, const uint8_t *sp, const uint8_t **lo_out,
                        const uint8_t **hi_out) {
  const uint8_t *lo = t->stack_lo, *hi = t->stack_hi;
  if (t->alt_lo && sp >= t->alt_lo && sp < t->alt_hi) { lo = t->alt_lo; hi = t->alt_hi; }
  if (sp >= lo && sp < hi) lo = sp;
  else if (t->alt_lo) { lo = t->alt_lo; hi = t->alt_hi; }
  *lo_out = lo;
  *hi_out = hi;
}

/* The thread's own stack while it runs on a fiber: from where it left it
 * (set_stack) to its top; else empty.  The stacks of other suspended
 * fibers are not known (gc.h). */
static bool own_while_on_fiber(const gc_thread_t *t, const uint8_t *sp, const uint8_t **lo, const uint8_t **hi) {
  if (t->own_sp == NULL || t->alt_lo == NULL || sp < t->alt_lo || sp >= t->alt_hi) return false;
  *lo = t->own_sp;
  *hi = t->stack_hi;
  return true;
}

/* Bytes of stack a scan of t would read now (t stopped, blocking or self). */
size_t _st_gc_stack_bytes(const gc_thread_t *t) {
  const uint8_t *lo, *hi;
  if (t != gc_self && t->stop_sp == NULL) return 0;
  const uint8_t *sp = t == gc_self ? _st_gc_sp_below() : (const uint8_t *)t->stop_sp, *olo, *ohi;
  _st_gc_stack_range(t, sp, &lo, &hi);
  return (size_t)(hi - lo) + (own_while_on_fiber(t, sp, &olo, &ohi) ? (size_t)(ohi - olo) : 0);
}

static void mark_stack_of(gc_thread_t *t, const uint8_t *sp) {
  const uint8_t *lo, *hi, *olo, *ohi;
  _st_gc_stack_range(t, sp, &lo, &hi);
  t->scan_lo = lo;
  _st_gc_mark_range(lo, hi);
  if (own_while_on_fiber(t, sp, &olo, &ohi)) _st_gc_mark_range(olo, ohi);
  _st_gc_mark_range(t->regs, t->regs + sizeof t->regs);
  for (strata_gc_frame_t *f = t->frames; f; f = f->prev)
    for (size_t i = 0; i < f->n; i++) _st_gc_mark_ptr(f->slots[i]);
}


/* The registered ranges (gc_lock held: add/remove take it). */
size_t _st_gc_ranges_bytes(void) {
  size_t n = 0;
  for (size_t i = 0; i < nroots; i++) n += (size_t)((const uint8_t *)roots[i].hi - (const uint8_t *)roots[i].lo);
  return n;
}

void _st_gc_mark_ranges(void) {
  for (size_t i = 0; i < nroots; i++) _st_gc_mark_range(roots[i].lo, roots[i].hi);
}

/* Thread t, stopped (or blocking, or the caller): its stack, registers,
 * frames and what its barrier shaded. */
void _st_gc_mark_thread(gc_thread_t *t) {
  if (t == gc_self) {
    __builtin_unwind_init();                        /* callee-saved registers into this frame
                                                       (setjmp mangles rbp) */
    jmp_buf regs;                                   /* spill the caller's registers */
    memset(&regs, 0, sizeof regs);                  /* (its signal-mask part stays unwritten) */
    setjmp(regs);
    mark_stack_of(t, _st_gc_sp_below());
    _st_gc_mark_range(&regs, (uint8_t *)&regs + sizeof regs);
  } else if (t->stop_sp != NULL) {                /* NULL: it could not be stopped */
    mark_stack_of(t, (const uint8_t *)t->stop_sp);
  }
  _st_gc_take_thread_shade(t);
}

/* fn over each registered range (gc_lock held): verify.c's walk */
void _st_gc_ranges_visit(void (*fn)(const void *lo, const void *hi)) {
  for (size_t i = 0; i < nroots; i++) fn(roots[i].lo, roots[i].hi);
}
