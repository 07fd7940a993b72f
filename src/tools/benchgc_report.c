/* src/tools/benchgc_report.c -- the results of `strata bench gc`: from the
 * runs benchgc.c has made (or read back from a --raw file), the cells
 * (medians, spreads, check agreement), the ratios strata / Boehm, issue
 * 5's targets, and their output: the text tables on stdout, the Markdown
 * summary, JSON and the SVG chart.  Nothing here runs a program.
 *
 * Pause percentiles: strata reports a histogram (the upper bound of the
 * bucket is shown as "<=N"); Boehm's shim times every stop, and its line
 * carries exact percentiles (pause_p50_exact_us, ...), which the tables
 * show when every good run has them.  Ratios compare like with like: exact
 * with exact, else bucket bound with bucket bound.  docs/gc-bench.md has
 * the method; the statistics are computed here, the shared helpers
 * (medians, JSON, the chart) live in proc.c, report.c and svg.c.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "benchgc.h"

#define TARGET_TIME 0.70         /* issue 5: time <= 0.7x Boehm */
#define TARGET_MAX_US 1000.0     /* longest stop under 1 ms */
#define TARGET_P99_US 250.0      /* p99 under 250 us */


static double ratio(double x, double ref) {
  return (isnan(x) || isnan(ref) || !(ref > 0)) ? NAN : x / ref;
}

