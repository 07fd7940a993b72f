/* t_lifecycle.c -- thread lifecycle corner cases.
 *
 *  - threads whose first allocator call is free (of another thread's block),
 *    realloc, calloc, posix_memalign, malloc_usable_size, free(NULL), ...;
 *  - a thread that only ever frees;
 *  - pthread_key destructors (keys created before and after the thread's
 *    first malloc) that allocate, realloc and free, over several destructor
 *    rounds, i.e. after strata's own per-thread state was torn down;
 *  - __cxa_thread_atexit_impl (C++ thread_local) destructors that allocate;
 *  - the main thread calling pthread_exit while other threads allocate
 *    (in a forked child; status checked with waitpid);
 *  - blocks of exited threads freed later by others; many threads exiting
 *    with blocks outstanding, then strata_heap_check().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

/* Some allocation traffic a thread does after its first call. */
static void churn(uint64_t salt) {
  blk_t b[64];
  for (int i = 0; i < 64; i++) b[i] = blk_new((size_t)(1 + (i * 37 + salt) % 3000) + (i == 7 ? 200000 : 0), salt + i, __func__);
  for (int i = 0; i < 64; i += 2) { blk_vfy(&b[i], "churn"); free(b[i].p); }
  for (int i = 1; i < 64; i += 2) { blk_vfy(&b[i], "churn"); free(b[i].p); }
}

/* ------------------------------------------------ first calls of a thread */

static blk_t given[8];

static void *first_free(void *a) {
  (void)a;
  blk_vfy(&given[0], "first_free: block from main");
  free(given[0].p);
  churn(1);
  return NULL;
}
static void *first_realloc(void *a) {
  (void)a;
  blk_t *b = &given[1];
  blk_vfy(b, "first_realloc: block from main");
  static const size_t sz[] = { 5000, 300000, 20, 3000000, 100 };
  for (int i = 0; i < 5; i++) {
    void *q = realloc(b->p, sz[i]);
    CHECK(q != NULL, "first_realloc: realloc(%zu -> %zu)", b->n, sz[i]);
    size_t keep = b->n < sz[i] ? b->n : sz[i];
    CHECK(pat_check(q, keep, b->seed) == 0, "first_realloc: realloc(%zu -> %zu) lost contents", b->n, sz[i]);
    b->p = q; b->n = sz[i];
    pat_fill(b->p, b->n, b->seed);
  }
  free(b->p);
  churn(2);
  return NULL;
}
static void *first_realloc_null(void *a) {
  (void)a;
  char *p = realloc(NULL, 777);
  CHECK(p != NULL, "first call realloc(NULL, 777)");
  memset(p, 3, 777);
  free(p);
  churn(3);
  return NULL;
}
static void *first_calloc(void *a) {
  (void)a;
  char *p = calloc(100, 100);
  CHECK(p != NULL && mem_is_zero(p, 10000), "first call calloc(100, 100)");
  free(p);
  churn(4);
  return NULL;
}
static void *first_memalign(void *a) {
  (void)a;
  void *p = NULL;
  int rc = posix_memalign(&p, 4096, 5000);
  CHECK(rc == 0 && ((uintptr_t)p & 4095) == 0, "first call posix_memalign: rc %d p %p", rc, p);
  memset(p, 1, 5000);
  free(p);
  churn(5);
  return NULL;
}
static void *first_usable(void *a) {
  (void)a;
  size_t u = malloc_usable_size(given[2].p);
  CHECK(u >= given[2].n, "first call malloc_usable_size(block of main) = %zu < %zu", u, given[2].n);
  CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
  churn(6);
  return NULL;
}
static void *first_free_null(void *a) {
  (void)a;
  free(NULL);
  churn(7);
  return NULL;
}
static void *first_strata_free(void *a) {
  (void)a;
  blk_vfy(&given[3], "first_strata_free");
  strata_free(given[3].p);
  return NULL; /* and never allocates */
}
static void *first_aligned(void *a) {
  (void)a;
  void *p = aligned_alloc(1 << 16, 100);
  CHECK(p != NULL && ((uintptr_t)p & 0xffff) == 0, "first call aligned_alloc(64K) = %p", p);
  free(p);
  return NULL;
}
static void *first_large(void *a) {
  (void)a;
  blk_t b = blk_new(9 << 20, 11, __func__);
  blk_vfy(&b, "first_large");
  free(b.p);
  return NULL;
}
static void *first_free_large(void *a) {
  (void)a;
  blk_vfy(&given[4], "first_free_large");
  free(given[4].p);
  return NULL;
}

