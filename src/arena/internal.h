/* strata arenas and pools: internal types and invariants.
 *
 * Arena memory picture:
 *
 *   first chunk (strata_malloc'd, opts.first_chunk bytes)
 *   +---------+----------------+------------------------------------+
 *   | chunk_t | strata_arena   | data ... cur ->           <- end   |
 *   +---------+----------------+------------------------------------+
 *   later chunks (x2 each up to max_chunk; < 64 KiB from strata_malloc,
 *   larger from the page layer)
 *   +---------+----------------------------------------------------+
 *   | chunk_t | data ... top                                       |
 *   +---------+----------------------------------------------------+
 *
 * Lists of an arena (all singly linked through chunk_t.next):
 *   chunks : in use, the current chunk (the one cur/end point into) first,
 *            then older ones; an oversize chunk goes in second place so
 *            the current chunk's room keeps being used.
 *   kept   : chunks kept by reset/restore for reuse, largest first.
 *
 * Registrations: children (doubly linked, newest first) and destructors
 * (singly linked, newest first) each carry a number from the arena's
 * counter `seq`; release merges the two lists by that number, largest
 * first.
 */
#ifndef STRATA_ARENA_INTERNAL_H
#define STRATA_ARENA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"
#include "strata/arena.h"

#define ARENA_ALIGN       16u
#define ARENA_MAGIC       0x41524e41u            /* "ARNA"; 0 once destroyed */
#define ARENA_FIRST_MIN   512u
#define ARENA_FIRST_DEF   4096u
#define ARENA_MAX_DEF     ((size_t)1 << 20)
#define ARENA_CHUNK_LIMIT ((size_t)1 << 30)      /* largest first/max chunk option */
#define ARENA_OS_MIN      ((size_t)64 << 10)     /* chunks this big come from pages */
#define ARENA_SIZE_MAX    ((SIZE_MAX >> 2) - ((size_t)1 << 31)) /* larger requests: ENOMEM */

/* A chunk header.  Invariants: size is the whole chunk including this
 * header; data = (char *)c + CHUNK_HDR is 16-aligned; for an in-use chunk
 * that is not current, data <= top <= (char *)c + size (top is the bump
 * pointer it was left with); seq is the arena's chunk number when the chunk
 * was (last) put in use, so chunks started after a mark have seq >
 * mark.chunk_seq. */
typedef struct chunk {
  struct chunk *next;
  size_t size;
  char *top;
  uint64_t seq;
  uint8_t from_os;    /* 1: _st_os_alloc (size is page-rounded), 0: strata_malloc */
  uint8_t oversize;   /* made for one large request; never kept by reset */
  uint8_t used;       /* put in use since the last reset (kept list only) */
} chunk_t;
#define CHUNK_HDR ((sizeof(chunk_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))
#define CHUNK_DATA(c) ((char *)(c) + CHUNK_HDR)
#define CHUNK_END(c)  ((char *)(c) + (c)->size)

/* A destructor record, allocated in its own arena (so it lives exactly as
 * long as the memory it may read).  Invariant: on the arena's dtors list,
 * newest first, seq strictly decreasing; run (and unlinked) exactly once,
 * by release_regs, before any chunk is given back. */
typedef struct dtor {
  struct dtor *next;        /* older registration */
  void (*fn)(void *);
  void *arg;
  uint64_t seq;
} dtor_t;

/* The arena.  Owned by one thread at a time (see arena.h); no field is
 * atomic.  Invariants (checked by _st_arena_check):
 *   cur, end lie in chunks->data .. CHUNK_END(chunks), 16-aligned, cur <= end;
 *   first is on the chunk list, holds this struct, and is never kept/freed
 *     before destroy;
 *   nchunks = |chunks|, nkept = |kept|, kept_bytes = sum of kept sizes,
 *   reserved = sum of the sizes on both lists;
 *   children: newest first, child->my_seq strictly decreasing along sib_next,
 *     each child->parent == this; dtors: seq strictly decreasing;
 *   every registration number <= seq. */
struct strata_arena {
  struct strata_arena_bump bump;     /* must be first: arena.h's fast path */
  chunk_t *chunks, *kept, *first;
  strata_arena_t *parent;
  strata_arena_t *child;             /* newest child */
  strata_arena_t *sib_next;          /* older sibling */
  strata_arena_t *sib_prev;          /* newer sibling */
  dtor_t *dtors;                     /* newest destructor */
  uint64_t seq;                      /* last registration number given out */
  uint64_t my_seq;                   /* this arena's number in its parent */
  uint64_t chunk_seq;                /* last chunk number given out */
  size_t next_chunk, max_chunk, retain;
  size_t nchunks, nkept, kept_bytes, reserved;
  size_t chunk_allocs, chunk_frees, nchildren, ndtors;
  uint32_t magic;
  uint32_t releasing;                /* registrations are being undone */
  uint32_t keep_unused;              /* opts.keep_unused */
};

_Static_assert(offsetof(struct strata_arena, bump) == 0, "arena.h's fast path reads the bump window first");
_Static_assert(CHUNK_HDR + sizeof(struct strata_arena) + 2 * ARENA_ALIGN <= ARENA_FIRST_MIN,
               "the smallest first chunk must hold the arena and some room");

/* chunk.c: chunk memory.  get: *size bytes (rounded up to pages, and
 * *size updated, from the page layer at ARENA_OS_MIN and above; else
 * strata_malloc or the thread's cache); *from_os says which.  NULL + ENOMEM.
 * put: give it back (cached when it is a small power of two and the
 * thread's cache has room). */
ST_INTERNAL void *_st_arena_mem_get(size_t *size, uint8_t *from_os);
ST_INTERNAL void  _st_arena_mem_put(void *p, size_t size, int from_os);

/* arena.c */
ST_INTERNAL int _st_arena_check(const strata_arena_t *a);   /* 0 or reports, -1 */

/* report.c: one line on stderr, "strata: <what> (pointer 0x...)", then abort
 * unless abort_on_error=0 (the malloc layer's reporter). */
ST_INTERNAL void _st_arena_misuse(const char *what, const void *p);

#endif
