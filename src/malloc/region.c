/* Large-block regions: blocks above 128 KiB up to 16 MiB carved from 64 MiB
 * regions whose free space coalesces, so a program that frees a 3 MiB block
 * and then asks for 5 MiB reuses the resident pages of its neighbours
 * instead of faulting in fresh ones (mimalloc serves these sizes from spans
 * of its segments for the same reason).  Before, blocks up to 1 MiB were
 * spans of their own in the small-object segments and bigger ones had a
 * mapping each, with a cache of parked mappings (large.c) that cannot merge.
 *
 *   region (64 MiB, aligned to 64 MiB; one mapping, read-write, no reserve)
 *   +----------+----------+----------------+-------+---------------------+
 *   | region_t | headers  | block A        | free  | block B             |
 *   | unit 0   | unit 1   | units 2..6     |       | ...       unit 1023 |
 *   +----------+----------+----------------+-------+---------------------+
 *   unit = 64 KiB.  hdr[u] (a large_t, 64 bytes, in unit 1) describes the
 *   block that starts at unit u; blocks start on units, so they are 64 KiB
 *   aligned and their headers lie out of line, away from user data.
 *
 * Every segment-map slot of a region holds SEGMAP_REGION + its index in the
 * region, so free(p) finds the region with one load and checks that p starts
 * a live block (hdr[u].magic == RG_LIVE, hdr[u].block == p).
 *
 * Invariants (under rg_lock; _st_region_check verifies them):
 *   - units 0 and 1 are never free; every other unit is either free (its bit
 *     in freem set) or covered by exactly one live block, whose header sits
 *     at its first unit: map_size == usable == units * RG_UNIT;
 *   - free_units == the number of free bits; a live block's units are all
 *     dirty (dirtym: the program may have written them);
 *   - a free dirty unit holds resident pages nobody uses: rg_dirty_free
 *     counts them (over all regions), freed_ms[u] says since when.
 * Allocation is best fit over the runs of free units, at the run's start.
 * Dirty free units go back to the OS (madvise) purge_ms after their free
 * (purge thread, malloc_trim, or at once over the soft limit or with
 * purge_ms=0), and earlier when a block needs fresh units while old dirty
 * ones sit stranded in runs too short for it (the exchange, as the page heap
 * does for slices).  A region that is all free and clean is unmapped.
 *
 * Charge (limits.c): the header units when a region is made, and each unit
 * from the moment it turns dirty until it is purged (or until its block
 * moves into a mapping, which takes the charge over: rg_free with moved).
 *
 * Secure mode: only blocks up to 1 MiB come here (bigger ones get guarded
 * mappings); what goes free, by free or by a shrinking realloc, is zeroed.
 *
 * Locking: one mutex, rg_lock, for every region; held across the madvise of
 * a purge (a purged run must not be handed out while its pages go away), never
 * while taking another strata lock.  Large blocks are rare enough that one
 * lock is not a bottleneck: each costs page faults worth far more.
 * A block's header is read without the lock only by whoever holds the block
 * (free, realloc, malloc_usable_size): its writes happened before the
 * pointer was handed out.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "malloc/internal.h"

#define RG_SHIFT      26
#define RG_SIZE       ((size_t)1 << RG_SHIFT)            /* 64 MiB */
#define RG_UNIT_SHIFT 16
#define RG_UNIT       ((size_t)1 << RG_UNIT_SHIFT)        /* 64 KiB */
#define RG_UNITS      ((unsigned)(RG_SIZE >> RG_UNIT_SHIFT))
#define RG_FIRST      2u                                   /* units 0, 1: metadata */
#define RG_WORDS      (RG_UNITS / 64)
#define RG_SLOTS      (RG_SIZE >> ST_SEGMENT_SHIFT)
#define RG_LIVE       ST_REGION_MAGIC
#define RG_FREED      0x5354524c52474e46ull                /* "STRLRGNF" */
#define RG_FREEING    0x5354524c52474e5aull                /* "STRLRGNZ": claimed by a free */
#define RG_EXCHANGE_DIV 25          /* exchange purges units free >= purge_ms/25 */

