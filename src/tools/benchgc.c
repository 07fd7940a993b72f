/* src/tools/benchgc.c -- `strata bench gc`: the collector benchmarks of
 * bench/gc (GCBench, binary-trees, the large-heap pause benchmark) under
 * strata's GC and the Boehm GC side by side, and the tables of their
 * results against issue 5's targets.  bench/gc/run.sh is a thin wrapper.
 * This file runs them: the options, the benchmarks and collectors, the
 * runs and their result lines, the --raw file and reading it back
 * (--report), the command itself.  The statistics, the targets and every
 * output (tables, Markdown, JSON, the chart) are in benchgc_report.c; what
 * the two share is in benchgc.h.
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
 * docs/gc-bench.md has the method; the shared helpers (child processes,
 * result lines) live in proc.c.
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

#include "benchgc.h"

#define GC_TIMEOUT_S 900.0
#define GC_DEFAULT_RUNS 3

/* The benchmarks, in the order they run and are reported (struct gdef:
 * benchgc.h). */
static const struct gdef defs[] = {
  {"gcbench", "gcbench", K_GCBENCH, 0, 1, 1,
   "GCBench: long-lived tree and array, short-lived trees of depths 4..max built both ways"},
  {"gcbench-cons", "gcbench", K_GCBENCH, 1, 1, 1, "GCBench, strata allocating conservatively"},
  {"binarytrees", "binarytrees", K_TREES, 0, 1, 1, "binary-trees (Benchmarks Game)"},
  {"binarytrees-mt", "binarytrees", K_TREES, 0, 2, 1, "binary-trees, 2 threads"},
  {"pauses", "pauses", K_PAUSES, 0, 2, 1,
   "large live heap of 48-byte nodes under steady replacement from 2 threads"},
  {"pauses-cons", "pauses", K_PAUSES, 1, 2, 0, "pauses, strata allocating conservatively"},
};
_Static_assert(sizeof defs / sizeof defs[0] == N_DEFS, "N_DEFS (benchgc.h) is the size of defs[]");

const gcoll_t gcb_gc[N_GCS] = {{"strata", "strata", 0, 1}, {"boehm", "boehm", 0, 2},
                               {"boehm-incr", "boehm", 1, 4}};

const char *const gcb_fkey[N_F] = {
  "time_s", "peak_rss_kb", "collections", "pauses", "pause_total_ms", "pause_p50_us",
  "pause_p99_us", "pause_max_us", "pause_p50_exact_us", "pause_p99_exact_us", "stall_max_us",
  "stalls_1ms", "alloc_mb_s"};

typedef struct {
  const char *only, *gc, *json, *md, *svg, *raw, *report;
  const char *heap, *seconds, *depth, *max_depth;
  int quick, runs, verbose;
} gopts_t;

gstate_t gcb;

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

#define notice(...) tool_notice("strata bench gc", &gcb.notices, &gcb.n_notices, __VA_ARGS__)

