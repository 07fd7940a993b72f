/* src/tools/run.c -- `strata run [options] -- PROGRAM ARGS`: run any program
 * on strata and report, when it exits, the allocator's statistics, the
 * blocks it still holds (leaks, grouped by size), and an SVG heap map.
 *
 * How.  The program runs as our child with LD_PRELOAD=<libstrata.so>
 * (prepended to any LD_PRELOAD already set) and `report=<tmp file>`
 * appended to STRATA_OPTIONS; it keeps our stdin, stdout and stderr and
 * our process group (it is the job in the terminal; ^C reaches it, and we
 * ignore SIGINT/SIGQUIT meanwhile, like a shell).  The library writes the
 * report at exit() (src/malloc/report.c documents the format): every
 * process of the tree that calls exit() appends one, so we take the one
 * whose pid is our child's (exec keeps the pid, so a wrapper script that
 * execs the real program is fine).  No report means the program ended
 * without exit(): _exit, a signal, or it did not run on strata at all
 * (static or setuid binaries ignore LD_PRELOAD).
 *
 * Output goes to stderr (the program owns stdout): the statistics as text
 * (--stats), the leak table sorted by bytes with a total (--leaks), or one
 * JSON object with both (--json); with none of the three, stats and leaks.
 * --heap-map FILE writes the SVG (svg_heap_map below); --report FILE keeps
 * the raw report.
 *
 * Exit status: the program's own; 128+N when signal N killed it; 127 when
 * it could not be started (126: found but not executable); 2 on a usage or
 * setup error before anything ran.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools.h"

#define NCLASSES 88
#define SLICES 64
#define SLICE_SIZE ((size_t)64 << 10)

typedef struct {
  int stats, leaks, json;
  const char *heap_map, *lib, *keep_report;
  char **argv;                  /* the program and its arguments */
} run_opts_t;

/* ---------------------------------------------------------- the report */

typedef struct { unsigned long addr; unsigned long long free_mask, dirty_mask; } rseg_t;
typedef struct {
  unsigned long seg;
  int slice, n, cls;
  char kind;                    /* c a s f, as in report.c */
  unsigned long bs, live, cap, res;
} rspan_t;
typedef struct { unsigned long addr; size_t req, usable, map; } rlarge_t;
typedef struct { char kind[8]; size_t size, count, bytes; } rleak_t;

/* One process's report.  Invariant once parsed: complete == 1 iff the
 * `end` line was seen; arrays hold n_* entries (malloc'd). */
typedef struct {
  int pid, complete, truncated;
  char exe[PATH_MAX];
  char *json;                   /* the stats JSON object, or NULL */
  char *text;                   /* the stats text, lines joined */
  size_t text_len;
  rseg_t *segs; int n_segs;
  rspan_t *spans; int n_spans;
  rlarge_t *larges; int n_larges;
  rleak_t *leaks; int n_leaks;
  int others;                   /* reports of other processes in the file */
} report_t;

static void *grow(void *p, int n, size_t size) {
  if (n & (n - 1)) return p;                 /* room until the next power of two */
  void *q = realloc(p, (size_t)(n ? 2 * n : 8) * size);
  if (!q) { perror("strata run"); exit(2); }
  return q;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t k;
  while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0) {
    n += k;
    if (n == cap) {
      char *nb = realloc(buf, 2 * cap + 1);
      if (!nb) { free(buf); buf = NULL; break; }
      buf = nb;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) buf[n] = 0;
  *len = n;
  return buf;
}

