/* The malloc family for memcheck (a build with -DSTRATA_VALGRIND=1, `make
 * valgrind-lib`; docs/hardening.md, "valgrind").  Compiled empty otherwise.
 *
 * Memcheck cannot see inside a replaced malloc: to it, strata's segments
 * are mapped memory, all of it addressable and defined.  Here the entry
 * points (strata_malloc, ..., the standard names, and through them operator
 * new and delete) wrap the real ones (internal.h, "STRATA_VALGRIND") and
 * tell memcheck, with its client requests, what the program may touch:
 *
 *   handed out  VALGRIND_MALLOCLIKE_BLOCK(p, n): the n bytes asked for are
 *               addressable, undefined (defined for calloc); the block's
 *               slack past them is made unaddressable first (given)
 *   taken back  VALGRIND_FREELIKE_BLOCK(p): the block is unaddressable
 *   usable size VALGRIND_RESIZEINPLACE_BLOCK to what malloc_usable_size says
 *
 * Invariants of a block p the program holds:
 *   - it was asked of the real allocator with PAD more bytes than the
 *     program asked for (pad), and strata's usable size u >= n + PAD;
 *   - [p, p+n) is memcheck's block, [p+n, p+u) unaddressable, so a write
 *     one byte past the request is reported whatever follows the block;
 *   - the last word of the slack, at p+u-8 (past n, since u >= n + PAD),
 *     holds n, the size memcheck holds for the block (request_of: realloc
 *     copies that much).  Read from memcheck's view instead (the first
 *     unaddressable byte), it lost data when the program made part of its
 *     own block unaddressable, as pool allocators with redzones inside a
 *     malloc'd arena do (found by review, stop 32).
 * A freed block is unaddressable as a whole.  Strata itself reads and
 * writes freed blocks (free-list links and the free key in words 0 and 1,
 * remote lists, stashes, secure zeroing); the real functions run with
 * memcheck's error reporting off for the calling thread (QUIET), so those
 * accesses are not reported.  An access to unaddressable memory still
 * happens, reads as defined and leaves memcheck's view unchanged, so the
 * program's view is what the requests above made it.  (tests/valgrind.sh
 * mode 2 checks strata's own code, with the plain library.)
 *
 * realloc always moves the block (as memcheck's own realloc does): the copy
 * runs here, through the wrappers, so memcheck carries over which bytes are
 * defined; with errors off, as memcheck's own copy makes none (a pool
 * allocator's redzones inside the block were reported).  A realloc of a
 * freed block is reported by strata (its usable-size lookup).
 */
#include "config.h"

#if STRATA_VALGRIND
#define ST_VG_OUTER               /* the public names are the wrappers here */
#include <errno.h>
#include <string.h>
#include <valgrind/memcheck.h>
#include "malloc/internal.h"

void  *_st_real_malloc(size_t size);
void   _st_real_free(void *p);
void  *_st_real_calloc(size_t n, size_t size);
int    _st_real_posix_memalign(void **out, size_t align, size_t size);
void  *_st_real_aligned_alloc(size_t align, size_t size);
void  *_st_real_memalign(size_t align, size_t size);
void  *_st_real_valloc(size_t size);
size_t _st_real_malloc_usable_size(const void *p);
void   _st_real_free_checked(void *p, size_t size, size_t align, int call);

#define PAD ((size_t)16)          /* unaddressable bytes after every block */
#define QUIET_BEGIN VALGRIND_DISABLE_ERROR_REPORTING
#define QUIET_END   VALGRIND_ENABLE_ERROR_REPORTING

/* The size asked of the real allocator for n bytes: n + PAD, or one it
 * refuses (ENOMEM) when that would pass ST_MAX_SIZE. */
static inline size_t pad(size_t n) { return n > ST_MAX_SIZE - PAD ? SIZE_MAX : n + PAD; }

/* Strata's usable size of a block it handed out, errors off (it reads the
 * block's second word). */
static size_t real_usable(const void *p) {
  QUIET_BEGIN;
  size_t u = _st_real_malloc_usable_size(p);
  QUIET_END;
  return u;
}

/* Record n as the request of block p of usable size u (errors off: the
 * word is in the unaddressable slack). */
static void set_request(void *p, size_t u, size_t n) {
  QUIET_BEGIN;
  memcpy((uint8_t *)p + u - sizeof n, &n, sizeof n);
  QUIET_END;
}

/* p (NULL passes) goes to the program with n bytes: the whole block made
 * unaddressable, then the n bytes memcheck's block (defined if zeroed).
 * A large block's header (large_t, of a mapping or a region unit) points
 * at the block, and memcheck's leak search starts from every addressable,
 * defined word outside its blocks, so a large block would never be lost:
 * that word is made unaddressable, which the search skips.  Strata reads
 * and writes it inside the real functions, in QUIET, where it reads as
 * defined (undefined would spread into the pointers strata returns).
 * Read outside them (the exit report, option report) it is reported.  (A
 * sampled block's slot, guarded.c, points at it too: guard_sample=0 for a
 * leak search that must see every small block.) */
