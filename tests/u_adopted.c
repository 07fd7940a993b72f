/* Unit test: a free that found its page without an owner (owner word 0),
 * made while the page changes hands (_st_abandoned_free, heap.c).
 *
 * A thread mallocs three blocks of a class nobody else uses, frees the
 * first (its own free: the block carries the free key and sits on the
 * page's list) and then the third (the list's head, which main's adopting
 * malloc will take) and exits, which abandons the page (purge_ms=0).  Then, each case in a child:
 *
 *  1. adopted: main mallocs that class and adopts the page; a second free of
 *     the freed block arriving as if its caller had seen the page abandoned
 *     (the call _st_abandoned_free gets when the owner word read 0) must be
 *     reported as a double free.  Before the fix it was pushed to the new
 *     owner's remote list unconfirmed, and the block was handed out twice.
 *  2. in transit: the page is taken off the abandoned list by hand, as an
 *     adopter does, and its owner word is stored 50 ms later from another
 *     thread; the same free must wait for the owner and be reported.
 *  3. the same two calls with the live block (no key, user data) free it
 *     normally: no report, and the next mallocs hand it out once.
 *  4. listed: with the page still abandoned the double free is confirmed
 *     under the lock and reported (the path that was always there).
 *  5. via a delivery, and 6. handed out again while it waits (below). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "malloc/internal.h"
#include "test.h"
#include "strata/stats.h"

enum { SZ = 1800 };                 /* a class nothing else here uses */
static void *freed_blk, *live_blk;

static void *thread_main(void *arg) {
  (void)arg;
  freed_blk = malloc(SZ);
  live_blk = malloc(SZ);
  void *decoy = malloc(SZ);
  CHECK(freed_blk && live_blk && decoy, "malloc");
  memset(live_blk, 0x5a, SZ);
  free(freed_blk);                  /* the owner's free: key set, listed */
  free(decoy);                      /* the head: main's adopting malloc takes it */
  return NULL;
}

static page_t *page_of(void *p) { return st_page_of(st_segment_of(p), p); }

/* Main takes the page: mallocs of the class until one lands in it. */
static void adopt(void) {
  page_t *pg = page_of(freed_blk);
  for (int i = 0; i < 64 && atomic_load(&pg->owner) == 0; i++) CHECK(malloc(SZ) != NULL, "malloc");
  CHECK(atomic_load(&pg->owner) != 0 && !pg->abandoned, "main did not adopt the page");
}

static void case_adopted(void) {
  adopt();
  _st_abandoned_free(NULL, page_of(freed_blk), freed_blk);
  /* not reported: show the damage, then exit 0 (the parent fails it) */
  void *a = malloc(SZ), *b = malloc(SZ), *c = malloc(SZ);
  fprintf(stderr, "no report; mallocs %p %p %p\n", a, b, c);
}

static heap_t *main_heap;
static void *store_owner_late_main(void *arg) {
  page_t *pg = arg;
  struct timespec ts = {0, 50 * 1000 * 1000};
  nanosleep(&ts, NULL);
  atomic_store_explicit(&pg->heap, main_heap, memory_order_relaxed);
  atomic_store(&pg->owner, st_owner_word(main_heap, pg, 0));
  return NULL;
}

/* Off the abandoned list, owner still 0: what an adopter leaves between
 * abandoned_pop and its owner store.  The page goes to main's queue by the
 * one public way there is (adopt()), then its list state is put back. */
static void case_transit(void) {
  adopt();
  page_t *pg = page_of(freed_blk);
  main_heap = (heap_t *)(atomic_load(&pg->owner) & ~OWNER_FLAGS);
  atomic_store(&pg->owner, 0);      /* abandoned is 0 already: in transit */
  pthread_t t = test_spawn(store_owner_late_main, pg);
  _st_abandoned_free(NULL, pg, freed_blk);
  test_join(t);
  fprintf(stderr, "no report\n");
}

static void case_live(void) {
  adopt();
  page_t *pg = page_of(live_blk);
  ((uintptr_t *)live_blk)[1] = ST_FREE_KEY;   /* user data that looks like the key */
  _st_abandoned_free(NULL, pg, live_blk);
  /* the block is free now, once: the class hands it out at most once */
  int seen = 0;
  void *got[80];
  for (int i = 0; i < 80; i++) {
    got[i] = malloc(SZ);
    CHECK(got[i] != NULL, "malloc");
    if (got[i] == live_blk) seen++;
  }
  CHECK(seen <= 1, "the live block was handed out %d times", seen);
  for (int i = 0; i < 80; i++) free(got[i]);
  CHECK(strata_heap_check() == 0, "heap check");
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 0, "a legitimate free was counted as misuse");
  _exit(0);
}

static void case_listed(void) {
  page_t *pg = page_of(freed_blk);
  CHECK(pg->abandoned && atomic_load(&pg->owner) == 0, "page not abandoned");
  _st_abandoned_free(NULL, pg, freed_blk);
  fprintf(stderr, "no report\n");
}