/* Parse the report of process `pid` from the file's text (modified). */
static void parse_report(char *text, int pid, report_t *r) {
  memset(r, 0, sizeof *r);
  int mine = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (!strncmp(line, "strata-report ", 14)) {
      int ver = 0, p = 0, off = 0;
      if (sscanf(line + 14, "%d %d %n", &ver, &p, &off) >= 2 && ver == 1 && p == pid && !r->pid) {
        mine = 1;
        r->pid = p;
        tool_copy(r->exe, sizeof r->exe, line + 14 + off);
      } else {
        mine = 0;
        r->others++;
      }
      continue;
    }
    if (!mine) continue;
    if (!strncmp(line, "stats ", 6)) {
      free(r->json);
      r->json = strdup(line + 6);
    } else if (!strncmp(line, "text ", 5)) {
      size_t n = strlen(line + 5);
      char *t = realloc(r->text, r->text_len + n + 2);
      if (!t) continue;
      r->text = t;
      memcpy(r->text + r->text_len, line + 5, n);
      r->text_len += n;
      r->text[r->text_len++] = '\n';
      r->text[r->text_len] = 0;
    } else if (!strncmp(line, "seg ", 4)) {
      rseg_t s;
      if (sscanf(line + 4, "%lx %llx %llx", &s.addr, &s.free_mask, &s.dirty_mask) != 3) continue;
      r->segs = grow(r->segs, r->n_segs, sizeof s);
      r->segs[r->n_segs++] = s;
    } else if (!strncmp(line, "span ", 5)) {
      rspan_t s;
      if (sscanf(line + 5, "%lx %d %d %c %d %lu %lu %lu %lu", &s.seg, &s.slice, &s.n, &s.kind, &s.cls,
                 &s.bs, &s.live, &s.cap, &s.res) != 9)
        continue;
      r->spans = grow(r->spans, r->n_spans, sizeof s);
      r->spans[r->n_spans++] = s;
    } else if (!strncmp(line, "large ", 6)) {
      rlarge_t l;
      if (sscanf(line + 6, "%lx %zu %zu %zu", &l.addr, &l.req, &l.usable, &l.map) != 4) continue;
      r->larges = grow(r->larges, r->n_larges, sizeof l);
      r->larges[r->n_larges++] = l;
    } else if (!strncmp(line, "leak ", 5)) {
      rleak_t l;
      if (sscanf(line + 5, "%7s %zu %zu %zu", l.kind, &l.size, &l.count, &l.bytes) != 4) continue;
      r->leaks = grow(r->leaks, r->n_leaks, sizeof l);
      r->leaks[r->n_leaks++] = l;
    } else if (!strncmp(line, "end ", 4)) {
      int p = 0;
      unsigned long recs = 0;
      int tr = 0;
      if (sscanf(line + 4, "%d %lu %d", &p, &recs, &tr) >= 1 && p == pid) {
        r->complete = 1;
        r->truncated = tr;
      }
      mine = 0;
    }
  }
}

static void report_free(report_t *r) {
  free(r->json); free(r->text); free(r->segs); free(r->spans); free(r->larges); free(r->leaks);
}

