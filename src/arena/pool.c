/* Object pools: fixed-size objects from one contiguous reserved range.
 *
 * Design (the slab pattern, with magazine-style per-thread caches as in
 * Bonwick's vmem/magazines and the kernels' SLUB):
 *
 *   base                    fresh                committed          base+range
 *   +-------+-------+-------+--------------------+--------------------+
 *   | obj 0 | obj 1 | ...   | committed, unused  | reserved (PROT_NONE)|
 *   +-------+-------+-------+--------------------+--------------------+
 *   <- slots handed out at least once ->
 *
 *  1. strata_pool_new reserves capacity * stride bytes of address space
 *     (no memory) and commits it 64 KiB slab by slab as objects are first
 *     needed.  Objects of a pool are contiguous; object i is at base + i *
 *     stride.
 *  2. A free object's first word links the free list (and in a batch, the
 *     second word of the batch's first object holds the next batch and the
 *     batch's count).
 *  3. Plain pool: get pops the free list, else carves the next slot
 *     (fresh); put pushes.  No locks, one owner thread at a time.
 *  4. Thread-safe pool: each thread has, per pool, a cache: a loose list of
 *     at most `batch` objects plus up to SPARES full batches.  get pops the
 *     loose list; when it is empty the newest spare becomes the loose list;
 *     only when there is none does the thread lock the pool and take a
 *     whole batch (from the shared batch list, or carved).  put pushes; a
 *     full loose list becomes a spare, and when all spare places are taken
 *     the oldest (coldest) spare goes to the pool under its lock.  So a
 *     thread takes the lock at most once per `batch` operations, a get/put
 *     ping-pong never takes it (hysteresis), and a thread that frees and
 *     reallocates up to (SPARES + 1) * batch objects keeps them to itself
 *     (no cache lines moving between cores).
 *  5. put checks in every build that the pointer is the start of a slot
 *     handed out by this pool: (obj - base) < (fresh - base), and
 *     divisible by the stride (a multiply by the inverse of its odd part).
 *     An immediate double put (obj == the list head) is caught too; debug
 *     builds keep a bit per slot and catch every double put.
 *
 * Concurrency protocol (thread-safe pools):
 *   reg_lock (the slot registry) -> pool->lock; both leaves otherwise: no
 *   allocation and no user code runs under them.
 *   - pool->lock guards batches, fresh (writes), committed, out, caches.
 *   - fresh is atomic: put's range check reads it without the lock,
 *     relaxed: a thread putting an object got it after it was carved
 *     (through the lock, or through whatever hand-off the user made), so
 *     the carve is visible to it.
 *   - a cache (tcache_t) is written only by its thread; its counts n, ns are
 *     atomic (relaxed) so stats may read them under pool->lock; the links
 *     next/pprev are written under pool->lock.
 *   - thread exit (a pthread key destructor) flushes the thread's caches
 *     under reg_lock -> pool->lock, checking that the pool still exists
 *     (slot registered with the same generation); destroy unregisters under
 *     reg_lock first, so the two never overlap.  A cache of a destroyed
 *     pool is dropped without touching its objects.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "arena/internal.h"
#include "os/os.h"
#include "strata/malloc.h"

#define POOL_SLOTS      64                      /* thread-safe pools with caches */
#define POOL_SLAB       ((size_t)64 << 10)      /* commit granularity */
#define POOL_RANGE_DEF  ((size_t)1 << 30)       /* default reservation */
#define POOL_OBJ_MAX    ((size_t)1 << 20)
#define POOL_ALIGN_MAX  4096
#define POOL_BATCH_BYTES 16384                  /* a batch: about this many bytes */
#define BATCH_SHIFT     48                      /* user addresses < 2^47 on x86-64 / arm64 */

/* A thread's cache for one pool.  Invariant: valid iff gen == pool->gen of
 * a registered pool; head holds n <= batch objects; spare[0 .. nsp-1] hold
 * batch objects each, oldest first; ns == nsp * batch; all lists
 * NULL-terminated. */
