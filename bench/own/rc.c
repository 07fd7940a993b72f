/* bench/own/rc.c -- reference counting against std::shared_ptr, side by side.
 *
 *   build/bench/own/rc [--runs N] [--quick]   rounds of strata and of the
 *                                             g++ peer (rc_shared_ptr, next
 *                                             to this binary), interleaved
 *   build/bench/own/rc --once                 one round of strata, one
 *                                             "name value" line per metric
 *   build/bench/own/rc --cg MODE K            K iterations of MODE in
 *                                             cg_loop (rc_callgrind.sh)
 *
 * Metrics (ns per operation unless named otherwise):
 *   rc_pair      non-atomic retain + release of one object, a compiler
 *                barrier between them (so both really touch memory): the
 *                latency-bound case, each op waits for the previous store
 *   rc_pair_x    non-atomic retain of 256 objects, then release of all:
 *                independent counts, the throughput case (per pair)
 *   arc_pair     atomic retain + release of one object (lock xadd twice)
 *   arc_pair_x   atomic, 256 objects (per pair)
 *   weak_lock    strata_weak_lock + strata_arc_release
 *   new_release  strata_rc_new (atomic type, 16-byte payload) + last release
 *   collect_dead cycle collection of 1M objects in garbage rings of 100:
 *                M objects scanned per second (trial deletion + destructors
 *                + free)
 *   collect_live the same rings still referenced: M objects scanned per
 *                second (trial deletion only: nothing is garbage)
 * The peer prints sp_copy (shared_ptr copy + destroy), sp_copy_x, wp_lock
 * (weak_ptr::lock + destroy) and sp_make (make_shared + destroy) the same
 * way; the comparison pairs are arc_pair/sp_copy, arc_pair_x/sp_copy_x,
 * weak_lock/wp_lock, new_release/sp_make.
 *
 * Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so time slices
 * lost to other programs on the shared machine do not count.  Each round
 * runs every loop once in this process and the peer once in a fresh process; the table shows medians over rounds, the min-max spread,
 * and the median of the per-round ratios (strata / peer: below 1 is faster).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/rc.h"
#include "../bench_common.h"

/* Per-thread CPU time, not wall time: on a shared 2-core machine a
 * preempted loop would count the other programs' time slices. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")

static const strata_rc_type_t T_PLAIN = { "plain", NULL, NULL, 0 };
static const strata_rc_type_t T_ATOMIC = { "atomic", NULL, NULL, STRATA_RC_ATOMIC };

typedef struct rnode { struct rnode *next; uint64_t val; } rnode_t;
static void r_destroy(void *p) {
  rnode_t *n = p;
  rnode_t *x = n->next;
  n->next = NULL;
  if (x) strata_rc_release(x);
}
static void r_traverse(void *p, strata_rc_visit_fn visit, void *arg) { visit(((rnode_t *)p)->next, arg); }
static const strata_rc_type_t T_RING = { "ring", r_destroy, r_traverse, 0 };

static int quick;

/* ---- the loops ---------------------------------------------------------- */

static double t_rc_pair(long n) {
  void *o = strata_rc_new(&T_PLAIN, 16);
  double t0 = cpu_now();
  for (long i = 0; i < n; i++) {
    strata_rc_retain(o);
    BARRIER(o);
    strata_rc_release(o);
    BARRIER(o);
  }
  double dt = cpu_now() - t0;
  strata_rc_release(o);
  return dt * 1e9 / (double)n;
}

#define NX 256
static double t_pair_x(long n, int atomic) {
  static void *v[NX];
  for (int i = 0; i < NX; i++) v[i] = strata_rc_new(atomic ? &T_ATOMIC : &T_PLAIN, 16);
  long rounds = n / NX;
  double t0 = cpu_now();
  for (long r = 0; r < rounds; r++) {
    if (atomic) {
      for (int i = 0; i < NX; i++) strata_arc_retain(v[i]);
      BARRIER(v);
      for (int i = 0; i < NX; i++) strata_arc_release(v[i]);
    } else {
      for (int i = 0; i < NX; i++) strata_rc_retain(v[i]);
      BARRIER(v);
      for (int i = 0; i < NX; i++) strata_rc_release(v[i]);
    }
    BARRIER(v);
  }
  double dt = cpu_now() - t0;
  for (int i = 0; i < NX; i++) atomic ? strata_arc_release(v[i]) : strata_rc_release(v[i]);
  return dt * 1e9 / (double)(rounds * NX);
}

