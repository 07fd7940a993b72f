/* C++ operator new and delete, every form, written in C so libstrata.so does
 * not depend on libstdc++.
 *
 * Throwing new follows the standard loop: try; on failure call the installed
 * new_handler (std::get_new_handler, a weak reference) and retry; with no
 * handler throw std::bad_alloc.  The throw is done by hand through the C++
 * ABI (__cxa_allocate_exception / __cxa_throw, weak references): a program
 * that can call operator new has libstdc++ loaded, so they resolve; if they
 * do not, we abort with a message.  This file is built with -fexceptions so
 * the exception can unwind through it.
 */
#include <errno.h>
#include <stdlib.h>
#include "malloc/internal.h"

#if STRATA_OVERRIDE
typedef void (*new_handler_t)(void);
extern new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void *__cxa_allocate_exception(size_t) __attribute__((weak));
extern void __cxa_throw(void *, void *, void (*)(void *)) __attribute__((weak, noreturn));
extern char _ZTISt9bad_alloc[] __attribute__((weak));     /* typeinfo for std::bad_alloc */
extern char _ZTVSt9bad_alloc[] __attribute__((weak));     /* vtable for std::bad_alloc */
extern void _ZNSt9bad_allocD1Ev(void *) __attribute__((weak));

ST_COLD static void throw_bad_alloc(void) {
  if (__cxa_allocate_exception && __cxa_throw && _ZTISt9bad_alloc && _ZTVSt9bad_alloc) {
    void **e = __cxa_allocate_exception(sizeof(void *));
    *e = _ZTVSt9bad_alloc + 2 * sizeof(void *);    /* vptr: past offset-to-top and typeinfo */
    __cxa_throw(e, _ZTISt9bad_alloc, _ZNSt9bad_allocD1Ev);
  }
  _st_message("strata: operator new: out of memory and no C++ runtime to throw std::bad_alloc\n");
  abort();
}

/* Returns 1 to retry after a new_handler ran, 0 when there is none. */
static int call_new_handler(void) {
  new_handler_t h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
  if (h == NULL) return 0;
  h();
  return 1;
}

ST_NOINLINE static void *new_slow(size_t n, size_t align, int nothrow) {
  for (;;) {
    void *p = align <= 16 ? strata_malloc(n) : strata_aligned_alloc(align, n);
    if (p) return p;
    if (!call_new_handler()) {
      if (nothrow) return NULL;
      throw_bad_alloc();
    }
  }
}

static inline void *new_impl(size_t n) {
  void *p = strata_malloc(n);
  return st_likely(p != NULL) ? p : new_slow(n, 0, 0);
}
static inline void *new_aligned(size_t n, size_t a) {
  void *p = strata_aligned_alloc(a, n);
  return st_likely(p != NULL) ? p : new_slow(n, a, 0);
}

#define API STRATA_API
typedef struct nothrow_s nothrow_t;
/* new */
API void *_Znwm(size_t n) { return new_impl(n); }
API void *_Znam(size_t n) { return new_impl(n); }
API void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *t) { (void)t; void *p = strata_malloc(n); return p ? p : new_slow(n, 0, 1); }
API void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *t) { (void)t; void *p = strata_malloc(n); return p ? p : new_slow(n, 0, 1); }
API void *_ZnwmSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a); }
API void *_ZnamSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a); }
API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t) { (void)t; void *p = strata_aligned_alloc(a, n); return p ? p : new_slow(n, a, 1); }
API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t) { (void)t; void *p = strata_aligned_alloc(a, n); return p ? p : new_slow(n, a, 1); }
/* delete */
API void _ZdlPv(void *p) { strata_free(p); }
API void _ZdaPv(void *p) { strata_free(p); }
API void _ZdlPvm(void *p, size_t n) { _st_free_checked(p, n, 0); }
API void _ZdaPvm(void *p, size_t n) { _st_free_checked(p, n, 0); }
API void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; strata_free(p); }
API void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; strata_free(p); }
API void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; strata_free(p); }
API void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; strata_free(p); }
API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { _st_free_checked(p, n, a); }
API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { _st_free_checked(p, n, a); }
API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; strata_free(p); }
API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; strata_free(p); }
#endif