#define SPARES 4
typedef struct tcache {
  strata_pool_t *pool;
  uint64_t gen;
  void *head;
  _Atomic size_t n, ns;
  unsigned nsp;
  void *spare[SPARES];
  struct tcache *next, **pprev;                 /* pool->caches, under pool->lock */
} tcache_t;

/* A thread's caches, indexed by pool slot; entry POOL_SLOTS is never valid
 * (the slot of thread-safe pools that got none), so lookups need no bounds
 * check.  Threads start on tset_empty (all gens 0): no NULL check either. */
typedef struct tset { tcache_t c[POOL_SLOTS + 1]; } tset_t;

/* The pool.  Immutable after creation: h.base, h.shift, h.lowmask, h.inv,
 * h.qmax, h.fast, range, stride, obj_size, capacity, flags, slot, gen,
 * batch, bits.  The rest: by the owner (plain pool) or under lock
 * (thread-safe; see above); h.fresh is read without the lock by put's range
 * check (__atomic builtins, relaxed).  h.free is the free list of plain
 * pools, unused by thread-safe ones.
 * Invariants (quiescent):
 *   base <= fresh <= committed <= base + range, fresh = base + carved*stride;
 *   carved = out + |free| + sum of batch counts;
 *   out = live + sum over caches (n + ns) (plain pool: out = live). */
struct strata_pool {
  struct strata_pool_head h;         /* first: arena.h's inline paths read it */
  size_t range, stride, obj_size, capacity, batch;
  unsigned flags;
  unsigned slot;                     /* POOL_SLOTS: thread-safe without caches */
  uint64_t gen;
  uint64_t *bits;                    /* STRATA_DEBUG: 1 bit per slot, 1 = handed out */
  size_t bits_bytes;
  uintptr_t batches;                 /* thread-safe: shared batch list */
  char *committed;
  tcache_t *caches;
  tcache_t locked;                   /* no slot: the one cache, under lock */
  pthread_mutex_t lock;
};

_Static_assert(offsetof(struct strata_pool, h) == 0, "arena.h's inline paths read the head first");

/* The slot registry, all under reg_lock: reg_pool[i] is the thread-safe
 * pool that owns cache slot i (NULL: free); reg_gen hands out generation
 * numbers, never reused, so a cache bound to a destroyed pool can never
 * match the slot's next owner. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static strata_pool_t *reg_pool[POOL_SLOTS];
static uint64_t reg_gen;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static tset_t tset_empty;
static __thread tset_t *tl_set = &tset_empty;

#define NEXT(o) (*(void **)(o))

/* ---- checks --------------------------------------------------------------- */

static inline int slot_ok(const strata_pool_t *p, const void *obj) {
  uint64_t off = (uint64_t)((uintptr_t)obj - (uintptr_t)p->h.base);
  uint64_t lim = (uint64_t)(__atomic_load_n(&p->h.fresh, __ATOMIC_RELAXED) - p->h.base);
  return off < lim && (off & p->h.lowmask) == 0 && (off >> p->h.shift) * p->h.inv <= p->h.qmax;
}

static size_t slot_index(const strata_pool_t *p, const void *obj) {
  return (size_t)((const char *)obj - p->h.base) / p->stride;
}

/* Debug: flip the slot's bit; `want` is the state it must be in. */
static void bits_flip(strata_pool_t *p, const void *obj, int want, const char *what) {
  size_t i = slot_index(p, obj);
  _Atomic uint64_t *w = (_Atomic uint64_t *)&p->bits[i / 64];
  uint64_t m = 1ull << (i % 64);
  uint64_t old = atomic_fetch_xor_explicit(w, m, memory_order_relaxed);
  if (((old & m) != 0) != want) {
    atomic_fetch_xor_explicit(w, m, memory_order_relaxed);
    _st_arena_misuse(what, obj);
  }
}

