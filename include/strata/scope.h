/* strata/scope.h -- scope cleanup: C's unique_ptr, with gcc's and clang's
 * __attribute__((cleanup)).
 *
 * A variable declared with one of these is released when it leaves scope,
 * whatever the exit: falling off the end, return, goto out of the block,
 * break, continue.  (Not longjmp, and not a thread cancelled without
 * -fexceptions: the compiler runs cleanups only on normal exits.)
 *
 *   STRATA_AUTOFREE char *buf = strata_malloc(n);   // strata_free(buf) at exit
 *   STRATA_AUTO_ARENA strata_arena_t *a = strata_arena_new(NULL);  // destroyed
 *   STRATA_POOLED(pool, struct node, nd);   // struct node *nd = strata_pool_get(pool),
 *                                           // put back at exit
 *   STRATA_ARENA_SCOPE(a);                  // mark now, restore at exit
 *
 * Ownership hand-out: strata_move(var) yields the pointer and sets the
 * variable to NULL, so the cleanup does nothing:
 *
 *   STRATA_AUTOFREE char *s = strata_malloc(n);
 *   if (!fill(s)) return NULL;     // freed
 *   return strata_move(s);         // handed to the caller, not freed
 *
 * Cleanups run in reverse order of declaration.  A NULL variable is left
 * alone.  The free function used by STRATA_AUTOFREE is STRATA_SCOPE_FREE
 * (default strata_free); define it before including this header to count or
 * redirect (the tests do).
 */
#ifndef STRATA_SCOPE_H
#define STRATA_SCOPE_H

#include <string.h>
#include "strata/malloc.h"
#include "strata/arena.h"

#if !defined(__GNUC__) && !defined(__clang__)
#error "strata/scope.h needs __attribute__((cleanup)) (gcc or clang)"
#endif

#ifndef STRATA_SCOPE_FREE
#define STRATA_SCOPE_FREE strata_free
#endif

/* `unused`: a variable that only owns (never read) is not a warning under
 * clang.  The cleanup functions receive the address of the variable.  Any pointer
 * type is read through memcpy, so one function serves every type. */
static inline void strata__scope_free(void *var) {
  void *p;
  memcpy(&p, var, sizeof p);
  if (p) STRATA_SCOPE_FREE(p);
}
static inline void strata__scope_arena(strata_arena_t **var) {
  if (*var) strata_arena_destroy(*var);
}

#define STRATA_AUTOFREE   __attribute__((cleanup(strata__scope_free), unused))
#define STRATA_AUTO_ARENA __attribute__((cleanup(strata__scope_arena), unused))

/* Yield the variable's value and set it to NULL (a GNU statement
 * expression; the variable is evaluated twice, so pass a plain name). */
#define strata_move(var) \
  __extension__({ __typeof__(var) strata__mv = (var); (var) = NULL; strata__mv; })

/* Pool objects: a hidden guard, declared after the variable (so it runs
 * first), puts back whatever the variable holds at scope exit. */
typedef struct strata__pool_guard { strata_pool_t *pool; void *var; } strata__pool_guard_t;
static inline void strata__scope_pool(strata__pool_guard_t *g) {
  void *p;
  memcpy(&p, g->var, sizeof p);
  if (p) strata_pool_put(g->pool, p);
}
#define STRATA__CAT2(a, b) a##b
#define STRATA__CAT(a, b) STRATA__CAT2(a, b)
#define STRATA_POOLED(pool, type, name)                                          \
  type *name = (type *)strata_pool_get(pool);                                    \
  __attribute__((cleanup(strata__scope_pool), unused))                          \
  strata__pool_guard_t STRATA__CAT(strata__guard_, name) = { (pool), &name }

/* Scratch scope on an arena: a mark taken now, restored at scope exit
 * (children made and destructors registered inside are released too). */
typedef struct strata__arena_scope { strata_arena_t *a; strata_arena_mark_t m; } strata__arena_scope_t;
static inline void strata__scope_restore(strata__arena_scope_t *s) {
  if (s->a) strata_arena_restore(s->a, s->m);
}
#define STRATA_ARENA_SCOPE(arena)                                                \
  __attribute__((cleanup(strata__scope_restore), unused))                        \
  strata__arena_scope_t STRATA__CAT(strata__scope_, __LINE__) =                  \
      { (arena), strata_arena_mark(arena) }

#endif