/* A number from the flat stats JSON ("key":value), NAN when absent. */
static double json_num(const char *json, const char *key) {
  if (!json) return NAN;
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* ---------------------------------------------------------- formatting */

static void fmt_bytes(char *buf, size_t n, double v) {
  if (isnan(v)) snprintf(buf, n, "-");
  else if (v >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.1f GiB", v / (1024.0 * 1024 * 1024));
  else if (v >= 1024.0 * 1024) snprintf(buf, n, "%.1f MiB", v / (1024.0 * 1024));
  else if (v >= 1024.0) snprintf(buf, n, "%.1f KiB", v / 1024.0);
  else snprintf(buf, n, "%.0f B", v);
}

static int cmp_leak(const void *a, const void *b) {
  const rleak_t *x = a, *y = b;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
  return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static void leak_totals(const report_t *r, size_t *blocks, size_t *bytes) {
  *blocks = *bytes = 0;
  for (int i = 0; i < r->n_leaks; i++) { *blocks += r->leaks[i].count; *bytes += r->leaks[i].bytes; }
}

static void print_leaks(FILE *f, report_t *r) {
  qsort(r->leaks, (size_t)r->n_leaks, sizeof *r->leaks, cmp_leak);
  size_t blocks, bytes;
  leak_totals(r, &blocks, &bytes);
  if (r->n_leaks == 0) {
    fprintf(f, "leaks: none (every block was freed before exit)\n");
    return;
  }
  fprintf(f, "leaks: blocks still allocated at exit, by block size (large blocks: by size asked)\n");
  fprintf(f, "  %12s %10s %14s  %s\n", "size", "count", "bytes", "kind");
  for (int i = 0; i < r->n_leaks; i++)
    fprintf(f, "  %12zu %10zu %14zu  %s\n", r->leaks[i].size, r->leaks[i].count, r->leaks[i].bytes,
            r->leaks[i].kind);
  char hb[32];
  fmt_bytes(hb, sizeof hb, (double)bytes);
  fprintf(f, "  %12s %10zu %14zu  (%s in %d size%s)\n", "total", blocks, bytes, hb, r->n_leaks,
          r->n_leaks == 1 ? "" : "s");
  if (r->truncated) fprintf(f, "  (the report was truncated: the heap changed while it was written)\n");
}

static void print_json(FILE *f, const run_opts_t *o, const report_t *r, int have, int status,
                       const char *why) {
  fprintf(f, "{\"program\":");
  tool_json_str(f, o->argv[0]);
  fprintf(f, ",\"status\":%d,\"report\":%s", status, have ? "true" : "false");
  if (!have) {
    fprintf(f, ",\"why\":");
    tool_json_str(f, why);
    fprintf(f, "}\n");
    return;
  }
  fprintf(f, ",\"pid\":%d,\"exe\":", r->pid);
  tool_json_str(f, r->exe);
  fprintf(f, ",\"stats\":%s,\"leaks\":[", r->json && r->json[0] == '{' ? r->json : "null");
  for (int i = 0; i < r->n_leaks; i++)
    fprintf(f, "%s{\"kind\":\"%s\",\"size\":%zu,\"count\":%zu,\"bytes\":%zu}", i ? "," : "",
            r->leaks[i].kind, r->leaks[i].size, r->leaks[i].count, r->leaks[i].bytes);
  size_t blocks, bytes;
  leak_totals(r, &blocks, &bytes);
  fprintf(f, "],\"leak_blocks\":%zu,\"leak_bytes\":%zu,\"truncated\":%s}\n", blocks, bytes,
          r->truncated ? "true" : "false");
}

/* ---------------------------------------------------------- the heap map */

#define MAP_LEFT 150
#define MAP_CELL 11
#define MAP_PITCH 12
#define MAP_ROW 14
#define MAP_TOP 200
#define MAP_MAX_SEGS 1024
#define MAP_MAX_LARGE 128

/* Block size of class c (the class table of src/malloc/sizeclass.c: 16..128
 * by 16, then 8 classes per doubling up to 128 KiB). */
static size_t class_size(int c) {
  if (c < 8) return (size_t)(c + 1) * 16;
  int b = 7 + (c - 8) / 8, k = (c - 8) % 8;
  return ((size_t)1 << b) + (size_t)(k + 1) * ((size_t)1 << (b - 3));
}

static void hsl_hex(double h, double s, double l, char out[8]) {
  double c = (1 - fabs(2 * l - 1)) * s, hp = fmod(h, 360) / 60, x = c * (1 - fabs(fmod(hp, 2) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) { r = c; g = x; } else if (hp < 2) { r = x; g = c; } else if (hp < 3) { g = c; b = x; }
  else if (hp < 4) { g = x; b = c; } else if (hp < 5) { r = x; b = c; } else { r = c; b = x; }
  double m = l - c / 2;
  snprintf(out, 8, "#%02x%02x%02x", (int)lround((r + m) * 255), (int)lround((g + m) * 255),
           (int)lround((b + m) * 255));
}

/* The size-class ramp: blue (16 B) through green and yellow to red (128 KiB). */
static void class_color(int cls, char out[8]) {
  if (cls < 0) cls = 0;
  if (cls >= NCLASSES) cls = NCLASSES - 1;
  hsl_hex(240.0 - 240.0 * cls / (NCLASSES - 1), 0.75, 0.45, out);
}

#define COL_SETUP "#e3bde0"       /* a span its thread is setting up right now */
#define COL_LARGE "#303030"       /* large block (its own mapping) */
#define COL_DIRTY "#cfcfcf"       /* free slice, still resident */
#define COL_CLEAN "#f7f7f7"       /* free slice, given back to the OS (or never used) */
#define COL_HEADER "#7a7a7a"      /* slice 0: the segment header */

static double occ_opacity(double occ) {
  if (!(occ > 0)) occ = 0;
  if (occ > 1) occ = 1;
  return 0.12 + 0.88 * occ;
}

static int cmp_seg(const void *a, const void *b) {
  const rseg_t *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}
static int cmp_span(const void *a, const void *b) {
  const rspan_t *x = a, *y = b;
  if (x->seg != y->seg) return x->seg < y->seg ? -1 : 1;
  return x->slice - y->slice;
}
static int cmp_large(const void *a, const void *b) {
  const rlarge_t *x = a, *y = b;
  return x->map < y->map ? 1 : x->map > y->map ? -1 : 0;
}

static void legend_box(FILE *f, double x, double y, const char *fill, double op, const char *label,
                       const char *extra) {
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\" fill-opacity=\"%.2f\" "
             "stroke=\"#999\" stroke-width=\"0.5\"%s/>\n", x, y, MAP_CELL, MAP_CELL, fill, op, extra);
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\">%s</text>\n", x + MAP_CELL + 5, y + 9.5, label);
}

static int svg_heap_map(const char *path, const run_opts_t *o, report_t *r, int status) {
  FILE *f = fopen(path, "w");
  if (!f) { fprintf(stderr, "strata run: %s: %s\n", path, strerror(errno)); return -1; }
  qsort(r->segs, (size_t)r->n_segs, sizeof *r->segs, cmp_seg);
  qsort(r->spans, (size_t)r->n_spans, sizeof *r->spans, cmp_span);
  qsort(r->larges, (size_t)r->n_larges, sizeof *r->larges, cmp_large);
  int nseg = r->n_segs < MAP_MAX_SEGS ? r->n_segs : MAP_MAX_SEGS;
  int nlarge = r->n_larges < MAP_MAX_LARGE ? r->n_larges : MAP_MAX_LARGE;
  double width = MAP_LEFT + SLICES * MAP_PITCH + 30;
  double large_top = MAP_TOP + nseg * MAP_ROW + (r->n_segs > nseg ? 18 : 0) + 40;
  double height = large_top + (nlarge ? nlarge * MAP_ROW + 10 : 0) + (r->n_larges > nlarge ? 18 : 0) + 20;

  tool_svg_begin(f, width, height);
  fprintf(f, ".lg { font-size: 11px; }\n"
             ".ad { font-size: 10px; font-family: monospace; text-anchor: end; }\n"
             ".span { fill: none; stroke: #333; stroke-width: 0.7; }\n"
             ".ab { fill: none; stroke: #000; stroke-width: 1; stroke-dasharray: 2,1.5; }\n");
  tool_svg_end_style(f, width, height);

  /* title and totals */
  const char *name = r->exe[0] ? tool_basename(r->exe) : o->argv[0];
  fprintf(f, "<text x=\"20\" y=\"24\" class=\"t\">strata heap map at exit: ");
  tool_xml_text(f, name);
  fprintf(f, " (pid %d, status %d)</text>\n", r->pid, status);
  char a[32], b[32], c[32], d[32], e[32], info[512];
  fmt_bytes(a, sizeof a, json_num(r->json, "in_blocks"));
  fmt_bytes(b, sizeof b, json_num(r->json, "in_spans"));
  fmt_bytes(c, sizeof c, json_num(r->json, "large_in_use"));
  fmt_bytes(d, sizeof d, json_num(r->json, "resident"));
  size_t blocks, bytes;
  leak_totals(r, &blocks, &bytes);
  fmt_bytes(e, sizeof e, (double)bytes);
  snprintf(info, sizeof info, "%d segments, %d spans, %d large blocks; live in blocks %s, spans %s, "
           "large mapped %s; resident %s", r->n_segs, r->n_spans, r->n_larges, a, b, c, d);
  fprintf(f, "<text x=\"20\" y=\"42\" class=\"s\">");
  tool_xml_text(f, info);
  fprintf(f, "</text>\n");
  double ef = json_num(r->json, "external_frag"), inf = json_num(r->json, "internal_frag");
  snprintf(info, sizeof info, "still allocated at exit: %zu blocks, %s; waste: external %.1f%%, "
           "internal %.1f%%; one cell = one 64 KiB slice, one row = one 4 MiB segment",
           blocks, e, isnan(ef) ? 0.0 : 100 * ef, isnan(inf) ? 0.0 : 100 * inf);
  fprintf(f, "<text x=\"20\" y=\"56\" class=\"s\">");
  tool_xml_text(f, info);
  fprintf(f, "</text>\n");

  /* legend: the class ramp, the other kinds, the occupancy shading */
  fprintf(f, "<text x=\"20\" y=\"82\" class=\"h\">size class</text>\n");
  double rx = 110, ry = 72;
  for (int k = 0; k < NCLASSES; k++) {
    char col[8];
    class_color(k, col);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"12\" fill=\"%s\"/>\n", rx + 7 * k, ry, col);
  }
  static const int ticks[] = {0, 7, 15, 31, 47, 63, 79, 87};
  for (int t = 0; t < (int)(sizeof ticks / sizeof ticks[0]); t++) {
    size_t sz = class_size(ticks[t]);
    char lab[32];
    if (sz >= 1024) snprintf(lab, sizeof lab, "%zu KiB", sz >> 10);
    else snprintf(lab, sizeof lab, "%zu B", sz);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"lg\" text-anchor=\"middle\">%s</text>\n",
            rx + 7 * ticks[t] + 3.5, ry + 25, lab);
  }
  double ly = 112;
  legend_box(f, 20, ly, COL_SETUP, 1, "span being set up", "");
  legend_box(f, 450, ly, COL_LARGE, 1, "large block (region or own mapping)", "");
  legend_box(f, 640, ly, COL_HEADER, 1, "segment header", "");
  ly += 18;
  legend_box(f, 20, ly, COL_DIRTY, 1, "free slice, resident", "");
  legend_box(f, 210, ly, COL_CLEAN, 1, "free slice, returned to the OS", "");
  fprintf(f, "<rect x=\"450\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"#fff\" class=\"ab\"/>\n", ly,
          MAP_CELL, MAP_CELL);
  fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"lg\">abandoned span (its thread exited)</text>\n",
          450 + MAP_CELL + 5, ly + 9.5);
  ly += 24;
  fprintf(f, "<text x=\"20\" y=\"%.1f\" class=\"lg\">shade = occupancy (live bytes / span bytes):</text>\n", ly + 9.5);
  char mid[8];
  class_color(40, mid);
  for (int k = 0; k <= 4; k++) {
    char lab[32];
    snprintf(lab, sizeof lab, "%d%%", k * 25);
    legend_box(f, 300 + 62 * k, ly, mid, occ_opacity(k / 4.0), lab, "");
  }

  /* one row per segment */
  fprintf(f, "<text x=\"20\" y=\"%d\" class=\"h\">segments</text>\n", MAP_TOP - 8);
  int j = 0;                    /* spans and segments are both sorted by address */
  for (int i = 0; i < nseg; i++) {
    const rseg_t *s = &r->segs[i];
    double y = MAP_TOP + i * MAP_ROW;
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"ad\">%#lx</text>\n", MAP_LEFT - 8, y + 9.5, s->addr);
    fprintf(f, "<g><title>segment header</title><rect class=\"cell\" x=\"%d\" y=\"%.1f\" width=\"%d\" "
               "height=\"%d\" fill=\"%s\"/></g>\n", MAP_LEFT, y, MAP_CELL, MAP_CELL, COL_HEADER);
    for (int k = 1; k < SLICES; k++) {
      if (!((s->free_mask >> k) & 1)) continue;
      int dirty = (int)((s->dirty_mask >> k) & 1);
      fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                 "stroke=\"#e2e2e2\" stroke-width=\"0.5\"><title>free slice %d%s</title></rect>\n",
              MAP_LEFT + k * MAP_PITCH, y, MAP_CELL, MAP_CELL, dirty ? COL_DIRTY : COL_CLEAN, k,
              dirty ? " (resident)" : "");
    }
    while (j < r->n_spans && r->spans[j].seg < s->addr) j++;
    for (; j < r->n_spans && r->spans[j].seg == s->addr; j++) {
      const rspan_t *p = &r->spans[j];
      if (p->slice < 1 || p->slice + p->n > SLICES) continue;
      char col[8];
      double occ;
      const char *fill = col;
      char title[200];
      size_t span_bytes = (size_t)p->n * SLICE_SIZE;
      if (p->kind == 'f') {
        fill = COL_SETUP;
        occ = 1;
        snprintf(title, sizeof title, "span being set up by its thread");
      } else {
        class_color(p->cls, col);
        occ = (double)p->live * (double)p->bs / (double)span_bytes;
        snprintf(title, sizeof title, "class %d (%lu B blocks)%s: %lu live of %lu carved, %lu fit; "
                 "%.0f%% occupied", p->cls, p->bs, p->kind == 'a' ? ", abandoned" : "", p->live, p->cap,
                 p->res, 100 * occ);
      }
      fprintf(f, "<g><title>slices %d..%d: ", p->slice, p->slice + p->n - 1);
      tool_xml_text(f, title);
      fprintf(f, "</title>");
      for (int k = p->slice; k < p->slice + p->n; k++)
        fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"/>", MAP_LEFT + k * MAP_PITCH, y, MAP_CELL, MAP_CELL, fill,
                occ_opacity(occ));
      fprintf(f, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\"/></g>\n",
              p->kind == 'a' ? "ab" : "span", MAP_LEFT + p->slice * MAP_PITCH - 0.5, y - 0.5,
              p->n * MAP_PITCH, MAP_CELL + 1);
    }
  }
  if (r->n_segs > nseg)
    fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"s\">... and %d more segments, not drawn</text>\n",
            MAP_LEFT, MAP_TOP + nseg * MAP_ROW + 12.0, r->n_segs - nseg);

  /* large blocks: one row each, largest first */
  if (nlarge) {
    fprintf(f, "<text x=\"20\" y=\"%.1f\" class=\"h\">large blocks (one row each; one cell = 64 KiB, "
               "or 1/64 of a block above 4 MiB; shade = bytes asked / mapped)</text>\n", large_top - 10);
    for (int i = 0; i < nlarge; i++) {
      const rlarge_t *l = &r->larges[i];
      double y = large_top + i * MAP_ROW;
      size_t cells = (l->map + SLICE_SIZE - 1) / SLICE_SIZE;
      if (cells > SLICES) cells = SLICES;
      if (cells < 1) cells = 1;
      char sz[32], title[160];
      fmt_bytes(sz, sizeof sz, (double)l->map);
      fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"ad\">%s</text>\n", MAP_LEFT - 8, y + 9.5, sz);
      snprintf(title, sizeof title, "large block at %#lx: %zu bytes asked, %zu usable, %zu mapped",
               l->addr, l->req, l->usable, l->map);
      fprintf(f, "<g><title>%s</title>", title);
      double op = occ_opacity((double)l->req / (double)(l->map ? l->map : 1));
      for (size_t k = 0; k < cells; k++)
        fprintf(f, "<rect class=\"cell\" x=\"%zu\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                   "fill-opacity=\"%.2f\"/>", MAP_LEFT + k * MAP_PITCH, y, MAP_CELL, MAP_CELL, COL_LARGE, op);
      fprintf(f, "</g>\n");
    }
    if (r->n_larges > nlarge)
      fprintf(f, "<text x=\"%d\" y=\"%.1f\" class=\"s\">... and %d more large blocks, not drawn</text>\n",
              MAP_LEFT, large_top + nlarge * MAP_ROW + 12.0, r->n_larges - nlarge);
  }
  fprintf(f, "</svg>\n");
  if (fclose(f) != 0) { fprintf(stderr, "strata run: %s: %s\n", path, strerror(errno)); return -1; }
  return 0;
}

