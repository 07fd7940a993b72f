/* san_rc.c -- reference counting under UBSan and TSan (make sanitize).
 *
 * Built together with the library sources with -DSTRATA_OVERRIDE=0.
 *  1. 4 threads x 300k atomic retain/release pairs, weak copies and weak
 *     upgrades on one object: final count exact, one destructor.
 *  2. Weak upgrades racing the last release: 3 threads upgrade while the
 *     owner drops the last strong ref; a successful upgrade must see the
 *     object's content intact (TSan checks the acq_rel protocol: the
 *     destructor's writes never race with an upgrader's reads).
 *  3. Atomic traced objects released by several threads (the buffering CAS
 *     WANT -> BUF from many threads), then a collection at a quiescent point.
 *  4. 4 threads each building and collecting their own non-atomic cycles at
 *     the same time (thread-local candidate buffers, orphans at exit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/malloc.h"
#include "strata/rc.h"
#include "test.h"

#define LIVE 0x5A5A5A5A5A5A5A5Aull
typedef struct node { uint64_t magic; uint64_t val; struct node *next; } node_t;

static _Atomic long destroyed;
static void destroy(void *p) {
  node_t *n = p;
  CHECK(n->magic == LIVE, "destroyed twice");
  n->magic = 0;
  n->val = 0;
  atomic_fetch_add(&destroyed, 1);
  node_t *x = n->next;
  n->next = NULL;
  if (x) { if (strata_rc_is_atomic(x)) strata_arc_release(x); else strata_rc_release(x); }
}
static void traverse(void *p, strata_rc_visit_fn visit, void *arg) { visit(((node_t *)p)->next, arg); }

static const strata_rc_type_t T_A = { "a", destroy, NULL, STRATA_RC_ATOMIC };
static const strata_rc_type_t T_AT = { "at", destroy, traverse, STRATA_RC_ATOMIC };
static const strata_rc_type_t T_N = { "n", destroy, traverse, 0 };

static node_t *mk(const strata_rc_type_t *t, uint64_t v) {
  node_t *n = strata_rc_new(t, sizeof *n);
  CHECK(n != NULL, "strata_rc_new");
  n->magic = LIVE;
  n->val = v;
  return n;
}

/* 1 */
static node_t *one;
static strata_weak_t one_w;
static pthread_barrier_t bar;
static void *hammer(void *arg) {
  uint64_t s = (uintptr_t)arg + 1;
  pthread_barrier_wait(&bar);
  for (int i = 0; i < 300000; i++) {
    uint64_t r = rnd_next(&s) & 7;
    if (r == 0) {
      strata_weak_t w = strata_weak_copy(one_w);
      node_t *n = strata_weak_lock(w);
      CHECK(n == one && n->val == 42, "upgrade of a live object");
      strata_arc_release(n);
      strata_weak_release(w);
    } else {
      strata_arc_release(strata_arc_retain(one));
    }
  }
  return NULL;
}

/* 2 */
static strata_weak_t race_w;
static _Atomic int round_no = -1, done, started;
#define ROUNDS 2000
static void *upgrader(void *arg) {
  (void)arg;
  for (int r = 0; r < ROUNDS; r++) {
    while (atomic_load(&round_no) < r) sched_yield();
    strata_weak_t w = strata_weak_copy(race_w);
    atomic_fetch_add(&started, 1);
    for (int k = 0; k < 200; k++) {
      node_t *n = strata_weak_lock(w);
      if (!n) break;
      CHECK(n->magic == LIVE && n->val == (uint64_t)r, "upgrade returned a destroyed object");
      strata_arc_release(n);
    }
    strata_weak_release(w);
    atomic_fetch_add(&done, 1);
  }
  return NULL;
}

/* 3 */
#define NSH 64
static node_t *sh[NSH];
static void *release_shared(void *arg) {
  (void)arg;
  pthread_barrier_wait(&bar);
  for (int i = 0; i < NSH; i++) strata_arc_release(sh[i]);
  return NULL;
}

