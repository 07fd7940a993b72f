/* src/tools/svg.c -- the bar chart of `strata bench --svg FILE`.
 *
 * Hand-written SVG 1.1 text, no library.  Two panels, one above the other:
 * median time and median peak RSS, each as a ratio to glibc (glibc = 1.0,
 * a dashed line).  One group of bars per workload, one bar per allocator,
 * one colour per allocator (the legend at the top).  Every bar has a
 * <title>, so hovering it in a browser shows the exact ratio and value.
 * A bar taller than the axis (AXIS_CAP x glibc) is cut at the top and
 * labelled with its value; a missing result (failed runs) shows "n/a".
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
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
  for (; *s; s++) {
    if (*s == '<') fputs("&lt;", f);
    else if (*s == '>') fputs("&gt;", f);
    else if (*s == '&') fputs("&amp;", f);
    else if (*s == '"') fputs("&quot;", f);
    else fputc(*s, f);
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

static double cell_value(const bench_cell_t *c, int rss) {
  return rss ? c->rss_vs_glibc : c->t_vs_glibc;
}

/* Axis top and tick step for the largest ratio shown. */
static void axis(double max, double *top, double *step) {
  if (!(max > 1.2)) max = 1.2;
  if (max > AXIS_CAP) max = AXIS_CAP;
  *step = max <= 1.5 ? 0.25 : max <= 3 ? 0.5 : 1.0;
  *top = ceil(max / *step - 1e-9) * *step;
}

static void panel(FILE *f, const bench_t *b, int rss, double y0, double bar_w, double group_w) {
  double max = 0;
  for (int i = 0; i < b->n_wls; i++)
    for (int a = 0; a < b->n_allocs; a++) {
      double v = cell_value(&b->wls[i].cell[a], rss);
      if (!isnan(v) && v > max) max = v;
    }
  double top, step;
  axis(max, &top, &step);
  double plot_w = group_w * b->n_wls;
  double y_of_1 = y0 + PANEL_H * (1 - 1 / top);

  fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"h\">%s, relative to glibc = 1.0 "
             "(lower is better)</text>\n", LEFT, y0 - 12,
          rss ? "Peak RSS (median)" : "Time (median)");
  /* grid and y labels */
  for (int k = 0; k * step <= top + 1e-9; k++) {
    double v = k * step, y = y0 + PANEL_H * (1 - v / top);
    fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>\n", LEFT, y,
            LEFT + plot_w, y);
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%.2gx</text>\n", LEFT - 6, y + 4, v);
  }
  /* bars */
  for (int i = 0; i < b->n_wls; i++) {
    const bench_wl_t *w = &b->wls[i];
    double gx = LEFT + group_w * i + GROUP_GAP / 2.0;
    for (int a = 0; a < b->n_allocs; a++) {
      const bench_cell_t *c = &w->cell[a];
      double v = cell_value(c, rss);
      double x = gx + bar_w * a;
      if (isnan(v)) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">n/a</text>\n", x + bar_w / 2,
                y0 + PANEL_H - 3);
        continue;
      }
      double shown = v > top ? top : v;
      double h = PANEL_H * shown / top;
      int col = b->allocs[a].color;
      fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">",
              x + 0.5, y0 + PANEL_H - h, bar_w - 1, h, palette[col % N_PALETTE]);
      fprintf(f, "<title>%s on %s: %.3fx glibc (", b->allocs[a].name, w->def->name, v);
      if (rss) fprintf(f, "%.2f MiB", c->rss_med / 1024);
      else fprintf(f, "%.4f s", c->t_med);
      double vb = rss ? c->rss_vs_best : c->t_vs_best;
      if (!isnan(vb)) fprintf(f, "; %.3fx best peer", vb);
      fprintf(f, ")</title></rect>\n");
      if (v > top)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"cut\">%.1fx</text>\n", x + bar_w / 2,
                y0 - 2, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xl\">", gx + bar_w * b->n_allocs / 2,
            y0 + PANEL_H + 16);
    tool_xml_text(f, w->def->name);
    fprintf(f, "</text>\n");
    if (w->mismatch)
      fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">checksum!</text>\n",
              gx + bar_w * b->n_allocs / 2, y0 + PANEL_H + 28);
  }
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"one\"/>\n", LEFT,
          y_of_1, LEFT + plot_w, y_of_1);
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", LEFT,
          y0 + PANEL_H, LEFT + plot_w, y0 + PANEL_H);
  fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"axis\"/>\n", LEFT, y0,
          LEFT, y0 + PANEL_H);
}

int report_svg(const char *path, const bench_t *b) {
  FILE *f = fopen(path, "w");
  if (!f) { perror(path); return -1; }
  /* bar width: fill at least ~760 px, within 7..26 px a bar */
  double bar_w = (760.0 - LEFT - RIGHT) / (b->n_wls ? b->n_wls : 1) - GROUP_GAP;
  bar_w /= b->n_allocs;
  if (bar_w > 26) bar_w = 26;
  if (bar_w < 7) bar_w = 7;
  double group_w = bar_w * b->n_allocs + GROUP_GAP;
  double width = LEFT + group_w * b->n_wls + RIGHT;
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
  fprintf(f, "<text x=\"%d\" y=\"24\" class=\"t\">strata bench: allocators side by side%s</text>\n",
          LEFT, b->quick ? " (quick mode)" : "");
  fprintf(f, "<text x=\"%d\" y=\"42\" class=\"s\">", LEFT);
  char info[400];
  int min_runs = b->n_runs;
  for (int i = 0; i < b->n_wls; i++)
    if (b->wls[i].n_runs < min_runs) min_runs = b->wls[i].n_runs;
  char fewer[48] = "";
  if (min_runs < b->n_runs) snprintf(fewer, sizeof fewer, ", %d for some workloads", min_runs);
  snprintf(info, sizeof info, "%s; %ld CPUs, %s", b->date, b->ncpu, b->uname);
  tool_xml_text(f, info);
  fprintf(f, "</text>\n<text x=\"%d\" y=\"56\" class=\"s\">", LEFT);
  snprintf(info, sizeof info, "medians of interleaved runs (%d per allocator%s); "
           "dashed line: glibc", b->n_runs, fewer);
  tool_xml_text(f, info);
  fprintf(f, "</text>\n");
  /* legend */
  double lx = LEFT;
  for (int a = 0; a < b->n_allocs; a++) {
    int col = b->allocs[a].color;
    fprintf(f, "<rect x=\"%.1f\" y=\"70\" width=\"14\" height=\"14\" fill=\"%s\"/>\n", lx,
            palette[col % N_PALETTE]);
    fprintf(f, "<text x=\"%.1f\" y=\"82\" class=\"lg\">", lx + 19);
    tool_xml_text(f, b->allocs[a].name);
    fprintf(f, "</text>\n");
    lx += 19 + 8.0 * (double)strlen(b->allocs[a].name) + 20;
  }
  panel(f, b, 0, TOP + 20, bar_w, group_w);
  panel(f, b, 1, TOP + 20 + PANEL_H + PANEL_GAP, bar_w, group_w);
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) { perror(path); return -1; }
  return 0;
}
