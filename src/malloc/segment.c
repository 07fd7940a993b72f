/* The page heap: spans of 64 KiB slices carved from 4 MiB segments.
 *
 * Every thread's cache gets its pages (spans) here and gives them back when
 * they empty out.  One mutex (the page-heap lock) protects all segment
 * headers' masks and the segment list; it is taken once per span, i.e. once
 * per 64 KiB or more of small allocations, never on a malloc/free fast path.
 *
 *  1. _st_span_alloc(n): best fit (the shortest run of >= n free slices,
 *     stopping at an exact fit) over segments that are partly used, then an
 *     empty segment, else a fresh segment from the OS page layer (mapped with
 *     the lock dropped).
 *  2. _st_span_free(page): the slices are marked free and *dirty* (still
 *     resident).  A later span can reuse dirty slices at no cost; otherwise
 *     they are purged (madvise DONTNEED: RSS shrinks, the range stays mapped)
 *     once they have been dirty for `purge_ms` milliseconds.  Purging is
 *     checked at most every PURGE_TICK on span frees and by malloc_trim, and
 *     runs under the lock so that nobody can be handed a slice being purged.
 *     A span that takes fresh slices while at least as many dirty ones are
 *     free elsewhere (fragmentation) purges the dirty slices free for
 *     purge_ms/25 or more at once (exchange_purge), so fresh takes do not
 *     grow the resident set past stranded dirty slices.
 *  3. At most PH_MAX_EMPTY entirely free segments are kept; more are unmapped
 *     (after the lock is released).
 *
 * Invariants (segment_t): bit i of free_mask is set iff slice i is not in a
 * span; max_run is the longest run of set bits in free_mask (best fit skips
 * segments that cannot hold a request, or cannot beat the best found);
 * dirty_mask is a subset of free_mask; bit 0 (the header) is in
 * neither; a segment is on ph_list iff free_mask != 0; dirty_since is the
 * time the oldest dirty slice was freed (0 when dirty_mask == 0);
 * dirty_ms[i] is slice i's free time (ms) while its dirty bit is set.
 *
 * Lock order: heaps lock -> orphan lock -> abandoned lock -> page-heap lock.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "malloc/internal.h"

#define ALL_SLICES_FREE (~(uint64_t)1)   /* every slice but the header */

#define PH_MAX_EMPTY 4
#define PURGE_TICK   ((uint64_t)50 * 1000000)   /* ns between purge checks */

static pthread_mutex_t ph_lock = PTHREAD_MUTEX_INITIALIZER;
static segment_t *ph_list;       /* segments with free slices */
static segment_t *ph_all;        /* every live segment */
static size_t ph_segments;       /* live segments */
static size_t ph_empty;          /* of those, entirely free */
static size_t ph_spans;          /* spans handed out */
static size_t ph_dirty;          /* free but resident slices */
static uint64_t ph_next_purge;   /* time of the next purge check */
/* Adaptive delay: ph_delay_ns starts at purge_ms and doubles (up to 16x)
 * when a span needs fresh memory soon after a purge (the purge was
 * regretted: the program frees and reallocates in a loop), and halves back
 * after a quiet spell. */
static uint64_t ph_delay_ns, ph_last_purge, ph_last_regret;

void _st_pageheap_lock(void) { pthread_mutex_lock(&ph_lock); }
void _st_pageheap_unlock(void) { pthread_mutex_unlock(&ph_lock); }
void _st_pageheap_reinit(void) { pthread_mutex_init(&ph_lock, NULL); }

static void all_push(segment_t *s) {
  s->prev_all = NULL; s->next_all = ph_all;
  if (ph_all) ph_all->prev_all = s;
  ph_all = s;
}
static void all_remove(segment_t *s) {
  if (s->prev_all) s->prev_all->next_all = s->next_all; else ph_all = s->next_all;
  if (s->next_all) s->next_all->prev_all = s->prev_all;
}

/* The search table.  For every segment on ph_list, a copy of its masks and
 * longest run, packed two to a cache line, so span_alloc's best-fit search
 * reads one contiguous array instead of every segment's header.  The
 * headers all sit at 4 MiB-aligned addresses and compete for the same cache
 * sets: the walk over 21 of them was 4.9% of the `mixed` workload, half of
 * it on loading free_mask, and a 1 GiB heap has 256.  Entry i is
 * ph_tab[i].seg's, whose ph_idx is i + 1.  A segment listed while the
 * table is full has ph_idx 0 and is counted in ph_untabled; the search
 * then walks the list for those as well.  Under ph_lock; the segment's own
 * fields are the truth and ph_sync copies them after every change. */
