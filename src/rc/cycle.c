/* cycle.c -- the candidate buffer and the cycle collector.
 *
 * Reference counting cannot reclaim a cycle: every member keeps the next one
 * alive.  This is synchronous trial deletion (D. F. Bacon and V. T. Rajan,
 * "Concurrent Cycle Collection in Reference Counted Systems", ECOOP 2001,
 * section 3), with CPython's refinement of keeping the trial count in a
 * separate field (gc) so the real counts are never touched:
 *
 *   Buffering.  When a release leaves a traced object with a count > 0, the
 *   object may have become the root of a garbage cycle ("purple").  The
 *   release slow path buffers it in the calling thread's candidate buffer
 *   (once: WANT -> BUF).  The entry holds a storage unit, so a candidate that
 *   dies later is still readable when the collector looks at it.
 *
 *   A collection of the calling thread's buffer, when it holds `threshold`
 *   entries or on strata_rc_collect():
 *   1. MarkGray.  Every live candidate and every traced object reachable from
 *      one is colored GRAY and appended to the scan list L, with
 *      gc = its count.  Each reference from a member of L to a member of L
 *      then subtracts 1 from the target's gc.  Afterwards
 *          gc(x) = count(x) - |refs to x from L|
 *      = the references to x from outside L (program variables, untraced or
 *      non-candidate objects).  L is threaded through `link`, so this phase
 *      needs no memory, and built in depth-first preorder (children are
 *      inserted right after their parent) for locality.
 *   2. Scan.  Every x in L with gc(x) > 0 is externally referenced: it and
 *      everything reachable from it in L is live (ScanBlack: GRAY -> BLACK,
 *      depth first on a work stack).  The rest turns WHITE: garbage.
 *          Invariant after Scan (the tri-color predicate):
 *          no BLACK object references a WHITE one, and every WHITE object's
 *          count equals the number of references to it from WHITE objects.
 *   3. CollectWhite.  The WHITE objects move to the garbage list G (grouped
 *      by a depth-first walk from each white candidate: one group per walk,
 *      the `cycles` statistic).  The same walks recount the references
 *      among G.
 *   4. Validate and condemn.  Each member's count is compared with the
 *      references to it from G (the predicate above) and the member becomes
 *      DEAD: weak references to it stop upgrading, before any destructor
 *      runs.  A mismatch means the graph changed during the collection (a
 *      broken concurrency contract or a traverse callback that lies): the
 *      members condemned so far are restored, the collection reports it and
 *      frees nothing.
 *   5. Destroy.  Each member's destructor runs; all members' memory is valid
 *      throughout, so a destructor may read its neighbours.  Releases of
 *      DEAD objects never run a second destructor (rc.c).
 *   6. Free.  Each member's count must now be 0 (its destructors released
 *      all references among G); the strong side's storage unit is dropped.
 *      A member still counted was resurrected by a destructor: reported,
 *      and leaked rather than freed.
 *   7. The old buffer entries leave the buffer (BUF -> WANT if still alive)
 *      and drop their storage units: those still alive before phase 5
 *      (so that a destructor's release buffers them again), the others
 *      after phase 6.
 *
 * If the scan stack cannot grow (phase 2 or 3), the collection is undone --
 * colors reset from L, the candidates put back -- and returns -1/ENOMEM.
 *
 * Threads.  Each thread has its own buffer (thread-local: no lock), and a
 * collection only starts from the calling thread's candidates.  It reads
 * every object reachable from them, so the contract in rc.h applies: no
 * other thread may change those objects while it runs.  At thread exit the
 * buffer is collected (if automatic collection is on) and what is left goes
 * to a process-wide orphan set that the next collection in any thread
 * adopts.  Destructors run by a collection may release and
 * buffer objects; they go into a fresh buffer, and an automatic collection
 * never starts inside another.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include "rc/internal.h"

/* Per-thread collector state.  Owner thread only, no locks.
 *   buf[0..n) -- candidates: every entry has BUF set and holds a weak unit,
 *                no object appears twice, n <= cap (rc_buffer_is_valid)
 *   stack     -- the scan stack of phases 2-3, kept between collections
 *   collecting -- a collection runs on this thread (no nested collection) */
