/* vg_workload.c -- a small malloc workload for tests/valgrind.sh, built
 * without strata (it runs with LD_PRELOAD=libstrata.so under valgrind).
 *
 *   vg_workload          every malloc-family call over small, medium, span
 *                        and large sizes, realloc chains, two threads
 *                        freeing each other's blocks; contents checked;
 *                        exit 0 when all is well
 *   vg_workload bugs     the same, then a one-byte heap overflow and a read
 *                        of freed memory, which memcheck must report when it
 *                        owns malloc (--soname-synonyms=somalloc=...)
 *   vg_workload where    print the object malloc resolves to (dladdr)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIE(...) do { fprintf(stderr, "vg_workload: " __VA_ARGS__); fputc('\n', stderr); exit(2); } while (0)

static const size_t sizes[] = { 0, 1, 8, 24, 100, 1000, 4000, 40000, 200000, 1500000, 5000000 };
#define NS (sizeof sizes / sizeof sizes[0])

static void fill(unsigned char *p, size_t n, unsigned salt) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 31 + salt);
}
static void check(const unsigned char *p, size_t n, unsigned salt, const char *what) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(i * 31 + salt)) DIE("%s: byte %zu of %zu wrong", what, i, n);
}

static void *slots[64];
static size_t slot_n[64];

static void *thread_free(void *arg) {
  (void)arg;
  for (int i = 0; i < 64; i += 2) {           /* frees of the main thread's blocks */
    check(slots[i], slot_n[i], (unsigned)i, "remote");
    free(slots[i]);
  }
  void **mine = malloc(100 * sizeof *mine);
  if (!mine) DIE("malloc");
  for (int i = 0; i < 100; i++) if (!(mine[i] = malloc((size_t)i * 7 + 1))) DIE("malloc");
  return mine;                                /* the main thread frees these */
}

static void workload(void) {
  for (size_t k = 0; k < NS; k++) {
    size_t n = sizes[k];
    unsigned char *p = malloc(n), *q = calloc(1, n + 1);
    if (!p || !q) DIE("malloc/calloc(%zu)", n);
    for (size_t i = 0; i <= n; i++) if (q[i]) DIE("calloc(%zu) not zero", n);
    fill(p, n, 1);
    if (malloc_usable_size(p) < n) DIE("usable_size(%zu)", n);
    p = realloc(p, n * 2 + 10);
    if (!p) DIE("realloc");
    check(p, n, 1, "realloc grow");
    p = realloc(p, n / 2 + 1);
    if (!p) DIE("realloc");
    check(p, n / 2 + 1 < n ? n / 2 + 1 : n, 1, "realloc shrink");
    void *a = NULL;
    if (posix_memalign(&a, 4096, n + 1) || ((uintptr_t)a & 4095)) DIE("posix_memalign");
    void *b = aligned_alloc(64, n + 64);
    if (!b || ((uintptr_t)b & 63)) DIE("aligned_alloc");
    fill(a, n + 1, 3);
    check(a, n + 1, 3, "posix_memalign");
    free(a); free(b); free(p); free(q);
  }
  for (int i = 0; i < 64; i++) {
    slot_n[i] = sizes[(size_t)i % NS] / 4 + 1;
    if (!(slots[i] = malloc(slot_n[i]))) DIE("malloc");
    fill(slots[i], slot_n[i], (unsigned)i);
  }
  pthread_t t;
  void **theirs;
  if (pthread_create(&t, NULL, thread_free, NULL) || pthread_join(t, (void **)&theirs)) DIE("thread");
  for (int i = 1; i < 64; i += 2) { check(slots[i], slot_n[i], (unsigned)i, "local"); free(slots[i]); }
  for (int i = 0; i < 100; i++) free(theirs[i]);
  free(theirs);
  char *s = strdup("strata under valgrind");
  if (!s || strcmp(s, "strata under valgrind") != 0) DIE("strdup");
  free(s);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "where") == 0) {
    Dl_info di;
    if (!dladdr((void *)malloc, &di) || !di.dli_fname) DIE("dladdr(malloc) failed");
    printf("%s\n", di.dli_fname);
    return 0;
  }
  workload();
  if (strcmp(mode, "bugs") == 0) {
    volatile char *p = malloc(24);
    if (!p) DIE("malloc");
    p[24] = 1;                                /* one byte past the block */
    free((void *)p);
    volatile char c = p[0];                   /* use after free */
    (void)c;
  }
  puts("vg_workload: ok");
  return 0;
}
