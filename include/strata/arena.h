/* strata/arena.h -- arenas and object pools (layer 3: ownership helpers).
 *
 * ARENAS.  An arena hands out memory by bumping a pointer through chunks
 * and gives it all back at once: strata_arena_reset (keep the chunks for
 * the next round), strata_arena_restore (back to a mark), or
 * strata_arena_destroy (return everything).  Arenas form a tree, as talloc
 * contexts and APR pools do: an arena created with a parent is released
 * together with it.  Destructors can be registered on an arena.
 *
 *   Release order.  Child arenas and destructors of an arena are both
 *   "registrations"; when the arena is destroyed, reset, or restored to a
 *   mark, its registrations (those made after the mark) are undone in
 *   exactly the reverse order in which they were made: a destructor
 *   registered after a child was created runs before that child is
 *   destroyed, and vice versa.  A child is destroyed depth-first (its own
 *   registrations first).  Memory goes last: a destructor may still read
 *   anything allocated from the arena, its ancestors, and older siblings.
 *   A destructor must not allocate from, register on, or release the arena
 *   being released (or its ancestors).
 *
 *   Alignment.  strata_arena_alloc returns 16-byte aligned memory (the
 *   ABI's max_align_t), the _aligned variant any power of two.  Size 0 gives
 *   a unique non-NULL pointer.  Sizes that cannot be represented (anything
 *   that would wrap, or above PTRDIFF_MAX) fail with ENOMEM; nothing wraps.
 *
 *   Threads.  An arena (and its subtree) belongs to one thread at a time:
 *   no call on an arena may run concurrently with another call on the same
 *   arena or on an arena of the same tree.  Distinct trees are independent.
 *
 * POOLS.  A pool hands out objects of one size from one contiguous range of
 * address space, committed slab by slab (strata_pool_get / strata_pool_put,
 * both O(1)).  A pool created with STRATA_POOL_THREADSAFE may be used from
 * any number of threads; each thread keeps a small cache of objects per pool
 * and exchanges whole batches with the pool under its lock.  Putting a
 * pointer into a pool that did not hand it out is reported on stderr and
 * aborts (as a bad free does; the malloc option abort_on_error=0 reports
 * and ignores the call); debug builds also catch double puts.
 *
 * Error convention (every prototype below): functions returning a pointer
 * return NULL and set errno to ENOMEM (out of memory, or a size that cannot
 * be represented) or EINVAL (bad argument: alignment not a power of two,
 * size 0 where a size is needed) and change nothing else; functions
 * returning int return 0, or -1 with errno set the same way.  Functions
 * returning void cannot fail.  Misuse (a pointer not from the pool) is
 * reported and aborts.
 *
 * Scope cleanup (free / destroy / put when a variable leaves scope) is in
 * strata/scope.h.
 */
#ifndef STRATA_ARENA_H
#define STRATA_ARENA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- arenas -------------------------------------------------------------- */

typedef struct strata_arena strata_arena_t;

/* Creation options; zero fields take the defaults. */
typedef struct strata_arena_opts {
  size_t first_chunk;  /* bytes of the first chunk, which also holds the
                          arena itself (default 4 KiB, at least 512) */
  size_t max_chunk;    /* chunks grow x2 up to this (default 1 MiB); a request
                          above a quarter of it gets a chunk of its own */
  size_t retain;       /* bytes of chunks reset/restore may keep for reuse
                          (default: no cap); see strata_arena_set_retain */
  int keep_unused;     /* 0 (default): a reset gives back the kept chunks
                          that went unused since the previous reset, so
                          after a spike the arena shrinks back to what a
                          cycle needs, while a steady reset cycle makes no
                          OS or malloc calls; 1: keep them (up to retain) */
} strata_arena_opts_t;

/* A new arena; with a parent, it is destroyed when the parent is destroyed,
 * reset, or restored to a mark made before its creation.  NULL + ENOMEM.
 * (Options: NULL for defaults; EINVAL if both are given and first_chunk >
 * max_chunk, or either is above 1 GiB; a first_chunk above the default
 * max_chunk raises max_chunk to it.) */
