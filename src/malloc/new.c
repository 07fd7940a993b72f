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
 *
 * The nothrow forms return NULL when the memory is not there, and must do
 * so even when the new_handler they call throws (std::bad_alloc, as the
 * standard allows it to): C cannot catch, and the exception would leave a
 * noexcept function, which ends the program in std::terminate (found by
 * review, 2026-11-28).  So with a handler installed they hand the call to
 * the C++ runtime's own nothrow form, the next definition after ours
 * (libstdc++'s since GCC 9: the throwing form, which is ours, inside
 * try/catch(...)).  Without a handler nothing can throw: NULL at once.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#define ST_VG_OUTER   /* operator new and delete call the wrappers (valgrind.c) */
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
typedef void *(*nothrow_fn)(size_t, const nothrow_t *);
typedef void *(*nothrow_aligned_fn)(size_t, size_t, const nothrow_t *);

/* The C++ runtime's definition of the nothrow form `name` (not ours), or
 * NULL: looked up once (dlsym is slow, and may malloc). */
static void *runtime_nothrow(const char *name, void *_Atomic *cache, void *self) {
  void *f = atomic_load_explicit(cache, memory_order_acquire);
  if (f == NULL) {
    f = dlsym(RTLD_NEXT, name);
    if (f == NULL || f == self) f = (void *)1;       /* none: remembered too */
    atomic_store_explicit(cache, f, memory_order_release);
  }
  return f == (void *)1 ? NULL : f;
}

/* A nothrow form (0 new, 1 new[], 2 aligned new, 3 aligned new[]) found
 * no memory for n bytes (aligned to a): see the file comment. */
ST_NOINLINE static void *nothrow_slow(int form, size_t n, size_t a, const nothrow_t *t);

/* new */
API void *_Znwm(size_t n) { return new_impl(n); }
API void *_Znam(size_t n) { return new_impl(n); }
API void *_ZnwmRKSt9nothrow_t(size_t n, const nothrow_t *t) { void *p = strata_malloc(n); return p ? p : nothrow_slow(0, n, 0, t); }
API void *_ZnamRKSt9nothrow_t(size_t n, const nothrow_t *t) { void *p = strata_malloc(n); return p ? p : nothrow_slow(1, n, 0, t); }
API void *_ZnwmSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a); }
API void *_ZnamSt11align_val_t(size_t n, size_t a) { return new_aligned(n, a); }
API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t) { void *p = strata_aligned_alloc(a, n); return p ? p : nothrow_slow(2, n, a, t); }
API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const nothrow_t *t) { void *p = strata_aligned_alloc(a, n); return p ? p : nothrow_slow(3, n, a, t); }

static void *nothrow_slow(int form, size_t n, size_t a, const nothrow_t *t) {
  static const char *const name[4] = { "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
                                       "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t" };
  static void *const self[4] = { (void *)_ZnwmRKSt9nothrow_t, (void *)_ZnamRKSt9nothrow_t,
                                 (void *)_ZnwmSt11align_val_tRKSt9nothrow_t, (void *)_ZnamSt11align_val_tRKSt9nothrow_t };
  static void *_Atomic cache[4];
  new_handler_t h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
  if (h == NULL) return NULL;                    /* nothing can throw */
  void *f = runtime_nothrow(name[form], &cache[form], self[form]);
  if (f == NULL) return new_slow(n, a, 1);       /* no runtime to catch with (a static program) */
  return form < 2 ? ((nothrow_fn)f)(n, t) : ((nothrow_aligned_fn)f)(n, a, t);
}

/* delete */
API void _ZdlPv(void *p) { strata_free(p); }
API void _ZdaPv(void *p) { strata_free(p); }
API void _ZdlPvm(void *p, size_t n) { _st_free_checked(p, n, 0, ST_FREE_DELETE); }
API void _ZdaPvm(void *p, size_t n) { _st_free_checked(p, n, 0, ST_FREE_DELETE); }
API void _ZdlPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; strata_free(p); }
API void _ZdaPvRKSt9nothrow_t(void *p, const nothrow_t *t) { (void)t; strata_free(p); }
API void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; strata_free(p); }
API void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; strata_free(p); }
API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { _st_free_checked(p, n, a, ST_FREE_DELETE); }
API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { _st_free_checked(p, n, a, ST_FREE_DELETE); }
API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; strata_free(p); }
API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const nothrow_t *t) { (void)a; (void)t; strata_free(p); }
#endif
