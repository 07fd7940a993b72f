/* src/tools/proc.c -- running one child process for the strata command,
 * plus small helpers.
 *
 * tool_run() forks, puts the child in its own process group (so a shell
 * script and everything it starts can be killed together), execs it with
 * stdin from /dev/null and stdout/stderr on pipes, and reads both pipes
 * with poll() until the child has exited and the pipes are closed, or the
 * timeout has passed.  Then:
 *   - timeout: SIGKILL to the whole group, reap, timed_out = 1;
 *   - the child exited but something it started in the background still
 *     holds a pipe open: wait at most LINGER_S for EOF, then SIGKILL the
 *     group.  The leader is detected with waitid(WNOWAIT) and reaped only
 *     after that, so the group id cannot be reused by an unrelated process
 *     while we may still signal it.
 * The child is reaped with wait4() for its rusage.  No system(), no shell
 * unless the command itself is `sh`.
 *
 * A process group is not enough to hold everything a script starts:
 * timeout(1), for one, moves itself into a group of its own.  So the tool
 * makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER): whatever
 * its child leaves orphaned is re-parented to the tool instead of init, and
 * stays a descendant.  After each run (and on a timeout or SIGINT/SIGTERM)
 * every living descendant found in /proc is killed, and every zombie
 * reaped, so no run leaves processes behind or competes with the next run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools.h"

#define LINGER_S 2.0      /* child gone, pipes still open: wait that long */
#define TERM_GRACE_S 1.0  /* between SIGTERM and SIGKILL */

/* The group of the child currently running, for the signal handler
 * (0 when none), and the signal that asked us to stop (0: none). */
static volatile sig_atomic_t g_child_pgid, g_stop;

/* With a child running, only note the signal: tool_run's loop stops the
 * whole tree (which needs /proc, not async-signal-safe) within ~50 ms and
 * then dies of the signal.  Otherwise (or at a second signal) die now. */
