/* t_misuse.c -- heap misuse is reported, never turned into corruption.
 *
 * Each case runs in a forked child with stderr captured:
 *  - double free of a large block that went into the large cache: abort
 *    with a strata message (abort_on_error=1, the default);
 *  - the same with abort_on_error=0: reported and ignored, and the cache
 *    must not hand the block out twice;
 *  - double free of a large block after a moving realloc freed the old
 *    address; double free of a small block (local), invalid pointers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

static volatile size_t vz;                 /* hides sizes/pointers from the compiler */
static void *opaque(void *p) { vz++; return p; }

typedef void (*case_fn)(void);


static void expect_abort(const char *name, case_fn fn) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
        "%s: expected SIGABRT, got %s %d; stderr: %s", name,
        WIFSIGNALED(st) ? "signal" : "exit status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), buf);
  CHECK(strstr(buf, "strata:") != NULL, "%s: aborted without a strata report; stderr: %s", name, buf);
  printf("ok: %s -> %s", name, buf);
}
static void expect_clean(const char *name, case_fn fn) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child failed (status %#x); stderr: %s", name, st, buf);
  CHECK(strstr(buf, "strata:") != NULL, "%s: misuse not reported; stderr: %s", name, buf);
  printf("ok: %s (reported, ignored)\n", name);
}

/* Not a misuse: the child exits 0 and strata says nothing. */
static void expect_silent(const char *name, case_fn fn) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child failed (status %#x); stderr: %s", name, st, buf);
  CHECK(strstr(buf, "strata:") == NULL, "%s: reported; stderr: %s", name, buf);
  printf("ok: %s\n", name);
}

/* ---- cases */

static void large_double_free_cached(void) {
  char *p = malloc(3000000);
  CHECK(p != NULL, "malloc");
  memset(p, 1, 3000000);
  free(p);                                 /* parked in the large cache */
  free(opaque(p));                         /* must be reported */
}
/* A block above the regions (a mapping of its own), parked in the large
 * cache by its free: a second free or a realloc is named as such (both
 * said "invalid pointer" before: found by review, 2026-11-28).  Secure
 * mode unmaps it instead, which leaves nothing to tell by. */
static void mapped_large_double_free(void) {
  char *p = malloc((size_t)20 << 20);
  CHECK(p != NULL, "malloc");
  memset(p, 1, 4096);
  free(p);
  free(opaque(p));
}
static void mapped_large_realloc_freed(void) {
  char *p = malloc((size_t)20 << 20);
  CHECK(p != NULL, "malloc");
  free(p);
  p = realloc(opaque(p), 100);
}
/* Secure mode's quarantine (large.c): a freed mapping stays reserved and
 * inaccessible, so the next block of the same size lands elsewhere and a
 * second free of the old address is reported instead of freeing the new
 * block (before, the kernel handed the same range out again at once). */
static void quarantined_double_free(void) {
  char *p = malloc((size_t)3 << 20);
  CHECK(p != NULL, "malloc");
  free(p);
  char *q = malloc((size_t)3 << 20);
  CHECK(q != NULL && q != p, "a freed mapping was handed out again at once: %p", q);
  free(opaque(p));
}
static void quarantined_use_after_free(void) {
  volatile char *p = malloc((size_t)3 << 20);
  CHECK(p != NULL, "malloc");
  p[100] = 1;
  free((void *)p);
  p[100] = 2;                              /* faults: the range is PROT_NONE */
}
/* The first quarantined block installs strata's SIGSEGV handler in front
 * of the program's; a fault that is not strata's goes on to the program's
 * handler as the kernel would have run it.  Here one with SA_NODEFER that
 * leaves by longjmp: it once ran with strata's mask, SIGSEGV stayed
 * blocked, and the second probe killed the process (found by review). */
static jmp_buf nodefer_jb;
static void nodefer_handler(int sig) { (void)sig; longjmp(nodefer_jb, 1); }
static int probe_faults(volatile char *p) {
  if (setjmp(nodefer_jb)) return 1;
  (void)*p;
  return 0;
}
static void chained_nodefer_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = nodefer_handler;
  sa.sa_flags = SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
  char *volatile big = malloc((size_t)3 << 20);
  CHECK(big != NULL, "malloc");
  big[0] = 1;
  free(big);                               /* quarantined: strata's handler goes in front */
  struct sigaction cur;
  CHECK(sigaction(SIGSEGV, NULL, &cur) == 0 && cur.sa_handler != nodefer_handler,
        "strata's handler was not installed in front of the program's");
  for (int i = 0; i < 3; i++) CHECK(probe_faults((volatile char *)8) == 1, "probe %d did not fault", i);
  exit(0);
}
/* Ignored: the new block at another address keeps its data, and after
 * more frees than the ring holds (the oldest entry unmapped, its slots
 * cleared) a free of the first address is an invalid pointer, not a
 * crash. */
static void quarantined_double_free_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  strata_stats_t st0, st1;
  strata_stats_get(&st0);
  char *p = malloc((size_t)3 << 20);
  CHECK(p != NULL, "malloc");
  free(p);
  char *q = malloc((size_t)3 << 20);
  CHECK(q != NULL && q != p, "the same range again: %p", q);
  memset(q, 0x5a, (size_t)3 << 20);
  free(opaque(p));                         /* reported, ignored */
  for (size_t i = 0; i < ((size_t)3 << 20); i += 4096) CHECK(q[i] == 0x5a, "the live block changed at %zu", i);
  for (int i = 0; i < 100; i++) {          /* more than the ring's 64 entries */
    char *x = malloc(((size_t)2 << 20) + (size_t)i * 4096);
    CHECK(x != NULL, "malloc %d", i);
    x[0] = 1;
    free(x);
  }
  free(opaque(p));                         /* unmapped by now: invalid pointer */
  free(q);
  strata_stats_get(&st1);
  CHECK(st1.misuses - st0.misuses == 2, "misuses counted: %zu", (size_t)(st1.misuses - st0.misuses));
  CHECK(strata_heap_check() == 0, "heap check");
}
static void *dfree_thread(void *p) { free(opaque(p)); return NULL; }
static void large_double_free_cached_other_thread(void) {
  char *p = malloc(5000000);
  CHECK(p != NULL, "malloc");
  free(p);
  test_join(test_spawn(dfree_thread, p));
}
static void large_double_free_after_move(void) {
  char *p = malloc(2000000);
  char *blocker = malloc(2000000);          /* so that growing cannot stay in place */
  CHECK(p && blocker, "malloc");
  char *q = realloc(p, (size_t)64 << 20);
  CHECK(q != NULL, "realloc");
  free(q);
  free(opaque(p));                         /* the old address: invalid now */
}
/* A span block (128 KiB .. 1 MiB): freed twice with nothing in between. */
static void span_double_free(void) {
  char *p = malloc(300000);
  CHECK(p != NULL, "malloc");
  memset(p, 1, 300000);
  free(p);
  free(opaque(p));                         /* its span is free: must be reported */
}
static void small_double_free(void) {
  char *p = malloc(48);
  CHECK(p != NULL, "malloc");
  free(p);
  free(opaque(p));
}
static void large_double_free_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  char *p = malloc(4000000);
  CHECK(p != NULL, "malloc");
  free(p);
  free(opaque(p));                         /* reported, ignored */
  char *a = malloc(4000000), *b = malloc(4000000);
  CHECK(a != NULL && b != NULL && a != b, "the cache handed out %p twice after a double free", a);
  memset(a, 0xaa, 400000);
  memset(b, 0xbb, 400000);
  CHECK(a[399999] == (char)0xaa && b[0] == (char)0xbb, "overlapping blocks");
  free(a);
  free(b);
  CHECK(strata_heap_check() == 0, "heap check");
}
static void small_double_free_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  char *p = malloc(48);
  CHECK(p != NULL, "malloc");
  free(p);
  free(opaque(p));
  char *a = malloc(48), *b = malloc(48);
  CHECK(a != NULL && b != NULL && a != b, "malloc handed out %p twice after a double free", a);
  free(a);
  free(b);
  CHECK(strata_heap_check() == 0, "heap check");
}

/* ---- one case per misuse kind (issue 7): the report's words and the size class */