/* ---------------------------------------------------------- running */

static void usage(FILE *f) {
  fprintf(f,
    "usage: strata run [options] [--] PROGRAM [ARGS...]\n"
    "Runs PROGRAM on strata (LD_PRELOAD) and reports, when it calls exit():\n"
    "the allocator's statistics and the blocks still allocated (leaks), on stderr.\n"
    "\n"
    "  --stats          print the statistics\n"
    "  --leaks          print the leak table: blocks still allocated at exit, by\n"
    "                   size, with counts and bytes (largest bytes first)\n"
    "                   (neither --stats nor --leaks nor --json: both)\n"
    "  --json           print stats and leaks as one JSON object instead\n"
    "  --heap-map FILE  write an SVG heap map: one cell per 64 KiB slice, one row per\n"
    "                   4 MiB segment, coloured by size class, shaded by occupancy\n"
    "  --report FILE    keep the raw report (format: src/malloc/report.c)\n"
    "  --lib PATH       the library to preload (default $STRATA_LIB, else\n"
    "                   <dir of strata>/libstrata.so)\n"
    "  -h, --help       this text\n"
    "\n"
    "STRATA_OPTIONS in the environment is kept (report=... is appended).  A program\n"
    "that ends without exit() (_exit, a signal) leaves no report.  See docs/run.md.\n"
    "exit status: the program's; 128+N if signal N killed it; 127 (126) if it could\n"
    "             not be run; 2 on a usage or setup error.\n");
}

