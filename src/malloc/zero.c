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
 * (st_zero_block, internal.h) or with memset.
 */
#include <string.h>
#include "malloc/internal.h"
#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
#endif

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
