/* Arenas: bump allocation in chunks, released all at once, in a tree.
 *
 * Design (talloc's and APR's model, with a region allocator's fast path):
 *
 *  1. Fast path (inline in arena.h): round the size up to 16, and if it
 *     fits between cur and end, bump cur.  One compare covers size 0 and
 *     sizes that wrap when rounded: both land in the slow path.
 *  2. Slow path (strata_arena_alloc_slow): validate size and alignment;
 *     retry the window with the alignment; a request above a quarter of
 *     max_chunk gets an oversize chunk of its own, slotted behind the
 *     current chunk (whose room stays in use); otherwise the current chunk
 *     is retired and a new one becomes current: the smallest kept chunk
 *     that is big enough, else a fresh one of max(next_chunk, request)
 *     bytes (next_chunk doubles each time, up to max_chunk).  Chunks under 64 KiB come from strata_malloc,
 *     through a small per-thread cache of the common sizes (chunk.c), so a
 *     short-lived child arena costs a list pop; larger ones straight from
 *     the page layer.
 *  3. The arena struct lives in its first chunk, so creating an arena is
 *     one allocation and destroying it one free per chunk.
 *  4. Registrations (children, destructors) carry a number; release undoes
 *     them newest first by merging the two lists on that number.  Memory is
 *     handed back only after all of them ran.
 *  5. reset and restore put chunks on the kept list (largest first) up to
 *     the retain budget; oversize chunks and the excess go back below.  A
 *     reset also gives back kept chunks that nobody took since the previous
 *     reset (the `used` mark), so an arena shrinks back after a spike.
 */
#include <errno.h>
#include <string.h>
#include "arena/internal.h"
#include "strata/malloc.h"

/* ---- chunks --------------------------------------------------------------- */

static chunk_t *chunk_new(strata_arena_t *a, size_t size) {
  uint8_t from_os;
  chunk_t *c = (chunk_t *)_st_arena_mem_get(&size, &from_os);
  if (!c) return NULL;
  c->from_os = from_os;
  c->size = size;
  c->oversize = 0;
  c->used = 1;
  c->next = NULL;
  c->top = CHUNK_DATA(c);
  a->reserved += size;
  a->chunk_allocs++;
  return c;
}

static void chunk_free(strata_arena_t *a, chunk_t *c) {
  a->reserved -= c->size;
  a->chunk_frees++;
  _st_arena_mem_put(c, c->size, c->from_os);
}

/* Put c on the kept list in size order, or free it: oversize chunks and
 * chunks that would take kept_bytes above the retain budget go back. */
static void chunk_keep(strata_arena_t *a, chunk_t *c) {
  if (c->oversize || c->size > a->retain - a->kept_bytes || a->kept_bytes > a->retain) {
    chunk_free(a, c);
    return;
  }
  chunk_t **pp = &a->kept;
  while (*pp && (*pp)->size > c->size) pp = &(*pp)->next;
  c->next = *pp;
  *pp = c;
  c->top = CHUNK_DATA(c);
  a->nkept++;
  a->kept_bytes += c->size;
}

/* A chunk with at least `need` bytes (header included): the first kept one
 * that fits (largest first, so the biggest gets reused), else a new one. */
static chunk_t *chunk_get(strata_arena_t *a, size_t need, size_t fresh_size) {
  for (chunk_t **pp = &a->kept; *pp; pp = &(*pp)->next) {
    chunk_t *c = *pp;
    if (c->size < need) break;                 /* sorted: the rest are smaller */
    if (!c->next || c->next->size < need) {    /* the smallest that fits */
      *pp = c->next;
      a->nkept--;
      a->kept_bytes -= c->size;
      c->used = 1;
      return c;
    }
  }
  return chunk_new(a, fresh_size > need ? fresh_size : need);
}

static void chunk_make_current(strata_arena_t *a, chunk_t *c, char *pos) {
  a->bump.cur = pos;
  a->bump.end = (char *)((uintptr_t)CHUNK_END(c) & ~(uintptr_t)(ARENA_ALIGN - 1));
}

/* ---- the slow path -------------------------------------------------------- */