typedef struct { uint64_t free_mask, dirty_mask; segment_t *seg; uint64_t max_run; } ph_ent_t;
/* 16 GiB of segments with free slices; debug builds (make debug) keep 8
 * entries, so the test suite runs the overflow path too */
#define PH_TAB (STRATA_DEBUG ? 8 : 4096)
static ph_ent_t ph_tab[PH_TAB];
static unsigned ph_n, ph_untabled;

static void ph_sync(segment_t *s) {
  if (s->ph_idx == 0) return;
  ph_ent_t *e = &ph_tab[s->ph_idx - 1];
  e->free_mask = s->free_mask;
  e->dirty_mask = s->dirty_mask;
  e->max_run = s->max_run;
}

static void list_remove(segment_t *s) {
  if (s->prev) s->prev->next = s->next; else ph_list = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
  if (s->ph_idx == 0) { ph_untabled--; return; }
  unsigned i = s->ph_idx - 1, last = --ph_n;
  if (i != last) { ph_tab[i] = ph_tab[last]; ph_tab[i].seg->ph_idx = i + 1; }
  s->ph_idx = 0;
}
static void list_push(segment_t *s) {
  s->prev = NULL; s->next = ph_list;
  if (ph_list) ph_list->prev = s;
  ph_list = s;
  if (ph_n == PH_TAB) { s->ph_idx = 0; ph_untabled++; return; }
  ph_tab[ph_n].seg = s;
  s->ph_idx = ++ph_n;
  ph_sync(s);
}

/* The best run for n slices in mask m: the start of the shortest run of set
 * bits that is at least n long (the earliest on ties), or -1; *len_out gets
 * that run's length. */
static int best_run(uint64_t m, unsigned n, unsigned *len_out) {
  int best = -1;
  unsigned best_len = 65;
  while (m) {
    unsigned start = (unsigned)__builtin_ctzll(m);
    uint64_t rest = m >> start;
    unsigned len = ~rest == 0 ? 64 - start : (unsigned)__builtin_ctzll(~rest);
    if (len >= n && len < best_len) { best = (int)start; best_len = len; if (len == n) break; }
    m &= len + start >= 64 ? (((uint64_t)1 << start) - 1) : ~((((uint64_t)1 << len) - 1) << start);
  }
  *len_out = best_len;
  return best;
}

/* Longest run of set bits in m. */
static unsigned longest_run(uint64_t m) {
  unsigned best = 0;
  while (m) {
    unsigned start = (unsigned)__builtin_ctzll(m);
    uint64_t rest = m >> start;
    unsigned len = ~rest == 0 ? 64 - start : (unsigned)__builtin_ctzll(~rest);
    if (len > best) best = len;
    m &= len + start >= 64 ? (((uint64_t)1 << start) - 1) : ~((((uint64_t)1 << len) - 1) << start);
  }
  return best;
}

/* Mark the free slices `bits` of s as used (lock held). */
static void take_slices(segment_t *s, uint64_t bits) {
  s->free_mask &= ~bits;
  s->max_run = longest_run(s->free_mask);
  ph_dirty -= (size_t)__builtin_popcountll(s->dirty_mask & bits);
  s->dirty_mask &= ~bits;
  if (s->dirty_mask == 0) s->dirty_since = 0;
  if (s->free_mask == 0) list_remove(s);
  else ph_sync(s);
}

