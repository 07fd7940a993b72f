/* t_latefree.c -- stress: legitimate cross-thread frees while threads come
 * and go, including frees made after the freeing thread's own heap is gone.
 *
 * What it drives (docs/malloc.md sections 8 and 13):
 *  - workers malloc blocks of every route (batched 16-255 B, stashed
 *    256 B - 1 KiB, unbatched 1-9 KiB and up to 101 KiB), pass most of them
 *    through shared queues and free what they pop: remote frees into live
 *    heaps, into heaps of threads that exited (retired whole, or abandoned
 *    page by page after malloc_trim) and into the orphan heap;
 *  - short-lived threads, some that never malloc (heapless until a free
 *    needs one), leave a container for a pthread key destructor that is
 *    registered after strata's own, so it runs after the thread's heap was
 *    given back: its frees take the dead-thread route (_st_heap_borrow when
 *    the block looks freed); it may re-arm itself for more destructor
 *    rounds, and may malloc there (orphan-heap blocks, freed later by others);
 *  - KEY_PCT percent of the blocks carry the free key in word 1 as user data,
 *    so a good part of the frees take the suspect path and must be confirmed
 *    as legitimate: any report is a false double free and fails the test.
 * Every block carries a pattern that is checked before its free, and word 1
 * must read back as written (the key, or the pattern).  At the end the
 * misuse count must be 0 and strata_heap_check() clean.
 *
 * Usage: t_latefree [--run SECONDS]   Without arguments it runs itself
 * twice, each for RUN_SECS seconds in a child: with the inherited
 * STRATA_OPTIONS, and with purge_ms=0 added (pages purged and retired at
 * once, so frees race with the purge and the retire).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdatomic.h>
#include <string.h>
#include <strata/malloc.h>
#include <strata/stats.h>
#include "test.h"

#define RUN_SECS 3
#define FREE_KEY 0xffffffffa5f3c1d7ull    /* ST_FREE_KEY (src/malloc/internal.h) */
#define KEY_PCT 50
#define NQUEUES 8
#define QCAP 8192
#define LATE_N 24
#define NWORKERS 3
#define NSPAWNERS 3

typedef struct { uint64_t *p; size_t n; uint64_t seed, word1; } item_t;
#include "item_queues.h"

static atomic_long n_free, n_late, n_late_keyed, n_orphan;
static pthread_key_t late_key;

static size_t pick_size(uint64_t *s) {
  unsigned r = (unsigned)(rnd_next(s) % 100);
  if (r < 30) return 16 + rnd_next(s) % 240;          /* batched, not stashed */
  if (r < 60) return 256 + rnd_next(s) % 769;         /* the stash's range */
  if (r < 90) return 1025 + rnd_next(s) % 8192;       /* never batched */
  return 1025 + rnd_next(s) % (100 * 1024);
}

static item_t make(uint64_t *s) {
  item_t it;
  it.n = pick_size(s);
  it.p = malloc(it.n);
  CHECK(it.p != NULL, "malloc(%zu)", it.n);
  it.seed = rnd_next(s);
  pat_fill(it.p, it.n, it.seed);
  it.word1 = it.p[1];
  if (rnd_next(s) % 100 < KEY_PCT) ((volatile uint64_t *)it.p)[1] = FREE_KEY;   /* looks freed */
  return it;
}

static void check_and_free(item_t *it) {
  uint64_t w = it->p[1];
  CHECK(w == FREE_KEY || w == it->word1, "word 1 of %p (%zu B) changed: %#llx", (void *)it->p, it->n,
        (unsigned long long)w);
  it->p[1] = it->word1;
  size_t bad = pat_check(it->p, it->n, it->seed);
  CHECK(bad == 0, "block %p (%zu B) corrupt at offset %zu", (void *)it->p, it->n, bad - 1);
  ((volatile uint64_t *)it->p)[1] = w;   /* volatile: the store must reach the block */
  free(it->p);
  atomic_fetch_add(&n_free, 1);
}

/* What a late destructor frees: blocks popped from the queues (anyone's),
 * then its own container, a block of the dead thread's heap. */
typedef struct { uint64_t tag, key; item_t it[LATE_N]; int n, round, make_orphans; uint64_t s; } late_t;

static void late_destructor(void *v) {
  late_t *L = v;
  for (int i = 0; i < L->n; i++) {
    if (L->it[i].p[1] == FREE_KEY) atomic_fetch_add(&n_late_keyed, 1);
    check_and_free(&L->it[i]);
    atomic_fetch_add(&n_late, 1);
  }
  L->n = 0;
  if (L->make_orphans) {                  /* mallocs here come from the orphan heap */
    for (int k = 0; k < 4; k++) {
      item_t it = make(&L->s);
      if (q_push(rnd_next(&L->s), it)) atomic_fetch_add(&n_orphan, 1);
      else check_and_free(&it);
    }
  }
  if (++L->round < 3 && rnd_next(&L->s) % 2) {   /* ask for another destructor round */
    for (int k = 0; k < LATE_N && L->n < LATE_N; k++)
      if (q_pop(rnd_next(&L->s), &L->it[L->n])) L->n++;
    if (L->n) { pthread_setspecific(late_key, L); return; }
  }
  CHECK(L->tag == 0x1234 && L->key == FREE_KEY, "late container %p corrupt", (void *)L);
  ((volatile uint64_t *)L)[1] = FREE_KEY;        /* word 1 holds the key: a suspect */
  free(L);
}

