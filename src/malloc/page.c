/* Pages: one span holding blocks of one size class, and its free lists.
 *
 *   free        -- the owner's list: malloc pops from it, the owner's free
 *                  pushes onto it (LIFO, so a freed block is reused while it
 *                  is still in the cache)
 *   xthread_free-- other threads push here with CAS; the owner takes the
 *                  whole list with one exchange ("collect") when `free` runs
 *                  dry or it visits the page on a slow path
 *
 * Blocks are carved lazily: `capacity` grows by about one OS page of blocks
 * at a time, so a fresh 64 KiB span costs 4 KiB of RSS until it is used.
 *
 * Invariant (owner's view): used + |free| + held == capacity <= reserved,
 * where used means st_page_used (the field plus purge_low), and
 * |xthread_free| <= used (a remote free stays counted in `used` until the
 * owner collects it); every listed block lies in [start, start +
 * reserved*block_size) at a block boundary.
 *
 * Sparse pages.  A span whose blocks are mostly free can give back the OS
 * pages that hold only free blocks without waiting to be empty: this is what
 * brings RSS down toward the live bytes after a program frees most of a
 * fragmented heap.  The span is cut into 64 or fewer *units* (an OS page, or
 * span/64 for big spans).
 *   arm:        when the owner finds the free list dry (extend, park), a span
 *               of blocks of 256 bytes or more (smaller ones hardly ever
 *               leave a whole unit free) with more live blocks than
 *               arm_target (a quarter of them, less when a unit holds more
 *               than 4 blocks) gets purge_low = arm_target and `used`
 *               counts down to it, so the existing
 *               "--used == 0" test of the free fast path fires at the low-water
 *               mark at no extra cost (_st_heap_retire tells the two apart);
 *   low water:  disarm and queue the span on its heap's sparse ring (16
 *               entries).  When it leaves the ring (overflow, or purge_ms
 *               later on a malloc slow path, or malloc_trim), it is purged
 *               if it is still sparse and not empty, its class has not
 *               churned meanwhile (more than 1/8 of a span's mallocs), and it
 *               was not unpurged less than purge_ms ago: every carved unit
 *               all of whose overlapping blocks are free is madvise'd away,
 *               and the free blocks that overlap a purged unit leave the free
 *               list and are counted in `held`; then it is armed again at
 *               3/4 of its level;
 *   unpurge:    when the list is dry and nothing is left to carve, all held
 *               blocks are listed again (their memory comes back zeroed on
 *               first touch), purged = 0.
 * Invariant: a free block overlaps a purged unit iff it is held; held blocks
 * are never listed; purged units lie below capacity*block_size.  The charge
 * (limits.c) drops by the purged bytes and comes back at unpurge.
 * A page with purged units has OWNER_SLOW in its owner word, so the owner's
 * frees reach _st_heap_free_slow, which reports a free of a held block as a
 * double free.  Another thread's free of a block that the units say is held
 * goes to the owner in a batch (_st_remote_suspect), never to a stash or
 * straight onto the remote list, and the owner's delivery reports it; into
 * an abandoned page, the abandoned lock confirms it (found by review: such
 * a block was listed twice when its unit came back, and handed out twice).
 */
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include "malloc/internal.h"

/* Ranges to purge, gathered from one or more pages and given to the OS in
 * one call (_st_os_reset_many: one TLB flush for all of them).  Nothing may
 * reuse a gathered page between the gathering and the flush: both happen in
 * one call of the owner. */
#define PB_IOV 64
typedef struct {
  struct iovec iov[PB_IOV];
  unsigned n;
  size_t bytes;
} purge_batch_t;

static void purge_flush(purge_batch_t *pb) {
  /* A run whose madvise fails stays resident but counts as purged: its
   * blocks are held either way, and unpurge charges it back. */
  _st_os_reset_many(pb->iov, pb->n);
  _st_uncharge(pb->bytes);
  pb->n = 0;
  pb->bytes = 0;
}

static size_t page_purge_gather(page_t *page, purge_batch_t *pb);

_Static_assert(sizeof(segment_t) <= ST_SLICE_SIZE, "segment header fits in slice 0");

