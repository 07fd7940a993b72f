/* Unit test: the size-class table and its waste bound. */
#include <stdio.h>
#include <stdlib.h>
#include "malloc/internal.h"

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
  fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); exit(1); } } while (0)

int main(void) {
  /* classes increase strictly, end at ST_MEDIUM_MAX, are multiples of 16 */
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    size_t s = _st_class_size(c);
    CHECK(s % 16 == 0, "class %u size %zu not a multiple of 16", c, s);
    if (c) CHECK(s > _st_class_size(c - 1), "class %u not increasing", c);
    CHECK(_st_class_of(s) == c, "class_of(size of class %u) = %u", c, _st_class_of(s));
    unsigned sl = _st_class_slices(c);
    CHECK(sl >= 1 && sl <= 16, "class %u: %u slices", c, sl);
    size_t span = (size_t)sl * ST_SLICE_SIZE, blocks = span / s;
    CHECK(blocks >= 8, "class %u: only %zu blocks per span", c, blocks);
    CHECK(span - blocks * s <= span / 8, "class %u: span tail waste %zu", c, span - blocks * s);
  }
  CHECK(_st_class_size(ST_NCLASSES - 1) == ST_MEDIUM_MAX, "last class is %zu", _st_class_size(ST_NCLASSES - 1));
  /* every size maps to the smallest class that fits; waste < 12.5% above 128
   * bytes and under 16 bytes below (16-byte alignment, see sizeclass.c) */
  double worst = 0;
  size_t worst_n = 0;
  for (size_t n = 0; n <= ST_MEDIUM_MAX; n++) {
    unsigned c = _st_class_of(n);
    size_t s = _st_class_size(c);
    CHECK(c < ST_NCLASSES && s >= n, "size %zu -> class %u (%zu)", n, c, s);
    CHECK(c == 0 || _st_class_size(c - 1) < n, "size %zu not in the smallest class", n);
    if (n <= ST_SMALL_FAST_MAX) CHECK(st_class_fast(n) == c, "table disagrees at %zu", n);
    CHECK(s - n < 16 || n < 16 || (double)(s - n) < 0.125 * (double)n, "size %zu wastes %zu bytes", n, s - n);
    if (n > 128) {
      double w = (double)(s - n) / (double)n;
      if (w > worst) { worst = w; worst_n = n; }
      CHECK(w < 0.125, "size %zu wastes %.1f%% in class %zu", n, 100 * w, s);
    }
  }
  /* natural alignment (aligned.c): for every power-of-two alignment up to
   * 64 KiB and every size whose rounded size is a class, the class chosen
   * for the rounded size is a multiple of the alignment */
  for (size_t a = 16; a <= ST_SLICE_SIZE; a <<= 1)
    for (size_t n = 0; n <= ST_MEDIUM_MAX; n++) {
      size_t r = ((n ? n : 1) + a - 1) & ~(a - 1);
      if (r > ST_MEDIUM_MAX) break;
      CHECK(_st_class_size(_st_class_of(r)) % a == 0, "align %zu size %zu: class %zu", a, n,
            _st_class_size(_st_class_of(r)));
    }
  printf("size classes: %d, largest %zu, worst waste above 128 bytes %.2f%% (at %zu)\n",
         ST_NCLASSES, ST_MEDIUM_MAX, 100 * worst, worst_n);
  for (unsigned c = 0; c < ST_NCLASSES; c++)
    printf("%zu%s", _st_class_size(c), c + 1 < ST_NCLASSES ? (c % 16 == 15 ? "\n" : " ") : "\n");
  return 0;
}
