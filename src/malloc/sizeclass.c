/* Size classes.
 *
 * Class c has block size:
 *   c < 8 :  16 (c+1)                     (16, 32, ..., 128)
 *   c >= 8:  2^b + (i+1) * 2^(b-3)        with b = 7 + (c-8)/8, i = (c-8)%8
 *            (144, 160, ..., 256, 288, ..., 128 KiB)
 * Every class is a multiple of 16, so every block is 16-byte aligned: the
 * x86-64 ABI (max_align_t) and compilers (clang annotates malloc results of
 * 16 bytes or more as 16-aligned) require it.  Above 128 bytes there are 8
 * classes per doubling, so a request of n bytes wastes less than n/8
 * (12.5%); from 65 to 128 bytes the 16-byte steps waste at most 15 bytes
 * (23% at 65 -> 80), the price of that alignment.
 *
 * Sizes up to ST_SMALL_FAST_MAX are looked up in _st_class_small, indexed by
 * (size + 7) / 8; the table is checked against _st_class_of() by
 * tests/u_sizeclass.c.
 */
#include "malloc/internal.h"

const uint8_t _st_class_small[ST_SMALL_FAST_MAX / 8 + 1] = {
  0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7,
  7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15,
  15, 16, 16, 16, 16, 17, 17, 17, 17, 18, 18, 18, 18, 19, 19, 19,
  19, 20, 20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22, 23, 23, 23,
  23, 24, 24, 24, 24, 24, 24, 24, 24, 25, 25, 25, 25, 25, 25, 25,
  25, 26, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27,
  27, 28, 28, 28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29,
  29, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31, 31, 31, 31, 31, 31,
  31,
};

size_t _st_class_size(unsigned c) {
  if (c < 8) return 16 * ((size_t)c + 1);
  unsigned k = c - 8, b = 7 + k / 8, i = k % 8;
  return ((size_t)1 << b) + (size_t)(i + 1) * ((size_t)1 << (b - 3));
}

unsigned _st_class_of(size_t n) {
  if (n <= 128) return n <= 16 ? 0 : (unsigned)((n + 15) >> 4) - 1;
  return st_class_medium(n);
}

/* A span holds at least 8 blocks, so the unused tail is below 1/8 of it. */
unsigned _st_class_slices(unsigned c) {
  size_t s = _st_class_size(c);
  if (s <= ST_SLICE_SIZE / 8) return 1;
  return (unsigned)((8 * s + ST_SLICE_SIZE - 1) / ST_SLICE_SIZE);
}
