/* Large blocks: above ST_MEDIUM_MAX (128 KiB) up to RG_MAX_BLOCK (16 MiB),
 * aligned to 64 KiB at most, a block comes from the large-block regions
 * (region.c); this file dispatches those to it.  Anything bigger or more
 * aligned gets its own mapping from the OS page layer and goes back to it
 * on free (through the large cache below).
 *
 *   X (aligned to max(4 MiB, align))
 *   +----------+----------------------+------------------------------+
 *   | large_t  | gap (never touched)  | block (usable bytes)         |
 *   +----------+----------------------+------------------------------+
 *   |<------ offset = max(64, align) ->|
 *
 * The segment map marks the slots from X to the block's slot (value
 * SEGMAP_LARGE + distance back to X), so free(block) finds the header even
 * when a huge alignment put the block several slots past X.  A pointer is
 * accepted only if the header's magic matches and header->block == pointer.
 *
 * realloc within the mapping costs nothing (shrinking gives a big enough
 * tail's pages back with madvise and keeps the address space); beyond it the
 * mapping grows in place with mremap when the address space after it is
 * free, else its pages move (no copy) with MREMAP_FIXED onto a fresh aligned
 * reservation; a growth by less than half takes half as much again, so
 * repeated growth costs a syscall every few calls.
 *
 * The large cache.  A program that mallocs and frees 20 MiB buffers in a
 * loop would pay an mmap, a munmap and ~5000 page faults each time.  So a freed
 * mapping of up to LC_MAX_BLOCK (with the plain 64-byte offset) is parked in
 * a small cache (LC_SLOTS entries, lc_budget() bytes in all) and reused, best
 * fit, by an allocation that needs between a quarter of it and all of it
 * (the whole mapping becomes the block: usable size, room to grow); and a
 * growing block moves into a parked mapping (copying into resident pages)
 * before it asks the kernel for fresh ones.  Entries older than
 * LC_MAX_AGE are unmapped on every large free, the oldest is
 * evicted when it is full, and malloc_trim empties it: memory still goes back
 * to the OS, only later.  A parked header has magic LC_MAGIC, so a double free
 * of a large block is still reported.  The cache has its own lock (lc_lock),
 * never held while taking another.
 *
 * Secure mode (option secure): every large block gets a fresh mapping whose
 * last page is a PROT_NONE guard right after the block, bypasses the cache,
 * and on free goes into the quarantine (large_quarantine): its pages go
 * back to the OS at once, but its address range stays reserved and
 * inaccessible for the next LQ_SLOTS such frees, so a use after free faults
 * and a second free or realloc is reported as such, instead of landing in
 * a new block that the kernel placed at the same address.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "malloc/internal.h"

#define LARGE_MAGIC  0x5354524c41524745ull          /* "STRLARGE" */
#define LARGE_FREEING 0x5354524c4152475aull         /* "STRLARGZ": claimed by a free */
#define LARGE_MAX_ALIGN ((size_t)1 << 40)          /* 1 TiB (address space: align + size) */
#define THP_MIN      ((size_t)2 << 20)
#define LARGE_TRIM_MIN ((size_t)256 << 10)        /* reset unused tails at least this big */

static _Atomic size_t large_bytes, large_count;
static _Atomic size_t large_req;          /* sum of live blocks' req (stats) */

/* A mapped block's request becomes `size` (the statistics follow). */
static void large_req_set(large_t *h, size_t size) {
  atomic_fetch_add_explicit(&large_req, size - h->req, memory_order_relaxed);   /* wraps right */
  h->req = size;
}

#define LC_MAGIC      0x5354524c43414348ull        /* "STRLCACH" */
#define LC_SLOTS      64
#define LC_MAX_BLOCK  ((size_t)32 << 20)
#define LC_MAX_BYTES  ((size_t)64 << 20)
/* The cache's budget: parked memory is resident, so live large bytes plus
 * parked bytes stay within the high-water mark of the live large bytes
 * (large_hw: what the program has shown it needs at once) plus LC_SLACK,
 * and never above LC_MAX_BYTES parked.  A free only moves bytes from live
 * to parked (the sum stays); what could push the sum over is fresh memory
 * -- a new mapping, or one grown by mremap -- and that evicts the oldest
 * parked mappings first (lc_grew).  So the resident total of large blocks
 * never exceeds the program's own peak by more than LC_SLACK; before, a
 * fixed floor of 32 MiB parked on top of it. */
#define LC_SLACK      ((size_t)4 << 20)
static _Atomic size_t large_hw;           /* max of large_bytes since the last trim */
static size_t lc_budget(void) {
  size_t live = atomic_load_explicit(&large_bytes, memory_order_relaxed);
  size_t cap = atomic_load_explicit(&large_hw, memory_order_relaxed) + LC_SLACK;
  size_t room = cap > live ? cap - live : 0;
  return room > LC_MAX_BYTES ? LC_MAX_BYTES : room;
}
#define LC_MAX_AGE    2000000000ull                /* ns */
typedef struct { large_t *h; uint64_t when; } lc_entry_t;
static pthread_mutex_t lc_lock = PTHREAD_MUTEX_INITIALIZER;
static lc_entry_t lc[LC_SLOTS];                     /* under lc_lock */
static _Atomic unsigned lc_count;             /* written under lc_lock, peeked without */
static size_t lc_bytes;