static double t_arc_pair(long n) {
  void *o = strata_rc_new(&T_ATOMIC, 16);
  double t0 = cpu_now();
  for (long i = 0; i < n; i++) {
    strata_arc_retain(o);
    BARRIER(o);
    strata_arc_release(o);
    BARRIER(o);
  }
  double dt = cpu_now() - t0;
  strata_arc_release(o);
  return dt * 1e9 / (double)n;
}

static double t_weak_lock(long n) {
  void *o = strata_rc_new(&T_ATOMIC, 16);
  strata_weak_t w = strata_weak_new(o);
  double t0 = cpu_now();
  for (long i = 0; i < n; i++) {
    void *p = strata_weak_lock(w);
    BARRIER(p);
    strata_arc_release(p);
  }
  double dt = cpu_now() - t0;
  strata_arc_release(o);
  strata_weak_release(w);
  return dt * 1e9 / (double)n;
}

static double t_new_release(long n) {
  double t0 = cpu_now();
  for (long i = 0; i < n; i++) {
    void *p = strata_rc_new(&T_ATOMIC, 16);
    BARRIER(p);
    strata_arc_release(p);
  }
  return (cpu_now() - t0) * 1e9 / (double)n;
}

/* 1M objects in rings of 100; live: one external ref kept per ring. */
static double t_collect(long nobj, int live) {
  long nrings = nobj / 100;
  rnode_t **heads = malloc((size_t)nrings * sizeof *heads);
  for (long r = 0; r < nrings; r++) {
    rnode_t *first = strata_rc_new(&T_RING, sizeof(rnode_t)), *prev = first;
    for (int i = 1; i < 100; i++) {
      rnode_t *x = strata_rc_new(&T_RING, sizeof(rnode_t));
      prev->next = x;
      prev = x;
    }
    prev->next = strata_rc_retain(first);
    heads[r] = first;
  }
  if (live) for (long r = 0; r < nrings; r++) strata_rc_retain(heads[r]);
  for (long r = 0; r < nrings; r++) strata_rc_release(heads[r]);   /* buffered */
  strata_rc_stats_t a, b;
  strata_rc_stats_get(&a);
  double t0 = cpu_now();
  long got = strata_rc_collect();
  double dt = cpu_now() - t0;
  strata_rc_stats_get(&b);
  if (got != (live ? 0 : nrings * 100)) {
    fprintf(stderr, "rc bench: collect returned %ld\n", got);
    exit(1);
  }
  if (live) {
    for (long r = 0; r < nrings; r++) strata_rc_release(heads[r]);
    strata_rc_collect();
  }
  free(heads);
  return (double)(b.scanned - a.scanned) / dt / 1e6;    /* M objects/s */
}

typedef struct { const char *name, *peer, *unit; double v[64]; double pv[64]; } metric_t;
static metric_t M[] = {
  { "rc_pair", NULL, "ns", {0}, {0} },
  { "rc_pair_x", NULL, "ns", {0}, {0} },
  { "arc_pair", "sp_copy", "ns", {0}, {0} },
  { "arc_pair_x", "sp_copy_x", "ns", {0}, {0} },
  { "weak_lock", "wp_lock", "ns", {0}, {0} },
  { "new_release", "sp_make", "ns", {0}, {0} },
  { "collect_dead", NULL, "Mobj/s", {0}, {0} },
  { "collect_live", NULL, "Mobj/s", {0}, {0} },
};
#define NM (sizeof M / sizeof M[0])

static void one_round(double *out) {
  long k = quick ? 1 : 4;
  out[0] = t_rc_pair(k * 10000000);
  out[1] = t_pair_x(k * 10000000, 0);
  out[2] = t_arc_pair(k * 5000000);
  out[3] = t_pair_x(k * 5000000, 1);
  out[4] = t_weak_lock(k * 5000000);
  out[5] = t_new_release(k * 1000000);
  out[6] = t_collect(quick ? 200000 : 1000000, 0);
  out[7] = t_collect(quick ? 200000 : 1000000, 1);
}

/* ---- callgrind mode: K iterations of one operation in cg_loop ---------- */

static void *cg_obj;
static strata_weak_t cg_weak;
__attribute__((noinline)) static void cg_loop(const char *mode, long k) {
  void *o = cg_obj;
  if (!strcmp(mode, "rc_pair"))
    for (long i = 0; i < k; i++) { strata_rc_retain(o); BARRIER(o); strata_rc_release(o); BARRIER(o); }
  else if (!strcmp(mode, "arc_pair"))
    for (long i = 0; i < k; i++) { strata_arc_retain(o); BARRIER(o); strata_arc_release(o); BARRIER(o); }
  else if (!strcmp(mode, "weak_lock"))
    for (long i = 0; i < k; i++) { void *p = strata_weak_lock(cg_weak); BARRIER(p); strata_arc_release(p); }
  else if (!strcmp(mode, "new_release"))
    for (long i = 0; i < k; i++) { void *p = strata_rc_new(&T_ATOMIC, 16); BARRIER(p); strata_arc_release(p); }
  else
    for (long i = 0; i < k; i++) BARRIER(o);                    /* "none" */
}