/* ---- The segment range -----------------------------------------------------
 * Small segments are carved from one reserved range of seg_reserve bytes
 * (default 64 GiB of address space, PROT_NONE until a slot is committed:
 * no memory), so that free's fast path tells a small block by
 *     p - _st_seg_base < _st_seg_span        (st_in_seg_range)
 * instead of a segment-map lookup (3 fewer instructions per free).
 *
 * Invariants:
 *  - _st_seg_base is written once (range reserved) before _st_seg_span
 *    first becomes non-zero; _st_seg_span only grows, with a release store,
 *    after the slot it newly covers has a committed, initialised header.
 *    Until then base = 2^63 and span = 0, so a reader with either value
 *    stale sees no range (p - 2^63 >= 2^63 > span for p < 2^63).
 *  - Every slot below base + span has a readable header whose descriptors
 *    are valid: a live segment's, or a released slot's, whose slices are all
 *    free (span == self, in_use 0, owner 0), so free may look up the
 *    descriptor of any pointer below the mark and reports it from there.
 *    A released slot keeps its header's OS pages (RG_KEEP bytes, 12 KiB)
 *    and gives the rest back (PROT_NONE); rg_released lists them (linked
 *    through segment_t.next) and they are reused first, then rg_next bumps.
 *  - Region segments are in the segment map too: every other path (realloc,
 *    usable size, sized free, the report) finds them as before.
 * Without a range (seg_reserve=0, RLIMIT_AS, or the range full), segments
 * are mapped one by one (os_alloc) and free finds them through the segment
 * map.  rg_* are under the page-heap lock; a slot is committed under it
 * too, so a failed commit can be undone before anyone sees the slot. */
uintptr_t _st_seg_base = (uintptr_t)1 << 63;
uintptr_t _st_seg_span;
static int rg_tried;              /* the reservation was attempted */
static uint8_t *rg_start;         /* the range, NULL without one */
static size_t rg_slots, rg_next;  /* slots in it; the first never used */
static segment_t *rg_released;    /* released slots (headers kept) */
#define RG_KEEP (((sizeof(segment_t) + 4095) / 4096) * 4096)

static void rg_reserve(void) {                   /* lock held */
  rg_tried = 1;
  size_t want = (size_t)_st_option(OPT_SEG_RESERVE) & ~(size_t)ST_SEGMENT_MASK;
  if (want == 0) return;
  int saved = errno;
  /* One slot more, unmapped again at once: a hole after the range, so that
   * the next mapping (a large block, from the same address hint) does not
   * touch it.  valgrind's memcheck marks the grown part of a block that
   * mremap moves unaddressable when the block sat right after a PROT_NONE
   * mapping (seen with valgrind 3.19); nothing else cares. */
  uint8_t *r = _st_os_reserve(want + ST_SEGMENT_SIZE, ST_SEGMENT_SIZE);
  if (r != NULL) _st_os_release(r + want, ST_SEGMENT_SIZE);
  errno = saved;
  if (r == NULL) {
    if (_st_option(OPT_VERBOSE)) _st_message("strata: seg_reserve: %zu bytes refused; segments mapped one by one\n", want);
    return;
  }
  rg_start = r;
  rg_slots = want / ST_SEGMENT_SIZE;
  __atomic_store_n(&_st_seg_base, (uintptr_t)r, __ATOMIC_RELAXED);
}

/* A slot of the range, committed, with the header readable (zero when it
 * is fresh, a released segment's otherwise: *reused = 1); NULL when there
 * is none.  Lock held. */
static segment_t *rg_take(int *reused) {
  if (!rg_tried) rg_reserve();
  segment_t *s = rg_released;
  if (s != NULL) {                               /* header resident: the rest */
    if (_st_os_commit_fresh((uint8_t *)s + RG_KEEP, ST_SEGMENT_SIZE - RG_KEEP) != 0) return NULL;
    rg_released = s->next;
    s->next = NULL;
    *reused = 1;
    return s;
  }
  if (rg_next == rg_slots) return NULL;
  s = (segment_t *)(rg_start + rg_next * ST_SEGMENT_SIZE);
  if (_st_os_commit_fresh(s, ST_SEGMENT_SIZE) != 0) return NULL;
  rg_next++;
  return s;
}

/* Give a region segment's slot back (lock not held): all but its header
 * returns to the OS; the header keeps saying "all slices free", and stays
 * charged (limits.c): it is resident. */
static void rg_give(segment_t *s) {
  int saved = errno;
  (void)_st_os_decommit((uint8_t *)s + RG_KEEP, ST_SEGMENT_SIZE - RG_KEEP);   /* best effort */
  errno = saved;
  pthread_mutex_lock(&ph_lock);
  s->next = rg_released;
  rg_released = s;
  pthread_mutex_unlock(&ph_lock);
}