static void large_unmap(large_t *h) {
  size_t slots = (size_t)(h->block - (uint8_t *)h) / ST_SEGMENT_SIZE + 1;
  size_t map_size = h->map_size;
  h->magic = 0;
  _st_segmap_clear(h, slots);
  _st_os_release(h, map_size);
  _st_uncharge(map_size);
}

/* The quarantine (secure mode): a FIFO ring of the last LQ_SLOTS freed
 * mappings, each replaced by a PROT_NONE reservation of the same range
 * (no memory, no commit charge; one VMA each at most, adjacent ones merge)
 * with its segment map slots set to SEGMAP_FREED.  At most lq_budget()
 * bytes of address space in all; the oldest entry is unmapped (and its
 * slots cleared) to make room.  A large mapping that fails empties the
 * quarantine and tries once more (an address-space limit, RLIMIT_AS, is
 * what the reservations could exhaust), and so does malloc_trim.
 *
 * Protocol: lq_lock guards the ring, and every change of a quarantined
 * range -- slots marked, decommit, entry added; entry dropped, slots
 * cleared, unmap -- happens whole under it (system calls included), so a
 * fork (which takes it) never sees a range that is reserved but in no
 * entry, and a double free that finds SEGMAP_FREED and then takes the lock
 * finds the entry.  It is never held while taking another lock.
 * Invariant: a slot reads SEGMAP_FREED exactly while an entry covers it. */
#define LQ_SLOTS     64
#define LQ_MAX_BYTES ((size_t)64 << 30)
typedef struct {
  uint8_t *base;
  size_t map_size, slots;
  const uint8_t *block;
  size_t usable, req;
  st_stack_t alloc, freed;       /* for the fault handler's report */
} lq_entry_t;
static lq_entry_t lq[LQ_SLOTS];
static unsigned lq_first, lq_count;        /* the oldest entry, and how many */
static _Atomic size_t lq_bytes;           /* written under lq_lock; stats read it without */
static pthread_mutex_t lq_lock = PTHREAD_MUTEX_INITIALIZER;

/* LQ_MAX_BYTES, or an eighth of the address-space limit if that is less
 * (read once: a later setrlimit is covered by the retry) (lq_lock held). */
static size_t lq_budget(void) {
  static size_t budget;
  if (budget == 0) {
    struct rlimit rl;
    budget = LQ_MAX_BYTES;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 8 < budget)
      budget = rl.rlim_cur / 8 ? (size_t)rl.rlim_cur / 8 : 1;
  }
  return budget;
}

/* Unmap the oldest entry (lq_lock held). */
static void lq_drop_oldest(void) {
  lq_entry_t *e = &lq[lq_first];
  _st_segmap_clear(e->base, e->slots);     /* before the unmap: the range may be reused at once */
  _st_os_release(e->base, e->map_size);
  lq_bytes -= e->map_size;
  lq_first = (lq_first + 1) % LQ_SLOTS;
  lq_count--;
}

/* The freed mapping h (claimed: magic LARGE_FREEING) goes into the
 * quarantine; when it cannot (the decommit failed), it is unmapped. */
static void large_quarantine(large_t *h) {
  int saved = errno;                             /* free leaves errno alone */
  lq_entry_t e = { (uint8_t *)h, h->map_size, (size_t)(h->block - (uint8_t *)h) / ST_SEGMENT_SIZE + 1,
                   h->block, h->usable, h->req, { 0, 0, { 0 } }, { 0, 0, { 0 } } };
  if (h->stack_at) e.alloc = *(const st_stack_t *)((const uint8_t *)h + h->stack_at);
  _st_stack_capture(&e.freed);
  _st_fault_handler_install();                   /* once: a use after free is reported */
  pthread_mutex_lock(&lq_lock);
  /* slots first: a racing second free then reports instead of reading the
   * header that the decommit takes away */
  _st_segmap_set(h, e.slots, SEGMAP_FREED, 0);
  if (_st_os_decommit(h, e.map_size) != 0) {
    _st_segmap_set(h, e.slots, SEGMAP_LARGE, 1);   /* as it was: cannot fail */
    pthread_mutex_unlock(&lq_lock);
    errno = saved;
    large_unmap(h);
    return;
  }
  _st_uncharge(e.map_size);
  while (lq_count > 0 && (lq_count == LQ_SLOTS || lq_bytes + e.map_size > lq_budget())) lq_drop_oldest();
  lq[(lq_first + lq_count) % LQ_SLOTS] = e;
  lq_count++;
  lq_bytes += e.map_size;
  pthread_mutex_unlock(&lq_lock);
  errno = saved;                                 /* the capture may have set it */
}

