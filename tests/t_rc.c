/* t_rc.c -- reference counts and weak references (include/strata/rc.h).
 *
 *  basics        count starts at 1, retain/release exact, destructor exactly
 *                once at the last release, zeroed 16-aligned payload, errno
 *                of bad strata_rc_new calls (NULL type, bad flags, traverse
 *                without destroy, huge size), flavour reported
 *  threads       atomic flavour: 4 threads x 1M retain/release (+ weak
 *                upgrades) on one object: final count 1, no destructor
 *                until the last release, then exactly one; 20k objects
 *                with count 4 released once by each of 4 threads: exactly
 *                one destructor each
 *  weak          upgrade works while alive and fails after the last release;
 *                inside the destructor weak refs are already cleared; the
 *                storage lives until the last weak ref (weak_count); both
 *                flavours
 *  weak race     threads upgrade weak refs while the owner drops the last
 *                strong ref: an upgrade either fails or returns an object
 *                whose destructor has not run (content checked)
 *  misuse        in child processes: release at zero, retain at zero, wrong
 *                flavour (both ways), count overflow: SIGABRT and the one
 *                stderr line "strata: rc: ..."
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/rc.h"
#include "test.h"

#define MAGIC_LIVE 0x11FE11FE11FE11FEull
#define MAGIC_DEAD 0xDEADDEADDEADDEADull

typedef struct { uint64_t magic; uint64_t id; uint64_t pat[6]; } obj_t;

static _Atomic long destroyed;
static _Atomic int weak_ok_in_dtor = 1;
static strata_weak_t dtor_weak;           /* checked from inside the destructor */

static void obj_destroy(void *p) {
  obj_t *o = p;
  CHECK(o->magic == MAGIC_LIVE, "destructor on a non-live object (magic %llx)",
        (unsigned long long)o->magic);
  if (dtor_weak.obj == p) {
    if (strata_weak_lock(dtor_weak) != NULL || !strata_weak_expired(dtor_weak)) weak_ok_in_dtor = 0;
    /* the two weak references, not three: the strong side's storage unit
     * is still held while the destructor runs (found by review) */
    if (strata_rc_weak_count(p) != 2) weak_ok_in_dtor = 0;
  }
  o->magic = MAGIC_DEAD;
  atomic_fetch_add(&destroyed, 1);
}

static const strata_rc_type_t T_PLAIN = { "plain", obj_destroy, NULL, 0 };
static const strata_rc_type_t T_ATOMIC = { "atomic", obj_destroy, NULL, STRATA_RC_ATOMIC };

static obj_t *mk(const strata_rc_type_t *t, uint64_t id) {
  obj_t *o = strata_rc_new(t, sizeof *o);
  CHECK(o != NULL, "strata_rc_new: errno %d", errno);
  o->magic = MAGIC_LIVE;
  o->id = id;
  pat_fill(o->pat, sizeof o->pat, id);
  return o;
}

static void trav_none(void *p, strata_rc_visit_fn v, void *a) { (void)p; (void)v; (void)a; }

static void basics(void) {
  CHECK(dlsym(RTLD_DEFAULT, "strata_rc_new") != NULL, "strata_rc_new not exported");
  long d0 = destroyed;
  obj_t *o = strata_rc_new(&T_PLAIN, sizeof *o);
  CHECK(o && ((uintptr_t)o & 15) == 0, "payload %p not 16-aligned", (void *)o);
  CHECK(mem_is_zero(o, sizeof *o), "payload not zeroed");
  o->magic = MAGIC_LIVE;
  CHECK(strata_rc_count(o) == 1, "initial count %u", strata_rc_count(o));
  CHECK(!strata_rc_is_atomic(o) && strata_rc_type(o) == &T_PLAIN, "flavour/type");
  for (int i = 0; i < 1000; i++) CHECK(strata_rc_retain(o) == o, "retain returns obj");
  CHECK(strata_rc_count(o) == 1001, "count %u after 1000 retains", strata_rc_count(o));
  for (int i = 0; i < 1000; i++) strata_rc_release(o);
  CHECK(strata_rc_count(o) == 1 && destroyed == d0, "count %u, destroyed early", strata_rc_count(o));
  strata_rc_release(o);
  CHECK(destroyed == d0 + 1, "destructor ran %ld times", destroyed - d0);

  obj_t *a = strata_rc_new(&T_ATOMIC, 1000);
  CHECK(a && strata_rc_is_atomic(a) && mem_is_zero(a, 1000), "atomic new");
  a->magic = MAGIC_LIVE;
  strata_arc_retain(a);
  CHECK(strata_rc_count(a) == 2, "atomic count");
  strata_arc_release(a);
  strata_arc_release(a);
  CHECK(destroyed == d0 + 2, "atomic destructor");

  errno = 0;
  CHECK(strata_rc_new(NULL, 8) == NULL && errno == EINVAL, "new(NULL type)");
  static const strata_rc_type_t bad = { "bad", NULL, NULL, 0x10 };
  errno = 0;
  CHECK(strata_rc_new(&bad, 8) == NULL && errno == EINVAL, "new(bad flags)");
  static const strata_rc_type_t nodestroy = { "nodestroy", NULL, trav_none, 0 };
  errno = 0;
  CHECK(strata_rc_new(&nodestroy, 8) == NULL && errno == EINVAL, "new(traverse without destroy)");
  errno = 0;
  volatile size_t huge = SIZE_MAX - 8;
  CHECK(strata_rc_new(&T_PLAIN, huge) == NULL && errno == ENOMEM, "new(huge)");
  static const strata_rc_type_t nodtor = { "nodtor", NULL, NULL, 0 };
  void *z = strata_rc_new(&nodtor, 0);
  CHECK(z != NULL, "new(size 0)");
  strata_rc_release(z);
  printf("basics: ok\n");
}