_Static_assert(RG_UNITS * sizeof(large_t) <= RG_UNIT, "headers fit unit 1");
_Static_assert(RG_SLOTS + SEGMAP_REGION <= 255, "segment-map values fit a byte");

typedef struct region_s {
  struct region_s *next;          /* rg_list */
  unsigned free_units;
  uint64_t freem[RG_WORDS];       /* 1 = free unit */
  uint64_t dirtym[RG_WORDS];      /* 1 = may be resident */
  uint64_t startm[RG_WORDS];      /* 1 = hdr[u] has been written (live or freed) */
  uint32_t freed_ms[RG_UNITS];    /* when a free dirty unit was freed */
} region_t;
_Static_assert(sizeof(region_t) <= RG_UNIT, "region_t fits unit 0");

static pthread_mutex_t rg_lock = PTHREAD_MUTEX_INITIALIZER;
static region_t *rg_list;                 /* under rg_lock */
static size_t rg_regions, rg_dirty_free;  /* under rg_lock; rg_dirty_free in units */
static uint32_t rg_last_tick;             /* under rg_lock: ms of the last timed purge */
static _Atomic size_t rg_live, rg_count, rg_req;   /* bytes, blocks, bytes asked */

static inline large_t *rg_hdr(region_t *r) { return (large_t *)((uint8_t *)r + RG_UNIT); }
static inline uint8_t *rg_unit(region_t *r, unsigned u) { return (uint8_t *)r + ((size_t)u << RG_UNIT_SHIFT); }
static inline region_t *rg_of(const void *p) { return (region_t *)((uintptr_t)p & ~(uintptr_t)(RG_SIZE - 1)); }

/* ---- bitmaps of RG_UNITS bits ---------------------------------------------- */

static inline bool bit(const uint64_t *m, unsigned u) { return (m[u / 64] >> (u % 64)) & 1; }

/* The first unit >= u whose bit is `want` (RG_UNITS if none). */
static unsigned next_bit(const uint64_t *m, unsigned u, bool want) {
  while (u < RG_UNITS) {
    uint64_t w = want ? m[u / 64] : ~m[u / 64];
    w &= ~(uint64_t)0 << (u % 64);
    if (w) return (u & ~63u) + (unsigned)__builtin_ctzll(w);
    u = (u & ~63u) + 64;
  }
  return RG_UNITS;
}

/* The bits of [a, b) that fall in word w. */
static inline uint64_t word_mask(unsigned w, unsigned a, unsigned b) {
  unsigned lo = w * 64, hi = lo + 64;
  if (a > lo) lo = a;
  if (b < hi) hi = b;
  if (lo >= hi) return 0;
  uint64_t m = ~(uint64_t)0 << (lo % 64);
  return hi % 64 ? m & ~(~(uint64_t)0 << (hi % 64)) : m;
}

static void set_bits(uint64_t *m, unsigned a, unsigned b, bool v) {
  for (unsigned w = a / 64; w * 64 < b; w++) {
    uint64_t k = word_mask(w, a, b);
    m[w] = v ? m[w] | k : m[w] & ~k;
  }
}

static unsigned count_bits(const uint64_t *m, unsigned a, unsigned b) {
  unsigned n = 0;
  for (unsigned w = a / 64; w * 64 < b; w++) n += (unsigned)__builtin_popcountll(m[w] & word_mask(w, a, b));
  return n;
}

/* ---- regions ---------------------------------------------------------------- */

/* A fresh region, linked in (rg_lock held), or NULL with errno ENOMEM and
 * *at_limit set when the hard limit refused its metadata's charge. */
