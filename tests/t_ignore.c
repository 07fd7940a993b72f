/* t_ignore.c -- on_misuse=ignore leaves the heap sound, for every misuse
 * kind, size range and alignment.
 *
 * Each case runs in a forked child with abort_on_error=0: it commits one
 * misuse (double free, also with frees in between, by another thread, by
 * two threads, after the owner exited; an interior free, here (at a
 * multiple of 16 bytes and off that grid) and from another thread; realloc of a freed block, here and from another thread;
 * free_sized / free_aligned_sized with a size too big or too small; a
 * second free of a block held in a purged unit, here, from another thread,
 * and realloc of one), then allocates many blocks of the same size and
 * alignment here and in another thread, each with its own pattern, frees
 * half of them remotely, twice over, and checks that no live block was
 * clobbered, no two overlap (nothing handed out twice), strata_heap_check()
 * is clean and exactly one misuse was counted.  A sized free that cannot be
 * told from a right one (an aligned request rounds several sizes to one
 * class) is noted, not counted.
 *
 * Also the owner's free followed by another thread's second free, whose
 * delivery comes after the owner's next malloc took the block back (left
 * out as a limitation until the batches kept RB_KEYED, 2026-11-27).
 * (Written by an audit helper, 2026-11-27, which found five bugs with it.)
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "strata/malloc.h"
#include "strata/stats.h"

#define FAIL(...) do { fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); _exit(1); } while (0)

static volatile size_t vz;
static void *opaque(void *p) { vz++; return p; }

typedef struct { unsigned char *p; size_t n; uint64_t tag; } blk;
#define MAXB 20000
static blk live[MAXB];
static int nlive;
static uint64_t tagc = 1;

static inline unsigned char pb(uint64_t tag, size_t j) { return (unsigned char)((tag * 0x9E3779B97F4A7C15ull + j * 131) >> 13); }
static void fill(blk *b) { for (size_t j = 0; j < b->n; j++) b->p[j] = pb(b->tag, j); }
static void add(void *p, size_t n) {
  if (!p) FAIL("alloc returned NULL");
  if (nlive >= MAXB) FAIL("too many");
  blk *b = &live[nlive++];
  b->p = p; b->n = n; b->tag = tagc++;
  fill(b);
}
static void add_nofill(void *p, size_t n) {   /* block filled already with its tag */
  blk *b = &live[nlive++];
  b->p = p; b->n = n; b->tag = tagc++;
  fill(b);
}
static int cmpb(const void *a, const void *b) {
  const blk *x = a, *y = b;
  return x->p < y->p ? -1 : x->p > y->p;
}
static void check_all(const char *what) {
  for (int i = 0; i < nlive; i++)
    for (size_t j = 0; j < live[i].n; j++)
      if (live[i].p[j] != pb(live[i].tag, j))
        FAIL("%s: block %p (%zu bytes) clobbered at byte %zu", what, (void *)live[i].p, live[i].n, j);
  static blk srt[MAXB];
  memcpy(srt, live, nlive * sizeof *live);
  qsort(srt, nlive, sizeof *srt, cmpb);
  for (int i = 1; i < nlive; i++)
    if (srt[i - 1].p + srt[i - 1].n > srt[i].p)
      FAIL("%s: blocks %p(+%zu) and %p overlap (handed out twice)", what, (void *)srt[i - 1].p, srt[i - 1].n,
           (void *)srt[i].p);
}
static void free_all(void) {
  for (int i = 0; i < nlive; i++) free(live[i].p);
  nlive = 0;
}

/* ---- allocation in a second thread ---- */
typedef struct { size_t size, align; int n; void **out; } tjob;
static void *alloc_n(size_t size, size_t align) {
  if (align <= 16) return malloc(size);
  void *p = NULL;
  if (posix_memalign(&p, align, size) != 0) return NULL;
  if (((uintptr_t)p & (align - 1)) != 0) FAIL("misaligned");
  return p;
}
static void *t_alloc(void *a) {
  tjob *j = a;
  for (int i = 0; i < j->n; i++) {
    j->out[i] = alloc_n(j->size, j->align);
    if (!j->out[i]) FAIL("thread alloc");
    memset(j->out[i], 0, j->size);
  }
  return NULL;
}
typedef struct { void *p; int how; size_t size; } fjob;
static void *t_free(void *a) {
  fjob *j = a;
  if (j->how == 0) free(j->p);
  else if (j->how == 1) { free(j->p); free(j->p); }
  else if (j->how == 2) free((char *)j->p + 16);
  else if (j->how == 4) { void *x = malloc(32); free(j->p); free(x); }
  else if (j->how == 5) { void *x = malloc(32); free(j->p); free(j->p); free(x); }
  else if (j->how == 3) { void *q = realloc(j->p, j->size); if (q) FAIL("remote realloc of freed returned %p", q); }
  return NULL;
}
static void run_t(void *(*fn)(void *), void *a) {
  pthread_t t;
  if (pthread_create(&t, NULL, fn, a)) FAIL("pthread_create");
  pthread_join(t, NULL);
}
static void remote_free(void *p, int how) { fjob j = {p, how, 0}; run_t(t_free, &j); }

