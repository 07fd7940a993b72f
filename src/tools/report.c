/* src/tools/report.c -- the output of `strata bench`: the text tables on
 * stdout (a header, one table per workload as it finishes, a summary), and
 * the same results as JSON and as Markdown.  Only formatting: every figure
 * is computed in bench.c.  NAN means "no value" everywhere: "-" in text
 * and Markdown, null in JSON.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

static void fmt_ratio(char *buf, size_t n, double v) {
  if (isnan(v)) snprintf(buf, n, "-");
  else snprintf(buf, n, "%.2fx", v);
}

static void fmt_mib(char *buf, size_t n, double kb) {
  if (isnan(kb)) snprintf(buf, n, "-");
  else if (kb < 10 * 1024) snprintf(buf, n, "%.2f MiB", kb / 1024);
  else snprintf(buf, n, "%.1f MiB", kb / 1024);
}

static void fmt_secs(char *buf, size_t n, double s) {
  if (isnan(s)) snprintf(buf, n, "-");
  else if (s < 1) snprintf(buf, n, "%.4f", s);
  else if (s < 100) snprintf(buf, n, "%.3f", s);
  else snprintf(buf, n, "%.1f", s);
}

static void fmt_spread(char *buf, size_t n, const bench_cell_t *c) {
  if (c->n_ok < 2) snprintf(buf, n, "-");
  else snprintf(buf, n, "%.1f%%", 100 * (c->t_max - c->t_min) / c->t_med);
}

/* Four ratios side by side, in the order given. */
static void fmt_ratios(char r[4][24], double v0, double v1, double v2, double v3) {
  fmt_ratio(r[0], sizeof r[0], v0);
  fmt_ratio(r[1], sizeof r[1], v1);
  fmt_ratio(r[2], sizeof r[2], v2);
  fmt_ratio(r[3], sizeof r[3], v3);
}

/* One cell of a workload table as text (the text table and Markdown): time,
 * spread, peak RSS, figure, then time/glibc, time/best, RSS/glibc, RSS/best. */
typedef struct {
  char t[24], sp[24], rss[24], fig[24], r[4][24];
} cell_text_t;

static void fmt_cell(cell_text_t *x, const bench_cell_t *c) {
  fmt_secs(x->t, sizeof x->t, c->t_med);
  fmt_spread(x->sp, sizeof x->sp, c);
  fmt_mib(x->rss, sizeof x->rss, c->rss_med);
  tool_fmt_num(x->fig, sizeof x->fig, c->fig_med);
  fmt_ratios(x->r, c->t_vs_glibc, c->t_vs_best, c->rss_vs_glibc, c->rss_vs_best);
}

/* The geometric means of one allocator as text: time/glibc, RSS/glibc,
 * time/best, RSS/best (the order of the summary tables). */
static void fmt_geo(char r[4][24], const bench_geo_t *g) {
  fmt_ratios(r, g->t_vs_glibc, g->rss_vs_glibc, g->t_vs_best, g->rss_vs_best);
}

static const char *alloc_name(const bench_t *b, int a) {
  return a >= 0 ? b->allocs[a].name : "-";
}

/* "1 thread, 4000000 ops" from what the workload reported. */
static void fmt_params(char *buf, size_t n, const bench_wl_t *w) {
  char th[48] = "", ops[64] = "";
  if (w->threads > 0) snprintf(th, sizeof th, "%ld thread%s, ", w->threads, w->threads == 1 ? "" : "s");
  if (w->ops[0] && strcmp(w->ops, "0") != 0) snprintf(ops, sizeof ops, "%s ops, ", w->ops);
  snprintf(buf, n, "%s, %s%s%d run%s", w->def->kind == WL_REAL ? "real program" : "synthetic",
           th, ops, w->n_runs, w->n_runs == 1 ? "" : "s");
}