/* 4 */
static void *own_cycles(void *arg) {
  long d = 0;
  for (int round = 0; round < 200; round++) {
    node_t *first = mk(&T_N, 0), *prev = first;
    int len = 1 + (int)(((uintptr_t)arg + (uintptr_t)round) % 17);
    for (int i = 1; i < len; i++) { node_t *x = mk(&T_N, (uint64_t)i); prev->next = x; prev = x; }
    prev->next = strata_rc_retain(first);
    strata_rc_release(first);
    long r = strata_rc_collect();
    /* more than len: an exited thread's self-loop adopted from the orphans */
    CHECK(r >= len && r <= len + 3, "thread collect: %ld of %d", r, len);
    d += r - len;
  }
  node_t *left = mk(&T_N, 1);                 /* left for the orphan set */
  left->next = strata_rc_retain(left);
  strata_rc_release(left);
  return (void *)d;
}

int main(void) {
  strata_rc_set_threshold(0);
  /* 1 */
  one = mk(&T_A, 42);
  one_w = strata_weak_new(one);
  pthread_barrier_init(&bar, NULL, 4);
  pthread_t th[4];
  for (long i = 0; i < 4; i++) th[i] = test_spawn(hammer, (void *)i);
  for (int i = 0; i < 4; i++) test_join(th[i]);
  CHECK(strata_rc_count(one) == 1 && destroyed == 0, "count %u", strata_rc_count(one));
  strata_arc_release(one);
  CHECK(destroyed == 1 && strata_weak_lock(one_w) == NULL, "last release");
  strata_weak_release(one_w);
  printf("san_rc: counts ok\n");

  /* 2 */
  for (long i = 0; i < 3; i++) th[i] = test_spawn(upgrader, (void *)i);
  for (int r = 0; r < ROUNDS; r++) {
    node_t *n = mk(&T_A, (uint64_t)r);
    race_w = strata_weak_new(n);
    atomic_store(&done, 0);
    atomic_store(&started, 0);
    atomic_store(&round_no, r);
    if (r & 1) while (atomic_load(&started) == 0) sched_yield();
    strata_arc_release(n);
    while (atomic_load(&done) < 3) sched_yield();
    CHECK(strata_weak_lock(race_w) == NULL, "upgrade after death");
    strata_weak_release(race_w);
  }
  for (int i = 0; i < 3; i++) test_join(th[i]);
  printf("san_rc: weak race ok\n");

  /* 3: atomic traced pairs a <-> b, released by 4 threads, collected at a
   * quiescent point (after the joins) */
  long d0 = destroyed;
  for (int i = 0; i < NSH; i += 2) {
    sh[i] = mk(&T_AT, 1);
    sh[i + 1] = mk(&T_AT, 2);
    sh[i]->next = strata_arc_retain(sh[i + 1]);
    sh[i + 1]->next = strata_arc_retain(sh[i]);
    for (int k = 0; k < 3; k++) { strata_arc_retain(sh[i]); strata_arc_retain(sh[i + 1]); }
  }
  for (long i = 0; i < 4; i++) th[i] = test_spawn(release_shared, (void *)i);
  for (int i = 0; i < 4; i++) test_join(th[i]);
  long r = strata_rc_collect();              /* adopts the exited threads' candidates */
  CHECK(r == NSH && destroyed == d0 + NSH, "shared cycles: %ld reclaimed", r);
  printf("san_rc: shared atomic cycles ok\n");

  /* 4 */
  for (long i = 0; i < 4; i++) th[i] = test_spawn(own_cycles, (void *)i);
  long adopted = 0;
  for (int i = 0; i < 4; i++) adopted += (long)test_join(th[i]);
  r = strata_rc_collect();
  CHECK(r + adopted == 4, "orphaned self-loops: %ld + %ld adopted by threads", r, adopted);
  strata_rc_stats_t st;
  strata_rc_stats_get(&st);
  CHECK(st.objects_live == 0, "objects_live %llu", (unsigned long long)st.objects_live);
  pthread_barrier_destroy(&bar);
  printf("san_rc: all passed\n");
  return 0;
}