typedef struct {
  st_rc_hdr_t **buf;
  size_t n, cap;
  st_rc_hdr_t **stack;
  size_t scap;
  bool collecting;
  bool key_set;       /* the thread-exit destructor is registered */
  struct live_slot *live;   /* this thread's objects_live counter */
} rc_thread_t;

static __thread rc_thread_t rc_tl;

/* Process-wide: the threshold (relaxed: a hint read on slow paths) and the
 * statistics (relaxed atomic adds, once per collection). */
static size_t rc_threshold = 10000;
static strata_rc_stats_t rc_stats;
static pthread_key_t rc_key;
static pthread_once_t rc_key_once = PTHREAD_ONCE_INIT;

static void stat_add(uint64_t *f, uint64_t v) { if (v) __atomic_fetch_add(f, v, __ATOMIC_RELAXED); }

/* objects_live without a shared atomic on every create and free (that
 * would cost a lock-prefixed add twice per object): one counter slot per
 * thread, summed by strata_rc_stats_get.  Slots are claimed with a CAS on
 * `used`, given back at thread exit with their count kept (the next thread
 * to claim one continues from it; only sums matter: an object made in one
 * thread and freed in another is +1 there and -1 here), and never freed.
 * The owner updates `n` with a relaxed load and store (a plain add). */
typedef struct live_slot { struct live_slot *next; int64_t n; int used; } live_slot_t;
static live_slot_t *live_slots;

static void key_arm(rc_thread_t *t);