static void *worker(void *arg) {
  uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
  item_t local[64];
  int nl = 0;
  while (!atomic_load(&stop)) {
    for (int k = 0; k < 8; k++) {
      item_t it = make(&s);
      if (rnd_next(&s) % 10 < 3 && nl < 64) local[nl++] = it;
      else if (!q_push(rnd_next(&s), it)) check_and_free(&it);
    }
    for (int k = 0; k < 8; k++) {
      item_t it;
      if (!q_pop(rnd_next(&s), &it)) break;
      check_and_free(&it);
    }
    while (nl > 0 && rnd_next(&s) % 3) check_and_free(&local[--nl]);
  }
  while (nl > 0) check_and_free(&local[--nl]);
  return NULL;
}

/* Short-lived: mallocs and frees a little (mode 0: nothing, so it has no
 * heap until a free needs one), then leaves blocks to its late destructor. */
static void *ephemeral(void *arg) {
  uint64_t s = (uintptr_t)arg * 0xD6E8FEB86659FD93ull | 1;
  if (rnd_next(&s) % 4 != 0) {
    int n = 1 + (int)(rnd_next(&s) % 20);
    for (int k = 0; k < n; k++) {
      item_t it = make(&s);
      if (!q_push(rnd_next(&s), it)) check_and_free(&it);
      if (q_pop(rnd_next(&s), &it)) check_and_free(&it);
    }
  }
  late_t *L = malloc(sizeof *L);
  CHECK(L != NULL, "malloc(late_t)");
  /* all zero first, word 2 included: a block that sat in a stash keeps the
   * stash's mark there, and the key in word 1 next to that mark is the
   * documented false report (docs/malloc.md section 13) */
  memset(L, 0, sizeof *L);
  L->tag = 0x1234;
  L->key = FREE_KEY;
  L->s = rnd_next(&s) | 1;
  L->make_orphans = rnd_next(&s) % 4 == 0;
  for (int k = 0; k < LATE_N; k++) if (q_pop(rnd_next(&s), &L->it[L->n])) L->n++;
  pthread_setspecific(late_key, L);
  return NULL;
}

static void run(double secs) {
  free(malloc(1));                       /* strata's thread key first, ours after it */
  CHECK(pthread_key_create(&late_key, late_destructor) == 0, "pthread_key_create");
  q_init();
  pthread_t w[NWORKERS], sp[NSPAWNERS];
  for (int i = 0; i < NWORKERS; i++) w[i] = test_spawn(worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < NSPAWNERS; i++) sp[i] = test_spawn(spawner, (void *)(uintptr_t)(i + 100));
  double end = now_sec() + secs;
  strata_stats_t st;
  while (now_sec() < end) {
    usleep(20000);
    strata_stats_get(&st);
    CHECK(st.misuses == 0, "%zu misuse(s) reported on legitimate frees", st.misuses);
    malloc_trim(0);                      /* expires retired heaps: pages get abandoned */
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < NWORKERS; i++) test_join(w[i]);
  for (int i = 0; i < NSPAWNERS; i++) test_join(sp[i]);
  item_t it;
  for (unsigned q = 0; q < NQUEUES; q++) while (q_pop(q, &it)) check_and_free(&it);
  malloc_trim(0);
  strata_stats_get(&st);
  CHECK(st.misuses == 0, "%zu misuse(s) reported on legitimate frees", st.misuses);
  CHECK(strata_heap_check() == 0, "strata_heap_check found a broken invariant");
  /* the run must have exercised what it is for */
  CHECK(n_late > 0 && n_late_keyed > 0 && n_threads >= 8,
        "too little happened: %ld late frees (%ld keyed), %ld threads", (long)n_late,
        (long)n_late_keyed, (long)n_threads);
  printf("%ld frees (%ld in late destructors, %ld of them keyed), %ld orphan-heap blocks, "
         "%ld threads: no report, heap check clean\n", (long)n_free, (long)n_late,
         (long)n_late_keyed, (long)n_orphan, (long)n_threads);
}

extern char **environ;

/* Run this program with --run in a child, with `extra` appended to
 * STRATA_OPTIONS; returns its exit status (0: passed). */
static int run_child(const char *extra) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    const char *old = getenv("STRATA_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%s%s", old ? old : "", old && *old && *extra ? "," : "", extra);
    setenv("STRATA_OPTIONS", opts, 1);
    char secs[16];
    snprintf(secs, sizeof secs, "%d", RUN_SECS);
    char *argv[] = { (char *)"t_latefree", (char *)"--run", secs, NULL };
    execve("/proc/self/exe", argv, environ);
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  printf("%s: STRATA_OPTIONS %s+'%s'\n", ok ? "ok" : "FAILED", getenv("STRATA_OPTIONS") ? "inherited" : "unset",
         extra);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 2 && strcmp(argv[1], "--run") == 0) {
    run(atof(argv[2]));
    return 0;
  }
  int failed = run_child("") + run_child("purge_ms=0");
  return failed ? 1 : 0;
}
