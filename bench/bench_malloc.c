/* bench/bench_malloc.c -- side-by-side allocator benchmark driver.
 *
 *   bench_malloc [-q] [-r N] [-w churn,xthread,...] [-t THREADS] [-n OPS]
 *                [--with NAME=LIB.so]... [--all] [--no-strata] [-v]
 *
 * Runs build/bench/workloads once per (workload, allocator, round) in a fresh
 * process (fork + exec), with LD_PRELOAD=<lib> in the child's environment,
 * or LD_PRELOAD removed for "glibc".  Rounds are interleaved: for every
 * round every allocator runs once (A B C, then C B A, ...) so slow drifts of
 * a noisy machine hit all allocators alike.  Reports per allocator the
 * median, min and max ops/sec, the ratio of medians against glibc and the
 * median peak RSS, then one summary line per workload.
 *
 * The child reports which library its `malloc` came from; a run whose
 * malloc is not the requested allocator (e.g. a wrong LD_PRELOAD path,
 * which the dynamic loader only warns about) counts as a failure.
 *
 * Exit status: 0 when every child ran and reported; 1 if any child crashed,
 * timed out or printed no valid result; 2 for usage/setup errors.  Never
 * nonzero because of a ratio.
 *
 * Not linked against strata.  See bench/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ALLOCS 8
#define MAX_ROUNDS 101
#define MAX_WORKLOADS 8
#define CHILD_TIMEOUT 300   /* seconds, per child run */

typedef struct {
  const char *name;
  const char *lib;      /* NULL: system malloc (glibc) */
} alloc_t;

typedef struct {
  const char *name;
  unsigned long long quick_ops;   /* -q: ops per run; full mode: workloads' default */
} wl_t;

static const wl_t all_workloads[] = {
  {"churn",   8000000},
  {"xthread", 4000000},
  {"mixed",   3000000},
  {"realloc",  100000},
  {"larson",  4000000},
};
#define N_ALL_WORKLOADS (int)(sizeof all_workloads / sizeof all_workloads[0])

