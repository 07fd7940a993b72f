/* src/tools/tools.h -- shared declarations of the `strata` command.
 *
 * The command is one binary (build/strata) made of every C file in src/tools:
 *   strata.c  main: subcommand dispatch and `strata help`
 *   proc.c    running a child process (fork/exec, pipes, timeout, rusage)
 *             and small helpers (where the binary lives, medians, formats)
 *   bench.c   `strata bench`: options, discovery of allocators and
 *             workloads, the interleaved runs, the statistics
 *   report.c  the text tables, the summary, JSON and Markdown
 *   svg.c     the SVG bar charts (and the XML escaper run.c shares)
 *   benchgc.c `strata bench gc`: the collector benchmarks against Boehm:
 *             options, the interleaved runs, the --raw file and --report
 *   benchgc_report.c  its statistics, issue 5's targets, the tables, JSON
 *             and the chart (benchgc.h: what the two share)
 *   run.c     `strata run`: a program on strata, its exit report (statistics,
 *             leaks) and the SVG heap map
 *
 * It is not linked against strata: every allocator, strata included, is
 * loaded into a child process with LD_PRELOAD.
 */
#ifndef STRATA_TOOLS_H
#define STRATA_TOOLS_H

#include <stddef.h>
#include <stdio.h>

/* ------------------------------------------------------------ proc.c */

/* A command to run.  argv[0] is executed as given (execvp: a bare name is
 * looked up in PATH).  env_set entries are "NAME=VALUE", env_unset entries
 * are names; both are applied in the child only, unset first.  Either list
 * may be NULL or NULL-terminated.  timeout_s > 0: the child's whole process
 * group is killed (SIGKILL) that many seconds after the start. */
typedef struct {
  char *const *argv;
  const char *cwd;              /* NULL: inherit */
  const char *const *env_set;
  const char *const *env_unset;
  double timeout_s;
} tool_cmd_t;

/* What became of a command.  Invariants after tool_run() returns 0:
 * out is NUL-terminated, out_len == strlen-or-less of the bytes captured
 * (stdout beyond TOOL_OUT_MAX is dropped, out_truncated set); err holds the
 * LAST bytes the child wrote to stderr (at most TOOL_ERR_MAX), NUL-terminated;
 * exactly one of exited / signaled is set unless exec_failed;
 * timed_out implies signaled (we killed it). */
#define TOOL_OUT_MAX (64 * 1024)
#define TOOL_ERR_MAX 2048
typedef struct {
  int exited, code;             /* normal exit and its status */
  int signaled, sig;            /* killed by a signal */
  int timed_out;                /* we killed it at the timeout */
  int exec_failed;              /* fork or exec did not work (code 127) */
  int leftovers;                /* processes it left running (we killed them) */
  double elapsed;               /* seconds from fork to exit */
  long maxrss_kb;               /* wait4 rusage of the child (not grandchildren) */
  char *out;                    /* captured stdout (malloc'd) */
  size_t out_len;
  int out_truncated;
  char err[TOOL_ERR_MAX + 1];   /* tail of stderr */
} tool_proc_t;

/* Run cmd and wait for it.  Returns 0 when the child could be started and
 * was reaped (look at the result fields), -1 on a setup failure (errno).
 * The caller frees res->out.  While it runs, SIGINT/SIGTERM to the tool
 * kill the child's process group first. */
int tool_run(const tool_cmd_t *cmd, tool_proc_t *res);

/* Directory of the running binary (from /proc/self/exe), malloc'd. */
char *tool_self_dir(void);
/* The strata library to preload: $STRATA_LIB when set, else
 * <self_dir>/libstrata.so (not checked), into buf[n]. */
void tool_strata_lib(const char *self_dir, char *buf, size_t n);
const char *tool_basename(const char *path);
double tool_now(void);                      /* CLOCK_MONOTONIC seconds */
double tool_median(double *v, int n);       /* sorts v; NAN when n == 0 */
double tool_min(const double *v, int n);
double tool_max(const double *v, int n);
/* Human number: 1.23M, 45.6k, 0.123 ... (NAN prints "-"). */
void tool_fmt_num(char *buf, size_t n, double v);
/* Copy src into dst[n], truncating; always NUL-terminates. */
void tool_copy(char *dst, size_t n, const char *src);
int tool_isatty_stderr(void);
/* Is argv[*i] one of the n options in names, given as "--opt value" or
 * "--opt=value"?  Returns its index (and advances *i past a separate value)
 * or -1; *val is the value, NULL when missing. */
