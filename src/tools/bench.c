/* src/tools/bench.c -- `strata bench`: every workload under every allocator
 * found on the machine, side by side, interleaved run by run.
 *
 * For each workload, for each of R rounds, every allocator runs once, in
 * the order A B C ... in even rounds and ... C B A in odd rounds, so a slow
 * drift of a noisy machine (another job starting, thermal throttling) hits
 * every allocator alike.  Every run is a fresh process: synthetic
 * workloads are `<bin dir>/workloads NAME THREADS OPS` with LD_PRELOAD set
 * (or removed, for glibc); real-program workloads are `sh
 * bench/real/NAME.sh` from the repository root with BENCH_PRELOAD=<lib or
 * empty>, BENCH_BIN_DIR and BENCH_QUICK=1 in quick mode (the script does
 * its own preloading, so the shell itself never runs on the allocator).
 *
 * A run is good when the child exits 0 within CHILD_TIMEOUT_S, prints
 * exactly one line starting with "workload=", that line has secs > 0,
 * peak_rss_kb and check, and its malloc_lib is the allocator asked for
 * (ld.so only warns about a bad LD_PRELOAD path and carries on with glibc,
 * so without this check a typo would give a "strata" column that is glibc).
 * When the workload says check_stable=1, its check value must be the same
 * in every run under every allocator ("CHECKSUM MISMATCH" otherwise).
 * Any bad run makes the exit status 1; a ratio never does.
 *
 * The statistics (medians, ratios, geometric means, targets) are computed
 * here; report.c and svg.c only format them.  docs/bench.md explains the
 * method.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define CHILD_TIMEOUT_S 120.0
#define QUICK_RUNS 3
#define DEFAULT_RUNS 5

/* The workloads, in the order they run and are reported.  Synthetic ones
 * that `workloads list` does not print and real ones whose script is
 * missing are skipped with a notice (the set is still growing).  Quick op
 * counts aim at ~0.1-0.2 s per run under glibc on a 2-core machine, so
 * that quick mode with 5 allocators x 3 runs stays under a minute;
 * "/8" means the workload's own default divided by 8.  frag idles 2 s
 * per run whatever its size, and a real program takes 2-4 s even with
 * BENCH_QUICK=1, so in quick mode they get one run per allocator, and only
 * one real program (python) runs. */
static const wl_def_t wl_table[] = {
  /* name        prog          kind      threads         ops  quick  inq qruns */
  {"churn",      "churn",      WL_SYNTH, 0,              "0", "3M",  1, 0,
   "1-thread small-object churn in a window of live blocks"},
  {"larson",     "larson",     WL_SYNTH, THREADS_CPU(1), "0", "1500k", 1, 0,
   "server-style: threads replace blocks, short-lived threads; one per core"},
  {"larson-2x",  "larson",     WL_SYNTH, THREADS_CPU(2), "0", "1500k", 1, 0,
   "larson with twice as many threads as cores"},
  {"xthread",    "xthread",    WL_SYNTH, 0,              "0", "2M",  1, 0,
   "producer/consumer: every free is remote"},
  {"falseshare", "falseshare", WL_SYNTH, 0,              "0", "/10", 1, 0,
   "small objects made by one thread, re-malloc'ed and written hard by workers"},
  {"threads",    "threads",    WL_SYNTH, 0,              "0", "/12", 1, 0,
   "threads come and go and leave blocks behind"},
  {"order",      "order",      WL_SYNTH, 0,              "0", "/8",  1, 0,
   "small blocks freed in reverse, then in FIFO order"},
  {"realloc",    "realloc",    WL_SYNTH, 0,              "0", "30k", 1, 0,
   "vectors growing by realloc"},
  {"large",      "large",      WL_SYNTH, 0,              "0", "/8",  1, 0,
   "large blocks (128 KiB..8 MiB): mapping, reuse, return to the OS"},
  {"frag",       "frag",       WL_SYNTH, 0,              "0", "/32", 1, 1,
   "fragmentation: RSS after most, then all blocks are freed (idles 2 s)"},
  {"mixed",      "mixed",      WL_SYNTH, 0,              "0", "1M",  1, 0,
   "server-like size mix with cross-thread frees"},
  {"redis",      "redis",      WL_REAL,  0,              "0", "0",   0, 0,
   "redis-server under a benchmark client"},
  {"sqlite",     "sqlite",     WL_REAL,  0,              "0", "0",   0, 0,
   "sqlite3 running a SQL script"},
  {"python",     "python",     WL_REAL,  0,              "0", "0",   1, 1,
   "python3 (PYTHONMALLOC=malloc) allocation-heavy script"},
  {"lua",        "lua",        WL_REAL,  0,              "0", "0",   0, 0,
   "lua script building tables and strings"},
};
#define N_WL_TABLE (int)(sizeof wl_table / sizeof wl_table[0])