static const struct { const char *name, *path; } known_libs[] = {
  {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"},
  {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"},
  {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"},
};

typedef struct {
  int ok;
  double ops_per_sec;
  long rss_kb;
} result_t;

static int verbose;

static void usage(FILE *f) {
  fprintf(f,
    "usage: bench_malloc [options]\n"
    "  -q              quick mode (small op counts; the demo uses this)\n"
    "  -r N            rounds per allocator (default 5)\n"
    "  -w LIST         comma-separated workloads (default: all):");
  for (int i = 0; i < N_ALL_WORKLOADS; i++) fprintf(f, " %s", all_workloads[i].name);
  fprintf(f, "\n"
    "  -t N            threads passed to every workload (default: its own)\n"
    "  -n OPS          op count passed to every workload (k/M/G suffix ok)\n"
    "  --with NAME=LIB add an allocator preloaded from LIB\n"
    "  --all           add jemalloc, mimalloc, tcmalloc where installed\n"
    "  --no-strata     do not run strata (glibc and --with ones only)\n"
    "  -b PATH         workloads binary (default: next to this program)\n"
    "  -v              print every run\n"
    "environment: STRATA_LIB overrides the strata library\n"
    "             (default: <dir of this program>/../libstrata.so)\n");
}

static char *self_dir(const char *argv0) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) buf[n] = 0;
  else if (!realpath(argv0, buf)) snprintf(buf, sizeof buf, "%s", argv0);
  char *slash = strrchr(buf, '/');
  if (slash) *slash = 0; else strcpy(buf, ".");
  return strdup(buf);
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  if (n == 0) return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Is the child's reported malloc library the one we asked for? */
static int lib_matches(const alloc_t *a, const char *reported) {
  if (!a->lib) return strncmp(reported, "libc.so", 7) == 0;
  if (strcmp(reported, base_name(a->lib)) == 0) return 1;
  char real[PATH_MAX];
  if (realpath(a->lib, real) && strcmp(reported, base_name(real)) == 0) return 1;
  return 0;
}

/* One run of one workload under one allocator. */
static result_t run_one(const char *wl_bin, const alloc_t *a, const char *wl,
                        const char *threads, const char *ops) {
  result_t res = {0, 0, 0};
  int fd[2];
  if (pipe(fd) != 0) { perror("pipe"); return res; }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); close(fd[0]); close(fd[1]); return res; }
  if (pid == 0) {
    close(fd[0]);
    if (dup2(fd[1], 1) < 0) _exit(127);
    close(fd[1]);
    if (a->lib) setenv("LD_PRELOAD", a->lib, 1);
    else unsetenv("LD_PRELOAD");
    alarm(CHILD_TIMEOUT);                  /* survives exec: kills a hung run */
    char *args[] = {(char *)wl_bin, (char *)wl, (char *)threads, (char *)ops, NULL};
    execv(wl_bin, args);
    fprintf(stderr, "bench_malloc: exec %s: %s\n", wl_bin, strerror(errno));
    _exit(127);
  }
  close(fd[1]);
  char out[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd[0], out + len, sizeof out - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == sizeof out - 1) {           /* drain anything beyond */
      char junk[512];
      while (read(fd[0], junk, sizeof junk) > 0) {}
      break;
    }
  }
  out[len] = 0;
  close(fd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "FAIL: %s under %s: killed by signal %d (%s)%s\n", wl, a->name,
            WTERMSIG(status), strsignal(WTERMSIG(status)),
            WTERMSIG(status) == SIGALRM ? " -- timed out" : "");
    return res;
  }
  if (WEXITSTATUS(status) != 0) {
    fprintf(stderr, "FAIL: %s under %s: exit status %d\n", wl, a->name, WEXITSTATUS(status));
    return res;
  }
  /* find the result line */
  char *line = strstr(out, "workload=");
  char *p_ops = line ? strstr(line, " ops_per_sec=") : NULL;
  char *p_rss = line ? strstr(line, " peak_rss_kb=") : NULL;
  char *p_lib = line ? strstr(line, " malloc_lib=") : NULL;
  if (!p_ops || !p_rss || !p_lib) {
    fprintf(stderr, "FAIL: %s under %s: no result line in output: '%s'\n", wl, a->name, out);
    return res;
  }
  char *end;
  res.ops_per_sec = strtod(p_ops + 13, &end);
  if (end == p_ops + 13 || !(res.ops_per_sec > 0)) {
    fprintf(stderr, "FAIL: %s under %s: bad ops_per_sec in '%s'\n", wl, a->name, line);
    return res;
  }
  res.rss_kb = strtol(p_rss + 13, NULL, 10);
  char lib[256] = "?";
  if (sscanf(p_lib + 12, "%255s", lib) != 1 || !lib_matches(a, lib)) {
    fprintf(stderr, "FAIL: %s under %s: malloc came from '%s', not %s "
            "(LD_PRELOAD not effective?)\n", wl, a->name, lib,
            a->lib ? a->lib : "libc.so.6");
    return res;
  }
  if (verbose) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    printf("  [%s] %s\n", a->name, line);
  }
  res.ok = 1;
  return res;
}

static void fmt_rate(char *buf, size_t n, double v) {
  if (isnan(v)) snprintf(buf, n, "-");
  else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
  else if (v >= 1e3) snprintf(buf, n, "%.1fk", v / 1e3);
  else snprintf(buf, n, "%.0f", v);
}

static void load_line(const char *when) {
  double l[3];
  if (getloadavg(l, 3) == 3)
    printf("# load average %s: %.2f %.2f %.2f\n", when, l[0], l[1], l[2]);
}

