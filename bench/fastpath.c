/* bench/fastpath.c -- the malloc+free fast path, for counting instructions.
 *
 *   fastpath [K [SIZE [LIVE]]]      (defaults: K=1000, SIZE=32, LIVE=16)
 *
 * Warms up with 1000 malloc(SIZE)/free pairs, allocates LIVE blocks of SIZE
 * that stay live (so the measured block's page never becomes empty: a lone
 * malloc/free pair in an otherwise empty page makes some allocators retire
 * or reset the page on every free, which a real program rarely sees), then
 * runs exactly K iterations of p = do_malloc(SIZE); touch p; do_free(p).  do_malloc / do_free are
 * noinline wrappers, so a profiler (bench/callgrind.sh, valgrind's
 * callgrind) can attribute the cost of the malloc and free calls made from
 * the measured loop, whatever the allocator names its entry points.
 * Running it with two values of K and differencing cancels the warm-up, the
 * first-call initialisation and any one-off slow path.
 *
 * Not linked against strata: preload the allocator to measure.
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline, noclone)) void *do_malloc(size_t n) {
  void *p = malloc(n);
  __asm__ volatile("" ::: "memory");   /* no tail call: a real call frame */
  return p;
}

__attribute__((noinline, noclone)) void do_free(void *p) {
  free(p);
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline, noclone)) void measured_loop(long k, size_t size) {
  for (long i = 0; i < k; i++) {
    volatile char *p = do_malloc(size);
    if (!p) { fputs("fastpath: malloc returned NULL\n", stderr); exit(1); }
    p[0] = (char)i;
    p[size - 1] = (char)i;
    do_free((void *)p);
  }
}

int main(int argc, char **argv) {
  long k = argc > 1 ? atol(argv[1]) : 1000;
  long size = argc > 2 ? atol(argv[2]) : 32;
  long live = argc > 3 ? atol(argv[3]) : 16;
  if (k < 0 || size < 1 || live < 0 || live > 100000) {
    fputs("usage: fastpath [K [SIZE [LIVE]]]\n", stderr);
    return 2;
  }
  for (int i = 0; i < 1000; i++) {       /* warm-up: init, thread cache, page */
    volatile char *p = malloc((size_t)size);
    if (!p) return 1;
    p[0] = 1;
    free((void *)p);
  }
  void **keep = calloc((size_t)live + 1, sizeof *keep);
  if (!keep) return 1;
  for (long i = 0; i < live; i++) {
    keep[i] = malloc((size_t)size);
    if (!keep[i]) return 1;
    *(volatile char *)keep[i] = 1;
  }
  measured_loop(k, (size_t)size);
  for (long i = 0; i < live; i++) free(keep[i]);
  free(keep);
  printf("fastpath: %ld iterations of malloc(%ld)+free done, %ld live\n", k, size, live);
  return 0;
}