static void on_fatal_signal(int sig) {
  pid_t pg = (pid_t)g_child_pgid;
  if (pg > 0 && !g_stop) {
    g_stop = sig;
    return;
  }
  if (pg > 0) kill(-pg, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* Send sig to every living descendant of this process except `spare` (0:
 * none).  With SIGKILL, repeats while new ones show up (a dying parent's
 * orphans are re-parented to us).  Returns how many were signalled. */
static int kill_descendants(pid_t spare, int sig) {
  int total = 0;
  pid_t self = getpid();
  for (int pass = 0; pass < 8; pass++) {
    DIR *d = opendir("/proc");
    if (!d) return total;
    size_t cap = 1024, n = 0;
    pid_t *pid = malloc(cap * sizeof *pid), *ppid = malloc(cap * sizeof *ppid);
    char *zombie = malloc(cap);
    if (!pid || !ppid || !zombie) {
      free(pid); free(ppid); free(zombie); closedir(d);
      return total;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      char path[64], buf[512];
      snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
      FILE *f = fopen(path, "r");
      if (!f) continue;
      size_t len = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[len] = 0;
      char *rp = strrchr(buf, ')');           /* comm may hold spaces and ')' */
      char state;
      int pp;
      if (!rp || sscanf(rp + 1, " %c %d", &state, &pp) != 2) continue;
      if (n == cap) {
        cap *= 2;
        pid_t *np = realloc(pid, cap * sizeof *pid), *npp = realloc(ppid, cap * sizeof *ppid);
        char *nz = realloc(zombie, cap);
        if (np) pid = np;
        if (npp) ppid = npp;
        if (nz) zombie = nz;
        if (!np || !npp || !nz) break;
      }
      pid[n] = atoi(e->d_name);
      ppid[n] = pp;
      zombie[n] = state == 'Z' || state == 'X';
      n++;
    }
    closedir(d);
    /* mark descendants of self: mark[i] = 1 when ppid is self or marked */
    char *mark = calloc(n ? n : 1, 1);
    int changed = 1, killed = 0;
    while (mark && changed) {
      changed = 0;
      for (size_t i = 0; i < n; i++) {
        if (mark[i]) continue;
        int m = ppid[i] == self;
        for (size_t j = 0; !m && j < n; j++) m = mark[j] && pid[j] == ppid[i];
        if (m) { mark[i] = 1; changed = 1; }
      }
    }
    for (size_t i = 0; mark && i < n; i++)
      if (mark[i] && !zombie[i] && pid[i] != spare && pid[i] != self) {
        kill(pid[i], sig);
        killed++;
      }
    free(mark);
    free(pid);
    free(ppid);
    free(zombie);
    total += killed;
    if (!killed || sig != SIGKILL) break;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return total;
}

static void install_handlers(void) {
  static int done;
  if (done) return;
  done = 1;
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

double tool_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* In the child, after fork: never returns. */
static void child_exec(const tool_cmd_t *cmd, int out_w, int err_w) {
  setpgid(0, 0);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) { dup2(devnull, 0); close(devnull); }
  if (dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) _exit(127);
  if (cmd->env_unset)
    for (const char *const *e = cmd->env_unset; *e; e++) unsetenv(*e);
  if (cmd->env_set)
    for (const char *const *e = cmd->env_set; *e; e++) putenv((char *)*e);
  if (cmd->cwd && chdir(cmd->cwd) != 0) {
    fprintf(stderr, "strata: chdir %s: %s\n", cmd->cwd, strerror(errno));
    _exit(127);
  }
  execvp(cmd->argv[0], cmd->argv);
  fprintf(stderr, "strata: exec %s: %s\n", cmd->argv[0], strerror(errno));
  _exit(127);
}

/* Append to the stdout buffer (capped) or keep the tail of stderr. */
static void take_out(tool_proc_t *res, const char *buf, size_t n) {
  size_t room = TOOL_OUT_MAX - res->out_len;
  if (n > room) { n = room; res->out_truncated = 1; }
  memcpy(res->out + res->out_len, buf, n);
  res->out_len += n;
  res->out[res->out_len] = 0;
}
static void take_err(tool_proc_t *res, size_t *len, const char *buf, size_t n) {
  if (n >= TOOL_ERR_MAX) { buf += n - TOOL_ERR_MAX; n = TOOL_ERR_MAX; }
  if (*len + n > TOOL_ERR_MAX) {
    size_t drop = *len + n - TOOL_ERR_MAX;
    memmove(res->err, res->err + drop, *len - drop);
    *len -= drop;
  }
  memcpy(res->err + *len, buf, n);
  *len += n;
  res->err[*len] = 0;
}

int tool_run(const tool_cmd_t *cmd, tool_proc_t *res) {
  memset(res, 0, sizeof *res);
  res->out = malloc(TOOL_OUT_MAX + 1);
  if (!res->out) return -1;
  res->out[0] = 0;
  install_handlers();

  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) != 0) return -1;
  if (pipe2(pe, O_CLOEXEC) != 0) { close(po[0]); close(po[1]); return -1; }
  fflush(stdout);
  fflush(stderr);
  double t0 = tool_now();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
    errno = e;
    return -1;
  }
  if (pid == 0) child_exec(cmd, po[1], pe[1]);
  setpgid(pid, pid);                   /* also done in the child: no race */
  g_child_pgid = pid;
  close(po[1]);
  close(pe[1]);

  struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  int open_fds = 2, exited = 0, killed = 0, terminating = 0;
  double term_time = 0;
  size_t err_len = 0;
  double deadline = cmd->timeout_s > 0 ? t0 + cmd->timeout_s : INFINITY;
  double exit_time = 0;
  char buf[8192];
  while (open_fds > 0 || !exited) {
    double now = tool_now();
    /* interrupted or timed out: SIGTERM to everything (scripts clean up
     * their temporary files), SIGKILL TERM_GRACE_S later */
    if (!terminating && (g_stop || now >= deadline)) {
      if (!g_stop) res->timed_out = 1;
      kill(-pid, SIGTERM);
      kill_descendants(0, SIGTERM);
      terminating = 1;
      term_time = now;
    }
    if (terminating && !killed && (exited || now - term_time > TERM_GRACE_S)) {
      if (!exited) {
        struct timespec ts = {0, 200 * 1000 * 1000};   /* its cleanup, if it exited */
        nanosleep(&ts, NULL);
      }
      kill(-pid, SIGKILL);
      kill_descendants(0, SIGKILL);
      killed = 1;
    }
    if (exited && open_fds > 0 && now - exit_time > LINGER_S && !killed) {
      kill(-pid, SIGKILL);             /* background leftovers hold the pipes */
      kill_descendants(pid, SIGKILL);
      killed = 1;
    }
    if (exited && (killed || (terminating && open_fds == 0))) break;
    int ms = 50;
    if (open_fds > 0) {
      int n = poll(fds, 2, ms);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < 2; i++) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t k = read(fds[i].fd, buf, sizeof buf);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) { close(fds[i].fd); fds[i].fd = -1; open_fds--; continue; }
        if (i == 0) take_out(res, buf, (size_t)k);
        else take_err(res, &err_len, buf, (size_t)k);
      }
    } else {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (!exited) {
      siginfo_t si;
      si.si_pid = 0;
      if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
        exited = 1;
        exit_time = tool_now();
        res->elapsed = exit_time - t0;
      }
    }
  }
  for (int i = 0; i < 2; i++)
    if (fds[i].fd >= 0) close(fds[i].fd);

  /* Anything the child left running (the leader is a zombie: spared). */
  res->leftovers = kill_descendants(pid, SIGKILL);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {}
  while (waitpid(-1, NULL, WNOHANG) > 0) {}      /* re-parented orphans */
  g_child_pgid = 0;
  if (g_stop) {
    int sig = (int)g_stop;
    signal(sig, SIG_DFL);
    raise(sig);
  }
  if (!res->elapsed) res->elapsed = tool_now() - t0;
  res->maxrss_kb = ru.ru_maxrss;
  if (WIFEXITED(status)) {
    res->exited = 1;
    res->code = WEXITSTATUS(status);
    if (res->code == 127 && strstr(res->err, "strata: exec ")) res->exec_failed = 1;
  } else if (WIFSIGNALED(status)) {
    res->signaled = 1;
    res->sig = WTERMSIG(status);
  }
  return 0;
}