static void expect_report(const char *name, case_fn fn, const char *words, const char *size_class) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: expected SIGABRT, got status %#x; stderr: %s", name, st, buf);
  CHECK(strstr(buf, words) != NULL, "%s: the report lacks \"%s\"; stderr: %s", name, words, buf);
  CHECK(size_class == NULL || strstr(buf, size_class) != NULL, "%s: the report lacks \"%s\"; stderr: %s",
        name, size_class, buf);
  CHECK(strstr(buf, "; aborting") != NULL, "%s: no '; aborting'; stderr: %s", name, buf);
  printf("ok: %s -> %s", name, buf);
}

static void interior_free(void) {
  char *p = malloc(64);
  CHECK(p != NULL, "malloc");
  free(opaque(p + 16));                    /* inside the block, 16-byte aligned */
}
/* A block whose user data holds the free key (ST_FREE_KEY) is freed: a
 * legitimate free, confirmed as such; then freed again: reported.  Secure
 * mode zeroed the block on the confirmed path and took the key with the
 * data, so the second free found none and the block was handed out twice
 * (found by review, 2026-11-28). */
static void keyed_data_double_free(void) {
  void *keep = malloc(64);                 /* the page stays in use */
  uintptr_t *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  p[1] = (uintptr_t)0xffffffffa5f3c1d7u;   /* the free key, as data */
  free(p);
  free(opaque(p));
}
static void interior_free_odd(void) {
  char *p = malloc(64);
  CHECK(p != NULL, "malloc");
  free(opaque(p + 8));                     /* inside the block, off the 16-byte grid */
}
static void interior_free_other_thread(void) {
  char *p = malloc(200);
  CHECK(p != NULL, "malloc");
  test_join(test_spawn(dfree_thread, p + 32));
}
/* Freed twice by another thread: both frees wait in that thread's batch
 * (remote.c) and the second is caught when the owner frees them. */
static void *dfree_twice(void *p) {
  void *mine = malloc(16);                 /* a heap of its own: its frees are batched */
  free(opaque(p));
  free(opaque(p));
  free(mine);
  return NULL;
}
static void *dfree_twice_heapless(void *p) {
  free(opaque(p));                         /* no heap: straight onto the remote list */
  free(opaque(p));                         /* the key: this thread gets a heap, the block a batch */
  return NULL;
}
static void remote_double_free(void) {
  char *p = malloc(64);
  CHECK(p != NULL, "malloc");
  test_join(test_spawn(dfree_twice, p));  /* the thread's exit sends the batch */
  strata_stats_t st;
  strata_stats_get(&st);                   /* the owner frees what it was sent */
}
/* The owner frees a block, another thread frees it again (batched: the
 * block carries the key), and the owner's next malloc hands the block out
 * again before that batch arrives.  The delivery used to free the block
 * as the owner's own (the key was gone, so there was nothing to confirm),
 * and the next malloc handed the new taker's block out a second time;
 * now the batch remembers that the block carried the key (RB_KEYED), and
 * the delivery reports the second free instead. */
static sem_t rehand_freed, rehand_go;
static void *free_later_batched(void *p) {
  void *mine = malloc(16);                 /* a heap of its own: its frees are batched */
  free(opaque(p));                         /* the second free, batched */
  sem_post(&rehand_freed);
  sem_wait(&rehand_go);
  free(mine);
  return NULL;                             /* the exit sends the batch */
}
static void remote_double_free_rehanded(void) {
  sem_init(&rehand_freed, 0, 0);
  sem_init(&rehand_go, 0, 0);
  char *keep = malloc(64), *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  free(opaque(p));                         /* the first free: key, on the list */
  pthread_t t = test_spawn(free_later_batched, p);
  sem_wait(&rehand_freed);
  char *q = malloc(64);                    /* the head of the list: p again */
  CHECK(q == p, "malloc did not take the freed block back (%p, %p)", (void *)q, (void *)p);
  memset(q, 0x6b, 64);
  sem_post(&rehand_go);
  test_join(t);
  strata_stats_t st;
  strata_stats_get(&st);                   /* the delivery */
  char *r = malloc(64);                    /* handed out twice before the fix */
  fprintf(stderr, "not reported: q %p r %p\n", (void *)q, (void *)r);
}
/* Two other threads free the same live block, one after the other, each
 * with a heap (so each free is batched).  The second found no key (a batch
 * did not write the block), so it was batched too, and if the owner's
 * malloc took the block back between the two deliveries, the second freed
 * the new taker's block (found by review, 2026-11-27).  Now a batched block
 * carries the batch mark, and the second free is reported at the call. */
static sem_t two_first_done;
static void *free_first_keep_heap(void *p) {
  void *mine = malloc(16);
  free(opaque(p));                         /* batched: the block gets the batch mark */
  sem_post(&two_first_done);
  sem_wait(&rehand_go);                    /* the batch stays unsent meanwhile */
  free(mine);
  return NULL;
}
static void *free_second(void *p) {
  void *mine = malloc(16);
  free(opaque(p));                         /* reported here */
  free(mine);
  return NULL;
}
/* Another thread frees a live block (batched: the batch mark), then the
 * owner frees it too, before the batch arrives: the owner's fast path
 * knows only the key, so it listed the block, and its next malloc handed
 * it out; the delivery then freed the new taker's block (found by review,
 * 2026-11-28).  Now the delivery finds the batch mark gone and reports. */
/* A live 64-byte block that thread *t has freed, its batch held unsent
 * until rehand_go is posted (a neighbour stays live). */
static char *freed_in_held_batch(pthread_t *t) {
  sem_init(&two_first_done, 0, 0);
  sem_init(&rehand_go, 0, 0);
  char *keep = malloc(64), *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  *t = test_spawn(free_first_keep_heap, p);
  sem_wait(&two_first_done);
  return p;
}
static void owner_double_free_while_batched_run(int take_back) {
  pthread_t t1;
  char *p = freed_in_held_batch(&t1);
  free(opaque(p));                         /* the owner's second free */
  char *q = take_back ? malloc(64) : NULL; /* p again, in use by a new taker */
  if (take_back) CHECK(q == p, "malloc did not take the freed block back (%p, %p)", (void *)q, (void *)p);
  sem_post(&rehand_go);
  test_join(t1);                           /* the exit sends the batch */
  strata_stats_t st;
  strata_stats_get(&st);                   /* the delivery: reported */
  char *r = malloc(64);
  fprintf(stderr, "not reported: q %p r %p\n", (void *)q, (void *)r);
}
static void owner_double_free_while_batched(void) { owner_double_free_while_batched_run(0); }
static void owner_double_free_while_batched_taken(void) { owner_double_free_while_batched_run(1); }
static void remote_double_free_two_threads(void) {
  pthread_t t1;
  char *p = freed_in_held_batch(&t1);
  test_join(test_spawn(free_second, p));   /* its exit sends its batch */
  strata_stats_t st;
  strata_stats_get(&st);                   /* delivered: p is free */
  char *q = malloc(64);                    /* and handed out again */
  sem_post(&rehand_go);
  test_join(t1);                           /* the first free's batch */
  strata_stats_get(&st);                   /* delivered: it freed q */
  char *r = malloc(64);
  fprintf(stderr, "not reported: q %p r %p\n", (void *)q, (void *)r);
}
/* The same with user data that happens to equal the key in word 1 of a
 * live block, freed once by another thread: freed normally, no report,
 * and handed out once afterwards. */
static void *free_once_batched(void *p) {
  void *mine = malloc(16);
  free(opaque(p));
  free(mine);
  return NULL;
}
static void remote_free_keylike_data(void) {
  char *keep = malloc(64), *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  ((volatile uint64_t *)p)[1] = 0xffffffffa5f3c1d7ull;   /* ST_FREE_KEY (src/malloc/internal.h) */
  test_join(test_spawn(free_once_batched, p));
  strata_stats_t st;
  strata_stats_get(&st);
  int seen = 0;
  char *v[64];
  for (int i = 0; i < 64; i++) { v[i] = malloc(64); CHECK(v[i] != NULL, "malloc"); seen += v[i] == p; }
  CHECK(seen == 1, "the block was handed out %d times", seen);
  for (int i = 0; i < 64; i++) free(v[i]);
  free(keep);
  CHECK(strata_heap_check() == 0, "heap check");
}
/* Blocks over 1 KiB are not batched: another thread's free pushes them
 * straight onto their page's remote list (xthread_free), and so does the
 * free of a thread without a heap, for any size.  Pushed twice, the block
 * closed that list into a loop.  Now a free that finds the key sends the
 * block to its owner in a batch (creating the freeing thread's heap if it
 * has none), and the owner looks for it on both of the page's lists. */