static const char *peer_names(const bench_t *b, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = 0;
  for (int a = 0; a < b->n_allocs; a++)
    if (b->allocs[a].is_peer && len < n)
      len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", b->allocs[a].name);
  if (!len) snprintf(buf, n, "none run");
  return buf;
}

/* One line per allocator: fmt gets three strings, its name, its library
 * (glibc_lib for glibc, which has none) and peer_note for a peer ("" for
 * the others). */
static void list_allocs(FILE *f, const bench_t *b, const char *fmt, const char *glibc_lib,
                        const char *peer_note) {
  for (int a = 0; a < b->n_allocs; a++)
    fprintf(f, fmt, b->allocs[a].name, b->allocs[a].lib ? b->allocs[a].lib : glibc_lib,
            b->allocs[a].is_peer ? peer_note : "");
}

void report_header(FILE *f, const bench_t *b) {
  fprintf(f, "# strata bench: %d workload%s x %d allocators x %d runs, interleaved%s\n",
          b->n_wls, b->n_wls == 1 ? "" : "s", b->n_allocs, b->n_runs,
          b->quick ? " (quick mode)" : "");
  fprintf(f, "# %d runs in all, each a fresh process\n", b->total_runs);
  fprintf(f, "# %s; %ld CPUs, %s; load %.2f %.2f %.2f\n", b->date, b->ncpu, b->uname,
          b->load_start[0], b->load_start[1], b->load_start[2]);
  list_allocs(f, b, "#   %-9s %s%s\n", "system malloc (no preload)", "  (peer)");
  const char *opts = getenv("STRATA_OPTIONS");   /* every strata run gets them */
  if (opts && *opts) fprintf(f, "# STRATA_OPTIONS=%s (for the strata runs)\n", opts);
  fprintf(f, "# time = median of the workload's own timed section; lower is better.\n"
             "# ratios are ratios of medians, < 1.00x is better: /glibc against glibc,\n"
             "# /best against the best peer (fastest, resp. leanest, peer on that workload).\n");
}

void report_workload(FILE *f, const bench_t *b, const bench_wl_t *w) {
  char params[160];
  fmt_params(params, sizeof params, w);
  fprintf(f, "\n%s: %s; best peer: time %s, RSS %s\n", w->def->name, params,
          alloc_name(b, w->best_t), alloc_name(b, w->best_rss));
  const char *fig_name = w->figure_name[0] ? w->figure_name : "figure";
  int fw = (int)strlen(fig_name) > 11 ? (int)strlen(fig_name) : 11;
  fprintf(f, "%-10s %8s %7s %11s %*s %10s %10s %10s %10s\n", "allocator", "time s", "spread",
          "peak RSS", fw, fig_name, "time/glibc", "time/best", "RSS/glibc", "RSS/best");
  for (int a = 0; a < b->n_allocs; a++) {
    const bench_cell_t *c = &w->cell[a];
    cell_text_t x;
    fmt_cell(&x, c);
    int strata = a == b->strata;
    char note[64] = "";
    if (c->n_fail && !c->n_ok) snprintf(note, sizeof note, "  FAILED");
    else if (c->n_fail) snprintf(note, sizeof note, "  (%d of %d runs FAILED)", c->n_fail,
                                 c->n_fail + c->n_ok);
    char line[256];
    snprintf(line, sizeof line, "%-10s %8s %7s %11s %*s %10s %9s%s %10s %9s%s%s",
             b->allocs[a].name, x.t, x.sp, x.rss, fw, x.fig, x.r[0], x.r[1],
             strata && c->t_vs_best > TARGET_WORST ? "!" : " ", x.r[2], x.r[3],
             strata && c->rss_vs_best > TARGET_WORST ? "!" : " ", note);
    size_t len = strlen(line);
    while (len && line[len - 1] == ' ') line[--len] = 0;
    fprintf(f, "%s\n", line);
  }
  if (w->mismatch) fprintf(f, "CHECKSUM MISMATCH: the allocators computed different results\n");
}

static const char *met(int ok) { return ok ? "met" : "NOT met"; }