static segment_t *segment_new(void) {
  if (!_st_charge(ST_SLICE_SIZE)) { errno = ENOMEM; return NULL; }   /* the header slice */
  int reused = 0;
  pthread_mutex_lock(&ph_lock);
  segment_t *s = rg_take(&reused);
  pthread_mutex_unlock(&ph_lock);
  if (reused) _st_uncharge(RG_KEEP);             /* charged since its first use */
  bool ranged = s != NULL;
  if (!ranged) s = _st_os_alloc(ST_SEGMENT_SIZE, ST_SEGMENT_SIZE);
  if (s == NULL) {   /* the OS refused: the large cache and empty regions back, once more (large.c) */
    int saved = errno;
    _st_large_trim();
    s = _st_os_alloc(ST_SEGMENT_SIZE, ST_SEGMENT_SIZE);
    if (s != NULL) errno = saved;
  }
  if (s == NULL) { _st_uncharge(ST_SLICE_SIZE); errno = ENOMEM; return NULL; }
  if (_st_segmap_set(s, 1, SEGMAP_SMALL, 0) != 0) {
    if (ranged) rg_give(s); else _st_os_release(s, ST_SEGMENT_SIZE);
    _st_uncharge(ranged ? ST_SLICE_SIZE - RG_KEEP : ST_SLICE_SIZE);
    errno = ENOMEM;
    return NULL;
  }
  long thp = _st_option(OPT_THP);
  if (thp != 1) _st_os_hint_huge(s, ST_SEGMENT_SIZE, thp == 2);   /* 1: the system's default */
  /* A guard page between the metadata and the first blocks: the header
   * needs far less than its slice, so the slice's last OS page becomes
   * PROT_NONE and an underflow out of slice 1 faults instead of reaching
   * the page descriptors.  Best effort: without it the segment still works. */
  size_t ps = _st_os_page_size();
  if (sizeof(segment_t) + ps <= ST_SLICE_SIZE) {
    int saved = errno;
    (void)_st_os_decommit((uint8_t *)s + ST_SLICE_SIZE - ps, ps);
    errno = saved;
  }
  /* Fresh or released, every descriptor already reads "free slice"
   * (span == self, in_use 0, owner 0): set the header's own fields only, so
   * a stray free reading a descriptor meanwhile still finds a valid one. */
  s->next_all = s->prev_all = s->next = s->prev = NULL;
  s->ph_idx = 0;
  s->dirty_mask = 0;
  s->dirty_since = 0;
  s->free_mask = ALL_SLICES_FREE;
  s->max_run = ST_SLICES - 1;
  for (unsigned i = 0; i < ST_SLICES; i++) s->pages[i].span = &s->pages[i];
  if (ranged) {                      /* publish: the fast path may look now */
    uintptr_t end = (uintptr_t)s + ST_SEGMENT_SIZE - (uintptr_t)rg_start;
    pthread_mutex_lock(&ph_lock);
    if (end > _st_seg_span) __atomic_store_n(&_st_seg_span, end, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ph_lock);
  }
  return s;
}

static void segment_release(segment_t *s) {      /* unlinked, lock not held */
  _st_segmap_clear(s, 1);
  if (st_in_seg_range(s)) {                      /* below the mark: a slot of the range */
    rg_give(s);
    _st_uncharge(ST_SLICE_SIZE - RG_KEEP);
  } else {
    _st_os_release(s, ST_SEGMENT_SIZE);
    _st_uncharge(ST_SLICE_SIZE);
  }
}

/* Purge the dirty slices of s in `mask` (lock held); returns the bytes.
 * A run whose madvise fails stays dirty and charged, and a later purge
 * tries it again (it was counted clean and uncharged, so its memory stayed
 * resident unaccounted for: under injected failures a 48 MiB hard limit
 * let the process reach 78 MiB; found by review, stop 32). */
static size_t segment_purge_mask(segment_t *s, uint64_t mask) {
  uint64_t d = s->dirty_mask & mask, all = 0;
  while (d) {
    unsigned i = (unsigned)__builtin_ctzll(d), j = i;
    while (j < ST_SLICES && ((d >> j) & 1)) j++;
    uint64_t run = (j == 64 ? ~(uint64_t)0 : (((uint64_t)1 << j) - 1)) & ~(((uint64_t)1 << i) - 1);
    if (_st_os_reset((uint8_t *)s + (size_t)i * ST_SLICE_SIZE, (size_t)(j - i) * ST_SLICE_SIZE) == 0) all |= run;
    d &= ~run;
  }
  size_t bytes = (size_t)__builtin_popcountll(all) * ST_SLICE_SIZE;
  ph_dirty -= (size_t)__builtin_popcountll(all);
  _st_uncharge(bytes);
  s->dirty_mask &= ~all;
  if (s->dirty_mask == 0) {
    s->dirty_since = 0;
  } else if (all) {                              /* the oldest left */
    uint32_t now = (uint32_t)(st_now_ns() / 1000000), age = 0;
    for (uint64_t m = s->dirty_mask; m; m &= m - 1) {
      uint32_t a = now - s->dirty_ms[__builtin_ctzll(m)];
      if (a > age) age = a;
    }
    s->dirty_since = st_now_ns() - (uint64_t)age * 1000000;
  }
  ph_sync(s);
  return bytes;
}
static void segment_purge(segment_t *s) { segment_purge_mask(s, ~(uint64_t)0); }

