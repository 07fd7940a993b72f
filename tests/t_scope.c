/* t_scope.c -- scope cleanup (include/strata/scope.h) against libstrata.so.
 *
 * Frees are counted through the STRATA_SCOPE_FREE hook, arena destruction
 * through a destructor registered on each arena, pool puts through the
 * pool's live count; every case asserts exact counts:
 *
 * exits:   fall-through, early return, goto out of a nested block, break
 *          and continue in loops (one free per iteration, none twice),
 *          several variables (freed in reverse declaration order)
 * move:    strata_move hands the pointer out (not freed, variable NULL),
 *          on every exit path; a moved-from variable may be reassigned
 * arena:   STRATA_AUTO_ARENA destroyed on return/break/goto, not after move
 * pool:    STRATA_POOLED put back on every exit, not after move
 * scratch: STRATA_ARENA_SCOPE restores the arena's mark at scope exit
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/malloc.h"
static int nfree;
static void *freed[64];
static void count_free(void *p) {
  if (nfree < 64) freed[nfree] = p;
  nfree++;
  strata_free(p);
}
#define STRATA_SCOPE_FREE count_free
#include "strata/scope.h"
#include "test.h"

/* ---- strata_free on every exit -------------------------------------------- */
static int fall_through(void) {
  STRATA_AUTOFREE char *p = strata_malloc(10);
  CHECK(p, "malloc");
  memset(p, 1, 10);
  return p[3];
}
static int early_return(int early) {
  STRATA_AUTOFREE int *p = strata_malloc(sizeof *p * 4);
  if (early) return -1;
  STRATA_AUTOFREE int *q = strata_malloc(sizeof *q);
  *q = 5;
  return *q;
}
static int via_goto(int n) {
  int r = 0;
  {
    STRATA_AUTOFREE char *p = strata_malloc(32);
    for (int i = 0; i < n; i++) {
      STRATA_AUTOFREE char *inner = strata_malloc(8);
      if (i == 2) goto out;           /* leaves both scopes */
      r++;
    }
  }
out:
  return r;
}
static int loops(int n) {
  int kept = 0;
  for (int i = 0; i < n; i++) {
    STRATA_AUTOFREE char *p = strata_malloc(16);
    if (i % 3 == 0) continue;
    if (i == 7) break;
    kept++;
  }
  int j = 0;
  while (1) {
    STRATA_AUTOFREE char *p = strata_malloc(16);
    if (++j == 4) break;
  }
  return kept;
}
static void *hand_out(int fail) {
  STRATA_AUTOFREE char *p = strata_malloc(64);
  if (fail) return NULL;
  strcpy(p, "mine now");
  return strata_move(p);
}
static char *order_a, *order_b;
static void reverse_order(void) {
  STRATA_AUTOFREE char *a = strata_malloc(1);
  STRATA_AUTOFREE char *b = strata_malloc(1);
  order_a = a;
  order_b = b;
}

static void test_free_paths(void) {
  nfree = 0; CHECK(fall_through() == 1 && nfree == 1, "fall-through frees %d", nfree);
  nfree = 0; CHECK(early_return(1) == -1 && nfree == 1, "early return frees %d", nfree);
  nfree = 0; CHECK(early_return(0) == 5 && nfree == 2, "normal return frees %d", nfree);
  nfree = 0; CHECK(via_goto(10) == 2 && nfree == 4, "goto frees %d (want 3 inner + 1 outer)", nfree);
  nfree = 0; CHECK(via_goto(0) == 0 && nfree == 1, "goto not taken frees %d", nfree);
  /* for: i = 0..7 -> 8 iterations each free once (continue at 0,3,6; break at 7); while: 4 */
  nfree = 0; CHECK(loops(100) == 4 && nfree == 12, "loops free %d", nfree);
  nfree = 0;
  char *s = hand_out(0);
  CHECK(s && strcmp(s, "mine now") == 0 && nfree == 0, "moved pointer freed (%d)", nfree);
  strata_free(s);
  CHECK(hand_out(1) == NULL && nfree == 1, "failure path frees %d", nfree);
  nfree = 0;
  reverse_order();
  CHECK(nfree == 2 && freed[0] == order_b && freed[1] == order_a, "cleanup order not reverse declaration");
  nfree = 0;
  {
    STRATA_AUTOFREE char *p = strata_malloc(8);
    char *q = strata_move(p);
    CHECK(p == NULL && q, "move leaves NULL");
    p = strata_malloc(8);                 /* reassigned: this one is freed */
    strata_free(q);
  }
  CHECK(nfree == 1, "reassigned after move: %d frees", nfree);
}

