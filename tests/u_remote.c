/* Unit test: remote-free batches (src/malloc/remote.c).  A thread's frees of
 * small blocks that other live heaps own are collected per owner and sent
 * in batches; the owner frees them on a slow path.
 *
 *  1. Exit flush: a thread checks and frees 5000 of main's blocks and exits;
 *     after main's strata_stats_get (which drains main's inbox) the class
 *     has no live block more than before.
 *  2. A partial batch waits in its sender until something flushes it:
 *     after 10 frees main's inbox is still empty, but the statistics count
 *     the 10 as freed already (_st_remote_pending); the sender's
 *     malloc_trim sends them (main's inbox is no longer empty), and main's
 *     next stats call frees them.
 *  3. Closed inbox: with purge_ms=0 a thread that exits abandons its heap
 *     and closes its inbox.  A frees half of a block set in batches to A,
 *     A exits, then B frees the rest: B must deliver those itself, into
 *     abandoned pages, which then empty and go back (no page stays
 *     abandoned, no block live).
 *  4. Recycled heap: as 3, but a new thread C starts after A exits (and
 *     likely gets A's heap struct, open again); B's later batch lands in
 *     C's inbox, and C forwards the blocks to their pages.
 *  5. Stress: 4 threads pass patterned blocks of 16..2048 bytes (both sides
 *     of RB_BLOCK_MAX) through a shared array and free what they displace,
 *     checking every byte first; at the end everything is freed, nothing
 *     live, strata_heap_check clean.
 *  6. Orphan heap (from the review of 2026-11-27): blocks malloc'ed in a TLS
 *     destructor after strata's own (the shared orphan heap) and freed by
 *     main must not be delivered under the orphan lock: a delivery that
 *     frees spans may start the purge thread, whose creation mallocs from
 *     the orphan heap again (a self-deadlock; the alarm turns it into a
 *     failure).  20 MB of them, then more mallocs from a destructor.
 *  7. Stash (remote.c, "Reusing foreign blocks"): a thread frees 10 of
 *     main's 500-byte blocks; an idle stash keeps 4, the rest are batched,
 *     and the statistics count all 10 as freed.  Its next malloc of that
 *     size is the newest stashed block; then the stash takes up to 32: of
 *     30 more frees, 29 are stashed.  The next 32 mallocs are the stashed
 *     blocks, newest first; the 33rd is its own.  It fills and
 *     frees them again (stashed again) and exits: the exit sends them home,
 *     main's class has no live block more than before, and a 16-byte
 *     block (below the stash's classes) is never stashed.
 *  8. Aging (from the review of 2026-11-27): A carves 32 spans of 512-byte
 *     blocks, gives B one block per span and exits; B stashes 32 of them
 *     (after one malloc of the class), then only mallocs other sizes (well
 *     over 64 slow paths) and idles.  The stash ages out on those slow
 *     paths, so malloc_trim from main leaves at most the one abandoned page
 *     whose block B still holds (before the fix: 32).
 *  9. A block taken from the stash, written only in its first word, then
 *     freed or realloc'ed is no misuse, in every build, including the
 *     STRATA_CHECKS=0 one (tests/nochecks_build.sh), whose malloc does not
 *     clear the free key.  The review of 2026-11-27 got a false "already
 *     freed" from this pattern in a stand-alone program on such a build;
 *     this case, run on the code before that fix, did not reproduce it, so
 *     it guards the pattern, not that exact failure.
 * Double frees of stashed blocks (by the stasher, the owner, a third
 * thread) and a realloc of one are in t_misuse, as is a remote double free
 * caught at delivery.
 */
#include <signal.h>
#include <unistd.h>
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malloc/internal.h"
#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

static size_t live_in_class(size_t size) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  return st.classes[_st_class_small[size]].blocks_in_use;
}
static size_t pages_abandoned(void) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  return st.pages_abandoned;
}

/* ---- 1 */
#define N1 5000
static blk_t set1[N1];
static void *free_all_1(void *arg) {
  (void)arg;
  for (int i = 0; i < N1; i++) { blk_vfy(&set1[i], "case 1"); free(set1[i].p); }
  return NULL;
}
static void case_exit_flush(void) {
  size_t base = live_in_class(48);
  for (int i = 0; i < N1; i++) set1[i] = blk_new(48, 1, "case 1");
  CHECK(live_in_class(48) == base + N1, "case 1: %zu live, want %zu", live_in_class(48), base + N1);
  test_join(test_spawn(free_all_1, NULL));
  CHECK(live_in_class(48) == base, "case 1: %zu live after the remote frees, want %zu", live_in_class(48), base);
  CHECK(strata_heap_check() == 0, "case 1: heap check");
  printf("ok: 1 a thread's remote frees reach their owner when it exits\n");
}

