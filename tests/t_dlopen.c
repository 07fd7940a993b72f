/* t_dlopen.c -- strata loaded with dlopen into a process that does not use
 * it as its malloc.  This binary is linked against libstrata.so, so the real
 * test runs in tests/helpers/dlopen_host (built without strata), exec'd here
 * with the library's path; its exit status is the verdict.  Here we also
 * check that dlopen of the already-loaded library gives the same functions. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "test.h"

static void dirname_of_self(char *out, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", out, cap - 1);
  CHECK(n > 0, "readlink(/proc/self/exe)");
  out[n] = 0;
  char *slash = strrchr(out, '/');
  CHECK(slash != NULL, "no slash in %s", out);
  *slash = 0;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  char dir[PATH_MAX], helper[PATH_MAX + 64], lib[PATH_MAX + 64];
  dirname_of_self(dir, sizeof dir - 64);
  const char *b = getenv("STRATA_BUILD");
  const char *l = getenv("STRATA_LIB");
  if (b && *b) snprintf(helper, sizeof helper, "%s/tests/helpers/dlopen_host", b);
  else snprintf(helper, sizeof helper, "%s/helpers/dlopen_host", dir);
  if (access(helper, X_OK) != 0) snprintf(helper, sizeof helper, "%s/helpers/dlopen_host", dir);
  if (l && *l) snprintf(lib, sizeof lib, "%s", l);
  else snprintf(lib, sizeof lib, "%s/../libstrata.so", dir);
  CHECK(access(helper, X_OK) == 0, "helper %s not built", helper);
  CHECK(access(lib, R_OK) == 0, "library %s not found", lib);

  /* In this process: dlopen of the linked library returns the same code. */
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  CHECK(h != NULL, "dlopen(%s): %s", lib, dlerror());
  CHECK(dlsym(h, "strata_malloc") == (void *)&strata_malloc, "dlsym(strata_malloc) differs from the linked one");
  CHECK(dlsym(h, "malloc") == (void *)&malloc, "dlsym(h, malloc) differs from the linked malloc");
  void *p = ((void *(*)(size_t))dlsym(h, "strata_malloc"))(100);
  CHECK(p != NULL, "strata_malloc via dlsym");
  free(p);
  CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
  p = malloc(10);
  CHECK(p != NULL, "malloc after dlclose of an extra reference");
  free(p);

  /* The real test: a process whose malloc is glibc's. */
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    alarm(50);
    char *argv[] = { helper, lib, NULL };
    unsetenv("LD_PRELOAD");
    execv(helper, argv);
    fprintf(stderr, "exec %s failed\n", helper);
    _exit(127);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s: %s %d%s", helper, lib,
        WIFEXITED(st) ? "exit status" : "killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
        WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (deadlock: alarm fired)" : "");
  printf("t_dlopen: all passed\n");
  return 0;
}