static region_t *rg_new(bool *at_limit) {
  size_t meta = (size_t)RG_FIRST * RG_UNIT;
  if (!_st_charge(meta)) { *at_limit = true; errno = ENOMEM; return NULL; }
  region_t *r = _st_os_alloc(RG_SIZE, RG_SIZE);
  if (r == NULL) { _st_uncharge(meta); return NULL; }
  for (size_t i = 0; i < RG_SLOTS; i++)
    if (_st_segmap_set((uint8_t *)r + i * ST_SEGMENT_SIZE, 1, SEGMAP_REGION + (unsigned)i, 0) != 0) {
      _st_segmap_clear(r, i);
      _st_os_release(r, RG_SIZE);
      _st_uncharge(meta);
      errno = ENOMEM;
      return NULL;
    }
  long thp = _st_option(OPT_THP);   /* 1: the system's default (a 64 KiB purge would split huge pages) */
  if (thp != 1) _st_os_hint_huge(r, RG_SIZE, thp == 2);
  set_bits(r->freem, RG_FIRST, RG_UNITS, true);   /* a fresh mapping is zero: all clean */
  r->free_units = RG_UNITS - RG_FIRST;
  r->next = rg_list;
  rg_list = r;
  rg_regions++;
  return r;
}

static void rg_release(region_t *r) {
  _st_segmap_clear(r, RG_SLOTS);
  _st_os_release(r, RG_SIZE);
  _st_uncharge((size_t)RG_FIRST * RG_UNIT);
  rg_regions--;
}

static bool rg_empty_clean(const region_t *r) {
  return r->free_units == RG_UNITS - RG_FIRST && next_bit(r->dirtym, RG_FIRST, true) == RG_UNITS;
}

/* Unmap r if it is all free and clean (rg_lock held). */
static void rg_drop_if_empty(region_t *r) {
  if (!rg_empty_clean(r)) return;
  for (region_t **pr = &rg_list; *pr; pr = &(*pr)->next)
    if (*pr == r) { *pr = r->next; rg_release(r); return; }
}

/* Give back the free dirty units of r in [a, b) that were freed at least
 * min_age ms before t (all of them with min_age 0), at most *budget units;
 * rg_lock held.  Returns the bytes purged, which it uncharges unless told
 * not to (their charge went elsewhere). */
static size_t rg_purge_range(region_t *r, unsigned a, unsigned b, uint32_t t, uint32_t min_age, size_t *budget,
                             bool uncharge) {
  size_t bytes = 0;
  unsigned u = a;
  while (u < b && *budget > 0) {
    u = next_bit(r->dirtym, u, true);
    if (u >= b) break;
    if (!bit(r->freem, u) || (uint32_t)(t - r->freed_ms[u]) < min_age) { u++; continue; }
    unsigned e = u;
    while (e < b && e - u < *budget && bit(r->freem, e) && bit(r->dirtym, e) &&
           (uint32_t)(t - r->freed_ms[e]) >= min_age) e++;
    *budget -= e - u;
    if (_st_os_reset(rg_unit(r, u), (size_t)(e - u) << RG_UNIT_SHIFT) == 0) {
      set_bits(r->dirtym, u, e, false);           /* a failed reset stays dirty */
      rg_dirty_free -= e - u;
      bytes += (size_t)(e - u) << RG_UNIT_SHIFT;
    }
    u = e;
  }
  if (bytes && uncharge) _st_uncharge(bytes);
  return bytes;
}

/* Purge over every region (rg_lock held); with `release`, unmap regions left
 * all free and clean.  Returns the bytes given back. */
static size_t rg_purge_all(uint32_t min_age, size_t budget, int release) {
  uint32_t t = st_now_ms();
  size_t bytes = 0;
  for (region_t **pr = &rg_list; *pr;) {
    region_t *r = *pr;
    if (rg_dirty_free) bytes += rg_purge_range(r, RG_FIRST, RG_UNITS, t, min_age, &budget, true);
    if (release && rg_empty_clean(r)) {
      *pr = r->next;
      rg_release(r);
      continue;
    }
    pr = &r->next;
  }
  return bytes;
}

/* The best-fit run of n free units: the shortest run of at least n (the
 * lowest address among equals).  false if no region has one. */
