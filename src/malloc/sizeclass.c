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
 * the size itself (1 KiB of table, written as one range per class: no
 * rounding on malloc's fast path, two instructions fewer than indexing by
 * (size + 7) / 8); the table is checked against _st_class_of() for every
 * size by tests/u_sizeclass.c.
 */
#include "malloc/internal.h"

const uint8_t _st_class_small[ST_SMALL_FAST_MAX + 1] = {
  [0 ... 16] = 0, [17 ... 32] = 1, [33 ... 48] = 2, [49 ... 64] = 3,
  [65 ... 80] = 4, [81 ... 96] = 5, [97 ... 112] = 6, [113 ... 128] = 7,
  [129 ... 144] = 8, [145 ... 160] = 9, [161 ... 176] = 10, [177 ... 192] = 11,
  [193 ... 208] = 12, [209 ... 224] = 13, [225 ... 240] = 14, [241 ... 256] = 15,
  [257 ... 288] = 16, [289 ... 320] = 17, [321 ... 352] = 18, [353 ... 384] = 19,
  [385 ... 416] = 20, [417 ... 448] = 21, [449 ... 480] = 22, [481 ... 512] = 23,
  [513 ... 576] = 24, [577 ... 640] = 25, [641 ... 704] = 26, [705 ... 768] = 27,
  [769 ... 832] = 28, [833 ... 896] = 29, [897 ... 960] = 30, [961 ... 1024] = 31,
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