static int cg_main(const char *mode, long k) {
  cg_obj = strata_rc_new(strncmp(mode, "rc_", 3) ? &T_ATOMIC : &T_PLAIN, 16);
  cg_weak = strata_weak_new(cg_obj);
  cg_loop(mode, 10);                                           /* warm */
  cg_loop(mode, k);
  return 0;
}

/* ---- driver ------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(const double *v, int n) {
  double t[64];
  memcpy(t, v, (size_t)n * sizeof *t);
  qsort(t, (size_t)n, sizeof *t, cmp_d);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}
static double vmin(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) if (v[i] < m) m = v[i]; return m; }
static double vmax(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) if (v[i] > m) m = v[i]; return m; }

/* One run of the peer; fills pv[round] of the metrics it reports. */
static int run_peer(const char *peer, int round) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "'%s' --once%s", peer, quick ? " --quick" : "");
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  char line[256];
  int got = 0;
  while (fgets(line, sizeof line, f)) {
    char name[64];
    double v;
    if (!strncmp(line, "atomic_path ", 12)) {
      if (round == 0) printf("shared_ptr: atomic path %s", line + 12);
      continue;
    }
    if (sscanf(line, "%63s %lf", name, &v) != 2) continue;
    for (size_t m = 0; m < NM; m++)
      if (M[m].peer && !strcmp(M[m].peer, name)) { M[m].pv[round] = v; got++; }
  }
  return pclose(f) == 0 && got ? 0 : -1;
}

int main(int argc, char **argv) {
  int runs = 7, once = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) { quick = 1; runs = 3; }
    else if (!strcmp(argv[i], "--once")) once = 1;
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--cg") && i + 2 < argc) return cg_main(argv[i + 1], atol(argv[i + 2]));
    else { fprintf(stderr, "usage: %s [--runs N] [--quick] [--once] [--cg MODE K]\n", argv[0]); return 2; }
  }
  if (runs < 1 || runs > 64) runs = 7;
  strata_rc_set_threshold(0);                 /* the collect loops decide when */
  if (once) {
    double out[NM];
    one_round(out);
    for (size_t m = 0; m < NM; m++) printf("%s %.3f\n", M[m].name, out[m]);
    return 0;
  }
  char peer[4096];
  snprintf(peer, sizeof peer, "%s", argv[0]);
  char *slash = strrchr(peer, '/');
  snprintf(slash ? slash + 1 : peer, sizeof peer - (size_t)(slash ? slash + 1 - peer : 0), "rc_shared_ptr");
  int have_peer = access(peer, X_OK) == 0;
  if (!have_peer) printf("(peer %s not built: strata only)\n", peer);
  double load[3] = { 0 };
  if (getloadavg(load, 3) < 0) load[0] = -1;
  printf("rc bench: %d rounds%s, load average %.2f at start\n", runs, quick ? " (quick)" : "", load[0]);
  for (int r = 0; r < runs; r++) {
    double out[NM];
    if (have_peer && (r & 1) && run_peer(peer, r) != 0) { fprintf(stderr, "peer failed\n"); have_peer = 0; }
    one_round(out);
    for (size_t m = 0; m < NM; m++) M[m].v[r] = out[m];
    if (have_peer && !(r & 1) && run_peer(peer, r) != 0) { fprintf(stderr, "peer failed\n"); have_peer = 0; }
  }
  printf("%-13s %9s %17s   %-10s %9s %17s   %s\n", "strata", "median", "min-max", "peer", "median",
         "min-max", "ratio (median of per-round)");
  for (size_t m = 0; m < NM; m++) {
    printf("%-13s %9.2f %8.2f-%-8.2f %s", M[m].name, median(M[m].v, runs), vmin(M[m].v, runs),
           vmax(M[m].v, runs), M[m].unit);
    if (M[m].peer && have_peer) {
      double ratio[64];
      for (int r = 0; r < runs; r++) ratio[r] = M[m].v[r] / M[m].pv[r];
      printf("  %-10s %9.2f %8.2f-%-8.2f   %.2fx", M[m].peer, median(M[m].pv, runs), vmin(M[m].pv, runs),
             vmax(M[m].pv, runs), median(ratio, runs));
    }
    printf("\n");
  }
  return 0;
}
