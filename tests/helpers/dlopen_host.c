/* tests/helpers/dlopen_host.c -- NOT linked against strata.  Run by
 * t_dlopen with the path of libstrata.so: checks that the process's malloc
 * is glibc's, dlopens strata with RTLD_NOW|RTLD_LOCAL and uses its strata_
 * API from the main thread and from threads created before and after the
 * dlopen, with content checks and cross-thread frees; glibc's malloc keeps
 * working alongside and stays glibc's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test.h"

static void *(*s_malloc)(size_t);
static void (*s_free)(void *);
static void *(*s_realloc)(void *, size_t);
static void *(*s_calloc)(size_t, size_t);
static int (*s_posix_memalign)(void **, size_t, size_t);
static size_t (*s_usable)(const void *);
static int (*s_heap_check)(void);

static const char *lib_of(void *addr) {
  static __thread char buf[PATH_MAX];
  Dl_info info;
  if (!dladdr(addr, &info) || !info.dli_fname) return "?";
  snprintf(buf, sizeof buf, "%s", info.dli_fname);
  return buf;
}

/* blk_t, blk_fill, blk_vfy: test.h (malloc here is glibc's: never blk_new). */
static blk_t smk(size_t n, uint64_t salt) {
  blk_t b = { s_malloc(n), n, 0 };
  CHECK(b.p != NULL, "strata_malloc(%zu) failed", n);
  CHECK(s_usable(b.p) >= n, "strata_malloc_usable_size(%p) = %zu < %zu", b.p, s_usable(b.p), n);
  blk_fill(&b, salt);
  return b;
}

/* Cross-thread hand-off: a mutex-protected stack of blocks. */
enum { XCAP = 4096 };
static pthread_mutex_t xmu = PTHREAD_MUTEX_INITIALIZER;
static blk_t xs[XCAP];
static int xn;

static void give(blk_t b) {
  pthread_mutex_lock(&xmu);
  if (xn < XCAP) { xs[xn++] = b; b.p = NULL; }
  pthread_mutex_unlock(&xmu);
  if (b.p) { blk_vfy(&b, "give overflow"); s_free(b.p); }
}
static int take(blk_t *b) {
  pthread_mutex_lock(&xmu);
  int ok = xn > 0;
  if (ok) *b = xs[--xn];
  pthread_mutex_unlock(&xmu);
  return ok;
}

static pthread_barrier_t start_bar;
static atomic_int loaded;
static atomic_long ops;

static void work(uintptr_t id) {
  uint64_t rs = 1234 + id * 99;
  blk_t mine[128];
  memset(mine, 0, sizeof mine);
  for (int it = 0; it < 20000; it++) {
    uint64_t r = rnd_next(&rs);
    blk_t *b = &mine[r % 128];
    if (b->p) {
      blk_vfy(b, "worker");
      switch ((r >> 8) % 4) {
      case 0: give(*b); break;                      /* freed by someone else */
      case 1: {
        size_t nn = 1 + (r >> 20) % 20000;
        void *q = s_realloc(b->p, nn);
        CHECK(q != NULL, "strata_realloc");
        CHECK(pat_check(q, nn < b->n ? nn : b->n, b->seed) == 0, "strata_realloc lost contents");
        s_free(q);
        break;
      }
      default: s_free(b->p);
      }
      b->p = NULL;
    } else {
      size_t n = (r >> 30) % 100 == 0 ? 100000 + (r >> 12) % 2000000 : 1 + (r >> 12) % 2000;
      *b = smk(n, r);
    }
    blk_t o;
    if ((r & 3) == 0 && take(&o)) { blk_vfy(&o, "cross-thread free"); s_free(o.p); }
    /* glibc's malloc alongside */
    if ((r & 63) == 0) {
      char *g = malloc(100);
      CHECK(g != NULL, "glibc malloc");
      memset(g, 1, 100);
      free(g);
    }
  }
  for (int i = 0; i < 128; i++) if (mine[i].p) { blk_vfy(&mine[i], "worker end"); s_free(mine[i].p); }
  atomic_fetch_add(&ops, 20000);
}

static void *early_thread(void *a) {
  /* Created before dlopen: uses glibc's malloc first, waits for the load. */
  void *g = malloc(1000);
  CHECK(g != NULL, "malloc");
  pthread_barrier_wait(&start_bar);
  CHECK(atomic_load(&loaded), "barrier passed before load");
  work((uintptr_t)a);
  free(g);
  return NULL;
}
static void *late_thread(void *a) {
  work((uintptr_t)a);
  return NULL;
}