/* Allocators we know by name.  lib NULL: glibc; "" : strata (found next to
 * the binary). */
static const struct {
  const char *name, *lib, *package;
  int is_peer;
} known_allocs[] = {
  {"glibc", NULL, NULL, 0},
  {"strata", "", NULL, 0},
  {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "libjemalloc-dev", 1},
  {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "libgoogle-perftools-dev", 1},
  {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "libmimalloc-dev", 1},
};
#define N_KNOWN_ALLOCS (int)(sizeof known_allocs / sizeof known_allocs[0])

/* Options of one invocation. */
typedef struct {
  int quick, runs, threads, verbose;
  const char *only, *alloc, *json, *md, *svg;
} bench_opts_t;

static void usage(FILE *f) {
  fprintf(f,
    "usage: strata bench [options]\n"
    "       strata bench gc [options]   the garbage collector against the Boehm GC\n"
    "                                   (`strata bench gc --help`, docs/gc-bench.md)\n"
    "Runs every workload under glibc, strata and the peer allocators installed\n"
    "(jemalloc, tcmalloc, mimalloc), interleaved run by run, and reports medians\n"
    "and ratios against glibc and against the best peer.  See docs/bench.md.\n"
    "\n"
    "  --quick          small op counts, 3 runs (1 for frag and the real program),\n"
    "                   one real program: under a minute on 2 cores\n"
    "  --only LIST      only these workloads (comma list; 'larson' also picks larson-2x)\n"
    "  --runs N         runs per allocator and workload (default 5, quick 3)\n"
    "  --alloc LIST     allocators (comma list of glibc,strata,jemalloc,tcmalloc,\n"
    "                   mimalloc or NAME=/path/lib.so); glibc always runs\n"
    "  --threads N      threads for every synthetic workload (larson-2x: 2N)\n"
    "  --json FILE      write the results as JSON\n"
    "  --md FILE        write the results as Markdown\n"
    "  --svg FILE       write a bar chart (time and peak RSS vs glibc) as SVG\n"
    "  -v               print every run's result line\n"
    "  -h, --help       this text\n"
    "\n"
    "environment: STRATA_LIB    the strata library (default <dir of strata>/libstrata.so)\n"
    "             BENCH_BIN_DIR where `workloads` is (default <dir of strata>/bench)\n"
    "             STRATA_BENCH_TIMEOUT seconds before a run is killed (default 120)\n"
    "exit status: 0 all runs good; 1 a run failed (crash, timeout, wrong\n"
    "             allocator, bad output, checksum mismatch); 2 usage or setup error.\n"
    "             Never nonzero because of a ratio.\n"
    "\nworkloads:\n");
  for (int i = 0; i < N_WL_TABLE; i++)
    fprintf(f, "  %-11s %-5s %s%s\n", wl_table[i].name,
            wl_table[i].kind == WL_REAL ? "real" : "synth", wl_table[i].what,
            wl_table[i].kind == WL_REAL && wl_table[i].in_quick ? " (also in --quick)" : "");
}

#define notice(b, ...) tool_notice("strata bench", &(b)->notices, &(b)->n_notices, __VA_ARGS__)

static int add_alloc(bench_t *b, const char *name, const char *lib, int is_peer) {
  if (b->n_allocs >= BENCH_MAX_ALLOCS) {
    fprintf(stderr, "strata bench: too many allocators (max %d)\n", BENCH_MAX_ALLOCS);
    return -1;
  }
  for (int i = 0; i < b->n_allocs; i++)
    if (!strcmp(b->allocs[i].name, name)) return 0;      /* listed twice */
  bench_alloc_t *a = &b->allocs[b->n_allocs];
  snprintf(a->name, sizeof a->name, "%s", name);
  a->lib = lib ? strdup(lib) : NULL;
  char real[PATH_MAX];
  a->lib_real = lib && realpath(lib, real) ? strdup(real) : NULL;
  a->is_peer = is_peer;
  a->color = b->n_allocs;
  for (int k = 0; k < N_KNOWN_ALLOCS; k++)
    if (!strcmp(known_allocs[k].name, name)) a->color = k;
  if (a->color >= N_KNOWN_ALLOCS) a->color = N_KNOWN_ALLOCS + (b->n_allocs % 3);
  if (!strcmp(name, "strata")) b->strata = b->n_allocs;
  if (is_peer) b->n_peers++;
  b->n_allocs++;
  return 0;
}

