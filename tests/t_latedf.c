/* t_latedf.c -- double frees made by a thread whose heap is gone (a pthread
 * key destructor that runs after strata's), swept over sizes and over who
 * made the first free.  Each must be reported and abort; with
 * on_misuse=ignore each must be counted, and no block handed out twice.
 *
 * A case: thread A mallocs block b (and keeps a neighbour, so the page
 * stays in use).  The first free of b is made by A itself ("owner"), by
 * main ("other"), or by thread T's late destructor ("dtor"); then T's late
 * destructor frees b (again).  Then:
 *   live  A stays alive and drains its inbox now and then: the suspect
 *         reaches it in a batch (docs/malloc.md section 13);
 *   exit  A exits while T's destructor runs, so the suspect meets a heap
 *         that is retiring or retired (and, every other round, expired by
 *         malloc_trim into abandoned pages); threads then malloc the same
 *         size and must never get one block twice.
 * Sizes cover the batched classes (48, 112), the stash classes (512, 1024),
 * and blocks that are never batched (4096, 20000, 100000).
 *
 * Usage: t_latedf            the sweep: 42 cases, each in a child
 *        t_latedf MODE SIZE FIRST ROUNDS   one case (what the children run)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <strata/malloc.h>
#include <strata/stats.h>
#include "test.h"

static pthread_key_t late_key;
static size_t size;
static const char *first;
static int exit_mode;
static uint64_t *volatile b, *volatile keep;
static sem_t a_made, t_in_dtor;
static atomic_int a_stop;

static void *opaque(void *p) { __asm__ volatile("" : "+r"(p)); return p; }

static void late_destructor(void *v) {
  (void)v;
  if (strcmp(first, "dtor") == 0) free(opaque((void *)b));
  if (exit_mode) {
    sem_post(&t_in_dtor);                      /* A may exit now: race it */
    for (volatile int i = 0, n = rand() % 20000; i < n; i++) {}
  }
  free(opaque((void *)b));                     /* the second free */
}

static void *thread_t(void *arg) {
  (void)arg;
  free(malloc(16));                            /* T has a heap, so strata's destructor runs first */
  pthread_setspecific(late_key, (void *)1);
  return NULL;
}

static void *thread_a(void *arg) {
  (void)arg;
  keep = malloc(size);
  b = malloc(size);
  CHECK(keep && b, "malloc(%zu)", size);
  memset((void *)b, 0x5a, size);
  if (strcmp(first, "owner") == 0) free(opaque((void *)b));
  sem_post(&a_made);
  if (exit_mode) { sem_wait(&t_in_dtor); return NULL; }
  while (!atomic_load(&a_stop)) {              /* a live owner: mallocs now and then */
    free(malloc(24));
    usleep(200);
  }
  free(keep);
  return NULL;
}

static void *taker(void *arg) {
  (void)arg;
  void *v[64];
  for (int i = 0; i < 64; i++) {
    v[i] = malloc(size);
    CHECK(v[i] != NULL, "malloc(%zu)", size);
  }
  for (int i = 0; i < 64; i++)
    for (int j = 0; j < i; j++) CHECK(v[i] != v[j], "block %p handed out twice", v[i]);
  for (int i = 0; i < 64; i++) free(v[i]);
  return NULL;
}