int tool_opt_value(int argc, char **argv, int *i, const char *const *names, int n, const char **val);
/* Decimal int in [lo, hi] into *out: 0, or -1 when s is not one. */
int tool_parse_int(const char *s, int lo, int hi, int *out);
/* Is the comma list `list` naming `name`? */
int tool_in_list(const char *list, const char *name);
/* Append a malloc'd, printf-formatted string to the list *list of *n
 * (nothing on allocation failure). */
__attribute__((format(printf, 3, 4)))
void tool_strlist_add(char ***list, int *n, const char *fmt, ...);
/* A one-line notice: to stderr as "who: text", and kept in the list for
 * the report. */
__attribute__((format(printf, 4, 5)))
void tool_notice(const char *who, char ***list, int *n, const char *fmt, ...);
/* Result lines "k=v k=v ...": copy the value of key into out[n] (1 if
 * found), or read it as a number (1 if it is one). */
int tool_kv_get(const char *line, const char *key, char *out, size_t n);
int tool_kv_num(const char *line, const char *key, double *v);
/* The last line of text starting with prefix (NULL: none); *count says
 * how many there are. */
const char *tool_find_line(const char *text, const char *prefix, int *count);
/* The last non-empty line of s (a stderr tail) into out[n]. */
void tool_last_line(const char *s, char *out, size_t n);
/* Why a finished command failed (could not start, timeout, signal, exit
 * status; with the last line of its stderr) into why[n]: 1, or 0 (why
 * empty) when it exited 0. */
int tool_proc_why(const tool_proc_t *res, double timeout_s, char *why, size_t n);

/* ------------------------------------------------------------ bench.c */

#define BENCH_MAX_ALLOCS 8
#define BENCH_MAX_WORKLOADS 32
#define BENCH_MAX_RUNS 101

/* One allocator under test.  Invariants: name is unique among the
 * allocators of a bench; lib == NULL exactly for "glibc" (no preload, which
 * is also how glibc is recognised); otherwise lib is a readable file.
 * is_peer is 1 only for jemalloc/tcmalloc/mimalloc, the allocators that
 * compete for "best peer".  A run is valid only if the workload reports a
 * malloc_lib equal to basename(lib) or basename(lib_real) ("libc.so..."
 * for glibc). */
typedef struct {
  char name[32];
  char *lib;
  char *lib_real;               /* realpath(lib), for the malloc_lib check */
  int is_peer;
  int color;                    /* index into the chart palette */
} bench_alloc_t;

/* Kind of workload: a mode of build/bench/workloads, or a script
 * bench/real/NAME.sh running a real program. */
typedef enum { WL_SYNTH, WL_REAL } wl_kind_t;

/* One entry of the workload table (bench.c).  Invariants: name is unique
 * in the table; prog is the workloads mode or the script's base name;
 * threads > 0 fixed count, 0 the workload's default, THREADS_CPU k means
 * k x (number of CPUs, or --threads N) ; ops/quick_ops are strings passed
 * as the OPS argument: "0" = workload default, "/N" = its default divided
 * by N (read from `workloads --help`).  Real workloads ignore threads/ops
 * and run in quick mode only if in_quick.  quick_runs > 0: runs per
 * allocator in quick mode unless --runs is given (for workloads that take
 * long whatever their op count). */
#define THREADS_CPU(k) (-(k))
typedef struct {
  const char *name;
  const char *prog;
  wl_kind_t kind;
  int threads;
  const char *ops, *quick_ops;
  int in_quick, quick_runs;
  const char *what;
} wl_def_t;

/* One run of one workload under one allocator.  Invariant: ok == 1 means
 * exit status 0, exactly one result line, the expected malloc_lib, and
 * secs > 0; then secs/rss_kb/figure/check are from that line.  ok == 0:
 * why[] says what went wrong (and nothing else is meaningful, except
 * elapsed). */
typedef struct {
  int ok, ran;
  double secs, rss_kb, figure, elapsed;
  char check[40];
  char why[200];
} bench_run_t;

/* Statistics of one (workload, allocator) cell, over its ok runs only.
 * n_ok == 0: every double is NAN.  Ratios are NAN when the reference cell
 * is missing (no glibc result, no peer).  *_vs_best is against the best
 * peer of the workload (lowest median of the same measure). */
typedef struct {
  int n_ok, n_fail;
  double t_med, t_min, t_max;
  double rss_med, rss_min, rss_max;
  double fig_med;
  double t_vs_glibc, t_vs_best, rss_vs_glibc, rss_vs_best;
} bench_cell_t;

/* One workload of a bench, with every run.  runs[a * n_runs + r] is run r
 * of allocator a (1 <= n_runs <= BENCH_MAX_RUNS).  threads/ops are what the first ok run reported (0 when
 * none).  best_t/best_rss are indices of the best peer allocators (-1:
 * no peer has a result).  mismatch: check_stable was claimed and the check
 * values differ between runs. */