void _st_page_init(page_t *page, unsigned cls) {
  page->cls = (uint16_t)cls;
  page->block_size = (uint32_t)_st_class_size(cls);
  page->inv = st_block_inv(page->block_size);
  page->key = _st_page_key(page);
  page->reserved = (uint32_t)(((size_t)page->slice_count * ST_SLICE_SIZE) / page->block_size);
  page->capacity = 0;
  st_page_set_chk(page);                 /* nothing carved: no block passes */
  page->used = 0;
  page->free = NULL;
  page->purge_low = 0;
  page->held = 0;
  page->purged = 0;
  page->purge_stamp = 0;
  unsigned sh = 12;
  while (((size_t)page->slice_count * ST_SLICE_SIZE >> sh) > 64 || ((size_t)1 << sh) < _st_os_page_size()) sh++;
  page->unit_shift = (uint8_t)sh;
  atomic_store_explicit(&page->xthread_free, 0, memory_order_relaxed);
}

static bool page_unpurge(page_t *page);

/* `purged` changed: recompute OWNER_SLOW from it (st_owner_word), keeping
 * the heap and OWNER_FULL.  Owner only; an abandoned page (owner 0) gets its
 * flags when it is adopted. */
static void page_owner_refresh(page_t *page) {
  uintptr_t o = atomic_load_explicit(&page->owner, memory_order_relaxed);
  if (o != 0)
    atomic_store_explicit(&page->owner, st_owner_word((void *)(o & ~OWNER_FLAGS), page, o & OWNER_FULL),
                          memory_order_relaxed);
}

/* A block carved onto the free list carries the free key like any freed
 * block, so a free of one that was never handed out (a double free from
 * the span's previous use by this class, whose key a purge or a new use
 * wiped; or a wild pointer) is confirmed on the list and reported. */
static inline void st_carve_key(block_t *b) {
  if (STRATA_CHECKS) ((uintptr_t *)b)[1] = ST_FREE_KEY;
}

/* Secure mode: the n fresh blocks at `first` go on the free list in a random
 * order (Fisher-Yates with the owning heap's xorshift generator), so the
 * address of the next allocation cannot be predicted from the last one. */
static void page_extend_shuffled(page_t *page, uint8_t *first, uint32_t n) {
  uint16_t order[ST_EXTEND_BYTES / 16];
  heap_t *h = atomic_load_explicit(&page->heap, memory_order_relaxed);
  uint64_t x = h ? h->rng : _st_page_key(first) | 1;
  for (uint32_t i = 0; i < n; i++) order[i] = (uint16_t)i;
  for (uint32_t i = n - 1; i > 0; i--) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    uint32_t j = (uint32_t)(x % (i + 1));
    uint16_t t = order[i]; order[i] = order[j]; order[j] = t;
  }
  if (h) h->rng = x;
  block_t *list = page->free;
  for (uint32_t i = 0; i < n; i++) {
    block_t *b = (block_t *)(first + (size_t)order[i] * page->block_size);
    st_set_next(page, b, list);
    st_carve_key(b);
    list = b;
  }
  page->free = list;
  page->capacity += n;
  st_page_set_chk(page);
}

bool _st_page_extend(page_t *page) {
  _st_page_arm(page);
  uint32_t left = page->reserved - page->capacity;
  if (left == 0) return page_unpurge(page);
  uint32_t n = (uint32_t)(ST_EXTEND_BYTES / page->block_size);
  if (n == 0) n = 1;
  if (n > left) n = left;
  size_t bs = page->block_size;
  uint8_t *first = st_span_addr(page) + (size_t)page->capacity * bs;
  if (st_unlikely(_st_secure) && n > 1) { page_extend_shuffled(page, first, n); return true; }
  uint8_t *b = first;
  for (uint32_t i = 1; i < n; i++, b += bs) {
    st_set_next(page, (block_t *)b, (block_t *)(b + bs));
    st_carve_key((block_t *)b);
  }
  st_set_next(page, (block_t *)b, page->free);
  st_carve_key((block_t *)b);
  page->free = (block_t *)first;
  page->capacity += n;
  st_page_set_chk(page);
  return true;
}

/* Take the pending remote frees onto `free`.  _st_page_collect skips the
 * atomic exchange when nothing is pending; _st_page_collect_all always does
 * it, so it also clears a lone XF_FULL bit. */