/* Fill b->allocs from --alloc (or everything found).  Returns 0 or 2. */
static int find_allocs(bench_t *b, const bench_opts_t *o, const char *self_dir) {
  b->strata = -1;
  add_alloc(b, "glibc", NULL, 0);
  char strata_lib[PATH_MAX];
  tool_strata_lib(self_dir, strata_lib, sizeof strata_lib);

  if (o->alloc) {       /* custom NAME=PATH entries and unknown names */
    char *copy = strdup(o->alloc), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(t, '=');
      int known = 0;
      for (int k = 0; k < N_KNOWN_ALLOCS; k++) known |= !strcmp(t, known_allocs[k].name);
      if (eq && eq != t && eq[1]) {
        *eq = 0;
        if (access(eq + 1, R_OK) != 0) {
          fprintf(stderr, "strata bench: %s: cannot read %s\n", t, eq + 1);
          return 2;
        }
      } else if (!known) {
        fprintf(stderr, "strata bench: unknown allocator '%s' (known: glibc strata "
                "jemalloc tcmalloc mimalloc, or NAME=/path/lib.so)\n", t);
        return 2;
      }
    }
    free(copy);
  }
  for (int k = 1; k < N_KNOWN_ALLOCS; k++) {
    const char *name = known_allocs[k].name;
    if (o->alloc && !tool_in_list(o->alloc, name)) continue;
    const char *lib = known_allocs[k].lib;
    if (!*lib) {
      if (access(strata_lib, R_OK) != 0) {
        fprintf(stderr, "strata bench: strata library %s not found (build it with make, "
                "set STRATA_LIB, or leave strata out with --alloc)\n", strata_lib);
        return 2;
      }
      char real[PATH_MAX];
      lib = realpath(strata_lib, real) ? real : strata_lib;
      if (add_alloc(b, name, lib, 0)) return 2;
    } else if (access(lib, R_OK) != 0) {
      notice(b, "%s not installed (package %s; `make peers` installs it): skipped",
             name, known_allocs[k].package);
    } else if (add_alloc(b, name, lib, known_allocs[k].is_peer)) {
      return 2;
    }
  }
  if (o->alloc) {
    char *copy = strdup(o->alloc), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(t, '=');
      if (!eq) continue;
      *eq = 0;
      char real[PATH_MAX];
      int peer = 0;               /* jemalloc=/other/build.so is still a peer */
      for (int k = 0; k < N_KNOWN_ALLOCS; k++)
        if (!strcmp(t, known_allocs[k].name)) peer = known_allocs[k].is_peer;
      if (!strcmp(t, "glibc")) {
        fprintf(stderr, "strata bench: glibc=PATH: glibc is the system malloc, run without a preload\n");
        return 2;
      }
      if (add_alloc(b, t, realpath(eq + 1, real) ? real : eq + 1, peer)) return 2;
    }
    free(copy);
  }
  return 0;
}

/* Run `workloads ARG` plainly and return its stdout (malloc'd) or NULL. */
static char *workloads_query(const char *wl_bin, const char *arg) {
  char *argv[] = {(char *)wl_bin, (char *)arg, NULL};
  const char *unset[] = {"LD_PRELOAD", NULL};
  tool_cmd_t cmd = {argv, NULL, NULL, unset, 20};
  tool_proc_t res;
  if (tool_run(&cmd, &res) != 0) return NULL;
  if (!res.exited || res.code != 0) { free(res.out); return NULL; }
  return res.out;
}

/* The default op count of `name` from `workloads --help` lines of the form
 * "  NAME threads=T ops=N  ...".  0 when not found. */