#define LOOKUP(var, name)                                                       \
  do {                                                                          \
    *(void **)&var = dlsym(h, name);                                            \
    CHECK(var != NULL, "dlsym(%s) in the dlopened library failed: %s", name, dlerror()); \
  } while (0)

int main(int argc, char **argv) {
  CHECK(argc == 2, "usage: dlopen_host /path/to/libstrata.so");
  const char *lib = argv[1];
  /* This process's malloc is glibc's. */
  const char *m = lib_of((void *)&malloc);
  CHECK(strstr(m, "libc.so") != NULL && strstr(m, "strata") == NULL, "plain malloc resolves into %s, not glibc", m);
  CHECK(dlsym(RTLD_DEFAULT, "strata_malloc") == NULL, "strata_malloc is visible before the dlopen");

  pthread_barrier_init(&start_bar, NULL, 3);
  pthread_t early[2], late[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&early[i], NULL, early_thread, (void *)(uintptr_t)i) == 0, "create");

  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  CHECK(h != NULL, "dlopen(%s): %s", lib, dlerror());
  LOOKUP(s_malloc, "strata_malloc");
  LOOKUP(s_free, "strata_free");
  LOOKUP(s_realloc, "strata_realloc");
  LOOKUP(s_calloc, "strata_calloc");
  LOOKUP(s_posix_memalign, "strata_posix_memalign");
  LOOKUP(s_usable, "strata_malloc_usable_size");
  LOOKUP(s_heap_check, "strata_heap_check");
  CHECK(strstr(lib_of((void *)s_malloc), "libstrata") != NULL, "strata_malloc is in %s", lib_of((void *)s_malloc));

  /* After the dlopen the global malloc is still glibc's. */
  void *gm = dlsym(RTLD_DEFAULT, "malloc");
  CHECK(gm != NULL && strstr(lib_of(gm), "libc.so") != NULL, "after dlopen, malloc resolves into %s", gm ? lib_of(gm) : "(null)");
  CHECK(dlsym(RTLD_DEFAULT, "strata_malloc") == NULL, "RTLD_LOCAL library leaked strata_malloc into the global scope");

  /* Main-thread use. */
  blk_t a = smk(100, 1), b = smk(100000, 2), c = smk(5 << 20, 3);
  void *z = s_malloc(0);
  CHECK(z != NULL, "strata_malloc(0) = NULL");
  s_free(z);
  s_free(NULL);
  char *cz = s_calloc(1000, 10);
  CHECK(cz != NULL && mem_is_zero(cz, 10000), "strata_calloc(1000, 10)");
  s_free(cz);
  void *al = NULL;
  CHECK(s_posix_memalign(&al, 4096, 10000) == 0 && ((uintptr_t)al & 4095) == 0, "strata_posix_memalign(4096) = %p", al);
  CHECK(s_usable(al) >= 10000, "usable size of aligned block");
  memset(al, 7, 10000);
  s_free(al);
  void *out = (void *)1;
  CHECK(s_posix_memalign(&out, 24, 10) == EINVAL && out == (void *)1, "strata_posix_memalign(24) not EINVAL");
  static const size_t sz[] = { 1, 24, 100, 1000, 20000, 200000, 2000000, 9000 };
  for (int i = 0; i < 8; i++) {
    void *q = s_realloc(a.p, sz[i]);
    CHECK(q != NULL, "strata_realloc(%zu -> %zu)", a.n, sz[i]);
    CHECK(pat_check(q, a.n < sz[i] ? a.n : sz[i], a.seed) == 0, "strata_realloc(%zu -> %zu) lost contents", a.n, sz[i]);
    a.p = q; a.n = sz[i];
    pat_fill(a.p, a.n, a.seed);
  }
  blk_vfy(&b, "main"); blk_vfy(&c, "main");
  give(b); /* freed later by a thread */

  atomic_store(&loaded, 1);
  pthread_barrier_wait(&start_bar);
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&late[i], NULL, late_thread, (void *)(uintptr_t)(10 + i)) == 0, "create");
  work(100);
  for (int i = 0; i < 2; i++) pthread_join(early[i], NULL);
  for (int i = 0; i < 2; i++) pthread_join(late[i], NULL);
  blk_t o;
  while (take(&o)) { blk_vfy(&o, "leftover"); s_free(o.p); }
  blk_vfy(&a, "main"); s_free(a.p);
  blk_vfy(&c, "main"); s_free(c.p);
  CHECK(s_heap_check() == 0, "strata_heap_check() in the dlopened library");
  CHECK(strstr(lib_of((void *)&malloc), "libc.so") != NULL, "malloc changed owner");
  printf("dlopen_host: %ld ops through the dlopened strata from 5 threads, all passed\n", atomic_load(&ops));
  return 0;
}