void _st_page_collect(page_t *page) {
  uintptr_t x = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  if ((x & ~XF_FULL) != 0) _st_page_collect_all(page);
}

/* The list's length travels in the word (XF_COUNT), so taking it costs no
 * walk over blocks another core touched last, unless `free` is non-empty
 * and the list must be appended to it. */
void _st_page_collect_all(page_t *page) {
  uintptr_t x = atomic_exchange_explicit(&page->xthread_free, 0, memory_order_acquire);
  block_t *list = (block_t *)(x & XF_PTR_MASK);
  if (list == NULL) return;
  if (page->free != NULL) {
    block_t *tail = list, *nx;
    while ((nx = st_next(page, tail)) != NULL) tail = nx;
    st_set_next(page, tail, page->free);
  }
  page->free = list;
  uint32_t n = (uint32_t)(x >> XF_COUNT_SHIFT);
  if (n < page->used) page->used -= n;
  else { page->used = st_page_used(page) - n; page->purge_low = 0; }   /* past the mark: disarm */
}

/* ---- sparse pages (see the header) ---------------------------------------- */

/* Bits of the units block i overlaps, shifted so bit 0 is its first unit. */
static inline uint64_t block_units(const page_t *page, size_t i, unsigned *first) {
  size_t a = i * page->block_size, b = a + page->block_size - 1;
  *first = (unsigned)(a >> page->unit_shift);
  unsigned n = (unsigned)(b >> page->unit_shift) - *first + 1;
  return n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
}
/* Does block i overlap a unit set in `purged` (the page's, or a copy)? */
static inline bool units_hold(const page_t *page, uint64_t purged, size_t i) {
  unsigned first;
  uint64_t m = block_units(page, i, &first);
  return ((purged >> first) & m) != 0;
}
static inline bool block_held(const page_t *page, size_t i) { return units_hold(page, page->purged, i); }
static inline size_t block_index_of(const page_t *page, const void *b) {
  return st_block_index(page, (size_t)((const uint8_t *)b - st_span_addr(page)));
}

bool _st_page_block_held(const page_t *page, const void *b) {
  uint64_t purged = __atomic_load_n(&page->purged, __ATOMIC_RELAXED);
  return purged != 0 && units_hold(page, purged, block_index_of(page, b));
}

size_t _st_page_purged_bytes(const page_t *page) {
  return (size_t)__builtin_popcountll(__atomic_load_n(&page->purged, __ATOMIC_RELAXED)) << page->unit_shift;
}

/* Spans of blocks below this size are not armed: a purge unit holds more
 * than 16 of them, and at a quarter full or less the chance that all are
 * free is below 1%: the free-list walk would cost more than it returns. */
#define SPARSE_MIN_BLOCK 256

/* The low-water mark.  With k blocks per purge unit and a fraction f of the
 * span's blocks live (at random), a unit is all free with chance about
 * (1-f)^k.  Arming at f = 1/4 for every k made spans of small blocks walk
 * their free lists for nothing (k = 16: 1%); f = min(1/4, 1.2/k) keeps the
 * chance near 30% (k = 8: 15% live, k = 16: 7.5%).  On bench frag (256 MiB
 * of 16 B..16 KiB blocks, 90% freed at random) this cut the time 7% (7
 * interleaved rounds, 0.411 s against 0.444 s) with the same resident set
 * after the free (64.8 MiB). */
static uint32_t arm_target(const page_t *page) {
  size_t k = ((size_t)1 << page->unit_shift) / page->block_size;
  return k <= 4 ? page->reserved / 4 : (uint32_t)(page->reserved * 6 / (5 * k));
}

void _st_page_arm(page_t *page) {
  if (page->purge_low != 0 || page->purged != 0 || page->block_size < SPARSE_MIN_BLOCK) return;
  uint32_t target = arm_target(page);
  if (target == 0 || page->used <= target) return;
  page->purge_low = target;
  page->used -= target;
}