ST_COLD static void bad_put(const strata_pool_t *p, const void *obj) {
  (void)p;
  _st_arena_misuse("strata_pool_put(): pointer not from this pool", obj);
}
ST_COLD static void double_put(const void *obj) {
  _st_arena_misuse("strata_pool_put(): double put", obj);
}

/* ---- carving -------------------------------------------------------------- */

/* Up to `want` never-used slots as a NULL-terminated list; the count in
 * *got.  Owner or pool->lock.  NULL + ENOMEM when none can be had. */
static void *carve(strata_pool_t *p, size_t want, size_t *got) {
  char *f = __atomic_load_n(&p->h.fresh, __ATOMIC_RELAXED);
  size_t left = (size_t)(p->h.base + p->capacity * p->stride - f) / p->stride;
  if (want > left) want = left;
  if (want == 0) { errno = ENOMEM; return NULL; }
  char *end = f + want * p->stride;
  if (end > p->committed) {
    size_t grow = (size_t)(end - p->committed);
    grow = (grow + POOL_SLAB - 1) & ~(POOL_SLAB - 1);
    if (grow > (size_t)(p->h.base + p->range - p->committed)) grow = (size_t)(p->h.base + p->range - p->committed);
    if (_st_os_commit(p->committed, grow) != 0) {
      want = (size_t)(p->committed - f) / p->stride;       /* what is there */
      if (want == 0) { errno = ENOMEM; return NULL; }
      end = f + want * p->stride;
    } else {
      p->committed += grow;
    }
  }
  for (char *o = f; o < end; o += p->stride) NEXT(o) = o + p->stride < end ? o + p->stride : NULL;
  /* release: a put's relaxed range check never needs more than "carved
   * before handed out", which the hand-off provides; release costs nothing
   * on x86 and documents the pairing */
  __atomic_store_n(&p->h.fresh, end, __ATOMIC_RELEASE);
  *got = want;
  return f;
}

/* ---- plain pools ---------------------------------------------------------- */

ST_NOINLINE static void *plain_get_slow(strata_pool_t *p) {
  size_t got;
  void *o = carve(p, p->batch, &got);
  if (!o) return NULL;
  p->h.free = NEXT(o);
  p->h.out++;
  return o;
}

/* ---- thread-safe pools ---------------------------------------------------- */

static void tl_exit(void *arg);
static void tl_key_init(void) { pthread_key_create(&tl_key, tl_exit); }

/* Caller holds p->lock.  A batch's first object: word 0 links its objects,
 * word 1 = next batch | (count << BATCH_SHIFT). */
#define BATCH_MASK ((((uintptr_t)1) << BATCH_SHIFT) - 1)
static void batch_push(strata_pool_t *p, void *list, size_t n) {
  ((uintptr_t *)list)[1] = p->batches | ((uintptr_t)n << BATCH_SHIFT);
  p->batches = (uintptr_t)list;
  p->h.out -= n;
}

/* Caller holds p->lock: give the cache's objects to the pool. */
static void __tcache_flush(strata_pool_t *p, tcache_t *c) {
  size_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
  if (n) batch_push(p, c->head, n);
  for (unsigned i = 0; i < c->nsp; i++) batch_push(p, c->spare[i], p->batch);
  c->head = NULL;
  c->nsp = 0;
  atomic_store_explicit(&c->n, 0, memory_order_relaxed);
  atomic_store_explicit(&c->ns, 0, memory_order_relaxed);
}

/* Caller holds p->lock: fill the empty cache with a batch.  -1 + ENOMEM. */
static int __tcache_refill(strata_pool_t *p, tcache_t *c) {
  size_t n;
  void *list;
  if (p->batches) {
    uintptr_t link = ((uintptr_t *)p->batches)[1];
    list = (void *)p->batches;
    n = (size_t)(link >> BATCH_SHIFT);
    p->batches = link & BATCH_MASK;
  } else {
    list = carve(p, p->batch, &n);
    if (!list) return -1;
  }
  p->h.out += n;
  c->head = list;
  atomic_store_explicit(&c->n, n, memory_order_relaxed);
  return 0;
}