static bool rg_find(unsigned n, region_t **rr, unsigned *ru) {
  unsigned best = RG_UNITS + 1;
  for (region_t *r = rg_list; r; r = r->next) {
    if (r->free_units < n) continue;
    for (unsigned u = next_bit(r->freem, RG_FIRST, true); u < RG_UNITS;) {
      unsigned e = next_bit(r->freem, u, false), len = e - u;
      if (len >= n && len < best) {
        best = len; *rr = r; *ru = u;
        if (len == n) return true;
      }
      u = next_bit(r->freem, e, true);
    }
  }
  return best <= RG_UNITS;
}

/* Units [u, u+n) of r, all free, become in use (rg_lock held; the caller
 * has charged the clean ones): a block starting at u (`start`), or the
 * growth of the block before u.  `was_dirty` receives their dirty bits (bit
 * i: unit u + i), for zeroing.  Stale headers inside the block are wiped, so
 * a free of an address inside it says "invalid pointer", not "double free". */
static void rg_take(region_t *r, unsigned u, unsigned n, uint64_t *was_dirty, bool start) {
  large_t *hdr = rg_hdr(r);
  for (unsigned i = 0; i < n; i++) {
    if (bit(r->dirtym, u + i)) { was_dirty[i / 64] |= (uint64_t)1 << (i % 64); rg_dirty_free--; }
    if ((i > 0 || !start) && bit(r->startm, u + i)) hdr[u + i].magic = 0;
  }
  set_bits(r->startm, start ? u + 1 : u, u + n, false);
  if (start) r->startm[u / 64] |= (uint64_t)1 << (u % 64);
  set_bits(r->freem, u, u + n, false);
  set_bits(r->dirtym, u, u + n, true);
  r->free_units -= n;
}

/* Units [u, u+n) of r, dirty, become free (rg_lock held). */
static void rg_give(region_t *r, unsigned u, unsigned n, uint32_t t) {
  set_bits(r->freem, u, u + n, true);
  for (unsigned i = u; i < u + n; i++) r->freed_ms[i] = t;
  r->free_units += n;
  rg_dirty_free += n;
}

/* The timed purge from inside calls (rg_lock held), at most every
 * purge_ms/2: without the purge thread (off, or not started because less
 * than its threshold waits) memory still goes back while the program uses
 * large blocks. */
static void rg_maybe_tick(void) {
  long ms = _st_option(OPT_PURGE_MS);
  if (ms < 0 || rg_dirty_free == 0) return;
  uint32_t t = st_now_ms();
  if ((uint32_t)(t - rg_last_tick) < (uint32_t)ms / 2) return;
  rg_last_tick = t;
  rg_purge_all((uint32_t)ms, SIZE_MAX, 1);
}

/* The exchange: a block that took `clean` fresh units while dirty free units
 * wait purges as many of those freed at least purge_ms/25 ago (stranded in
 * runs too short for it).  rg_lock held. */
static void rg_exchange(unsigned clean) {
  long ms = _st_option(OPT_PURGE_MS);
  if (clean == 0 || ms < 0 || rg_dirty_free == 0) return;
  rg_purge_all((uint32_t)(ms / RG_EXCHANGE_DIV), clean, 0);
}

/* Zero the units of a block that were dirty before it got them, up to
 * `size` bytes (fresh units are zero already). */
static void rg_zero(uint8_t *block, size_t size, unsigned n, const uint64_t *was_dirty) {
  for (unsigned i = 0; i < n; i++) {
    if (!((was_dirty[i / 64] >> (i % 64)) & 1)) continue;
    size_t off = (size_t)i << RG_UNIT_SHIFT;
    if (off >= size) break;
    memset(block + off, 0, size - off < RG_UNIT ? size - off : RG_UNIT);
  }
}

/* ---- the interface -------------------------------------------------------- */

