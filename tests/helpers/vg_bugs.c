/* vg_bugs.c -- one heap bug for tests/valgrind.sh mode 3, which runs it
 * under memcheck with the STRATA_VALGRIND library (src/malloc/valgrind.c)
 * as the allocator and expects memcheck to report the bug.  Built without
 * strata (LD_PRELOAD).
 *
 *   vg_bugs KIND SIZE [KIND SIZE...]   each in turn, KIND one of
 *     uaf       read a byte of a freed block of SIZE bytes
 *     uninit    branch on a byte of a fresh malloc(SIZE) never written
 *     overflow  write the byte just past a malloc(SIZE) block
 *     leak      lose the only pointer to a malloc(SIZE) block
 *   and two correct programs, which memcheck must find clean:
 *     threads   4 threads x SIZE blocks each, freed by another thread,
 *               the threads exit, then malloc_trim (strata touches freed
 *               blocks at a thread's exit and in the trim: found by
 *               review, stop 32, hundreds of false reports)
 *     pool      a pool allocator's arena of SIZE bytes in a malloc'd block,
 *               a freed chunk made unaddressable inside it (as PostgreSQL,
 *               APR and GLib do), then realloc: the live chunk after it
 *               must survive (realloc copied only up to the first
 *               unaddressable byte: found by review, stop 32)
 *
 * Each block is written through (but the uninit byte) so that the bug, and
 * nothing else, is what memcheck can see.  Exit 0 after the bugs; 2 on a
 * usage error or a failed malloc.  (Several in one run: memcheck reports
 * one error context once, so a run that must show each uses one bug.)
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_NOACCESS
#define VALGRIND_MAKE_MEM_NOACCESS(p, n) ((void)(p), (void)(n))
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n) ((void)(p), (void)(n))
#endif

#define DIE(...) do { fprintf(stderr, "vg_bugs: " __VA_ARGS__); fputc('\n', stderr); exit(2); } while (0)

/* through a volatile pointer: the compiler keeps every access */
static unsigned char *volatile keep;

/* threads: each frees the blocks the one before it made */
enum { NT = 4 };
static unsigned char *made[NT][64];
static size_t tn;
static pthread_barrier_t bar;
static void *worker(void *arg) {
  int t = (int)(long)arg;
  for (int i = 0; i < 64; i++) {
    made[t][i] = malloc(tn + (size_t)i * 8);
    if (made[t][i] == NULL) DIE("malloc");
    memset(made[t][i], t + 1, tn + (size_t)i * 8);
  }
  pthread_barrier_wait(&bar);
  int o = (t + NT - 1) % NT;
  for (int i = 0; i < 64; i++) {
    if (made[o][i][0] != o + 1) DIE("block of thread %d changed", o);
    free(made[o][i]);
  }
  return NULL;
}
static void threads(size_t n) {
  pthread_t th[NT];
  tn = n;
  pthread_barrier_init(&bar, NULL, NT);
  for (long t = 0; t < NT; t++) if (pthread_create(&th[t], NULL, worker, (void *)t) != 0) DIE("pthread_create");
  for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
  malloc_trim(0);
  puts("threads: ok");
}
static void pool(size_t n) {
  unsigned char *arena = malloc(n);
  if (arena == NULL || n < 400) DIE("pool needs 400 bytes");
  memset(arena, 'A', 100);                          /* chunk A */
  memset(arena + 100, 'B', 100);                    /* chunk B, live */
  VALGRIND_MAKE_MEM_NOACCESS(arena, 100);           /* chunk A freed */
  arena = realloc(arena, 2 * n);
  if (arena == NULL) DIE("realloc");
  VALGRIND_MAKE_MEM_UNDEFINED(arena, 100);          /* chunk A's space reused */
  int ok = 1;
  for (int i = 100; i < 200; i++) ok &= arena[i] == 'B';
  puts(ok ? "pool: preserved" : "pool: LOST");
  free(arena);
  if (!ok) exit(1);
}

/* One bug of `kind` with a block of n bytes. */
static void bug(const char *kind, size_t n) {
  if (strcmp(kind, "threads") == 0) { threads(n); return; }
  if (strcmp(kind, "pool") == 0) { pool(n); return; }
  unsigned char *p = malloc(n);
  if (p == NULL) DIE("malloc(%zu)", n);
  keep = p;
  if (strcmp(kind, "uaf") == 0) {
    memset(p, 7, n);
    free(p);
    printf("read %d\n", keep[n / 2]);              /* the use after free */
  } else if (strcmp(kind, "uninit") == 0) {
    memset(p, 7, n / 2);                           /* the second half stays unwritten */
    if (keep[n - 1] == 42) puts("42");             /* the branch on it */
    else puts("not 42");
    free(p);
  } else if (strcmp(kind, "overflow") == 0) {
    memset(p, 7, n);
    keep[n] = 1;                                   /* one byte past the request */
    free(p);
  } else if (strcmp(kind, "leak") == 0) {
    memset(p, 7, n);
    keep = NULL;                                   /* the only pointer, lost */
  } else DIE("unknown kind %s", kind);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc % 2 == 0) DIE("usage: vg_bugs uaf|uninit|overflow|leak SIZE [KIND SIZE...]");
  for (int i = 1; i + 1 < argc; i += 2) {
    size_t n = strtoull(argv[i + 1], NULL, 0);
    if (n < 2) DIE("SIZE must be at least 2");
    bug(argv[i], n);
  }
  keep = NULL;
  puts("vg_bugs: done");
  return 0;
}
