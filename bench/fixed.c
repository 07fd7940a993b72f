/* bench/fixed.c -- one size, random replacement: keep WINDOW blocks of S
 * bytes live, and OPS times free a random one and malloc a new one in its
 * place, writing the new block's first and last byte (the old one's first
 * byte is read before its free, into a checksum printed at the end).
 *
 *   build/bench/fixed S OPS [WINDOW]      (WINDOW default 10000)
 *
 * The allocator is chosen with LD_PRELOAD; time it from outside
 * (bench/cpu_series.py with WORKLOADS=build/bench/fixed).  What it shows:
 * the cost of a secure mode's zeroing when the size never changes (its
 * branches predict), against churn's random mix (docs/hardening.md,
 * "Secure mode"), and how an allocator copes when every page of a class
 * stays full (docs/malloc.md, section 19). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s SIZE OPS [WINDOW]\n", argv[0]); return 2; }
  size_t size = strtoul(argv[1], NULL, 0);
  long ops = atol(argv[2]);
  long window = argc > 3 ? atol(argv[3]) : 10000;
  if (size == 0 || ops < 0 || window <= 0) { fprintf(stderr, "fixed: bad arguments\n"); return 2; }
  unsigned char **slot = calloc((size_t)window, sizeof *slot);
  if (slot == NULL) { perror("calloc"); return 1; }
  for (long i = 0; i < window; i++) {
    if ((slot[i] = malloc(size)) == NULL) { perror("malloc"); return 1; }
    slot[i][0] = (unsigned char)i;
    slot[i][size - 1] = 1;
  }
  uint64_t x = 88172645463325252ull, sum = 0;
  for (long k = 0; k < ops; k++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;              /* xorshift64 */
    long i = (long)(x % (uint64_t)window);
    sum += slot[i][0];
    free(slot[i]);
    unsigned char *n = malloc(size);
    if (n == NULL) { perror("malloc"); return 1; }
    n[0] = (unsigned char)k;
    n[size - 1] = 1;
    slot[i] = n;
  }
  for (long i = 0; i < window; i++) free(slot[i]);
  free(slot);
  printf("%llu\n", (unsigned long long)sum);
  return 0;
}