void *_st_region_alloc(size_t size, size_t align, int zero, bool *at_limit) {
  unsigned n = (unsigned)((size + RG_UNIT - 1) >> RG_UNIT_SHIFT);
  uint64_t was_dirty[RG_MAX_BLOCK / RG_UNIT / 64] = {0};
  *at_limit = false;
  if (size > RG_MAX_BLOCK || align > RG_UNIT) { errno = EINVAL; return NULL; }
  for (int attempt = 0;; attempt++) {
    pthread_mutex_lock(&rg_lock);
    region_t *r = NULL;
    unsigned u = 0;
    bool fresh = false, lim = false;
    if (!rg_find(n, &r, &u)) {
      r = rg_new(&lim);
      u = RG_FIRST;
      fresh = true;
      if (r == NULL && !lim) { pthread_mutex_unlock(&rg_lock); return NULL; }   /* no mapping: errno set */
    }
    unsigned clean = r ? n - count_bits(r->dirtym, u, u + n) : 0;
    if (r != NULL && _st_charge((size_t)clean << RG_UNIT_SHIFT)) {
      rg_take(r, u, n, was_dirty, true);
      large_t *h = &rg_hdr(r)[u];
      h->map_size = h->usable = (size_t)n << RG_UNIT_SHIFT;
      h->block = rg_unit(r, u);
      h->align = align < 16 ? 16 : align;
      h->dirty_end = 0;
      h->req = size;
      h->magic = RG_LIVE;
      rg_exchange(clean);
      rg_maybe_tick();
      pthread_mutex_unlock(&rg_lock);
      atomic_fetch_add_explicit(&rg_live, h->usable, memory_order_relaxed);
      atomic_fetch_add_explicit(&rg_count, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&rg_req, size, memory_order_relaxed);
      if (zero) rg_zero(h->block, size, n, was_dirty);
      return h->block;
    }
    if (fresh && r != NULL) rg_drop_if_empty(r);   /* the charge failed: leave nothing behind */
    pthread_mutex_unlock(&rg_lock);
    if (attempt > 0) { *at_limit = true; errno = ENOMEM; return NULL; }
    /* At the hard limit: give back what is cached everywhere, then retry. */
    _st_large_trim();
    _st_segments_trim();
  }
}

/* The header of the block that would start at p, or NULL when p is not the
 * start of a unit past the metadata. */
static large_t *rg_header_at(const void *p) {
  if (((uintptr_t)p & (RG_UNIT - 1)) != 0) return NULL;
  region_t *r = rg_of(p);
  unsigned u = (unsigned)(((uintptr_t)p - (uintptr_t)r) >> RG_UNIT_SHIFT);
  return u < RG_FIRST ? NULL : &rg_hdr(r)[u];
}

large_t *_st_region_of(const void *p) {
  large_t *h = rg_header_at(p);
  return h != NULL && h->magic == RG_LIVE && h->block == (const uint8_t *)p ? h : NULL;
}

size_t _st_region_was_freed(const void *p) {
  const large_t *h = rg_header_at(p);
  uint64_t m = h != NULL ? __atomic_load_n(&h->magic, __ATOMIC_RELAXED) : 0;
  return (m == RG_FREED || m == RG_FREEING) && h->block == (const uint8_t *)p ? h->usable : 0;
}

/* Free h.  moved: its bytes now live in a mapping that took over the charge
 * of its units (_st_region_free_moved). */
