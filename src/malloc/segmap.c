/* The segment map: which 4 MiB slots of the address space are strata's.
 *
 * A flat byte array indexed by address >> 22 (see internal.h for the
 * values).  It lives in BSS, so only the 4 KiB pages covering address ranges
 * strata has used ever become resident (typically one or two).
 *
 * Protocol: bytes are written with relaxed atomic stores by the thread that
 * owns the mapping (after creating it, before releasing it) and read with
 * relaxed loads.  A reader only looks up pointers it was handed by malloc, so
 * the owner's write happened-before the read through whatever synchronisation
 * passed the pointer along.
 */
#include <errno.h>
#include "malloc/internal.h"

uint8_t _st_segmap[SEGMAP_SLOTS];

/* Mark `slots` slots from p: the first gets `first_value`; with `large` the
 * following ones get SEGMAP_LARGE + distance.  Returns 0, or -1/ENOMEM when
 * the range lies outside the mapped address space. */
int _st_segmap_set(const void *p, size_t slots, unsigned first_value, int large) {
  uintptr_t s0 = (uintptr_t)p >> ST_SEGMENT_SHIFT;
  if (s0 + slots > SEGMAP_SLOTS || s0 + slots < s0) { errno = ENOMEM; return -1; }
  for (size_t i = 0; i < slots; i++) {
    unsigned v = (i == 0 || !large) ? first_value : SEGMAP_LARGE + (unsigned)i;
    __atomic_store_n(&_st_segmap[s0 + i], (uint8_t)v, __ATOMIC_RELAXED);
  }
  return 0;
}

void _st_segmap_clear(const void *p, size_t slots) {
  uintptr_t s0 = (uintptr_t)p >> ST_SEGMENT_SHIFT;
  for (size_t i = 0; i < slots && s0 + i < SEGMAP_SLOTS; i++)
    __atomic_store_n(&_st_segmap[s0 + i], 0, __ATOMIC_RELAXED);
}