/* ---- threads ---- */

#define NT 4
#define ITERS 1000000
static obj_t *shared;
static strata_weak_t shared_weak;
static pthread_barrier_t bar;

static void *hammer(void *arg) {
  uint64_t seed = (uintptr_t)arg * 7919 + 1;
  pthread_barrier_wait(&bar);
  for (int i = 0; i < ITERS; i++) {
    uint64_t r = rnd_next(&seed);
    if ((r & 15) == 0) {
      obj_t *o = strata_weak_lock(shared_weak);
      CHECK(o == shared && o->magic == MAGIC_LIVE, "weak upgrade of a live object failed");
      strata_arc_release(o);
    } else if ((r & 15) == 1) {
      strata_arc_retain(shared); strata_arc_retain(shared);
      strata_arc_release(shared); strata_arc_release(shared);
    } else {
      strata_arc_retain(shared);
      strata_arc_release(shared);
    }
  }
  return NULL;
}

#define NOBJ 20000
static obj_t *objs[NOBJ];
static void *release_all(void *arg) {
  (void)arg;
  pthread_barrier_wait(&bar);
  for (int i = 0; i < NOBJ; i++) strata_arc_release(objs[i]);
  return NULL;
}

static void threads(void) {
  long d0 = destroyed;
  shared = mk(&T_ATOMIC, 1);
  shared_weak = strata_weak_new(shared);
  pthread_barrier_init(&bar, NULL, NT);
  pthread_t th[NT];
  double t0 = now_sec();
  for (long i = 0; i < NT; i++) th[i] = test_spawn(hammer, (void *)i);
  for (int i = 0; i < NT; i++) test_join(th[i]);
  CHECK(strata_rc_count(shared) == 1, "count %u after %d threads x %d pairs",
        strata_rc_count(shared), NT, ITERS);
  CHECK(destroyed == d0, "destructor ran while a reference remained");
  CHECK(strata_rc_weak_count(shared) == 1, "weak count %u", strata_rc_weak_count(shared));
  strata_arc_release(shared);
  CHECK(destroyed == d0 + 1, "destructor ran %ld times", destroyed - d0);
  CHECK(strata_weak_lock(shared_weak) == NULL, "weak upgrade after death");
  strata_weak_release(shared_weak);
  double t1 = now_sec();

  /* the last release races between threads: exactly one destructor each */
  d0 = destroyed;
  for (int i = 0; i < NOBJ; i++) {
    objs[i] = mk(&T_ATOMIC, (uint64_t)i);
    for (int k = 1; k < NT; k++) strata_arc_retain(objs[i]);
  }
  for (long i = 0; i < NT; i++) th[i] = test_spawn(release_all, (void *)i);
  for (int i = 0; i < NT; i++) test_join(th[i]);
  CHECK(destroyed == d0 + NOBJ, "destructors %ld for %d objects", destroyed - d0, NOBJ);
  pthread_barrier_destroy(&bar);
  printf("threads: ok (%d x %d atomic pairs in %.2f s)\n", NT, ITERS, t1 - t0);
}

/* ---- weak ---- */