static uint64_t purge_delay(uint64_t now) {
  long ms = _st_option(OPT_PURGE_MS);
  uint64_t base = ms > 0 ? (uint64_t)ms * 1000000 : 0;
  if (ph_delay_ns < base) ph_delay_ns = base;
  if (ph_delay_ns > base && now - ph_last_regret > 4 * ph_delay_ns) {
    ph_delay_ns /= 2;                          /* quiet: decay back */
    ph_last_regret = now;
  }
  return _st_over_soft() ? 0 : ph_delay_ns;
}

/* Fresh (clean) slices were needed: was the last purge too eager? */
static void purge_regret(uint64_t now) {
  long ms = _st_option(OPT_PURGE_MS);
  if (ms <= 0 || ph_last_purge == 0 || now - ph_last_purge > 2 * ph_delay_ns) return;
  if (ph_delay_ns < (uint64_t)ms * 16000000) ph_delay_ns *= 2;
  ph_last_regret = now;
}

/* Purge what has been dirty long enough (everything with force). */
static void purge_expired(uint64_t now, int force) {
  long ms = _st_option(OPT_PURGE_MS);
  if (!force && (ms < 0 || now < ph_next_purge)) return;
  ph_next_purge = now + PURGE_TICK;
  uint64_t age = force ? 0 : purge_delay(now);
  for (segment_t *s = ph_list; s; s = s->next)
    if (s->dirty_mask && (force || now - s->dirty_since >= age)) { segment_purge(s); ph_last_purge = now; }
}

/* For the purge thread: purge what expired; returns the dirty bytes left. */
size_t _st_segments_tick(void) {
  pthread_mutex_lock(&ph_lock);
  purge_expired(st_now_ns(), 0);
  size_t left = ph_dirty * ST_SLICE_SIZE;
  pthread_mutex_unlock(&ph_lock);
  return left;
}

/* Fresh slices were just taken while at least as many dirty ones sat free
 * elsewhere, in runs too short for the request (fragmentation: a real
 * shortage is purge_regret's business).  Those dirty slices are resident
 * and, left alone, stay so until the purge delay -- while the program keeps
 * taking fresh slices past them, so the resident total grows by every fresh
 * take.  Instead, the dirty slices that have been free for purge_ms/25 (10
 * ms at the default: a slice the allocator would reuse is reused sooner)
 * are purged now, at least `bytes` of them when there are.  Only on fresh
 * takes, so it costs a madvise per span that already costs page faults.
 * In the bench `mixed` workload (spans of 64 KiB..1 MiB blocks churning
 * through 22 segments), half of the fresh slices were taken with enough
 * dirty ones free.  Lock held. */
static void exchange_purge(size_t bytes) {
  long ms = _st_option(OPT_PURGE_MS);
  if (ms <= 0 || _st_over_soft()) return;       /* never purge, or done at once already */
  uint32_t age = ms / 25 > 0 ? (uint32_t)(ms / 25) : 1;
  uint32_t now = (uint32_t)(st_now_ns() / 1000000);
  size_t done = 0;
  for (segment_t *t = ph_list; t && done < bytes; t = t->next) {
    uint64_t old = 0;
    for (uint64_t m = t->dirty_mask; m; m &= m - 1) {
      unsigned i = (unsigned)__builtin_ctzll(m);
      if (now - t->dirty_ms[i] >= age) old |= (uint64_t)1 << i;
    }
    if (old) done += segment_purge_mask(t, old);
  }
}

