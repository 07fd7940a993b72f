/* san_arena.c -- arenas and pools under UBSan and TSan (make sanitize).
 *
 * Built with the library sources and -DSTRATA_OVERRIDE=0.  4 threads, each
 * with its own arena tree (children, destructors, marks, aligned and
 * oversize allocations, content checked before every release), all sharing
 * one thread-safe pool: objects are filled, handed between threads through
 * a mutex-protected exchange, checked and put back by whichever thread
 * holds them; each thread also churns a plain pool of its own.  At the end
 * every pool object must be back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "strata/arena.h"
#include "strata/malloc.h"
#include "test.h"

enum { T = 4, ROUNDS = 200, PER = 400, OSZ = 40, XCH = 32 };
static strata_pool_t *pool;
static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static void *xch[XCH];
static int dtor_runs[T];

static void dtor(void *arg) { dtor_runs[(intptr_t)arg]++; }

static void obj_fill(void *o, uint64_t salt) {
  uint64_t s = pat_seed(o, OSZ, salt);
  memcpy(o, &s, 8);
  pat_fill((char *)o + 8, OSZ - 8, s);
}
static void obj_check(void *o) {
  uint64_t s;
  memcpy(&s, o, 8);
  CHECK(pat_check((char *)o + 8, OSZ - 8, s) == 0, "pool object %p corrupted", o);
}

static void *worker(void *arg) {
  intptr_t id = (intptr_t)arg;
  uint64_t rng = 99 + (uint64_t)id;
  strata_arena_t *root = strata_arena_new(NULL);
  CHECK(root, "root");
  static __thread blk_t b[PER];
  void *mine[16] = { 0 };
  for (int r = 0; r < ROUNDS; r++) {
    strata_arena_t *ch = strata_arena_new(root);
    CHECK(ch && strata_arena_on_release(ch, dtor, (void *)id) == 0, "child");
    strata_arena_mark_t m = strata_arena_mark(root);
    for (int i = 0; i < PER; i++) {
      uint64_t x = rnd_next(&rng);
      size_t n = x % 64 == 0 ? 5000 + x % 30000 : x % 200;
      strata_arena_t *a = (x >> 8) & 1 ? ch : root;
      b[i].p = (x >> 9) % 8 == 0 ? strata_arena_alloc_aligned(a, n, (size_t)64 << ((x >> 12) % 6))
                                 : strata_arena_alloc(a, n);
      b[i].n = n;
      CHECK(b[i].p, "alloc %zu", n);
      blk_fill(&b[i], x);
      int k = (int)((x >> 16) % 16);
      if (mine[k]) {
        obj_check(mine[k]);
        if ((x >> 24) % 4 == 0) {
          pthread_mutex_lock(&xlock);
          int j = (int)((x >> 32) % XCH);
          void *t = xch[j];
          xch[j] = mine[k];
          pthread_mutex_unlock(&xlock);
          mine[k] = t;
        } else {
          strata_pool_put(pool, mine[k]);
          mine[k] = NULL;
        }
      } else {
        mine[k] = strata_pool_get(pool);
        CHECK(mine[k], "pool get");
        obj_fill(mine[k], x);
      }
    }
    for (int i = 0; i < PER; i++) blk_vfy(&b[i], "arena block");
    CHECK(strata_arena_restore(root, m) == 0, "restore");   /* destroys ch too */
  }
  for (int k = 0; k < 16; k++) if (mine[k]) { obj_check(mine[k]); strata_pool_put(pool, mine[k]); }
  strata_arena_destroy(root);
  /* a plain pool of its own (the inline paths) */
  strata_pool_t *pp = strata_pool_new(24, 8, 0, 0);
  CHECK(pp, "plain pool");
  void *objs[300];
  for (int r = 0; r < 50; r++) {
    for (int i = 0; i < 300; i++) {
      objs[i] = strata_pool_get(pp);
      CHECK(objs[i], "plain get");
      memset(objs[i], i, 24);
    }
    for (int i = 299; i >= 0; i -= 1 + (r & 1)) {
      CHECK(((unsigned char *)objs[i])[23] == (unsigned char)i, "plain object");
      strata_pool_put(pp, objs[i]);
      objs[i] = NULL;
    }
    for (int i = 0; i < 300; i++) if (objs[i]) strata_pool_put(pp, objs[i]);
  }
  strata_pool_stats_t st;
  strata_pool_stats(pp, &st);
  CHECK(st.live == 0, "plain pool live %zu", st.live);
  strata_pool_destroy(pp);
  return NULL;
}

int main(void) {
  pool = strata_pool_new(OSZ, 0, 0, STRATA_POOL_THREADSAFE);
  CHECK(pool, "pool");
  pthread_t t[T];
  for (intptr_t i = 0; i < T; i++) t[i] = test_spawn(worker, (void *)i);
  for (int i = 0; i < T; i++) test_join(t[i]);
  for (int j = 0; j < XCH; j++) if (xch[j]) { obj_check(xch[j]); strata_pool_put(pool, xch[j]); }
  strata_pool_flush(pool);
  strata_pool_stats_t st;
  strata_pool_stats(pool, &st);
  CHECK(st.live == 0 && st.cached == 0 && st.free == st.capacity, "pool: live %zu cached %zu", st.live, st.cached);
  for (int i = 0; i < T; i++) CHECK(dtor_runs[i] == ROUNDS, "thread %d: %d destructors", i, dtor_runs[i]);
  strata_pool_destroy(pool);
  printf("san_arena: all passed\n");
  return 0;
}