strata_arena_t *strata_arena_new(strata_arena_t *parent);
strata_arena_t *strata_arena_new_opts(strata_arena_t *parent, const strata_arena_opts_t *opts);

/* Run the registrations in reverse order (children destroyed, destructors
 * called), then return every chunk and unlink from the parent.  NULL: no-op. */
void strata_arena_destroy(strata_arena_t *a);

/* Like destroy, but the arena stays usable: the chunks used since the last
 * reset are kept for reuse up to the retain budget (largest first); oversize
 * chunks, chunks that went unused for a whole cycle (unless keep_unused) and
 * the excess go back. */
void strata_arena_reset(strata_arena_t *a);

/* Return kept chunks beyond `bytes` now and make that the retain budget for
 * future resets (SIZE_MAX: keep all; 0: keep only the first chunk). */
void strata_arena_set_retain(strata_arena_t *a, size_t bytes);

/* Small chunks (4..32 KiB) of destroyed arenas are kept in a per-thread
 * cache (up to 64 of each size and 512 KiB per size) for the next arena; this gives the calling
 * thread's cache back to malloc now (a thread's cache also goes when the
 * thread exits). */
void strata_arena_cache_flush(void);

/* The parent given at creation (NULL for a root), or NULL after it was
 * released. */
strata_arena_t *strata_arena_parent(const strata_arena_t *a);

/* Memory of `size` bytes, 16-byte aligned.  NULL + ENOMEM.  Inline: a pointer
 * bump; the out-of-line slow path takes a new chunk. */
static inline void *strata_arena_alloc(strata_arena_t *a, size_t size);
/* Any power-of-two alignment (EINVAL otherwise).  NULL + ENOMEM/EINVAL. */
static inline void *strata_arena_alloc_aligned(strata_arena_t *a, size_t size, size_t align);
/* Zeroed n * size bytes; NULL + ENOMEM also when n * size overflows. */
void *strata_arena_calloc(strata_arena_t *a, size_t n, size_t size);
/* Copies (strdup: NUL-terminated; strndup: at most n chars + NUL).  NULL + ENOMEM
 * (EINVAL for a NULL source). */
char *strata_arena_strdup(strata_arena_t *a, const char *s);
char *strata_arena_strndup(strata_arena_t *a, const char *s, size_t n);
void *strata_arena_memdup(strata_arena_t *a, const void *p, size_t n);
/* Grow (or shrink) p, an allocation of old_size bytes from this arena: in
 * place when p is the most recent allocation and the chunk has room,
 * otherwise a copy (the old bytes stay allocated until the arena is
 * released).  p NULL: plain alloc.  NULL + ENOMEM, p untouched. */
void *strata_arena_realloc(strata_arena_t *a, void *p, size_t old_size, size_t new_size);

/* Destructor: fn(arg) runs when the arena is released (see "Release
 * order").  The record lives in the arena.  0, or -1 + ENOMEM/EINVAL (NULL fn). */
int strata_arena_on_release(strata_arena_t *a, void (*fn)(void *arg), void *arg);
/* An object with a destructor: allocates size bytes (16-aligned) and
 * registers fn(object).  NULL + ENOMEM/EINVAL. */
void *strata_arena_alloc_dtor(strata_arena_t *a, size_t size, void (*fn)(void *obj));

/* Marks.  A mark records the arena's position; restoring it undoes every
 * registration made after it (children destroyed, destructors run, in
 * reverse order), hands the memory allocated since back (chunks started
 * since the mark go to the kept list, within the retain budget) and keeps
 * everything older.  A mark stays valid until the arena is reset or
 * restored to an older mark; marks nest (restore inner before outer).
 * restore: 0, or -1 + EINVAL for a mark that is not valid for this arena
 * (then nothing changes). */