/* ---- arenas --------------------------------------------------------------- */
static int ndestroyed;
static void on_destroy(void *arg) { (void)arg; ndestroyed++; }

static strata_arena_t *new_counted(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  CHECK(a && strata_arena_on_release(a, on_destroy, NULL) == 0, "arena");
  return a;
}
static int arena_paths(int how) {
  STRATA_AUTO_ARENA strata_arena_t *a = new_counted();
  for (int i = 0; i < 5; i++) {
    STRATA_AUTO_ARENA strata_arena_t *per_iter = new_counted();
    strata_arena_alloc(per_iter, 100);
    if (how == 1 && i == 1) return 1;
    if (how == 2 && i == 2) break;
    if (how == 3 && i == 3) goto done;
    if (i % 2) continue;
  }
done:
  return 0;
}
static strata_arena_t *arena_hand_out(void) {
  STRATA_AUTO_ARENA strata_arena_t *a = new_counted();
  strata_arena_strdup(a, "kept");
  return strata_move(a);
}
static void test_arena_paths(void) {
  ndestroyed = 0; arena_paths(0); CHECK(ndestroyed == 6, "loop end: %d arenas destroyed", ndestroyed);
  ndestroyed = 0; arena_paths(1); CHECK(ndestroyed == 3, "return: %d", ndestroyed);
  ndestroyed = 0; arena_paths(2); CHECK(ndestroyed == 4, "break: %d", ndestroyed);
  ndestroyed = 0; arena_paths(3); CHECK(ndestroyed == 5, "goto: %d", ndestroyed);
  ndestroyed = 0;
  strata_arena_t *a = arena_hand_out();
  CHECK(a && ndestroyed == 0, "moved arena destroyed");
  strata_arena_destroy(a);
  CHECK(ndestroyed == 1, "explicit destroy");
}

/* ---- pools and scratch scopes --------------------------------------------- */
struct node { int v; struct node *next; };
static strata_pool_t *pool;
static size_t live(void) { strata_pool_stats_t st; strata_pool_stats(pool, &st); return st.live; }

static struct node *pool_paths(int how) {
  STRATA_POOLED(pool, struct node, a);
  a->v = 1;
  for (int i = 0; i < 4; i++) {
    STRATA_POOLED(pool, struct node, b);
    b->v = i;
    if (how == 1 && i == 2) return NULL;
    if (how == 2 && i == 1) break;
    if (i == 0) continue;
  }
  if (how == 3) return strata_move(a);
  return NULL;
}
static void test_pool_paths(void) {
  pool = strata_pool_new(sizeof(struct node), 0, 0, 0);
  CHECK(pool, "pool");
  for (int how = 0; how <= 2; how++) {
    pool_paths(how);
    CHECK(live() == 0, "case %d: %zu objects not put back", how, live());
  }
  struct node *n = pool_paths(3);
  CHECK(n && n->v == 1 && live() == 1, "moved pool object: live %zu", live());
  strata_pool_put(pool, n);
  CHECK(live() == 0, "live after put");
  strata_pool_destroy(pool);
}

static void test_scratch(void) {
  strata_arena_t *a = strata_arena_new(NULL);
  strata_arena_stats_t s0, s1;
  strata_arena_alloc(a, 100);
  strata_arena_stats(a, &s0);
  for (int i = 0; i < 3; i++) {
    STRATA_ARENA_SCOPE(a);
    for (int k = 0; k < 1000; k++) strata_arena_alloc(a, 100);
    strata_arena_on_release(a, on_destroy, NULL);
    if (i == 1) continue;
  }
  strata_arena_stats(a, &s1);
  CHECK(s1.used == s0.used && s1.dtors == 0, "scratch scope: used %zu -> %zu, dtors %zu", s0.used, s1.used, s1.dtors);
  strata_arena_destroy(a);
}

int main(void) {
  alarm(120);                          /* a hang (e.g. a broken release loop) fails */
  test_free_paths();
  ndestroyed = 0;
  test_arena_paths();
  test_pool_paths();
  ndestroyed = 0;
  test_scratch();
  CHECK(ndestroyed == 3, "scratch destructors ran %d times", ndestroyed);
  printf("t_scope: all passed\n");
  return 0;
}