void report_summary(FILE *f, const bench_t *b) {
  char peers[128];
  fprintf(f, "\nSummary: geometric means over the workloads of the ratios of medians "
             "(< 1.00x is better)\n");
  fprintf(f, "%-10s %11s %11s %15s %15s %10s %7s\n", "allocator", "time/glibc", "RSS/glibc",
          "time/best peer", "RSS/best peer", "workloads", "failed");
  for (int a = 0; a < b->n_allocs; a++) {
    const bench_geo_t *g = &b->geo[a];
    char r[4][24];
    fmt_geo(r, g);
    int failed = 0;
    for (int i = 0; i < b->n_wls; i++) failed += b->wls[i].cell[a].n_fail;
    fprintf(f, "%-10s %11s %11s %15s %15s %10d %7d\n", b->allocs[a].name, r[0], r[1], r[2], r[3],
            g->n_glibc, failed);
  }
  fprintf(f, "(best peer = per workload, the fastest resp. leanest of: %s)\n",
          peer_names(b, peers, sizeof peers));
  if (b->has_targets) {
    const bench_geo_t *g = &b->geo[b->strata];
    fprintf(f, "\nTargets for strata against the best peer:\n");
    fprintf(f, "  time geomean <= %.2fx            %.3fx  %s\n", TARGET_TIME_GEO, g->t_vs_best,
            met(b->target_time_ok));
    fprintf(f, "  peak RSS geomean <= %.2fx        %.3fx  %s\n", TARGET_RSS_GEO, g->rss_vs_best,
            met(b->target_rss_ok));
    fprintf(f, "  no workload > %.2fx (time, RSS)  %s%s%s\n", TARGET_WORST,
            met(b->target_worst_ok), b->target_worst_ok ? "" : ": ", b->worst_list);
  } else {
    fprintf(f, "\nTargets for strata: not evaluated (%s)\n",
            b->strata < 0 ? "strata not run" : "no peer allocator has a result");
  }
  for (int i = 0; i < b->n_notices; i++) fprintf(f, "note: %s\n", b->notices[i]);
  fprintf(f, "\n%d runs in %.1f s; load at end %.2f %.2f %.2f\n",
          b->total_runs, b->elapsed, b->load_end[0], b->load_end[1],
          b->load_end[2]);
  if (b->n_failures) {
    fprintf(f, "FAILED (%d):\n", b->n_failures);
    for (int i = 0; i < b->n_failures; i++) fprintf(f, "  %s\n", b->failures[i]);
  }
}

/* ------------------------------------------------------------------ JSON */

/* Bytes in the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when
 * the bytes there are not one (a file name, a program's output). */
int tool_utf8_len(const unsigned char *p) {
  if (*p < 0x80) return 1;
  int n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 && *p < 0xe0 ? 2 : 0;
  if (n == 0) return 0;
  unsigned cp = *p & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp < 0xe000))
    return 0;                                  /* overlong, out of range, a surrogate */
  return n;
}

/* A JSON string; bytes that are not UTF-8 become U+FFFD (JSON is UTF-8). */
void tool_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p;) {
    int n = tool_utf8_len(p);
    if (n == 0) { fputs("\\ufffd", f); p++; continue; }
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", f);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fwrite(p, 1, (size_t)n, f);
    p += n;
  }
  fputc('"', f);
}

/* A string, or null for NULL. */
static void json_opt_str(FILE *f, const char *s) {
  if (s) tool_json_str(f, s);
  else fputs("null", f);
}

void tool_json_num(FILE *f, double v) {
  if (isnan(v) || isinf(v)) fputs("null", f);
  else fprintf(f, "%.6g", v);
}

/* ,"key": number */
static void jkn(FILE *f, const char *key, double v) {
  fprintf(f, ", \"%s\": ", key);
  tool_json_num(f, v);
}