static unsigned long long default_ops(const char *help, const char *name) {
  size_t n = strlen(name);
  for (const char *p = help; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    const char *q = p;
    while (*q == ' ') q++;
    if (strncmp(q, name, n) != 0 || (q[n] != ' ' && q[n] != '\t')) continue;
    const char *eol = strchr(q, '\n');
    const char *o = strstr(q, " ops=");
    if (o && (!eol || o < eol)) return strtoull(o + 5, NULL, 10);
  }
  return 0;
}

/* Does `name` appear as a whole line of `list`? */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, name, n) && (p[n] == '\n' || p[n] == 0 || p[n] == '\r')) return 1;
  return 0;
}

/* Fill b->wls.  Returns 0 or 2. */
static int find_workloads(bench_t *b, const bench_opts_t *o, const char *wl_bin,
                          const char *repo) {
  if (o->only) {
    char *copy = strdup(o->only), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
      int found = 0;
      for (int i = 0; i < N_WL_TABLE; i++)
        found |= !strcmp(t, wl_table[i].name) || !strcmp(t, wl_table[i].prog);
      if (!found) {
        fprintf(stderr, "strata bench: unknown workload '%s' (see strata bench --help)\n", t);
        return 2;
      }
    }
    free(copy);
  }
  char *list = NULL, *help = NULL;
  int bin_ok = access(wl_bin, X_OK) == 0;
  if (bin_ok) {
    list = workloads_query(wl_bin, "list");
    help = workloads_query(wl_bin, "--help");
  }
  int warned_bin = 0;
  for (int i = 0; i < N_WL_TABLE; i++) {
    const wl_def_t *d = &wl_table[i];
    if (o->only && !tool_in_list(o->only, d->name) && !tool_in_list(o->only, d->prog)) continue;
    if (!o->only && o->quick && d->kind == WL_REAL && !d->in_quick) continue;
    if (d->kind == WL_SYNTH) {
      if (!bin_ok || !list) {
        if (!warned_bin++)
          notice(b, "workloads binary %s %s: synthetic workloads skipped", wl_bin,
                 bin_ok ? "does not answer `list`" : "not found (build it with make)");
        continue;
      }
      if (!listed(list, d->prog)) {
        notice(b, "workload %s: %s does not know it yet: skipped", d->name, wl_bin);
        continue;
      }
    } else {
      char path[PATH_MAX + 64];
      snprintf(path, sizeof path, "%s/bench/real/%s.sh", repo, d->prog);
      if (access(path, R_OK) != 0) {
        notice(b, "workload %s: no script %s: skipped", d->name, path);
        continue;
      }
    }
    if (b->n_wls >= BENCH_MAX_WORKLOADS) break;
    bench_wl_t *w = &b->wls[b->n_wls++];
    memset(w, 0, sizeof *w);
    w->def = d;
    w->best_t = w->best_rss = -1;
    long base = o->threads > 0 ? o->threads : b->ncpu;
    long th = d->threads > 0 ? d->threads
            : d->threads < 0 ? -d->threads * base
            : o->threads > 0 ? o->threads : 0;
    snprintf(w->threads_arg, sizeof w->threads_arg, "%ld", th);
    const char *ops = o->quick ? d->quick_ops : d->ops;
    if (ops[0] == '/') {
      unsigned long long def = help ? default_ops(help, d->prog) : 0;
      unsigned long long div = strtoull(ops + 1, NULL, 10);
      if (def && div) snprintf(w->ops_arg, sizeof w->ops_arg, "%llu", def / div ? def / div : 1);
      else snprintf(w->ops_arg, sizeof w->ops_arg, "0");
    } else {
      snprintf(w->ops_arg, sizeof w->ops_arg, "%s", ops);
    }
    w->n_runs = o->quick && !o->runs && d->quick_runs ? d->quick_runs : b->n_runs;
    b->total_runs += w->n_runs * b->n_allocs;
    w->runs = calloc((size_t)b->n_allocs * (size_t)w->n_runs, sizeof *w->runs);
    if (!w->runs) { perror("strata bench"); return 2; }
  }
  free(list);
  free(help);
  return 0;
}

static int lib_matches(const bench_alloc_t *a, const char *reported) {
  if (!a->lib) return !strncmp(reported, "libc.so", 7) || !strncmp(reported, "libc-", 5);
  if (!strcmp(reported, tool_basename(a->lib))) return 1;
  return a->lib_real && !strcmp(reported, tool_basename(a->lib_real));
}

