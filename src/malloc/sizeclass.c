/* Size classes.
 *
 * Class c has block size:
 *   c < 15 :  16 + 8c                     (16, 24, ..., 128)
 *   c >= 15:  2^b + (i+1) * 2^(b-3)       with b = 7 + (c-15)/8, i = (c-15)%8
 *             (144, 160, ..., 256, 288, ..., 128 KiB)
 * so above 128 bytes there are 8 classes per doubling and a request of n
 * bytes wastes less than n/8 (12.5%); above 64 bytes the 8-byte steps keep
 * the same bound.  Blocks are 16-byte aligned when the class size is a
 * multiple of 16 (every class except 24, 40, ..., 120, which are 8-aligned
 * like mimalloc's), because spans start on 64 KiB boundaries.
 *
 * Sizes up to ST_SMALL_FAST_MAX are looked up in _st_class_small, indexed by
 * (size + 7) / 8; the table is checked against _st_class_of() by
 * tests/u_sizeclass.c.
 */
#include "malloc/internal.h"

const uint8_t _st_class_small[ST_SMALL_FAST_MAX / 8 + 1] = {
  0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
  14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 22,
  22, 23, 23, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26,
  26, 27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30,
  30, 31, 31, 31, 31, 31, 31, 31, 31, 32, 32, 32, 32, 32, 32, 32,
  32, 33, 33, 33, 33, 33, 33, 33, 33, 34, 34, 34, 34, 34, 34, 34,
  34, 35, 35, 35, 35, 35, 35, 35, 35, 36, 36, 36, 36, 36, 36, 36,
  36, 37, 37, 37, 37, 37, 37, 37, 37, 38, 38, 38, 38, 38, 38, 38,
  38,
};

size_t _st_class_size(unsigned c) {
  if (c < 15) return 16 + 8 * (size_t)c;
  unsigned k = c - 15, b = 7 + k / 8, i = k % 8;
  return ((size_t)1 << b) + (size_t)(i + 1) * ((size_t)1 << (b - 3));
}

unsigned _st_class_of(size_t n) {
  if (n <= 128) return n <= 16 ? 0 : (unsigned)((n + 7) >> 3) - 2;
  unsigned b = 63u - (unsigned)__builtin_clzl(n - 1);     /* 2^b < n <= 2^(b+1) */
  return 15 + (b - 7) * 8 + (unsigned)(((n - 1) >> (b - 3)) & 7);
}

/* A span holds at least 8 blocks, so the unused tail is below 1/8 of it. */
unsigned _st_class_slices(unsigned c) {
  size_t s = _st_class_size(c);
  if (s <= ST_SLICE_SIZE / 8) return 1;
  return (unsigned)((8 * s + ST_SLICE_SIZE - 1) / ST_SLICE_SIZE);
}
