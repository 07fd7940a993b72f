/* bench/peakrss.c -- run a program, report its peak RSS and wall time.
 *
 *   peakrss OUTFILE program [args...]
 *
 * Forks, execs the program (stdin/stdout/stderr are passed through, the
 * environment too, so `LD_PRELOAD=... peakrss f prog` preloads into prog --
 * and into nothing else, since peakrss itself only forks and waits), waits
 * for it with wait4 and writes one line to OUTFILE:
 *
 *   peak_rss_kb=N secs=S status=E
 *
 * peak_rss_kb is the child's ru_maxrss (the largest of the images it exec'd
 * and of the children it waited for); secs is the wall time from fork to
 * the end of wait4; status is the exit status (128+signal if killed).
 * peakrss exits with the same status, or 127 if the exec failed.
 * Used by the scripts in bench/real/ (no dependence on /usr/bin/time).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: peakrss OUTFILE program [args...]\n");
    return 2;
  }
  FILE *out = fopen(argv[1], "w");
  if (!out) {
    fprintf(stderr, "peakrss: cannot write %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  fflush(NULL);
  double t0 = now();
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "peakrss: fork: %s\n", strerror(errno));
    return 2;
  }
  if (pid == 0) {
    fclose(out);
    execvp(argv[2], argv + 2);
    fprintf(stderr, "peakrss: cannot run %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  int st = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  while (wait4(pid, &st, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "peakrss: wait4: %s\n", strerror(errno));
      return 2;
    }
  }
  double secs = now() - t0;
  int status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
  fprintf(out, "peak_rss_kb=%ld secs=%.6f status=%d\n", ru.ru_maxrss, secs, status);
  if (fclose(out) != 0) return 2;
  return status;
}