static int gc_index(const char *name) {
  for (int c = 0; c < N_GCS; c++)
    if (!strcmp(name, gcb_gc[c].name)) return c;
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

void gcb_args_text(const gbench_t *b, char *buf, size_t n) {
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
    if (!tool_kv_num(line, gcb_fkey[k], &run->f[k])) run->f[k] = NAN;
  tool_kv_get(line, "bench", name, sizeof name);
  tool_kv_get(line, "gc", gc, sizeof gc);
  if (!tool_kv_get(line, "check", run->check, sizeof run->check) || !strcmp(run->check, "FAIL")) {
    run->wrong = 1;
    snprintf(run->why, sizeof run->why, "WRONG: check=%s (the benchmark found damage in its data)",
             run->check[0] ? run->check : "missing");
  } else if (strcmp(name, want_bench) != 0 || strcmp(gc, want_gc) != 0) {
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
  tool_strlist_add(&gcb.failures, &gcb.n_failures, "%s under %s, run %d: %s", b->def->name,
                   gcb_gc[c].name, r + 1, run->why);
}

/* One run of benchmark b under collector c. */
static void run_one(gbench_t *b, int c, int r, const char *bin_dir, double timeout, int verbose,
                    FILE *raw) {
  grun_t *run = &b->runs[c][r];
  memset(run, 0, sizeof *run);
  run->ran = 1;
  char exe[PATH_MAX + 64];
  snprintf(exe, sizeof exe, "%s/%s-%s", bin_dir, b->def->prog, gcb_gc[c].suffix);
  char *argv[8] = {exe};
  for (int i = 0; i < b->n_args; i++) argv[i + 1] = b->args[i];
  const char *set[] = {gcb_gc[c].incr ? "BENCH_GC_INCREMENTAL=1" : "BENCH_GC_INCREMENTAL=0", NULL};
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
    if (line) parse_result(line, b->def->name, gcb_gc[c].name, run);
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
    if (run->ok && cfg && !gcb.config[c][0]) {
      snprintf(gcb.config[c], sizeof gcb.config[c], "%.*s",
               (int)strcspn(cfg + strlen(prefix), "\n"), cfg + strlen(prefix));
      if (raw)
        fprintf(raw, "# strata-bench-gc config gc=%s desc=%s\n", gcb_gc[c].name, gcb.config[c]);
    }
  }
  size_t len = line ? strcspn(line, "\n") : 0;
  if (verbose && line) fprintf(stderr, "  [%s] %.*s\n", gcb_gc[c].name, (int)len, line);
  if (raw) {
    if (run->ok) fprintf(raw, "run=%d name=%s %.*s\n", r + 1, b->def->name, (int)len, line);
    else fprintf(raw, "run=%d name=%s gc=%s failed=1 why=%s\n", r + 1, b->def->name, gcb_gc[c].name,
                 run->why);
    fflush(raw);
  }
  free(res.out);
}

/* ------------------------------------------------------------ the command */

/* Lines of an earlier --raw file into G (--report). */
/* Runs of benchmark i under collector c that ran (made, or read back). */
static int runs_made(int i, int c) {
  int n = 0;
  for (int r = 0; r < gcb.n_runs; r++) n += gcb.b[i].runs[c][r].ran != 0;
  return n;
}

static int read_raw(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) { perror(path); return 2; }
  char line[4096], name[64], gc[32];
  gcb.source = path;
  while (fgets(line, sizeof line, f)) {
    double r, v;
    if (!strncmp(line, "# strata-bench-gc ", 18)) {   /* the header and end lines */
      if (tool_kv_num(line, "start", &v)) {
        time_t t = (time_t)v;
        strftime(gcb.date, sizeof gcb.date, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
      }
      if (tool_kv_num(line, "quick", &v)) gcb.quick = v > 0;
      if (tool_kv_num(line, "load_start", &v)) gcb.load0[0] = v;
      if (tool_kv_num(line, "load_end", &v)) gcb.load1[0] = v;
      if (tool_kv_num(line, "elapsed", &v)) gcb.elapsed = v;
      const char *desc = strstr(line, " desc=");
      int c = tool_kv_get(line, "gc", gc, sizeof gc) ? gc_index(gc) : -1;
      if (desc && c >= 0)
        snprintf(gcb.config[c], sizeof gcb.config[c], "%.*s", (int)strcspn(desc + 6, "\n"),
                 desc + 6);
      continue;
    }
    if (!tool_kv_num(line, "run", &r) || !tool_kv_get(line, "name", name, sizeof name) ||
        !tool_kv_get(line, "gc", gc, sizeof gc)) continue;
    int d = def_index(name), c = gc_index(gc), ri = (int)r - 1;
    if (d < 0 || c < 0 || ri < 0 || ri >= BENCH_MAX_RUNS || !gcb.use[c]) continue;
    int i = 0;
    while (i < gcb.n && gcb.b[i].def != &defs[d]) i++;
    if (i == gcb.n) continue;                       /* not selected */
    grun_t *run = &gcb.b[i].runs[c][ri];
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
    if (!run->ok) fail_run(&gcb.b[i], c, ri, run);
    if (ri >= gcb.n_runs) gcb.n_runs = ri + 1;
  }
  fclose(f);
  for (int c = 0; c < N_GCS; c++) {              /* collectors with no line are not shown */
    int any = 0;
    for (int i = 0; i < gcb.n; i++) any |= runs_made(i, c) > 0;
    gcb.use[c] = any;
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
  gcb.quick = o.quick;
  gcb.n_runs = o.runs ? o.runs : GC_DEFAULT_RUNS;
  for (int i = 0; i < N_DEFS; i++) {
    if (o.only ? !tool_in_list(o.only, defs[i].name) : !defs[i].in_default && !o.report) continue;
    gcb.b[gcb.n].def = &defs[i];
    set_args(&gcb.b[gcb.n++], &o);
  }
  for (int c = 0; c < N_GCS; c++) gcb.use[c] = !o.gc || tool_in_list(o.gc, gcb_gc[c].name);

  char *self = tool_self_dir(), bin_dir[PATH_MAX];
  const char *env_bin = getenv("BENCH_BIN_DIR");
  if (env_bin && *env_bin) snprintf(bin_dir, sizeof bin_dir, "%s/gc", env_bin);
  else snprintf(bin_dir, sizeof bin_dir, "%s/bench/gc", self);
  free(self);
  time_t now = time(NULL);
  strftime(gcb.date, sizeof gcb.date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(gcb.uname, sizeof gcb.uname, "%s %s %s", u.sysname, u.release, u.machine);
  if (getloadavg(gcb.load0, 3) != 3) gcb.load0[0] = NAN;

  if (o.report) {
    gcb.n_runs = 0;
    gcb.load0[0] = gcb.load1[0] = NAN;
    if ((rc = read_raw(o.report))) return rc;
    if (!o.only) {              /* show the benchmarks the file has, not the default set */
      int m = 0;
      for (int i = 0; i < gcb.n; i++) {
        int any = 0;
        for (int c = 0; c < N_GCS; c++) any |= runs_made(i, c) > 0;
        if (any && m != i) gcb.b[m] = gcb.b[i];
        m += any;
      }
      gcb.n = m;
    }
  } else {
    for (int c = 0; c < N_GCS; c++) {             /* every binary there? */
      for (int i = 0; i < gcb.n && gcb.use[c]; i++) {
        char exe[PATH_MAX + 64];
        snprintf(exe, sizeof exe, "%s/%s-%s", bin_dir, gcb.b[i].def->prog, gcb_gc[c].suffix);
        if (access(exe, X_OK) == 0) continue;
        gcb.use[c] = 0;
        if (c == 0) notice("%s not found (build it with make): strata skipped", exe);
        else notice("%s not found (the Boehm GC is not installed: package libgc-dev, then "
                    "make): %s skipped", exe, gcb_gc[c].name);
      }
    }
    if (!gcb.use[0] && !gcb.use[1] && !gcb.use[2]) {
      fprintf(stderr, "strata bench gc: no collector to run\n");
      return 2;
    }
    FILE *raw = NULL;
    if (o.raw && !(raw = fopen(o.raw, "w"))) { perror(o.raw); return 2; }
    if (raw)      /* what --report needs besides the result lines */
      fprintf(raw, "# strata-bench-gc start=%lld runs=%d quick=%d load_start=%.2f\n",
              (long long)now, gcb.n_runs, gcb.quick, gcb.load0[0]);
    double timeout = GC_TIMEOUT_S;
    const char *env_to = getenv("STRATA_BENCH_TIMEOUT");
    if (env_to && atof(env_to) > 0) timeout = atof(env_to);
    int n_gcs = gcb.use[0] + gcb.use[1] + gcb.use[2], total = gcb.n * gcb.n_runs * n_gcs, done = 0;
    int tty = tool_isatty_stderr() && !o.verbose;
    printf("strata bench gc: ");
    gcb_info_line(stdout);
    gcb.started = tool_now();
    for (int i = 0; i < gcb.n; i++) {
      gbench_t *b = &gcb.b[i];
      for (int r = 0; r < gcb.n_runs; r++)
        for (int k = 0; k < N_GCS; k++) {
          int c = r % 2 == 0 ? k : N_GCS - 1 - k;    /* A B C, C B A, ... */
          if (!gcb.use[c]) continue;
          fprintf(stderr, "%s[%d/%d] %s under %s, run %d/%d (%.0f s so far)%s",
                  tty ? "\r\033[K" : "", ++done, total, b->def->name, gcb_gc[c].name, r + 1,
                  gcb.n_runs, tool_now() - gcb.started, tty ? "" : "\n");
          fflush(stderr);
          run_one(b, c, r, bin_dir, timeout, o.verbose, raw);
          if (!b->runs[c][r].ok) {
            fprintf(stderr, "%sFAIL: %s under %s, run %d: %s\n", tty ? "\r\033[K" : "",
                    b->def->name, gcb_gc[c].name, r + 1, b->runs[c][r].why);
            fail_run(b, c, r, &b->runs[c][r]);
          }
        }
      if (tty) fprintf(stderr, "\r\033[K");
      gcb_analyse(b);
      char args[160];
      gcb_args_text(b, args, sizeof args);
      printf("\n%s: %s (%s)\n", b->def->name, b->def->what, *args ? args : "default sizes");
      gcb_results_table(stdout, i, 0);
      gcb_ratio_table(stdout, i, 0);
      fflush(stdout);
    }
    gcb.elapsed = tool_now() - gcb.started;
    if (getloadavg(gcb.load1, 3) != 3) gcb.load1[0] = NAN;
    if (raw) {
      fprintf(raw, "# strata-bench-gc end elapsed=%.0f load_end=%.2f\n", gcb.elapsed, gcb.load1[0]);
      fclose(raw);
    }
  }
  for (int i = 0; i < gcb.n && o.report; i++) gcb_analyse(&gcb.b[i]);
  gcb_targets();
  if (o.report) {
    printf("strata bench gc: ");
    gcb_info_line(stdout);
    printf("\n");
    gcb_results_table(stdout, -1, 0);
  }
  gcb_summary(stdout, 0);
  if (o.report || gcb.elapsed > 0) {
    printf("\n");
    int nr = 0;                 /* runs made (or read back), not the grid's size */
    for (int i = 0; i < gcb.n; i++)
      for (int c = 0; c < N_GCS; c++) nr += gcb.use[c] ? runs_made(i, c) : 0;
    if (gcb.elapsed > 0) printf("%d run%s in %.0f s; ", nr, nr == 1 ? "" : "s", gcb.elapsed);
    printf("load at end %.2f", gcb.load1[0]);
    if (!o.report) printf(" %.2f %.2f", gcb.load1[1], gcb.load1[2]);
    printf("\n");
  }
  int out_rc = 0;
  if (o.md) {
    FILE *f = fopen(o.md, "w");
    if (!f) { perror(o.md); out_rc = 2; }
    else { gcb_summary(f, 1); if (fclose(f)) out_rc = 2; }
  }
  if (o.json && gcb_write_json(o.json)) out_rc = 2;
  if (o.svg && gcb_write_svg(o.svg)) out_rc = 2;
  return gcb.n_failures ? 1 : out_rc;
}