static void remote_double_free_big(void) {
  char *keep = malloc(4096), *p = malloc(4096);  /* keep: the page stays in use */
  CHECK(keep != NULL && p != NULL, "malloc");
  test_join(test_spawn(dfree_twice, p));   /* pushed, then batched: the exit sends it */
  strata_stats_t st;
  strata_stats_get(&st);                   /* the owner finds it on its remote list */
}
static void remote_double_free_heapless(void) {
  char *keep = malloc(64), *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  test_join(test_spawn(dfree_twice_heapless, p));
  strata_stats_t st;
  strata_stats_get(&st);
}
/* The owner frees a block that another thread's free left on the page's
 * remote list: its search used to cover the free list only, so it pushed
 * the block there too, and the next collect joined the two lists into a
 * loop. */
static void owner_double_free_after_remote(void) {
  char *keep = malloc(4096), *p = malloc(4096);
  CHECK(keep != NULL && p != NULL, "malloc");
  test_join(test_spawn(dfree_thread, p));  /* no heap: straight onto the remote list */
  free(opaque(p));
}
static void owner_double_free_after_remote_small(void) {
  char *keep = malloc(64), *p = malloc(64);
  CHECK(keep != NULL && p != NULL, "malloc");
  test_join(test_spawn(dfree_thread, p));
  free(opaque(p));
}
/* A 4 KiB block of the orphan heap (malloc'd in a thread-exit destructor
 * that runs after strata's own), freed twice by main: the orphan's inbox is
 * closed, so the suspect used to come back to its sender and be pushed
 * again (review of 2026-11-27); it is now confirmed under orphan_lock. */
static pthread_key_t orphan_key;
static void *volatile orphan_got;
static int orphan_twice_here;               /* 1: the exiting thread frees it twice itself */
static void orphan_dtor(void *v) {
  (void)v;
  free(malloc(4096));
  orphan_got = malloc(4096);
  if (orphan_twice_here) { free(opaque(orphan_got)); free(opaque(orphan_got)); }
}
static void *orphan_thread(void *a) {
  (void)a;
  free(malloc(16));                        /* a heap: strata's key destructor runs first */
  pthread_setspecific(orphan_key, (void *)1);
  return NULL;
}
/* The same freed twice by the exiting thread itself, which has no heap
 * left to batch with: confirmed under orphan_lock all the same. */
static void orphan_double_free_exiting(void) {
  orphan_twice_here = 1;
  free(opaque(malloc(1)));
  CHECK(pthread_key_create(&orphan_key, orphan_dtor) == 0, "pthread_key_create");
  test_join(test_spawn(orphan_thread, NULL));
}
static void orphan_double_free(void) {
  free(opaque(malloc(1)));
  CHECK(pthread_key_create(&orphan_key, orphan_dtor) == 0, "pthread_key_create");
  test_join(test_spawn(orphan_thread, NULL));
  char *p = orphan_got;
  CHECK(p != NULL, "malloc in a destructor");
  free(opaque(p));
  free(opaque(p));
}
/* A thread whose heap is gone (a destructor that runs after strata's)
 * frees a block that main, its live owner, freed already: it cannot batch,
 * and its push used to put the block on the page's remote list while it
 * sat on main's free list (silent).  It now borrows a heap for the moment
 * and sends the block to main in a batch; main's delivery confirms it.
 * late_size: 112 (batched class) or 4096 (never batched). */
static pthread_key_t late_key;
static size_t late_size;
static void late_dtor(void *v) { free(opaque(v)); }
static void *late_thread(void *p) {
  free(malloc(16));                        /* a heap: strata's key destructor runs first */
  pthread_setspecific(late_key, p);
  return NULL;
}
static void dead_thread_double_free(void) {
  CHECK(pthread_key_create(&late_key, late_dtor) == 0, "pthread_key_create");
  char *keep = malloc(late_size), *p = malloc(late_size);   /* keep: the page stays in use */
  CHECK(keep != NULL && p != NULL, "malloc");
  free(opaque(p));                         /* the first free: main's own */
  test_join(test_spawn(late_thread, p));
  strata_stats_t st;
  strata_stats_get(&st);                   /* main takes its inbox */
}
static void dead_thread_double_free_small(void) { late_size = 112; dead_thread_double_free(); }
static void dead_thread_double_free_big(void) { late_size = 4096; dead_thread_double_free(); }
/* The same when the owner has exited too (default options: its heap is
 * retired whole, the block on its free list): the suspect waits in the
 * retired heap's inbox, and the thread that takes the heap over used to
 * hand the block out before it took the inbox, which then freed it again
 * (found by review, 2026-11-27).  The taker now takes the inbox first. */
static sem_t late_go, late_ready;
static void *late_thread_waits(void *slot) {
  free(malloc(16));                        /* a heap, made before the owner exits */
  sem_post(&late_ready);
  sem_wait(&late_go);
  pthread_setspecific(late_key, *(void **)slot);
  return NULL;
}
static void *owner_frees_and_exits(void *arg) {
  void **v = arg;
  v[0] = malloc(4096);                     /* stays live: the page stays in use */
  v[1] = malloc(4096);
  free(opaque(v[1]));                      /* the first free: its owner's */
  return NULL;                             /* retired, the block on its free list */
}
static pthread_barrier_t take_bar;
static void *take_and_malloc(void *arg) {
  void **v = arg;
  for (int i = 0; i < 8; i++) {            /* a taken-over heap hands its free blocks out */
    if (i == 1) pthread_barrier_wait(&take_bar);   /* each took a heap over: the owner's is taken */
    v[i] = malloc(4096);
    CHECK(v[i] != NULL, "malloc");
    for (int j = 0; j < i; j++) CHECK(v[i] != v[j], "block %p handed out twice", v[i]);
  }
  return NULL;
}
static void retired_owner_double_free(void) {
  static void *v[2], *w[3][8];
  CHECK(pthread_key_create(&late_key, late_dtor) == 0, "pthread_key_create");
  sem_init(&late_go, 0, 0);
  sem_init(&late_ready, 0, 0);
  free(opaque(malloc(1)));
  pthread_t t = test_spawn(late_thread_waits, v + 1);
  sem_wait(&late_ready);
  test_join(test_spawn(owner_frees_and_exits, v));
  sem_post(&late_go);
  test_join(t);                            /* its late destructor frees v[1] again */
  pthread_t tk[3];                         /* take the retired heaps over */
  pthread_barrier_init(&take_bar, NULL, 3);
  for (int i = 0; i < 3; i++) tk[i] = test_spawn(take_and_malloc, w[i]);
  for (int i = 0; i < 3; i++) test_join(tk[i]);
}
/* The owner (A) exits while main's second free of its 4 KiB block waits in
 * main's batch for A, and another thread (X) adopts the page: the flush
 * finds A's inbox closed and delivers the batch itself, and the block,
 * which carries the key, goes on to X in a batch instead of being pushed
 * unchecked (review of 2026-11-27: X handed it out twice). */
static char *adopt_blk[8];
static sem_t adopt_made, adopt_go, adopt_x_go, adopt_x_adopted;
static void *adopt_owner(void *arg) {
  (void)arg;
  for (int i = 0; i < 8; i++) adopt_blk[i] = malloc(4096);   /* [0] stays live, [1] is freed twice */
  sem_post(&adopt_made);
  sem_wait(&adopt_go);
  return NULL;                             /* exits: purge_ms=0 abandons its pages */
}
static void *adopt_taker(void *arg) {
  (void)arg;
  free(malloc(16));                        /* a heap before A's goes */
  sem_wait(&adopt_x_go);
  void *v = malloc(4096);                  /* adopts A's page */
  sem_post(&adopt_x_adopted);
  sem_wait(&adopt_x_go);
  free(v);
  return NULL;                             /* its exit delivers its inbox */
}
static void adopted_double_free(void) {
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");
  free(opaque(malloc(1)));
  sem_init(&adopt_made, 0, 0); sem_init(&adopt_go, 0, 0);
  sem_init(&adopt_x_go, 0, 0); sem_init(&adopt_x_adopted, 0, 0);
  pthread_t x = test_spawn(adopt_taker, NULL), a = test_spawn(adopt_owner, NULL);
  sem_wait(&adopt_made);
  free(opaque(adopt_blk[1]));              /* onto A's page's remote list, with the key */
  for (int i = 2; i < 7; i++) free(adopt_blk[i]);
  free(opaque(adopt_blk[1]));              /* the key: batched for A */
  sem_post(&adopt_go);
  test_join(a);
  sem_post(&adopt_x_go);
  sem_wait(&adopt_x_adopted);
  strata_stats_t st;
  strata_stats_get(&st);                   /* A's inbox is closed: delivered here, on to X */
  sem_post(&adopt_x_go);
  test_join(x);
  strata_stats_get(&st);                   /* (if X left first: to the abandoned page) */
}

