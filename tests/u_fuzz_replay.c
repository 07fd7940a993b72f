/* u_fuzz_replay.c -- replays the fuzzer's committed corpus (tests/fuzz/) in
 * `make test`, without libFuzzer.
 *
 * The same harness as the libFuzzer build (tests/fuzz/heap_fuzz.c, included
 * here), linked with libstrata.a and gcc.  Arguments are files or
 * directories (default: tests/fuzz/corpus, relative to the repository root
 * where tests/run.sh runs); every regular file in them is one input, run
 * twice: with the worker's frees asynchronous, then synchronous
 * (STRATA_FUZZ_SYNC).  A mismatch aborts inside the harness; a missing or
 * empty corpus is a failure too, so the test cannot pass by finding
 * nothing.
 *
 * tests/fuzz/open-bugs/ holds reproducers of bugs found and not fixed yet
 * (docs/hardening.md lists them).  Without arguments each is also run, in a
 * child process, and must still fail there: once one passes, the bug is
 * fixed, and this test fails until the file is moved into corpus/ (from
 * then on a regression input like the others).
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "fuzz/heap_fuzz.c"

static unsigned replayed;

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) { fprintf(stderr, "u_fuzz_replay: cannot open %s\n", path); exit(1); }
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  int err = ferror(f);
  fclose(f);
  if (err) { fprintf(stderr, "u_fuzz_replay: cannot read %s\n", path); exit(1); }
  fz_init();
  for (int sync = 0; sync <= 1; sync++) {
    fz_sync = sync;
    LLVMFuzzerTestOneInput(buf, n);
  }
  replayed++;
}

static unsigned open_bugs, fixed_bugs;

/* An open bug's reproducer: must still fail, in a child. */
static void replay_open_bug(const char *path) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) { perror("u_fuzz_replay: fork"); exit(1); }
  if (pid == 0) {
    alarm(60);
    fz_sync = 1;
    replay_file(path);
    _exit(0);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) { perror("u_fuzz_replay: waitpid"); exit(1); }
  open_bugs++;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
    fixed_bugs++;
    fprintf(stderr, "u_fuzz_replay: %s passes now: the bug is fixed; move the file to "
            "tests/fuzz/corpus/ and update docs/hardening.md\n", path);
  } else {
    printf("u_fuzz_replay: %s still fails (%s %d): open bug, see docs/hardening.md\n", path,
           WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  }
}

static void replay(const char *path, int open_bug) {
  struct stat st;
  if (stat(path, &st) != 0) { fprintf(stderr, "u_fuzz_replay: %s: %s\n", path, strerror(errno)); exit(1); }
  if (!S_ISDIR(st.st_mode)) { open_bug ? replay_open_bug(path) : replay_file(path); return; }
  struct dirent **ent;
  int k = scandir(path, &ent, NULL, alphasort);
  if (k < 0) { fprintf(stderr, "u_fuzz_replay: %s: %s\n", path, strerror(errno)); exit(1); }
  for (int i = 0; i < k; i++) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", path, ent[i]->d_name);
    if (ent[i]->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode))
      open_bug ? replay_open_bug(full) : replay_file(full);
    free(ent[i]);
  }
  free(ent);
}

int main(int argc, char **argv) {
  fz_init();
  if (argc < 2) replay("tests/fuzz/corpus", 0);
  for (int i = 1; i < argc; i++) replay(argv[i], 0);
  if (replayed == 0) { fprintf(stderr, "u_fuzz_replay: no inputs found\n"); return 1; }
  printf("u_fuzz_replay: %u inputs replayed (async and sync), no mismatch\n", replayed);
  struct stat st;
  if (argc < 2 && stat("tests/fuzz/open-bugs", &st) == 0) replay("tests/fuzz/open-bugs", 1);
  return fixed_bugs ? 1 : 0;
}