static page_t *span_alloc(unsigned n) {
  pthread_mutex_lock(&ph_lock);
  segment_t *s = NULL, *sd = NULL, *empty = NULL;
  int start = -1, dstart = -1;
  unsigned best_len = 65, dbest_len = 65, len;
  /* Dirty first: the best fit among runs of n free *dirty* slices (still
   * resident: taking them costs no page fault, no charge, and no growth of
   * the RSS), over partly used segments; else the best fit among all free
   * runs; empty segments only when nothing else fits, to keep them empty
   * (and of those, one with dirty slices first).  Without the dirty
   * preference, spans wander over every clean slice of the segments as
   * threads come and go, and all of it ends up resident (bench workload
   * `threads`: 12 MiB resident for 1.4 MiB live).  An exact dirty fit ends
   * the search. */
  /* the table, then (rarely) the listed segments it had no room for */
  segment_t *t = ph_list;
  for (unsigned i = 0;; i++) {
    uint64_t fm, dm, mr;
    if (i < ph_n) {
      const ph_ent_t *e = &ph_tab[i];
      t = e->seg; fm = e->free_mask; dm = e->dirty_mask; mr = e->max_run;
    } else {
      if (i == ph_n) t = ph_untabled ? ph_list : NULL;
      else t = t->next;
      while (t != NULL && t->ph_idx != 0) t = t->next;
      if (t == NULL) break;
      fm = t->free_mask; dm = t->dirty_mask; mr = t->max_run;
    }
    if (fm == ALL_SLICES_FREE) {
      if (!empty || (dm && !empty->dirty_mask)) empty = t;
      continue;
    }
    if (mr < n) continue;                                    /* cannot fit */
    if (dm != 0) {
      int r = best_run(dm, n, &len);
      if (r >= 0 && len < dbest_len) { sd = t; dstart = r; dbest_len = len; if (len == n) break; }
    }
    if (sd == NULL && mr < best_len) {                       /* could fit better */
      int r = best_run(fm, n, &len);
      if (r >= 0 && len < best_len) { s = t; start = r; best_len = len; }
    }
  }
  if (sd != NULL) { s = sd; start = dstart; }
  if (s == NULL && empty != NULL) {
    s = empty;
    ph_empty--;
    start = best_run(s->dirty_mask, n, &len);
    if (start < 0) start = best_run(s->free_mask, n, &len);
  }
  if (s == NULL) {
    pthread_mutex_unlock(&ph_lock);               /* map without blocking others */
    s = segment_new();
    if (s == NULL) { errno = ENOMEM; return NULL; }
    pthread_mutex_lock(&ph_lock);
    ph_segments++;
    list_push(s);
    all_push(s);
    start = best_run(s->free_mask, n, &len);
  }
  uint64_t bits = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << start;
  size_t clean = (size_t)__builtin_popcountll(bits & ~s->dirty_mask) * ST_SLICE_SIZE;
  if (clean && ph_dirty < n) purge_regret(st_now_ns());     /* a real shortage, not fragmentation */
  if (clean && !_st_charge(clean)) {            /* hard limit: purge what waits, retry once */
    purge_expired(st_now_ns(), 1);
    clean = (size_t)__builtin_popcountll(bits & ~s->dirty_mask) * ST_SLICE_SIZE;
    if (!_st_charge(clean)) {
      if (s->free_mask == ALL_SLICES_FREE) ph_empty++;
      pthread_mutex_unlock(&ph_lock);
      errno = ENOMEM;
      return NULL;
    }
  }
  take_slices(s, bits);
  if (clean && ph_dirty * ST_SLICE_SIZE >= clean) exchange_purge(clean);
  page_t *page = &s->pages[start];
  memset(page, 0, sizeof *page);
  page->slice_count = (uint8_t)n;
  page->in_use = 1;
  page->span = page;
  for (unsigned i = 1; i < n; i++) {
    memset(&s->pages[start + i], 0, sizeof(page_t));
    s->pages[start + i].slice_offset = (uint8_t)i;
    s->pages[start + i].span = page;
  }
  ph_spans++;
  pthread_mutex_unlock(&ph_lock);
  return page;
}

void _st_span_free(page_t *page) { _st_span_free_reset(page, 0); }

/* reset: the caller purged the whole span already (1), or that failed (-1),
 * or nothing was done (0) */