static size_t misuses(void) { strata_stats_t st; strata_stats_get(&st); return st.misuses; }

/* After the misuse: many blocks of the same kind, here and in another
 * thread, each with its own pattern; then free them (some remotely), do it
 * again, and check the heap. */
static void verify(size_t size, size_t align, int n) {
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < n; i++) add(alloc_n(size, align), size);
    void **out = calloc(n, sizeof *out);
    tjob j = {size, align, n, out};
    run_t(t_alloc, &j);
    for (int i = 0; i < n; i++) add(out[i], size);
    free(out);
    check_all(round ? "verify round 2" : "verify round 1");
    /* free the ones we allocated this round, half remotely */
    int keep = nlive - 2 * n;
    for (int i = nlive - 1; i >= keep; i--) {
      if (i & 1) free(live[i].p); else remote_free(live[i].p, 0);
    }
    nlive = keep;
    check_all("after frees");
    misuses();   /* flush / drain */
  }
  if (strata_heap_check() != 0) FAIL("strata_heap_check");
}

/* ---- scenarios ---- */
typedef struct { const char *name; size_t size, align; int expect; void (*fn)(size_t, size_t); } scen;

static int verify_n(size_t size) { return size >= (1 << 20) ? 3 : size >= 100000 ? 8 : size >= 4096 ? 64 : 300; }

/* The block a case misuses, allocated after a live neighbour (kept, checked). */
static char *victim(size_t s, size_t a) {
  add(alloc_n(s, a), s);
  return alloc_n(s, a);
}
static void s_dfree(size_t s, size_t a) {
  add(alloc_n(s, a), s);                    /* a live neighbour */
  char *p = alloc_n(s, a); memset(p, 1, s);
  free(p); free(opaque(p));
}
static void s_dfree_mid(size_t s, size_t a) {   /* frees in between */
  void *v[20];
  for (int i = 0; i < 20; i++) v[i] = alloc_n(s, a);
  free(v[5]);
  for (int i = 6; i < 15; i++) free(v[i]);
  free(opaque(v[5]));
  for (int i = 0; i < 5; i++) add_nofill(v[i], s);
  for (int i = 15; i < 20; i++) add_nofill(v[i], s);
}
static void s_interior(size_t s, size_t a) {
  char *p = alloc_n(s, a); add(p, s);
  free(opaque(p + 16));
}
static void s_interior_odd(size_t s, size_t a) {
  char *p = alloc_n(s, a); add(p, s);
  free(opaque(p + 8));
}
static void s_interior_remote(size_t s, size_t a) {
  char *p = alloc_n(s, a); add(p, s);
  remote_free(p, 2);
}
static void s_realloc_freed(size_t s, size_t a) {
  char *p = victim(s, a);
  free(p);
  void *q = realloc(opaque(p), s);
  if (q != NULL) { FAIL("realloc of a freed block returned %p (p=%p)", q, (void *)p); }
}
static void s_realloc_freed_grow(size_t s, size_t a) {
  char *p = victim(s, a);
  free(p);
  void *q = realloc(opaque(p), s * 3 + 100);
  if (q != NULL) { FAIL("realloc (grow) of a freed block returned %p (p=%p)", q, (void *)p); }
}
static int expect_adj;
static void sized_undetected(size_t before, const char *what, size_t s, size_t a, size_t given) {
  if (misuses() != before) return;
  fprintf(stderr, "NOTE: %s not detected: block of %zu (align %zu) freed with size %zu\n", what, s, a, given);
  nlive--; expect_adj = -1;
}
static void s_sized_big(size_t s, size_t a) {
  char *p = alloc_n(s, a); add(p, s);
  size_t before = misuses();
  if (a > 16) strata_free_aligned_sized(opaque(p), a, s * 4 + 4096); else strata_free_sized(opaque(p), s * 4 + 4096);
  sized_undetected(before, "sized_big", s, a, s * 4 + 4096);
}
static void s_sized_small(size_t s, size_t a) {
  char *p = alloc_n(s, a); add(p, s);
  size_t before = misuses();
  if (a > 16) strata_free_aligned_sized(opaque(p), a, 1); else strata_free_sized(opaque(p), s / 4);
  sized_undetected(before, "sized_small", s, a, a > 16 ? 1 : s / 4);
}
static void s_cross_AB(size_t s, size_t a) {
  char *p = victim(s, a);
  remote_free(p, 0); remote_free(p, 0);
}
static void s_cross_BB(size_t s, size_t a) {
  char *p = victim(s, a);
  remote_free(p, 1);
}
static void s_cross_AB_heap(size_t s, size_t a) {
  char *p = victim(s, a);
  remote_free(p, 4); remote_free(p, 4);
}
static void s_cross_BB_heap(size_t s, size_t a) {
  char *p = victim(s, a);
  remote_free(p, 5);
}
static void s_remote_then_owner(size_t s, size_t a) {
  char *p = victim(s, a);
  remote_free(p, 0); free(opaque(p));
}
/* The owner's free, then another thread's second free, whose delivery
 * comes after the owner's next mallocs (in verify) took the block back:
 * the batch remembers the key (RB_KEYED), and the delivery reports it. */