/* Stashed blocks (remote.c, "Reusing foreign blocks"): a thread with a
 * heap of its own frees main's 512-byte block, which waits in its stash;
 * the thread stays (stash_hold) while the block is misused. */
static pthread_barrier_t stash_bar;
static void *stash_hold(void *p) {
  void *mine = malloc(16);
  free(opaque(p));
  pthread_barrier_wait(&stash_bar);        /* stashed */
  pthread_barrier_wait(&stash_bar);        /* never reached when main aborts */
  free(mine);
  return NULL;
}
static char *stash_one(pthread_t *t) {
  char *p = malloc(512);
  CHECK(p != NULL, "malloc");
  pthread_barrier_init(&stash_bar, NULL, 2);
  *t = test_spawn(stash_hold, p);
  pthread_barrier_wait(&stash_bar);
  return p;
}
static void *dfree_twice_stashed(void *p) {
  void *mine = malloc(16);
  free(opaque(p));                         /* into the stash */
  free(opaque(p));                         /* found there */
  free(mine);
  return NULL;
}
static void stash_double_free_self(void) {
  char *p = malloc(512);
  CHECK(p != NULL, "malloc");
  test_join(test_spawn(dfree_twice_stashed, p));
}
/* The stash is full (an idle stash takes 4): the second free is still
 * found in it (from the review of 2026-11-27). */
static void *dfree_full_stash(void *p) {
  void **v = p;
  void *mine = malloc(16);
  for (int i = 0; i < 4; i++) free(opaque(v[i]));
  free(opaque(v[0]));
  free(mine);
  return NULL;
}
static void stash_double_free_full(void) {
  static void *v[4];
  for (int i = 0; i < 4; i++) { v[i] = malloc(512); CHECK(v[i] != NULL, "malloc"); }
  test_join(test_spawn(dfree_full_stash, v));
}
static void stash_double_free_owner(void) {
  pthread_t t;
  char *p = stash_one(&t);
  free(opaque(p));                         /* the owner's free finds the stash tag */
}
static void stash_double_free_third(void) {
  pthread_t t;
  char *p = stash_one(&t);
  test_join(test_spawn(dfree_thread, p));  /* no heap: a per-page remote free, which finds the tag */
}
static void *free_with_heap(void *p) {
  void *mine = malloc(16);
  free(opaque(p));                         /* not in this thread's stash: a batch home */
  free(mine);
  return NULL;
}
static void stash_double_free_third_batched(void) {
  pthread_t t;
  char *p = stash_one(&t);
  char *q = malloc(512);
  CHECK(q != NULL, "malloc");
  test_join(test_spawn(free_with_heap, p));  /* its stash push finds the mark */
  strata_stats_t st;
  strata_stats_get(&st);                   /* (before the mark was checked there: the owner's delivery) */
}
/* The stasher exits: its stash goes home in a batch, which main has not
 * taken yet (no malloc slow path since), and main frees the block again.
 * The transit mark reports it at this free; before it, the free found
 * nothing on its page's list and pushed the block, a second copy of which
 * was still on its way. */
static void *stash_and_exit(void *p) {
  void *mine = malloc(16);
  free(opaque(p));                         /* into the stash */
  free(mine);
  return NULL;                             /* the exit flushes the stash into a batch */
}
static void stash_double_free_in_transit(void) {
  char *p = malloc(512);
  CHECK(p != NULL, "malloc");
  test_join(test_spawn(stash_and_exit, p));
  free(opaque(p));                         /* the block is in main's inbox */
  _exit(0);                                /* no delivery, no exit report */
}
/* Blocks of a thread that exited: with purge_ms=0 its heap is not kept
 * for reuse, so its pages are abandoned, and a free of their blocks takes
 * abandoned_lock (_st_abandoned_free).  Before the check there, a second
 * free pushed the block again: the remote list closed into a loop that the
 * next collect spun on for ever (review of 2026-11-27). */
static void *alloc_two_and_exit(void *p) {
  void **v = p;
  v[0] = malloc(512);
  v[1] = malloc(512);                      /* keeps the page in use */
  return NULL;
}
static void abandoned_double_free(void) {
  static void *v[2];
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");
  test_join(test_spawn(alloc_two_and_exit, v));
  CHECK(v[0] != NULL && v[1] != NULL, "malloc");
  free(opaque(v[0]));
  free(opaque(v[0]));
}
/* The same for a block a stash flush sent home to its abandoned page: the
 * stasher (main) stashed it while its owner lived. */
static pthread_barrier_t owner_bar;
static void *alloc_wait_exit(void *p) {
  void **v = p;
  v[0] = malloc(512);
  v[1] = malloc(512);
  pthread_barrier_wait(&owner_bar);        /* main stashes v[0] */
  pthread_barrier_wait(&owner_bar);
  return NULL;
}
static void abandoned_double_free_flushed(void) {
  static void *v[2];
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");
  free(opaque(malloc(16)));                /* main has a heap: it stashes */
  pthread_barrier_init(&owner_bar, NULL, 2);
  pthread_t t = test_spawn(alloc_wait_exit, v);
  pthread_barrier_wait(&owner_bar);
  free(opaque(v[0]));                      /* its owner lives: into main's stash */
  pthread_barrier_wait(&owner_bar);
  test_join(t);
  strata_stats_t st;
  strata_stats_get(&st);                   /* the flush sends it to the abandoned page */
  free(opaque(v[0]));
}
static void stash_realloc(void) {
  pthread_t t;
  char *p = stash_one(&t);
  char *q = realloc(opaque(p), 2000);
  (void)q;
}
/* free() of the address just past the last block of the caller's own
 * 48-byte span (1365 blocks in 64 KiB leave a 16-byte tail): it is on a
 * block boundary, so the fast path's interior test let it through, and
 * the next malloc(48) handed out a block running 32 bytes into the next
 * span (found by review, 2026-11-27). */
static void span_tail_free(void) {
  char *a = malloc(48);
  CHECK(a != NULL, "malloc");
  uintptr_t span = (uintptr_t)a & ~(uintptr_t)0xffff;          /* one 64 KiB slice */
  free(opaque((void *)(span + (65536 / 48) * 48)));
}
static void stack_free(void) {
  char buf[64];
  free(opaque(buf));
}
static char not_ours[1 << 16] __attribute__((aligned(64)));
static void foreign_free(void) { free(opaque(not_ours + 4096)); }   /* another allocator's block */
static void sized_free_wrong(void) {
  char *p = malloc(100);                   /* class 112 */
  CHECK(p != NULL, "malloc");
  strata_free_sized(opaque(p), 1000);
}
static void sized_free_too_small(void) {
  char *p = malloc(5000);
  CHECK(p != NULL, "malloc");
  strata_free_sized(opaque(p), 24);
}
/* free_aligned_sized with a size the aligned request cannot have had:
 * judged by the class of round_up(size, align), and for a large block by
 * the size asked for (both passed before: found by review). */
static void aligned_sized_free_wrong(void) {
  void *p = NULL;
  CHECK(posix_memalign(&p, 64, 4096) == 0, "posix_memalign");
  strata_free_aligned_sized(opaque(p), 64, 16);     /* (16, 64) would be a 64-byte block */
}
static void aligned_sized_free_large_wrong(void) {
  void *q = aligned_alloc(4096, 300000);
  CHECK(q != NULL, "aligned_alloc");
  strata_free_aligned_sized(opaque(q), 4096, 1);
}
/* free_aligned_sized with an alignment the block does not have, or one
 * that is no power of two: any alignment passed (found by review, stop 30) */