typedef struct {
  const char *wl_bin, *bin_dir, *repo;
  int verbose;
  double timeout;                      /* seconds per run */
} run_env_t;

/* One run of workload w under allocator a; fills *run. */
static void run_one(bench_t *b, bench_wl_t *w, const bench_alloc_t *a, const run_env_t *e,
                    bench_run_t *run) {
  memset(run, 0, sizeof *run);
  run->ran = 1;
  char env_preload[PATH_MAX + 16], env_bin[PATH_MAX + 16], script[PATH_MAX];
  const char *set[4] = {NULL}, *unset[3] = {NULL};
  char *argv[5] = {NULL};
  int ns = 0, nu = 0;
  if (w->def->kind == WL_SYNTH) {
    argv[0] = (char *)e->wl_bin;
    argv[1] = (char *)w->def->prog;
    argv[2] = w->threads_arg;
    argv[3] = w->ops_arg;
    if (a->lib) {
      snprintf(env_preload, sizeof env_preload, "LD_PRELOAD=%s", a->lib);
      set[ns++] = env_preload;
    } else {
      unset[nu++] = "LD_PRELOAD";
    }
  } else {
    snprintf(script, sizeof script, "bench/real/%s.sh", w->def->prog);
    argv[0] = "sh";
    argv[1] = script;
    snprintf(env_preload, sizeof env_preload, "BENCH_PRELOAD=%s", a->lib ? a->lib : "");
    snprintf(env_bin, sizeof env_bin, "BENCH_BIN_DIR=%s", e->bin_dir);
    set[ns++] = env_preload;
    set[ns++] = env_bin;
    set[ns++] = b->quick ? "BENCH_QUICK=1" : "BENCH_QUICK=0";
    unset[nu++] = "LD_PRELOAD";
  }
  tool_cmd_t cmd = {argv, w->def->kind == WL_REAL ? e->repo : NULL, set, unset, e->timeout};
  tool_proc_t res;
  if (tool_run(&cmd, &res) != 0) {
    snprintf(run->why, sizeof run->why, "cannot start: %s", strerror(errno));
    free(res.out);
    return;
  }
  run->elapsed = res.elapsed;
  if (res.leftovers)
    fprintf(stderr, "strata bench: %s under %s left %d process%s running (killed)\n",
            w->def->name, a->name, res.leftovers, res.leftovers == 1 ? "" : "es");
  char tail[120];
  tool_last_line(res.err, tail, sizeof tail);
  tool_proc_why(&res, e->timeout, run->why, sizeof run->why);
  if (run->why[0]) { free(res.out); return; }

  /* exactly one result line */
  int n_lines;
  const char *line = tool_find_line(res.out, "workload=", &n_lines);
  char lib[128] = "", fig_name[48] = "", better[16] = "", stable[8] = "";
  double secs = 0, rss = 0, fig = NAN;
  if (n_lines != 1) {
    snprintf(run->why, sizeof run->why, "%d result lines (want exactly 1)%s%s", n_lines,
             *tail ? "; stderr: " : "", tail);
  } else if (!tool_kv_num(line, "secs", &secs) || !(secs > 0) ||
             !tool_kv_num(line, "peak_rss_kb", &rss) || !tool_kv_get(line, "check", run->check,
                                                            sizeof run->check) ||
             !tool_kv_get(line, "malloc_lib", lib, sizeof lib)) {
    snprintf(run->why, sizeof run->why, "result line lacks secs/peak_rss_kb/check/malloc_lib");
  } else if (!lib_matches(a, lib)) {
    snprintf(run->why, sizeof run->why, "malloc came from '%s', not %s (preload not effective?)",
             lib, a->lib ? tool_basename(a->lib) : "libc.so.6");
  }
  if (e->verbose && line) {
    size_t len = strcspn(line, "\n");
    fprintf(stderr, "  [%s] %.*s\n", a->name, (int)len, line);
  }
  if (run->why[0] || line == NULL) { free(res.out); return; }   /* no line: why is set */

  if (tool_kv_get(line, "figure_name", fig_name, sizeof fig_name)) {
    tool_kv_num(line, "figure", &fig);
    tool_kv_get(line, "figure_better", better, sizeof better);
  } else {
    snprintf(fig_name, sizeof fig_name, "ops_per_sec");
    snprintf(better, sizeof better, "higher");
    tool_kv_num(line, "ops_per_sec", &fig);
  }
  if (!w->figure_name[0]) {
    snprintf(w->figure_name, sizeof w->figure_name, "%s", fig_name);
    w->figure_higher = strcmp(better, "lower") != 0;
    char buf[32];
    if (tool_kv_get(line, "threads", buf, sizeof buf)) w->threads = atol(buf);
    tool_kv_get(line, "ops", w->ops, sizeof w->ops);
  }
  if (tool_kv_get(line, "check_stable", stable, sizeof stable) && !strcmp(stable, "1"))
    w->check_stable = 1;
  run->secs = secs;
  run->rss_kb = rss;
  run->figure = fig;
  run->ok = 1;
  free(res.out);
}