/* Caller holds p->lock (when all spare places are taken): the full loose
 * list becomes the newest spare; the oldest goes to the pool. */
static void __tcache_spill(strata_pool_t *p, tcache_t *c) {
  if (c->nsp == SPARES) {
    batch_push(p, c->spare[0], p->batch);
    for (unsigned i = 1; i < SPARES; i++) c->spare[i - 1] = c->spare[i];
    c->nsp--;
  }
  c->spare[c->nsp++] = c->head;
  atomic_store_explicit(&c->ns, c->nsp * p->batch, memory_order_relaxed);
  c->head = NULL;
  atomic_store_explicit(&c->n, 0, memory_order_relaxed);
}

static void tcache_link(strata_pool_t *p, tcache_t *c) {
  c->pool = p;
  c->gen = p->gen;
  c->head = NULL;
  c->nsp = 0;
  atomic_store_explicit(&c->n, 0, memory_order_relaxed);
  atomic_store_explicit(&c->ns, 0, memory_order_relaxed);
  c->next = p->caches;
  if (c->next) c->next->pprev = &c->next;
  c->pprev = &p->caches;
  p->caches = c;
}

static void tcache_unlink(tcache_t *c) {
  *c->pprev = c->next;
  if (c->next) c->next->pprev = c->pprev;
  c->gen = 0;
  c->pool = NULL;
}

/* The calling thread's cache for p, bound on first use; NULL: use the
 * locked path (no slot, or no memory for the thread's cache set). */
ST_NOINLINE static tcache_t *tcache_bind(strata_pool_t *p) {
  if (p->slot >= POOL_SLOTS) return NULL;
  if (tl_set == &tset_empty) {
    pthread_once(&tl_once, tl_key_init);
    tset_t *s = (tset_t *)strata_calloc(1, sizeof *s);
    if (!s) return NULL;
    tl_set = s;
    pthread_setspecific(tl_key, s);
  }
  tcache_t *c = &tl_set->c[p->slot];             /* stale (gen mismatch): drop */
  pthread_mutex_lock(&p->lock);
  tcache_link(p, c);
  pthread_mutex_unlock(&p->lock);
  return c;
}

static inline tcache_t *tcache_of(strata_pool_t *p) {
  tcache_t *c = &tl_set->c[p->slot];
  if (st_likely(c->gen == p->gen)) return c;
  return tcache_bind(p);
}

ST_NOINLINE static void *ts_get_slow(strata_pool_t *p, tcache_t *c) {
  int locked = 0;
  if (!c) { pthread_mutex_lock(&p->lock); locked = 1; c = &p->locked; }
  if (!c->head) {
    if (c->nsp) {
      c->head = c->spare[--c->nsp];
      atomic_store_explicit(&c->n, p->batch, memory_order_relaxed);
      atomic_store_explicit(&c->ns, c->nsp * p->batch, memory_order_relaxed);
    } else {
      if (!locked) pthread_mutex_lock(&p->lock);
      int r = __tcache_refill(p, c);
      if (!locked) pthread_mutex_unlock(&p->lock);
      if (r != 0) {
        if (locked) pthread_mutex_unlock(&p->lock);
        return NULL;
      }
    }
  }
  void *o = c->head;
  c->head = NEXT(o);
  atomic_store_explicit(&c->n, atomic_load_explicit(&c->n, memory_order_relaxed) - 1, memory_order_relaxed);
  if (locked) pthread_mutex_unlock(&p->lock);
  return o;
}