/* Unmap every quarantined range (errno kept: the unmap keeps it);
 * returns whether there was one. */
static bool lq_flush(void) {
  if (atomic_load_explicit(&lq_bytes, memory_order_relaxed) == 0) return false;
  pthread_mutex_lock(&lq_lock);
  bool any = lq_count > 0;
  while (lq_count > 0) lq_drop_oldest();
  pthread_mutex_unlock(&lq_lock);
  return any;
}

/* The entry whose range holds a, or NULL: for the fault handler, which
 * takes no lock (the ring is read racily; a report, then the process
 * dies). */
static const lq_entry_t *lq_find_racy(uintptr_t a) {
  if (atomic_load_explicit(&lq_bytes, memory_order_relaxed) == 0) return NULL;
  unsigned first = __atomic_load_n(&lq_first, __ATOMIC_RELAXED), n = __atomic_load_n(&lq_count, __ATOMIC_RELAXED);
  for (unsigned i = 0; i < n && i < LQ_SLOTS; i++) {
    const lq_entry_t *e = &lq[(first + i) % LQ_SLOTS];
    uintptr_t base = (uintptr_t)__atomic_load_n(&e->base, __ATOMIC_RELAXED);
    if (a - base < __atomic_load_n(&e->map_size, __ATOMIC_RELAXED)) return e;
  }
  return NULL;
}

bool _st_large_in_quarantine(uintptr_t a) { return lq_find_racy(a) != NULL; }

void _st_large_fault_report(uintptr_t a, const char *rw, bool stacks) {
  const lq_entry_t *e = lq_find_racy(a);
  if (e == NULL) return;                         /* dropped meanwhile */
  long d = (long)(a - (uintptr_t)e->block);
  _st_message("strata: use-after-free: %s at %p, offset %ld of the freed %zu-byte block %p "
              "(a large block in secure mode's quarantine)\n", rw, (void *)a, d, e->req, (void *)e->block);
  _st_report_distance(d, e->req);
  if (!stacks) return;
  _st_stack_print("allocated by", &e->alloc);
  _st_stack_print("freed by", &e->freed);
}

/* p's usable size if p is the block of a quarantined mapping, else 0. */
static size_t lq_was_freed(const void *p) {
  size_t usable = 0;
  pthread_mutex_lock(&lq_lock);
  for (unsigned i = 0; i < lq_count; i++) {
    const lq_entry_t *e = &lq[(lq_first + i) % LQ_SLOTS];
    if (e->block == (const uint8_t *)p) { usable = e->usable; break; }
  }
  pthread_mutex_unlock(&lq_lock);
  return usable;
}

/* Remove entry i (lc_lock held); returns its header. */
static large_t *lc_take(unsigned i) {
  large_t *h = lc[i].h;
  unsigned last = atomic_load_explicit(&lc_count, memory_order_relaxed) - 1;
  lc[i] = lc[last];
  atomic_store_explicit(&lc_count, last, memory_order_relaxed);
  lc_bytes -= h->map_size;
  return h;
}

/* Drop expired entries (all of them with force); unmaps outside the lock. */
static size_t lc_expire(int force) {
  large_t *dead[LC_SLOTS];
  unsigned n = 0;
  size_t bytes = 0;
  pthread_mutex_lock(&lc_lock);
  uint64_t t = lc_count ? st_now_ns() : 0;
  for (unsigned i = 0; i < lc_count;) {
    if (force || t - lc[i].when > LC_MAX_AGE) { dead[n] = lc_take(i); bytes += dead[n]->map_size; n++; }
    else i++;
  }
  pthread_mutex_unlock(&lc_lock);
  for (unsigned i = 0; i < n; i++) large_unmap(dead[i]);
  return bytes;
}

/* The smallest parked mapping of map_size to 4 * map_size bytes (best fit);
 * failing that, with `smaller`, the largest one of at least map_size / 8
 * bytes (its resident pages are worth moving into a bigger mapping). */
static large_t *lc_get(size_t map_size, int smaller) {
  if (lc_count == 0) return NULL;                  /* racy peek, rechecked under the lock */
  pthread_mutex_lock(&lc_lock);
  int best = -1, below = -1;
  for (unsigned i = 0; i < lc_count; i++) {
    size_t m = lc[i].h->map_size;
    if (m >= map_size) {
      if (m / 4 <= map_size && (best < 0 || m < lc[best].h->map_size)) best = (int)i;
    } else if (m >= map_size / 8 && (below < 0 || m > lc[below].h->map_size)) {
      below = (int)i;
    }
  }
  if (best < 0 && smaller) best = below;
  large_t *h = best >= 0 ? lc_take((unsigned)best) : NULL;
  pthread_mutex_unlock(&lc_lock);
  return h;
}