static void s_owner_then_remote(size_t s, size_t a) {
  char *p = victim(s, a);
  free(p); remote_free(p, 0);
}
static void s_owner_then_remote_heap(size_t s, size_t a) {
  char *p = victim(s, a);
  free(p); remote_free(p, 4);
}
static void s_realloc_freed_remote(size_t s, size_t a) {   /* main frees own block, other thread reallocs */
  char *p = victim(s, a);
  free(p);
  fjob j = {p, 3, s}; run_t(t_free, &j);
}
/* owner thread exits */
typedef struct { size_t s, a; void *p, *q; } ejob;
static void *t_make(void *x) { ejob *e = x; e->p = alloc_n(e->s, e->a); e->q = alloc_n(e->s, e->a); memset(e->q, 0, e->s); return NULL; }
static void s_exited_AB_heap(size_t s, size_t a) {
  ejob e = {s, a, 0, 0}; run_t(t_make, &e);
  add(e.q, s);
  remote_free(e.p, 4); remote_free(e.p, 4);
}
static void s_exited_dfree(size_t s, size_t a) {
  ejob e = {s, a, 0, 0}; run_t(t_make, &e);
  add(e.q, s);
  free(e.p); free(opaque(e.p));
}
static void s_exited_AB(size_t s, size_t a) {
  ejob e = {s, a, 0, 0}; run_t(t_make, &e);
  add(e.q, s);
  remote_free(e.p, 0); remote_free(e.p, 0);
}
static void s_exited_mainB(size_t s, size_t a) {
  ejob e = {s, a, 0, 0}; run_t(t_make, &e);
  add(e.q, s);
  free(e.p); misuses(); remote_free(e.p, 0);
}
/* held blocks (purged units of a sparse span) */
static void **held_setup(size_t s, int *np, int *idx) {
  int n = (int)((8 << 20) / s); if (n > 4000) n = 4000;
  void **b = malloc(n * sizeof *b);
  for (int i = 0; i < n; i++) { b[i] = malloc(s); memset(b[i], 7, s); }
  for (int i = 0; i < n; i++) if (i % 64 != 0) free(b[i]);
  malloc_trim(0);
  strata_stats_t st; strata_stats_get(&st);
  if (st.purged_total == 0) FAIL("nothing purged");
  for (int i = 0; i < n; i += 64) add_nofill(b[i], s);
  *np = n; *idx = n / 2 + 10;
  return b;
}
static void s_held_local(size_t s, size_t a) {
  (void)a; int n, i; void **b = held_setup(s, &n, &i);
  free(opaque(b[i]));
}
static void s_held_remote(size_t s, size_t a) {
  (void)a; int n, i; void **b = held_setup(s, &n, &i);
  remote_free(b[i], 0);
}
static void s_held_realloc(size_t s, size_t a) {
  (void)a; int n, i; void **b = held_setup(s, &n, &i);
  void *q = realloc(opaque(b[i]), s);
  if (q != NULL) FAIL("realloc of a held (freed, purged) block returned %p", q);
}

static const size_t small_sizes[] = {16, 48, 512, 1024, 4096, 40960};
static const size_t large_sizes[] = {200000, 20u << 20};
static const size_t aligns[] = {64, 4096, 65536};
static const size_t asizes[] = {100, 5000, 200000};