static int one_case(const char *mode, size_t sz, const char *who, int rounds) {
  exit_mode = strcmp(mode, "exit") == 0;
  size = sz;
  first = who;
  free(malloc(1));                             /* strata's thread key first */
  CHECK(pthread_key_create(&late_key, late_destructor) == 0, "pthread_key_create");
  srand((unsigned)getpid());
  for (int r = 0; r < rounds; r++) {
    sem_init(&a_made, 0, 0);
    sem_init(&t_in_dtor, 0, 0);
    atomic_store(&a_stop, 0);
    pthread_t a = test_spawn(thread_a, NULL);
    sem_wait(&a_made);
    if (strcmp(first, "other") == 0) free(opaque((void *)b));
    test_join(test_spawn(thread_t, NULL));
    if (!exit_mode) {
      usleep(200000);                          /* A drains its inbox meanwhile */
      atomic_store(&a_stop, 1);
      test_join(a);
    } else {
      test_join(a);
      if (r % 2) malloc_trim(0);               /* expire retired heaps: pages abandoned */
      pthread_t t[2];
      for (int i = 0; i < 2; i++) t[i] = test_spawn(taker, NULL);
      for (int i = 0; i < 2; i++) test_join(t[i]);
    }
  }
  malloc_trim(0);
  for (int i = 0; i < 4; i++) test_join(test_spawn(taker, NULL));
  strata_stats_t st;
  strata_stats_get(&st);
  CHECK(strata_heap_check() == 0, "strata_heap_check found a broken invariant");
  printf("%s %zu %s, %d rounds: %zu misuses reported\n", mode, sz, who, rounds, st.misuses);
  CHECK(st.misuses == (size_t)rounds, "%zu misuses counted for %d double frees", st.misuses, rounds);
  return 0;
}

extern char **environ;

/* Runs one case in a child (this program again, with STRATA_OPTIONS =
 * opts; test_in_child captures its stderr into buf). */
static const char *case_opts, *case_mode, *case_who;
static size_t case_size;
static int case_rounds;
static void exec_case(void) {
  setenv("STRATA_OPTIONS", case_opts, 1);
  char s[32], r[16];
  snprintf(s, sizeof s, "%zu", case_size);
  snprintf(r, sizeof r, "%d", case_rounds);
  char *argv[] = { (char *)"t_latedf", (char *)case_mode, s, (char *)case_who, r, NULL };
  execve("/proc/self/exe", argv, environ);
  _exit(127);
}
static int run_child(const char *opts, const char *mode, size_t sz, const char *who, int rounds,
                     char *buf, size_t cap) {
  case_opts = opts; case_mode = mode; case_size = sz; case_who = who; case_rounds = rounds;
  return test_in_child(exec_case, buf, cap);
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 5) return one_case(argv[1], strtoul(argv[2], NULL, 0), argv[3], atoi(argv[4]));
  static const char *modes[] = { "live", "exit" };
  static const size_t sizes[] = { 48, 112, 512, 1024, 4096, 20000, 100000 };
  static const char *whos[] = { "owner", "other", "dtor" };
  /* the options the sweep runs under: what the test was given (the suite
   * runs once plain and once with secure=1), and purge_ms=0 added */
  const char *given = getenv("STRATA_OPTIONS");
  char with_purge[256];
  snprintf(with_purge, sizeof with_purge, "%s%spurge_ms=0", given ? given : "", given && *given ? "," : "");
  const char *optsets[] = { given ? given : "", with_purge };
  int failed = 0, cases = 0;
  char buf[8192];
  for (unsigned o = 0; o < 2; o++)
    for (unsigned m = 0; m < 2; m++)
      for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (unsigned w = 0; w < 3; w++) {
          int st = run_child(optsets[o], modes[m], sizes[s], whos[w], 1, buf, sizeof buf);
          int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, "double free") != NULL;
          cases++;
          if (!ok) {
            failed++;
            printf("FAIL: STRATA_OPTIONS='%s' %s %zu %s: status %#x, output: %s\n", optsets[o], modes[m],
                   sizes[s], whos[w], st, buf);
          }
        }
  /* ignored: counted once per round, no block handed out twice, heap clean */
  for (unsigned m = 0; m < 2; m++)
    for (unsigned s = 0; s < sizeof sizes / sizeof *sizes; s += 3) {
      char opts[300];
      snprintf(opts, sizeof opts, "%s%son_misuse=ignore", given ? given : "", given && *given ? "," : "");
      int st = run_child(opts, modes[m], sizes[s], "dtor", 3, buf, sizeof buf);
      int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      cases++;
      if (!ok) {
        failed++;
        printf("FAIL: STRATA_OPTIONS='%s' %s %zu dtor x3: status %#x, output: %s\n", opts, modes[m], sizes[s],
               st, buf);
      }
    }
  printf("%d cases, %d failed\n", cases, failed);
  return failed != 0;
}
