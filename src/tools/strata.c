/* src/tools/strata.c -- the `strata` command: subcommand dispatch.
 *
 *   strata bench [options]     side-by-side allocator benchmark (bench.c)
 *   strata bench gc [options]  the collector against the Boehm GC (benchgc.c)
 *   strata run [options] -- PROGRAM ARGS
 *                              a program on strata, its exit report (run.c)
 *   strata help [COMMAND]      usage
 *
 * Each subcommand is one row of `commands` and one function
 * `int cmd_NAME(int argc, char **argv)` that gets argv[0] == its name and
 * returns the exit status (0 ok, 1 something it checked failed, 2 usage or
 * setup error).  Add others the same way.
 *
 * The binary is not linked against strata; it finds the library next to
 * itself (<dir of /proc/self/exe>/libstrata.so, or $STRATA_LIB) and loads it
 * into child processes with LD_PRELOAD.
 */
#include <stdio.h>
#include <string.h>

#include "tools.h"

/* The subcommands.  Invariant: names are unique; fn is never NULL. */
static const struct {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
} commands[] = {
  {"bench", cmd_bench, "run the workloads under glibc, strata and the peer allocators, side by side;\n"
            "           `strata bench gc`: strata's GC against the Boehm GC"},
  {"run", cmd_run, "run a program on strata; report statistics, leaks and a heap map at exit"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
  fprintf(f, "usage: strata COMMAND [options]\n\ncommands:\n");
  for (int i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "  %-8s %s\n", "help", "this text; `strata help COMMAND` for a command's options");
}

int main(int argc, char **argv) {
  if (argc < 2) { usage(stderr); return 2; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    if (argc > 2)
      for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[2], commands[i].name)) {
          char *args[] = {(char *)commands[i].name, "--help", NULL};
          return commands[i].fn(2, args);
        }
    usage(stdout);
    return argc > 2 ? 2 : 0;
  }
  for (int i = 0; i < N_COMMANDS; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "strata: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