/* Park h in the cache; returns 0 if it does not fit (the caller unmaps). */
static int lc_put(large_t *h) {
  if (h->map_size > LC_MAX_BLOCK || h->block != (uint8_t *)h + ST_LARGE_HEADER) return 0;
  large_t *evict[LC_SLOTS];
  unsigned n_evict = 0;
  uint64_t t = st_now_ns();
  pthread_mutex_lock(&lc_lock);
  size_t budget = lc_budget();
  /* the oldest make room, as many as it takes; none for a mapping that
   * cannot fit at all (one was unmapped for nothing: found by review) */
  int ok = h->map_size <= budget;
  while (ok && lc_count > 0 && (lc_count == LC_SLOTS || lc_bytes + h->map_size > budget)) {
    unsigned old = 0;
    for (unsigned i = 1; i < lc_count; i++) if (lc[i].when < lc[old].when) old = i;
    evict[n_evict++] = lc_take(old);
  }
  if (ok) {
    h->magic = LC_MAGIC;
    unsigned n = atomic_load_explicit(&lc_count, memory_order_relaxed);
    lc[n].h = h;
    lc[n].when = t;
    atomic_store_explicit(&lc_count, n + 1, memory_order_relaxed);
    lc_bytes += h->map_size;
  }
  pthread_mutex_unlock(&lc_lock);
  for (unsigned i = 0; i < n_evict; i++) large_unmap(evict[i]);
  return ok;
}

/* Live large bytes grew by `add` (their counter is raised here): raise the
 * high-water mark, and when `fresh` (new pages from the OS, not a parked
 * mapping) evict the oldest parked mappings until live + parked fits the
 * mark plus LC_SLACK again (see lc_budget).  No lock held. */
static void lc_grew(size_t add, int fresh) {
  size_t live = atomic_fetch_add_explicit(&large_bytes, add, memory_order_relaxed) + add;
  size_t hw = atomic_load_explicit(&large_hw, memory_order_relaxed);
  while (live > hw && !atomic_compare_exchange_weak_explicit(&large_hw, &hw, live, memory_order_relaxed,
                                                             memory_order_relaxed)) {}
  if (!fresh || atomic_load_explicit(&lc_count, memory_order_relaxed) == 0) return;
  large_t *dead[LC_SLOTS];
  unsigned n = 0;
  pthread_mutex_lock(&lc_lock);
  size_t cap = (live > hw ? live : hw) + LC_SLACK;
  while (lc_count && live + lc_bytes > cap) {
    unsigned old = 0;
    for (unsigned i = 1; i < lc_count; i++) if (lc[i].when < lc[old].when) old = i;
    dead[n++] = lc_take(old);
  }
  pthread_mutex_unlock(&lc_lock);
  for (unsigned i = 0; i < n; i++) large_unmap(dead[i]);
}

static large_t *large_remap(large_t *h, size_t new_map);
static void large_hint_huge(uint8_t *x, size_t map_size);

/* A parked mapping for a block of map_size bytes (offset 64), ready to hand
 * out, or NULL.  Its pages are dirty, so they are reused without faults, and
 * the whole mapping becomes the block (room to grow without a syscall).
 * A mapping more than 4x the request is not used (a block must not pin a
 * big mapping's memory for its lifetime).  With `smaller`, a parked
 * mapping too small for the request may be grown to fit: mremap moves its
 * resident pages into the bigger mapping (page tables only, no copy), so only
 * the growth faults -- the large blocks of a program whose sizes vary reuse
 * each other's pages, as blocks carved from one coalescing heap would. */
static large_t *lc_take_fit(size_t map_size, int smaller) {
  large_t *c = lc_get(map_size, smaller);
  if (c == NULL) return NULL;
  c->magic = LARGE_MAGIC;
  c->align = 16;
  size_t parked = c->map_size;
  if (c->map_size < map_size) {
    large_t *g = large_remap(c, map_size);
    if (g == NULL) { large_unmap(c); return NULL; }
    c = g;
    large_hint_huge((uint8_t *)c, c->map_size);
  }
  lc_grew(c->map_size, c->map_size > parked);
  atomic_fetch_add_explicit(&large_count, 1, memory_order_relaxed);
  return c;
}

size_t _st_large_trim(void) {
  atomic_store_explicit(&large_hw, atomic_load_explicit(&large_bytes, memory_order_relaxed), memory_order_relaxed);
  lq_flush();                                   /* address space only: no bytes */
  return lc_expire(1) + _st_region_trim();
}
size_t _st_large_tick(void) {
  lc_expire(0);
  pthread_mutex_lock(&lc_lock);
  size_t left = lc_bytes;
  pthread_mutex_unlock(&lc_lock);
  return left + _st_region_tick();
}
void _st_large_fork_prepare(void) {
  pthread_mutex_lock(&lc_lock);
  pthread_mutex_lock(&lq_lock);          /* the ring whole in the child */
  _st_region_fork_prepare();
}
void _st_large_fork_parent(void) {
  _st_region_fork_parent();
  pthread_mutex_unlock(&lq_lock);
  pthread_mutex_unlock(&lc_lock);
}
void _st_large_fork_child(void) {
  _st_region_fork_child();
  pthread_mutex_init(&lc_lock, NULL);
  pthread_mutex_init(&lq_lock, NULL);
}