static void *given(void *p, size_t n, int zeroed) {
  if (p == NULL) return NULL;
  size_t u = real_usable(p);
  unsigned v = st_segmap_get(p);
  if (v >= SEGMAP_LARGE) {
    QUIET_BEGIN;
    large_t *h = _st_large_of(p, v);
    QUIET_END;
    if (h != NULL) VALGRIND_MAKE_MEM_NOACCESS(&h->block, sizeof h->block);
  }
  set_request(p, u, n);
  VALGRIND_MAKE_MEM_NOACCESS(p, u);
  VALGRIND_MALLOCLIKE_BLOCK(p, n, 0, zeroed);
  return p;
}

/* The size memcheck holds for the program's block p: the word given() or
 * strata_malloc_usable_size() left in its slack (the invariant above),
 * bounded by what the block can hold.  Outside valgrind the same. */
static size_t request_of(const void *p) {
  size_t u = real_usable(p), n = 0;
  if (u < PAD) return 0;
  QUIET_BEGIN;
  memcpy(&n, (const uint8_t *)p + u - sizeof n, sizeof n);
  QUIET_END;
  return n <= u - PAD ? n : u - PAD;
}

STRATA_API void *strata_malloc(size_t size) {
  QUIET_BEGIN;
  void *p = _st_real_malloc(pad(size));
  QUIET_END;
  return given(p, size, 0);
}

STRATA_API void strata_free(void *p) {
  if (p == NULL) return;
  VALGRIND_FREELIKE_BLOCK(p, 0);          /* memcheck reports a bad or double free */
  QUIET_BEGIN;
  _st_real_free(p);
  QUIET_END;
}

STRATA_API void *strata_calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
  QUIET_BEGIN;
  void *p = _st_real_calloc(1, pad(total));
  QUIET_END;
  return given(p, total, 1);
}

STRATA_API void *strata_realloc(void *p, size_t size) {
  if (p == NULL) return strata_malloc(size);
  if (size == 0) { strata_free(p); return NULL; }
  /* the wrappers, so memcheck sees the new block and the old one's free;
   * the copy carries the old bytes' definedness over, with errors off: the
   * program may have made parts of its own block unaddressable (a pool's
   * redzones), which memcheck's own realloc copies without a report */
  size_t keep = request_of(p);
  QUIET_BEGIN;
  void *q = st_realloc_move(p, size, keep);
  QUIET_END;
  return q;
}

STRATA_API void *strata_reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) { errno = ENOMEM; return NULL; }
  return strata_realloc(p, total);
}

STRATA_API int strata_posix_memalign(void **out, size_t align, size_t size) {
  QUIET_BEGIN;
  int err = _st_real_posix_memalign(out, align, pad(size));
  QUIET_END;
  if (err == 0) given(*out, size, 0);
  return err;
}

STRATA_API void *strata_aligned_alloc(size_t align, size_t size) {
  QUIET_BEGIN;
  void *p = _st_real_aligned_alloc(align, pad(size));
  QUIET_END;
  return given(p, size, 0);
}

STRATA_API void *strata_memalign(size_t align, size_t size) {
  QUIET_BEGIN;
  void *p = _st_real_memalign(align, pad(size));
  QUIET_END;
  return given(p, size, 0);
}

STRATA_API void *strata_valloc(size_t size) {
  QUIET_BEGIN;
  void *p = _st_real_valloc(pad(size));
  QUIET_END;
  return given(p, size, 0);
}

/* pvalloc's block is whole pages: the program may use them all. */
STRATA_API void *strata_pvalloc(size_t size) {
  size_t ps = _st_os_page_size();
  if (size > ST_MAX_SIZE) { errno = ENOMEM; return NULL; }
  size_t n = size ? st_align_up(size, ps) : ps;
  QUIET_BEGIN;
  void *p = _st_real_memalign(ps, pad(n));
  QUIET_END;
  return given(p, n, 0);
}

/* The program may use what this returns (u - PAD: the slack's PAD bytes
 * stay unaddressable): memcheck's block grows to it, the new bytes
 * undefined. */
STRATA_API size_t strata_malloc_usable_size(const void *p) {
  if (p == NULL) return 0;
  size_t u = real_usable(p);              /* reports a freed or foreign p */
  size_t old = request_of(p), n = u >= PAD ? u - PAD : 0;
  if (n > old) {
    VALGRIND_RESIZEINPLACE_BLOCK(p, old, n, 0);
    set_request((void *)p, u, n);
  }
  return n;
}

/* free_sized and its kin: the size the program passes is checked against
 * the padded request, as the real allocator saw it. */
void _st_free_checked(void *p, size_t size, size_t align, int call) {
  if (p != NULL) VALGRIND_FREELIKE_BLOCK(p, 0);
  QUIET_BEGIN;
  _st_real_free_checked(p, pad(size), align, call);
  QUIET_END;
}

STRATA_API void strata_free_sized(void *p, size_t size) { _st_free_checked(p, size, 0, ST_FREE_SIZED); }
STRATA_API void strata_free_aligned_sized(void *p, size_t align, size_t size) {
  _st_free_checked(p, size, align, ST_FREE_ALIGNED_SIZED);
}
STRATA_API void strata_cfree(void *p) { strata_free(p); }

#define ST_ALIASES_CORE
#define ST_ALIASES_ALIGNED
#include "malloc/aliases.h"
#else
typedef int st_valgrind_unused;           /* ISO C: no empty file */
#endif