static int parse_opts(int argc, char **argv, run_opts_t *o) {
  memset(o, 0, sizeof *o);
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) { i++; break; }
    if (a[0] != '-') break;
    static const char *const with_val[] = {"--heap-map", "--lib", "--report"};
    const char *val;
    int takes = tool_opt_value(argc, argv, &i, with_val, 3, &val);
    if (takes >= 0 && (!val || !*val)) {
      fprintf(stderr, "strata run: %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--stats")) o->stats = 1;
    else if (!strcmp(a, "--leaks")) o->leaks = 1;
    else if (!strcmp(a, "--json")) o->json = 1;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
    else if (takes == 0) o->heap_map = val;
    else if (takes == 1) o->lib = val;
    else if (takes == 2) o->keep_report = val;
    else {
      fprintf(stderr, "strata run: unknown option '%s' (see strata run --help)\n", a);
      return 2;
    }
  }
  if (i >= argc) {
    fprintf(stderr, "strata run: no program given\n");
    usage(stderr);
    return 2;
  }
  o->argv = argv + i;
  if (!o->stats && !o->leaks && !o->json) o->stats = o->leaks = 1;
  return 0;
}

static volatile sig_atomic_t g_child;

static void forward_signal(int sig) {
  if (g_child > 0) kill((pid_t)g_child, sig);
}