/* Cells and check agreement of one finished benchmark. */
void gcb_analyse(gbench_t *b) {
  const grun_t *first = NULL;
  int first_c = 0, first_r = 0;
  for (int c = 0; c < N_GCS; c++) {
    gcell_t *cl = &b->cell[c];
    memset(cl, 0, sizeof *cl);
    double v[N_F][BENCH_MAX_RUNS];
    int nv[N_F] = {0};
    for (int r = 0; r < gcb.n_runs; r++) {
      const grun_t *run = &b->runs[c][r];
      if (!run->ran) continue;
      if (!run->ok) { cl->n_fail++; cl->n_wrong += run->wrong; continue; }
      cl->n_ok++;
      cl->max_bound |= run->max_bound;
      for (int k = 0; k < N_F; k++)
        if (!isnan(run->f[k])) v[k][nv[k]++] = run->f[k];
      if (!cl->check[0]) tool_copy(cl->check, sizeof cl->check, run->check);
      if (!first) { first = run; first_c = c; first_r = r; }
      else if (strcmp(run->check, first->check) != 0 && !b->mismatch) {
        b->mismatch = 1;
        tool_strlist_add(&gcb.failures, &gcb.n_failures,
                         "%s: CHECK MISMATCH: %s run %d gave check=%s, %s run %d gave check=%s",
                         b->def->name, gcb_gc[first_c].name, first_r + 1, first->check,
                         gcb_gc[c].name, r + 1, run->check);
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
    if (gcb.use[c] && b->cell[c].n_ok && (best < 0 || b->cell[c].med[k] < b->cell[best].med[k]))
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
  tool_strlist_add(&gcb.targets, &gcb.n_targets, "%s|%s|%s", name, buf,
                   met > 0 ? "met" : met == 0 ? "NOT met" : "not shown");
  gcb.n_checked += met >= 0;
  gcb.n_met += met > 0;
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
void gcb_targets(void) {
  if (!gcb.use[0]) return;
  for (int i = 0; i < gcb.n; i++) {
    const gbench_t *b = &gcb.b[i];
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
      else target(r <= TARGET_TIME, name, "%.3fx %s", r, gcb_gc[bt].name);
    }
    if (br >= 0) {
      double r = ratio(s->med[F_RSS], b->cell[br].med[F_RSS]);
      snprintf(name, sizeof name, "%s: peak RSS <= Boehm", b->def->name);
      if (isnan(r)) target(-1, name, "no result");
      else target(r <= 1.0, name, "%.3fx %s", r, gcb_gc[br].name);
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

/* Empty t, with nc columns headed head[0..nc-1], the first n_left text. */
static void tab_init(tab_t *t, int nc, int n_left, const char *const *head) {
  memset(t, 0, sizeof *t);
  t->nc = nc;
  t->n_left = n_left;
  memcpy(t->head, head, (size_t)nc * sizeof *head);
}

static void num(char *buf, double v, int prec, const char *pre) {
  if (isnan(v)) snprintf(buf, 64, "-");
  else snprintf(buf, 64, "%s%.*f", pre, prec, v);
}

/* The results table: every collector of benchmark `only` (-1: all). */
void gcb_results_table(FILE *f, int only, int md) {
  static tab_t t;
  static const char *const head[] = {"benchmark", "collector", "good runs", "time s", "spread",
    "peak RSS MiB", "collections", "pauses", "paused s", "p50 us", "p99 us", "max us",
    "stall max us", "ops > 1 ms", "alloc MB/s", "check"};
  tab_init(&t, TAB_COLS, 2, head);
  for (int i = 0; i < gcb.n; i++) {
    if (only >= 0 && i != only) continue;
    const gbench_t *b = &gcb.b[i];
    for (int c = 0; c < N_GCS; c++) {
      if (!gcb.use[c]) continue;
      const gcell_t *cl = &b->cell[c];
      char (*x)[64] = t.cell[t.nr++];
      const double *m = cl->med;
      snprintf(x[0], 64, "%s", b->def->name);
      snprintf(x[1], 64, "%s", gcb_gc[c].name);
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
void gcb_ratio_table(FILE *f, int only, int md) {
  static tab_t t;
  static const char *const head[] = {"benchmark", "strata vs", "time", "peak RSS", "p50", "p99",
                                     "max", "stall max", "alloc MB/s"};
  static const int k_of[] = {F_TIME, F_RSS, F_P50, F_P99, F_MAX, F_STALL, F_ALLOC};
  tab_init(&t, 9, 2, head);
  for (int i = 0; i < gcb.n; i++) {
    if (only >= 0 && i != only) continue;
    const gbench_t *b = &gcb.b[i];
    for (int c = 1; c < N_GCS; c++) {
      if (!gcb.use[0] || !gcb.use[c]) continue;
      char (*x)[64] = t.cell[t.nr++];
      snprintf(x[0], 64, "%s", b->def->name);
      snprintf(x[1], 64, "%s", gcb_gc[c].name);
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
  tab_init(&t, 3, 3, head);
  for (int i = 0; i < gcb.n_targets && t.nr < TAB_ROWS; i++) {
    char (*x)[64] = t.cell[t.nr++];
    char *s = gcb.targets[i], *p1 = strchr(s, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
    if (!p2) continue;
    snprintf(x[0], 64, "%.*s", (int)(p1 - s), s);
    snprintf(x[1], 64, "%.*s", (int)(p2 - p1 - 1), p1 + 1);
    snprintf(x[2], 64, "%s", p2 + 1);
  }
  tab_print(f, &t, md);
}

void gcb_info_line(FILE *f) {
  fprintf(f, "%s; %ld CPUs, %s; %d run%s per benchmark and collector, interleaved%s; "
          "load %.2f at start", gcb.date, sysconf(_SC_NPROCESSORS_ONLN), gcb.uname, gcb.n_runs,
          gcb.n_runs == 1 ? "" : "s", gcb.quick ? "; --quick sizes" : "", gcb.load0[0]);
  if (gcb.elapsed > 0) fprintf(f, ", %.2f at end; %.0f s in all", gcb.load1[0], gcb.elapsed);
  if (gcb.source) fprintf(f, "; tables re-printed from %s", gcb.source);
  fprintf(f, ".\n");
}

static void list_out(FILE *f, const char *title, char **list, int n, int md) {
  if (!n) return;
  fprintf(f, md ? "\n## %s\n\n" : "\n%s:\n", title);
  for (int i = 0; i < n; i++) fprintf(f, md ? "* %s\n" : "  %s\n", list[i]);
}

void gcb_summary(FILE *f, int md) {
  if (md) {
    fprintf(f, "# strata bench gc results\n\n");
    gcb_info_line(f);
    fprintf(f, "\n| collector | configuration |\n|---|---|\n");
    for (int c = 0; c < N_GCS; c++)
      if (gcb.use[c])
        fprintf(f, "| %s | %s |\n", gcb_gc[c].name, gcb.config[c][0] ? gcb.config[c] : "-");
    fprintf(f, "\n| benchmark | what | arguments |\n|---|---|---|\n");
    for (int i = 0; i < gcb.n; i++) {
      char args[160];
      gcb_args_text(&gcb.b[i], args, sizeof args);
      fprintf(f, "| %s | %s | %s%s%s |\n", gcb.b[i].def->name, gcb.b[i].def->what, *args ? "`" : "",
              *args ? args : "defaults", *args ? "`" : "");
    }
    fprintf(f, "\n## Results (medians)\n\n");
    gcb_results_table(f, -1, 1);
    fprintf(f, "\n%s\n", legend);
  }
  if (gcb.use[0] && (gcb.use[1] || gcb.use[2])) {
    fprintf(f, md ? "\n## Ratios strata / Boehm\n\n" : "\nratios strata / Boehm (medians):\n");
    gcb_ratio_table(f, -1, md);
  }
  if (gcb.n_targets) {
    fprintf(f, md ? "\n## Issue 5's targets (against the better Boehm mode)\n\n"
                  : "\nissue 5's targets (against the better Boehm mode):\n");
    targets_table(f, md);
    fprintf(f, "%s%d of %d targets met%s\n", md ? "\n" : " ", gcb.n_met, gcb.n_checked,
            gcb.n_checked < gcb.n_targets ? " (the others cannot be decided from these results)"
                                          : "");
  }
  list_out(f, "Notes", gcb.notices, gcb.n_notices, md);
  if (gcb.n_failures) {
    fprintf(f, md ? "\n## FAILURES\n\n**%d failure(s)**: failed runs are left out of the "
                    "medians; a benchmark whose check values disagree gets no ratios and no "
                    "targets.\n\n"
                  : "\nFAILED (%d): failed runs are left out of the medians; a benchmark whose "
                    "check values disagree gets no ratios and no targets:\n", gcb.n_failures);
    for (int i = 0; i < gcb.n_failures; i++) fprintf(f, md ? "* %s\n" : "  %s\n", gcb.failures[i]);
  }
}

/* ------------------------------------------------------------ JSON, SVG */

int gcb_write_json(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  fprintf(f, "{\n  \"tool\": \"strata bench gc\", \"format\": 1, \"date\": ");
  tool_json_str(f, gcb.date);
  fprintf(f, ", \"quick\": %s, \"runs\": %d, \"load_start\": %.2f, \"load_end\": %.2f, "
          "\"elapsed\": %.1f,\n  \"collectors\": [", gcb.quick ? "true" : "false", gcb.n_runs,
          gcb.load0[0], gcb.load1[0], gcb.elapsed);
  for (int c = 0, n = 0; c < N_GCS; c++) {
    if (!gcb.use[c]) continue;
    fprintf(f, "%s{\"name\": \"%s\", \"config\": ", n++ ? ", " : "", gcb_gc[c].name);
    tool_json_str(f, gcb.config[c]);
    fputc('}', f);
  }
  fprintf(f, "],\n  \"benchmarks\": [");
  for (int i = 0; i < gcb.n; i++) {
    const gbench_t *b = &gcb.b[i];
    char args[160];
    gcb_args_text(b, args, sizeof args);
    fprintf(f, "%s\n    {\"name\": \"%s\", \"args\": ", i ? "," : "", b->def->name);
    tool_json_str(f, args);
    fprintf(f, ", \"mismatch\": %s, \"cells\": {", b->mismatch ? "true" : "false");
    for (int c = 0, n = 0; c < N_GCS; c++) {
      if (!gcb.use[c]) continue;
      const gcell_t *cl = &b->cell[c];
      fprintf(f, "%s\n      \"%s\": {\"good\": %d, \"failed\": %d, \"wrong\": %d, \"check\": ",
              n++ ? "," : "", gcb_gc[c].name, cl->n_ok, cl->n_fail, cl->n_wrong);
      tool_json_str(f, cl->check);
      fprintf(f, ", \"pause_max_bound\": %s", cl->max_bound ? "true" : "false");
      for (int k = 0; k < N_F; k++) {
        fprintf(f, ", \"%s\": ", gcb_fkey[k]);
        tool_json_num(f, cl->med[k]);
      }
      fprintf(f, ", \"time_min\": ");
      tool_json_num(f, cl->tmin);
      fprintf(f, ", \"time_max\": ");
      tool_json_num(f, cl->tmax);
      if (c && gcb.use[0]) {
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
  for (int i = 0; i < gcb.n_targets; i++) {
    char *s = gcb.targets[i], *p1 = strchr(s, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
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
  tool_json_strlist(f, gcb.notices, gcb.n_notices);
  fprintf(f, ",\n  \"failures\": ");
  tool_json_strlist(f, gcb.failures, gcb.n_failures);
  fprintf(f, "\n}\n");
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}

/* Time and peak RSS of every collector as a ratio to Boehm (pauses: time
 * per MB allocated, since the time is fixed). */
int gcb_write_svg(const char *path) {
  int ref = gcb.use[1] ? 1 : gcb.use[2] ? 2 : -1;
  if (ref < 0) {
    fprintf(stderr, "strata bench gc: --svg needs a Boehm collector to compare with\n");
    return -1;
  }
  static double v[2][N_DEFS * N_GCS];
  static char tip[2][N_DEFS * N_GCS][TOOL_TIP_MAX];
  const char *groups[N_DEFS] = {0}, *series[N_GCS] = {0};
  int colors[N_GCS] = {0}, flag[N_DEFS] = {0}, ns = 0, map[N_GCS] = {0};
  for (int c = 0; c < N_GCS; c++)
    if (gcb.use[c]) { map[ns] = c; series[ns] = gcb_gc[c].name; colors[ns++] = gcb_gc[c].color; }
  for (int i = 0; i < gcb.n; i++) {
    const gbench_t *b = &gcb.b[i];
    groups[i] = b->def->name;
    flag[i] = b->mismatch;
    for (int s = 0; s < ns; s++) {
      const gcell_t *cl = &b->cell[map[s]], *rc = &b->cell[ref];
      int k = i * ns + s;
      if (b->def->kind == K_PAUSES) v[0][k] = ratio(rc->med[F_ALLOC], cl->med[F_ALLOC]);
      else v[0][k] = ratio(cl->med[F_TIME], rc->med[F_TIME]);
      v[1][k] = ratio(cl->med[F_RSS], rc->med[F_RSS]);
      snprintf(tip[0][k], TOOL_TIP_MAX, "%s on %s: %.3fx %s (%.3f s, %.1f MB/s)", series[s],
               groups[i], v[0][k], gcb_gc[ref].name, cl->med[F_TIME], cl->med[F_ALLOC]);
      snprintf(tip[1][k], TOOL_TIP_MAX, "%s on %s: %.3fx %s (%.1f MiB)", series[s], groups[i],
               v[1][k], gcb_gc[ref].name, cl->med[F_RSS] / 1024);
    }
  }
  char line1[400], line2[200];
  snprintf(line1, sizeof line1, "%s; %s", gcb.date, gcb.uname);
  snprintf(line2, sizeof line2, "medians of %d interleaved run(s) per collector%s; dashed line: %s",
           gcb.n_runs, gcb.quick ? " (quick sizes)" : "", gcb_gc[ref].name);
  tool_chart_t ch = {"strata bench gc: collectors side by side", line1, line2, gcb_gc[ref].name,
                     gcb.n, ns, groups, series, colors, flag, "check!",
                     {{"Time (median; pauses: time per MB allocated)", v[0], tip[0]},
                      {"Peak RSS (median)", v[1], tip[1]}}};
  return tool_svg_chart(path, &ch);
}