/* ---- 2 */
static blk_t set2[10];
static pthread_barrier_t bar2;
static void *free_ten(void *arg) {
  (void)arg;
  void *mine = malloc(16);                     /* a heap of its own */
  for (int i = 0; i < 10; i++) { blk_vfy(&set2[i], "case 2"); free(set2[i].p); }
  pthread_barrier_wait(&bar2);                 /* main counts them still live */
  pthread_barrier_wait(&bar2);
  malloc_trim(0);                              /* sends the partial batch */
  pthread_barrier_wait(&bar2);                 /* main counts them freed */
  pthread_barrier_wait(&bar2);
  free(mine);
  return NULL;
}
static void case_partial(void) {
  size_t base = live_in_class(208);
  for (int i = 0; i < 10; i++) set2[i] = blk_new(200, 2, "case 2");
  pthread_barrier_init(&bar2, NULL, 2);
  pthread_t t = test_spawn(free_ten, NULL);
  heap_t *me = _st_heap_tl;
  pthread_barrier_wait(&bar2);
  CHECK(atomic_load(&me->rb_inbox) == NULL, "case 2: the 10 frees were sent before a flush");
  size_t pend[ST_NCLASSES] = {0};
  _st_remote_pending(pend);
  CHECK(pend[_st_class_small[200]] == 10, "case 2: %zu blocks pending in class 208, want 10", pend[_st_class_small[200]]);
  CHECK(live_in_class(208) == base, "case 2: %zu live, want the 10 waiting counted as freed", live_in_class(208) - base);
  pthread_barrier_wait(&bar2);
  pthread_barrier_wait(&bar2);
  CHECK(atomic_load(&me->rb_inbox) != NULL, "case 2: the sender's malloc_trim sent nothing");
  CHECK(live_in_class(208) == base, "case 2: %zu live after the sender's malloc_trim", live_in_class(208) - base);
  CHECK(atomic_load(&me->rb_inbox) == NULL, "case 2: strata_stats_get did not drain the caller's inbox");
  pthread_barrier_wait(&bar2);
  test_join(t);
  pthread_barrier_destroy(&bar2);
  printf("ok: 2 a partial batch waits in its sender; malloc_trim sends it\n");
}

/* ---- 3 and 4 */
#define N3 3000
static blk_t set3[N3];
static pthread_barrier_t b1, b2, b3, b4;   /* A+B, A+B, B+(main or C), C+main */
static void *owner_a(void *arg) {
  (void)arg;
  for (int i = 0; i < N3; i++) set3[i] = blk_new(96 + (size_t)(i % 5) * 16, 3, "case 3");
  pthread_barrier_wait(&b1);                   /* B may free the first half */
  pthread_barrier_wait(&b2);                   /* ... it did: exit */
  return NULL;
}
static void *freer_b(void *arg) {
  (void)arg;
  void *mine = malloc(16);                     /* a heap of its own: frees are batched */
  pthread_barrier_wait(&b1);
  for (int i = 0; i < N3 / 2; i++) { blk_vfy(&set3[i], "case 3"); free(set3[i].p); }
  pthread_barrier_wait(&b2);
  pthread_barrier_wait(&b3);                   /* A has exited (and C started) */
  for (int i = N3 / 2; i < N3; i++) { blk_vfy(&set3[i], "case 3"); free(set3[i].p); }
  free(mine);
  return NULL;                                 /* exit: the rest is flushed */
}
static void *newcomer_c(void *arg) {
  (void)arg;
  void *p = malloc(64);                        /* takes a heap: likely A's struct */
  CHECK(p != NULL, "case 4: malloc");
  pthread_barrier_wait(&b3);                   /* B may free the rest */
  pthread_barrier_wait(&b4);                   /* B exited */
  malloc_trim(0);                              /* drains C's inbox: forwards */
  free(p);
  return NULL;
}
static void case_closed(int recycle) {
  int n = recycle ? 4 : 3;
  CHECK(strata_option_set("purge_ms", 0) == 0, "purge_ms");
  size_t base[5], ab = pages_abandoned();
  for (int k = 0; k < 5; k++) base[k] = live_in_class(96 + (size_t)k * 16);
  pthread_barrier_init(&b1, NULL, 2); pthread_barrier_init(&b2, NULL, 2);
  pthread_barrier_init(&b3, NULL, 2); pthread_barrier_init(&b4, NULL, 2);
  pthread_t a = test_spawn(owner_a, NULL), b = test_spawn(freer_b, NULL), c = 0;
  test_join(a);                                /* A's heap abandoned, its inbox closed */
  if (recycle) c = test_spawn(newcomer_c, NULL);
  else pthread_barrier_wait(&b3);
  test_join(b);
  if (recycle) { pthread_barrier_wait(&b4); test_join(c); }
  malloc_trim(0);
  for (int k = 0; k < 5; k++) {
    size_t sz = 96 + (size_t)k * 16;
    CHECK(live_in_class(sz) == base[k], "case %d: class %zu: %zu live, want %zu", n, sz, live_in_class(sz), base[k]);
  }
  CHECK(pages_abandoned() <= ab, "case %d: %zu pages still abandoned (before: %zu)", n, pages_abandoned(), ab);
  CHECK(strata_heap_check() == 0, "case %d: heap check", n);
  pthread_barrier_destroy(&b1); pthread_barrier_destroy(&b2);
  pthread_barrier_destroy(&b3); pthread_barrier_destroy(&b4);
  CHECK(strata_option_set("purge_ms", -1) == 0, "purge_ms");
  printf("ok: %d batches for a heap that %s reach its pages\n", n,
         recycle ? "a new thread took over" : "was abandoned");
}

