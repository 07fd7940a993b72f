/* src/tools/svg.c -- the bar charts of `strata bench --svg FILE` and
 * `strata bench gc --svg FILE`, and the SVG/XML basics run.c shares.
 *
 * Hand-written SVG 1.1 text, no library.  tool_svg_chart() draws any
 * grouped bar chart of ratios to a reference: two panels, one above the
 * other (time and peak RSS for both benches), one group of bars per
 * workload or benchmark, one bar per allocator or collector, one colour per
 * series (the legend at the top), the reference at 1.0 as a dashed line.
 * Every bar has a <title>, so hovering it in a browser shows the exact
 * ratio and value.  A bar taller than the axis (AXIS_CAP x the reference)
 * is cut at the top and labelled with its value; a missing result (failed
 * runs) shows "n/a".  report_svg() only fills a tool_chart_t from a bench_t.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

#define AXIS_CAP 4.0
#define LEFT 64
#define RIGHT 24
#define TOP 106         /* title, two subtitle lines, legend */
#define PANEL_H 230     /* plot area height */
#define PANEL_GAP 78    /* x labels + next panel title */
#define GROUP_GAP 18

/* glibc, strata, jemalloc, tcmalloc, mimalloc, then custom ones. */
static const char *const palette[] = {"#9e9e9e", "#e15759", "#4e79a7", "#59a14f",
                                      "#f28e2b", "#b07aa1", "#76b7b2", "#edc948"};
#define N_PALETTE (int)(sizeof palette / sizeof palette[0])

void tool_xml_text(FILE *f, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    int n = tool_utf8_len(p);
    /* not UTF-8, or a control character XML 1.0 does not allow: U+FFFD */
    if (n == 0 || (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')) { fputs("&#xfffd;", f); p += n ? n : 1; continue; }
    if (*p == '<') fputs("&lt;", f);
    else if (*p == '>') fputs("&gt;", f);
    else if (*p == '&') fputs("&amp;", f);
    else if (*p == '"') fputs("&quot;", f);
    else fwrite(p, 1, (size_t)n, f);
    p += n;
  }
}

/* The SVG header and the start of the style sheet the charts share (text,
 * .t title, .s subtitle, .h heading); the caller adds its own classes and
 * calls tool_svg_end_style, which also paints the white background. */
void tool_svg_begin(FILE *f, double width, double height) {
  fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
             "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n", width, height, width, height);
  fprintf(f, "<style>\n"
             "text { font-family: sans-serif; fill: #222; }\n"
             ".t { font-size: 16px; font-weight: bold; }\n"
             ".s { font-size: 11px; fill: #555; }\n"
             ".h { font-size: 13px; font-weight: bold; }\n");
}

void tool_svg_end_style(FILE *f, double width, double height) {
  fprintf(f, "</style>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n",
          width, height);
}

/* Axis top and tick step for the largest ratio shown. */
static void axis(double max, double *top, double *step) {
  if (!(max > 1.2)) max = 1.2;
  if (max > AXIS_CAP) max = AXIS_CAP;
  *step = max <= 1.5 ? 0.25 : max <= 3 ? 0.5 : 1.0;
  *top = ceil(max / *step - 1e-9) * *step;
}

static void panel(FILE *f, const tool_chart_t *c, int pi, double y0, double bar_w, double group_w) {
  const tool_chart_panel_t *p = &c->panel[pi];
  int ns = c->n_series;
  double max = 0;
  for (int i = 0; i < c->n_groups * ns; i++)
    if (!isnan(p->v[i]) && p->v[i] > max) max = p->v[i];
  double top, step;
  axis(max, &top, &step);
  double plot_w = group_w * c->n_groups;
  double y_of_1 = y0 + PANEL_H * (1 - 1 / top);

  fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"h\">", LEFT, y0 - 12);
  tool_xml_text(f, p->heading);
  fprintf(f, ", relative to ");
  tool_xml_text(f, c->ref);
  fprintf(f, " = 1.0 (lower is better)</text>\n");
  /* grid and y labels */
  for (int k = 0; k * step <= top + 1e-9; k++) {
    double v = k * step, y = y0 + PANEL_H * (1 - v / top);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", LEFT, y,
            LEFT + plot_w, y);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%.2gx</text>\n", LEFT - 6, y + 4, v);
  }
  /* bars */
  for (int g = 0; g < c->n_groups; g++) {
    double gx = LEFT + group_w * g + GROUP_GAP / 2.0;
    for (int s = 0; s < ns; s++) {
      double v = p->v[g * ns + s];
      double x = gx + bar_w * s;
      if (isnan(v)) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">n/a</text>\n", x + bar_w / 2,
                y0 + PANEL_H - 3);
        continue;
      }
      double shown = v > top ? top : v;
      double h = PANEL_H * shown / top;
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">",
              x + 0.5, y0 + PANEL_H - h, bar_w - 1, h, palette[c->colors[s] % N_PALETTE]);
      fprintf(f, "<title>");
      if (p->tip) tool_xml_text(f, p->tip[g * ns + s]);
      fprintf(f, "</title></rect>\n");
      if (v > top)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cut\">%.1fx</text>\n", x + bar_w / 2,
                y0 - 2, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">", gx + bar_w * ns / 2,
            y0 + PANEL_H + 16);
    tool_xml_text(f, c->groups[g]);
    fprintf(f, "</text>\n");
    if (c->flag && c->flag[g]) {
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">", gx + bar_w * ns / 2,
              y0 + PANEL_H + 28);
      tool_xml_text(f, c->flag_text);
      fprintf(f, "</text>\n");
    }
  }
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"one\"/>\n", LEFT,
          y_of_1, LEFT + plot_w, y_of_1);
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", LEFT,
          y0 + PANEL_H, LEFT + plot_w, y0 + PANEL_H);
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"axis\"/>\n", LEFT, y0,
          LEFT, y0 + PANEL_H);
}

