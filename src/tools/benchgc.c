/* src/tools/benchgc.c -- `strata bench gc`: the collector benchmarks of
 * bench/gc (GCBench, binary-trees, the large-heap pause benchmark) under
 * strata's GC and the Boehm GC side by side, and the tables of their
 * results against issue 5's targets.  bench/gc/run.sh is a thin wrapper.
 *
 * Every benchmark is built twice from one source (Makefile):
 * <bin>/gc/NAME-strata and NAME-boehm; the collector "boehm-incr" is the
 * -boehm binary with BENCH_GC_INCREMENTAL=1.  For each benchmark, for each
 * of R rounds, every collector runs once, in the order strata, boehm,
 * boehm-incr in even rounds and the reverse in odd ones, so a slow drift of
 * a shared machine falls on all alike (the method of `strata bench`).
 *
 * A run is good when the program exits 0 within the timeout and prints
 * exactly one result line "bench=NAME gc=COLLECTOR ... check=X" naming the
 * benchmark and the collector asked for, with time_s, peak_rss_kb and
 * collections.  check depends only on the benchmark's parameters, so every
 * good run of a benchmark, under every collector, must give the same value;
 * "check=FAIL" means the program found damage in its own data.  A crash,
 * a timeout, damage or disagreeing checks are failures: listed loudly, left
 * out of the medians, exit status 1.  A ratio never changes the status.
 *
 * Pause percentiles: strata reports a histogram (the upper bound of the
 * bucket is shown as "<=N"); Boehm's shim times every stop, and its line
 * carries exact percentiles (pause_p50_exact_us, ...), which the tables
 * show when every good run has them.  Ratios compare like with like: exact
 * with exact, else bucket bound with bucket bound.  docs/gc-bench.md has
 * the method; the statistics are computed here, the shared helpers (child
 * processes, result lines, JSON, the chart) live in proc.c, report.c and
 * svg.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define GC_TIMEOUT_S 900.0
#define GC_DEFAULT_RUNS 3
#define TARGET_TIME 0.70         /* issue 5: time <= 0.7x Boehm */
#define TARGET_MAX_US 1000.0     /* longest stop under 1 ms */
#define TARGET_P99_US 250.0      /* p99 under 250 us */

typedef enum { K_GCBENCH, K_TREES, K_PAUSES } gkind_t;

/* The benchmarks, in the order they run and are reported.  Invariant:
 * names unique; prog is the binary's base name; in_default 0: only with
 * --only. */
static const struct gdef {
  const char *name, *prog;
  gkind_t kind;
  int cons, threads, in_default;
  const char *what;
} defs[] = {
  {"gcbench", "gcbench", K_GCBENCH, 0, 1, 1,
   "GCBench: long-lived tree and array, short-lived trees of depths 4..max built both ways"},
  {"gcbench-cons", "gcbench", K_GCBENCH, 1, 1, 1, "GCBench, strata allocating conservatively"},
  {"binarytrees", "binarytrees", K_TREES, 0, 1, 1, "binary-trees (Benchmarks Game)"},
  {"binarytrees-mt", "binarytrees", K_TREES, 0, 2, 1, "binary-trees, 2 threads"},
  {"pauses", "pauses", K_PAUSES, 0, 2, 1,
   "large live heap of 48-byte nodes under steady replacement from 2 threads"},
  {"pauses-cons", "pauses", K_PAUSES, 1, 2, 0, "pauses, strata allocating conservatively"},
};
#define N_DEFS (int)(sizeof defs / sizeof defs[0])

/* The collectors.  Invariant: index 0 is strata, the others are Boehm. */
static const struct {
  const char *name, *suffix;
  int incr, color;               /* color: palette index (svg.c) */
} gcs[] = {{"strata", "strata", 0, 1}, {"boehm", "boehm", 0, 2}, {"boehm-incr", "boehm", 1, 4}};
#define N_GCS 3

/* What a result line carries (NAN when a key is absent). */
enum { F_TIME, F_RSS, F_COLL, F_PAUSES, F_PTOTAL, F_P50, F_P99, F_MAX, F_P50X, F_P99X,
       F_STALL, F_STALLS, F_ALLOC, N_F };
static const char *const fkey[N_F] = {
  "time_s", "peak_rss_kb", "collections", "pauses", "pause_total_ms", "pause_p50_us",
  "pause_p99_us", "pause_max_us", "pause_p50_exact_us", "pause_p99_exact_us", "stall_max_us",
  "stalls_1ms", "alloc_mb_s"};

/* One run.  Invariant: ok == 1 means a good run (see the top) and f[] is
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

typedef struct {
  const char *only, *gc, *json, *md, *svg, *raw, *report;
  const char *heap, *seconds, *depth, *max_depth;
  int quick, runs, verbose;
} gopts_t;

/* A whole run.  Invariants: use[c] says collector c runs (selected, and
 * its binaries are there); n_runs is runs per (benchmark, collector). */
static struct {
  gbench_t b[N_DEFS];
  int n, use[N_GCS], n_runs, quick;
  char config[N_GCS][96];        /* what each collector said of itself */
  char date[64], uname[256];
  double load0[3], load1[3], started, elapsed;
  const char *source;             /* --report: the raw file */
  char **failures, **notices, **targets;
  int n_failures, n_notices, n_targets, n_met, n_checked;
} G;