ST_NOINLINE STRATA_API void *strata_arena_alloc_slow(strata_arena_t *a, size_t size, size_t align) {
  if (align < ARENA_ALIGN) {
    if (align == 0 || (align & (align - 1))) { errno = EINVAL; return NULL; }
    align = ARENA_ALIGN;
  }
  if ((align & (align - 1)) || align > ARENA_CHUNK_LIMIT) { errno = EINVAL; return NULL; }
  if (size > ARENA_SIZE_MAX) { errno = ENOMEM; return NULL; }
  if (STRATA_DEBUG && a->releasing) _st_arena_misuse("strata_arena_alloc(): arena is being released", a);
  size_t n = size ? (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;

  /* 1. the current window, with the alignment (also: size 0) */
  char *p = (char *)(((uintptr_t)a->bump.cur + align - 1) & ~(uintptr_t)(align - 1));
  if (p <= a->bump.end && n <= (size_t)(a->bump.end - p)) {
    a->bump.cur = p + n;
    return p;
  }
  size_t need = CHUNK_HDR + (align - ARENA_ALIGN) + n;

  /* 2. oversize (above a quarter of the largest chunk size): a chunk of its
   * own, behind the current one */
  if (need > a->max_chunk / 4) {
    chunk_t *c = chunk_get(a, need, 0);
    if (!c) { errno = ENOMEM; return NULL; }
    c->oversize = 1;
    c->seq = ++a->chunk_seq;
    p = (char *)(((uintptr_t)CHUNK_DATA(c) + align - 1) & ~(uintptr_t)(align - 1));
    c->top = p + n;
    c->next = a->chunks->next;
    a->chunks->next = c;
    a->nchunks++;
    return p;
  }

  /* 3. a new current chunk */
  chunk_t *c = chunk_get(a, need, a->next_chunk);
  if (!c) { errno = ENOMEM; return NULL; }
  if (c->size >= a->next_chunk && a->next_chunk < a->max_chunk)
    a->next_chunk = a->next_chunk * 2 < a->max_chunk ? a->next_chunk * 2 : a->max_chunk;
  c->oversize = 0;
  c->seq = ++a->chunk_seq;
  a->chunks->top = a->bump.cur;                 /* retire the old current */
  c->next = a->chunks;
  a->chunks = c;
  a->nchunks++;
  p = (char *)(((uintptr_t)CHUNK_DATA(c) + align - 1) & ~(uintptr_t)(align - 1));
  chunk_make_current(a, c, p + n);
  if (STRATA_DEBUG) _st_arena_check(a);
  return p;
}

/* ---- creation ------------------------------------------------------------- */

#define ARENA_STRUCT ((sizeof(struct strata_arena) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

STRATA_API strata_arena_t *strata_arena_new_opts(strata_arena_t *parent, const strata_arena_opts_t *o) {
  size_t first = o && o->first_chunk ? o->first_chunk : ARENA_FIRST_DEF;
  size_t maxc = o && o->max_chunk ? o->max_chunk : ARENA_MAX_DEF;
  size_t retain = o && o->retain ? o->retain : SIZE_MAX;
  int keep_unused = o && o->keep_unused;
  if (first < ARENA_FIRST_MIN) first = ARENA_FIRST_MIN;
  if (first > ARENA_CHUNK_LIMIT || maxc > ARENA_CHUNK_LIMIT) { errno = EINVAL; return NULL; }
  if (maxc < first) {
    if (o && o->max_chunk) { errno = EINVAL; return NULL; }
    maxc = first;
  }
  if (STRATA_DEBUG && parent && parent->releasing)
    _st_arena_misuse("strata_arena_new(): parent is being released", parent);

  strata_arena_t tmp;                          /* counters for chunk_new */
  memset(&tmp, 0, sizeof tmp);
  chunk_t *c = chunk_new(&tmp, first);
  if (!c) { errno = ENOMEM; return NULL; }
  strata_arena_t *a = (strata_arena_t *)CHUNK_DATA(c);
  memset(a, 0, sizeof *a);
  a->reserved = tmp.reserved;
  a->chunk_allocs = 1;
  a->magic = ARENA_MAGIC;
  a->chunks = a->first = c;
  a->nchunks = 1;
  c->seq = a->chunk_seq = 1;
  a->next_chunk = first * 2 < maxc ? first * 2 : maxc;
  a->max_chunk = maxc;
  a->retain = retain;
  a->keep_unused = (uint32_t)keep_unused;
  chunk_make_current(a, c, (char *)a + ARENA_STRUCT);
  if (parent) {
    a->parent = parent;
    a->my_seq = ++parent->seq;
    a->sib_next = parent->child;
    if (parent->child) parent->child->sib_prev = a;
    parent->child = a;
    parent->nchildren++;
  }
  return a;
}

STRATA_API strata_arena_t *strata_arena_new(strata_arena_t *parent) {
  return strata_arena_new_opts(parent, NULL);
}

STRATA_API strata_arena_t *strata_arena_parent(const strata_arena_t *a) {
  return a ? a->parent : NULL;
}

/* ---- release -------------------------------------------------------------- */

static void arena_unlink(strata_arena_t *a) {
  strata_arena_t *p = a->parent;
  if (!p) return;
  if (a->sib_prev) a->sib_prev->sib_next = a->sib_next;
  else p->child = a->sib_next;
  if (a->sib_next) a->sib_next->sib_prev = a->sib_prev;
  p->nchildren--;
  a->parent = a->sib_next = a->sib_prev = NULL;
}

/* Undo every registration numbered above `floor`, newest first. */
static void release_regs(strata_arena_t *a, uint64_t floor) {
  a->releasing++;
  for (;;) {
    strata_arena_t *ch = a->child;
    dtor_t *d = a->dtors;
    uint64_t cs = ch ? ch->my_seq : 0, ds = d ? d->seq : 0;
    if (cs <= floor && ds <= floor) break;
    if (cs > ds) {
      strata_arena_destroy(ch);               /* unlinks itself */
    } else {
      a->dtors = d->next;
      a->ndtors--;
      d->fn(d->arg);
    }
  }
  a->releasing--;
}

STRATA_API void strata_arena_destroy(strata_arena_t *a) {
  if (!a) return;
  if (a->magic != ARENA_MAGIC) {
    _st_arena_misuse("strata_arena_destroy(): not a live arena", a);
    return;
  }
  if (STRATA_DEBUG) _st_arena_check(a);
  release_regs(a, 0);
  arena_unlink(a);
  a->magic = 0;
  chunk_t *first = a->first;
  strata_arena_t dummy;                        /* counters after a is gone */
  memset(&dummy, 0, sizeof dummy);
  for (chunk_t *c = a->kept, *n; c; c = n) { n = c->next; chunk_free(&dummy, c); }
  for (chunk_t *c = a->chunks, *n; c; c = n) { n = c->next; if (c != first) chunk_free(&dummy, c); }
  chunk_free(&dummy, first);                   /* the arena itself goes here */
}

/* Chunks numbered above `chunk_seq` leave the in-use list for the kept
 * list (or go back); the first chunk always stays. */
static void chunks_drop_after(strata_arena_t *a, uint64_t chunk_seq) {
  chunk_t **pp = &a->chunks;
  while (*pp) {
    chunk_t *c = *pp;
    if (c->seq > chunk_seq && c != a->first) {
      *pp = c->next;
      a->nchunks--;
      chunk_keep(a, c);
    } else {
      pp = &c->next;
    }
  }
}

STRATA_API void strata_arena_reset(strata_arena_t *a) {
  if (STRATA_DEBUG) _st_arena_check(a);
  release_regs(a, 0);
  /* kept chunks nobody took during this cycle go back (chunks that a
   * restore put there count as used); all kept ones start the next cycle
   * unused */
  for (chunk_t **pp = &a->kept; *pp;) {
    chunk_t *c = *pp;
    if (!c->used && !a->keep_unused) {
      *pp = c->next;
      a->nkept--;
      a->kept_bytes -= c->size;
      chunk_free(a, c);
    } else {
      pp = &c->next;
    }
  }
  chunks_drop_after(a, 0);
  for (chunk_t *c = a->kept; c; c = c->next) c->used = 0;   /* a new cycle */
  a->first->seq = a->chunk_seq = a->chunk_seq + 1;
  chunk_make_current(a, a->first, (char *)a + ARENA_STRUCT);
  if (STRATA_DEBUG) _st_arena_check(a);
}

STRATA_API void strata_arena_set_retain(strata_arena_t *a, size_t bytes) {
  a->retain = bytes;
  chunk_t *list = a->kept;
  a->kept = NULL;
  a->nkept = 0;
  a->kept_bytes = 0;
  for (chunk_t *c = list, *n; c; c = n) { n = c->next; chunk_keep(a, c); }
}

/* ---- marks ---------------------------------------------------------------- */

STRATA_API strata_arena_mark_t strata_arena_mark(strata_arena_t *a) {
  strata_arena_mark_t m;
  m.chunk = a->chunks;
  m.pos = a->bump.cur;
  m.seq = a->seq;
  m.chunk_seq = a->chunk_seq;
  return m;
}

STRATA_API int strata_arena_restore(strata_arena_t *a, strata_arena_mark_t m) {
  chunk_t *mc = (chunk_t *)m.chunk, *c;
  for (c = a->chunks; c && c != mc; c = c->next) {}
  /* valid: the chunk is in use, was started no later than the mark, the
   * position lies inside it and not beyond where the chunk is now */
  char *now = mc == a->chunks ? a->bump.cur : (c ? c->top : NULL);
  if (!c || c->seq > m.chunk_seq || m.chunk_seq > a->chunk_seq || m.seq > a->seq ||
      m.pos < CHUNK_DATA(c) || m.pos > now || ((uintptr_t)m.pos & (ARENA_ALIGN - 1)) || c->oversize) {
    errno = EINVAL;
    return -1;
  }
  release_regs(a, m.seq);
  chunks_drop_after(a, m.chunk_seq);
  /* the mark's chunk is current again (it was current at the mark, and
   * every chunk started later is gone) */
  if (STRATA_DEBUG && a->chunks != mc) _st_arena_misuse("strata_arena_restore(): chunk list broken", a);
  chunk_make_current(a, mc, m.pos);
  if (STRATA_DEBUG) _st_arena_check(a);
  return 0;
}

/* ---- destructors and helpers ---------------------------------------------- */

STRATA_API int strata_arena_on_release(strata_arena_t *a, void (*fn)(void *), void *arg) {
  if (!fn) { errno = EINVAL; return -1; }
  if (STRATA_DEBUG && a->releasing) _st_arena_misuse("strata_arena_on_release(): arena is being released", a);
  dtor_t *d = (dtor_t *)strata_arena_alloc(a, sizeof *d);
  if (!d) return -1;
  d->fn = fn;
  d->arg = arg;
  d->seq = ++a->seq;
  d->next = a->dtors;
  a->dtors = d;
  a->ndtors++;
  return 0;
}

STRATA_API void *strata_arena_alloc_dtor(strata_arena_t *a, size_t size, void (*fn)(void *)) {
  if (!fn) { errno = EINVAL; return NULL; }
  strata_arena_mark_t m = strata_arena_mark(a);
  void *p = strata_arena_alloc(a, size);
  if (!p) return NULL;
  if (strata_arena_on_release(a, fn, p) != 0) {
    int e = errno;
    strata_arena_restore(a, m);
    errno = e;
    return NULL;
  }
  return p;
}

STRATA_API void *strata_arena_calloc(strata_arena_t *a, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) { errno = ENOMEM; return NULL; }
  void *p = strata_arena_alloc(a, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

STRATA_API void *strata_arena_memdup(strata_arena_t *a, const void *src, size_t n) {
  if (!src && n) { errno = EINVAL; return NULL; }
  void *p = strata_arena_alloc(a, n);
  if (p && n) memcpy(p, src, n);
  return p;
}

STRATA_API char *strata_arena_strndup(strata_arena_t *a, const char *s, size_t n) {
  if (!s) { errno = EINVAL; return NULL; }
  size_t len = strnlen(s, n);
  char *p = (char *)strata_arena_alloc(a, len + 1);
  if (!p) return NULL;
  memcpy(p, s, len);
  p[len] = 0;
  return p;
}

STRATA_API char *strata_arena_strdup(strata_arena_t *a, const char *s) {
  return strata_arena_strndup(a, s, SIZE_MAX);
}

STRATA_API void *strata_arena_realloc(strata_arena_t *a, void *p, size_t old_size, size_t new_size) {
  if (!p) return strata_arena_alloc(a, new_size);
  if (new_size > ARENA_SIZE_MAX) { errno = ENOMEM; return NULL; }
  size_t on = (old_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  size_t nn = new_size ? (new_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;
  char *q = (char *)p;
  if (on && q + on == a->bump.cur && nn <= (size_t)(a->bump.end - q)) {   /* the last one */
    a->bump.cur = q + nn;
    return p;
  }
  if (new_size <= old_size) return p;
  void *r = strata_arena_alloc(a, new_size);
  if (r) memcpy(r, p, old_size);
  return r;
}

/* ---- stats and checks ----------------------------------------------------- */

STRATA_API void strata_arena_stats(const strata_arena_t *a, strata_arena_stats_t *st) {
  memset(st, 0, sizeof *st);
  for (const chunk_t *c = a->chunks; c; c = c->next) {
    const char *start = c == a->first ? (const char *)a + ARENA_STRUCT : CHUNK_DATA(c);
    const char *top = c == a->chunks ? a->bump.cur : c->top;
    st->used += (size_t)(top - start);
  }
  st->reserved = a->reserved;
  st->chunks = a->nchunks;
  st->kept_chunks = a->nkept;
  st->chunk_allocs = a->chunk_allocs;
  st->chunk_frees = a->chunk_frees;
  st->children = a->nchildren;
  st->dtors = a->ndtors;
}

static int check_fail(const strata_arena_t *a, const char *what) {
  _st_arena_misuse(what, a);
  return -1;
}

ST_INTERNAL int _st_arena_check(const strata_arena_t *a) {
  if (a->magic != ARENA_MAGIC) return check_fail(a, "arena check: bad magic");
  const chunk_t *cur = a->chunks;
  if ((uintptr_t)a->bump.cur % ARENA_ALIGN || (uintptr_t)a->bump.end % ARENA_ALIGN ||
      a->bump.cur > a->bump.end || a->bump.cur < CHUNK_DATA(cur) || a->bump.end > CHUNK_END(cur))
    return check_fail(a, "arena check: bump window outside the current chunk");
  size_t n = 0, bytes = 0, kb = 0, nk = 0;
  int first_seen = 0;
  for (const chunk_t *c = a->chunks; c; c = c->next) {
    n++; bytes += c->size;
    if (c == a->first) first_seen = 1;
    if (c != cur && (c->top < CHUNK_DATA(c) || c->top > CHUNK_END(c)))
      return check_fail(a, "arena check: chunk top out of range");
  }
  for (const chunk_t *c = a->kept; c; c = c->next) {
    nk++; kb += c->size;
    if (c->next && c->next->size > c->size) return check_fail(a, "arena check: kept list not sorted");
  }
  if (!first_seen || n != a->nchunks || nk != a->nkept || kb != a->kept_bytes || bytes + kb != a->reserved)
    return check_fail(a, "arena check: chunk counts");
  size_t nc = 0;
  for (const strata_arena_t *c = a->child; c; c = c->sib_next) {
    nc++;
    if (c->parent != a || (c->sib_next && c->sib_next->my_seq >= c->my_seq) || c->my_seq > a->seq)
      return check_fail(a, "arena check: child list");
  }
  size_t nd = 0;
  for (const dtor_t *d = a->dtors; d; d = d->next) {
    nd++;
    if ((d->next && d->next->seq >= d->seq) || d->seq > a->seq) return check_fail(a, "arena check: destructor list");
  }
  if (nc != a->nchildren || nd != a->ndtors) return check_fail(a, "arena check: registration counts");
  return 0;
}