ST_NOINLINE static void ts_put_slow(strata_pool_t *p, tcache_t *c, void *obj) {
  int locked = 0;
  if (!c) { pthread_mutex_lock(&p->lock); locked = 1; c = &p->locked; }
  if (st_unlikely(obj == c->head)) {
    if (locked) pthread_mutex_unlock(&p->lock);
    double_put(obj);
    return;
  }
  /* full loose list: it becomes a spare (the oldest spare may go to the
   * pool) before obj is pushed, so the object put last is always the head
   * and an immediate double put is always seen */
  if (atomic_load_explicit(&c->n, memory_order_relaxed) >= p->batch) {
    int lock = !locked && c->nsp == SPARES;
    if (lock) pthread_mutex_lock(&p->lock);
    __tcache_spill(p, c);
    if (lock) pthread_mutex_unlock(&p->lock);
  }
  NEXT(obj) = c->head;
  c->head = obj;
  atomic_store_explicit(&c->n, atomic_load_explicit(&c->n, memory_order_relaxed) + 1, memory_order_relaxed);
  if (locked) pthread_mutex_unlock(&p->lock);
}

/* Thread exit: every still-registered pool gets this thread's objects. */
static void tl_exit(void *arg) {
  tset_t *s = (tset_t *)arg;
  pthread_mutex_lock(&reg_lock);
  for (int i = 0; i < POOL_SLOTS; i++) {
    tcache_t *c = &s->c[i];
    strata_pool_t *p = reg_pool[i];
    if (!c->gen || !p || p->gen != c->gen) continue;
    pthread_mutex_lock(&p->lock);
    __tcache_flush(p, c);
    tcache_unlink(c);
    pthread_mutex_unlock(&p->lock);
  }
  pthread_mutex_unlock(&reg_lock);
  if (tl_set == s) tl_set = &tset_empty;
  strata_free(s);
}

/* ---- the API -------------------------------------------------------------- */

/* Thread-safe pools: the cache's loose list, else the slow path (which
 * also binds the cache on first use).  The fast paths make no calls, so
 * they need no stack frame; the slow paths are tail calls. */
static inline tcache_t *tcache_fast(strata_pool_t *p) {
  tcache_t *c = &tl_set->c[p->slot];
  return st_likely(c->gen == p->gen) ? c : NULL;
}

ST_NOINLINE static void *ts_get_bind(strata_pool_t *p) { return ts_get_slow(p, tcache_of(p)); }
ST_NOINLINE static void ts_put_bind(strata_pool_t *p, void *obj) { ts_put_slow(p, tcache_of(p), obj); }

static inline void *ts_get(strata_pool_t *p) {
  tcache_t *c = tcache_fast(p);
  void *o;
  if (st_likely(c && (o = c->head) != NULL)) {
    void *n = NEXT(o);
    c->head = n;
    __builtin_prefetch(n);
    atomic_store_explicit(&c->n, atomic_load_explicit(&c->n, memory_order_relaxed) - 1, memory_order_relaxed);
    return o;
  }
  return ts_get_bind(p);
}

static inline void ts_put(strata_pool_t *p, void *obj) {
  tcache_t *c = tcache_fast(p);
  if (st_likely(c && obj != c->head)) {
    size_t n = atomic_load_explicit(&c->n, memory_order_relaxed);
    if (st_likely(n < p->batch)) {
      NEXT(obj) = c->head;
      c->head = obj;
      atomic_store_explicit(&c->n, n + 1, memory_order_relaxed);
      return;
    }
  }
  ts_put_bind(p, obj);
}

static void *pool_get(strata_pool_t *p) {
  if (st_unlikely(p->flags & STRATA_POOL_THREADSAFE)) return ts_get(p);
  void *o = p->h.free;
  if (st_unlikely(!o)) return plain_get_slow(p);
  void *n = NEXT(o);
  p->h.free = n;
  p->h.out++;
  __builtin_prefetch(n);          /* the next get reads NEXT(n): overlap the miss */
  return o;
}