/* 5. via a delivery: the call rb_route makes, with the delivering heap.
 * A thread without a heap (as the purge thread is, when it expires a
 * retired heap and delivers what waited in its inbox) makes it, with
 * main's heap (main waits meanwhile, so the thread stands in for it): the
 * suspect is batched there and confirmed, and the thread gets no heap of
 * its own.  It got one before (found by review: the purge thread took over
 * a retired heap that then never sent its batches).  on_misuse=ignore, so
 * the thread can look afterwards. */
static int via_got_heap = -1;
static void *via_thread(void *arg) {
  page_t *pg = arg;
  _st_abandoned_free((heap_t *)(atomic_load(&pg->owner) & ~OWNER_FLAGS), pg, freed_blk);
  via_got_heap = _st_heap_tl != &_st_heap_empty;
  return NULL;
}
static void case_via(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "abort_on_error");
  adopt();
  page_t *pg = page_of(freed_blk);
  test_join(test_spawn(via_thread, pg));
  CHECK(via_got_heap == 0, "the delivering thread got a heap of its own");
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 1, "misuses %zu, want 1", st.misuses);
  CHECK(strata_heap_check() == 0, "heap check");
  _exit(0);
}

/* 6. handed out while it waits: the page is in transit (owner 0, not
 * listed) while a second free of the freed block waits for an owner; the
 * adopter's malloc takes the block back before the waiter looks again.
 * The waiter must report it, not take the block, now without the key, for
 * a legitimate free and push the new taker's block (found by review).
 * With the delivering heap (via) and without. */
static int rehand_via;
static void *rehand_waiter(void *arg) {
  _st_abandoned_free(rehand_via ? main_heap : NULL, arg, freed_blk);
  return NULL;
}
static void case_rehanded(void) {
  CHECK(strata_option_set("abort_on_error", 0) == 0, "abort_on_error");
  adopt();
  page_t *pg = page_of(freed_blk);
  uintptr_t ow = atomic_load(&pg->owner);
  main_heap = (heap_t *)(ow & ~OWNER_FLAGS);
  atomic_store(&pg->owner, 0);                  /* in transit */
  pthread_t t = test_spawn(rehand_waiter, pg);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);                         /* it waits: key present, owner 0 */
  char *q = malloc(SZ);                         /* the adopter's malloc */
  CHECK(q == freed_blk, "malloc did not take the freed block back");
  memset(q, 0x6b, SZ);
  atomic_store(&pg->owner, ow);
  test_join(t);
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(st.misuses == 1, "misuses %zu, want 1", st.misuses);
  for (int i = 0; i < 200; i++) CHECK(malloc(SZ) != q, "the live block was handed out again");
  for (int j = 0; j < SZ; j++) CHECK((unsigned char)q[j] == 0x6b, "the live block was written at byte %d", j);
  CHECK(strata_heap_check() == 0, "heap check");
  _exit(0);
}
static void case_rehanded_via(void) { rehand_via = 1; case_rehanded(); }

static void expect_report(const char *name, void (*fn)(void)) {
  char buf[4096];
  int st = test_in_child(fn, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, "double free"),
        "%s: want an abort with a double-free report; status %#x, stderr: %s", name, st, buf);
  printf("  %s: reported\n", name);
}

int main(void) {
  /* purge_ms=0: an exiting thread abandons its pages at once (otherwise its
   * heap is kept a while for the next thread) */
  CHECK(strata_option_set("purge_ms", 0) == 0, "purge_ms");
  CHECK(strata_option_set("abort_on_error", 1) == 0, "abort_on_error");   /* on_misuse=abort */
  pthread_t t = test_spawn(thread_main, NULL);
  test_join(t);
  page_t *pg = page_of(freed_blk);
  CHECK(page_of(live_blk) == pg, "both blocks in one page");
  CHECK(pg->abandoned && atomic_load(&pg->owner) == 0, "the exited thread's page is not abandoned");
  expect_report("adopted", case_adopted);
  expect_report("in transit", case_transit);
  expect_report("listed", case_listed);
  char buf[4096];
  int st = test_in_child(case_via, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "double free"),
        "via a delivery: status %#x, stderr: %s", st, buf);
  printf("  via a delivery: reported, no heap for the delivering thread\n");
  st = test_in_child(case_rehanded, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "double free"),
        "handed out while waiting: status %#x, stderr: %s", st, buf);
  st = test_in_child(case_rehanded_via, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "double free"),
        "handed out while waiting (via a delivery): status %#x, stderr: %s", st, buf);
  printf("  handed out again while it waited: reported, with and without a delivering heap\n");
  st = test_in_child(case_live, buf, sizeof buf);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "live: status %#x, stderr: %s", st, buf);
  printf("  live block with key-like data: freed once, no report\n");
  printf("u_adopted: OK\n");
  return 0;
}