typedef struct {
  const wl_def_t *def;
  char threads_arg[16], ops_arg[32];   /* what was passed (synthetic) */
  long threads;
  char ops[32];
  char figure_name[48];
  int figure_higher;                   /* 1: higher is better */
  int check_stable, mismatch;
  int n_runs;
  bench_run_t *runs;
  bench_cell_t cell[BENCH_MAX_ALLOCS];
  int best_t, best_rss;
} bench_wl_t;

/* Geometric means of one allocator over the workloads where both it and
 * the reference have a result; n_* count those workloads. */
typedef struct {
  double t_vs_glibc, rss_vs_glibc, t_vs_best, rss_vs_best;
  int n_glibc, n_best;
} bench_geo_t;

/* A whole bench.  Invariants: allocs[0] is glibc; n_runs is the default
 * runs per (workload, allocator), total_runs the sum over workloads; n_allocs <= MAX_ALLOCS;
 * strata < 0 when strata is not run; failures holds one malloc'd string
 * per failed run or checksum mismatch (n_failures of them); the target
 * fields are meaningful only when strata >= 0 and a peer was run. */
typedef struct {
  bench_alloc_t allocs[BENCH_MAX_ALLOCS];
  int n_allocs, strata, n_peers;
  bench_wl_t wls[BENCH_MAX_WORKLOADS];
  int n_wls, n_runs, total_runs, quick;
  long ncpu;
  double load_start[3], load_end[3];
  char date[64], uname[256];
  double started, elapsed;
  char **failures;
  int n_failures;
  char **notices;                      /* skipped allocators/workloads */
  int n_notices;
  bench_geo_t geo[BENCH_MAX_ALLOCS];
  /* targets for strata vs the best peer */
  int has_targets, target_time_ok, target_rss_ok, target_worst_ok;
  char worst_list[1024];               /* "larson-2x time 1.31x, ..." */
} bench_t;

#define TARGET_TIME_GEO 0.95
#define TARGET_RSS_GEO 1.00
#define TARGET_WORST 1.25

int cmd_bench(int argc, char **argv);

/* ------------------------------------------------------------ benchgc.c */

int cmd_bench_gc(int argc, char **argv);   /* `strata bench gc` */

/* ------------------------------------------------------------ report.c */

void report_header(FILE *f, const bench_t *b);
void report_workload(FILE *f, const bench_t *b, const bench_wl_t *w);
void report_summary(FILE *f, const bench_t *b);
int report_json(const char *path, const bench_t *b);
int report_md(const char *path, const bench_t *b);
/* JSON: a string, quoted and escaped; a number, or null for NAN/inf.
 * Markdown: text for a table cell ('|' escaped). */
int tool_utf8_len(const unsigned char *p);   /* 0: not a UTF-8 sequence there */
void tool_json_str(FILE *f, const char *s);
void tool_json_num(FILE *f, double v);
void tool_json_strlist(FILE *f, char **list, int n);   /* [ "...", ... ] */
void tool_md_text(FILE *f, const char *s);

/* ------------------------------------------------------------ svg.c */

/* A grouped bar chart of ratios to a reference, two panels one above the
 * other.  Invariants: v and tip (when not NULL) of each panel have
 * n_groups * n_series entries, bar (g, s) at g * n_series + s; NAN is "no
 * result"; colors are palette indices, one per series; flag (may be NULL)
 * has n_groups entries, and a set one prints flag_text under the group. */
#define TOOL_TIP_MAX 200
typedef struct {
  const char *heading;            /* "Time (median)" */
  const double *v;
  const char (*tip)[TOOL_TIP_MAX];
} tool_chart_panel_t;
typedef struct {
  const char *title, *line1, *line2;   /* line1/line2: subtitles, may be NULL */
  const char *ref;                     /* what 1.0 is */
  int n_groups, n_series;
  const char *const *groups, *const *series;
  const int *colors, *flag;
  const char *flag_text;
  tool_chart_panel_t panel[2];
} tool_chart_t;
int tool_svg_chart(const char *path, const tool_chart_t *c);
int report_svg(const char *path, const bench_t *b);
void tool_svg_begin(FILE *f, double width, double height);      /* header, shared styles */
void tool_svg_end_style(FILE *f, double width, double height);  /* </style>, background */
/* Write s with the XML special characters escaped (text and attributes). */
void tool_xml_text(FILE *f, const char *s);

/* ------------------------------------------------------------ run.c */

int cmd_run(int argc, char **argv);

#endif