static double ratio(double x, double ref) {
  return (isnan(x) || isnan(ref) || !(ref > 0)) ? NAN : x / ref;
}

/* Cells, best peers and checksum agreement of one finished workload. */
static void analyse_workload(bench_t *b, bench_wl_t *w) {
  double t[BENCH_MAX_RUNS], rss[BENCH_MAX_RUNS], fig[BENCH_MAX_RUNS];
  for (int a = 0; a < b->n_allocs; a++) {
    bench_cell_t *c = &w->cell[a];
    int n = 0, nf = 0, nfail = 0;
    for (int r = 0; r < w->n_runs; r++) {
      const bench_run_t *run = &w->runs[a * w->n_runs + r];
      if (!run->ran) continue;
      if (!run->ok) { nfail++; continue; }
      t[n] = run->secs;
      rss[n] = run->rss_kb;
      if (!isnan(run->figure)) fig[nf++] = run->figure;
      n++;
    }
    c->n_ok = n;
    c->n_fail = nfail;
    c->t_min = tool_min(t, n);
    c->t_max = tool_max(t, n);
    c->t_med = tool_median(t, n);
    c->rss_min = tool_min(rss, n);
    c->rss_max = tool_max(rss, n);
    c->rss_med = tool_median(rss, n);
    c->fig_med = tool_median(fig, nf);
  }
  w->best_t = w->best_rss = -1;
  for (int a = 0; a < b->n_allocs; a++) {
    if (!b->allocs[a].is_peer || !w->cell[a].n_ok) continue;
    if (w->best_t < 0 || w->cell[a].t_med < w->cell[w->best_t].t_med) w->best_t = a;
    if (w->best_rss < 0 || w->cell[a].rss_med < w->cell[w->best_rss].rss_med) w->best_rss = a;
  }
  for (int a = 0; a < b->n_allocs; a++) {
    bench_cell_t *c = &w->cell[a];
    c->t_vs_glibc = ratio(c->t_med, w->cell[0].t_med);
    c->rss_vs_glibc = ratio(c->rss_med, w->cell[0].rss_med);
    c->t_vs_best = w->best_t < 0 ? NAN : ratio(c->t_med, w->cell[w->best_t].t_med);
    c->rss_vs_best = w->best_rss < 0 ? NAN : ratio(c->rss_med, w->cell[w->best_rss].rss_med);
  }
  if (w->check_stable) {
    const bench_run_t *first = NULL;
    for (int i = 0; i < b->n_allocs * w->n_runs; i++) {
      const bench_run_t *run = &w->runs[i];
      if (!run->ok) continue;
      if (!first) { first = run; continue; }
      if (strcmp(run->check, first->check) != 0) {
        w->mismatch = 1;
        tool_strlist_add(&b->failures, &b->n_failures,
                "%s: CHECKSUM MISMATCH: %s run %d gave check=%s, %s run %d gave check=%s",
                w->def->name, b->allocs[(first - w->runs) / w->n_runs].name,
                (int)(first - w->runs) % w->n_runs + 1, first->check,
                b->allocs[i / w->n_runs].name, i % w->n_runs + 1, run->check);
        break;
      }
    }
  }
}