void tool_json_strlist(FILE *f, char **list, int n) {
  fputc('[', f);
  for (int i = 0; i < n; i++) {
    if (i) fputs(", ", f);
    tool_json_str(f, list[i]);
  }
  fputc(']', f);
}

int report_json(const char *path, const bench_t *b) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  fprintf(f, "{\n  \"tool\": \"strata bench\", \"format\": 1, \"date\": ");
  tool_json_str(f, b->date);
  fprintf(f, ", \"quick\": %s, \"runs\": %d, \"cpus\": %ld, \"uname\": ",
          b->quick ? "true" : "false", b->n_runs, b->ncpu);
  tool_json_str(f, b->uname);
  fprintf(f, ",\n  \"load_start\": [%.2f, %.2f, %.2f], \"load_end\": [%.2f, %.2f, %.2f]",
          b->load_start[0], b->load_start[1], b->load_start[2], b->load_end[0],
          b->load_end[1], b->load_end[2]);
  fprintf(f, ", \"elapsed\": %.2f,\n  \"allocators\": [", b->elapsed);
  for (int a = 0; a < b->n_allocs; a++) {
    fprintf(f, "%s\n    {\"name\": ", a ? "," : "");
    tool_json_str(f, b->allocs[a].name);
    fputs(", \"lib\": ", f);
    json_opt_str(f, b->allocs[a].lib);
    fprintf(f, ", \"peer\": %s}", b->allocs[a].is_peer ? "true" : "false");
  }
  fputs("\n  ],\n  \"workloads\": [", f);
  for (int i = 0; i < b->n_wls; i++) {
    const bench_wl_t *w = &b->wls[i];
    fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
    tool_json_str(f, w->def->name);
    fprintf(f, ", \"kind\": \"%s\", \"program\": ", w->def->kind == WL_REAL ? "real" : "synthetic");
    tool_json_str(f, w->def->prog);
    fprintf(f, ", \"runs\": %d, \"threads\": %ld, \"ops\": ", w->n_runs, w->threads);
    tool_json_str(f, w->ops);
    fputs(", \"figure_name\": ", f);
    tool_json_str(f, w->figure_name);
    fprintf(f, ", \"figure_better\": \"%s\", \"check_stable\": %s, \"checksum_mismatch\": %s",
            w->figure_higher ? "higher" : "lower", w->check_stable ? "true" : "false",
            w->mismatch ? "true" : "false");
    fputs(", \"best_peer_time\": ", f);
    json_opt_str(f, w->best_t >= 0 ? b->allocs[w->best_t].name : NULL);
    fputs(", \"best_peer_rss\": ", f);
    json_opt_str(f, w->best_rss >= 0 ? b->allocs[w->best_rss].name : NULL);
    fputs(",\n     \"results\": [", f);
    for (int a = 0; a < b->n_allocs; a++) {
      const bench_cell_t *c = &w->cell[a];
      fprintf(f, "%s\n       {\"allocator\": ", a ? "," : "");
      tool_json_str(f, b->allocs[a].name);
      fprintf(f, ", \"ok_runs\": %d, \"failed_runs\": %d", c->n_ok, c->n_fail);
      jkn(f, "time_median", c->t_med);
      jkn(f, "time_min", c->t_min);
      jkn(f, "time_max", c->t_max);
      jkn(f, "rss_kb_median", c->rss_med);
      jkn(f, "rss_kb_min", c->rss_min);
      jkn(f, "rss_kb_max", c->rss_max);
      jkn(f, "figure_median", c->fig_med);
      fputs(",\n        ", f);
      fprintf(f, "\"time_vs_glibc\": ");
      tool_json_num(f, c->t_vs_glibc);
      jkn(f, "time_vs_best_peer", c->t_vs_best);
      jkn(f, "rss_vs_glibc", c->rss_vs_glibc);
      jkn(f, "rss_vs_best_peer", c->rss_vs_best);
      fputs(",\n        \"runs\": [", f);
      for (int r = 0; r < w->n_runs; r++) {
        const bench_run_t *run = &w->runs[a * w->n_runs + r];
        fprintf(f, "%s{\"ok\": %s", r ? ", " : "", run->ok ? "true" : "false");
        if (run->ok) {
          jkn(f, "secs", run->secs);
          jkn(f, "rss_kb", run->rss_kb);
          jkn(f, "figure", run->figure);
          fputs(", \"check\": ", f);
          tool_json_str(f, run->check);
        } else {
          fputs(", \"error\": ", f);
          tool_json_str(f, run->why);
        }
        jkn(f, "elapsed", run->elapsed);
        fputc('}', f);
      }
      fputs("]}", f);
    }
    fputs("\n     ]}", f);
  }
  fputs("\n  ],\n  \"summary\": [", f);
  for (int a = 0; a < b->n_allocs; a++) {
    const bench_geo_t *g = &b->geo[a];
    fprintf(f, "%s\n    {\"allocator\": ", a ? "," : "");
    tool_json_str(f, b->allocs[a].name);
    jkn(f, "time_geomean_vs_glibc", g->t_vs_glibc);
    jkn(f, "rss_geomean_vs_glibc", g->rss_vs_glibc);
    jkn(f, "time_geomean_vs_best_peer", g->t_vs_best);
    jkn(f, "rss_geomean_vs_best_peer", g->rss_vs_best);
    fprintf(f, ", \"workloads_vs_glibc\": %d, \"workloads_vs_best_peer\": %d}", g->n_glibc,
            g->n_best);
  }
  fputs("\n  ],\n  \"targets\": ", f);
  if (b->has_targets) {
    const bench_geo_t *g = &b->geo[b->strata];
    fprintf(f, "{\"time_geomean_max\": %.2f, \"time_geomean\": ", TARGET_TIME_GEO);
    tool_json_num(f, g->t_vs_best);
    fprintf(f, ", \"time_met\": %s, \"rss_geomean_max\": %.2f, \"rss_geomean\": ",
            b->target_time_ok ? "true" : "false", TARGET_RSS_GEO);
    tool_json_num(f, g->rss_vs_best);
    fprintf(f, ", \"rss_met\": %s, \"worst_max\": %.2f, \"worst_met\": %s, \"violations\": [",
            b->target_rss_ok ? "true" : "false", TARGET_WORST,
            b->target_worst_ok ? "true" : "false");
    int nv = 0;
    for (int i = 0; i < b->n_wls; i++) {
      const bench_wl_t *w = &b->wls[i];
      const bench_cell_t *c = &w->cell[b->strata];
      if (w->best_t < 0 || (c->n_ok && !(c->t_vs_best > TARGET_WORST) &&
                            !(c->rss_vs_best > TARGET_WORST)))
        continue;
      fprintf(f, "%s{\"workload\": ", nv++ ? ", " : "");
      tool_json_str(f, w->def->name);
      jkn(f, "time_vs_best_peer", c->t_vs_best);
      jkn(f, "rss_vs_best_peer", c->rss_vs_best);
      fputc('}', f);
    }
    fputs("]}", f);
  } else {
    fputs("null", f);
  }
  fputs(",\n  \"notices\": ", f);
  tool_json_strlist(f, b->notices, b->n_notices);
  fputs(",\n  \"failures\": ", f);
  tool_json_strlist(f, b->failures, b->n_failures);
  fputs("\n}\n", f);
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}

