/* t_pool.c -- object pools (include/strata/arena.h) against libstrata.so.
 *
 * basic:     100k objects of a plain pool: distinct, aligned, contiguous
 *            (every object at base + i * stride inside one range), content
 *            pattern per object checked after random put/get churn; stats
 *            exact (live, free, carved); put all back: live 0
 * align:     sizes 1..4000 x alignments 8..4096: every object aligned
 * args:      EINVAL (size 0, > 1 MiB, align 3/24/8192, unknown flag) and
 *            max_objects: the (max+1)th get is NULL with ENOMEM, a put
 *            makes room again; owns() on good, interior, foreign pointers
 * threads:   4 threads on one thread-safe pool, 150k ops each, random
 *            get/put with a pattern per object checked before every put,
 *            and objects handed between threads through a locked exchange
 *            (got by one thread, put by another); after join every object
 *            is back: live 0, cached 0, free == capacity, and the pool
 *            hands out each carved slot exactly once again
 * exit:      a thread's cache is flushed when it exits; a destroyed pool's
 *            slot reused by a new pool with a stale cache in another thread
 * many:      70 thread-safe pools (more than the 64 cache slots: the rest
 *            use the locked path) from 3 threads, content checked, every
 *            object back
 * misuse:    in fork children: a pointer of another pool, an interior
 *            pointer, a malloc'd pointer, an immediate double put (plain and
 *            thread-safe pools): exit by SIGABRT and the expected stderr line;
 *            debug builds (STRATA_DEBUG=1): also a double put that is not
 *            the last put
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"              /* STRATA_DEBUG: the same flags built the library */
#include "strata/arena.h"
#include "strata/malloc.h"
#include "test.h"


/* ---- single thread -------------------------------------------------------- */
static void test_basic(void) {
  enum { N = 100000, SZ = 40 };
  strata_pool_t *p = strata_pool_new(SZ, 0, 0, 0);
  CHECK(p, "pool_new errno %d", errno);
  static void *o[N], *sorted[N];
  static uint64_t seed[N];
  for (int i = 0; i < N; i++) {
    o[i] = strata_pool_get(p);
    CHECK(o[i] && ((uintptr_t)o[i] & 15) == 0, "get %d = %p", i, o[i]);
    seed[i] = pat_seed(o[i], SZ, 1);
    pat_fill(o[i], SZ, seed[i]);
  }
  strata_pool_stats_t st;
  strata_pool_stats(p, &st);
  size_t carved0 = st.carved;      /* slots are carved a batch (<= 256) at a time */
  CHECK(st.live == N && st.carved >= N && st.carved < N + 256 && st.stride == 48 && st.obj_size == SZ,
        "stats live %zu carved %zu stride %zu", st.live, st.carved, st.stride);
  memcpy(sorted, o, sizeof o);
  qsort(sorted, N, sizeof *sorted, test_cmp_ptr);
  for (int i = 1; i < N; i++) {
    size_t d = (size_t)((char *)sorted[i] - (char *)sorted[0]);
    CHECK(d == (size_t)i * st.stride, "object %d at distance %zu, not %zu (not contiguous)", i, d, (size_t)i * st.stride);
  }
  uint64_t rng = 5;
  for (int round = 0; round < 20; round++) {
    for (int k = 0; k < N / 4; k++) {                 /* put random live ones, re-get */
      int i = (int)(rnd_next(&rng) % N);
      CHECK(pat_check(o[i], SZ, seed[i]) == 0, "object %d corrupted", i);
      strata_pool_put(p, o[i]);
      o[i] = strata_pool_get(p);
      CHECK(o[i], "re-get");
      seed[i] = pat_seed(o[i], SZ, (uint64_t)round + 2);
      pat_fill(o[i], SZ, seed[i]);
    }
  }
  strata_pool_stats(p, &st);
  CHECK(st.live == N && st.carved == carved0, "churn grew the pool: live %zu carved %zu", st.live, st.carved);
  for (int i = 0; i < N; i++) {
    CHECK(pat_check(o[i], SZ, seed[i]) == 0, "object %d corrupted at the end", i);
    strata_pool_put(p, o[i]);
  }
  strata_pool_stats(p, &st);
  CHECK(st.live == 0 && st.free == st.capacity, "after put all: live %zu free %zu cap %zu", st.live, st.free, st.capacity);
  strata_pool_destroy(p);
  strata_pool_destroy(NULL);
}