int main(int argc, char **argv) {
  alloc_t allocs[MAX_ALLOCS];
  int n_allocs = 0;
  const char *extra_names[MAX_ALLOCS], *extra_libs[MAX_ALLOCS];
  int n_extra = 0, add_all = 0, no_strata = 0, quick = 0, rounds = 5;
  const char *wl_list = NULL, *threads = "0", *ops_override = NULL, *wl_bin = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-q") || !strcmp(a, "--quick")) quick = 1;
    else if (!strcmp(a, "-v")) verbose = 1;
    else if (!strcmp(a, "--all")) add_all = 1;
    else if (!strcmp(a, "--no-strata")) no_strata = 1;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
    else if (next && !strcmp(a, "-r")) { rounds = atoi(next); i++; }
    else if (next && !strcmp(a, "-w")) { wl_list = next; i++; }
    else if (next && !strcmp(a, "-t")) { threads = next; i++; }
    else if (next && !strcmp(a, "-n")) { ops_override = next; i++; }
    else if (next && !strcmp(a, "-b")) { wl_bin = next; i++; }
    else if (next && !strcmp(a, "--with")) {
      const char *eq = strchr(next, '=');
      if (!eq || eq == next || !eq[1] || n_extra >= MAX_ALLOCS - 2) {
        fprintf(stderr, "bench_malloc: --with wants NAME=/path/lib.so\n");
        return 2;
      }
      extra_names[n_extra] = strndup(next, (size_t)(eq - next));
      extra_libs[n_extra++] = eq + 1;
      i++;
    } else { fprintf(stderr, "bench_malloc: bad argument '%s'\n", a); usage(stderr); return 2; }
  }
  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "bench_malloc: -r must be 1..%d\n", MAX_ROUNDS);
    return 2;
  }

  char *dir = self_dir(argv[0]);
  char path_buf[PATH_MAX];
  if (!wl_bin) {
    snprintf(path_buf, sizeof path_buf, "%s/workloads", dir);
    wl_bin = strdup(path_buf);
  }
  if (access(wl_bin, X_OK) != 0) {
    fprintf(stderr, "bench_malloc: workloads binary %s not found (build bench/workloads.c)\n", wl_bin);
    return 2;
  }

  allocs[n_allocs++] = (alloc_t){"glibc", NULL};
  if (!no_strata) {
    const char *lib = getenv("STRATA_LIB");
    if (!lib || !*lib) {
      snprintf(path_buf, sizeof path_buf, "%s/../libstrata.so", dir);
      char real[PATH_MAX];
      lib = strdup(realpath(path_buf, real) ? real : path_buf);
    }
    allocs[n_allocs++] = (alloc_t){"strata", lib};
  }
  for (int i = 0; i < n_extra; i++) allocs[n_allocs++] = (alloc_t){extra_names[i], extra_libs[i]};
  if (add_all)
    for (size_t k = 0; k < sizeof known_libs / sizeof known_libs[0]; k++) {
      int dup = 0;
      for (int j = 0; j < n_allocs; j++) dup |= !strcmp(allocs[j].name, known_libs[k].name);
      if (!dup && access(known_libs[k].path, R_OK) == 0 && n_allocs < MAX_ALLOCS)
        allocs[n_allocs++] = (alloc_t){known_libs[k].name, known_libs[k].path};
    }
  for (int j = 0; j < n_allocs; j++)
    if (allocs[j].lib && access(allocs[j].lib, R_OK) != 0) {
      fprintf(stderr, "bench_malloc: %s library %s not found%s\n", allocs[j].name, allocs[j].lib,
              !strcmp(allocs[j].name, "strata") ? " (run `make lib`, or set STRATA_LIB)" : "");
      return 2;
    }

  /* workloads to run */
  const wl_t *wls[MAX_WORKLOADS];
  int n_wls = 0;
  if (!wl_list) {
    for (int i = 0; i < N_ALL_WORKLOADS; i++) wls[n_wls++] = &all_workloads[i];
  } else {
    char *copy = strdup(wl_list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
      const wl_t *found = NULL;
      for (int i = 0; i < N_ALL_WORKLOADS; i++)
        if (!strcmp(tok, all_workloads[i].name)) found = &all_workloads[i];
      if (!found || n_wls >= MAX_WORKLOADS) {
        fprintf(stderr, "bench_malloc: unknown workload '%s'\n", tok);
        return 2;
      }
      wls[n_wls++] = found;
    }
  }

  int show_progress = !verbose && isatty(2);
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  printf("# strata allocator benchmark: %d rounds per allocator, interleaved%s; %ld CPUs\n",
         rounds, quick ? ", quick mode" : "", ncpu);
  for (int j = 0; j < n_allocs; j++)
    printf("# %-9s %s\n", allocs[j].name, allocs[j].lib ? allocs[j].lib : "(system malloc, no preload)");
  load_line("at start");
  printf("# ops/s: higher is better; 'vs glibc' = median / glibc median; "
         "RSS = median peak RSS\n\n");
  printf("%-8s %-9s %10s %10s %10s %9s %7s %10s\n", "workload", "allocator", "median/s",
         "min/s", "max/s", "vs glibc", "spread", "peak RSS");

  int failures = 0;
  double summary[MAX_WORKLOADS][MAX_ALLOCS];
  double rss_summary[MAX_WORKLOADS][MAX_ALLOCS];
  double pair_lo[MAX_WORKLOADS][MAX_ALLOCS], pair_hi[MAX_WORKLOADS][MAX_ALLOCS];
  static result_t res[MAX_ALLOCS][MAX_ROUNDS];

  for (int w = 0; w < n_wls; w++) {
    char ops_buf[32];
    const char *ops = "0";
    if (ops_override) ops = ops_override;
    else if (quick) { snprintf(ops_buf, sizeof ops_buf, "%llu", wls[w]->quick_ops); ops = ops_buf; }

    for (int r = 0; r < rounds; r++) {
      if (show_progress) { fprintf(stderr, "\r%s: round %d/%d ", wls[w]->name, r + 1, rounds); fflush(stderr); }
      for (int k = 0; k < n_allocs; k++) {
        int j = (r % 2 == 0) ? k : n_allocs - 1 - k;   /* A B C, C B A, ... */
        res[j][r] = run_one(wl_bin, &allocs[j], wls[w]->name, threads, ops);
        if (!res[j][r].ok) failures++;
      }
    }
    if (show_progress) { fprintf(stderr, "\r%*s\r", 40, ""); fflush(stderr); }

    double glibc_med = NAN;
    for (int j = 0; j < n_allocs; j++) {
      double v[MAX_ROUNDS], rss[MAX_ROUNDS], lo = INFINITY, hi = 0;
      int n = 0;
      for (int r = 0; r < rounds; r++)
        if (res[j][r].ok) {
          v[n] = res[j][r].ops_per_sec;
          rss[n] = (double)res[j][r].rss_kb;
          if (v[n] < lo) lo = v[n];
          if (v[n] > hi) hi = v[n];
          n++;
        }
      double med = median(v, n), rss_med = median(rss, n);
      if (j == 0) glibc_med = med;
      summary[w][j] = med;
      rss_summary[w][j] = rss_med;
      /* per-round paired ratios against glibc (same round, adjacent runs) */
      pair_lo[w][j] = INFINITY;
      pair_hi[w][j] = 0;
      for (int r = 0; r < rounds; r++)
        if (res[j][r].ok && res[0][r].ok) {
          double q = res[j][r].ops_per_sec / res[0][r].ops_per_sec;
          if (q < pair_lo[w][j]) pair_lo[w][j] = q;
          if (q > pair_hi[w][j]) pair_hi[w][j] = q;
        }
      char s_med[32], s_lo[32], s_hi[32], s_ratio[32], s_spread[32], s_rss[32];
      fmt_rate(s_med, sizeof s_med, med);
      fmt_rate(s_lo, sizeof s_lo, n ? lo : NAN);
      fmt_rate(s_hi, sizeof s_hi, n ? hi : NAN);
      if (n && !isnan(glibc_med)) snprintf(s_ratio, sizeof s_ratio, "%.2fx", med / glibc_med);
      else snprintf(s_ratio, sizeof s_ratio, "-");
      if (n) snprintf(s_spread, sizeof s_spread, "%.0f%%", 100 * (hi - lo) / med);
      else snprintf(s_spread, sizeof s_spread, "-");
      if (n) snprintf(s_rss, sizeof s_rss, "%.1fM", rss_med / 1024);
      else snprintf(s_rss, sizeof s_rss, "-");
      printf("%-8s %-9s %10s %10s %10s %9s %7s %10s%s\n", wls[w]->name, allocs[j].name, s_med,
             s_lo, s_hi, s_ratio, s_spread, s_rss,
             n < rounds ? (n ? "  (some runs FAILED)" : "  FAILED") : "");
    }
    fflush(stdout);
  }

  printf("\n");
  load_line("at end");
  printf("# summary: ratio of median ops/s vs glibc (>1 = faster); [range of the %d "
         "same-round ratios]; peak RSS ratio (<1 = leaner)\n", rounds);
  for (int j = 1; j < n_allocs; j++) {
    double log_sum = 0;
    int n_geo = 0;
    for (int w = 0; w < n_wls; w++) {
      double q = summary[w][j] / summary[w][0];
      if (isnan(q)) {
        printf("%s: %s/glibc = n/a (failed runs)\n", wls[w]->name, allocs[j].name);
        continue;
      }
      printf("%s: %s/glibc = %.2fx  [%.2fx..%.2fx]  rss %.2fx\n", wls[w]->name, allocs[j].name,
             q, pair_lo[w][j], pair_hi[w][j], rss_summary[w][j] / rss_summary[w][0]);
      log_sum += log(q);
      n_geo++;
    }
    if (n_geo > 1)
      printf("geomean: %s/glibc = %.2fx over %d workloads\n", allocs[j].name,
             exp(log_sum / n_geo), n_geo);
  }
  if (failures) printf("# %d run(s) FAILED (see messages above)\n", failures);
  return failures ? 1 : 0;
}