static void test_first_calls(void) {
  for (int round = 0; round < 20; round++) {
    given[0] = blk_new(100, 1, __func__);
    given[1] = blk_new(50, 2, __func__);
    given[2] = blk_new(4000, 3, __func__);
    given[3] = blk_new(60000, 4, __func__);
    given[4] = blk_new(5 << 20, 5, __func__);
    void *(*fns[])(void *) = { first_free, first_realloc, first_realloc_null, first_calloc,
                               first_memalign, first_usable, first_free_null, first_strata_free,
                               first_aligned, first_large, first_free_large };
    enum { NF = sizeof fns / sizeof *fns };
    pthread_t t[NF];
    /* Sequential in even rounds (a clean first call), concurrent in odd. */
    for (int i = 0; i < NF; i++) {
      t[i] = test_spawn(fns[i], NULL);
      if (!(round & 1)) test_join(t[i]);
    }
    if (round & 1) for (int i = 0; i < NF; i++) test_join(t[i]);
    free(given[2].p);
  }
  CHECK(strata_heap_check() == 0, "heap check after first-call threads");
}

/* ------------------------------------------------------- only-free thread */

enum { NONLY = 3000 };
static blk_t only[NONLY];
static void *only_frees(void *a) {
  uintptr_t half = (uintptr_t)a;
  for (int i = (int)half; i < NONLY; i += 2) { blk_vfy(&only[i], "only-free thread"); free(only[i].p); }
  return NULL;
}
static void test_only_frees(void) {
  for (int i = 0; i < NONLY; i++) only[i] = blk_new((size_t)(1 + (i * 7919) % (i % 50 == 0 ? 400000 : 2000)), (uint64_t)i, __func__);
  pthread_t a = test_spawn(only_frees, (void *)0), b = test_spawn(only_frees, (void *)1);
  test_join(a); test_join(b);
  CHECK(strata_heap_check() == 0, "heap check after free-only threads");
  /* The memory must be reusable: allocate the same again and check. */
  for (int i = 0; i < NONLY; i++) only[i] = blk_new((size_t)(1 + (i * 7919) % 2000), (uint64_t)i + 5, __func__);
  for (int i = 0; i < NONLY; i++) { blk_vfy(&only[i], "after only-free"); free(only[i].p); }
}

/* ------------------------------------------------- destructors that malloc */

static pthread_key_t key_before, key_after;
static atomic_int dtor_rounds_before, dtor_rounds_after, dtor_done, tls_dtor_done;
enum { DTOR_ROUNDS = 3 }; /* < PTHREAD_DESTRUCTOR_ITERATIONS (4) */

/* A key value: a block whose header holds the round and the seed. */
typedef struct { int round; size_t n; uint64_t seed; } kv_hdr;

static void *kv_new(int round, size_t n) {
  kv_hdr *h = malloc(sizeof *h + n);
  CHECK(h != NULL, "malloc in destructor round %d", round);
  h->round = round; h->n = n; h->seed = pat_seed(h, n, (uint64_t)round);
  pat_fill(h + 1, n, h->seed);
  return h;
}

static void key_dtor(void *v, pthread_key_t key, atomic_int *rounds) {
  kv_hdr *h = v;
  size_t bad = pat_check(h + 1, h->n, h->seed);
  CHECK(bad == 0, "destructor round %d: key value corrupted at %zu", h->round, bad - 1);
  atomic_fetch_add(rounds, 1);
  /* allocate, realloc, free in the destructor */
  blk_t b[16];
  for (int i = 0; i < 16; i++) b[i] = blk_new((size_t)(16 + i * 1000 + (i == 3 ? 300000 : 0)), (uint64_t)i, __func__);
  kv_hdr *g = realloc(h, sizeof *h + h->n * 3 + 1000);
  CHECK(g != NULL, "realloc in destructor");
  CHECK(pat_check(g + 1, g->n, g->seed) == 0, "realloc in destructor round %d lost contents", g->round);
  char *c = calloc(1, 5000);
  CHECK(c != NULL && mem_is_zero(c, 5000), "calloc in destructor");
  for (int i = 0; i < 16; i++) { blk_vfy(&b[i], "destructor block"); free(b[i].p); }
  free(c);
  if (g->round < DTOR_ROUNDS) {
    int next = g->round + 1;
    free(g);
    CHECK(pthread_setspecific(key, kv_new(next, 2000 + (size_t)next * 100)) == 0, "setspecific in destructor");
  } else {
    free(g);
    atomic_fetch_add(&dtor_done, 1);
  }
}
static void dtor_before(void *v) { key_dtor(v, key_before, &dtor_rounds_before); }
static void dtor_after(void *v) { key_dtor(v, key_after, &dtor_rounds_after); }

