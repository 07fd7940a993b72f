/* src/tools/benchgc.h -- what the two halves of `strata bench gc` share:
 * benchgc.c runs the benchmarks and fills the state gcb; benchgc_report.c
 * computes the statistics and targets from it and prints the tables, the
 * JSON and the chart.  Only those two files include this header; the rest
 * of the command sees just cmd_bench_gc() (tools.h).
 */
#ifndef STRATA_BENCHGC_H
#define STRATA_BENCHGC_H

#include <stdio.h>

#include "tools.h"

typedef enum { K_GCBENCH, K_TREES, K_PAUSES } gkind_t;

/* One benchmark (the table defs[] is in benchgc.c).  Invariant: names
 * unique; prog is the binary's base name; in_default 0: only with --only. */
struct gdef {
  const char *name, *prog;
  gkind_t kind;
  int cons, threads, in_default;
  const char *what;
};
#define N_DEFS 6                  /* entries of defs[] */

/* The collectors (benchgc.c).  Invariant: index 0 is strata, the others
 * are Boehm. */
typedef struct {
  const char *name, *suffix;
  int incr, color;               /* color: palette index (svg.c) */
} gcoll_t;
#define N_GCS 3
extern const gcoll_t gcb_gc[N_GCS];

/* What a result line carries (NAN when a key is absent); gcb_fkey[k] is the
 * key of measure k (benchgc.c). */
enum { F_TIME, F_RSS, F_COLL, F_PAUSES, F_PTOTAL, F_P50, F_P99, F_MAX, F_P50X, F_P99X,
       F_STALL, F_STALLS, F_ALLOC, N_F };
extern const char *const gcb_fkey[N_F];

/* One run.  Invariant: ok == 1 means a good run (see benchgc.c) and f[] is
 * its line; otherwise why[] says what went wrong, wrong == 1 when the
 * program reported damage. */
typedef struct {
  int ran, ok, wrong, max_bound;
  double f[N_F];
  char check[40], why[200];
} grun_t;

/* One (benchmark, collector) over its good runs.  n_ok == 0: all NAN.
 * med[F_P50X/F_P99X] only when every good run had them; max_bound: some
 * run's maximum was a bucket bound (pause_max_exact=0). */
typedef struct {
  int n_ok, n_fail, n_wrong, max_bound;
  double med[N_F], tmin, tmax, amin, amax, max_worst;   /* max_worst: of pause_max_us */
  char check[40];
} gcell_t;

typedef struct {
  const struct gdef *def;
  char args[6][24];
  int n_args, mismatch;
  grun_t runs[N_GCS][BENCH_MAX_RUNS];
  gcell_t cell[N_GCS];
} gbench_t;

/* A whole run (defined in benchgc.c).  Invariants: use[c] says collector c
 * runs (selected, and its binaries are there); n_runs is runs per
 * (benchmark, collector).  benchgc.c fills everything but cell[], mismatch
 * and the targets; benchgc_report.c fills those. */
typedef struct {
  gbench_t b[N_DEFS];
  int n, use[N_GCS], n_runs, quick;
  char config[N_GCS][96];        /* what each collector said of itself */
  char date[64], uname[256];
  double load0[3], load1[3], started, elapsed;
  const char *source;             /* --report: the raw file */
  char **failures, **notices, **targets;
  int n_failures, n_notices, n_targets, n_met, n_checked;
} gstate_t;
extern gstate_t gcb;

/* ------------------------------------------------------------ benchgc.c */

/* The program's arguments of b, space-separated, into buf (n bytes). */
void gcb_args_text(const gbench_t *b, char *buf, size_t n);

/* ----------------------------------------------------- benchgc_report.c */

void gcb_analyse(gbench_t *b);     /* cells and check agreement of a finished benchmark */
void gcb_targets(void);            /* issue 5's targets, after every gcb_analyse() */
/* Tables of benchmark `only` (-1: all); md: Markdown, else aligned text. */
void gcb_results_table(FILE *f, int only, int md);
void gcb_ratio_table(FILE *f, int only, int md);
void gcb_info_line(FILE *f);       /* date, machine, runs, load */
void gcb_summary(FILE *f, int md); /* ratios, targets, notes, failures (md: everything) */
int gcb_write_json(const char *path);   /* 0, or -1 with a message on stderr */
int gcb_write_svg(const char *path);

#endif