/* THP policy for a fresh mapping (option thp): 0 never, 1 or 2 for blocks of
 * THP_MIN and more.  The hint covers the whole page-aligned mapping. */
static void large_hint_huge(uint8_t *x, size_t map_size) {
  long thp = _st_option(OPT_THP);
  if (thp == 0) _st_os_hint_huge(x, map_size, 0);
  else if (map_size >= THP_MIN) _st_os_hint_huge(x, map_size, 1);
}

/* Where a block aligned to `align` lies in its mapping, and how the mapping
 * is placed.  The header is at the mapping's start x, which is segment
 * aligned (_st_large_of finds it from the block's segment); up to a
 * segment's alignment the block is at x + max(align, header).  Above it
 * the block is one segment in, at x + ST_SEGMENT_SIZE, and x is placed so
 * that the block is aligned (skew): the header stays one segment back
 * whatever the alignment (it used to sit `align` back, which capped the
 * alignment at 256 MiB, the segment map's reach, and left `align` bytes of
 * the mapping unused: found by review, 2026-11-28). */
static size_t large_offset(size_t align) {
  return align > ST_SEGMENT_SIZE ? ST_SEGMENT_SIZE : align > ST_LARGE_HEADER ? align : ST_LARGE_HEADER;
}
static size_t large_map_align(size_t align) { return align > ST_SEGMENT_SIZE ? align : ST_SEGMENT_SIZE; }
static size_t large_map_skew(size_t align) { return align > ST_SEGMENT_SIZE ? ST_SEGMENT_SIZE : 0; }
static size_t large_slots(size_t offset) { return offset / ST_SEGMENT_SIZE + 1; }

/* Charge a new mapping; at the hard limit, give back what is cached first.
 * false with errno ENOMEM if it still does not fit. */
static bool large_charge(size_t map_size) {
  if (_st_charge(map_size)) return true;
  _st_large_trim();
  _st_segments_trim();
  if (_st_charge(map_size)) return true;
  errno = ENOMEM;
  return false;
}

/* A fresh mapping of map_size bytes for a block of `size` at `offset`
 * (usable bytes up to `end`, where a PROT_NONE guard page starts when
 * `guard`), charged (less `precharged` bytes whose charge it takes over:
 * region_move_out), marked in the segment map, its header filled in and
 * counted.  NULL with errno ENOMEM on failure, nothing left behind. */
static large_t *large_map_new(size_t map_size, size_t align, size_t offset, size_t end, int guard, size_t size,
                              size_t precharged) {
  if (!large_charge(map_size - precharged)) return NULL;
  int saved = errno;
  uint8_t *x = _st_os_alloc_charged(map_size, large_map_align(align), large_map_skew(align));
  /* The OS refused (an address-space limit, RLIMIT_AS): what strata caches
   * for itself goes back first -- the quarantine's reservations, the large
   * cache, empty regions and segments -- and the mapping is tried once
   * more.  Before, only the quarantine went back, and a program that held
   * nothing got ENOMEM while the cache kept hundreds of MiB mapped (found
   * by review, stop 31). */
  if (x == NULL) {
    _st_large_trim();
    _st_segments_trim();
    x = _st_os_alloc_charged(map_size, large_map_align(align), large_map_skew(align));
    if (x != NULL) errno = saved;               /* a malloc that succeeds leaves errno alone */
  }
  if (x == NULL) { _st_uncharge(map_size - precharged); return NULL; }
  if ((guard && _st_os_decommit(x + end, map_size - end) != 0) ||
      _st_segmap_set(x, large_slots(offset), SEGMAP_LARGE, 1) != 0) {
    _st_os_release(x, map_size);
    _st_uncharge(map_size - precharged);
    errno = ENOMEM;
    return NULL;
  }
  large_t *h = (large_t *)x;
  h->magic = LARGE_MAGIC;
  h->map_size = map_size;
  h->block = x + offset;
  h->usable = end - offset;
  h->align = align;
  h->dirty_end = map_size;
  h->req = size;
  h->stack_at = 0;
  atomic_fetch_add_explicit(&large_req, size, memory_order_relaxed);
  atomic_fetch_add_explicit(&large_count, 1, memory_order_relaxed);
  lc_grew(map_size, 1);
  return h;
}

/* Secure mode: the block ends where a PROT_NONE guard page starts (up to
 * its alignment's rounding), so an overflow faults at once.  The slack of
 * the last page goes in front of the block instead of after it; no cache,
 * no growth in place (realloc moves the block).  A fresh mapping is zero. */