static void test_align_args(void) {
  size_t sizes[] = { 1, 7, 8, 24, 100, 4000 };
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
    for (size_t al = 8; al <= 4096; al <<= 1)
      for (unsigned fl = 0; fl <= STRATA_POOL_THREADSAFE; fl++) {
        strata_pool_t *p = strata_pool_new(sizes[s], al, 1000, fl);
        CHECK(p, "pool_new(%zu, %zu)", sizes[s], al);
        void *a[50];
        for (int i = 0; i < 50; i++) {
          a[i] = strata_pool_get(p);
          CHECK(a[i] && ((uintptr_t)a[i] & (al - 1)) == 0, "obj %p align %zu", a[i], al);
          memset(a[i], i, sizes[s]);
        }
        for (int i = 0; i < 50; i++) strata_pool_put(p, a[i]);
        strata_pool_destroy(p);
      }
  struct { size_t sz, al; unsigned fl; } bad[] = { { 0, 0, 0 }, { (1 << 20) + 1, 0, 0 }, { 8, 3, 0 }, { 8, 24, 0 },
                                                   { 8, 8192, 0 }, { 8, 0, 2 } };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    errno = 0;
    CHECK(strata_pool_new(bad[i].sz, bad[i].al, 0, bad[i].fl) == NULL && errno == EINVAL, "bad pool args %zu", i);
  }
  errno = 0;
  CHECK(strata_pool_new(64, 0, SIZE_MAX / 8, 0) == NULL && errno == ENOMEM, "huge max_objects");
  for (unsigned fl = 0; fl <= STRATA_POOL_THREADSAFE; fl++) {
    strata_pool_t *p = strata_pool_new(32, 0, 10, fl);
    void *a[10];
    for (int i = 0; i < 10; i++) CHECK((a[i] = strata_pool_get(p)) != NULL, "get %d of 10", i);
    if (fl) strata_pool_flush(p);
    errno = 0;
    CHECK(strata_pool_get(p) == NULL && errno == ENOMEM, "11th get (flags %u)", fl);
    CHECK(strata_pool_owns(p, a[3]) && !strata_pool_owns(p, (char *)a[3] + 8) && !strata_pool_owns(p, &fl) &&
          !strata_pool_owns(p, NULL), "owns");
    strata_pool_put(p, a[3]);
    if (fl) strata_pool_flush(p);
    void *b = strata_pool_get(p);
    CHECK(b == a[3], "get after put: %p, want %p", b, a[3]);
    strata_pool_destroy(p);
  }
}

/* ---- threads -------------------------------------------------------------- */
enum { T = 4, OPS = 150000, LIVE = 512, XCH = 64, OSZ = 56 };
static strata_pool_t *tpool;
static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static void *xch[XCH];                  /* objects in transit between threads */

static void obj_fill(void *o, uint64_t salt) {
  uint64_t s = pat_seed(o, OSZ, salt);
  memcpy(o, &s, 8);
  pat_fill((char *)o + 8, OSZ - 8, s);
}
static void obj_check(void *o, const char *what) {
  uint64_t s;
  memcpy(&s, o, 8);
  size_t bad = pat_check((char *)o + 8, OSZ - 8, s);
  CHECK(bad == 0, "%s: object %p corrupted at %zu", what, o, bad);
}

static void *worker(void *arg) {
  uint64_t rng = 1000 + (uintptr_t)arg;
  void *live[LIVE] = { 0 };
  for (int i = 0; i < OPS; i++) {
    uint64_t r = rnd_next(&rng);
    int k = (int)(r % LIVE);
    if (live[k]) {
      obj_check(live[k], "before put");
      if ((r >> 20) % 8 == 0) {                    /* hand it to another thread */
        pthread_mutex_lock(&xlock);
        int j = (int)((r >> 32) % XCH);
        void *old = xch[j];
        xch[j] = live[k];
        pthread_mutex_unlock(&xlock);
        live[k] = old;                             /* and adopt one from another */
        if (old) obj_check(old, "adopted");
        continue;
      }
      strata_pool_put(tpool, live[k]);
      live[k] = NULL;
    } else {
      live[k] = strata_pool_get(tpool);
      CHECK(live[k], "get failed errno %d", errno);
      obj_fill(live[k], r);
    }
  }
  for (int k = 0; k < LIVE; k++)
    if (live[k]) { obj_check(live[k], "final"); strata_pool_put(tpool, live[k]); }
  return NULL;                                     /* the cache is flushed at exit */
}