/* A private directory for the report; its path must fit the option
 * (no ',', under 200 bytes). */
static int make_tmpdir(char *dir, size_t n) {
  const char *bases[] = {getenv("TMPDIR"), "/tmp"};
  for (int i = 0; i < 2; i++) {
    const char *b = bases[i];
    if (!b || !*b || strchr(b, ',') || strlen(b) > 150) continue;
    snprintf(dir, n, "%s/strata-run.XXXXXX", b);
    if (!mkdtemp(dir)) continue;
    if (dir[0] == '/') return 0;
    /* a relative TMPDIR: the program may chdir() before it exits */
    char abs[PATH_MAX];
    if (realpath(dir, abs) && strlen(abs) < n && strlen(abs) <= 200 && !strchr(abs, ',')) {
      snprintf(dir, n, "%s", abs);        /* the same directory, named absolutely */
      return 0;
    }
    rmdir(dir);
  }
  return -1;
}

static int copy_file(const char *from, const char *to) {
  size_t len;
  char *buf = read_file(from, &len);
  if (!buf) return -1;
  FILE *f = fopen(to, "wb");
  int ok = f && fwrite(buf, 1, len, f) == len;
  if (f && fclose(f) != 0) ok = 0;
  free(buf);
  return ok ? 0 : -1;
}