static void usage(FILE *f) {
  fprintf(f,
    "usage: strata bench gc [options]\n"
    "Runs the collector benchmarks of bench/gc under strata's GC, the Boehm GC\n"
    "(parallel marking) and Boehm's incremental mode, interleaved run by run;\n"
    "reports medians, spreads, ratios strata / Boehm and issue 5's targets.\n"
    "See docs/gc-bench.md.\n\n"
    "  --quick          small sizes (GCBench depth 14, binary-trees 16, a 64 MiB\n"
    "                   heap for 2 s): about a minute on 2 cores\n"
    "  --only LIST      benchmarks (comma list; default all but pauses-cons)\n"
    "  --gc LIST        collectors: strata,boehm,boehm-incr (default all)\n"
    "  --runs N         runs per benchmark and collector (default %d)\n"
    "  --max-depth N    GCBench depth (default 16, quick 14)\n"
    "  --depth N        binary-trees depth (default 21, quick 16)\n"
    "  --heap SIZE      pauses: live heap (default 1g, quick 64m)\n"
    "  --seconds S      pauses: measured time (default 20, quick 2)\n"
    "  --json F, --md F, --svg F   write the results as JSON, Markdown, a chart\n"
    "  --raw F          keep every result line in F\n"
    "  --report F       run nothing; print the tables of the lines in F (--raw)\n"
    "  -v               print every result line\n\n"
    "environment: BENCH_BIN_DIR   benchmarks in $BENCH_BIN_DIR/gc (default <dir of strata>/bench)\n"
    "             STRATA_BENCH_TIMEOUT seconds before a run is killed (default 900)\n"
    "exit status: 0 all runs good; 1 a run crashed, timed out, found damage or\n"
    "             disagreed on the check value; 2 usage or setup error.\n\nbenchmarks:\n",
    GC_DEFAULT_RUNS);
  for (int i = 0; i < N_DEFS; i++)
    fprintf(f, "  %-15s %s%s\n", defs[i].name, defs[i].what,
            defs[i].in_default ? "" : " (only with --only)");
}

__attribute__((format(printf, 1, 2)))
static void notice(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "strata bench gc: %s\n", buf);
  tool_strlist_add(&G.notices, &G.n_notices, "%s", buf);
}

static int gc_index(const char *name) {
  for (int c = 0; c < N_GCS; c++)
    if (!strcmp(name, gcs[c].name)) return c;
  return -1;
}

/* Every entry of the comma list names something known (lookup >= 0)? */
static int check_list(const char *list, const char *what, int (*lookup)(const char *)) {
  char *copy = strdup(list), *save = NULL;
  int ok = 1;
  for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
    if (lookup(t) < 0) {
      fprintf(stderr, "strata bench gc: unknown %s '%s' (see strata bench gc --help)\n", what, t);
      ok = 0;
    }
  free(copy);
  return ok;
}

static int def_index(const char *name) {
  for (int i = 0; i < N_DEFS; i++)
    if (!strcmp(name, defs[i].name)) return i;
  return -1;
}

/* The program's arguments for benchmark d at the chosen sizes. */
static void set_args(gbench_t *b, const gopts_t *o) {
  const struct gdef *d = b->def;
  int n = 0;
  if (d->cons) snprintf(b->args[n++], sizeof b->args[0], "--conservative");
  if (d->kind == K_GCBENCH) {
    const char *md = o->max_depth ? o->max_depth : o->quick ? "14" : NULL;
    if (md) {
      snprintf(b->args[n++], sizeof b->args[0], "--max-depth");
      snprintf(b->args[n++], sizeof b->args[0], "%s", md);
    }
  } else if (d->kind == K_TREES) {
    if (d->threads > 1) {
      snprintf(b->args[n++], sizeof b->args[0], "--threads");
      snprintf(b->args[n++], sizeof b->args[0], "%d", d->threads);
    }
    snprintf(b->args[n++], sizeof b->args[0], "%s", o->depth ? o->depth : o->quick ? "16" : "21");
  } else {
    snprintf(b->args[n++], sizeof b->args[0], "--heap");
    snprintf(b->args[n++], sizeof b->args[0], "%s", o->heap ? o->heap : o->quick ? "64m" : "1g");
    snprintf(b->args[n++], sizeof b->args[0], "--seconds");
    snprintf(b->args[n++], sizeof b->args[0], "%s", o->seconds ? o->seconds : o->quick ? "2" : "20");
  }
  b->n_args = n;
}

static void args_text(const gbench_t *b, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; i < b->n_args && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? " " : "", b->args[i]);
}

/* Read a result line into run (the caller has checked the exit status).
 * want_bench/want_gc: what the line must name. */
static void parse_result(const char *line, const char *want_bench, const char *want_gc,
                         grun_t *run) {
  char name[64] = "", gc[32] = "", exact[8] = "";
  for (int k = 0; k < N_F; k++)
    if (!tool_kv_num(line, fkey[k], &run->f[k])) run->f[k] = NAN;
  tool_kv_get(line, "bench", name, sizeof name);
  tool_kv_get(line, "gc", gc, sizeof gc);
  if (!tool_kv_get(line, "check", run->check, sizeof run->check) || !strcmp(run->check, "FAIL")) {
    run->wrong = 1;
    snprintf(run->why, sizeof run->why, "WRONG: check=%s (the benchmark found damage in its data)",
             run->check[0] ? run->check : "missing");
  } else if (strcmp(name, want_bench) || strcmp(gc, want_gc)) {
    snprintf(run->why, sizeof run->why, "result line names bench=%s gc=%s, not %s under %s", name,
             gc, want_bench, want_gc);
  } else if (isnan(run->f[F_TIME]) || isnan(run->f[F_RSS]) || isnan(run->f[F_COLL])) {
    snprintf(run->why, sizeof run->why, "result line lacks time_s/peak_rss_kb/collections");
  } else {
    run->max_bound = tool_kv_get(line, "pause_max_exact", exact, sizeof exact) && !strcmp(exact, "0");
    run->ok = 1;
  }
}

static void fail_run(const gbench_t *b, int c, int r, const grun_t *run) {
  tool_strlist_add(&G.failures, &G.n_failures, "%s under %s, run %d: %s", b->def->name,
                   gcs[c].name, r + 1, run->why);
}

