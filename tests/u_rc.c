/* u_rc.c -- the rc layer's out-of-memory paths, through the test hook
 * _st_rc_fail_alloc (src/rc/internal.h), and the header layout.
 *
 *  layout        the public header constants match the internal struct;
 *                flags of a fresh object (WANT only for traced types)
 *  buffer OOM    a release that cannot buffer its object leaves it WANTing
 *                (counted in buffer_failures); a later release buffers it
 *                and the cycle is collected
 *  scan OOM      the scan stack cannot grow in phase 2 (a live ring) or in
 *                phase 3 (a garbage ring): strata_rc_collect returns -1 with
 *                ENOMEM, nothing is destroyed, the candidates are kept, no
 *                collector mark is left (strata_rc_check); with memory back
 *                the same collection succeeds
 * Each case runs in a fresh thread: the scan stack is per thread and kept
 * between collections, so only a thread's first growth can be made to fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "rc/internal.h"
#include "test.h"

typedef struct rnode { struct rnode *next; } rnode_t;
static long destroyed;
static void r_destroy(void *p) {
  rnode_t *n = p;
  destroyed++;
  rnode_t *x = n->next;
  n->next = NULL;
  if (x) strata_rc_release(x);
}
static void r_traverse(void *p, strata_rc_visit_fn visit, void *arg) { visit(((rnode_t *)p)->next, arg); }
static const strata_rc_type_t T_R = { "rnode", r_destroy, r_traverse, 0 };
static const strata_rc_type_t T_PLAIN = { "plain", NULL, NULL, STRATA_RC_ATOMIC };

static rnode_t *ring(int n) {
  rnode_t *first = strata_rc_new(&T_R, sizeof *first), *prev = first;
  CHECK(first != NULL, "new");
  for (int i = 1; i < n; i++) {
    rnode_t *x = strata_rc_new(&T_R, sizeof *x);
    CHECK(x != NULL, "new");
    prev->next = x;
    prev = x;
  }
  prev->next = strata_rc_retain(first);
  return first;
}

static void layout(void) {
  CHECK(offsetof(st_rc_hdr_t, rc) == 0 && sizeof(st_rc_hdr_t) == STRATA_RC_HDR, "header layout");
  rnode_t *r = strata_rc_new(&T_R, sizeof *r);
  void *p = strata_rc_new(&T_PLAIN, 8);
  st_rc_hdr_t *hr = rc_hdr(r), *hp = rc_hdr(p);
  CHECK((hr->rc & RC_FLAGS) == RC_WANT && rc_traced(hr) && !rc_atomic(hr) && hr->weak == 1 && hr->link == 0,
        "traced object flags %llx", (unsigned long long)hr->rc);
  CHECK((hp->rc & RC_FLAGS) == RC_A && !rc_traced(hp) && rc_atomic(hp), "atomic object flags");
  CHECK(rc_count(hr->rc) == 1 && rc_type(hr) == &T_R, "count/type");
  strata_rc_release(r);
  strata_arc_release(p);
}

static void *buffer_oom(void *arg) {
  (void)arg;
  strata_rc_stats_t a, b;
  strata_rc_stats_get(&a);
  rnode_t *x = ring(5);
  strata_rc_retain(x);
  _st_rc_fail_alloc = 1;
  strata_rc_release(x);                         /* cannot buffer */
  _st_rc_fail_alloc = 0;
  strata_rc_stats_get(&b);
  CHECK(b.buffer_failures == a.buffer_failures + 1, "buffer failure not counted");
  CHECK(strata_rc_candidates() == 0 && (rc_hdr(x)->rc & RC_WANT) && !(rc_hdr(x)->rc & RC_BUF),
        "unbuffered object must still WANT");
  CHECK(rc_hdr(x)->weak == 1, "no unit taken");
  strata_rc_release(x);                         /* buffers now */
  CHECK(strata_rc_candidates() == 1, "buffered on retry");
  long d0 = destroyed;
  CHECK(strata_rc_collect() == 5 && destroyed == d0 + 5, "collected after the retry");
  return NULL;
}

static void *scan_oom(void *arg) {
  int live = (int)(long)arg;
  rnode_t *x = ring(50);
  if (live) strata_rc_retain(x);
  strata_rc_release(x);
  CHECK(strata_rc_candidates() == 1, "candidate");
  long d0 = destroyed;
  strata_rc_stats_t a, b;
  strata_rc_stats_get(&a);
  _st_rc_fail_alloc = 1;
  errno = 0;
  long r = strata_rc_collect();
  _st_rc_fail_alloc = 0;
  strata_rc_stats_get(&b);
  CHECK(r == -1 && errno == ENOMEM, "collect with no memory: %ld errno %d", r, errno);
  CHECK(destroyed == d0 && b.collections == a.collections, "nothing may change");
  CHECK(strata_rc_candidates() == 1 && strata_rc_check() == 0, "candidates kept, no marks left");
  for (rnode_t *y = x->next; y != x; y = y->next)
    CHECK(rc_hdr(y)->link == 0 && !(rc_hdr(y)->rc & RC_DEAD) && rc_count(rc_hdr(y)->rc) == 1, "ring member touched");
  r = strata_rc_collect();
  CHECK(r == (live ? 0 : 50) && destroyed == d0 + (live ? 0 : 50), "retry: %ld", r);
  if (live) {
    strata_rc_release(x);
    CHECK(strata_rc_collect() == 50, "live ring after its release");
  }
  return NULL;
}

int main(void) {
  strata_rc_set_threshold(0);
  layout();
  test_join(test_spawn(buffer_oom, NULL));
  test_join(test_spawn(scan_oom, (void *)1L));   /* phase 2: ScanBlack pushes */
  test_join(test_spawn(scan_oom, (void *)0L));   /* phase 3: the grouping walk pushes */
  strata_rc_stats_t st;
  strata_rc_stats_get(&st);
  CHECK(st.objects_live == 0, "objects_live %llu", (unsigned long long)st.objects_live);
  printf("u_rc: all passed\n");
  return 0;
}