static void test_threads(void) {
  tpool = strata_pool_new(OSZ, 0, 0, STRATA_POOL_THREADSAFE);
  CHECK(tpool, "ts pool");
  pthread_t t[T];
  for (long i = 0; i < T; i++) t[i] = test_spawn(worker, (void *)i);
  for (int i = 0; i < T; i++) test_join(t[i]);
  for (int j = 0; j < XCH; j++)
    if (xch[j]) { obj_check(xch[j], "in exchange"); strata_pool_put(tpool, xch[j]); xch[j] = NULL; }
  strata_pool_flush(tpool);
  strata_pool_stats_t st;
  strata_pool_stats(tpool, &st);
  CHECK(st.live == 0 && st.cached == 0 && st.free == st.capacity, "after threads: live %zu cached %zu free %zu cap %zu",
        st.live, st.cached, st.free, st.capacity);
  CHECK(st.carved > 0 && st.carved <= (size_t)T * LIVE + XCH + (size_t)(T + 1) * 3 * 256,
        "carved %zu: more than live + caches", st.carved);
  /* every carved slot comes back exactly once */
  size_t n = st.carved;
  void **all = malloc(n * sizeof *all);
  for (size_t i = 0; i < n; i++) CHECK((all[i] = strata_pool_get(tpool)) != NULL, "regets %zu", i);
  qsort(all, n, sizeof *all, test_cmp_ptr);
  for (size_t i = 1; i < n; i++) CHECK(all[i] != all[i - 1], "slot %p handed out twice", all[i]);
  strata_pool_stats(tpool, &st);
  CHECK(st.carved == n, "regets carved new slots: %zu vs %zu", st.carved, n);
  for (size_t i = 0; i < n; i++) strata_pool_put(tpool, all[i]);
  free(all);
  strata_pool_destroy(tpool);
}

static strata_pool_t *epool;
static void *exit_worker(void *arg) {
  void *a[300];
  for (int i = 0; i < 300; i++) CHECK((a[i] = strata_pool_get(epool)) != NULL, "get");
  for (int i = 0; i < 300; i++) strata_pool_put(epool, a[i]);
  if (arg) {                                       /* stay alive with a stale cache */
    strata_pool_t *old = epool;
    pthread_mutex_lock(&xlock);
    pthread_mutex_unlock(&xlock);
    (void)old;
  }
  return NULL;
}

static pthread_barrier_t bar;
static strata_pool_t *spool;
static void *stale_worker(void *arg) {
  (void)arg;
  void *o = strata_pool_get(spool);                /* cache for the first pool */
  strata_pool_put(spool, o);
  pthread_barrier_wait(&bar);                      /* main destroys it, makes a new one */
  pthread_barrier_wait(&bar);
  for (int i = 0; i < 1000; i++) {                 /* same slot, new pool: stale cache dropped */
    void *q = strata_pool_get(spool);
    CHECK(q && strata_pool_owns(spool, q), "stale cache leaked an object %p", q);
    strata_pool_put(spool, q);
  }
  return NULL;
}

static void test_exit_and_stale(void) {
  epool = strata_pool_new(24, 0, 0, STRATA_POOL_THREADSAFE);
  pthread_t t = test_spawn(exit_worker, NULL);
  test_join(t);
  strata_pool_stats_t st;
  strata_pool_stats(epool, &st);
  CHECK(st.live == 0 && st.cached == 0 && st.carved >= 300, "after exit: live %zu cached %zu", st.live, st.cached);
  strata_pool_destroy(epool);

  pthread_barrier_init(&bar, NULL, 2);
  spool = strata_pool_new(64, 0, 0, STRATA_POOL_THREADSAFE);
  t = test_spawn(stale_worker, NULL);
  pthread_barrier_wait(&bar);
  strata_pool_destroy(spool);
  spool = strata_pool_new(64, 0, 0, STRATA_POOL_THREADSAFE);
  pthread_barrier_wait(&bar);
  test_join(t);
  strata_pool_stats(spool, &st);
  CHECK(st.live == 0 && st.cached == 0, "new pool after stale: live %zu cached %zu", st.live, st.cached);
  strata_pool_destroy(spool);
  pthread_barrier_destroy(&bar);
}