/* ---- 5 */
#define NSLOTS 4096
#define OPS5 150000
static _Atomic(unsigned char *) slots[NSLOTS];
/* n bytes: the size in the first word, then v + j at byte j, v last */
static void fill(unsigned char *p, size_t n, unsigned char v) {
  memcpy(p, &n, sizeof n);
  for (size_t j = sizeof n; j + 1 < n; j++) p[j] = (unsigned char)(v + j);
  p[n - 1] = v;
}
static void verify(const unsigned char *p) {
  size_t n;
  memcpy(&n, p, sizeof n);
  CHECK(n >= 16 && n <= 2048, "case 5: size word overwritten (%zu)", n);
  unsigned char v = p[n - 1];
  for (size_t j = sizeof n; j + 1 < n; j++)
    CHECK(p[j] == (unsigned char)(v + j), "case 5: byte %zu of a %zu-byte block changed", j, n);
}
static void *stress(void *arg) {
  uint64_t x = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
  for (int k = 0; k < OPS5; k++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    size_t n = 16 + (size_t)(x >> 40) % 2033;
    unsigned char *p = malloc(n);
    CHECK(p != NULL, "case 5: malloc(%zu)", n);
    fill(p, n, (unsigned char)x);
    unsigned char *old = atomic_exchange(&slots[x % NSLOTS], p);
    if (old) { verify(old); free(old); }
  }
  return NULL;
}
static size_t small_live(void) {
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  size_t live = 0;
  for (unsigned c = 0; c < ST_NCLASSES && c < STRATA_STATS_CLASSES; c++) live += st.classes[c].blocks_in_use;
  return live;
}
static void *nothing(void *arg) { return arg; }
static void case_stress(void) {
  pthread_t t[4];
  /* glibc keeps a block of its own per thread it has seen at once: let it
   * make them before the count */
  for (int i = 0; i < 4; i++) t[i] = test_spawn(nothing, NULL);
  for (int i = 0; i < 4; i++) test_join(t[i]);
  malloc_trim(0);
  size_t base = small_live();
  for (int i = 0; i < 4; i++) t[i] = test_spawn(stress, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 4; i++) test_join(t[i]);
  for (int i = 0; i < NSLOTS; i++) {
    unsigned char *p = atomic_exchange(&slots[i], NULL);
    if (p) { verify(p); free(p); }
  }
  malloc_trim(0);
  CHECK(small_live() == base, "case 5: %zu blocks live after everything was freed, want %zu", small_live(), base);
  CHECK(strata_heap_check() == 0, "case 5: heap check");
  printf("ok: 5 four threads swapped %d patterned blocks each, every byte checked, none left live\n", OPS5);
}