/* One run of benchmark b under collector c. */
static void run_one(gbench_t *b, int c, int r, const char *bin_dir, double timeout, int verbose,
                    FILE *raw) {
  grun_t *run = &b->runs[c][r];
  memset(run, 0, sizeof *run);
  run->ran = 1;
  char exe[PATH_MAX + 64];
  snprintf(exe, sizeof exe, "%s/%s-%s", bin_dir, b->def->prog, gcs[c].suffix);
  char *argv[8] = {exe};
  for (int i = 0; i < b->n_args; i++) argv[i + 1] = b->args[i];
  const char *set[] = {gcs[c].incr ? "BENCH_GC_INCREMENTAL=1" : "BENCH_GC_INCREMENTAL=0", NULL};
  const char *unset[] = {"LD_PRELOAD", NULL};
  tool_cmd_t cmd = {argv, NULL, set, unset, timeout};
  tool_proc_t res;
  int n_lines = 0;
  const char *line = NULL;
  if (tool_run(&cmd, &res) != 0) {
    snprintf(run->why, sizeof run->why, "cannot start: %s", strerror(errno));
  } else {
    line = tool_find_line(res.out, "bench=", &n_lines);
    char pwhy[160];
    int proc_bad = tool_proc_why(&res, timeout, pwhy, sizeof pwhy);
    if (line) parse_result(line, b->def->name, gcs[c].name, run);
    if (proc_bad) {                    /* keep the damage report, if any */
      if (run->wrong) snprintf(run->why, sizeof run->why, "WRONG: check=FAIL, %s", pwhy);
      else tool_copy(run->why, sizeof run->why, pwhy);
      run->ok = 0;
    } else if (n_lines != 1) {
      snprintf(run->why, sizeof run->why, "%d result lines (want exactly 1)", n_lines);
      run->ok = 0;
    }
    char prefix[80];                   /* "# NAME: boehm 8.2.2 markers=2 ..." on stderr */
    snprintf(prefix, sizeof prefix, "# %s: ", b->def->name);
    const char *cfg = tool_find_line(res.err, prefix, &n_lines);
    if (run->ok && cfg && !G.config[c][0]) {
      snprintf(G.config[c], sizeof G.config[c], "%.*s", (int)strcspn(cfg + strlen(prefix), "\n"),
               cfg + strlen(prefix));
      if (raw) fprintf(raw, "# strata-bench-gc config gc=%s desc=%s\n", gcs[c].name, G.config[c]);
    }
  }
  size_t len = line ? strcspn(line, "\n") : 0;
  if (verbose && line) fprintf(stderr, "  [%s] %.*s\n", gcs[c].name, (int)len, line);
  if (raw) {
    if (run->ok) fprintf(raw, "run=%d name=%s %.*s\n", r + 1, b->def->name, (int)len, line);
    else fprintf(raw, "run=%d name=%s gc=%s failed=1 why=%s\n", r + 1, b->def->name, gcs[c].name,
                 run->why);
    fflush(raw);
  }
  free(res.out);
}

static double ratio(double x, double ref) {
  return (isnan(x) || isnan(ref) || !(ref > 0)) ? NAN : x / ref;
}

/* Cells and check agreement of one finished benchmark. */
static void analyse(gbench_t *b) {
  const grun_t *first = NULL;
  int first_c = 0, first_r = 0;
  for (int c = 0; c < N_GCS; c++) {
    gcell_t *cl = &b->cell[c];
    memset(cl, 0, sizeof *cl);
    double v[N_F][BENCH_MAX_RUNS];
    int nv[N_F] = {0};
    for (int r = 0; r < G.n_runs; r++) {
      const grun_t *run = &b->runs[c][r];
      if (!run->ran) continue;
      if (!run->ok) { cl->n_fail++; cl->n_wrong += run->wrong; continue; }
      cl->n_ok++;
      cl->max_bound |= run->max_bound;
      for (int k = 0; k < N_F; k++)
        if (!isnan(run->f[k])) v[k][nv[k]++] = run->f[k];
      if (!cl->check[0]) tool_copy(cl->check, sizeof cl->check, run->check);
      if (!first) { first = run; first_c = c; first_r = r; }
      else if (strcmp(run->check, first->check) && !b->mismatch) {
        b->mismatch = 1;
        tool_strlist_add(&G.failures, &G.n_failures,
                         "%s: CHECK MISMATCH: %s run %d gave check=%s, %s run %d gave check=%s",
                         b->def->name, gcs[first_c].name, first_r + 1, first->check,
                         gcs[c].name, r + 1, run->check);
      }
    }
    cl->tmin = tool_min(v[F_TIME], nv[F_TIME]);
    cl->tmax = tool_max(v[F_TIME], nv[F_TIME]);
    cl->amin = tool_min(v[F_ALLOC], nv[F_ALLOC]);
    cl->amax = tool_max(v[F_ALLOC], nv[F_ALLOC]);
    cl->max_worst = tool_max(v[F_MAX], nv[F_MAX]);
    for (int k = 0; k < N_F; k++)
      cl->med[k] = (k == F_P50X || k == F_P99X) && nv[k] < cl->n_ok ? NAN : tool_median(v[k], nv[k]);
  }
}

/* strata / collector c on measure k; pause percentiles exact against exact,
 * else bucket bound against bucket bound.  None when the checks disagree:
 * such results are not compared. */
static double gc_ratio(const gbench_t *b, int c, int k) {
  const gcell_t *s = &b->cell[0], *o = &b->cell[c];
  if (b->mismatch) return NAN;
  if ((k == F_P50 || k == F_P99) && !isnan(s->med[k + 3]) && !isnan(o->med[k + 3])) k += 3;
  return ratio(s->med[k], o->med[k]);
}

/* The Boehm mode with the lowest median of measure k (-1: none ran). */
static int best_boehm(const gbench_t *b, int k) {
  int best = -1;
  for (int c = 1; c < N_GCS; c++)
    if (G.use[c] && b->cell[c].n_ok && (best < 0 || b->cell[c].med[k] < b->cell[best].med[k]))
      best = c;
  return best;
}

/* The bucket below the one whose upper bound is u (four per power of two). */
static double bucket_lower(double u) {
  double p = 1;
  while (p * 2 < u) p *= 2;
  return u - p / 4;
}

__attribute__((format(printf, 3, 4)))
static void target(int met, const char *name, const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  tool_strlist_add(&G.targets, &G.n_targets, "%s|%s|%s", name, buf,
                   met > 0 ? "met" : met == 0 ? "NOT met" : "not shown");
  G.n_checked += met >= 0;
  G.n_met += met > 0;
}

/* A pause target on strata's cell: value v, exact or a bucket bound; note
 * says which value of the runs it is. */