typedef struct strata_arena_mark {
  void *chunk;           /* opaque: the current chunk at the mark */
  char *pos;             /* the bump pointer at the mark */
  uint64_t seq;          /* registration number at the mark */
  uint64_t chunk_seq;    /* chunk number at the mark */
} strata_arena_mark_t;
strata_arena_mark_t strata_arena_mark(strata_arena_t *a);
int strata_arena_restore(strata_arena_t *a, strata_arena_mark_t m);

typedef struct strata_arena_stats {
  size_t used;          /* bytes handed out (requests rounded to 16, padding) */
  size_t reserved;      /* bytes of chunks the arena holds (in use + kept) */
  size_t chunks;        /* chunks in use (including the first) */
  size_t kept_chunks;   /* chunks kept for reuse by reset/restore */
  size_t chunk_allocs;  /* chunks obtained from below (malloc or pages) so far */
  size_t chunk_frees;   /* chunks given back so far */
  size_t children;      /* live direct children */
  size_t dtors;         /* registered destructors not run yet */
} strata_arena_stats_t;
/* Fills *st (reserved and chunk counts: this arena only, not its children). */
void strata_arena_stats(const strata_arena_t *a, strata_arena_stats_t *st);

/* ---- pools --------------------------------------------------------------- */

typedef struct strata_pool strata_pool_t;

#define STRATA_POOL_THREADSAFE 1u  /* any thread may get/put; per-thread caches */

/* A pool of objects of obj_size bytes aligned to align (0: 16, or 8 when
 * obj_size <= 8; otherwise a power of two up to 4096).  max_objects bounds
 * the pool (0: as many as fit in 1 GiB); its address range is reserved up
 * front, so objects of one pool are contiguous.  NULL + EINVAL (obj_size 0
 * or above 1 MiB, bad align, unknown flag) or ENOMEM. */
strata_pool_t *strata_pool_new(size_t obj_size, size_t align, size_t max_objects, unsigned flags);
/* Return the whole range (live objects included) and forget the pool.  No
 * thread may use the pool during or after the call; other threads' cached
 * objects are dropped without being touched.  NULL: no-op. */
void  strata_pool_destroy(strata_pool_t *p);
/* An object (contents undefined).  NULL + ENOMEM when max_objects are live
 * or memory cannot be committed.  In a thread-safe pool, objects cached by
 * other threads (their puts, and the rest of the batches they took) count
 * as live here until those threads get them again, call strata_pool_flush
 * or exit; a bounded pool's batch is small enough that one thread caches at
 * most a fifth of max_objects (below 25 objects, none: no per-thread caches).  Inline: a free-list pop for plain pools;
 * everything else goes to strata_pool_get_slow. */
static inline void *strata_pool_get(strata_pool_t *p);
/* Give an object back (NULL: no-op).  A pointer that is not the start of an
 * object of this pool is reported ("strata: strata_pool_put(): pointer not
 * from this pool") and aborts, and so is one past the slots carved so far;
 * so is an immediate double put, and in debug builds any double put and a
 * put of a slot never handed out (slots are carved a batch at a time, so a
 * release build takes one of the last batch's for handed out: like a double
 * put, it corrupts the free list).  Inline: the slot check and a push for plain
 * pools; everything else (and every report) in strata_pool_put_slow. */
static inline void strata_pool_put(strata_pool_t *p, void *obj);
/* The complete out-of-line versions (any pool; what dlsym finds). */
void *strata_pool_get_slow(strata_pool_t *p);
void  strata_pool_put_slow(strata_pool_t *p, void *obj);
/* The calling thread's cached objects of a thread-safe pool go back to the
 * pool (also done automatically when the thread exits). */
void  strata_pool_flush(strata_pool_t *p);
/* 1 if obj is the start of an object slot of this pool, else 0. */
int   strata_pool_owns(const strata_pool_t *p, const void *obj);

typedef struct strata_pool_stats {
  size_t obj_size, stride;  /* requested size; distance between objects */
  size_t live;              /* handed out and not put back (cached ones excluded) */
  size_t cached;            /* in per-thread caches */
  size_t free;              /* in the pool, ready to hand out (incl. never used) */
  size_t carved;            /* object slots ever used */
  size_t committed;         /* bytes of the range made usable */
  size_t capacity;          /* max objects */
} strata_pool_stats_t;
/* Exact when no other thread is using the pool; otherwise a snapshot. */
void  strata_pool_stats(strata_pool_t *p, strata_pool_stats_t *st);