#ifdef __GLIBC__
extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);
extern void *__dso_handle;
static void tls_dtor(void *v) {
  blk_t *b = v;
  blk_vfy(b, "thread_local destructor");
  void *q = realloc(b->p, b->n * 4);
  CHECK(q != NULL && pat_check(q, b->n, b->seed) == 0, "realloc in thread_local destructor");
  free(q);
  blk_t x = blk_new(12345, 9, __func__);
  blk_vfy(&x, "thread_local destructor malloc");
  free(x.p);
  free(b);
  atomic_fetch_add(&tls_dtor_done, 1);
}
#endif

static pthread_key_t keys_many[8];
static void dtor_many(void *v) {
  /* a key whose destructor does a lot of small allocations */
  void *p[100];
  for (int i = 0; i < 100; i++) { p[i] = malloc((size_t)i * 8 + 1); CHECK(p[i] != NULL, "malloc in dtor"); }
  for (int i = 0; i < 100; i++) free(p[i]);
  free(v);
}

static void *dtor_thread(void *a) {
  uintptr_t id = (uintptr_t)a;
  CHECK(pthread_setspecific(key_before, kv_new(1, 1000 + id)) == 0, "setspecific");
  churn(id);                          /* strata's per-thread state exists now */
  for (int i = 0; i < 8; i++) {
    void *m = malloc(10);
    CHECK(m != NULL, "malloc");
    pthread_setspecific(keys_many[i], m);
  }
  CHECK(pthread_setspecific(key_after, kv_new(1, 3000 + id)) == 0, "setspecific");
#ifdef __GLIBC__
  blk_t *tb = malloc(sizeof *tb);
  CHECK(tb != NULL, "malloc");
  *tb = blk_new(4000 + id, id, __func__);
  CHECK(__cxa_thread_atexit_impl(tls_dtor, tb, &__dso_handle) == 0, "__cxa_thread_atexit_impl");
#endif
  return NULL;
}

static void test_destructors(void) {
  CHECK(pthread_key_create(&key_after, dtor_after) == 0, "key_create");
  for (int i = 0; i < 8; i++) CHECK(pthread_key_create(&keys_many[i], dtor_many) == 0, "key_create");
  enum { NT = 40 };
  for (int round = 0; round < 2; round++) {
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) {
      t[i] = test_spawn(dtor_thread, (void *)(uintptr_t)i);
      if (round == 0) test_join(t[i]);
    }
    if (round == 1) for (int i = 0; i < NT; i++) test_join(t[i]);
  }
  int want = 2 * NT;
  CHECK(atomic_load(&dtor_done) == 2 * want, "key destructors completed %d times, want %d",
        atomic_load(&dtor_done), 2 * want);
  CHECK(atomic_load(&dtor_rounds_before) == DTOR_ROUNDS * want, "key_before destructor ran %d rounds, want %d",
        atomic_load(&dtor_rounds_before), DTOR_ROUNDS * want);
  CHECK(atomic_load(&dtor_rounds_after) == DTOR_ROUNDS * want, "key_after destructor ran %d rounds, want %d",
        atomic_load(&dtor_rounds_after), DTOR_ROUNDS * want);
#ifdef __GLIBC__
  CHECK(atomic_load(&tls_dtor_done) == want, "thread_local destructors ran %d times, want %d",
        atomic_load(&tls_dtor_done), want);
#endif
  CHECK(strata_heap_check() == 0, "heap check after destructor threads");
}

/* ----------------------------------------- main thread calls pthread_exit */

static int px_pipe;
static blk_t px_main_blocks[2000];
static atomic_int px_main_gone;
static atomic_long px_ops;

