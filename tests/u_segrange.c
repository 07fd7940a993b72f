/* Unit test: the segment range (segment.c, "The segment range").
 *
 *  1. Small blocks come from segments inside the reserved range, which free
 *     tells by one compare (st_in_seg_range); large blocks and foreign
 *     pointers do not.
 *  2. A segment given back keeps a readable header that says "all slices
 *     free": a free of a stale pointer into it is reported as an invalid
 *     pointer and aborts (SIGABRT, in a child), never a crash in strata.
 *  3. Released slots are reused before the range grows, and the high-water
 *     mark covers them.
 *  4. Without a range: seg_reserve=0, and a reservation the OS refuses
 *     (RLIMIT_AS of 1 GiB, in a re-executed child): segments are mapped one
 *     by one, st_in_seg_range is false for them, and malloc/free still work
 *     with content checked, double free still reported.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "malloc/internal.h"
#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"


enum { NBLK = 200000, BS = 200 };   /* ~40 MiB of small blocks: ten segments */

/* Fill, check, free NBLK blocks; returns how many were in the range. */
static size_t churn(void **v, int expect_range) {
  size_t in = 0;
  for (int i = 0; i < NBLK; i++) {
    v[i] = strata_malloc(BS);
    CHECK(v[i] != NULL, "malloc");
    memset(v[i], i & 0xff, BS);
    if (st_in_seg_range(v[i])) in++;
  }
  for (int i = 0; i < NBLK; i++) {
    const unsigned char *b = v[i];
    for (int k = 0; k < BS; k += 37) CHECK(b[k] == (unsigned char)(i & 0xff), "block %d corrupted", i);
  }
  for (int i = 0; i < NBLK; i++) strata_free(v[i]);
  CHECK(expect_range ? in == NBLK : in == 0, "%zu of %d blocks in the range (expected %s)", in, NBLK,
        expect_range ? "all" : "none");
  return in;
}

/* The misuse a child commits (test_in_child takes no argument). */
static void *victim;
static void free_stale(void) { strata_free(victim); }
static void free_twice(void) { strata_free(victim); strata_free(victim); }
static char report[4096];

/* Without a range (argv[1] says why): everything still works. */
static int no_range(const char *why) {
  void **v = calloc(NBLK, sizeof *v);
  CHECK(v != NULL, "calloc");
  _st_process_init();
  CHECK(strata_option_set("guard_sample", 0) == 0, "option");
  churn(v, 0);
  CHECK(_st_seg_span == 0, "%s: the range exists (span %zu)", why, (size_t)_st_seg_span);
  void *p = strata_malloc(48);
  CHECK(p != NULL && st_segmap_get(p) == SEGMAP_SMALL && !st_in_seg_range(p), "%s: small block", why);
  victim = p;
  int st = test_in_child(free_twice, report, sizeof report);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(report, "double free"),
        "%s: double free not reported (status %d, stderr '%s')", why, st, report);
  strata_free(p);
  printf("no range (%s): %d blocks mapped one by one, checked; double free reported\n", why, NBLK);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2) return no_range(argv[1]);
  _st_process_init();
  CHECK(strata_option_set("purge_ms", 0) == 0 && strata_option_set("guard_sample", 0) == 0, "option");
  void **v = calloc(NBLK, sizeof *v);
  CHECK(v != NULL, "calloc");

  /* 1 */
  churn(v, 1);
  uintptr_t base = _st_seg_base, span = _st_seg_span;
  CHECK(span != 0 && span % ST_SEGMENT_SIZE == 0, "no range after small allocations");
  void *big = strata_malloc(8 << 20);
  int local = 0;
  CHECK(big && !st_in_seg_range(big) && !st_in_seg_range(&local) && !st_in_seg_range(NULL) &&
        !st_in_seg_range((void *)(base - 16)) && !st_in_seg_range((void *)(base + span)),
        "a pointer outside the range passes the range test");
  strata_free(big);
  printf("range at %#lx, %zu MiB used after %d blocks of %d bytes\n", (unsigned long)base, span >> 20, NBLK, BS);

  /* 2: all freed, trimmed: the segments go back; a stale pointer is reported */
  strata_malloc_trim(0);
  strata_stats_t st;
  strata_stats_get(&st);
  void *stale = NULL;
  for (int i = 0; i < NBLK && stale == NULL; i++)
    if (st_segmap_get(v[i]) == 0) stale = v[i];
  CHECK(stale != NULL, "no segment was released (%zu segments left)", st.segments);
  uintptr_t stale_seg = (uintptr_t)st_segment_of(stale);
  CHECK(st_in_seg_range(stale), "a released slot left the range");
  const page_t *d = st_page_of((segment_t *)stale_seg, stale);
  CHECK(d != NULL && !d->in_use && d->span == d, "a released slot's descriptor does not read free");
  victim = stale;
  int ws = test_in_child(free_stale, report, sizeof report);
  CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT && strstr(report, "invalid pointer"),
        "free into a released slot: status %d (expected SIGABRT), stderr '%s'", ws, report);
  printf("free of a stale pointer into a released slot: reported, SIGABRT\n");

  /* 3: the same work again reuses the released slots */
  churn(v, 1);
  CHECK(_st_seg_span == span, "the range grew from %zu to %zu MiB although slots were free", span >> 20,
        (size_t)_st_seg_span >> 20);
  printf("second round: slots reused, range still %zu MiB\n", span >> 20);

  /* 4: no range */
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    struct rlimit rl = { (rlim_t)1 << 30, (rlim_t)1 << 30 };
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit");
    execl("/proc/self/exe", argv[0], "RLIMIT_AS", (char *)NULL);
    _exit(127);
  }
  int cs;
  CHECK(waitpid(pid, &cs, 0) == pid && WIFEXITED(cs) && WEXITSTATUS(cs) == 0, "RLIMIT_AS child failed (%d)", cs);
  pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    setenv("STRATA_OPTIONS", "seg_reserve=0", 1);
    execl("/proc/self/exe", argv[0], "seg_reserve=0", (char *)NULL);
    _exit(127);
  }
  CHECK(waitpid(pid, &cs, 0) == pid && WIFEXITED(cs) && WEXITSTATUS(cs) == 0, "seg_reserve=0 child failed (%d)", cs);
  free(v);
  printf("u_segrange: ok\n");
  return 0;
}