/* ---- 6 */
#define N6 20000
static void *set6[N6];
static pthread_key_t key6;
static int phase6;
static void dtor6(void *v) {
  (void)v;
  if (_st_heap_tl != &_st_heap_dead) { pthread_setspecific(key6, (void *)1); return; }  /* after strata's */
  if (phase6 == 0) for (int i = 0; i < N6; i++) CHECK((set6[i] = malloc(1000)) != NULL, "case 6: malloc");
  else for (int i = 0; i < 2000; i++) { void *volatile p = malloc(1000); CHECK(p != NULL, "case 6: malloc"); }
}
static void *thread6(void *arg) {
  void *volatile q = malloc(16);               /* a heap, so strata's destructor runs */
  free(q);
  pthread_setspecific(key6, (void *)1);
  return arg;
}
static void on_alarm(int sig) {
  (void)sig;
  static const char m[] = "u_remote: case 6 timed out: deadlock on the orphan heap\n";
  (void)!write(2, m, sizeof m - 1);
  _exit(1);
}
static void case_orphan(void) {
  CHECK(strata_option_set("purge_ms", 250) == 0, "purge_ms");
  signal(SIGALRM, on_alarm);
  alarm(30);
  CHECK(pthread_key_create(&key6, dtor6) == 0, "key");
  test_join(test_spawn(thread6, NULL));
  for (int i = 0; i < N6; i++) free(set6[i]);  /* main's frees into orphan pages */
  phase6 = 1;
  test_join(test_spawn(thread6, NULL));
  alarm(0);
  CHECK(strata_heap_check() == 0, "case 6: heap check");
  CHECK(strata_option_set("purge_ms", -1) == 0, "purge_ms");
  printf("ok: 6 the orphan heap's pages freed by another thread, then more orphan mallocs: no deadlock\n");
}

/* ---- 7 */
#define N7 40
static blk_t set7[N7];
static void *thread7(void *arg) {
  (void)arg;
  void *mine = malloc(16);                     /* a heap of its own */
  unsigned c = _st_class_small[500];
  CHECK(st_stash_of(_st_heap_tl, c) != NULL, "case 7: class %u has no stash", c);
  size_t pend[ST_NCLASSES] = {0};
  /* an idle stash takes ST_STASH_IDLE blocks: 0..3 stashed, 4..9 batched */
  for (int i = 0; i < 10; i++) { blk_vfy(&set7[i], "case 7"); free(set7[i].p); }
  _st_remote_pending(pend);
  CHECK(pend[c] == 10, "case 7: %zu blocks of class %u waiting, want 10", pend[c], c);
  void *q = malloc(500);
  CHECK(q == set7[ST_STASH_IDLE - 1].p, "case 7: malloc gave %p, want the newest stashed %p", q,
        set7[ST_STASH_IDLE - 1].p);
  set7[ST_STASH_IDLE - 1] = (blk_t){ q, 500, 0 };
  blk_fill(&set7[ST_STASH_IDLE - 1], 77);
  /* a stash that served a malloc takes up to ST_STASH_MAX: 10..38 join the
   * 3 left, 39 is batched */
  for (int i = 10; i < N7; i++) { blk_vfy(&set7[i], "case 7"); free(set7[i].p); }
  memset(pend, 0, sizeof pend);
  _st_remote_pending(pend);
  CHECK(pend[c] == N7 - 1, "case 7: %zu blocks of class %u waiting, want %d", pend[c], c, N7 - 1);
  int want[ST_STASH_MAX], n = 0;               /* newest first */
  for (int i = 10 + ST_STASH_MAX - ST_STASH_IDLE; i >= 10; i--) want[n++] = i;
  for (int i = ST_STASH_IDLE - 2; i >= 0; i--) want[n++] = i;
  CHECK(n == ST_STASH_MAX, "case 7: %d expected", n);
  for (int j = 0; j < ST_STASH_MAX; j++) {
    blk_t *s = &set7[want[j]];
    q = malloc(500);
    CHECK(q == s->p, "case 7: malloc %d gave %p, want the stashed %p (block %d)", j, q, s->p, want[j]);
    *s = (blk_t){ q, 500, 0 };
    blk_fill(s, 77);
  }
  void *own = malloc(500);
  for (int i = 0; i < N7; i++) CHECK(own != set7[i].p, "case 7: the 33rd malloc is a stashed block");
  free(own);
  for (int j = 0; j < ST_STASH_MAX; j++) { blk_vfy(&set7[want[j]], "case 7 reused"); free(set7[want[j]].p); }
  blk_vfy(&set7[ST_STASH_IDLE - 1], "case 7 reused");
  free(set7[ST_STASH_IDLE - 1].p);
  CHECK(st_stash_of(_st_heap_tl, _st_class_small[16]) == NULL, "case 7: 16-byte blocks have a stash");
  free(mine);
  return NULL;
}
static void case_stash(void) {
  if (_st_secure) { printf("skip: 7 (secure mode does not stash)\n"); return; }
  size_t base = live_in_class(500);
  for (int i = 0; i < N7; i++) set7[i] = blk_new(500, 7, "case 7");
  CHECK(live_in_class(500) == base + N7, "case 7: %zu live", live_in_class(500) - base);
  test_join(test_spawn(thread7, NULL));
  CHECK(live_in_class(500) == base, "case 7: %zu live after the stasher's exit", live_in_class(500) - base);
  CHECK(strata_heap_check() == 0, "case 7: heap check");
  printf("ok: 7 a thread reuses the foreign blocks it freed (stash, newest first), and its exit sends them home\n");
}