static ST_NOINLINE live_slot_t *live_claim(rc_thread_t *t) {
  live_slot_t *l;
  for (l = __atomic_load_n(&live_slots, __ATOMIC_ACQUIRE); l; l = l->next) {
    int z = 0;
    if (__atomic_compare_exchange_n(&l->used, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) break;
  }
  if (!l) {
    l = strata_malloc(sizeof *l);
    if (!l) return NULL;                     /* no memory: the shared counter */
    l->n = 0;
    l->used = 1;
    l->next = __atomic_load_n(&live_slots, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&live_slots, &l->next, l, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {}
  }
  t->live = l;
  key_arm(t);
  return l;
}

__thread int64_t *_st_rc_live;              /* &rc_tl.live->n, for rc_stat_live */

void _st_rc_stat_live_slow(long d) {
  rc_thread_t *t = &rc_tl;
  live_slot_t *l = t->live;
  if (!l && !(l = live_claim(t))) {
    __atomic_fetch_add(&rc_stats.objects_live, (uint64_t)d, __ATOMIC_RELAXED);
    return;
  }
  _st_rc_live = &l->n;
  __atomic_store_n(&l->n, __atomic_load_n(&l->n, __ATOMIC_RELAXED) + d, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- colors and the scan list ----------------------------------------- */

static inline unsigned color(const st_rc_hdr_t *h) { return h->link & GC_COLOR; }
static inline void set_color(st_rc_hdr_t *h, unsigned c) { h->link = (h->link & ~(uintptr_t)GC_COLOR) | c; }
static inline st_rc_hdr_t *next_of(const st_rc_hdr_t *h) { return (st_rc_hdr_t *)(h->link & ~(uintptr_t)GC_COLOR); }
static inline void set_next(st_rc_hdr_t *h, st_rc_hdr_t *n) { h->link = (uintptr_t)n | color(h); }

/* One collection's scan state (the collecting thread's stack frame).
 *   L = head -> ... -> tail through `link`; len = |L|; every member is GRAY
 *   after phase 1, GRAY or BLACK after phase 2; a member appears once (it
 *   is inserted when it turns GRAY, which happens once)
 *   stack[0..sp) -- pending objects of a depth-first walk (t->stack)
 *   oom, bad -- the collection must be undone (ENOMEM / EINVAL) */
typedef struct {
  st_rc_hdr_t *head, *tail;     /* L, linked through `link` */
  st_rc_hdr_t *ins;             /* MarkGray inserts new grays after this one */
  size_t len;
  rc_thread_t *t;
  size_t sp;                    /* scan stack depth */
  bool oom;                     /* the stack could not grow */
  void *bad;                    /* an object with more refs than its count */
} scan_t;

/* Inserts h (GRAY) after s->ins, or at the tail when ins is NULL.  The
 * children of the object being traversed go right after it, so L comes out
 * in depth-first preorder: a ring or a list is walked in its own order,
 * which is usually its allocation order (breadth-first order would hop
 * between structures and miss the cache on every object of every pass). */
static void list_insert(scan_t *s, st_rc_hdr_t *h) {
  st_rc_hdr_t *after = s->ins ? s->ins : s->tail;
  if (!after) { h->link = GC_GRAY; s->head = s->tail = h; }
  else {
    h->link = (after->link & ~(uintptr_t)GC_COLOR) | GC_GRAY;
    set_next(after, h);
    if (s->tail == after) s->tail = h;
  }
  if (s->ins) s->ins = h;
  s->len++;
}

static void traverse(st_rc_hdr_t *h, strata_rc_visit_fn fn, void *arg) {
  rc_type(h)->traverse(rc_obj(h), fn, arg);
}

/* ---- phase 1: MarkGray --------------------------------------------------- */

static void visit_gray(void *child, void *arg) {
  if (!child) return;
  scan_t *s = arg;
  st_rc_hdr_t *c = rc_hdr(child);
  if (!rc_traced(c)) return;                 /* cannot close a cycle: external */
  if (color(c) == GC_BLACK) {
    uint64_t w = rc_load(c);
    if (!rc_alive(w)) {                      /* a live object holds a dead one */
      _st_rc_misuse("traverse visited a dead object (a reference held without a count?)", child);
      s->bad = child;                        /* reported; the undo says no more */
      return;
    }
    c->gc = rc_count(w);
    list_insert(s, c);
  }
  if (c->gc == 0) {                          /* more references than counted */
    s->bad = child;
    return;
  }
  c->gc--;
}

static void mark_gray(scan_t *s, st_rc_hdr_t **roots, size_t n) {
  for (size_t i = 0; i < n; i++) {
    st_rc_hdr_t *r = roots[i];
    uint64_t w = rc_load(r);
    if (!rc_alive(w) || color(r) != GC_BLACK) continue;
    r->gc = rc_count(w);
    list_insert(s, r);                       /* ins == NULL: at the tail */
  }
  for (st_rc_hdr_t *x = s->head; x; x = next_of(x)) {
    s->ins = x;
    traverse(x, visit_gray, s);
  }
  s->ins = NULL;
}

/* ---- phases 2 and 3: the scan stack ------------------------------------ */

int _st_rc_fail_alloc;                      /* test hook: growth fails (u_rc) */

static bool push(scan_t *s, st_rc_hdr_t *h) {
  rc_thread_t *t = s->t;
  if (s->sp == t->scap) {
    size_t cap = t->scap ? 2 * t->scap : 1024;
    st_rc_hdr_t **ns = _st_rc_fail_alloc ? NULL : strata_realloc(t->stack, cap * sizeof *ns);
    if (!ns) { s->oom = true; return false; }
    t->stack = ns;
    t->scap = cap;
  }
  t->stack[s->sp++] = h;
  return true;
}

/* phase 2: ScanBlack -- GRAY -> BLACK for everything reachable.  The GRAY
 * objects left afterwards are the WHITE ones (phase 3 recolors them). */
static void visit_black(void *child, void *arg) {
  if (!child) return;
  scan_t *s = arg;
  st_rc_hdr_t *c = rc_hdr(child);
  if (rc_traced(c) && color(c) == GC_GRAY) {
    set_color(c, GC_BLACK);
    push(s, c);
  }
}

static bool scan(scan_t *s) {
  for (st_rc_hdr_t *x = s->head; x; x = next_of(x)) {
    if (color(x) != GC_GRAY || x->gc == 0) continue;
    set_color(x, GC_BLACK);
    if (!push(s, x)) return false;
    while (s->sp) {
      st_rc_hdr_t *y = s->t->stack[--s->sp];
      traverse(y, visit_black, s);
      if (s->oom) return false;
    }
  }
  return true;
}

/* phase 3: the garbage list G, grouped by depth-first walks from each white
 * candidate; the same walks count the references among G (gc) for the
 * validation.  G reuses `link`. */
/* The garbage list G: head -> ... -> tail through `link`, len members,
 * every one WHITE (then GRAY = grouped) and alive until phase 4 condemns it;
 * disjoint from L's black objects, which are unlinked by then. */
typedef struct { st_rc_hdr_t *head, *tail; size_t len; } glist_t;

static void visit_group(void *child, void *arg) {
  if (!child) return;
  scan_t *s = arg;
  st_rc_hdr_t *c = rc_hdr(child);
  if (!rc_traced(c)) return;
  unsigned col = color(c);
  if (col == GC_BLACK) return;
  c->gc++;                                   /* a reference from a white object */
  if (col == GC_WHITE) {
    set_color(c, GC_GRAY);                   /* GRAY here means "grouped" */
    push(s, c);
  }
}

/* Phase 3.  Splits L into the black objects (done: link 0) and the garbage
 * list G (in L's order), counting the depth-first groups and, in gc, the
 * references among G.  Returns false on OOM after relinking G into s->head
 * for the undo (the black ones need none). */
static bool collect_white(scan_t *s, st_rc_hdr_t **roots, size_t nroots, glist_t *g,
                          uint64_t *groups) {
  st_rc_hdr_t *x = s->head;
  while (x) {
    st_rc_hdr_t *n = next_of(x);
    if (color(x) == GC_BLACK) x->link = 0;   /* live: BLACK, no link */
    else {                                   /* GRAY after Scan: garbage */
      x->link = GC_WHITE;
      x->gc = 0;
      if (g->tail) set_next(g->tail, x); else g->head = x;
      g->tail = x;
      g->len++;
    }
    x = n;
  }
  s->head = s->tail = NULL;
  /* Walks from the white candidates first (buffer order).  Every white was
   * reached from a candidate through whites (a black one on the way would
   * have blackened it), so the second loop only guards the invariant. */
  s->sp = 0;
  for (size_t i = 0; i < nroots + 1; i++) {
    st_rc_hdr_t *w = i < nroots ? roots[i] : g->head;
    for (; w; w = i < nroots ? NULL : next_of(w)) {
      if (color(w) != GC_WHITE) continue;
      (*groups)++;
      set_color(w, GC_GRAY);                 /* GRAY here means "grouped" */
      if (!push(s, w)) goto oom;
      while (s->sp) {
        st_rc_hdr_t *y = s->t->stack[--s->sp];
        traverse(y, visit_group, s);
        if (s->oom) goto oom;
      }
    }
  }
  return true;
oom:
  s->head = g->head;
  g->head = g->tail = NULL;
  return false;
}

/* Phase 4.  Validates each member of G against the Scan predicate (its
 * count equals the references to it from G, counted in phase 3) and
 * condemns it (DEAD, not WANT) in the same step.  On a mismatch the members
 * condemned so far are restored -- no destructor has run -- and the
 * offending member is returned. */
static st_rc_hdr_t *condemn(glist_t *g) {
  st_rc_hdr_t *x;
  for (x = g->head; x; x = next_of(x)) {
    uint64_t old = rc_load(x);
    for (;;) {
      if (x->gc != rc_count(old) || !rc_alive(old)) goto bad;
      uint64_t nw = (old & ~RC_WANT) | RC_DEAD;
      if (!rc_atomic(x)) { x->rc = nw; break; }
      if (__atomic_compare_exchange_n(&x->rc, &old, nw, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
    }
  }
  return NULL;
bad:
  for (st_rc_hdr_t *y = g->head; y != x; y = next_of(y)) {
    uint64_t old = rc_load(y), nw;
    do {
      nw = old & ~RC_DEAD;
      if (!(old & RC_BUF)) nw |= RC_WANT;    /* traced and alive again */
      if (!rc_atomic(y)) { y->rc = nw; break; }
    } while (!__atomic_compare_exchange_n(&y->rc, &old, nw, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
  }
  return x;
}

/* Undo: every object of L back to BLACK with no link. */
static void reset_list(st_rc_hdr_t *head) {
  while (head) {
    st_rc_hdr_t *n = next_of(head);
    head->link = 0;
    head = n;
  }
}

/* ---- the collection --------------------------------------------------- */

static void unbuffer(st_rc_hdr_t *h) {
  uint64_t old = rc_load(h), nw;
  do {
    nw = old & ~RC_BUF;
    if (rc_alive(old)) nw |= RC_WANT;
    if (!rc_atomic(h)) { h->rc = nw; break; }
  } while (!__atomic_compare_exchange_n(&h->rc, &old, nw, 1, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
  _st_rc_weak_drop(h);
}

static int rc_buffer_is_valid(const rc_thread_t *t);
static void orphans_adopt(rc_thread_t *t);

static long collect(rc_thread_t *t, bool automatic) {
  if (t->collecting) { errno = EDEADLK; return -1; }
  orphans_adopt(t);
  if (STRATA_DEBUG && rc_buffer_is_valid(t) != 0) abort();
  t->collecting = true;
  uint64_t t0 = now_ns();
  st_rc_hdr_t **roots = t->buf;
  size_t nroots = t->n, rcap = t->cap;
  t->buf = NULL; t->n = t->cap = 0;          /* destructors buffer into a fresh one */

  scan_t s = { .t = t };
  mark_gray(&s, roots, nroots);
  size_t scanned = s.len;
  if (s.bad || !scan(&s)) goto undo;

  /* phase 3: white -> G, grouped, references among G counted */
  glist_t g = { NULL, NULL, 0 };
  uint64_t groups = 0;
  if (!collect_white(&s, roots, nroots, &g, &groups)) goto undo;

  /* phase 4: validate and condemn -- weak refs stop upgrading before any
   * destructor runs */
  st_rc_hdr_t *bad = condemn(&g);
  if (bad) {                                 /* the graph changed under us */
    _st_rc_misuse("object count changed during cycle collection (concurrent mutation? "
                  "see docs/rc.md); nothing freed", rc_obj(bad));
    reset_list(g.head);
    g.head = NULL; g.len = 0; groups = 0;
  }
  /* the candidates that live on leave the buffer now (BUF -> WANT), so
   * that a destructor's release of one buffers it again, into the fresh
   * buffer: left buffered until phase 7, such a release did not buffer it
   * and phase 7 then dropped it, and a cycle it closed was never collected
   * (found by review, 2026-11-28) */
  for (size_t i = 0; i < nroots; i++)
    if (rc_alive(rc_load(roots[i]))) { unbuffer(roots[i]); roots[i] = NULL; }
  /* phase 5: destroy, every member's memory valid */
  for (st_rc_hdr_t *x = g.head; x; x = next_of(x)) {
    const strata_rc_type_t *ty = rc_type(x);
    if (ty->destroy) ty->destroy(rc_obj(x));
  }
  /* phase 6: free */
  uint64_t reclaimed = 0, resurrected = 0;
  for (st_rc_hdr_t *x = g.head; x; ) {
    st_rc_hdr_t *n = next_of(x);
    x->link = 0;
    if (rc_count(rc_load(x)) != 0) {
      resurrected++;
      _st_rc_misuse("a destructor kept a reference to a collected object (leaked)", rc_obj(x));
    } else {
      reclaimed++;
      rc_mark_gone(x);
      _st_rc_weak_drop(x);
    }
    x = n;
  }
  /* phase 7: the other old entries (condemned, or dead before) leave the
   * buffer, dropping the storage units that kept them readable */
  for (size_t i = 0; i < nroots; i++) if (roots[i]) unbuffer(roots[i]);
  if (!t->buf) { t->buf = roots; t->cap = rcap; }
  else strata_free(roots);

  stat_add(&rc_stats.collections, 1);
  stat_add(&rc_stats.auto_collections, automatic);
  stat_add(&rc_stats.candidates, nroots);
  stat_add(&rc_stats.scanned, scanned);
  stat_add(&rc_stats.cycles, groups);
  stat_add(&rc_stats.reclaimed, reclaimed);
  stat_add(&rc_stats.resurrected, resurrected);
  stat_add(&rc_stats.time_ns, now_ns() - t0);
  t->collecting = false;
  if (STRATA_DEBUG && rc_buffer_is_valid(t) != 0) abort();
  return (long)reclaimed;

undo:
  reset_list(s.head);
  t->buf = roots; t->n = nroots; t->cap = rcap;  /* no destructor ran: t->buf was NULL */
  t->collecting = false;
  if (s.bad) {
    if (rc_alive(rc_load(rc_hdr(s.bad))))
      _st_rc_misuse("traverse reported more references than the count (nothing collected)", s.bad);
    errno = EINVAL;
  } else {
    errno = ENOMEM;
  }
  return -1;
}

/* ---- the buffer -------------------------------------------------------- */

/* Candidates of exited threads, waiting for the next collection in any
 * thread (a dead thread's non-atomic objects, if any are still alive, have
 * been handed to another thread; atomic ones fall under the contract).
 * Lock-free hand-over, so fork needs no handler: the whole set is one
 * pointer, taken with an exchange (NULL left behind) and given with a CAS
 * from NULL; a giver that finds the slot taken takes it, merges, retries. */
typedef struct { st_rc_hdr_t **buf; size_t n; } rc_orphans_t;
static rc_orphans_t *rc_orphans;

static bool append(rc_thread_t *t, st_rc_hdr_t **v, size_t n) {
  if (t->n + n > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->n + n) cap *= 2;
    st_rc_hdr_t **nb = strata_realloc(t->buf, cap * sizeof *nb);
    if (!nb) return false;
    t->buf = nb;
    t->cap = cap;
  }
  for (size_t i = 0; i < n; i++) t->buf[t->n++] = v[i];
  return true;
}

static void orphans_free(rc_orphans_t *o, bool drop_entries) {
  if (drop_entries) for (size_t i = 0; i < o->n; i++) unbuffer(o->buf[i]);  /* candidacy lost */
  strata_free(o->buf);
  strata_free(o);
}

/* Take the orphans into t's buffer (a collection is about to start). */
static void orphans_adopt(rc_thread_t *t) {
  if (!__atomic_load_n(&rc_orphans, __ATOMIC_RELAXED)) return;
  rc_orphans_t *o = __atomic_exchange_n(&rc_orphans, NULL, __ATOMIC_ACQ_REL);
  if (!o) return;
  if (append(t, o->buf, o->n)) { orphans_free(o, false); return; }
  rc_orphans_t *none = NULL;                 /* no memory: leave them there */
  if (!__atomic_compare_exchange_n(&rc_orphans, &none, o, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
    orphans_free(o, true);
}

/* Give t's whole buffer to the orphans. */
static void orphans_give(rc_thread_t *t) {
  while (t->n) {
    rc_orphans_t *o = __atomic_exchange_n(&rc_orphans, NULL, __ATOMIC_ACQ_REL);
    if (o) {
      if (append(t, o->buf, o->n)) orphans_free(o, false);
      else orphans_free(o, true);
    }
    rc_orphans_t *mine = strata_malloc(sizeof *mine);
    if (!mine) { while (t->n) unbuffer(t->buf[--t->n]); return; }
    mine->buf = t->buf;
    mine->n = t->n;
    rc_orphans_t *none = NULL;
    if (__atomic_compare_exchange_n(&rc_orphans, &none, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
      t->buf = NULL; t->n = t->cap = 0;
      return;
    }
    strata_free(mine);                       /* slot taken meanwhile: merge again */
  }
}

/* Thread exit (pthread key destructor): collect if automatic collection is
 * on, then hand what is left to the orphans. */
static void rc_thread_exit(void *arg) {
  rc_thread_t *t = arg;
  if (t != &rc_tl) return;
  if (t->n && __atomic_load_n(&rc_threshold, __ATOMIC_RELAXED)) collect(t, true);
  orphans_give(t);
  strata_free(t->buf);
  strata_free(t->stack);
  t->buf = NULL; t->stack = NULL; t->cap = t->scap = 0;
  if (t->live) {
    _st_rc_live = NULL;
    __atomic_store_n(&t->live->used, 0, __ATOMIC_RELEASE);
    t->live = NULL;
  }
  t->key_set = false;                        /* a later use re-arms the key */
}

static void key_create(void) {
  if (pthread_key_create(&rc_key, rc_thread_exit) != 0) rc_key = (pthread_key_t)-1;
}

/* Registers the thread-exit destructor for this thread (once). */
static void key_arm(rc_thread_t *t) {
  if (t->key_set) return;
  pthread_once(&rc_key_once, key_create);
  t->key_set = true;
  if (rc_key != (pthread_key_t)-1) pthread_setspecific(rc_key, t);
}

bool _st_rc_buffer(st_rc_hdr_t *h) {
  uint64_t old = rc_load(h);
  do {
    if (!(old & RC_WANT)) return false;      /* someone else buffered it */
    if (!rc_atomic(h)) { h->rc = (old & ~RC_WANT) | RC_BUF; break; }
  } while (!__atomic_compare_exchange_n(&h->rc, &old, (old & ~RC_WANT) | RC_BUF, 1,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
  rc_thread_t *t = &rc_tl;
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 256;
    st_rc_hdr_t **nb = _st_rc_fail_alloc ? NULL : strata_realloc(t->buf, cap * sizeof *nb);
    if (!nb) {
      /* not buffered: WANT again, so a later release retries */
      if (rc_atomic(h)) __atomic_fetch_xor(&h->rc, RC_WANT | RC_BUF, __ATOMIC_ACQ_REL);
      else h->rc ^= RC_WANT | RC_BUF;
      stat_add(&rc_stats.buffer_failures, 1);
      return false;
    }
    t->buf = nb;
    t->cap = cap;
    key_arm(t);
  }
  _st_rc_weak_add(h);
  t->buf[t->n++] = h;
  return true;
}

void _st_rc_maybe_collect(void) {
  rc_thread_t *t = &rc_tl;
  size_t thr = __atomic_load_n(&rc_threshold, __ATOMIC_RELAXED);
  if (thr && t->n >= thr && !t->collecting) collect(t, true);
}

/* The buffer invariant (see rc_thread_t).  Duplicates are found by coloring
 * each entry GRAY in a second pass and looking for one already GRAY. */
static int rc_buffer_is_valid(const rc_thread_t *t) {
  if (t->n > t->cap || (t->cap && !t->buf)) {
    _st_message("strata: rc: candidate buffer holds %zu > capacity %zu\n", t->n, t->cap);
    return -1;
  }
  for (size_t i = 0; i < t->n; i++) {
    st_rc_hdr_t *h = t->buf[i];
    const char *why = NULL;
    uint64_t w = h ? rc_load(h) : 0;
    uint32_t weak = h ? (rc_atomic(h) ? __atomic_load_n(&h->weak, __ATOMIC_RELAXED) : h->weak) : 0;
    if (!h) why = "NULL entry";
    else if (!rc_traced(h)) why = "untraced object buffered";
    else if (!(w & RC_BUF)) why = "entry without BUF";
    else if (w & RC_WANT) why = "entry still WANTs buffering";
    else if (weak == 0) why = "entry holds no storage unit";
    else if (!t->collecting && h->link != 0) why = "collector mark left outside a collection";
    if (why) {
      _st_message("strata: rc: candidate buffer entry %zu (%p): %s\n", i, h ? rc_obj(h) : NULL, why);
      return -1;
    }
  }
  if (t->collecting) return 0;               /* colors belong to the collector */
  size_t i;
  int bad = 0;
  for (i = 0; i < t->n; i++) {
    if (color(t->buf[i]) == GC_GRAY) { bad = 1; break; }
    set_color(t->buf[i], GC_GRAY);
  }
  for (size_t j = 0; j < i; j++) set_color(t->buf[j], GC_BLACK);
  if (bad) _st_message("strata: rc: candidate buffer entry %zu (%p): duplicate entry\n", i, rc_obj(t->buf[i]));
  return bad ? -1 : 0;
}

/* ---- public ------------------------------------------------------------ */

STRATA_API long strata_rc_collect(void) { return collect(&rc_tl, false); }

STRATA_API size_t strata_rc_set_threshold(size_t n) {
  return __atomic_exchange_n(&rc_threshold, n, __ATOMIC_RELAXED);
}
STRATA_API size_t strata_rc_get_threshold(void) { return __atomic_load_n(&rc_threshold, __ATOMIC_RELAXED); }
STRATA_API size_t strata_rc_candidates(void) { return rc_tl.n; }

STRATA_API void strata_rc_stats_get(strata_rc_stats_t *out) {
  uint64_t *src = (uint64_t *)&rc_stats, *dst = (uint64_t *)out;
  for (size_t i = 0; i < sizeof *out / sizeof(uint64_t); i++)
    dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
  int64_t live = (int64_t)out->objects_live;     /* the no-memory fallback */
  for (live_slot_t *l = __atomic_load_n(&live_slots, __ATOMIC_ACQUIRE); l; l = l->next)
    live += __atomic_load_n(&l->n, __ATOMIC_RELAXED);
  out->objects_live = (uint64_t)live;
}

STRATA_API int strata_rc_check(void) { return rc_buffer_is_valid(&rc_tl); }