/* Geometric means over workloads, and strata's targets. */
static void analyse_all(bench_t *b) {
  for (int a = 0; a < b->n_allocs; a++) {
    double s[4] = {0, 0, 0, 0};
    int n_g = 0, n_b = 0;
    for (int i = 0; i < b->n_wls; i++) {
      const bench_cell_t *c = &b->wls[i].cell[a];
      if (c->t_vs_glibc > 0 && c->rss_vs_glibc > 0) {
        s[0] += log(c->t_vs_glibc);
        s[1] += log(c->rss_vs_glibc);
        n_g++;
      }
      if (c->t_vs_best > 0 && c->rss_vs_best > 0) {
        s[2] += log(c->t_vs_best);
        s[3] += log(c->rss_vs_best);
        n_b++;
      }
    }
    bench_geo_t *g = &b->geo[a];
    g->n_glibc = n_g;
    g->n_best = n_b;
    g->t_vs_glibc = n_g ? exp(s[0] / n_g) : NAN;
    g->rss_vs_glibc = n_g ? exp(s[1] / n_g) : NAN;
    g->t_vs_best = n_b ? exp(s[2] / n_b) : NAN;
    g->rss_vs_best = n_b ? exp(s[3] / n_b) : NAN;
  }
  b->has_targets = b->strata >= 0 && b->n_peers > 0 && b->geo[b->strata].n_best > 0;
  if (!b->has_targets) return;
  const bench_geo_t *g = &b->geo[b->strata];
  b->target_time_ok = g->t_vs_best <= TARGET_TIME_GEO;
  b->target_rss_ok = g->rss_vs_best <= TARGET_RSS_GEO;
  b->target_worst_ok = 1;
  size_t len = 0;
  b->worst_list[0] = 0;
  for (int i = 0; i < b->n_wls; i++) {
    const bench_wl_t *w = &b->wls[i];
    const bench_cell_t *c = &w->cell[b->strata];
    char item[128] = "";
    if (w->best_t < 0) continue;                       /* no peer result */
    if (!c->n_ok) snprintf(item, sizeof item, "%s (strata has no result)", w->def->name);
    else if (c->t_vs_best > TARGET_WORST && c->rss_vs_best > TARGET_WORST)
      snprintf(item, sizeof item, "%s time %.2fx and RSS %.2fx", w->def->name, c->t_vs_best,
               c->rss_vs_best);
    else if (c->t_vs_best > TARGET_WORST)
      snprintf(item, sizeof item, "%s time %.2fx", w->def->name, c->t_vs_best);
    else if (c->rss_vs_best > TARGET_WORST)
      snprintf(item, sizeof item, "%s RSS %.2fx", w->def->name, c->rss_vs_best);
    if (!item[0]) continue;
    b->target_worst_ok = 0;
    len += (size_t)snprintf(b->worst_list + len, len < sizeof b->worst_list ?
                            sizeof b->worst_list - len : 0, "%s%s", len ? ", " : "", item);
    if (len >= sizeof b->worst_list) len = sizeof b->worst_list - 1;
  }
}

static int parse_opts(int argc, char **argv, bench_opts_t *o) {
  memset(o, 0, sizeof *o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* --opt=value and --opt value */
    static const char *const with_val[] = {"--only", "--runs", "--alloc", "--threads",
                                           "--json", "--md", "--svg"};
    const char *val;
    int takes = tool_opt_value(argc, argv, &i, with_val, 7, &val);
    if (takes >= 0 && !val) {
      fprintf(stderr, "strata bench: %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--quick") || !strcmp(a, "-q")) o->quick = 1;
    else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) o->verbose = 1;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
    else if (takes == 0) o->only = val;
    else if (takes == 1) {
      if (tool_parse_int(val, 1, BENCH_MAX_RUNS, &o->runs)) {
        fprintf(stderr, "strata bench: --runs wants 1..%d\n", BENCH_MAX_RUNS);
        return 2;
      }
    } else if (takes == 2) o->alloc = val;
    else if (takes == 3) {
      if (tool_parse_int(val, 1, 512, &o->threads)) {
        fprintf(stderr, "strata bench: --threads wants 1..512\n");
        return 2;
      }
    } else if (takes == 4) o->json = val;
    else if (takes == 5) o->md = val;
    else if (takes == 6) o->svg = val;
    else {
      fprintf(stderr, "strata bench: unknown option '%s' (see strata bench --help)\n", a);
      return 2;
    }
  }
  return 0;
}