void _st_span_free_reset(page_t *page, int reset) {
  segment_t *s = st_segment_of(page);
  unsigned start = (unsigned)(page - s->pages), n = page->slice_count;
  if (STRATA_DEBUG && (!page->in_use || start == 0 || start + n > ST_SLICES))
    _st_error("span_free: corrupt page descriptor", page);
  uint64_t now = st_now_ns();
  segment_t *release = NULL;
  /* A span with purged units goes back clean: purge the rest of it too, so
   * its slices need no charge until a span takes them again (charging the
   * purged units back here could cross the hard limit). */
  size_t purged = _st_page_purged_bytes(page), span_bytes = (size_t)n * ST_SLICE_SIZE;
  bool clean = purged != 0 &&
               (reset == 0 ? _st_os_reset(st_span_addr(page), span_bytes) == 0 : reset > 0);
  if (clean) _st_uncharge(span_bytes - purged);
  else if (purged) _st_charge_force(purged);      /* madvise failed: it is resident again */
  page->purged = 0;
  page->held = 0;
  pthread_mutex_lock(&ph_lock);
  page->in_use = 0;
  for (unsigned i = 1; i < n; i++) s->pages[start + i].span = &s->pages[start + i];
  atomic_store_explicit(&page->owner, 0, memory_order_relaxed);
  atomic_store_explicit(&page->heap, NULL, memory_order_relaxed);
  uint64_t bits = (n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1)) << start;
  if (s->free_mask == 0) list_push(s);
  s->free_mask |= bits;
  s->max_run = longest_run(s->free_mask);
  if (!clean) {
    uint32_t ms = (uint32_t)(now / 1000000);
    for (unsigned i = start; i < start + n; i++) s->dirty_ms[i] = ms;
    s->dirty_mask |= bits;
    ph_dirty += n;
    if (s->dirty_since == 0) s->dirty_since = now;
  }
  ph_sync(s);
  ph_spans--;
  if (s->free_mask == ALL_SLICES_FREE && ++ph_empty > PH_MAX_EMPTY) {
    list_remove(s);
    all_remove(s);
    ph_empty--;
    ph_segments--;
    ph_dirty -= (size_t)__builtin_popcountll(s->dirty_mask);
    _st_uncharge((size_t)__builtin_popcountll(s->dirty_mask) * ST_SLICE_SIZE);
    release = s;
  }
  if ((_st_option(OPT_PURGE_MS) == 0 || _st_over_soft()) && s != release) segment_purge(s);
  else purge_expired(now, 0);
  size_t pending = ph_dirty * ST_SLICE_SIZE;
  pthread_mutex_unlock(&ph_lock);
  if (release) segment_release(release);
  if (pending) _st_purge_kick(pending);
}

page_t *_st_span_alloc(unsigned n) {
  page_t *p = span_alloc(n);
  if (p == NULL && _st_option(OPT_HARD_LIMIT) > 0) {
    /* At the hard limit: give back what is only cached (parked large
     * mappings, dirty slices, empty segments), then try once more. */
    _st_large_trim();
    _st_segments_trim();
    p = span_alloc(n);
    if (p == NULL) errno = ENOMEM;
  }
  return p;
}

size_t _st_segments_trim(void) {
  segment_t *dead = NULL;
  size_t freed;
  pthread_mutex_lock(&ph_lock);
  freed = ph_dirty * ST_SLICE_SIZE;
  purge_expired(st_now_ns(), 1);
  segment_t *next;
  for (segment_t *s = ph_list; s; s = next) {
    next = s->next;
    if (s->free_mask == ALL_SLICES_FREE) {
      list_remove(s);
      all_remove(s);
      ph_empty--;
      ph_segments--;
      ph_dirty -= (size_t)__builtin_popcountll(s->dirty_mask);   /* a purge failed: they go now */
      _st_uncharge((size_t)__builtin_popcountll(s->dirty_mask) * ST_SLICE_SIZE);
      s->next = dead;
      dead = s;
      freed += ST_SEGMENT_SIZE;
    }
  }
  pthread_mutex_unlock(&ph_lock);
  while (dead) { segment_t *s = dead; dead = s->next; segment_release(s); }
  return freed;
}