static void pause_target(const gbench_t *b, const char *what, double v, int bound, double lim,
                         const char *note) {
  char name[96];
  snprintf(name, sizeof name, "%s: %s < %.0f us", b->def->name, what, lim);
  if (isnan(v)) target(-1, name, "no result");
  else if (!bound) target(v < lim, name, "%.0f us%s", v, note);
  else if (v < lim) target(1, name, "<= %.0f us (bucket bound)%s", v, note);
  else if (bucket_lower(v) >= lim)
    target(0, name, "> %.0f us (bucket %.0f-%.0f us)%s", bucket_lower(v), bucket_lower(v), v, note);
  else target(-1, name, "bucket %.0f-%.0f us straddles the target%s", bucket_lower(v), v, note);
}

/* Issue 5's targets for strata, over the benchmarks that ran. */
static void targets(void) {
  if (!G.use[0]) return;
  for (int i = 0; i < G.n; i++) {
    const gbench_t *b = &G.b[i];
    const gcell_t *s = &b->cell[0];
    char name[96];
    int bt = best_boehm(b, F_TIME), br = best_boehm(b, F_RSS);
    if (b->mismatch) {
      snprintf(name, sizeof name, "%s: every target", b->def->name);
      target(-1, name, "check values disagree");
      continue;
    }
    if (b->def->kind != K_PAUSES && bt >= 0) {
      double r = ratio(s->med[F_TIME], b->cell[bt].med[F_TIME]);
      snprintf(name, sizeof name, "%s: time <= %.1fx Boehm", b->def->name, TARGET_TIME);
      if (isnan(r)) target(-1, name, "no result");
      else target(r <= TARGET_TIME, name, "%.3fx %s", r, gcs[bt].name);
    }
    if (br >= 0) {
      double r = ratio(s->med[F_RSS], b->cell[br].med[F_RSS]);
      snprintf(name, sizeof name, "%s: peak RSS <= Boehm", b->def->name);
      if (isnan(r)) target(-1, name, "no result");
      else target(r <= 1.0, name, "%.3fx %s", r, gcs[br].name);
    }
    if (b->def->kind == K_PAUSES) {
      char note[64] = "";             /* the longest stop is the worst run's */
      if (s->n_ok > 1) snprintf(note, sizeof note, ", worst of %d runs (median %.0f)", s->n_ok,
                                s->med[F_MAX]);
      pause_target(b, "max stop", s->max_worst, s->max_bound, TARGET_MAX_US, note);
      int ex = !isnan(s->med[F_P99X]);
      pause_target(b, "p99 stop", ex ? s->med[F_P99X] : s->med[F_P99], !ex, TARGET_P99_US,
                   s->n_ok > 1 ? ", median" : "");
    }
  }
}

/* ---------------------------------------------------------------- tables */

#define TAB_COLS 16
#define TAB_ROWS (N_DEFS * N_GCS + 2)
typedef struct {
  int nc, nr, n_left;                  /* the first n_left columns are text */
  const char *head[TAB_COLS];
  char cell[TAB_ROWS][TAB_COLS][64];
} tab_t;

/* Aligned columns; Markdown (pipes, first two columns left) or text. */
static void tab_print(FILE *f, const tab_t *t, int md) {
  int w[TAB_COLS];
  for (int j = 0; j < t->nc; j++) {
    w[j] = (int)strlen(t->head[j]);
    for (int i = 0; i < t->nr; i++)
      if ((int)strlen(t->cell[i][j]) > w[j]) w[j] = (int)strlen(t->cell[i][j]);
  }
  for (int i = -2; i < t->nr; i++) {
    if (md) fputc('|', f);
    for (int j = 0; j < t->nc; j++) {
      int left = j < t->n_left;
      if (i == -1) {                  /* the line under the header */
        fputs(md ? "-" : " ", f);
        for (int k = 0; k < w[j]; k++) fputc('-', f);
        fputs(md ? (left ? "-|" : ":|") : "", f);
      } else {
        fprintf(f, " %*s", left ? -w[j] : w[j], i == -2 ? t->head[j] : t->cell[i][j]);
        fputs(md ? " |" : "", f);
      }
    }
    fputc('\n', f);
  }
}

static void num(char *buf, double v, int prec, const char *pre) {
  if (isnan(v)) snprintf(buf, 64, "-");
  else snprintf(buf, 64, "%s%.*f", pre, prec, v);
}

/* The results table: every collector of benchmark `only` (-1: all). */
static void results_table(FILE *f, int only, int md) {
  static tab_t t;
  static const char *const head[] = {"benchmark", "collector", "good runs", "time s", "spread",
    "peak RSS MiB", "collections", "pauses", "paused s", "p50 us", "p99 us", "max us",
    "stall max us", "ops > 1 ms", "alloc MB/s", "check"};
  memset(&t, 0, sizeof t);
  t.nc = TAB_COLS;
  t.n_left = 2;
  memcpy(t.head, head, sizeof head);
  for (int i = 0; i < G.n; i++) {
    if (only >= 0 && i != only) continue;
    const gbench_t *b = &G.b[i];
    for (int c = 0; c < N_GCS; c++) {
      if (!G.use[c]) continue;
      const gcell_t *cl = &b->cell[c];
      char (*x)[64] = t.cell[t.nr++];
      const double *m = cl->med;
      snprintf(x[0], 64, "%s", b->def->name);
      snprintf(x[1], 64, "%s", gcs[c].name);
      snprintf(x[2], 64, "%d/%d", cl->n_ok, cl->n_ok + cl->n_fail);
      num(x[3], m[F_TIME], 3, "");
      int pz = b->def->kind == K_PAUSES;          /* fixed time: spread of the rate */
      double lo = pz ? cl->amin : cl->tmin, hi = pz ? cl->amax : cl->tmax;
      double mid = pz ? m[F_ALLOC] : m[F_TIME];
      if (cl->n_ok < 2 || !(mid > 0)) snprintf(x[4], 64, "-");
      else snprintf(x[4], 64, "%.1f%%", 100 * (hi - lo) / mid);
      num(x[5], m[F_RSS] / 1024, 1, "");
      num(x[6], m[F_COLL], 0, "");
      num(x[7], m[F_PAUSES], 0, "");
      num(x[8], m[F_PTOTAL] / 1000, 3, "");
      for (int k = 0; k < 2; k++) {               /* p50, p99: exact or a bound */
        int exact = !isnan(m[F_P50X + k]);
        num(x[9 + k], exact ? m[F_P50X + k] : m[F_P50 + k], 0, exact ? "" : "<=");
      }
      num(x[11], m[F_MAX], 0, cl->max_bound ? "<=" : "");
      num(x[12], m[F_STALL], 0, "");
      num(x[13], m[F_STALLS], 0, "");
      num(x[14], m[F_ALLOC], 1, "");
      snprintf(x[15], 64, "%s%s", cl->check[0] ? cl->check : "-",
               b->mismatch && cl->n_ok ? " MISMATCH" : "");
      size_t l = strlen(x[15]);
      if (cl->n_wrong) l += (size_t)snprintf(x[15] + l, 64 - l, " WRONG %d", cl->n_wrong);
      if (cl->n_fail > cl->n_wrong && l < 64)
        snprintf(x[15] + l, 64 - l, " FAILED %d", cl->n_fail - cl->n_wrong);
    }
  }
  tab_print(f, &t, md);
}