char *tool_self_dir(void) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return strdup(".");
  buf[n] = 0;
  char *slash = strrchr(buf, '/');
  if (slash == buf) slash[1] = 0;
  else if (slash) *slash = 0;
  return strdup(buf);
}

void tool_strata_lib(const char *self_dir, char *buf, size_t n) {
  const char *env = getenv("STRATA_LIB");
  if (env && *env) snprintf(buf, n, "%s", env);
  else snprintf(buf, n, "%s/libstrata.so", self_dir);
}

const char *tool_basename(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double tool_median(double *v, int n) {
  if (n <= 0) return NAN;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double tool_min(const double *v, int n) {
  double m = NAN;
  for (int i = 0; i < n; i++)
    if (isnan(m) || v[i] < m) m = v[i];
  return m;
}

double tool_max(const double *v, int n) {
  double m = NAN;
  for (int i = 0; i < n; i++)
    if (isnan(m) || v[i] > m) m = v[i];
  return m;
}

void tool_fmt_num(char *buf, size_t n, double v) {
  double a = fabs(v);
  if (isnan(v)) snprintf(buf, n, "-");
  else if (a >= 1e9) snprintf(buf, n, "%.3gG", v / 1e9);
  else if (a >= 1e6) snprintf(buf, n, "%.3gM", v / 1e6);
  else if (a >= 1e4) snprintf(buf, n, "%.3gk", v / 1e3);
  else if (a >= 100) snprintf(buf, n, "%.0f", v);
  else snprintf(buf, n, "%.3g", v);
}

void tool_copy(char *dst, size_t n, const char *src) {
  if (!n) return;
  size_t len = strnlen(src, n - 1);
  memcpy(dst, src, len);
  dst[len] = 0;
}

int tool_opt_value(int argc, char **argv, int *i, const char *const *names, int n, const char **val) {
  const char *a = argv[*i];
  *val = NULL;
  for (int k = 0; k < n; k++) {
    size_t len = strlen(names[k]);
    if (strncmp(a, names[k], len) != 0 || (a[len] != 0 && a[len] != '=')) continue;
    if (a[len] == '=') *val = a + len + 1;
    else if (*i + 1 < argc) *val = argv[++*i];
    return k;
  }
  return -1;
}

int tool_isatty_stderr(void) { return isatty(2); }

int tool_parse_int(const char *s, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int tool_in_list(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && !strncmp(p, name, n)) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

void tool_strlist_add(char ***list, int *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  if (!s) return;
  char **nl = realloc(*list, sizeof **list * (size_t)(*n + 1));
  if (!nl) { free(s); return; }
  *list = nl;
  nl[(*n)++] = s;
}

void tool_notice(const char *who, char ***list, int *n, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", who, buf);
  tool_strlist_add(list, n, "%s", buf);
}

int tool_kv_get(const char *line, const char *key, char *out, size_t n) {
  size_t klen = strlen(key);
  const char *p = line;
  while (*p) {
    while (*p == ' ' || *p == '\t') p++;
    const char *end = p + strcspn(p, " \t\n");
    if ((size_t)(end - p) > klen && !strncmp(p, key, klen) && p[klen] == '=') {
      size_t len = (size_t)(end - p) - klen - 1;
      if (len >= n) len = n - 1;
      memcpy(out, p + klen + 1, len);
      out[len] = 0;
      return 1;
    }
    p = end;
    if (*p == '\n') break;
  }
  return 0;
}

int tool_kv_num(const char *line, const char *key, double *v) {
  char buf[64], *end;
  if (!tool_kv_get(line, key, buf, sizeof buf)) return 0;
  *v = strtod(buf, &end);
  return end != buf && *end == 0;
}

const char *tool_find_line(const char *text, const char *prefix, int *count) {
  const char *line = NULL;
  size_t n = strlen(prefix);
  *count = 0;
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (!strncmp(p, prefix, n)) { line = p; ++*count; }
  return line;
}

void tool_last_line(const char *s, char *out, size_t n) {
  size_t len = strlen(s);
  while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) len--;
  size_t start = len;
  while (start && s[start - 1] != '\n') start--;
  if (len - start >= n) start = len - (n - 1);
  memcpy(out, s + start, len - start);
  out[len - start] = 0;
}

int tool_proc_why(const tool_proc_t *res, double timeout_s, char *why, size_t n) {
  char tail[120];
  tool_last_line(res->err, tail, sizeof tail);
  why[0] = 0;
  if (res->exec_failed) snprintf(why, n, "could not be started%s%s", *tail ? ": " : "", tail);
  else if (res->timed_out) snprintf(why, n, "timed out after %g s (killed)", timeout_s);
  else if (res->signaled)
    snprintf(why, n, "killed by signal %d (%s)%s%s", res->sig, strsignal(res->sig),
             *tail ? ": " : "", tail);
  else if (res->code != 0)
    snprintf(why, n, "exit status %d%s%s", res->code, *tail ? ": " : "", tail);
  return why[0] != 0;
}