/* ---- a bounded thread-safe pool: another thread's cache holds at most a
 * fifth of it (the first thread's cache took all 100 objects, and a get
 * elsewhere failed with none live: found by review, 2026-11-28) ---------- */
static strata_pool_t *cpool;
static void *cap_holder(void *arg) {
  (void)arg;
  void *o = strata_pool_get(cpool);    /* takes a batch into this thread's cache */
  strata_pool_put(cpool, o);
  pthread_barrier_wait(&bar);          /* alive, nothing in use */
  pthread_barrier_wait(&bar);
  return NULL;
}
static int small_got;
static void *take_all5(void *arg) {
  (void)arg;
  void *x[5];
  for (small_got = 0; small_got < 5 && (x[small_got] = strata_pool_get(cpool)) != NULL; small_got++) {}
  for (int i = 0; i < small_got; i++) strata_pool_put(cpool, x[i]);
  return NULL;
}
static void test_bounded_cache(void) {
  pthread_barrier_init(&bar, NULL, 2);
  cpool = strata_pool_new(64, 0, 100, STRATA_POOL_THREADSAFE);
  CHECK(cpool != NULL, "pool");
  pthread_t t = test_spawn(cap_holder, NULL);
  pthread_barrier_wait(&bar);
  strata_pool_stats_t st;
  strata_pool_stats(cpool, &st);
  CHECK(st.live == 0 && st.cached <= 20, "another thread caches %zu of 100", st.cached);
  void *o[80];
  for (int i = 0; i < 80; i++) {
    o[i] = strata_pool_get(cpool);
    CHECK(o[i] != NULL, "get %d of 80 with %zu cached elsewhere: errno %d", i, st.cached, errno);
  }
  for (int i = 0; i < 80; i++) strata_pool_put(cpool, o[i]);
  pthread_barrier_wait(&bar);
  test_join(t);
  strata_pool_destroy(cpool);
  pthread_barrier_destroy(&bar);
  /* below 25 objects there are no per-thread caches: what one thread put
   * back, another gets (a 5-object pool stayed in one thread's cache) */
  cpool = strata_pool_new(64, 0, 5, STRATA_POOL_THREADSAFE);
  CHECK(cpool != NULL, "pool");
  for (int i = 0; i < 5; i++) { o[i] = strata_pool_get(cpool); CHECK(o[i] != NULL, "get %d of 5", i); }
  for (int i = 0; i < 5; i++) strata_pool_put(cpool, o[i]);
  test_join(test_spawn(take_all5, NULL));
  CHECK(small_got == 5, "another thread got %d of the 5 objects put back", small_got);
  strata_pool_destroy(cpool);
}

/* ---- more thread-safe pools than cache slots (64): the locked path ------- */
enum { NP = 70 };
static strata_pool_t *many[NP];
static void *many_worker(void *arg) {
  uint64_t rng = 77 + (uintptr_t)arg;
  void *held[NP][8] = { { 0 } };
  for (int i = 0; i < 40000; i++) {
    uint64_t r = rnd_next(&rng);
    int k = (int)(r % NP), j = (int)((r >> 8) % 8);
    if (held[k][j]) {
      CHECK(*(uint64_t *)held[k][j] == (uint64_t)(uintptr_t)held[k][j] * 3 + (uint64_t)k, "pool %d object", k);
      strata_pool_put(many[k], held[k][j]);
      held[k][j] = NULL;
    } else {
      held[k][j] = strata_pool_get(many[k]);
      CHECK(held[k][j], "get from pool %d", k);
      *(uint64_t *)held[k][j] = (uint64_t)(uintptr_t)held[k][j] * 3 + (uint64_t)k;
    }
  }
  for (int k = 0; k < NP; k++)
    for (int j = 0; j < 8; j++) if (held[k][j]) strata_pool_put(many[k], held[k][j]);
  return NULL;
}
static void test_many_pools(void) {
  for (int k = 0; k < NP; k++) CHECK((many[k] = strata_pool_new(24 + (size_t)k, 0, 0, STRATA_POOL_THREADSAFE)), "pool %d", k);
  pthread_t t[3];
  for (long i = 0; i < 3; i++) t[i] = test_spawn(many_worker, (void *)i);
  for (int i = 0; i < 3; i++) test_join(t[i]);
  for (int k = 0; k < NP; k++) {
    strata_pool_flush(many[k]);
    strata_pool_stats_t st;
    strata_pool_stats(many[k], &st);
    CHECK(st.live == 0 && st.free == st.capacity, "pool %d: live %zu cached %zu", k, st.live, st.cached);
    strata_pool_destroy(many[k]);
  }
}