/* strata / each Boehm mode, for benchmark `only` (-1: all); 0 rows: nothing. */
static void ratio_table(FILE *f, int only, int md) {
  static tab_t t;
  static const char *const head[] = {"benchmark", "strata vs", "time", "peak RSS", "p50", "p99",
                                     "max", "stall max", "alloc MB/s"};
  static const int k_of[] = {F_TIME, F_RSS, F_P50, F_P99, F_MAX, F_STALL, F_ALLOC};
  memset(&t, 0, sizeof t);
  t.nc = 9;
  t.n_left = 2;
  memcpy(t.head, head, sizeof head);
  for (int i = 0; i < G.n; i++) {
    if (only >= 0 && i != only) continue;
    const gbench_t *b = &G.b[i];
    for (int c = 1; c < N_GCS; c++) {
      if (!G.use[0] || !G.use[c]) continue;
      char (*x)[64] = t.cell[t.nr++];
      snprintf(x[0], 64, "%s", b->def->name);
      snprintf(x[1], 64, "%s", gcs[c].name);
      for (int j = 0; j < 7; j++) {
        double r = gc_ratio(b, c, k_of[j]);
        if (isnan(r)) snprintf(x[2 + j], 64, "-");
        else if (r < 0.001) snprintf(x[2 + j], 64, "<0.001x");
        else snprintf(x[2 + j], 64, r < 0.095 ? "%.2gx" : "%.2fx", r);
      }
    }
  }
  if (t.nr) tab_print(f, &t, md);
}

static const char *legend =
  "time: wall time of the benchmark (pauses: of the fixed measured phase; read alloc MB/s, "
  "higher is better); spread: (max - min) / median of time (pauses: of alloc MB/s); pauses: "
  "strata every stop of any thread, Boehm every stop of the world; p50/p99: exact where the "
  "collector reports every pause (Boehm), \"<=N\" the upper bound of the histogram bucket "
  "(strata); stall max, ops > 1 ms: the longest mutator operation and how many took over 1 ms "
  "(pauses only). Ratios are strata / other of medians (below 1: strata better; alloc MB/s "
  "above 1); pause ratios compare exact with exact, else bucket bounds with bucket bounds.";

