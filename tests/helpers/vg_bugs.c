/* vg_bugs.c -- one heap bug for tests/valgrind.sh mode 3, which runs it
 * under memcheck with the STRATA_VALGRIND library (src/malloc/valgrind.c)
 * as the allocator and expects memcheck to report the bug.  Built without
 * strata (LD_PRELOAD).
 *
 *   vg_bugs KIND SIZE [KIND SIZE...]   each in turn, KIND one of
 *     uaf       read a byte of a freed block of SIZE bytes
 *     uninit    branch on a byte of a fresh malloc(SIZE) never written
 *     overflow  write the byte just past a malloc(SIZE) block
 *     leak      lose the only pointer to a malloc(SIZE) block
 *
 * Each block is written through (but the uninit byte) so that the bug, and
 * nothing else, is what memcheck can see.  Exit 0 after the bugs; 2 on a
 * usage error or a failed malloc.  (Several in one run: memcheck reports
 * one error context once, so a run that must show each uses one bug.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIE(...) do { fprintf(stderr, "vg_bugs: " __VA_ARGS__); fputc('\n', stderr); exit(2); } while (0)

/* through a volatile pointer: the compiler keeps every access */
static unsigned char *volatile keep;

/* One bug of `kind` with a block of n bytes. */
static void bug(const char *kind, size_t n) {
  unsigned char *p = malloc(n);
  if (p == NULL) DIE("malloc(%zu)", n);
  keep = p;
  if (strcmp(kind, "uaf") == 0) {
    memset(p, 7, n);
    free(p);
    printf("read %d\n", keep[n / 2]);              /* the use after free */
  } else if (strcmp(kind, "uninit") == 0) {
    memset(p, 7, n / 2);                           /* the second half stays unwritten */
    if (keep[n - 1] == 42) puts("42");             /* the branch on it */
    else puts("not 42");
    free(p);
  } else if (strcmp(kind, "overflow") == 0) {
    memset(p, 7, n);
    keep[n] = 1;                                   /* one byte past the request */
    free(p);
  } else if (strcmp(kind, "leak") == 0) {
    memset(p, 7, n);
    keep = NULL;                                   /* the only pointer, lost */
  } else DIE("unknown kind %s", kind);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc % 2 == 0) DIE("usage: vg_bugs uaf|uninit|overflow|leak SIZE [KIND SIZE...]");
  for (int i = 1; i + 1 < argc; i += 2) {
    size_t n = strtoull(argv[i + 1], NULL, 0);
    if (n < 2) DIE("SIZE must be at least 2");
    bug(argv[i], n);
  }
  keep = NULL;
  puts("vg_bugs: done");
  return 0;
}