/* -------------------------------------------------------------- Markdown */

/* Markdown table cells must not contain '|'. */
void tool_md_text(FILE *f, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', f);
    fputc(*s, f);
  }
}

/* A "## title" section listing the n strings, or nothing when n == 0. */
static void md_list(FILE *f, const char *title, char **list, int n) {
  if (!n) return;
  fprintf(f, "\n## %s\n\n", title);
  for (int i = 0; i < n; i++) {
    fputs("* ", f);
    tool_md_text(f, list[i]);
    fputc('\n', f);
  }
}

int report_md(const char *path, const bench_t *b) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  char peers[128];
  fprintf(f, "# strata bench results\n\n");
  fprintf(f, "%s; %ld CPUs, %s; %d runs per allocator and workload, interleaved%s; "
             "load %.2f at start, %.2f at end; %.0f s in all.\n\n",
          b->date, b->ncpu, b->uname, b->n_runs, b->quick ? " (quick mode)" : "",
          b->load_start[0], b->load_end[0], b->elapsed);
  fprintf(f, "| allocator | library |\n|---|---|\n");
  list_allocs(f, b, "| %s | `%s`%s |\n", "system malloc", " (peer)");
  fprintf(f, "\nTime is the median of the workload's own timed section, peak RSS the median "
             "peak resident set size. Ratios are ratios of medians; below 1.00x is better. "
             "*Best peer* is, per workload, the fastest (for time) or leanest (for RSS) of: "
             "%s.\n", peer_names(b, peers, sizeof peers));

  fprintf(f, "\n## Summary (geometric means)\n\n");
  fprintf(f, "| allocator | time / glibc | RSS / glibc | time / best peer | RSS / best peer "
             "| workloads |\n|---|---:|---:|---:|---:|---:|\n");
  for (int a = 0; a < b->n_allocs; a++) {
    const bench_geo_t *g = &b->geo[a];
    char r[4][24];
    fmt_geo(r, g);
    const char *em = a == b->strata ? "**" : "";
    fprintf(f, "| %s%s%s | %s | %s | %s%s%s | %s%s%s | %d |\n", em, b->allocs[a].name, em, r[0],
            r[1], em, r[2], em, em, r[3], em, g->n_glibc);
  }
  if (b->has_targets) {
    const bench_geo_t *g = &b->geo[b->strata];
    fprintf(f, "\n| target for strata | value | |\n|---|---:|---|\n");
    fprintf(f, "| time geomean ≤ %.2fx best peer | %.3fx | %s |\n", TARGET_TIME_GEO,
            g->t_vs_best, met(b->target_time_ok));
    fprintf(f, "| peak RSS geomean ≤ %.2fx best peer | %.3fx | %s |\n", TARGET_RSS_GEO,
            g->rss_vs_best, met(b->target_rss_ok));
    fprintf(f, "| no workload > %.2fx best peer (time or RSS) | | %s%s",
            TARGET_WORST, met(b->target_worst_ok), b->target_worst_ok ? "" : ": ");
    tool_md_text(f, b->worst_list);
    fprintf(f, " |\n");
  }

  for (int i = 0; i < b->n_wls; i++) {
    const bench_wl_t *w = &b->wls[i];
    char params[160];
    fmt_params(params, sizeof params, w);
    fprintf(f, "\n## %s\n\n%s (%s). Best peer: time %s, RSS %s. Figure: `%s` (%s is better).%s\n\n",
            w->def->name, w->def->what, params, alloc_name(b, w->best_t),
            alloc_name(b, w->best_rss), w->figure_name[0] ? w->figure_name : "-",
            w->figure_higher ? "higher" : "lower",
            w->mismatch ? " **CHECKSUM MISMATCH.**" : "");
    fprintf(f, "| allocator | time s | spread | peak RSS | %s | time / glibc | time / best peer "
               "| RSS / glibc | RSS / best peer | failed runs |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            w->figure_name[0] ? w->figure_name : "figure");
    for (int a = 0; a < b->n_allocs; a++) {
      const bench_cell_t *c = &w->cell[a];
      cell_text_t x;
      fmt_cell(&x, c);
      fprintf(f, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", b->allocs[a].name, x.t,
              x.sp, x.rss, x.fig, x.r[0], x.r[1], x.r[2], x.r[3], c->n_fail);
    }
  }
  md_list(f, "Notes", b->notices, b->n_notices);
  md_list(f, "Failures", b->failures, b->n_failures);
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}