static void *px_worker(void *a) {
  uintptr_t id = (uintptr_t)a;
  uint64_t rs = 99 + id;
  blk_t slot[200];
  memset(slot, 0, sizeof slot);
  double end = now_sec() + 0.6;
  while (now_sec() < end) {
    for (int k = 0; k < 256; k++) {
      blk_t *b = &slot[rnd_next(&rs) % 200];
      if (b->p) { blk_vfy(b, "pthread_exit worker"); free(b->p); b->p = NULL; }
      else *b = blk_new(1 + rnd_next(&rs) % (k == 0 ? 300000 : 3000), rs, __func__);
      atomic_fetch_add(&px_ops, 1);
    }
  }
  /* free main's blocks (main has exited by now, or is exiting) */
  while (!atomic_load(&px_main_gone)) usleep(1000);
  for (int i = (int)id; i < 2000; i += 4) { blk_vfy(&px_main_blocks[i], "block of the exited main thread"); free(px_main_blocks[i].p); }
  for (int i = 0; i < 200; i++) if (slot[i].p) { blk_vfy(&slot[i], "pthread_exit worker end"); free(slot[i].p); }
  return NULL;
}

static void *px_coordinator(void *a) {
  pthread_t *w = a;
  /* Wait until main is really gone: its TID no longer exists. */
  for (int i = 0; i < 4; i++) test_join(w[i]);
  CHECK(strata_heap_check() == 0, "heap check after main's pthread_exit");
  char msg[64];
  int n = snprintf(msg, sizeof msg, "OK %ld\n", atomic_load(&px_ops));
  CHECK(write(px_pipe, msg, (size_t)n) == n, "write marker");
  close(px_pipe);
  return NULL;
}

static void px_child(int fd) {
  alarm(30);
  px_pipe = fd;
  for (int i = 0; i < 2000; i++) px_main_blocks[i] = blk_new((size_t)(1 + i * 13 % 5000), (uint64_t)i, __func__);
  static pthread_t w[4];
  for (int i = 0; i < 4; i++) w[i] = test_spawn(px_worker, (void *)(uintptr_t)i);
  test_spawn(px_coordinator, w);
  /* main does some more allocation, then leaves while the others work */
  churn(77);
  blk_t last = blk_new(100000, 1, __func__);
  blk_vfy(&last, "main before pthread_exit");
  free(last.p);
  atomic_store(&px_main_gone, 1);
  pthread_exit(NULL);
}

static void test_main_pthread_exit(void) {
  for (int run = 0; run < 3; run++) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) { close(fds[0]); px_child(fds[1]); _exit(99); }
    close(fds[1]);
    char buf[128] = { 0 };
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    close(fds[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child whose main called pthread_exit: %s %d (SIGALRM=%d means a deadlock)",
          WIFEXITED(st) ? "exit status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), SIGALRM);
    CHECK(strncmp(buf, "OK ", 3) == 0, "child did not write the success marker (got \"%s\")", buf);
    if (run == 0) printf("pthread_exit child: %s", buf);
  }
}

/* --------------------------------------------- blocks of exited threads */

enum { NEX = 5000 };
static blk_t ex_blocks[NEX];
static void *ex_alloc(void *a) {
  (void)a;
  for (int i = 0; i < NEX; i++) {
    size_t n = (size_t)(1 + (i * 2654435761u) % (i % 100 == 0 ? 2000000 : 4000));
    if (i % 3 == 0) {
      void *p = NULL;
      CHECK(posix_memalign(&p, 256, n) == 0, "posix_memalign");
      ex_blocks[i].p = p; ex_blocks[i].n = n; ex_blocks[i].seed = pat_seed(p, n, 1);
      pat_fill(p, n, ex_blocks[i].seed);
    } else {
      ex_blocks[i] = blk_new(n, (uint64_t)i, __func__);
    }
  }
  return NULL;
}
static void *ex_free_half(void *a) {
  uintptr_t h = (uintptr_t)a;
  for (int i = (int)h; i < NEX; i += 2) {
    blk_vfy(&ex_blocks[i], "block of an exited thread");
    if (i % 4 == 1) {
      void *q = realloc(ex_blocks[i].p, ex_blocks[i].n + 5000);
      CHECK(q != NULL && pat_check(q, ex_blocks[i].n, ex_blocks[i].seed) == 0, "realloc of an exited thread's block");
      free(q);
    } else {
      free(ex_blocks[i].p);
    }
  }
  return NULL;
}
static void test_exited_blocks(void) {
  for (int r = 0; r < 3; r++) {
    test_join(test_spawn(ex_alloc, NULL));
    CHECK(strata_heap_check() == 0, "heap check with an exited thread's blocks live");
    pthread_t b = test_spawn(ex_free_half, (void *)1);
    ex_free_half((void *)0);  /* main frees the other half, concurrently */
    test_join(b);
    CHECK(strata_heap_check() == 0, "heap check after freeing an exited thread's blocks");
  }
}