/* Should the queued sparse page be purged now?  (owner) */
static bool sparse_worth(heap_t *h, page_t *page, size_t seen, int force) {
  uint32_t used = st_page_used(page);
  if (used == 0 || used > page->reserved / 4) return false;   /* emptied or refilled */
  if (force || _st_over_soft()) return true;
  /* A class that kept allocating since (more than an eighth of a span's
   * mallocs) is churning: its free blocks will be reused soon, and purging
   * them would cost a syscall now and page faults later. */
  if ((h->req_count[page->cls] - seen) * 8 > page->reserved) return false;
  /* So is a span that was refilled from its purged units lately. */
  long ms = _st_option(OPT_PURGE_MS);
  return page->purge_stamp == 0 || st_now_ms() - page->purge_stamp >= (uint32_t)ms;
}

/* Take the oldest queued page out of h's ring and, if worth it, add its
 * free units to pb. */
static void sparse_pop(heap_t *h, int force, purge_batch_t *pb) {
  unsigned i = h->sparse_head;
  page_t *page = h->sparse_q[i];
  size_t seen = h->sparse_seen[i];
  h->sparse_head = (i + 1) % ST_SPARSE_Q;
  h->sparse_n--;
  page->sparse_queued = 0;
  if (!sparse_worth(h, page, seen, force)) return;
  page_purge_gather(page, pb);
  /* Cascade: arm again a little lower, as more of the span empties. */
  uint32_t used = st_page_used(page), next = used - used / 4 - 1;
  if (page->purge_low == 0 && next > 0) { page->purge_low = next; page->used = used - next; }
}

void _st_sparse_drain(heap_t *h, int mode) {
  if (mode == 2) {
    while (h->sparse_n) { h->sparse_q[h->sparse_head]->sparse_queued = 0; h->sparse_head = (h->sparse_head + 1) % ST_SPARSE_Q; h->sparse_n--; }
    return;
  }
  long ms = _st_option(OPT_PURGE_MS);
  uint32_t now = h->sparse_n ? st_now_ms() : 0;
  purge_batch_t pb = {.n = 0, .bytes = 0};
  while (h->sparse_n && (mode == 1 || now - h->sparse_when[h->sparse_head] >= (uint32_t)ms))
    sparse_pop(h, mode == 1, &pb);
  purge_flush(&pb);
}

void _st_sparse_unqueue(heap_t *h, page_t *page) {
  if (!page->sparse_queued) return;
  page->sparse_queued = 0;
  for (unsigned k = 0; k < h->sparse_n; k++) {
    unsigned i = (h->sparse_head + k) % ST_SPARSE_Q;
    if (h->sparse_q[i] != page) continue;
    /* close the gap: shift the later entries down by one */
    for (unsigned m = k; m + 1 < h->sparse_n; m++) {
      unsigned a = (h->sparse_head + m) % ST_SPARSE_Q, b = (a + 1) % ST_SPARSE_Q;
      h->sparse_q[a] = h->sparse_q[b]; h->sparse_seen[a] = h->sparse_seen[b]; h->sparse_when[a] = h->sparse_when[b];
    }
    h->sparse_n--;
    return;
  }
}

/* `used` reached the armed mark: disarm and queue the page; the ring's
 * oldest page is looked at when it overflows, or once it is purge_ms old
 * (malloc slow path).  Deciding later rather than now lets a page that is
 * on its way to empty (it will go back whole, without a purge) or that is
 * refilling (churn) be left alone. */
void _st_page_low_water(page_t *page) {
  page->used += page->purge_low;
  page->purge_low = 0;
  if (_st_option(OPT_PURGE_MS) < 0 || page->sparse_queued) return;
  heap_t *h = atomic_load_explicit(&page->heap, memory_order_relaxed);
  if (h == NULL) return;                        /* abandoned: not ours to queue */
  if (h->sparse_n == ST_SPARSE_Q) {
    /* A batch of remote frees (remote.c) can take many pages to their
     * mark in one go, with no malloc in between to tell churn from
     * release: then the page is not queued rather than the ring's oldest
     * purged on the spot.  It is armed again when it next runs dry. */
    if (h->rb_draining) return;
    /* the oldest quarter at once: one system call for all their units */
    purge_batch_t pb = {.n = 0, .bytes = 0};
    for (unsigned k = 0; k < ST_SPARSE_Q / 4; k++) sparse_pop(h, 0, &pb);
    purge_flush(&pb);
  }
  unsigned i = (h->sparse_head + h->sparse_n) % ST_SPARSE_Q;
  h->sparse_q[i] = page;
  h->sparse_seen[i] = h->req_count[page->cls];
  h->sparse_when[i] = st_now_ms();
  h->sparse_n++;
  page->sparse_queued = 1;
}