int tool_svg_chart(const char *path, const tool_chart_t *c) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  int ng = c->n_groups ? c->n_groups : 1, ns = c->n_series ? c->n_series : 1;
  /* bar width: fill at least ~760 px, within 7..26 px a bar */
  double bar_w = (760.0 - LEFT - RIGHT) / ng - GROUP_GAP;
  bar_w /= ns;
  if (bar_w > 26) bar_w = 26;
  if (bar_w < 7) bar_w = 7;
  double group_w = bar_w * ns + GROUP_GAP;
  double width = LEFT + group_w * c->n_groups + RIGHT;
  if (width < 560) width = 560;
  double height = TOP + 2 * PANEL_H + 2 * PANEL_GAP;

  tool_svg_begin(f, width, height);
  fprintf(f, ".yl { font-size: 10px; text-anchor: end; }\n"
             ".xl { font-size: 11px; text-anchor: middle; }\n"
             ".lg { font-size: 12px; }\n"
             ".na { font-size: 9px; text-anchor: middle; fill: #b00; }\n"
             ".cut { font-size: 9px; text-anchor: middle; }\n"
             ".grid { stroke: #e4e4e4; stroke-width: 1; }\n"
             ".axis { stroke: #444; stroke-width: 1; }\n"
             ".one { stroke: #222; stroke-width: 1.2; stroke-dasharray: 5,3; }\n");
  tool_svg_end_style(f, width, height);
  const char *lines[3] = {c->title, c->line1, c->line2};
  static const char *const cls[3] = {"t", "s", "s"};
  static const int ys[3] = {24, 42, 56};
  for (int i = 0; i < 3; i++) {
    if (!lines[i]) continue;
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"%s\">", LEFT, ys[i], cls[i]);
    tool_xml_text(f, lines[i]);
    fprintf(f, "</text>\n");
  }
  /* legend */
  double lx = LEFT;
  for (int s = 0; s < c->n_series; s++) {
    fprintf(f, "<rect x=\"%.1f\" y=\"70\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", lx,
            palette[c->colors[s] % N_PALETTE]);
    fprintf(f, "<text x=\"%.1f\" y=\"82\" class=\"lg\">", lx + 19);
    tool_xml_text(f, c->series[s]);
    fprintf(f, "</text>\n");
    lx += 19 + 8.0 * (double)strlen(c->series[s]) + 20;
  }
  panel(f, c, 0, TOP + 20, bar_w, group_w);
  panel(f, c, 1, TOP + 20 + PANEL_H + PANEL_GAP, bar_w, group_w);
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}

/* The chart of `strata bench`: time and peak RSS of every allocator as a
 * ratio to glibc. */
int report_svg(const char *path, const bench_t *b) {
  int ng = b->n_wls, ns = b->n_allocs, n = ng * ns;
  double *v = calloc(2 * (size_t)n + 1, sizeof *v);
  char (*tip)[TOOL_TIP_MAX] = calloc(2 * (size_t)n + 1, sizeof *tip);
  const char *groups[BENCH_MAX_WORKLOADS], *series[BENCH_MAX_ALLOCS];
  int colors[BENCH_MAX_ALLOCS], flag[BENCH_MAX_WORKLOADS];
  if (!v || !tip) { free(v); free(tip); perror("strata bench"); return -1; }
  for (int a = 0; a < ns; a++) {
    series[a] = b->allocs[a].name;
    colors[a] = b->allocs[a].color;
  }
  for (int i = 0; i < ng; i++) {
    const bench_wl_t *w = &b->wls[i];
    groups[i] = w->def->name;
    flag[i] = w->mismatch;
    for (int a = 0; a < ns; a++)
      for (int rss = 0; rss < 2; rss++) {
        const bench_cell_t *c = &w->cell[a];
        int k = rss * n + i * ns + a;
        v[k] = rss ? c->rss_vs_glibc : c->t_vs_glibc;
        double vb = rss ? c->rss_vs_best : c->t_vs_best;
        char best[40] = "";
        if (!isnan(vb)) snprintf(best, sizeof best, "; %.3fx best peer", vb);
        if (rss)
          snprintf(tip[k], sizeof tip[k], "%s on %s: %.3fx glibc (%.2f MiB%s)", series[a],
                   groups[i], v[k], c->rss_med / 1024, best);
        else
          snprintf(tip[k], sizeof tip[k], "%s on %s: %.3fx glibc (%.4f s%s)", series[a],
                   groups[i], v[k], c->t_med, best);
      }
  }
  int min_runs = b->n_runs;
  for (int i = 0; i < b->n_wls; i++)
    if (b->wls[i].n_runs < min_runs) min_runs = b->wls[i].n_runs;
  char fewer[48] = "", title[96], line1[400], line2[200];
  if (min_runs < b->n_runs) snprintf(fewer, sizeof fewer, ", %d for some workloads", min_runs);
  snprintf(title, sizeof title, "strata bench: allocators side by side%s",
           b->quick ? " (quick mode)" : "");
  snprintf(line1, sizeof line1, "%s; %ld CPUs, %s", b->date, b->ncpu, b->uname);
  snprintf(line2, sizeof line2, "medians of interleaved runs (%d per allocator%s); "
           "dashed line: glibc", b->n_runs, fewer);
  tool_chart_t ch = {title, line1, line2, "glibc", ng, ns, groups, series, colors, flag,
                     "checksum!", {{"Time (median)", v, tip}, {"Peak RSS (median)", v + n, tip + n}}};
  int rc = tool_svg_chart(path, &ch);
  free(v);
  free(tip);
  return rc;
}