static void aligned_sized_free_misaligned(void) {
  char *p = aligned_alloc(64, 128);
  CHECK(p != NULL, "aligned_alloc");
  CHECK(((uintptr_t)p & ((1u << 20) - 1)) != 0, "the block happens to be 1 MiB aligned");
  strata_free_aligned_sized(opaque(p), (size_t)1 << 20, 128);
}
static void aligned_sized_free_not_pow2(void) {
  char *p = aligned_alloc(64, 128);
  CHECK(p != NULL, "aligned_alloc");
  strata_free_aligned_sized(opaque(p), 48, 128);
}
/* malloc_usable_size of a freed small or span block (region and large
 * blocks were reported; these returned their size: found by review, stop 30) */
static void usable_size_freed_span(void) {
  char *p = malloc(100000);
  CHECK(p != NULL, "malloc");
  free(p);
  (void)!malloc_usable_size(opaque(p));
}
static void usable_size_freed_small(void) {
  char *p = malloc(80);
  CHECK(p != NULL, "malloc");
  free(p);
  (void)!malloc_usable_size(opaque(p));
}
/* realloc of a freed block to a size no block can have: the pointer is
 * judged first (it used to be a silent ENOMEM: found by review, stop 30) */
static void realloc_freed_huge(void) {
  char *p = malloc(100000);
  CHECK(p != NULL, "malloc");
  free(p);
  errno = 0;
  void *q = realloc(opaque(p), SIZE_MAX / 2);
  CHECK(q == NULL, "realloc of a freed block returned %p", q);
}
static void aligned_sized_free_right(void) {      /* the sizes that fit are not reported */
  static const size_t al[] = { 32, 64, 256, 4096, 65536 };
  static const size_t sz[] = { 0, 1, 16, 48, 100, 1000, 4096, 5000, 70000, 131072, 300000 };
  for (unsigned a = 0; a < sizeof al / sizeof *al; a++)
    for (unsigned k = 0; k < sizeof sz / sizeof *sz; k++) {
      void *p = NULL;
      CHECK(posix_memalign(&p, al[a], sz[k]) == 0, "posix_memalign");
      strata_free_aligned_sized(opaque(p), al[a], sz[k]);
    }
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 0, "%zu misuses reported on right sizes", st.misuses);
}
static void sized_free_large_wrong(void) {
  char *p = malloc(3 << 20);
  CHECK(p != NULL, "malloc");
  strata_free_sized(opaque(p), (size_t)64 << 20);
}
/* C++'s sized delete (the mangled operator delete(void*, size_t), which
 * libstrata exports) with a wrong size: the report names it */
void _ZdlPvm(void *p, size_t n);
static void sized_delete_wrong(void) {
  char *p = malloc(100);
  CHECK(p != NULL, "malloc");
  _ZdlPvm(opaque(p), 4000);
}
/* A sampled block (guard_sample=1: every allocation) is judged like any
 * other: it was freed whatever the size (found by review, 2026-11-28). */
static void *guarded_malloc(size_t n) {
  CHECK(strata_option_set("guard_sample", 1) == 0, "option");
  for (int k = 0; k < 16; k++) {    /* only the fast path samples: a fresh page's first malloc is not */
    strata_stats_t a, b;
    strata_stats_get(&a);
    void *p = malloc(n);
    strata_stats_get(&b);
    CHECK(p != NULL, "malloc(%zu)", n);
    if (b.guarded_live == a.guarded_live + 1) return p;
    free(p);
  }
  CHECK(0, "malloc(%zu) was not sampled", n);
  return NULL;
}
static void sized_free_guarded_wrong(void) { strata_free_sized(opaque(guarded_malloc(100)), 5000); }
static void sized_free_guarded_right(void) {
  for (size_t n = 1; n <= 1024; n += n / 3 + 1) {
    void *p = guarded_malloc(n);
    memset(p, 0x5a, n);
    strata_free_sized(opaque(p), n);
  }
  /* a small block kept by realloc for a smaller size, and an aligned
   * request (sampled as malloc of the alignment): right sizes too (both
   * were reported: found by review) */
  char *q = guarded_malloc(48);
  CHECK(realloc(q, 8) == q, "realloc(48 -> 8) kept the sampled block");
  strata_free_sized(opaque(q), 8);
  for (int k = 0; k < 16; k++) {
    void *a = aligned_alloc(256, 10);
    CHECK(a != NULL && ((uintptr_t)a & 255) == 0, "aligned_alloc(256, 10)");
    strata_free_aligned_sized(opaque(a), 256, 10);
  }
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 0 && st.guarded_live == 0, "%zu misuses, %zu guarded blocks live after right sizes",
        st.misuses, st.guarded_live);
}
static void realloc_freed(void) {
  char *p = malloc(80);
  CHECK(p != NULL, "malloc");
  free(p);
  char *q = realloc(opaque(p), 200);
  (void)q;
}
static void realloc_freed_span(void) {
  /* kept, not given back: with purge_ms=0 from the environment the region
   * goes back at once, and the report says "invalid pointer" instead */
  CHECK(strata_option_set("purge_ms", -1) == 0, "option");
  char *p = malloc(400000);
  CHECK(p != NULL, "malloc");
  free(p);
  char *q = realloc(opaque(p), 500000);
  (void)q;
}
static void list_overwrite(void) {
  char *a = malloc(64);
  CHECK(a != NULL, "malloc");
  free(a);
  memset(opaque(a), 0x41, 8);              /* use after free: the link is overwritten */
  char *b = malloc(64);                    /* takes a back */
  CHECK(b == a, "LIFO reuse expected (got %p, freed %p)", (void *)b, (void *)a);
  char *c = malloc(64);                    /* would follow the forged link */
  (void)c;
}

/* The same, ignored: a build that checks popped blocks (secure builds)
 * reports it, gives the page's list up and goes on with the heap sound
 * (it lost the list's blocks before: the heap check failed; found by
 * review); other builds fault on the decoded link. */
static void list_overwrite_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  char *v[64];
  for (int i = 0; i < 64; i++) CHECK((v[i] = malloc(64)) != NULL, "malloc");
  for (int i = 0; i < 64; i++) free(v[i]);
  memset(opaque(v[63]), 0x41, 8);          /* the list's head, overwritten */
  char *b = malloc(64), *c = malloc(64);
  CHECK(b != NULL && c != NULL && b != c, "malloc after the ignored corruption");
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 1, "misuses counted %zu, expected 1", st.misuses);
  for (int i = 0; i < 256; i++) {          /* the class still works */
    char *p = malloc(64);
    CHECK(p != NULL && p != b && p != c, "malloc");
    memset(p, i, 64);
  }
  free(b);
  free(c);
  CHECK(strata_heap_check() == 0, "heap check");
}

/* A double free of a block whose memory was purged (held in a purged unit
 * of a sparse span, page.c): its content is gone, so only the unit says it
 * is free. */
static void held_double_free(void) {
  enum { N = 512 };
  static char *b[N];
  for (int i = 0; i < N; i++) { b[i] = malloc(1000); CHECK(b[i] != NULL, "malloc"); memset(b[i], 7, 1000); }
  for (int i = 0; i < N; i++) if (i % 64 != 0) free(b[i]);   /* spans become sparse */
  malloc_trim(0);                                           /* purges their free units */
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.purged_total > 0, "nothing was purged: the case does not test held blocks");
  free(opaque(b[N / 2 + 10]));       /* freed, its unit purged (block 0 of each span stays live) */
}

/* Blocks held in purged units (see held_double_free) freed again by
 * another thread, realloc'd, or freed again after their thread exited:
 * their key went with their memory, so only the units tell (each was
 * silent before, and the block was later handed out twice: found by
 * review).  held_spans() leaves the N blocks of 512 bytes freed but every
 * 64th, and purged. */
enum { HELD_N = 1024 };
static char *held_b[HELD_N];
static void held_spans(void) {
  for (int i = 0; i < HELD_N; i++) { held_b[i] = malloc(512); CHECK(held_b[i] != NULL, "malloc"); memset(held_b[i], 7, 512); }
  for (int i = 0; i < HELD_N; i++) if (i % 64 != 0) free(held_b[i]);
  malloc_trim(0);
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.purged_total > 0, "nothing was purged: the case does not test held blocks");
}
static void *held_spans_thread(void *arg) { (void)arg; held_spans(); return NULL; }
static void held_double_free_remote(void) {
  held_spans();
  test_join(test_spawn(dfree_thread, held_b[HELD_N / 2 + 10]));
  for (int i = 0; i < 2 * HELD_N; i++)    /* the owner takes its batches on a slow path: reported there */
    CHECK(malloc(512) != NULL, "malloc");
  CHECK(0, "not reported");
}
/* The same, but the owner brings the unit back and hands the block out
 * again before the batch arrives: the suspect was batched with RB_KEYED
 * (its unit purged), and its delivery, which finds the unit back and no
 * key, reports it; before, the owner freed the new taker's block. */