static void rg_free(large_t *h, bool moved) {
  region_t *r = rg_of(h->block);
  unsigned u = (unsigned)(((uintptr_t)h->block & (RG_SIZE - 1)) >> RG_UNIT_SHIFT);
  /* Claim the block first: of two frees racing on it, one wins and the
   * other reports, before it zeroes (secure mode) memory that the first
   * free may already have given to someone else (found by review). */
  uint64_t live = RG_LIVE;
  if (!__atomic_compare_exchange_n(&h->magic, &live, RG_FREEING, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    _st_misuse("free(): double free", h->block, h->usable | ST_MISUSE_LARGE);
    return;
  }
  if (_st_zero_free && !moved) _st_zero_big(h->block, h->usable);   /* secure mode: zero on free */
  pthread_mutex_lock(&rg_lock);
  unsigned n = (unsigned)(h->map_size >> RG_UNIT_SHIFT);
  size_t usable = h->usable, req = h->req;
  h->magic = RG_FREED;
  rg_give(r, u, n, st_now_ms());
  long ms = _st_option(OPT_PURGE_MS);
  if (moved) {
    /* the mapping took over these units' charge: what the purge gives back
     * is not uncharged again, and a unit it could not purge stays dirty, so
     * it is charged anew (under the lock: no window where the count is low) */
    size_t budget = n;
    size_t purged = rg_purge_range(r, u, u + n, st_now_ms(), 0, &budget, false);
    if (usable > purged) _st_charge_force(usable - purged);
  } else if (ms == 0 || _st_over_soft()) {
    size_t budget = n;
    rg_purge_range(r, u, u + n, st_now_ms(), 0, &budget, true);
  }
  rg_drop_if_empty(r);
  rg_maybe_tick();
  size_t pending = rg_dirty_free << RG_UNIT_SHIFT;
  pthread_mutex_unlock(&rg_lock);
  atomic_fetch_sub_explicit(&rg_live, usable, memory_order_relaxed);
  atomic_fetch_sub_explicit(&rg_count, 1, memory_order_relaxed);
  atomic_fetch_sub_explicit(&rg_req, req, memory_order_relaxed);
  if (pending) { _st_purge_kick(pending); _st_purge_poll(); }
}

void _st_region_free(large_t *h) { rg_free(h, false); }

/* h's contents were copied into a mapping whose charge counts h's units
 * (large.c, region_move_out): free h and give its units back at once. */
void _st_region_free_moved(large_t *h) { rg_free(h, true); }

/* Resize h in place to hold `size` bytes: shrink (units past the new end go
 * free when that gives back at least half) or grow into the free units that
 * follow (at the hard limit after trimming the caches once).  false when it
 * cannot grow in place. */
bool _st_region_resize(large_t *h, size_t size) {
  if (size > RG_MAX_BLOCK) return false;
  region_t *r = rg_of(h->block);
  unsigned u = (unsigned)(((uintptr_t)h->block & (RG_SIZE - 1)) >> RG_UNIT_SHIFT);
  unsigned n_old = (unsigned)(h->map_size >> RG_UNIT_SHIFT);
  unsigned n_new = (unsigned)((size + RG_UNIT - 1) >> RG_UNIT_SHIFT);
  if (n_new == 0) n_new = 1;
  size_t old_usable = h->usable, pending = 0;
  bool shrink = n_new < n_old && size < old_usable / 2;
  if (shrink && _st_zero_free)                   /* secure mode: zero what goes free */
    _st_zero_big(rg_unit(r, u + n_new), (size_t)(n_old - n_new) << RG_UNIT_SHIFT);
  for (int attempt = 0;; attempt++) {
    pthread_mutex_lock(&rg_lock);
    if (shrink) {
      rg_give(r, u + n_new, n_old - n_new, st_now_ms());
      if (_st_option(OPT_PURGE_MS) == 0 || _st_over_soft()) {
        size_t budget = n_old - n_new;
        rg_purge_range(r, u + n_new, u + n_old, st_now_ms(), 0, &budget, true);
      }
      rg_maybe_tick();
      pending = rg_dirty_free << RG_UNIT_SHIFT;
    } else if (n_new > n_old) {
      unsigned end = u + n_new;
      if (end > RG_UNITS || next_bit(r->freem, u + n_old, false) < end) { pthread_mutex_unlock(&rg_lock); return false; }
      unsigned clean = n_new - n_old - count_bits(r->dirtym, u + n_old, end);
      if (!_st_charge((size_t)clean << RG_UNIT_SHIFT)) {
        pthread_mutex_unlock(&rg_lock);
        if (attempt > 0) return false;
        _st_large_trim();                        /* at the hard limit: trim, try once more */
        _st_segments_trim();
        continue;
      }
      uint64_t was_dirty[RG_MAX_BLOCK / RG_UNIT / 64] = {0};
      rg_take(r, u + n_old, n_new - n_old, was_dirty, false);
      rg_exchange(clean);
    } else {
      n_new = n_old;
    }
    break;
  }
  h->map_size = h->usable = (size_t)n_new << RG_UNIT_SHIFT;
  pthread_mutex_unlock(&rg_lock);
  atomic_fetch_add_explicit(&rg_live, h->usable - old_usable, memory_order_relaxed);   /* wraps right */
  atomic_fetch_add_explicit(&rg_req, size - h->req, memory_order_relaxed);
  h->req = size;
  if (pending) { _st_purge_kick(pending); _st_purge_poll(); }
  return true;
}

/* Region block h stays as it is for a request of `size` (statistics). */
void _st_region_set_req(large_t *h, size_t size) {
  atomic_fetch_add_explicit(&rg_req, size - h->req, memory_order_relaxed);   /* wraps right */
  h->req = size;
}

/* Purge-thread tick: dirty free units older than purge_ms go back, empty
 * regions are unmapped.  Returns the dirty free bytes left. */
size_t _st_region_tick(void) {
  long ms = _st_option(OPT_PURGE_MS);
  pthread_mutex_lock(&rg_lock);
  if (ms >= 0) {
    rg_last_tick = st_now_ms();
    rg_purge_all((uint32_t)ms, SIZE_MAX, 1);
  }
  size_t left = rg_dirty_free << RG_UNIT_SHIFT;
  pthread_mutex_unlock(&rg_lock);
  return left;
}

/* malloc_trim / hard limit: every dirty free unit goes back, empty regions
 * are unmapped.  Returns the bytes given back. */
size_t _st_region_trim(void) {
  pthread_mutex_lock(&rg_lock);
  size_t bytes = rg_purge_all(0, SIZE_MAX, 1);
  pthread_mutex_unlock(&rg_lock);
  return bytes;
}

void _st_region_stats(strata_stats_t *st) {
  size_t live = atomic_load(&rg_live);
  st->large_in_use += live;
  st->large_count += atomic_load(&rg_count);
  st->requested += atomic_load(&rg_req);
  st->in_blocks += live;
  pthread_mutex_lock(&rg_lock);
  size_t cached = rg_dirty_free << RG_UNIT_SHIFT, regions = rg_regions;
  pthread_mutex_unlock(&rg_lock);
  size_t meta = regions * RG_FIRST * RG_UNIT;
  st->large_cached += cached;
  st->reserved += regions * RG_SIZE;
  st->committed += live + cached + meta;
}

void _st_region_fork_prepare(void) { pthread_mutex_lock(&rg_lock); }
void _st_region_fork_parent(void) { pthread_mutex_unlock(&rg_lock); }
void _st_region_fork_child(void) { pthread_mutex_init(&rg_lock, NULL); }

/* The invariants at the top of this file; 0 when they hold. */
int _st_region_check(void) {
  int bad = 0;
  size_t dirty_free = 0;
  pthread_mutex_lock(&rg_lock);
  size_t regions = 0;
  for (region_t *r = rg_list; r; r = r->next) {
    regions++;
    if (((uintptr_t)r & (RG_SIZE - 1)) != 0 || st_segmap_get(r) != SEGMAP_REGION) bad = 1;
    if (bit(r->freem, 0) || bit(r->freem, 1)) bad = 1;
    unsigned free_units = 0;
    for (unsigned u = RG_FIRST; u < RG_UNITS && !bad;) {
      if (bit(r->freem, u)) {
        free_units++;
        dirty_free += bit(r->dirtym, u);
        u++;
        continue;
      }
      const large_t *h = &rg_hdr(r)[u];
      unsigned n = (unsigned)(h->map_size >> RG_UNIT_SHIFT);
      if ((h->magic != RG_LIVE && h->magic != RG_FREEING) || h->block != rg_unit(r, u) || n == 0 || u + n > RG_UNITS ||
          h->map_size != (size_t)n << RG_UNIT_SHIFT || h->usable != h->map_size ||
          count_bits(r->freem, u, u + n) != 0 || count_bits(r->dirtym, u, u + n) != n) { bad = 1; break; }
      u += n;
    }
    if (free_units != r->free_units) bad = 1;
  }
  if (regions != rg_regions || dirty_free != rg_dirty_free) bad = 1;
  pthread_mutex_unlock(&rg_lock);
  return bad ? -1 : 0;
}