int cmd_run(int argc, char **argv) {
  run_opts_t o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;

  char lib[PATH_MAX], real[PATH_MAX];
  if (o.lib) tool_copy(lib, sizeof lib, o.lib);
  else {
    char *self = tool_self_dir();
    tool_strata_lib(self, lib, sizeof lib);
    free(self);
  }
  if (access(lib, R_OK) != 0 || !realpath(lib, real)) {
    fprintf(stderr, "strata run: strata library %s not found (build it with make, set STRATA_LIB, "
            "or give --lib)\n", lib);
    return 2;
  }
  char dir[256], report_path[300];
  if (make_tmpdir(dir, sizeof dir) != 0) {
    fprintf(stderr, "strata run: cannot create a temporary directory: %s\n", strerror(errno));
    return 2;
  }
  snprintf(report_path, sizeof report_path, "%s/report", dir);
  /* LD_PRELOAD splits its value at spaces and colons: preload a link to
   * the library from the private directory instead */
  char link_path[300] = "";
  if (strpbrk(real, " :\t")) {
    snprintf(link_path, sizeof link_path, "%s/libstrata.so", dir);
    if (strpbrk(dir, " :\t") || symlink(real, link_path) != 0) {
      fprintf(stderr, "strata run: cannot preload %s (LD_PRELOAD cannot hold a path with a space "
              "or ':')\n", real);
      rmdir(dir);
      return 2;
    }
    tool_copy(real, sizeof real, link_path);
  }

  /* the child's environment */
  const char *pre = getenv("LD_PRELOAD"), *opts = getenv("STRATA_OPTIONS");
  size_t plen = strlen(real) + (pre ? strlen(pre) : 0) + 2;
  size_t olen = (opts ? strlen(opts) : 0) + strlen(report_path) + 48;
  char *preload = malloc(plen), *options = malloc(olen);
  if (!preload || !options) { perror("strata run"); free(preload); free(options); if (link_path[0]) unlink(link_path); rmdir(dir); return 2; }
  snprintf(preload, plen, "%s%s%s", real, pre && *pre ? ":" : "", pre && *pre ? pre : "");
  snprintf(options, olen, "%s%sreport=%s", opts && *opts ? opts : "", opts && *opts ? "," : "",
           report_path);

  fflush(stdout);
  fflush(stderr);
  struct sigaction ign, fwd, old_int, old_quit, old_term, old_hup;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  memset(&fwd, 0, sizeof fwd);
  fwd.sa_handler = forward_signal;
  sigemptyset(&fwd.sa_mask);
  int ep[2];
  if (pipe2(ep, O_CLOEXEC) != 0) ep[0] = ep[1] = -1;
  /* the signals the tool handles stay blocked from before the fork until
   * the handlers are in place: a SIGTERM in between killed the tool and
   * left its directory behind (found by review) */
  sigset_t handled, old_mask;
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGQUIT);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGHUP);
  sigprocmask(SIG_BLOCK, &handled, &old_mask);
  pid_t pid = fork();
  if (pid < 0) {
    perror("strata run: fork");
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    free(preload); free(options); if (link_path[0]) unlink(link_path); rmdir(dir); return 2;
  }
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    setenv("LD_PRELOAD", preload, 1);
    /* only this process reports: its descendants would write reports
     * nobody reads, and one that outlives the tool finds the file gone */
    size_t ol = strlen(options);
    snprintf(options + ol, olen - ol, ",report_pid=%d", (int)getpid());
    setenv("STRATA_OPTIONS", options, 1);
    execvp(o.argv[0], o.argv);
    int e = errno;
    fprintf(stderr, "strata run: cannot run %s: %s\n", o.argv[0], strerror(e));
    if (ep[1] >= 0 && write(ep[1], &e, sizeof e) < 0) e = errno;
    _exit(e == ENOENT ? 127 : 126);
  }
  g_child = pid;
  int exec_failed = 0;
  if (ep[1] >= 0) {
    close(ep[1]);
    int e;
    ssize_t k;
    while ((k = read(ep[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    exec_failed = k == (ssize_t)sizeof e;
    close(ep[0]);
  }
  sigaction(SIGINT, &ign, &old_int);        /* the terminal's ^C goes to the child too */
  sigaction(SIGQUIT, &ign, &old_quit);
  sigaction(SIGTERM, &fwd, &old_term);
  sigaction(SIGHUP, &fwd, &old_hup);
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) { perror("strata run: waitpid"); status = 2 << 8; break; }
  }
  g_child = 0;
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGQUIT, &old_quit, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGHUP, &old_hup, NULL);
  free(preload);
  free(options);

  int code;
  char why[160];
  if (WIFEXITED(status)) {
    code = WEXITSTATUS(status);
    snprintf(why, sizeof why, "program ended without exit()");
  } else if (WIFSIGNALED(status)) {
    code = 128 + WTERMSIG(status);
    snprintf(why, sizeof why, "program ended without exit(): killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  } else {
    code = 2;
    snprintf(why, sizeof why, "program ended without exit()");
  }

  /* the report */
  size_t len = 0;
  char *text = read_file(report_path, &len);
  if (text && o.keep_report && copy_file(report_path, o.keep_report) != 0)
    fprintf(stderr, "strata run: cannot write %s: %s\n", o.keep_report, strerror(errno));
  unlink(report_path);
  if (link_path[0]) unlink(link_path);
  rmdir(dir);
  report_t r;
  memset(&r, 0, sizeof r);
  if (text) parse_report(text, (int)pid, &r);
  int have = r.pid == (int)pid && r.complete;
  if (r.pid == (int)pid && !r.complete) snprintf(why, sizeof why, "the report is incomplete");

  FILE *out = stderr;
  if (exec_failed && !o.json) {
    /* nothing ran: "cannot run" was said, there is no report to speak of */
  } else if (o.json) {
    print_json(out, &o, &r, have, code, why);
  } else if (!have) {
    fprintf(out, "strata run: no report (%s)", why);
    if (r.others) fprintf(out, "; %d report%s of other processes it started ignored", r.others,
                          r.others == 1 ? "" : "s");
    fprintf(out, "\n");
    if (WIFEXITED(status) && !text)
      fprintf(out, "strata run: (if it did call exit(), it did not run on strata: static and setuid "
              "programs ignore LD_PRELOAD)\n");
  } else {
    fprintf(out, "== strata run: %s (pid %d) exited with status %d\n", o.argv[0], (int)pid, code);
    if (o.stats) {
      if (r.text) fputs(r.text, out);
      else fprintf(out, "(no statistics in the report)\n");
    }
    if (o.leaks) print_leaks(out, &r);
  }
  if (o.heap_map && !exec_failed) {
    if (!have) fprintf(stderr, "strata run: no heap map written: no report\n");
    else if (svg_heap_map(o.heap_map, &o, &r, code) == 0 && !o.json)
      fprintf(out, "heap map: %s (%d segments, %d spans, %d large blocks)\n", o.heap_map, r.n_segs,
              r.n_spans, r.n_larges);
  }
  fflush(out);
  report_free(&r);
  free(text);
  /* a program ended by ^C ends the tool the same way, as a shell does, so
   * a loop in the calling shell stops too */
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) {
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
  }
  return code;
}