/* ----------------------------------- many threads exit with blocks live */

enum { NMANY = 200, PER = 100 };
static blk_t many[NMANY][PER];
static void *many_alloc(void *a) {
  uintptr_t id = (uintptr_t)a;
  for (int i = 0; i < PER; i++) many[id][i] = blk_new((size_t)(1 + (id * 31 + (uintptr_t)i * 97) % (i == 50 ? 100000 : 1500)), id * 1000 + (uintptr_t)i, __func__);
  return NULL;
}
static void *many_free_adopt(void *a) {
  uintptr_t id = (uintptr_t)a;
  /* free another dead thread's blocks, and allocate on top */
  for (int i = 0; i < PER; i++) { blk_vfy(&many[id][i], "many: block of a dead thread"); free(many[id][i].p); }
  for (int i = 0; i < PER; i++) many[id][i] = blk_new((size_t)(1 + i * 11), (uint64_t)i, __func__);
  for (int i = 0; i < PER; i++) { blk_vfy(&many[id][i], "many: re-allocated"); free(many[id][i].p); }
  return NULL;
}
static void test_many_exited(void) {
  for (int w = 0; w < NMANY; w += 8) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) t[i] = test_spawn(many_alloc, (void *)(uintptr_t)(w + i));
    for (int i = 0; i < 8; i++) test_join(t[i]);
  }
  CHECK(strata_heap_check() == 0, "heap check with %d exited threads' blocks live", NMANY);
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  printf("after %d threads exited holding blocks: heaps %zu, pages in use %zu, abandoned %zu\n",
         NMANY, st.heaps, st.pages_in_use, st.pages_abandoned);
  /* main frees the first half, new threads the second half */
  for (int id = 0; id < NMANY / 2; id++)
    for (int i = 0; i < PER; i++) { blk_vfy(&many[id][i], "many: main frees"); free(many[id][i].p); }
  CHECK(strata_heap_check() == 0, "heap check after main freed half");
  for (int w = NMANY / 2; w < NMANY; w += 10) {
    pthread_t t[10];
    for (int i = 0; i < 10; i++) t[i] = test_spawn(many_free_adopt, (void *)(uintptr_t)(w + i));
    for (int i = 0; i < 10; i++) test_join(t[i]);
  }
  CHECK(strata_heap_check() == 0, "heap check after all blocks of exited threads freed");
  CHECK(strata_stats_get(&st) == 0, "stats");
  printf("finally: heaps %zu, pages in use %zu, abandoned %zu\n", st.heaps, st.pages_in_use, st.pages_abandoned);
  CHECK(st.heaps < 32, "%zu thread caches in use with one live thread", st.heaps);
  /* Every block of the dead threads is gone: a forced collect must leave no
   * abandoned page behind. */
  strata_collect(1);
  CHECK(strata_stats_get(&st) == 0, "stats");
  printf("after strata_collect(1): pages in use %zu, abandoned %zu, segments %zu\n",
         st.pages_in_use, st.pages_abandoned, st.segments);
  CHECK(st.pages_abandoned == 0, "%zu empty abandoned pages survive strata_collect(1)", st.pages_abandoned);
  CHECK(strata_heap_check() == 0, "heap check after strata_collect(1)");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Created before this process's first test allocation. */
  CHECK(pthread_key_create(&key_before, dtor_before) == 0, "key_create");
  test_main_pthread_exit();   printf("main pthread_exit ok\n");   /* fork while single-threaded */
  test_first_calls();         printf("first calls ok\n");
  test_only_frees();          printf("free-only thread ok\n");
  test_destructors();         printf("destructors ok\n");
  test_exited_blocks();       printf("blocks of exited threads ok\n");
  test_many_exited();         printf("many exited threads ok\n");
  printf("t_lifecycle: all passed\n");
  return 0;
}