ST_NOINLINE static void *debug_get(strata_pool_t *p) {
  void *o = pool_get(p);
  if (o) bits_flip(p, o, 0, "strata_pool_get(): slot already handed out (pool corrupted)");
  return o;
}

/* The out-of-line paths: every pool kind, every check (arena.h inlines the
 * plain pools' common case). */
STRATA_API void *strata_pool_get_slow(strata_pool_t *p) {
  if (STRATA_DEBUG) return debug_get(p);
  return pool_get(p);
}

STRATA_API void strata_pool_put_slow(strata_pool_t *p, void *obj) {
  /* NULL fails the range check too (the base is never 0) */
  if (st_unlikely(!slot_ok(p, obj))) { if (obj) bad_put(p, obj); return; }
  if (STRATA_DEBUG) bits_flip(p, obj, 1, "strata_pool_put(): double put");
  if (st_unlikely(p->flags & STRATA_POOL_THREADSAFE)) { ts_put(p, obj); return; }
  void *h = p->h.free;
  if (st_unlikely(obj == h)) { double_put(obj); return; }
  NEXT(obj) = h;
  p->h.free = obj;
  p->h.out--;
}

STRATA_API void strata_pool_flush(strata_pool_t *p) {
  if (!(p->flags & STRATA_POOL_THREADSAFE)) return;
  tcache_t *c = &tl_set->c[p->slot];
  pthread_mutex_lock(&p->lock);
  if (c->gen == p->gen) __tcache_flush(p, c);
  __tcache_flush(p, &p->locked);
  pthread_mutex_unlock(&p->lock);
}

STRATA_API int strata_pool_owns(const strata_pool_t *p, const void *obj) {
  return obj && slot_ok(p, obj);
}

STRATA_API strata_pool_t *strata_pool_new(size_t obj_size, size_t align, size_t max_objects, unsigned flags) {
  if (obj_size == 0 || obj_size > POOL_OBJ_MAX || (flags & ~STRATA_POOL_THREADSAFE) ||
      (align & (align - 1)) || align > POOL_ALIGN_MAX) {
    errno = EINVAL;
    return NULL;
  }
  if (align == 0) align = obj_size <= 8 ? 8 : 16;
  size_t words = flags & STRATA_POOL_THREADSAFE ? 16 : 8;       /* free-list links */
  size_t stride = obj_size < words ? words : obj_size;
  stride = (stride + align - 1) & ~(align - 1);
  size_t ps = _st_os_page_size();
  size_t cap = max_objects ? max_objects : POOL_RANGE_DEF / stride;
  size_t range;
  if (cap == 0 || __builtin_mul_overflow(cap, stride, &range) || range > (SIZE_MAX >> 3)) {
    errno = ENOMEM;
    return NULL;
  }
  range = (range + ps - 1) & ~(ps - 1);
  strata_pool_t *p = (strata_pool_t *)strata_aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);
  if (!p) return NULL;
  memset(p, 0, sizeof *p);
  p->h.base = (char *)_st_os_reserve(range, 0);
  if (!p->h.base) { strata_free(p); errno = ENOMEM; return NULL; }
  if (STRATA_DEBUG) {
    p->bits_bytes = ((cap + 63) / 64 * 8 + ps - 1) & ~(ps - 1);
    p->bits = (uint64_t *)_st_os_alloc(p->bits_bytes, 0);
    if (!p->bits) { _st_os_release(p->h.base, range); strata_free(p); errno = ENOMEM; return NULL; }
  }
  p->range = range;
  p->stride = stride;
  p->obj_size = obj_size;
  p->capacity = cap;
  p->flags = flags;
  p->batch = POOL_BATCH_BYTES / stride;             /* 8..256 objects, ~32 KiB */
  if (p->batch < 8) p->batch = 8;
  if (p->batch > 256) p->batch = 256;
  /* A thread keeps up to SPARES + 1 batches cached, which no other thread
   * can get: a bounded thread-safe pool caps its batch so that one thread
   * holds at most a fifth of it (a 100-object pool went whole into the
   * first thread's cache, and the others got ENOMEM with nothing live:
   * found by review, 2026-11-28) */
  size_t fifth = cap / (5 * (SPARES + 1));          /* 0: too small for caches (below) */
  if ((flags & STRATA_POOL_THREADSAFE) && max_objects && p->batch > fifth) p->batch = fifth ? fifth : 1;
  p->h.shift = (unsigned)__builtin_ctzll(stride);
  p->h.lowmask = ((uint64_t)1 << p->h.shift) - 1;
  uint64_t d = stride >> p->h.shift, inv = d;          /* Newton: inverse of odd d mod 2^64 */
  for (int i = 0; i < 5; i++) inv *= 2 - d * inv;
  p->h.inv = inv;
  p->h.qmax = UINT64_MAX / d;
  p->h.fresh = p->h.base;
  p->h.fast = !(flags & STRATA_POOL_THREADSAFE) && !STRATA_DEBUG;
  p->committed = p->h.base;
  p->slot = POOL_SLOTS;
  if (flags & STRATA_POOL_THREADSAFE) {
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_lock(&reg_lock);
    p->gen = ++reg_gen;
    /* a pool too small for a fifth of it to be a cache of batches (fewer
     * than 5 * (SPARES + 1) objects) gets no per-thread caches: the one
     * cache under its lock (with batches of 1, a thread still kept 5 of a
     * 5-object pool: found by review) */
    if (!(max_objects && fifth == 0))
      for (int i = 0; i < POOL_SLOTS; i++)
        if (!reg_pool[i]) { reg_pool[i] = p; p->slot = (unsigned)i; break; }
    pthread_mutex_unlock(&reg_lock);
  }
  return p;
}