#define PURGE_MIN_UNITS 1     /* fewer free units are not worth a syscall */

/* Mark the free units of page purged, unlist their blocks and add their
 * runs to pb (flushing it first if a page's worth of runs might not fit);
 * returns the bytes. */
static size_t page_purge_gather(page_t *page, purge_batch_t *pb) {
  size_t cap = page->capacity, bs = page->block_size;
  if (cap == 0 || page->free == NULL) return 0;
  uint64_t freebits[4096 / 64];
  if (cap > 4096) return 0;                     /* cannot happen: 64 KiB / 16 B */
  memset(freebits, 0, ((cap + 63) / 64) * sizeof(uint64_t));
  for (block_t *b = page->free; b; b = st_next(page, b)) {
    size_t i = st_block_index(page, (size_t)((uint8_t *)b - st_span_addr(page)));
    freebits[i / 64] |= (uint64_t)1 << (i % 64);
  }
  size_t carved = cap * bs;
  unsigned sh = page->unit_shift, nunits = (unsigned)(carved >> sh);   /* whole units only */
  uint64_t cand = 0;
  for (unsigned u = 0; u < nunits; u++) {
    if ((page->purged >> u) & 1) continue;
    size_t i0 = st_block_index(page, (size_t)u << sh);
    size_t i1 = st_block_index(page, ((size_t)(u + 1) << sh) - 1);
    bool all = true;
    for (size_t i = i0; i <= i1 && all; i++)
      all = ((freebits[i / 64] >> (i % 64)) & 1) || block_held(page, i);
    if (all) cand |= (uint64_t)1 << u;
  }
  if (__builtin_popcountll(cand) < PURGE_MIN_UNITS) return 0;
  /* Unlist the blocks that will overlap a purged unit (keeping list order)
   * before the memory holding their links goes away. */
  __atomic_store_n(&page->purged, page->purged | cand, __ATOMIC_RELAXED);
  page_owner_refresh(page);   /* the owner's frees now reach the held-block check */
  block_t *keep = NULL;
  uint32_t removed = 0;
  block_t *last = NULL;
  for (block_t *b = page->free, *next; b; b = next) {
    next = st_next(page, b);
    size_t i = st_block_index(page, (size_t)((uint8_t *)b - st_span_addr(page)));
    if (block_held(page, i)) { removed++; continue; }
    if (last) st_set_next(page, last, b); else keep = b;
    last = b;
  }
  if (last) st_set_next(page, last, NULL);
  page->free = keep;
  page->held += removed;
  if (pb->n > PB_IOV - 32) purge_flush(pb);     /* 64 units make at most 32 runs */
  for (uint64_t c = cand; c;) {
    unsigned i = (unsigned)__builtin_ctzll(c), j = i;
    while (j < 64 && ((c >> j) & 1)) j++;
    uint64_t run = (j == 64 ? ~(uint64_t)0 : (((uint64_t)1 << j) - 1)) & ~(((uint64_t)1 << i) - 1);
    pb->iov[pb->n].iov_base = st_span_addr(page) + ((size_t)i << sh);
    pb->iov[pb->n].iov_len = (size_t)(j - i) << sh;
    pb->n++;
    c &= ~run;
  }
  size_t bytes = (size_t)__builtin_popcountll(cand) << sh;
  pb->bytes += bytes;
  return bytes;
}

/* Purge every carved unit that holds only free blocks (owner only). */
size_t _st_page_purge(page_t *page) {
  purge_batch_t pb = {.n = 0, .bytes = 0};
  size_t bytes = page_purge_gather(page, &pb);
  purge_flush(&pb);
  return bytes;
}

/* List the held blocks again (owner only); false if there were none or the
 * hard limit does not allow their memory back. */
static bool page_unpurge(page_t *page) {
  if (page->held == 0) return false;
  size_t bytes = _st_page_purged_bytes(page);
  if (!_st_charge(bytes)) return false;
  block_t *list = page->free;
  for (size_t i = page->capacity; i-- > 0;) {
    if (!block_held(page, i)) continue;
    block_t *b = (block_t *)(st_span_addr(page) + i * page->block_size);
    st_set_next(page, b, list);
    ((uintptr_t *)b)[1] = ST_FREE_KEY;
    list = b;
  }
  page->free = list;
  page->held = 0;
  __atomic_store_n(&page->purged, 0, __ATOMIC_RELAXED);
  page_owner_refresh(page);
  page->purge_stamp = st_now_ms() | 1;
  return true;
}