static void weak_one(const strata_rc_type_t *t) {
  long d0 = destroyed;
  obj_t *o = mk(t, 5);
  strata_weak_t w = strata_weak_new(o);
  CHECK(w.obj == o, "weak_new");
  strata_weak_t w2 = strata_weak_copy(w);
  CHECK(w2.obj == o && strata_rc_weak_count(o) == 2, "weak copy, count %u", strata_rc_weak_count(o));
  CHECK(strata_rc_count(o) == 1, "weak refs change the strong count");
  obj_t *u = strata_weak_lock(w);
  CHECK(u == o && strata_rc_count(o) == 2, "upgrade while alive");
  CHECK(!strata_weak_expired(w), "expired while alive");
  if (strata_rc_is_atomic(o)) strata_arc_release(u); else strata_rc_release(u);
  dtor_weak = w;
  weak_ok_in_dtor = 1;
  if (strata_rc_is_atomic(o)) strata_arc_release(o); else strata_rc_release(o);
  dtor_weak.obj = NULL;
  CHECK(destroyed == d0 + 1, "destructor did not run at the last strong release");
  CHECK(weak_ok_in_dtor, "weak reference still upgradable, or weak count not 2, inside the destructor");
  CHECK(strata_weak_lock(w) == NULL && strata_weak_lock(w2) == NULL, "upgrade after death");
  CHECK(strata_weak_expired(w) && strata_weak_expired(w2), "not expired after death");
  /* the storage is still there: the payload holds what the destructor left */
  CHECK(o->magic == MAGIC_DEAD && pat_check(o->pat, sizeof o->pat, 5) == 0, "storage kept");
  CHECK(strata_rc_weak_count(o) == 2, "weak count %u after death", strata_rc_weak_count(o));
  errno = 0;
  strata_weak_t w3 = strata_weak_new(o);
  CHECK(w3.obj == NULL && errno == EINVAL, "weak_new of a dead object");
  strata_weak_release(w);
  strata_weak_release(w2);
  strata_weak_t none = { NULL };
  strata_weak_release(none);
  CHECK(strata_weak_lock(none) == NULL && strata_weak_expired(none), "empty weak");
}

static void weak_basic(void) {
  weak_one(&T_PLAIN);
  weak_one(&T_ATOMIC);
  printf("weak: ok\n");
}

/* ---- weak upgrade racing the last release ---- */

#define WR_ROUNDS 3000
static strata_weak_t wr_weak;
static _Atomic int wr_round, wr_done, wr_started;
static _Atomic long wr_got, wr_failed;

static void *upgrader(void *arg) {
  (void)arg;
  for (int r = 0; r < WR_ROUNDS; r++) {
    while (atomic_load(&wr_round) < r) sched_yield();
    strata_weak_t w = strata_weak_copy(wr_weak);     /* main holds a weak ref too */
    atomic_fetch_add(&wr_started, 1);
    for (int k = 0;; k++) {                          /* until the owner lets go */
      obj_t *o = strata_weak_lock(w);
      if (!o) { atomic_fetch_add(&wr_failed, 1); break; }
      CHECK(o->magic == MAGIC_LIVE && pat_check(o->pat, sizeof o->pat, o->id) == 0,
            "weak upgrade returned a destroyed object (magic %llx)", (unsigned long long)o->magic);
      atomic_fetch_add(&wr_got, 1);
      strata_arc_release(o);
      if ((k & 63) == 63) sched_yield();             /* 2 cores: let the owner run */
    }
    strata_weak_release(w);
    atomic_fetch_add(&wr_done, 1);
  }
  return NULL;
}

static void weak_race(void) {
  long d0 = destroyed;
  pthread_t th[3];
  wr_round = -1;
  for (long i = 0; i < 3; i++) th[i] = test_spawn(upgrader, (void *)i);
  for (int r = 0; r < WR_ROUNDS; r++) {
    obj_t *o = mk(&T_ATOMIC, (uint64_t)r);
    wr_weak = strata_weak_new(o);
    atomic_store(&wr_done, 0);
    atomic_store(&wr_started, 0);
    atomic_store(&wr_round, r);                      /* go */
    /* release at varying moments: before, as and after the upgraders start;
     * they upgrade until the release, so it always races live upgrades */
    if (r % 3) while (atomic_load(&wr_started) < (r % 3 == 1 ? 1 : 3)) sched_yield();
    for (volatile int spin = 0; spin < (r % 32) * 50; spin++) {}
    strata_arc_release(o);                           /* the last strong ref */
    while (atomic_load(&wr_done) < 3) sched_yield();
    CHECK(destroyed == d0 + r + 1, "round %d: %ld destructors", r, destroyed - d0);
    CHECK(strata_weak_lock(wr_weak) == NULL, "upgrade after the last release");
    strata_weak_release(wr_weak);
  }
  for (int i = 0; i < 3; i++) test_join(th[i]);
  CHECK(wr_failed == 3 * WR_ROUNDS, "every upgrader sees the release once: %ld", (long)wr_failed);
  printf("weak race: ok (%d rounds, %ld upgrades won, %ld refused)\n", WR_ROUNDS,
         (long)wr_got, (long)wr_failed);
}