static void *large_alloc_guarded(size_t size, size_t align) {
  size_t ps = _st_os_page_size();
  /* the allocation's call stack goes after the header, for the report of
   * a use after free while the block is quarantined: the block starts at
   * `front` or later (front >= need), and still ends where the guard page
   * starts, up to its alignment's rounding (room added after the block
   * moved the guard a page away: found by review) */
  size_t need = ST_LARGE_HEADER + sizeof(st_stack_t);
  size_t front = align > ST_SEGMENT_SIZE ? ST_SEGMENT_SIZE
               : st_align_up(large_offset(align) > need ? large_offset(align) : need, align);
  size_t inner = st_align_up(front + size, ps);
  size_t offset = align > ST_SEGMENT_SIZE ? ST_SEGMENT_SIZE          /* the skewed mapping's block */
                : (inner - size) & ~(align - 1);                     /* >= front */
  large_t *h = large_map_new(inner + ps, align, offset, inner, 1, size, 0);
  if (h == NULL) return NULL;
  if (offset >= ST_LARGE_HEADER + sizeof(st_stack_t)) {
    _st_stack_capture((st_stack_t *)((uint8_t *)h + ST_LARGE_HEADER));
    h->stack_at = ST_LARGE_HEADER;
  }
  return h->block;
}

/* A block in a mapping of its own (cached mappings first). */
static void *large_alloc_mapped(size_t size, size_t align, int zero) {
  size_t ps = _st_os_page_size();
  size_t offset = large_offset(align);
  size_t map_size = st_align_up(offset + (size ? size : 1), ps);   /* size 0: the block still lies inside its mapping */
  large_t *c = offset == ST_LARGE_HEADER ? lc_take_fit(map_size, 1) : NULL;
  if (c != NULL) {
    c->req = size;
    atomic_fetch_add_explicit(&large_req, size, memory_order_relaxed);
    if (zero) memset(c->block, 0, size);
    return c->block;
  }
  large_t *h = large_map_new(map_size, align, offset, map_size, 0, size, 0);
  if (h == NULL) return NULL;
  large_hint_huge((uint8_t *)h, map_size);
  return h->block;
}

/* Blocks above the size classes up to RG_MAX_BLOCK, aligned to 64 KiB at
 * most, come from the coalescing regions (region.c); bigger or more aligned
 * ones get mappings of their own, and so does every block above
 * ST_SECURE_GUARD_MIN in secure mode (a guard page after it). */
void *_st_large_alloc(size_t size, size_t align, int zero) {
  if (align < 16) align = 16;
  if (size > ST_MAX_SIZE || align > LARGE_MAX_ALIGN) { errno = ENOMEM; return NULL; }
  if (st_unlikely(_st_secure) && (size > ST_SECURE_GUARD_MIN || align > ST_SLICE_SIZE))
    return large_alloc_guarded(size, align);
  if (size <= RG_MAX_BLOCK && align <= ST_SLICE_SIZE) {
    int saved = errno;
    bool at_limit;
    void *p = _st_region_alloc(size, align, zero, &at_limit);
    if (p != NULL || at_limit) return p;           /* at the hard limit even after trimming */
    errno = saved;                                 /* no region could be mapped: try a mapping */
  }
  return large_alloc_mapped(size, align, zero);
}

large_t *_st_large_of(const void *p, unsigned mapv) {
  if (mapv >= SEGMAP_REGION) return _st_region_of(p);
  if (mapv == SEGMAP_FREED) return NULL;
  uintptr_t x = ((uintptr_t)p & ~(uintptr_t)ST_SEGMENT_MASK) - (uintptr_t)(mapv - SEGMAP_LARGE) * ST_SEGMENT_SIZE;
  if (st_segmap_get((void *)x) != SEGMAP_LARGE) return NULL;
  large_t *h = (large_t *)x;
  if (h->magic != LARGE_MAGIC || h->block != (const uint8_t *)p) return NULL;
  return h;
}

/* p's usable size if it was a large block of a mapping of its own that
 * is now parked in the cache, being freed or quarantined (so a free or
 * realloc of it is one too many), else 0.  An unmapped block leaves
 * nothing to tell by. */
size_t _st_large_was_freed(const void *p, unsigned mapv) {
  if (mapv == SEGMAP_FREED) return lq_was_freed(p);
  if (mapv < SEGMAP_LARGE || mapv >= SEGMAP_REGION) return 0;
  uintptr_t x = ((uintptr_t)p & ~(uintptr_t)ST_SEGMENT_MASK) - (uintptr_t)(mapv - SEGMAP_LARGE) * ST_SEGMENT_SIZE;
  if (st_segmap_get((void *)x) != SEGMAP_LARGE) return 0;
  const large_t *h = (const large_t *)x;
  uint64_t m = __atomic_load_n(&h->magic, __ATOMIC_RELAXED);
  return (m == LC_MAGIC || m == LARGE_FREEING) && h->block == (const uint8_t *)p ? h->usable : 0;
}