/* ---- 8 */
#define SPANS8 32
#define PER8 128                              /* 512-byte blocks per 64 KiB span */
static void *blk8[SPANS8 * PER8], *given8[SPANS8];
static pthread_barrier_t bar8, bar8b;
static void *owner8(void *x) {
  (void)x;
  for (int i = 0; i < SPANS8 * PER8; i++) { blk8[i] = malloc(512); CHECK(blk8[i] != NULL, "case 8: malloc"); }
  for (int s = 0; s < SPANS8; s++) given8[s] = blk8[s * PER8];
  for (int i = 0; i < SPANS8 * PER8; i++) if (i % PER8) free(blk8[i]);
  pthread_barrier_wait(&bar8);                /* B frees them while A lives */
  pthread_barrier_wait(&bar8);
  return NULL;
}
static void *stasher8(void *x) {
  (void)x;
  free(malloc(16));                           /* a heap of its own */
  pthread_barrier_wait(&bar8);
  free(given8[0]); free(given8[1]);
  void *keep = malloc(512);                   /* one pop: the stash may hold 32 now */
  for (int s = 2; s < SPANS8; s++) free(given8[s]);
  page_t *st = st_stash_of(_st_heap_tl, _st_class_small[512]);
  CHECK(st->capacity - st->used == SPANS8 - 1, "case 8: %u blocks stashed, want %d", st->capacity - st->used, SPANS8 - 1);
  pthread_barrier_wait(&bar8);
  static void *big[3000];                     /* other classes: many slow paths */
  for (int i = 0; i < 3000; i++) { big[i] = malloc(4000); CHECK(big[i] != NULL, "case 8: malloc"); }
  for (int i = 0; i < 3000; i++) free(big[i]);
  pthread_barrier_wait(&bar8b);               /* main measures while B idles */
  pthread_barrier_wait(&bar8b);
  free(keep);
  return NULL;
}
static void case_aging(void) {
  if (_st_secure) { printf("skip: 8 (secure mode does not stash)\n"); return; }
  pthread_barrier_init(&bar8, NULL, 3);
  pthread_barrier_init(&bar8b, NULL, 2);
  pthread_t a = test_spawn(owner8, NULL), b = test_spawn(stasher8, NULL);
  pthread_barrier_wait(&bar8);
  pthread_barrier_wait(&bar8);
  test_join(a);
  pthread_barrier_wait(&bar8b);
  malloc_trim(0);
  size_t ab = pages_abandoned();
  CHECK(ab <= 1, "case 8: %zu abandoned pages kept by an idle thread's stash, want at most 1", ab);
  pthread_barrier_wait(&bar8b);
  test_join(b);
  malloc_trim(0);
  CHECK(pages_abandoned() == 0, "case 8: %zu abandoned pages after the stasher left", pages_abandoned());
  pthread_barrier_destroy(&bar8);
  pthread_barrier_destroy(&bar8b);
  printf("ok: 8 an idle thread's stash ages out on its slow paths (%zu abandoned page left)\n", ab);
}

/* ---- 9 */
static void *pair9[2];
static void *thread9(void *arg) {
  (void)arg;
  free(malloc(16));                           /* a heap of its own */
  free(pair9[0]);
  free(pair9[1]);                             /* both stashed */
  void *q = malloc(512);                      /* pair9[1] */
  memcpy(q, "hello!!", 8);                    /* word 0 only */
  free(q);
  q = malloc(512);
  void *r = realloc(q, 600);                  /* a live block: moved */
  CHECK(r != NULL, "case 9: realloc of a block taken from the stash failed");
  free(r);
  free(malloc(512));
  return NULL;
}
static void case_untouched(void) {
  size_t base = live_in_class(512);
  for (int i = 0; i < 2; i++) { pair9[i] = malloc(512); CHECK(pair9[i] != NULL, "case 9: malloc"); }
  test_join(test_spawn(thread9, NULL));
  CHECK(live_in_class(512) == base, "case 9: %zu blocks of 512 live", live_in_class(512) - base);
  printf("ok: 9 blocks taken from the stash and freed or realloc'ed untouched are no misuse\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(strata_option_set("purge_ms", -1) == 0 && strata_option_set("guard_sample", 0) == 0, "options");
  case_exit_flush();
  case_partial();
  case_closed(0);
  case_closed(1);
  case_stress();
  case_orphan();
  case_stash();
  case_aging();
  case_untouched();
  printf("u_remote: all passed\n");
  return 0;
}