static void targets_table(FILE *f, int md) {
  static tab_t t;
  static const char *const head[] = {"target (strata)", "measured", "result"};
  memset(&t, 0, sizeof t);
  t.nc = 3;
  t.n_left = 3;
  memcpy(t.head, head, sizeof head);
  for (int i = 0; i < G.n_targets && t.nr < TAB_ROWS; i++) {
    char (*x)[64] = t.cell[t.nr++];
    char *s = G.targets[i], *p1 = strchr(s, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
    if (!p2) continue;
    snprintf(x[0], 64, "%.*s", (int)(p1 - s), s);
    snprintf(x[1], 64, "%.*s", (int)(p2 - p1 - 1), p1 + 1);
    snprintf(x[2], 64, "%s", p2 + 1);
  }
  tab_print(f, &t, md);
}

static void info_line(FILE *f) {
  fprintf(f, "%s; %ld CPUs, %s; %d run%s per benchmark and collector, interleaved%s; "
          "load %.2f at start", G.date, sysconf(_SC_NPROCESSORS_ONLN), G.uname, G.n_runs,
          G.n_runs == 1 ? "" : "s", G.quick ? "; --quick sizes" : "", G.load0[0]);
  if (G.elapsed > 0) fprintf(f, ", %.2f at end; %.0f s in all", G.load1[0], G.elapsed);
  if (G.source) fprintf(f, "; tables re-printed from %s", G.source);
  fprintf(f, ".\n");
}

static void list_out(FILE *f, const char *title, char **list, int n, int md) {
  if (!n) return;
  fprintf(f, md ? "\n## %s\n\n" : "\n%s:\n", title);
  for (int i = 0; i < n; i++) fprintf(f, md ? "* %s\n" : "  %s\n", list[i]);
}

static void summary(FILE *f, int md) {
  if (md) {
    fprintf(f, "# strata bench gc results\n\n");
    info_line(f);
    fprintf(f, "\n| collector | configuration |\n|---|---|\n");
    for (int c = 0; c < N_GCS; c++)
      if (G.use[c]) fprintf(f, "| %s | %s |\n", gcs[c].name, G.config[c][0] ? G.config[c] : "-");
    fprintf(f, "\n| benchmark | what | arguments |\n|---|---|---|\n");
    for (int i = 0; i < G.n; i++) {
      char args[160];
      args_text(&G.b[i], args, sizeof args);
      fprintf(f, "| %s | %s | %s%s%s |\n", G.b[i].def->name, G.b[i].def->what, *args ? "`" : "",
              *args ? args : "defaults", *args ? "`" : "");
    }
    fprintf(f, "\n## Results (medians)\n\n");
    results_table(f, -1, 1);
    fprintf(f, "\n%s\n", legend);
  }
  if (G.use[0] && (G.use[1] || G.use[2])) {
    fprintf(f, md ? "\n## Ratios strata / Boehm\n\n" : "\nratios strata / Boehm (medians):\n");
    ratio_table(f, -1, md);
  }
  if (G.n_targets) {
    fprintf(f, md ? "\n## Issue 5's targets (against the better Boehm mode)\n\n"
                  : "\nissue 5's targets (against the better Boehm mode):\n");
    targets_table(f, md);
    fprintf(f, "%s%d of %d targets met%s\n", md ? "\n" : " ", G.n_met, G.n_checked,
            G.n_checked < G.n_targets ? " (the others cannot be decided from these results)" : "");
  }
  list_out(f, "Notes", G.notices, G.n_notices, md);
  if (G.n_failures) {
    fprintf(f, md ? "\n## FAILURES\n\n**%d failure(s)**: failed runs are left out of the "
                    "medians; a benchmark whose check values disagree gets no ratios and no "
                    "targets.\n\n"
                  : "\nFAILED (%d): failed runs are left out of the medians; a benchmark whose "
                    "check values disagree gets no ratios and no targets:\n", G.n_failures);
    for (int i = 0; i < G.n_failures; i++) fprintf(f, md ? "* %s\n" : "  %s\n", G.failures[i]);
  }
}

/* ------------------------------------------------------------ JSON, SVG */

static int write_json(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  fprintf(f, "{\n  \"tool\": \"strata bench gc\", \"format\": 1, \"date\": ");
  tool_json_str(f, G.date);
  fprintf(f, ", \"quick\": %s, \"runs\": %d, \"load_start\": %.2f, \"load_end\": %.2f, "
          "\"elapsed\": %.1f,\n  \"collectors\": [", G.quick ? "true" : "false", G.n_runs,
          G.load0[0], G.load1[0], G.elapsed);
  for (int c = 0, n = 0; c < N_GCS; c++) {
    if (!G.use[c]) continue;
    fprintf(f, "%s{\"name\": \"%s\", \"config\": ", n++ ? ", " : "", gcs[c].name);
    tool_json_str(f, G.config[c]);
    fputc('}', f);
  }
  fprintf(f, "],\n  \"benchmarks\": [");
  for (int i = 0; i < G.n; i++) {
    const gbench_t *b = &G.b[i];
    char args[160];
    args_text(b, args, sizeof args);
    fprintf(f, "%s\n    {\"name\": \"%s\", \"args\": ", i ? "," : "", b->def->name);
    tool_json_str(f, args);
    fprintf(f, ", \"mismatch\": %s, \"cells\": {", b->mismatch ? "true" : "false");
    for (int c = 0, n = 0; c < N_GCS; c++) {
      if (!G.use[c]) continue;
      const gcell_t *cl = &b->cell[c];
      fprintf(f, "%s\n      \"%s\": {\"good\": %d, \"failed\": %d, \"wrong\": %d, \"check\": ",
              n++ ? "," : "", gcs[c].name, cl->n_ok, cl->n_fail, cl->n_wrong);
      tool_json_str(f, cl->check);
      fprintf(f, ", \"pause_max_bound\": %s", cl->max_bound ? "true" : "false");
      for (int k = 0; k < N_F; k++) {
        fprintf(f, ", \"%s\": ", fkey[k]);
        tool_json_num(f, cl->med[k]);
      }
      fprintf(f, ", \"time_min\": ");
      tool_json_num(f, cl->tmin);
      fprintf(f, ", \"time_max\": ");
      tool_json_num(f, cl->tmax);
      if (c && G.use[0]) {
        fprintf(f, ", \"strata_time_ratio\": ");
        tool_json_num(f, gc_ratio(b, c, F_TIME));
        fprintf(f, ", \"strata_rss_ratio\": ");
        tool_json_num(f, gc_ratio(b, c, F_RSS));
      }
      fputc('}', f);
    }
    fprintf(f, "}}");
  }
  fprintf(f, "\n  ],\n  \"targets\": [");
  for (int i = 0; i < G.n_targets; i++) {
    char *s = G.targets[i], *p1 = strchr(s, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
    if (!p2) continue;
    *p1 = *p2 = 0;
    fprintf(f, "%s\n    {\"target\": ", i ? "," : "");
    tool_json_str(f, s);
    fprintf(f, ", \"measured\": ");
    tool_json_str(f, p1 + 1);
    fprintf(f, ", \"result\": ");
    tool_json_str(f, p2 + 1);
    fputc('}', f);
    *p1 = *p2 = '|';
  }
  fprintf(f, "],\n  \"notices\": ");
  tool_json_strlist(f, G.notices, G.n_notices);
  fprintf(f, ",\n  \"failures\": ");
  tool_json_strlist(f, G.failures, G.n_failures);
  fprintf(f, "\n}\n");
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}

/* Time and peak RSS of every collector as a ratio to Boehm (pauses: time
 * per MB allocated, since the time is fixed). */
static int write_svg(const char *path) {
  int ref = G.use[1] ? 1 : G.use[2] ? 2 : -1;
  if (ref < 0) {
    fprintf(stderr, "strata bench gc: --svg needs a Boehm collector to compare with\n");
    return -1;
  }
  static double v[2][N_DEFS * N_GCS];
  static char tip[2][N_DEFS * N_GCS][TOOL_TIP_MAX];
  const char *groups[N_DEFS], *series[N_GCS];
  int colors[N_GCS], flag[N_DEFS], ns = 0, map[N_GCS];
  for (int c = 0; c < N_GCS; c++)
    if (G.use[c]) { map[ns] = c; series[ns] = gcs[c].name; colors[ns++] = gcs[c].color; }
  for (int i = 0; i < G.n; i++) {
    const gbench_t *b = &G.b[i];
    groups[i] = b->def->name;
    flag[i] = b->mismatch;
    for (int s = 0; s < ns; s++) {
      const gcell_t *cl = &b->cell[map[s]], *rc = &b->cell[ref];
      int k = i * ns + s;
      if (b->def->kind == K_PAUSES) v[0][k] = ratio(rc->med[F_ALLOC], cl->med[F_ALLOC]);
      else v[0][k] = ratio(cl->med[F_TIME], rc->med[F_TIME]);
      v[1][k] = ratio(cl->med[F_RSS], rc->med[F_RSS]);
      snprintf(tip[0][k], TOOL_TIP_MAX, "%s on %s: %.3fx %s (%.3f s, %.1f MB/s)", series[s],
               groups[i], v[0][k], gcs[ref].name, cl->med[F_TIME], cl->med[F_ALLOC]);
      snprintf(tip[1][k], TOOL_TIP_MAX, "%s on %s: %.3fx %s (%.1f MiB)", series[s], groups[i],
               v[1][k], gcs[ref].name, cl->med[F_RSS] / 1024);
    }
  }
  char line1[400], line2[200];
  snprintf(line1, sizeof line1, "%s; %s", G.date, G.uname);
  snprintf(line2, sizeof line2, "medians of %d interleaved run(s) per collector%s; dashed line: %s",
           G.n_runs, G.quick ? " (quick sizes)" : "", gcs[ref].name);
  tool_chart_t ch = {"strata bench gc: collectors side by side", line1, line2, gcs[ref].name,
                     G.n, ns, groups, series, colors, flag, "check!",
                     {{"Time (median; pauses: time per MB allocated)", v[0], tip[0]},
                      {"Peak RSS (median)", v[1], tip[1]}}};
  return tool_svg_chart(path, &ch);
}

/* ------------------------------------------------------------ the command */

/* Lines of an earlier --raw file into G (--report). */
static int read_raw(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) { perror(path); return 2; }
  char line[4096], name[64], gc[32];
  G.source = path;
  while (fgets(line, sizeof line, f)) {
    double r, v;
    if (!strncmp(line, "# strata-bench-gc ", 18)) {   /* the header and end lines */
      if (tool_kv_num(line, "start", &v)) {
        time_t t = (time_t)v;
        strftime(G.date, sizeof G.date, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
      }
      if (tool_kv_num(line, "quick", &v)) G.quick = v > 0;
      if (tool_kv_num(line, "load_start", &v)) G.load0[0] = v;
      if (tool_kv_num(line, "load_end", &v)) G.load1[0] = v;
      if (tool_kv_num(line, "elapsed", &v)) G.elapsed = v;
      const char *desc = strstr(line, " desc=");
      int c = tool_kv_get(line, "gc", gc, sizeof gc) ? gc_index(gc) : -1;
      if (desc && c >= 0)
        snprintf(G.config[c], sizeof G.config[c], "%.*s", (int)strcspn(desc + 6, "\n"), desc + 6);
      continue;
    }
    if (!tool_kv_num(line, "run", &r) || !tool_kv_get(line, "name", name, sizeof name) ||
        !tool_kv_get(line, "gc", gc, sizeof gc)) continue;
    int d = def_index(name), c = gc_index(gc), ri = (int)r - 1;
    if (d < 0 || c < 0 || ri < 0 || ri >= BENCH_MAX_RUNS || !G.use[c]) continue;
    int i = 0;
    while (i < G.n && G.b[i].def != &defs[d]) i++;
    if (i == G.n) continue;                       /* not selected */
    grun_t *run = &G.b[i].runs[c][ri];
    memset(run, 0, sizeof *run);
    run->ran = 1;
    const char *why = strstr(line, " why=");
    if (strstr(line, " failed=") || strstr(line, " exit=")) {
      snprintf(run->why, sizeof run->why, "%.*s", why ? (int)strcspn(why + 5, "\n") : 6,
               why ? why + 5 : "failed");
      run->wrong = strstr(line, "WRONG") || strstr(line, "check=FAIL");
    } else {
      parse_result(strstr(line, "bench="), name, gc, run);
    }
    if (!run->ok) fail_run(&G.b[i], c, ri, run);
    if (ri >= G.n_runs) G.n_runs = ri + 1;
  }
  fclose(f);
  for (int c = 0; c < N_GCS; c++) {              /* collectors with no line are not shown */
    int any = 0;
    for (int i = 0; i < G.n; i++)
      for (int r = 0; r < G.n_runs; r++) any |= G.b[i].runs[c][r].ran;
    G.use[c] = any;
  }
  return 0;
}

static int parse_opts(int argc, char **argv, gopts_t *o) {
  static const char *const with_val[] = {"--only", "--gc", "--runs", "--json", "--md", "--svg",
    "--raw", "--report", "--heap", "--seconds", "--depth", "--max-depth"};
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val;
    int k = tool_opt_value(argc, argv, &i, with_val, 12, &val);
    if (k >= 0 && !val) { fprintf(stderr, "strata bench gc: %s needs a value\n", a); return 2; }
    if (!strcmp(a, "--quick") || !strcmp(a, "-q")) o->quick = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
    else if (k < 0) {
      fprintf(stderr, "strata bench gc: unknown option '%s' (see strata bench gc --help)\n", a);
      return 2;
    }
    const char **slot[] = {&o->only, &o->gc, NULL, &o->json, &o->md, &o->svg, &o->raw,
                           &o->report, &o->heap, &o->seconds, &o->depth, &o->max_depth};
    if (k >= 0 && slot[k]) *slot[k] = val;
    int n, bad = 0;
    char *end;
    if (k == 2) bad = tool_parse_int(val, 1, BENCH_MAX_RUNS, &o->runs);
    else if (k == 8)
      bad = !(strtod(val, &end) > 0) || (*end && (!strchr("kKmMgG", *end) || end[1]));
    else if (k == 9) bad = !(strtod(val, &end) > 0) || *end;
    else if (k == 10) bad = tool_parse_int(val, 4, 30, &n);
    else if (k == 11) bad = tool_parse_int(val, 4, 24, &n);
    if (bad) {
      fprintf(stderr, "strata bench gc: bad value '%s' for %s (see --help)\n", val, with_val[k]);
      return 2;
    }
  }
  if ((o->only && !check_list(o->only, "benchmark", def_index)) ||
      (o->gc && !check_list(o->gc, "collector", gc_index)))
    return 2;
  return 0;
}

int cmd_bench_gc(int argc, char **argv) {
  gopts_t o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;
  G.quick = o.quick;
  G.n_runs = o.runs ? o.runs : GC_DEFAULT_RUNS;
  for (int i = 0; i < N_DEFS; i++) {
    if (o.only ? !tool_in_list(o.only, defs[i].name) : !defs[i].in_default) continue;
    G.b[G.n].def = &defs[i];
    set_args(&G.b[G.n++], &o);
  }
  for (int c = 0; c < N_GCS; c++) G.use[c] = !o.gc || tool_in_list(o.gc, gcs[c].name);

  char *self = tool_self_dir(), bin_dir[PATH_MAX];
  const char *env_bin = getenv("BENCH_BIN_DIR");
  if (env_bin && *env_bin) snprintf(bin_dir, sizeof bin_dir, "%s/gc", env_bin);
  else snprintf(bin_dir, sizeof bin_dir, "%s/bench/gc", self);
  free(self);
  time_t now = time(NULL);
  strftime(G.date, sizeof G.date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
  struct utsname u;
  if (uname(&u) == 0) snprintf(G.uname, sizeof G.uname, "%s %s %s", u.sysname, u.release, u.machine);
  if (getloadavg(G.load0, 3) != 3) G.load0[0] = NAN;

  if (o.report) {
    G.n_runs = 0;
    G.load0[0] = G.load1[0] = NAN;
    if ((rc = read_raw(o.report))) return rc;
  } else {
    for (int c = 0; c < N_GCS; c++) {             /* every binary there? */
      for (int i = 0; i < G.n && G.use[c]; i++) {
        char exe[PATH_MAX + 64];
        snprintf(exe, sizeof exe, "%s/%s-%s", bin_dir, G.b[i].def->prog, gcs[c].suffix);
        if (access(exe, X_OK) == 0) continue;
        G.use[c] = 0;
        if (c == 0) notice("%s not found (build it with make): strata skipped", exe);
        else notice("%s not found (the Boehm GC is not installed: package libgc-dev, then "
                    "make): %s skipped", exe, gcs[c].name);
      }
    }
    if (!G.use[0] && !G.use[1] && !G.use[2]) {
      fprintf(stderr, "strata bench gc: no collector to run\n");
      return 2;
    }
    FILE *raw = NULL;
    if (o.raw && !(raw = fopen(o.raw, "w"))) { perror(o.raw); return 2; }
    if (raw)      /* what --report needs besides the result lines */
      fprintf(raw, "# strata-bench-gc start=%lld runs=%d quick=%d load_start=%.2f\n",
              (long long)now, G.n_runs, G.quick, G.load0[0]);
    double timeout = GC_TIMEOUT_S;
    const char *env_to = getenv("STRATA_BENCH_TIMEOUT");
    if (env_to && atof(env_to) > 0) timeout = atof(env_to);
    int n_gcs = G.use[0] + G.use[1] + G.use[2], total = G.n * G.n_runs * n_gcs, done = 0;
    int tty = tool_isatty_stderr() && !o.verbose;
    printf("strata bench gc: ");
    info_line(stdout);
    G.started = tool_now();
    for (int i = 0; i < G.n; i++) {
      gbench_t *b = &G.b[i];
      for (int r = 0; r < G.n_runs; r++)
        for (int k = 0; k < N_GCS; k++) {
          int c = r % 2 == 0 ? k : N_GCS - 1 - k;    /* A B C, C B A, ... */
          if (!G.use[c]) continue;
          fprintf(stderr, "%s[%d/%d] %s under %s, run %d/%d (%.0f s so far)%s",
                  tty ? "\r\033[K" : "", ++done, total, b->def->name, gcs[c].name, r + 1,
                  G.n_runs, tool_now() - G.started, tty ? "" : "\n");
          fflush(stderr);
          run_one(b, c, r, bin_dir, timeout, o.verbose, raw);
          if (!b->runs[c][r].ok) {
            fprintf(stderr, "%sFAIL: %s under %s, run %d: %s\n", tty ? "\r\033[K" : "",
                    b->def->name, gcs[c].name, r + 1, b->runs[c][r].why);
            fail_run(b, c, r, &b->runs[c][r]);
          }
        }
      if (tty) fprintf(stderr, "\r\033[K");
      analyse(b);
      char args[160];
      args_text(b, args, sizeof args);
      printf("\n%s: %s (%s)\n", b->def->name, b->def->what, *args ? args : "default sizes");
      results_table(stdout, i, 0);
      ratio_table(stdout, i, 0);
      fflush(stdout);
    }
    G.elapsed = tool_now() - G.started;
    if (getloadavg(G.load1, 3) != 3) G.load1[0] = NAN;
    if (raw) {
      fprintf(raw, "# strata-bench-gc end elapsed=%.0f load_end=%.2f\n", G.elapsed, G.load1[0]);
      fclose(raw);
    }
  }
  for (int i = 0; i < G.n && o.report; i++) analyse(&G.b[i]);
  targets();
  if (o.report) {
    printf("strata bench gc: ");
    info_line(stdout);
    printf("\n");
    results_table(stdout, -1, 0);
  }
  summary(stdout, 0);
  if (o.report || G.elapsed > 0) {
    printf("\n");
    int nr = G.n * G.n_runs * (G.use[0] + G.use[1] + G.use[2]);
    if (G.elapsed > 0) printf("%d run%s in %.0f s; ", nr, nr == 1 ? "" : "s", G.elapsed);
    printf("load at end %.2f", G.load1[0]);
    if (!o.report) printf(" %.2f %.2f", G.load1[1], G.load1[2]);
    printf("\n");
  }
  int out_rc = 0;
  if (o.md) {
    FILE *f = fopen(o.md, "w");
    if (!f) { perror(o.md); out_rc = 2; }
    else { summary(f, 1); if (fclose(f)) out_rc = 2; }
  }
  if (o.json && write_json(o.json)) out_rc = 2;
  if (o.svg && write_svg(o.svg)) out_rc = 2;
  return G.n_failures ? 1 : out_rc;
}
