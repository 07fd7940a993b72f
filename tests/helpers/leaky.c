/* tests/helpers/leaky.c -- a program with known leaks, for tests/run_tool.sh
 * (`strata run --leaks`).  Built without strata; run under it.
 *
 *   leaky            leaks exactly: 7 blocks of 176 B (4 from the main thread,
 *                    3 from a second thread), 3 of 12000 B (second thread),
 *                    2 of 300 KiB (large blocks in a region, one per
 *                    thread) and 1 of 3 MiB (main thread).  Everything else it
 *                    allocates is freed: many more blocks of the same sizes,
 *                    some freed by the other thread (remote frees into a page
 *                    whose thread has exited), a freed 300 KiB and a freed
 *                    3 MiB block (free units of their region).  Prints one line, "usable A B C D",
 *                    the usable sizes of the four leaked kinds (D is the size
 *                    asked for, which is how large leaks are grouped), with
 *                    write(2), so that stdio allocates no buffer of its own.
 *   leaky exit N     exit(N) at once (after one malloc)
 *   leaky _exit N    _exit(N): no atexit handlers, so no report
 *   leaky signal N   raise(N)
 *   leaky busy N     N threads keep allocating and freeing blocks of every
 *                    kind (small to large) while main calls exit(0): the
 *                    report must be written without a crash while the heap
 *                    changes under it
 * The sizes avoid what glibc allocates itself at start-up and exit.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SMALL 176
#define MEDIUM 12000
#define SPAN (300 * 1024)
#define LARGE (3 * 1024 * 1024)

static void *keep[64];
static int nkeep;
static void *handoff[40];      /* allocated by the thread, freed by main */
static void *to_thread[40];    /* allocated by main, freed by the thread */

static void *touch(void *p, size_t n) {
  if (!p) { fprintf(stderr, "leaky: malloc failed\n"); exit(99); }
  memset(p, 0xab, n < 4096 ? n : 4096);
  return p;
}

static void *thread_main(void *arg) {
  (void)arg;
  void *tmp[50];
  for (int i = 0; i < 50; i++) tmp[i] = touch(malloc(SMALL), SMALL);
  for (int i = 0; i < 3; i++) keep[nkeep++] = tmp[i];            /* 3 x 176 leaked */
  for (int i = 3; i < 50; i++) free(tmp[i]);
  for (int i = 0; i < 10; i++) tmp[i] = touch(malloc(MEDIUM), MEDIUM);
  for (int i = 0; i < 3; i++) keep[nkeep++] = tmp[i];            /* 3 x 12000 leaked */
  for (int i = 3; i < 10; i++) free(tmp[i]);
  keep[nkeep++] = touch(malloc(SPAN), SPAN);                    /* 1 x 300 KiB leaked */
  for (int i = 0; i < 40; i++) handoff[i] = touch(malloc(i % 2 ? SMALL : MEDIUM), SMALL);
  for (int i = 0; i < 40; i++) free(to_thread[i]);              /* remote frees */
  return NULL;
}

static void *busy_main(void *arg) {
  unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1;
  void *slot[64] = {0};
  for (;;) {
    x = x * 1103515245u + 12345u;
    unsigned i = (x >> 8) % 64, k = (x >> 16) % 100;
    size_t n = k < 70 ? 16 + (x >> 4) % 1000 : k < 90 ? 2000 + (x >> 3) % 100000
             : k < 97 ? 200000 + (x >> 2) % 700000 : 1100000 + (x >> 1) % 4000000;
    free(slot[i]);
    slot[i] = malloc(n);
    if (slot[i]) memset(slot[i], 1, n < 64 ? n : 64);
  }
  return NULL;
}

static void put(const char *s) {
  ssize_t r = write(1, s, strlen(s));
  (void)r;
}

int main(int argc, char **argv) {
  if (argc == 3) {
    int n = atoi(argv[2]);
    void *p = malloc(SMALL);
    (void)p;
    if (!strcmp(argv[1], "exit")) exit(n);
    if (!strcmp(argv[1], "_exit")) _exit(n);
    if (!strcmp(argv[1], "signal")) { signal(n, SIG_DFL); raise(n); sleep(5); return 98; }
    if (!strcmp(argv[1], "busy")) {
      for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, busy_main, (void *)(uintptr_t)(i + 1)) != 0) return 99;
      }
      usleep(200 * 1000);
      exit(0);
    }
    return 2;
  }
  /* main thread: 4 x 176 kept of 60, a freed 300 KiB and 3 MiB block */
  void *tmp[60];
  for (int i = 0; i < 60; i++) tmp[i] = touch(malloc(SMALL), SMALL);
  for (int i = 0; i < 40; i++) to_thread[i] = touch(malloc(i % 2 ? SMALL : MEDIUM), SMALL);
  void *span_freed = touch(malloc(SPAN), SPAN);
  void *large_freed = touch(malloc(LARGE), LARGE);
  pthread_t t;
  if (pthread_create(&t, NULL, thread_main, NULL) != 0) { fprintf(stderr, "leaky: pthread_create\n"); return 99; }
  pthread_join(t, NULL);
  for (int i = 0; i < 40; i++) free(handoff[i]);                 /* frees into abandoned pages */
  for (int i = 0; i < 4; i++) keep[nkeep++] = tmp[i];             /* 4 x 176 leaked */
  for (int i = 4; i < 60; i++) free(tmp[i]);
  free(span_freed);
  free(large_freed);
  keep[nkeep++] = touch(malloc(SPAN), SPAN);                     /* 1 x 300 KiB leaked */
  void *big = touch(malloc(LARGE), LARGE);                       /* 1 x 3 MiB leaked */
  keep[nkeep++] = big;
  /* a realloc chain, all freed */
  void *r = NULL;
  for (size_t n = 100; n < 2 * 1024 * 1024; n = n * 3 / 2) r = touch(realloc(r, n), n);
  free(r);

  char line[160];
  snprintf(line, sizeof line, "usable %zu %zu %zu %d\n", malloc_usable_size(keep[0]),
           malloc_usable_size(keep[3]), malloc_usable_size(keep[6]), LARGE);
  put(line);
  return 0;
}