static sem_t hl_freed, hl_go;
static void *held_free_later(void *p) {
  free(opaque(p));                         /* no heap: gets one, the suspect a batch */
  sem_post(&hl_freed);
  sem_wait(&hl_go);
  return NULL;                             /* the exit sends the batch */
}
static void held_double_free_remote_rehanded(void) {
  sem_init(&hl_freed, 0, 0);
  sem_init(&hl_go, 0, 0);
  held_spans();
  char *b = held_b[HELD_N / 2 + 10];
  pthread_t t = test_spawn(held_free_later, b);
  sem_wait(&hl_freed);
  int got = 0;
  for (int i = 0; i < 4 * HELD_N && !got; i++) {
    char *q = malloc(512);
    CHECK(q != NULL, "malloc");
    if (q == b) { got = 1; memset(q, 0x6b, 512); }
  }
  CHECK(got, "the owner did not hand the held block out again");
  sem_post(&hl_go);
  test_join(t);
  strata_stats_t st;
  strata_stats_get(&st);                   /* the delivery */
  fprintf(stderr, "not reported\n");
}
static void held_realloc(void) {
  held_spans();
  void *q = realloc(opaque(held_b[HELD_N / 2 + 10]), 512);
  CHECK(0, "realloc of a held block returned %p", q);
}
static void held_double_free_abandoned(void) {
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");   /* the exiting thread abandons its pages */
  test_join(test_spawn(held_spans_thread, NULL));
  free(opaque(held_b[HELD_N / 2 + 10]));
}

/* A held block freed twice by another thread whose suspect batch is
 * delivered only after the owner exited (its inbox closed) and a third
 * thread adopted the page: the sender delivers it and must forward it to
 * the new owner as a suspect, not push it (it was pushed and handed out
 * twice: found by review).  Ignored: counted once, handed out once. */
static sem_t ha_a_go, ha_a_done, ha_c_go, ha_c_done, ha_c_go2, ha_c_done2;
static char *ha_victim;
static char *ha_got[8192];
static int ha_ngot, ha_dup;
static void *ha_thread_a(void *x) {
  (void)x;
  held_spans();
  sem_post(&ha_a_done);
  sem_wait(&ha_a_go);
  return NULL;                             /* exits: purge_ms=0, its pages are abandoned */
}
static void *ha_thread_c(void *x) {
  (void)x;
  free(opaque(malloc(16)));                /* a heap of its own, made now */
  sem_wait(&ha_c_go);
  while (ha_ngot < 8192) {                 /* adopt pages of the class up to the victim's */
    char *p = malloc(512);
    CHECK(p != NULL, "malloc");
    ha_got[ha_ngot++] = p;
    if (((uintptr_t)p >> 16) == ((uintptr_t)ha_victim >> 16)) break;
  }
  sem_post(&ha_c_done);
  sem_wait(&ha_c_go2);
  while (ha_ngot < 8192) CHECK((ha_got[ha_ngot++] = malloc(512)) != NULL, "malloc");
  for (int i = 0; i < ha_ngot; i++) ha_dup += ha_got[i] == ha_victim;
  sem_post(&ha_c_done2);
  return NULL;
}
static void held_double_free_adopted_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0 && strata_option_set("purge_ms", 0) == 0, "option");
  sem_init(&ha_a_go, 0, 0); sem_init(&ha_a_done, 0, 0); sem_init(&ha_c_go, 0, 0);
  sem_init(&ha_c_done, 0, 0); sem_init(&ha_c_go2, 0, 0); sem_init(&ha_c_done2, 0, 0);
  free(opaque(malloc(16)));
  pthread_t c = test_spawn(ha_thread_c, NULL), a = test_spawn(ha_thread_a, NULL);
  sem_wait(&ha_a_done);
  ha_victim = held_b[HELD_N / 2 + 10];
  strata_stats_t st;
  strata_stats_get(&st);
  size_t before = st.misuses;
  free(opaque(ha_victim));                 /* the double free: a suspect batched for A */
  sem_post(&ha_a_go);
  test_join(a);
  sem_post(&ha_c_go);
  sem_wait(&ha_c_done);
  malloc_trim(0);                          /* our batches go out; A's inbox is closed */
  sem_post(&ha_c_go2);
  sem_wait(&ha_c_done2);
  test_join(c);
  strata_stats_get(&st);
  CHECK(st.misuses - before == 1, "misuses counted %zu, expected 1", st.misuses - before);
  CHECK(ha_dup <= 1, "the block freed twice was handed out %d times", ha_dup);
  CHECK(strata_heap_check() == 0, "heap check");
}

/* An underflow out of the first span of a segment reaches the guard page
 * in front of it, not the page descriptors (segment.c). */
static void underflow_into_metadata(void) {
  char *p = malloc(16);
  CHECK(p != NULL, "malloc");
  uintptr_t seg = (uintptr_t)p & ~(((uintptr_t)4 << 20) - 1);
  volatile char *q = (char *)(seg + (64 << 10) - 1);   /* the byte before slice 1 */
  *q = 1;                                  /* must fault */
  CHECK(0, "writing just below a segment's slice 1 did not fault");
}

/* on_misuse=ignore: every kind is reported, counted, and the heap stays
 * sound (no block handed out twice, the invariant check passes). */
static void all_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  strata_stats_t st;
  strata_stats_get(&st);
  size_t before = st.misuses;
  char *p = malloc(64), *q = malloc(100), *r = malloc(80), stack[32];
  CHECK(p && q && r, "malloc");
  free(opaque(p + 8));                     /* 1 interior */
  free(opaque(stack));                     /* 2 stack */
  strata_free_sized(opaque(q), 1000);             /* 3 wrong size */
  free(r);
  CHECK(realloc(opaque(r), 300) == NULL, "realloc of a freed block must fail");   /* 4 */
  free(opaque(r));                         /* 5 double */
  strata_stats_get(&st);
  CHECK(st.misuses - before == 5, "misuses counted %zu, expected 5", st.misuses - before);
  char *blk[1000];
  for (int i = 0; i < 1000; i++) { blk[i] = malloc(64); CHECK(blk[i] != NULL, "malloc"); memset(blk[i], i & 0xff, 64); }
  for (int i = 0; i < 1000; i++) {
    CHECK(blk[i] != p + 8, "an interior pointer was handed out");
    for (int k = 0; k < 64; k++) CHECK(blk[i][k] == (char)(i & 0xff), "block %d overlaps another", i);
  }
  for (int i = 0; i < 1000; i++) free(blk[i]);
  free(p);
  strata_free_sized(q, 100);                      /* the right size is fine */
  CHECK(strata_heap_check() == 0, "heap check");
}
/* A 16-byte block whose word 1 holds the key value as data, freed by a
 * thread without a heap, while the next block's word 0 holds (as data)
 * what a stashed block carries in word 2, the stash mark.  The suspect
 * path asked whether word 2 held the mark, though only the stash classes
 * (256 bytes and up) can carry one: a uint16_t class minus 15 was negative,
 * and passed.  So it read the neighbour's word (another thread's block: a
 * data race TSan saw; past the segment's end, a fault) and here reported a
 * legitimate free as a double free (found by review, 2026-11-27). */
static void keyed_small_next_to_mark(void) {
  pthread_t t;
  char *s = stash_one(&t);                 /* waits in the stash: word 2 holds the mark */
  uint64_t mark = ((volatile uint64_t *)s)[2];
  uint64_t *v[64];
  int i;
  for (i = 0; i < 64; i++) {
    v[i] = malloc(16);
    CHECK(v[i] != NULL, "malloc");
    if (i > 0 && v[i] == v[i - 1] + 2) break;                  /* neighbours */
  }
  CHECK(i < 64, "no two neighbouring 16-byte blocks");
  ((volatile uint64_t *)v[i - 1])[1] = 0xffffffffa5f3c1d7ull;  /* looks freed */
  ((volatile uint64_t *)v[i])[0] = mark;                        /* its neighbour's data */
  test_join(test_spawn(dfree_thread, v[i - 1]));               /* no heap: the suspect path */
  strata_stats_t st;
  strata_stats_get(&st);                   /* main takes the batch: freed once, no report */
  pthread_barrier_wait(&stash_bar);
  test_join(t);
  CHECK(strata_heap_check() == 0, "heap check");
}
/* A plain double free whose block's span emptied in between, went back to
 * the page heap and was taken again by the same class: the new use has
 * not carved that far, so the block is not on any list and its key is
 * gone (found by review, 2026-11-27: it was pushed, and the carve later
 * handed it out a second time).  ignored != 0: counted, handed out once. */