STRATA_API void strata_pool_destroy(strata_pool_t *p) {
  if (!p) return;
  if (p->flags & STRATA_POOL_THREADSAFE) {
    pthread_mutex_lock(&reg_lock);
    if (p->slot < POOL_SLOTS) reg_pool[p->slot] = NULL;
    pthread_mutex_unlock(&reg_lock);
    /* the calling thread's cache: forget it now (others: dropped when stale) */
    if (p->slot < POOL_SLOTS && tl_set->c[p->slot].gen == p->gen) tl_set->c[p->slot].gen = 0;
    pthread_mutex_destroy(&p->lock);
  }
  _st_os_release(p->h.base, p->range);
  if (p->bits) _st_os_release(p->bits, p->bits_bytes);
  strata_free(p);
}

STRATA_API void strata_pool_stats(strata_pool_t *p, strata_pool_stats_t *st) {
  memset(st, 0, sizeof *st);
  int ts = (p->flags & STRATA_POOL_THREADSAFE) != 0;
  if (ts) pthread_mutex_lock(&p->lock);
  size_t carved = (size_t)(__atomic_load_n(&p->h.fresh, __ATOMIC_RELAXED) - p->h.base) / p->stride;
  size_t cached = 0, shared = 0;   /* shared: the locked cache, free to any thread */
  if (ts) {
    for (tcache_t *c = p->caches; c; c = c->next)
      cached += atomic_load_explicit(&c->n, memory_order_relaxed) + atomic_load_explicit(&c->ns, memory_order_relaxed);
    shared = atomic_load_explicit(&p->locked.n, memory_order_relaxed) +
             atomic_load_explicit(&p->locked.ns, memory_order_relaxed);
  }
  st->obj_size = p->obj_size;
  st->stride = p->stride;
  st->carved = carved;
  st->cached = cached;
  st->live = p->h.out - cached - shared;
  st->free = p->capacity - p->h.out + shared;
  st->committed = (size_t)(p->committed - p->h.base);
  st->capacity = p->capacity;
  if (ts) pthread_mutex_unlock(&p->lock);
}