void _st_segments_stats(strata_stats_t *st) {
  pthread_mutex_lock(&ph_lock);
  st->segments = ph_segments;
  st->pages_in_use = ph_spans;
  /* Live blocks: every span's `used` minus its pending remote frees (read
   * racily while owners run, so a few blocks stale; segments cannot go away
   * meanwhile: they are unmapped only after leaving ph_all under this lock). */
  size_t small = 0, in_spans = 0, purged = 0;
  for (segment_t *s = ph_all; s; s = s->next_all) {
    purged += (size_t)__builtin_popcountll(s->free_mask & ~s->dirty_mask) * ST_SLICE_SIZE;
    for (unsigned i = 1; i < ST_SLICES;) {
      page_t *p = &s->pages[i];
      if (p->span != p || !__atomic_load_n(&p->in_use, __ATOMIC_RELAXED)) { i++; continue; }
      size_t bytes = (size_t)p->slice_count * ST_SLICE_SIZE;
      size_t bs = __atomic_load_n(&p->block_size, __ATOMIC_RELAXED);
      in_spans += bytes;
      purged += _st_page_purged_bytes(p);
      if (p->cls < ST_NCLASSES) {
        size_t used = __atomic_load_n(&p->used, __ATOMIC_RELAXED) + __atomic_load_n(&p->purge_low, __ATOMIC_RELAXED);
        size_t pending = atomic_load_explicit(&p->xthread_free, memory_order_relaxed) >> XF_COUNT_SHIFT;
        used = used > pending ? used - pending : 0;
        strata_class_stats_t *c = &st->classes[p->cls];
        c->blocks_in_use += used;
        c->spans++;
        c->span_bytes += bytes;
        small += used * bs;
      }
      i += p->slice_count ? p->slice_count : 1;
    }
  }
  st->small_in_use = small;
  st->in_blocks += small;
  st->in_spans += in_spans;
  st->purged += purged;
  st->reserved += ph_segments * ST_SEGMENT_SIZE;
  st->committed += ph_segments * ST_SEGMENT_SIZE - purged;
  pthread_mutex_unlock(&ph_lock);
}

/* Call fn(segment, span head, arg) for every span in use, and fn(segment,
 * NULL, arg) once per segment first, under the page-heap lock (fn must not
 * allocate or take a strata lock).  Span fields that the owner thread writes
 * (used, capacity, free) are read racily: exact when the process is quiet. */
void _st_segments_walk(void (*fn)(segment_t *, page_t *, void *), void *arg) {
  pthread_mutex_lock(&ph_lock);
  for (segment_t *s = ph_all; s; s = s->next_all) {
    fn(s, NULL, arg);
    for (unsigned i = 1; i < ST_SLICES;) {
      page_t *p = &s->pages[i];
      if (p->span == p && __atomic_load_n(&p->in_use, __ATOMIC_RELAXED)) {
        fn(s, p, arg);
        i += p->slice_count ? p->slice_count : 1;
      } else {
        i++;
      }
    }
  }
  pthread_mutex_unlock(&ph_lock);
}

/* Walk every listed segment: masks and descriptors agree. */
int _st_segments_check(void) {
  int bad = 0;
  pthread_mutex_lock(&ph_lock);
  unsigned listed = 0, untabled = 0;
  for (segment_t *s = ph_list; s; s = s->next) {
    if (s->free_mask == 0 || (s->free_mask & 1) || (s->dirty_mask & ~s->free_mask)) bad = 1;
    if (s->max_run != longest_run(s->free_mask)) bad = 1;
    listed++;
    if (s->ph_idx == 0) untabled++;               /* the search table agrees */
    else if (s->ph_idx > ph_n || ph_tab[s->ph_idx - 1].seg != s ||
             ph_tab[s->ph_idx - 1].free_mask != s->free_mask ||
             ph_tab[s->ph_idx - 1].dirty_mask != s->dirty_mask ||
             ph_tab[s->ph_idx - 1].max_run != s->max_run) bad = 1;
    if (st_segmap_get(s) != SEGMAP_SMALL) bad = 1;
    for (unsigned i = 1; i < ST_SLICES;) {
      page_t *p = &s->pages[i];
      bool is_free = (s->free_mask >> i) & 1;
      if (is_free) { if (p->in_use) bad = 1; i++; continue; }
      if (!p->in_use || p->slice_count == 0 || i + p->slice_count > ST_SLICES) { bad = 1; break; }
      i += p->slice_count;
    }
  }
  if (listed != ph_n + untabled || untabled != ph_untabled) bad = 1;
  pthread_mutex_unlock(&ph_lock);
  if (bad) _st_message("strata: heap check: segment list inconsistent\n");
  return bad ? -1 : 0;
}