enum { RECYCLE_PER = 4096 };               /* 16-byte blocks in a 64 KiB span */
static char *recycle_a[RECYCLE_PER], *recycle_b[RECYCLE_PER + 16], *recycle_c[3 * RECYCLE_PER];
static void recycled_span_double_free_run(int ignored, long purge_ms) {
  if (ignored) CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  CHECK(strata_option_set("purge_ms", purge_ms) == 0, "option");
  for (int i = 0; i < RECYCLE_PER; i++) recycle_a[i] = malloc(16);        /* span A, full */
  for (int i = 0; i < RECYCLE_PER + 16; i++) recycle_b[i] = malloc(16);   /* B full, C begun */
  char *victim = recycle_a[RECYCLE_PER - 100];
  for (int i = 0; i < RECYCLE_PER; i++) free(recycle_a[i]);               /* A back to the page heap */
  for (int i = 0; i < RECYCLE_PER; i++) recycle_c[i] = malloc(16);        /* C full, a span again */
  int reused = 0;
  for (int i = 0; i < RECYCLE_PER; i++) reused += (((uintptr_t)recycle_c[i] ^ (uintptr_t)victim) >> 16) == 0;
  CHECK(reused > 0 && reused < RECYCLE_PER - 100, "the victim's span was not taken again (%d blocks there)",
        reused);                          /* the scenario itself: in use again, not carved to the victim */
  strata_stats_t st;
  strata_stats_get(&st);
  size_t before = st.misuses;
  free(opaque(victim));                   /* the double free: reported here unless ignored */
  strata_stats_get(&st);
  CHECK(st.misuses - before == 1, "misuses counted %zu, expected 1", st.misuses - before);
  int seen = 0;
  for (int i = RECYCLE_PER; i < 3 * RECYCLE_PER; i++) {
    recycle_c[i] = malloc(16);
    CHECK(recycle_c[i] != NULL, "malloc");
    memset(recycle_c[i], 0x5a, 16);
    seen += recycle_c[i] == victim;
  }
  CHECK(seen <= 1, "the block freed twice was handed out %d times", seen);
  CHECK(strata_heap_check() == 0, "heap check");
}
/* Not purged, the victim keeps the free key of its first free; purged at
 * once (purge_ms=0), the key is gone, and only the complete interior test
 * sees a block the span has not carved (a build with only the alignment
 * test, STRATA_CHECK_INTERIOR=1, misses it). */
static void recycled_span_double_free(void) { recycled_span_double_free_run(0, -1); }
static void recycled_span_double_free_ignored(void) { recycled_span_double_free_run(1, -1); }
static void recycled_purged_double_free(void) { recycled_span_double_free_run(0, 0); }
static void recycled_purged_double_free_ignored(void) { recycled_span_double_free_run(1, 0); }

/* free() of a block that was carved onto the free list but never handed
 * out: the carve gives it the free key, so it is confirmed on the list. */
static void carved_never_allocated_free(void) {
  char *p = malloc(176), *q = malloc(176);
  CHECK(p != NULL && q != NULL, "malloc");
  char *next = q + (q - p);               /* carved with them, in carving order (secure mode shuffles) */
  if (q - p != 176) {                     /* not neighbours (shuffled, or another span): find a free one */
    char *r = malloc(176);
    free(r);                              /* r is free now, on the list */
    next = r;
  }
  free(opaque(next));
}

/* Ignored, a 4 KiB block freed twice by another thread is free once: it
 * is handed out once, and the heap stays sound. */