static int run_case(const char *name, size_t s, size_t a, int expect, void (*fn)(size_t, size_t)) {
  fflush(stdout);
  int pfd[2]; if (pipe(pfd)) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pfd[1], 2); close(pfd[0]);
    alarm(30);
    if (strata_option_set("abort_on_error", 0) != 0) FAIL("option");
    size_t before = misuses();
    fn(s, a);
    verify(s, a, verify_n(s));
    size_t got = misuses() - before;
    check_all("final");
    free_all();
    if (strata_heap_check() != 0) FAIL("strata_heap_check at end");
    if ((int)got != expect + expect_adj) FAIL("misuses counted %zu, expected %d", got, expect);
    _exit(0);
  }
  close(pfd[1]);
  char buf[8192]; size_t k = 0; ssize_t r;
  while ((r = read(pfd[0], buf + k, sizeof buf - 1 - k)) > 0) k += r;
  buf[k] = 0; close(pfd[0]);
  int st; waitpid(pid, &st, 0);
  int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  char *note = strstr(buf, "NOTE:");
  if (note) { char *e = strchr(note, '\n'); printf("     %.*s\n", e ? (int)(e - note) : 80, note); }
  char *fl = strstr(buf, "FAIL:");
  printf("%-4s %-22s size=%-8zu align=%-6zu %s", ok ? "ok" : "BAD", name, s, a, ok ? "\n" : "");
  if (!ok) {
    if (WIFSIGNALED(st)) printf("signal %d ", WTERMSIG(st));
    printf("| %s", fl ? fl : buf);
    if (!fl || buf[k - 1] != '\n') printf("\n");
    /* print strata lines */
    char *line = strtok(buf, "\n"); int m = 0;
    while (line && m < 4) { if (strstr(line, "strata:")) { printf("        %s\n", line); m++; } line = strtok(NULL, "\n"); }
  }
  return ok;
}

int main(int argc, char **argv) {
  const char *filt = argc > 1 ? argv[1] : "";
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct { const char *name; void (*fn)(size_t, size_t); int expect; int small, large, aligned; } k[] = {
    {"dfree", s_dfree, 1, 1, 1, 1},
    {"dfree_mid", s_dfree_mid, 1, 1, 1, 0},
    {"interior", s_interior, 1, 1, 1, 1},
    {"interior_odd", s_interior_odd, 1, 1, 1, 1},
    {"interior_remote", s_interior_remote, 1, 1, 1, 0},
    {"realloc_freed", s_realloc_freed, 1, 1, 1, 1},
    {"realloc_freed_grow", s_realloc_freed_grow, 1, 1, 1, 0},
    {"realloc_freed_remote", s_realloc_freed_remote, 1, 0, 1, 0},
    {"sized_big", s_sized_big, 1, 1, 1, 1},
    {"sized_small", s_sized_small, 1, 1, 1, 1},
    {"cross_AB", s_cross_AB, 1, 1, 1, 1},
    {"cross_BB", s_cross_BB, 1, 1, 1, 1},
    {"cross_AB_heap", s_cross_AB_heap, 1, 1, 1, 1},
    {"cross_BB_heap", s_cross_BB_heap, 1, 1, 1, 1},
    {"exited_AB_heap", s_exited_AB_heap, 1, 1, 1, 1},
    {"remote_then_owner", s_remote_then_owner, 1, 1, 1, 1},
    {"owner_then_remote", s_owner_then_remote, 1, 1, 1, 1},
    {"owner_then_remote_heap", s_owner_then_remote_heap, 1, 1, 1, 1},
    {"exited_dfree", s_exited_dfree, 1, 1, 1, 1},
    {"exited_AB", s_exited_AB, 1, 1, 1, 1},
    {"exited_mainB", s_exited_mainB, 1, 1, 1, 0},
    {"held_local", s_held_local, 1, 2, 0, 0},
    {"held_remote", s_held_remote, 1, 2, 0, 0},
    {"held_realloc", s_held_realloc, 1, 2, 0, 0},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
    if (!strstr(k[i].name, filt) && strcmp(filt, "") != 0) continue;
    if (k[i].small)
      for (size_t z = 0; z < sizeof small_sizes / sizeof *small_sizes; z++) {
        size_t s = small_sizes[z];
        if (k[i].small == 2 && s < 512) continue;
        if ((k[i].fn == s_interior || k[i].fn == s_interior_remote) && s < 32) continue;
        if (k[i].fn == s_sized_small && s <= 64) continue;
        bad += !run_case(k[i].name, s, 0, k[i].expect, k[i].fn);
      }
    if (k[i].large)
      for (size_t z = 0; z < sizeof large_sizes / sizeof *large_sizes; z++)
        bad += !run_case(k[i].name, large_sizes[z], 0, k[i].expect, k[i].fn);
    if (k[i].aligned)
      for (size_t x = 0; x < sizeof aligns / sizeof *aligns; x++)
        for (size_t z = 0; z < sizeof asizes / sizeof *asizes; z++) {
          if (k[i].fn == s_interior && asizes[z] < 32) continue;
          bad += !run_case(k[i].name, asizes[z], aligns[x], k[i].expect, k[i].fn);
        }
  }
  printf("t_ignore: %d case(s) failed\n", bad);
  return bad != 0;
}