/* ---- inline fast paths (implementation) ----------------------------------- */

/* Always inlined: a call would cost as much as the bump or the pop itself
 * (and gcc tends to outline a static inline used at many call sites). */
#define STRATA__INLINE static inline __attribute__((always_inline))

/* The first two fields of every arena: the bump window of its current chunk.
 * Invariant: cur and end are 16-aligned, cur <= end. */
struct strata_arena_bump { char *cur; char *end; };

void *strata_arena_alloc_slow(strata_arena_t *a, size_t size, size_t align);

STRATA__INLINE void *strata_arena_alloc(strata_arena_t *a, size_t size) {
  struct strata_arena_bump *b = (struct strata_arena_bump *)a;
  /* n - 1 < room  <=>  0 < n <= room: size 0 and sizes that wrap when rounded
   * (n == 0) both fall to the slow path, which sorts them out. */
  size_t n = (size + 15) & ~(size_t)15;
  char *p = b->cur;
  if (__builtin_expect(n - 1 < (size_t)(b->end - p), 1)) {
    b->cur = p + n;
    return p;
  }
  return strata_arena_alloc_slow(a, size, 16);
}

static inline void *strata_arena_alloc_aligned(strata_arena_t *a, size_t size, size_t align) {
  struct strata_arena_bump *b = (struct strata_arena_bump *)a;
  if (align <= 16 && align && !(align & (align - 1))) return strata_arena_alloc(a, size);
  if (align && !(align & (align - 1)) && align <= ((size_t)1 << 30)) {
    size_t n = (size + 15) & ~(size_t)15;
    char *p = (char *)(((uintptr_t)b->cur + align - 1) & ~(uintptr_t)(align - 1));
    if (p <= b->end && n - 1 < (size_t)(b->end - p)) {
      b->cur = p + n;
      return p;
    }
  }
  return strata_arena_alloc_slow(a, size, align);
}

/* The first fields of every pool: what the inline paths read and write.
 * fast is 1 for plain pools in release builds; thread-safe pools and debug
 * builds always take the out-of-line paths (whose checks are the same and
 * more).  A slot test: off = obj - base is a slot handed out iff
 * off < fresh - base, (off & lowmask) == 0 and (off >> shift) * inv <= qmax
 * (stride = odd << shift; inv is the odd part's inverse mod 2^64). */
struct strata_pool_head {
  void *free;                    /* plain pools: the free list */
  char *base;                    /* start of the reserved range */
  char *fresh;                   /* end of the slots handed out at least once */
  uint64_t lowmask, inv, qmax;
  size_t out;                    /* objects not in the pool */
  unsigned shift;
  unsigned fast;
};

STRATA__INLINE void *strata_pool_get(strata_pool_t *p) {
  struct strata_pool_head *h = (struct strata_pool_head *)p;
  void *o = h->free;
  if (__builtin_expect(h->fast && o != NULL, 1)) {
    void *n = *(void **)o;
    h->free = n;
    h->out++;
    __builtin_prefetch(n);       /* the next get reads it */
    return o;
  }
  return strata_pool_get_slow(p);
}

STRATA__INLINE void strata_pool_put(strata_pool_t *p, void *obj) {
  struct strata_pool_head *h = (struct strata_pool_head *)p;
  uint64_t off = (uint64_t)((uintptr_t)obj - (uintptr_t)h->base);
  if (__builtin_expect(h->fast && off < (uint64_t)(h->fresh - h->base) && !(off & h->lowmask) &&
                       (off >> h->shift) * h->inv <= h->qmax && obj != h->free, 1)) {
    *(void **)obj = h->free;
    h->free = obj;
    h->out--;
    return;
  }
  strata_pool_put_slow(p, obj);
}

#ifdef __cplusplus
}
#endif
#endif