static void remote_big_ignored(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "option");
  strata_stats_t st;
  strata_stats_get(&st);
  size_t before = st.misuses;
  char *keep = malloc(4096), *p = malloc(4096);
  CHECK(keep != NULL && p != NULL, "malloc");
  test_join(test_spawn(dfree_twice, p));
  strata_stats_get(&st);                   /* the delivery reports it */
  CHECK(st.misuses - before == 1, "misuses counted %zu, expected 1", st.misuses - before);
  char *v[64];
  int seen = 0;
  for (int i = 0; i < 64; i++) {
    v[i] = malloc(4096);
    CHECK(v[i] != NULL, "malloc");
    memset(v[i], i, 4096);
    seen += v[i] == p;
  }
  CHECK(seen <= 1, "the block freed twice was handed out %d times", seen);
  for (int i = 0; i < 64; i++) {
    for (int k = 0; k < 4096; k += 512) CHECK(v[i][k] == (char)i, "block %d overlaps another", i);
    free(v[i]);
  }
  free(keep);
  CHECK(strata_heap_check() == 0, "heap check");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  expect_report("free of an interior pointer (16-byte aligned)", interior_free, "inside a block", "size class 64 bytes");
  expect_report("double free of a block whose data held the free key at its first free", keyed_data_double_free,
                "double free", "size class 64 bytes");
  expect_report("free of a pointer inside a block, off the 16-byte grid", interior_free_odd, "inside a block",
                "size class 64 bytes");
  expect_report("free of an interior pointer from another thread", interior_free_other_thread, "invalid pointer", NULL);
  expect_report("free of the address past a span's last block", span_tail_free, "invalid pointer", NULL);
  expect_report("double free after the block's span was purged, went back to the page heap and was taken again",
                recycled_purged_double_free, "double free", "size class 16 bytes");
  expect_clean("the same, ignored: handed out once, heap sound", recycled_purged_double_free_ignored);
  expect_report("free of a stack address", stack_free, "invalid pointer", NULL);
  expect_report("free of another allocator's block", foreign_free, "invalid pointer", NULL);
  expect_report("free_sized with a size above the block", sized_free_wrong, "free_sized(): size does not match",
                "size class 112 bytes");
  expect_report("free_sized with a size far below the block", sized_free_too_small, "size does not match", NULL);
  expect_report("free_sized of a large block with a wrong size", sized_free_large_wrong, "size does not match",
                "a large block of");
  expect_report("sized operator delete with a wrong size", sized_delete_wrong,
                "operator delete(): size does not match the block", "size class 112 bytes");
  expect_report("free_sized of a sampled (guarded) block with a wrong size", sized_free_guarded_wrong,
                "size does not match", NULL);
  expect_report("free_aligned_sized with a size the block cannot have had", aligned_sized_free_wrong,
                "free_aligned_sized(): size does not match", "size class 4096 bytes");
  expect_report("free_aligned_sized of a large block with a wrong size", aligned_sized_free_large_wrong,
                "size does not match", NULL);
  expect_silent("free_aligned_sized with the sizes asked for: not reported", aligned_sized_free_right);
  expect_report("free_aligned_sized with an alignment the block does not have", aligned_sized_free_misaligned,
                "free_aligned_sized(): alignment does not match", NULL);
  expect_report("free_aligned_sized with an alignment that is no power of two", aligned_sized_free_not_pow2,
                "alignment does not match", NULL);
  expect_report("malloc_usable_size of a freed span block", usable_size_freed_span,
                "malloc_usable_size(): pointer already freed", "size class");
  expect_report("malloc_usable_size of a freed small block", usable_size_freed_small,
                "malloc_usable_size(): pointer already freed", "size class 80 bytes");
  expect_report("realloc of a freed block to a size no block can have", realloc_freed_huge,
                "realloc(): pointer already freed", NULL);
  expect_silent("free_sized of sampled blocks with the sizes asked for: not reported", sized_free_guarded_right);
  expect_report("realloc of a freed small block", realloc_freed, "already freed", "size class 80 bytes");
  expect_report("realloc of a freed span block", realloc_freed_span, "already freed", NULL);
  {   /* a forged link never becomes an allocation: secure builds report it, others fault on it */
    char buf[4096];
    int st = test_in_child(list_overwrite, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && (WTERMSIG(st) == SIGSEGV ||
                              (WTERMSIG(st) == SIGABRT && strstr(buf, "corrupted free list"))),
          "malloc after a freed block's link was overwritten: status %#x; stderr: %s", st, buf);
    printf("ok: malloc after a freed block's link was overwritten -> %s\n",
           WTERMSIG(st) == SIGSEGV ? "SIGSEGV on the decoded link" : buf);
    st = test_in_child(list_overwrite_ignored, buf, sizeof buf);
    CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
          (WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "corrupted free list") != NULL),
          "the same, ignored: status %#x; stderr: %s", st, buf);
    printf("ok: the same, ignored -> %s\n", WIFSIGNALED(st) ? "SIGSEGV on the decoded link" : buf);
  }
  expect_report("double free of a block held in a purged unit", held_double_free, "double free", "size class 1024 bytes");
  expect_report("double free by another thread of a block held in a purged unit", held_double_free_remote,
                "double free", "size class 512 bytes");
  expect_report("realloc of a block held in a purged unit", held_realloc, "already freed", "size class 512 bytes");
  expect_report("double free of a block held in a purged unit of an abandoned page", held_double_free_abandoned,
                "double free", "size class 512 bytes");
  expect_report("double free of a small block (size class in the report)", small_double_free, "double free", "size class 48 bytes");
  expect_report("double free after the block's span went back to the page heap and was taken again",
                recycled_span_double_free, "double free", "size class 16 bytes");
  expect_report("free of a block carved onto the free list, never handed out", carved_never_allocated_free,
                "double free", "size class 176 bytes");
  expect_report("double free of a small block by another thread (caught at delivery)", remote_double_free,
                "double free", "size class 64 bytes");
  expect_report("double free by another thread whose batch arrives after the owner handed the block out again",
                remote_double_free_rehanded, "double free", "size class 64 bytes");
  expect_silent("a free by another thread of a block whose user data holds the free key", remote_free_keylike_data);
  expect_report("double free by two other threads, the first still waiting in its batch", remote_double_free_two_threads,
                "double free", "size class 64 bytes");
  expect_report("double free by the owner of a block another thread's free of it waits in a batch for",
                owner_double_free_while_batched, "double free", "size class 64 bytes");
  expect_report("the same, the owner's malloc taking the block back before the delivery",
                owner_double_free_while_batched_taken, "double free", "size class 64 bytes");
  expect_report("double free of a held block by another thread, delivered after the owner handed it out again",
                held_double_free_remote_rehanded, "double free", "size class 512 bytes");
  expect_report("double free of a 4 KiB block by another thread (unbatched, then batched)",
                remote_double_free_big, "double free", "size class 4096 bytes");
  expect_report("double free of a small block by a thread without a heap", remote_double_free_heapless,
                "double free", "size class 64 bytes");
  expect_report("double free by the owner of a 4 KiB block another thread freed",
                owner_double_free_after_remote, "double free", "size class 4096 bytes");
  expect_report("double free by the owner of a small block a thread without a heap freed",
                owner_double_free_after_remote_small, "double free", "size class 64 bytes");
  expect_report("double free of a block of the orphan heap", orphan_double_free, "double free",
                "size class 4096 bytes");
  expect_report("double free of a block of the orphan heap by the exiting thread", orphan_double_free_exiting,
                "double free", "size class 4096 bytes");
  expect_report("double free by an exiting thread of a small block of a live thread",
                dead_thread_double_free_small, "double free", "size class 112 bytes");
  expect_report("double free by an exiting thread of a 4 KiB block of a live thread",
                dead_thread_double_free_big, "double free", "size class 4096 bytes");
  expect_report("double free by an exiting thread of a block of a thread that exited (retired heap)",
                retired_owner_double_free, "double free", "size class 4096 bytes");
  expect_report("double free whose owner exits and whose page is adopted meanwhile", adopted_double_free,
                "double free", "size class 4096 bytes");
  expect_report("double free into an abandoned page", abandoned_double_free, "double free",
                "size class 512 bytes");
  if (strata_option_get("secure") == 0) {   /* secure mode does not stash */
    expect_report("double free of a stashed block by the thread holding it", stash_double_free_self,
                  "double free", "size class 512 bytes");
    expect_report("double free of a stashed block when the stash is full", stash_double_free_full,
                  "double free", "size class 512 bytes");
    expect_report("double free by the owner of a block in another thread's stash", stash_double_free_owner,
                  "double free", "size class 512 bytes");
    expect_report("double free of a stashed block by a thread without a heap", stash_double_free_third,
                  "double free", "size class 512 bytes");
    expect_report("double free of a stashed block by a third thread with a heap",
                  stash_double_free_third_batched, "double free", "size class 512 bytes");
    expect_report("double free by the owner of a block a stash flush sent home",
                  stash_double_free_in_transit, "double free", "size class 512 bytes");
    expect_report("realloc of a stashed block", stash_realloc, "already freed", "size class 512 bytes");
    expect_silent("a 16-byte block with the key as data, its neighbour with the stash mark as data: freed, not reported",
                  keyed_small_next_to_mark);
    expect_report("double free into an abandoned page of a block a stash flush sent there",
                  abandoned_double_free_flushed, "double free", "size class 512 bytes");
  } else printf("skip: stashed blocks (secure mode does not stash)\n");
  expect_clean("every kind with on_misuse=ignore: counted, heap sound", all_ignored);
  expect_clean("a 4 KiB block freed twice by another thread, ignored: handed out once, heap sound",
               remote_big_ignored);
  expect_clean("double free after the span was taken again, ignored: handed out once, heap sound",
               recycled_span_double_free_ignored);
  expect_clean("a held block freed twice, delivered after its page was adopted, ignored: handed out once",
               held_double_free_adopted_ignored);
  {
    char buf[4096];
    int st = test_in_child(underflow_into_metadata, buf, sizeof buf);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "underflow into a segment header: status %#x; %s", st, buf);
    printf("ok: an underflow out of slice 1 faults on the guard page before the segment header\n");
  }
  expect_abort("double free of a cached large block", large_double_free_cached);
  {
    int sec = strata_option_get("secure") == 1;
    expect_report("double free of a large block with a mapping of its own", mapped_large_double_free,
                  "free(): double free", "a large block of");
    expect_report("realloc of a freed large block with a mapping of its own", mapped_large_realloc_freed,
                  "realloc(): pointer already freed", "a large block of");
    if (sec) {
      expect_report("double free of a quarantined large block after a malloc of its size",
                    quarantined_double_free, "free(): double free", "a large block of 3145728 bytes");
      char buf[4096];
      int st = test_in_child(quarantined_use_after_free, buf, sizeof buf);
      CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "use after free of a quarantined block: status %#x; %s", st, buf);
      /* and the handler names it, with both call stacks and the access's */
      CHECK(strstr(buf, "use-after-free: write at") && strstr(buf, "offset 100 of the freed 3145728-byte block") &&
            strstr(buf, "secure mode's quarantine") && strstr(buf, "allocated by (thread") &&
            strstr(buf, "freed by (thread") && strstr(buf, "faulting access (thread"),
            "the report of a use after free of a quarantined block: %s", buf);
      const char *fr = strstr(buf, "freed by (thread");
      CHECK(fr && strstr(fr, "t_misuse("), "the free's call stack has the test's frames: %s", buf);
      printf("ok: a write to a freed large block faults and is reported (secure mode's quarantine)\n");
      st = test_in_child(chained_nodefer_handler, buf, sizeof buf);
      CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program's SA_NODEFER handler behind strata's: status %#x; %s", st, buf);
      printf("ok: the program's own SIGSEGV handler (SA_NODEFER, longjmp) catches three faults behind strata's\n");
      expect_clean("double free of a quarantined large block, abort_on_error=0", quarantined_double_free_ignored);
    } else printf("skip: the quarantine of freed large blocks (secure mode only)\n");
  }
  expect_abort("double free of a cached large block from another thread", large_double_free_cached_other_thread);
  expect_abort("free of a large block's old address after a moving realloc", large_double_free_after_move);
  expect_abort("double free of a span block", span_double_free);
  expect_abort("double free of a small block", small_double_free);
  expect_clean("double free of a cached large block, abort_on_error=0", large_double_free_ignored);
  expect_clean("double free of a small block, abort_on_error=0", small_double_free_ignored);
  printf("t_misuse: all passed\n");
  return 0;
}