/* ---- misuse in fork children ---------------------------------------------- */
static void expect_abort(void (*fn)(unsigned), unsigned fl, const char *line, const char *what) {
  int fd[2];
  CHECK(pipe(fd) == 0, "pipe");
  fflush(stdout); fflush(stderr);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    alarm(20);
    dup2(fd[1], 2);
    close(fd[0]);
    fn(fl);
    _exit(0);                                      /* not reached if caught */
  }
  close(fd[1]);
  char buf[1024];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf - 1 && (r = read(fd[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
  buf[len] = 0;
  close(fd[0]);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s (flags %u): child status %#x (want SIGABRT); stderr: %s", what, fl, status, buf);
  CHECK(strstr(buf, line) != NULL, "%s (flags %u): stderr %s lacks \"%s\"", what, fl, buf, line);
  CHECK(strchr(buf, '\n') == strrchr(buf, '\n'), "more than one line: %s", buf);
}

static void m_other_pool(unsigned fl) {
  strata_pool_t *a = strata_pool_new(32, 0, 0, fl), *b = strata_pool_new(32, 0, 0, fl);
  void *o = strata_pool_get(a);
  strata_pool_get(b);
  strata_pool_put(b, o);
}
static void m_interior(unsigned fl) {
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  char *o = strata_pool_get(a);
  strata_pool_get(a);
  strata_pool_put(a, o + 16);
}
static void m_interior8(unsigned fl) {         /* offset 8 of a 48-byte stride: low bits */
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  char *o = strata_pool_get(a);
  strata_pool_get(a);
  strata_pool_put(a, o + 8);
}
static void m_interior_pow2(unsigned fl) {     /* a power-of-two stride: only the mask sees it */
  strata_pool_t *a = strata_pool_new(64, 0, 0, fl);
  char *o = strata_pool_get(a);
  strata_pool_get(a);
  strata_pool_put(a, o + 32);
}
static void m_malloc(unsigned fl) {
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  strata_pool_get(a);
  strata_pool_put(a, strata_malloc(48));
}
static void m_beyond(unsigned fl) {                /* a slot past those carved */
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  char *o = strata_pool_get(a);
  strata_pool_put(a, o + 48 * 1000);
}
static void m_double(unsigned fl) {
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  void *o = strata_pool_get(a);
  strata_pool_put(a, o);
  strata_pool_put(a, o);
}

static void m_double_later(unsigned fl) {    /* caught only by debug builds' bitmap */
  strata_pool_t *a = strata_pool_new(48, 0, 0, fl);
  void *o = strata_pool_get(a), *q = strata_pool_get(a);
  strata_pool_put(a, o);
  strata_pool_put(a, q);
  strata_pool_put(a, o);
}

static void test_misuse(void) {
  for (unsigned fl = 0; fl <= STRATA_POOL_THREADSAFE; fl++) {
    const char *wrong = "strata: strata_pool_put(): pointer not from this pool (pointer 0x";
    expect_abort(m_other_pool, fl, wrong, "m_other_pool");
    expect_abort(m_interior, fl, wrong, "m_interior");
    expect_abort(m_interior8, fl, wrong, "m_interior8");
    expect_abort(m_interior_pow2, fl, wrong, "m_interior_pow2");
    expect_abort(m_malloc, fl, wrong, "m_malloc");
    expect_abort(m_beyond, fl, wrong, "m_beyond");
    expect_abort(m_double, fl, "strata: strata_pool_put(): double put (pointer 0x", "m_double");
    if (STRATA_DEBUG)
      expect_abort(m_double_later, fl, "strata: strata_pool_put(): double put (pointer 0x", "m_double_later");
  }
}

int main(void) {
  alarm(120);                          /* a hang (e.g. a broken release loop) fails */
  test_basic();
  test_align_args();
  test_threads();
  test_exit_and_stale();
  test_bounded_cache();
  test_many_pools();
  test_misuse();
  printf("t_pool: all passed\n");
  return 0;
}
