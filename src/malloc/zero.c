/* Secure mode's zeroing of freed blocks (docs/hardening.md, "Secure mode").
 *
 * A freed block is zeroed before it can be handed out again, so its old
 * content is never readable through a later allocation.  What that costs is
 * memory bandwidth: a block of tens or hundreds of KiB is mostly out of the
 * cache by the time the program frees it, and memset's ordinary stores read
 * every line in before overwriting it (read for ownership).  Blocks of
 * ST_ZERO_STREAM_MIN bytes or more are zeroed with non-temporal stores
 * instead, which write whole lines to memory without reading them: 2.5-2.7x
 * faster than memset on cold blocks of 4 KiB to 576 KiB on this machine
 * (AMD EPYC, docs/hardening.md), at the price of leaving the block out of
 * the cache (the next owner's first touch of each line misses, which it
 * mostly would anyway at these sizes).  Smaller blocks are zeroed inline
 * (st_zero_block, internal.h): with one `rep stosb` where the CPU says its
 * short string stores are fast (_st_zero_how), else with 16-byte stores up
 * to ST_ZERO_INLINE_MAX bytes and memset above.
 */
#include <string.h>
#include "malloc/internal.h"
#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* How st_zero_block zeroes blocks below ST_ZERO_STREAM_MIN on this CPU.
 * `rep stosb` where CPUID reports enhanced string stores (ERMS) together
 * with fast short `rep movsb` (FSRM), or fast short `rep stosb` (FSRS):
 * then a short string store starts in a few cycles, and it zeroes a block
 * of any size with no branch on the size.  On the AMD EPYC these machines
 * have (ERMS and FSRM), churn under the secure build ran in 1.39x the
 * default build's CPU time with it against 1.83x with the 16-byte stores,
 * whose branches on the size mispredict on a random mix of sizes
 * (docs/hardening.md, "Secure mode").  Older CPUs start a string store in
 * tens of cycles, so they keep the stores.  -DST_ZERO_REP_OK=0 builds
 * without string stores (for measurement). */
#ifndef ST_ZERO_REP_OK
#define ST_ZERO_REP_OK 1
#endif
int _st_zero_how(void) {
#if defined(__x86_64__)
  unsigned a, b, c, d;
  if (ST_ZERO_REP_OK && __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    bool erms = (b >> 9) & 1, fsrm = (d >> 4) & 1, fsrs = false;
    if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) fsrs = (a >> 11) & 1;
    if ((erms && fsrm) || fsrs) return ST_ZERO_REP;
  }
#endif
  return ST_ZERO_STORES;
}

/* [p, p + n) becomes 0; p 16-byte aligned, n a multiple of 16. */
void _st_zero_big(void *p, size_t n) {
#if defined(__x86_64__) || defined(__SSE2__)
  if (n >= ST_ZERO_STREAM_MIN) {
    __m128i z = _mm_setzero_si128();
    char *c = p, *e = c + n;
    for (; c + 64 <= e; c += 64) {
      _mm_stream_si128((__m128i *)c, z);
      _mm_stream_si128((__m128i *)(c + 16), z);
      _mm_stream_si128((__m128i *)(c + 32), z);
      _mm_stream_si128((__m128i *)(c + 48), z);
    }
    for (; c < e; c += 16) _mm_stream_si128((__m128i *)c, z);
    _mm_sfence();   /* the zeros are visible before the block is listed again */
    return;
  }
#endif
  memset(p, 0, n);
}