void _st_large_free(large_t *h, void *p) {
  if (st_large_in_region(h)) { _st_region_free(h); return; }
  /* Claim the header: of two frees racing on one block, one wins; the
   * other reports instead of caching or unmapping it a second time (found
   * by review).  lc_put or large_unmap gives the header its next magic. */
  uint64_t live = LARGE_MAGIC;
  if (!__atomic_compare_exchange_n(&h->magic, &live, LARGE_FREEING, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
    _st_misuse("free(): double free", p, 0);
    return;
  }
  atomic_fetch_sub_explicit(&large_req, h->req, memory_order_relaxed);
  atomic_fetch_sub_explicit(&large_bytes, h->map_size, memory_order_relaxed);
  atomic_fetch_sub_explicit(&large_count, 1, memory_order_relaxed);
  lc_expire(0);
  if (_st_secure) large_quarantine(h);
  else if (_st_over_soft() || !lc_put(h)) large_unmap(h);
  else { _st_purge_kick(lc_bytes); _st_purge_poll(); }   /* racy read: a hint */
}

/* Grow h's mapping to new_map bytes: in place when the address space after
 * it is free, else its pages move (no copy) onto a fresh reservation aligned
 * like the old one.  Charges the growth.  Returns the header at its new place,
 * or NULL with errno set and nothing changed.  Does not touch large_bytes. */
static large_t *large_remap(large_t *h, size_t new_map) {
  size_t offset = (size_t)(h->block - (uint8_t *)h);
  size_t old_map = h->map_size;
  if (!large_charge(new_map - old_map)) return NULL;   /* hard limit */
  int saved = errno;                  /* a failed in-place try is not an error */
  void *in_place = _st_os_remap(h, old_map, new_map, NULL);
  errno = saved;
  if (in_place == (void *)h) {
    h->dirty_end = new_map;
    h->map_size = new_map;
    h->usable = new_map - offset;
  } else {
    size_t slots = large_slots(offset);
    uint8_t *dst = _st_os_reserve_skewed(new_map, large_map_align(h->align), large_map_skew(h->align));
    if (dst == NULL) { _st_uncharge(new_map - old_map); return NULL; }
    if (_st_segmap_set(dst, slots, SEGMAP_LARGE, 1) != 0) {
      _st_os_release(dst, new_map);
      _st_uncharge(new_map - old_map);
      errno = ENOMEM;
      return NULL;
    }
    /* Unmark the old range before the move frees it: once unmapped, another
     * thread may map a segment there and mark it. */
    _st_segmap_clear(h, slots);
    if (_st_os_remap(h, old_map, new_map, dst) == NULL) {
      _st_segmap_set(h, slots, SEGMAP_LARGE, 1);     /* leaves exist: cannot fail */
      _st_segmap_clear(dst, slots);
      _st_os_release(dst, new_map);
      _st_uncharge(new_map - old_map);
      errno = ENOMEM;
      return NULL;
    }
    h = (large_t *)dst;
    h->dirty_end = new_map;
    h->map_size = new_map;
    h->block = dst + offset;
    h->usable = new_map - offset;
  }
  return h;
}

/* Give back the tail of h's mapping past new_map (a page multiple, at
 * least the header's): address space, pages and charge. */
static void large_shrink(large_t *h, size_t new_map) {
  size_t cut = h->map_size - new_map;
  (void)_st_os_remap(h, h->map_size, new_map, NULL);   /* a shrink: unmaps the tail */
  h->map_size = new_map;
  h->usable = new_map - (size_t)(h->block - (uint8_t *)h);
  if (h->dirty_end > new_map) h->dirty_end = new_map;
  atomic_fetch_sub_explicit(&large_bytes, cut, memory_order_relaxed);
  _st_uncharge(cut);
}

/* Secure mode: keep the block while the new size fits and is at least half
 * of it, else move it (its guard page stays at its end). */
static void *large_realloc_guarded(large_t *h, size_t size) {
  if (size <= h->usable && size >= h->usable / 2) {
    large_req_set(h, size);
    return h->block;
  }
  void *q = large_alloc_guarded(size, h->align);
  if (q == NULL) return NULL;                      /* the old block stays intact */
  memcpy(q, h->block, size < h->usable ? size : h->usable);
  _st_large_free(h, h->block);
  return q;
}

/* A region block growing past RG_MAX_BLOCK moves into a mapping of its
 * own: copied, then its units go back to the region purged at once.  The
 * units' charge moves with the bytes (precharged), so the move needs room
 * under a hard limit only for the growth, as an mremap would. */
static void *region_move_out(large_t *h, size_t size) {
  size_t map_size = st_align_up(ST_LARGE_HEADER + size, _st_os_page_size());
  large_t *g = large_map_new(map_size, 16, ST_LARGE_HEADER, map_size, 0, size, h->map_size);
  if (g == NULL) return NULL;                      /* the old block stays intact */
  large_hint_huge((uint8_t *)g, map_size);
  memcpy(g->block, h->block, h->usable);
  _st_region_free_moved(h);
  return g->block;
}

/* A region block: resized in place when the units after it are free, else
 * moved (to another region block, or a mapping above RG_MAX_BLOCK). */
static void *region_realloc(large_t *h, size_t size) {
  if ((!_st_secure || size <= ST_SECURE_GUARD_MIN) && _st_region_resize(h, size)) return h->block;
  if (size > RG_MAX_BLOCK && !_st_secure) return region_move_out(h, size);
  void *q = _st_large_alloc(size, 16, 0);
  if (q == NULL) return NULL;                      /* the old block stays intact */
  memcpy(q, h->block, h->usable < size ? h->usable : size);
  _st_region_free(h);
  return q;
}

void *_st_large_realloc(large_t *h, size_t size) {
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  if (st_large_in_region(h)) return region_realloc(h, size);
  if (st_unlikely(_st_secure)) return large_realloc_guarded(h, size);
  size_t offset = (size_t)(h->block - (uint8_t *)h);
  size_t old_map = h->map_size;
  /* Growing: leave headroom (half as much again), so a block that keeps
   * growing -- the vector pattern -- takes a syscall only every few calls.
   * Address space only: pages are resident once the program writes them. */
  size_t want = size;
  if (size > h->usable && size - h->usable < h->usable / 2 && h->usable + h->usable / 2 <= ST_MAX_SIZE)
    want = h->usable + h->usable / 2;
  size_t new_map = st_align_up(offset + want, _st_os_page_size());
  if (want > size && new_map > old_map && !_st_charge_fits(new_map - old_map)) {
    want = size;                                  /* no room for headroom under the limit */
    new_map = st_align_up(offset + want, _st_os_page_size());
  }
  if (new_map <= old_map) {
    /* Within the mapping: keep it all (room to grow again) unless shrinking
     * below half, when the mapping's tail past the new end goes back, its
     * address space and charge too (only its pages went before, and a
     * program holding 200 KiB of a 512 MiB block kept the 512 MiB charged
     * and mapped: a hard limit or RLIMIT_AS refused what it then asked
     * for; found by review, stop 32).  A block growing inside a parked
     * mapping it was given whole keeps the mapping's dirty pages: they are
     * what it grows into. */
    if (size < h->usable / 2 && old_map - new_map >= LARGE_TRIM_MIN) {
      large_shrink(h, new_map);
    } else if (new_map > h->dirty_end) {
      h->dirty_end = new_map;
    }
    large_req_set(h, size);
    return h->block;
  }
  if (offset == ST_LARGE_HEADER) {
    /* Growing out of the mapping: a parked mapping that fits has resident
     * pages; copying into it is cheaper than faulting in fresh ones. */
    large_t *c = lc_take_fit(new_map, 0);
    if (c != NULL) {
      memcpy(c->block, h->block, h->usable);       /* all of it: malloc_usable_size said so (size > usable here) */
      if (new_map > c->dirty_end) c->dirty_end = new_map;
      c->req = size;
      atomic_fetch_add_explicit(&large_req, size, memory_order_relaxed);
      _st_large_free(h, h->block);
      return c->block;
    }
  }
  int saved = errno;                              /* a realloc that succeeds leaves it */
  large_t *g = large_remap(h, new_map);
  if (g == NULL && want > size) {                 /* refused: without the headroom */
    new_map = st_align_up(offset + size, _st_os_page_size());
    g = large_remap(h, new_map);
  }
  if (g == NULL) {
    /* The pages could not move (mremap refused: say, the process's mapping
     * count limit, or RLIMIT_AS for the old and new mapping at once): copy
     * into a fresh block instead, as glibc does, aligned as the old one
     * was; only if that fails too does realloc fail, the old block intact.
     * (Before stop 32 an aligned block had no copy, and the headroom was
     * never dropped: found by review.) */
    void *q = _st_large_alloc(size, offset == ST_LARGE_HEADER ? 16 : h->align, 0);
    if (q == NULL) return NULL;
    memcpy(q, h->block, h->usable);                /* size > usable here */
    _st_large_free(h, h->block);
    errno = saved;
    return q;
  }
  errno = saved;
  h = g;
  if (new_map > old_map) lc_grew(new_map - old_map, 1);
  else atomic_fetch_sub_explicit(&large_bytes, old_map - new_map, memory_order_relaxed);
  large_req_set(h, size);
  return h->block;
}

/* h (mapped or in a region) stays as it is for a request of `size`: the
 * requested-bytes statistics follow (they kept the old request: found by
 * review, stop 32). */
void _st_large_set_req(large_t *h, size_t size) {
  if (st_large_in_region(h)) { _st_region_set_req(h, size); return; }
  large_req_set(h, size);
}

void _st_large_stats(strata_stats_t *st) {
  st->large_in_use = atomic_load(&large_bytes);
  st->large_count = atomic_load(&large_count);
  st->requested += atomic_load(&large_req);
  st->in_blocks += st->large_in_use;
  pthread_mutex_lock(&lc_lock);
  st->large_cached = lc_bytes;
  pthread_mutex_unlock(&lc_lock);
  st->reserved += st->large_in_use + st->large_cached + atomic_load_explicit(&lq_bytes, memory_order_relaxed);
  st->committed += st->large_in_use + st->large_cached;
  _st_region_stats(st);
}
