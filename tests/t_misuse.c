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
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
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

/* ---- cases */

static void large_double_free_cached(void) {
  char *p = malloc(3000000);
  CHECK(p != NULL, "malloc");
  memset(p, 1, 3000000);
  free(p);                                 /* parked in the large cache */
  free(opaque(p));                         /* must be reported */
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

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  expect_abort("double free of a cached large block", large_double_free_cached);
  expect_abort("double free of a cached large block from another thread", large_double_free_cached_other_thread);
  expect_abort("free of a large block's old address after a moving realloc", large_double_free_after_move);
  expect_abort("double free of a span block", span_double_free);
  expect_abort("double free of a small block", small_double_free);
  expect_clean("double free of a cached large block, abort_on_error=0", large_double_free_ignored);
  expect_clean("double free of a small block, abort_on_error=0", small_double_free_ignored);
  printf("t_misuse: all passed\n");
  return 0;
}