/* ---- misuse in child processes ---- */

typedef void (*case_fn)(void);


static void expect_abort(const char *name, case_fn fn, const char *msg) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: expected SIGABRT, got %s %d; stderr: %s",
        name, WIFSIGNALED(st) ? "signal" : "exit status",
        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
  CHECK(strncmp(buf, "strata: rc: ", 12) == 0 && strstr(buf, msg) != NULL,
        "%s: stderr lacks \"%s\": %s", name, msg, buf);
  CHECK(strchr(buf, '\n') == buf + strlen(buf) - 1, "%s: not one line: %s", name, buf);
}

static void release_at_zero(void) {
  obj_t *o = mk(&T_PLAIN, 1);
  strata_weak_t w = strata_weak_new(o);          /* keeps the storage */
  (void)w;
  strata_rc_release(o);
  strata_rc_release(o);
}
static void release_at_zero_atomic(void) {
  obj_t *o = mk(&T_ATOMIC, 1);
  strata_weak_t w = strata_weak_new(o);
  (void)w;
  strata_arc_release(o);
  strata_arc_release(o);
}
static void retain_dead(void) {
  obj_t *o = mk(&T_ATOMIC, 1);
  strata_weak_t w = strata_weak_new(o);
  (void)w;
  strata_arc_release(o);
  strata_arc_retain(o);
}
static void wrong_flavour_rc(void) { strata_rc_retain(mk(&T_ATOMIC, 1)); }
static void wrong_flavour_arc(void) { strata_arc_release(mk(&T_PLAIN, 1)); }
static void overflow_plain(void) {
  obj_t *o = mk(&T_PLAIN, 1);
  /* white-box: set the count to STRATA_RC_MAX through the public layout */
  *strata_rc_hdr_word(o) += (uint64_t)(STRATA_RC_MAX - 1) * STRATA_RC_ONE;
  CHECK(strata_rc_count(o) == STRATA_RC_MAX, "count");
  strata_rc_retain(o);                           /* MAX + 1: reported */
}
static void overflow_saturates(void) {
  strata_option_set("abort_on_error", 0);
  long d0 = destroyed;
  obj_t *o = mk(&T_ATOMIC, 1);
  *strata_rc_hdr_word(o) += (uint64_t)(STRATA_RC_MAX - 1) * STRATA_RC_ONE;
  strata_arc_retain(o);
  uint32_t c = strata_rc_count(o);
  /* saturated far from 0 and from 2^32: a release cannot free it */
  if (c < (1u << 28) || c > STRATA_RC_MAX) { fprintf(stderr, "count %u not saturated\n", c); _exit(3); }
  strata_arc_release(o);
  if (destroyed != d0) _exit(4);
  _exit(0);
}
static void release_zero_ignored(void) {
  strata_option_set("abort_on_error", 0);
  long d0 = destroyed;
  obj_t *o = mk(&T_PLAIN, 1);
  strata_weak_t w = strata_weak_new(o);
  strata_rc_release(o);
  strata_rc_release(o);                          /* reported, ignored */
  if (strata_rc_count(o) != 0 || destroyed != d0 + 1) _exit(5);
  strata_weak_release(w);
  _exit(0);
}

static void misuse(void) {
  expect_abort("release at zero", release_at_zero, "release of an object whose count is already zero");
  expect_abort("release at zero (atomic)", release_at_zero_atomic, "count is already zero");
  expect_abort("retain of a dead object", retain_dead, "retain of an object whose count is zero");
  expect_abort("rc retain on atomic", wrong_flavour_rc, "strata_rc_retain on an atomic object");
  expect_abort("arc release on plain", wrong_flavour_arc, "strata_arc_release on a non-atomic object");
  expect_abort("count overflow", overflow_plain, "reference count overflow");
  char buf[4096];
  int st = test_in_child(overflow_saturates, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "overflow") && strstr(buf, "ignored"),
        "saturation with abort_on_error=0: status %d, stderr %s", st, buf);
  st = test_in_child(release_zero_ignored, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "already zero") && strstr(buf, "; ignored"),
        "release at zero with abort_on_error=0: status %d, stderr %s", st, buf);
  printf("misuse: ok\n");
}

int main(void) {
  strata_rc_stats_t st0, st1;
  strata_rc_stats_get(&st0);
  basics();
  weak_basic();
  threads();
  weak_race();
  misuse();
  strata_rc_stats_get(&st1);
  CHECK(st1.objects_live == st0.objects_live, "objects_live %llu -> %llu: storage leaked",
        (unsigned long long)st0.objects_live, (unsigned long long)st1.objects_live);
  printf("t_rc: all passed\n");
  return 0;
}