size_t _st_page_remote_free(page_t *page, block_t *b) {
  heap_t *h = atomic_load_explicit(&page->heap, memory_order_relaxed);
  if (st_unlikely(((uintptr_t *)b)[1] == ST_FREE_KEY) && _st_stash_marked(page, b)) {
    _st_misuse("free(): double free", b, page->block_size);   /* it waits in a stash */
    return 0;
  }
  ((uintptr_t *)b)[1] = ST_FREE_KEY;
  uintptr_t old = atomic_load_explicit(&page->xthread_free, memory_order_relaxed);
  uintptr_t want;
  do {
    st_set_next(page, b, (block_t *)(old & XF_PTR_MASK));
    want = (uintptr_t)b | (((old >> XF_COUNT_SHIFT) + 1) << XF_COUNT_SHIFT);   /* clears XF_FULL */
  } while (!atomic_compare_exchange_weak_explicit(&page->xthread_free, &old, want,
                                                  memory_order_acq_rel, memory_order_relaxed));
  if ((old & XF_FULL) && h != NULL)       /* first free into a parked page: wake its heap */
    atomic_store_explicit(&h->full_dirty, 1, memory_order_release);
  return (size_t)(want >> XF_COUNT_SHIFT);
}

/* Is b on the list that starts at x?  The walk stops at a link that
 * leaves the page's carved blocks, and after `capacity` links. */
static bool list_contains(const page_t *page, const block_t *x, const block_t *b) {
  const uint8_t *start = st_span_addr(page), *end = start + (size_t)page->capacity * page->block_size;
  size_t limit = page->capacity + 1;
  for (; x && limit; x = st_next(page, x), limit--) {
    if (x == b) return true;
    if ((const uint8_t *)x < start || (const uint8_t *)x >= end) return false;
  }
  return false;
}

/* Is b on the free list or the remote-free list?  Confirms a suspected
 * double free.  For the page's owner, or the holder of the lock that stands
 * in for it (abandoned_lock for a listed page, orphan_lock for the orphan
 * heap's): only that thread takes either list,
 * and remote frees only push in front of the snapshot walked here.  The
 * remote list counts too: a first free that another thread pushed there
 * (a block over RB_BLOCK_MAX, or a freer without a heap) waits there until
 * a collect. */
bool _st_page_holds_freed(page_t *page, const block_t *b) {
  uintptr_t x = atomic_load_explicit(&page->xthread_free, memory_order_acquire);
  return list_contains(page, page->free, b) || list_contains(page, (block_t *)(x & XF_PTR_MASK), b);
}

static long list_check(page_t *page, const block_t *b) {
  long n = 0;
  const uint8_t *start = st_span_addr(page), *end = start + (size_t)page->capacity * page->block_size;
  for (; b; b = st_next(page, b)) {
    const uint8_t *a = (const uint8_t *)b;
    if (a < start || a >= end || (size_t)(a - start) % page->block_size) return -1;
    if (++n > (long)page->capacity) return -1;
  }
  return n;
}

/* Check the page invariant.  owner_view: the caller owns the page (or holds
 * the lock that stands for its owner), so xthread_free may be walked. */
int _st_page_check(page_t *page, int owner_view) {
  if (!page->in_use || page->block_size != _st_class_size(page->cls)) return -1;
  if (page->capacity > page->reserved) return -1;
  long f = list_check(page, page->free);
  if (f < 0) return -1;
  long x = 0;
  if (owner_view) {
    uintptr_t xs = atomic_load_explicit(&page->xthread_free, memory_order_acquire);
    x = list_check(page, (block_t *)(xs & XF_PTR_MASK));
    if (x < 0 || (uintptr_t)x != xs >> XF_COUNT_SHIFT) return -1;
    if (x > (long)st_page_used(page)) return -1;
  }
  if ((long)st_page_used(page) + f + (long)page->held != (long)page->capacity) return -1;
  return 0;
}