int cmd_bench(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "gc")) return cmd_bench_gc(argc - 1, argv + 1);
  bench_opts_t o;
  int rc = parse_opts(argc, argv, &o);
  if (rc) return rc == 1 ? 0 : rc;

  static bench_t bench;
  bench_t *b = &bench;
  b->quick = o.quick;
  b->n_runs = o.runs ? o.runs : o.quick ? QUICK_RUNS : DEFAULT_RUNS;
  b->ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (b->ncpu < 1) b->ncpu = 1;

  char *self = tool_self_dir();
  char bin_dir[PATH_MAX], wl_bin[PATH_MAX + 16], repo[PATH_MAX], tmp[PATH_MAX + 8];
  const char *env_bin = getenv("BENCH_BIN_DIR");
  if (env_bin && *env_bin) snprintf(bin_dir, sizeof bin_dir, "%s", env_bin);
  else snprintf(bin_dir, sizeof bin_dir, "%s/bench", self);
  if (realpath(bin_dir, tmp)) tool_copy(bin_dir, sizeof bin_dir, tmp);
  snprintf(wl_bin, sizeof wl_bin, "%s/workloads", bin_dir);
  snprintf(tmp, sizeof tmp, "%s/..", self);
  if (!realpath(tmp, repo)) tool_copy(repo, sizeof repo, tmp);
#ifdef STRATA_SRC_DIR
  /* a build directory outside the repository (make BUILD=/elsewhere): the
   * real-program scripts are in the tree it was built from */
  char real_dir[PATH_MAX + 16];
  snprintf(real_dir, sizeof real_dir, "%s/bench/real", repo);
  if (access(real_dir, R_OK) != 0) tool_copy(repo, sizeof repo, STRATA_SRC_DIR);
#endif

  if ((rc = find_allocs(b, &o, self))) return rc;
  if ((rc = find_workloads(b, &o, wl_bin, repo))) return rc;
  if (b->n_wls == 0) {
    fprintf(stderr, "strata bench: no workload to run\n");
    return 2;
  }

  time_t now = time(NULL);
  strftime(b->date, sizeof b->date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
  struct utsname u;
  if (uname(&u) == 0)
    snprintf(b->uname, sizeof b->uname, "%s %s %s", u.sysname, u.release, u.machine);
  if (getloadavg(b->load_start, 3) != 3) b->load_start[0] = NAN;
  b->started = tool_now();
  report_header(stdout, b);

  run_env_t env = {wl_bin, bin_dir, repo, o.verbose, CHILD_TIMEOUT_S};
  const char *env_to = getenv("STRATA_BENCH_TIMEOUT");
  if (env_to && atof(env_to) > 0) env.timeout = atof(env_to);
  int tty = tool_isatty_stderr() && !o.verbose;
  int total = b->total_runs, done = 0;
  for (int i = 0; i < b->n_wls; i++) {
    bench_wl_t *w = &b->wls[i];
    for (int r = 0; r < w->n_runs; r++)
      for (int k = 0; k < b->n_allocs; k++) {
        int a = r % 2 == 0 ? k : b->n_allocs - 1 - k;   /* A B C, C B A, ... */
        done++;
        fprintf(stderr, "%s[%d/%d] %s %s run %d/%d%s", tty ? "\r\033[K" : "", done, total,
                w->def->name, b->allocs[a].name, r + 1, w->n_runs, tty ? "" : "\n");
        fflush(stderr);
        bench_run_t *run = &w->runs[a * w->n_runs + r];
        run_one(b, w, &b->allocs[a], &env, run);
        if (!run->ok) {
          if (tty) fprintf(stderr, "\r\033[K");
          fprintf(stderr, "FAIL: %s under %s, run %d: %s\n", w->def->name, b->allocs[a].name,
                  r + 1, run->why);
          tool_strlist_add(&b->failures, &b->n_failures, "%s under %s, run %d: %s", w->def->name,
                  b->allocs[a].name, r + 1, run->why);
        }
      }
    if (tty) fprintf(stderr, "\r\033[K");
    analyse_workload(b, w);
    report_workload(stdout, b, w);
    fflush(stdout);
  }
  if (getloadavg(b->load_end, 3) != 3) b->load_end[0] = NAN;
  b->elapsed = tool_now() - b->started;
  analyse_all(b);
  report_summary(stdout, b);

  int out_rc = 0;
  if (o.json && report_json(o.json, b)) out_rc = 2;
  if (o.md && report_md(o.md, b)) out_rc = 2;
  if (o.svg && report_svg(o.svg, b)) out_rc = 2;
  free(self);
  return b->n_failures ? 1 : out_rc;
}
