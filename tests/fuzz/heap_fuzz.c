/* tests/fuzz/heap_fuzz.c -- the malloc layer driven by fuzz input, checked
 * against a shadow model.
 *
 * The input is a program: each operation is an opcode byte followed by the
 * bytes its arguments need (a slot, a size, an alignment).  Reading past the
 * end yields zeros, and the run stops once the input is used up, so every
 * byte string is a valid program and a prefix of an input is a shorter one.
 *
 * The model is a table of NSLOT slots, each either empty or holding one live
 * block: its address, the requested size, the usable size strata reported,
 * the alignment asked for, how it was allocated (which decides the matching
 * sized free), and the seed of its content.  A block's content is always a
 * position-dependent pattern of its seed (byte j depends on seed and j), so
 * a prefix keeps its pattern through realloc.  The harness checks:
 *   - every byte of a block before it is freed, reallocated or rewritten,
 *     and the preserved prefix after realloc;
 *   - alignment (16 for every block, the requested one for the aligned
 *     family), usable_size >= the request (and within the size-class waste
 *     bound for fresh small blocks), calloc memory reads zero;
 *   - no two live blocks overlap (by their usable ranges), and the bytes
 *     between the request and the usable size may be written freely;
 *   - the error conventions: NULL + ENOMEM for impossible sizes, EINVAL for
 *     bad alignments, a failed realloc leaves the block intact.
 * Any mismatch prints what was wrong and calls abort(), which libFuzzer
 * reports as a crash (and the replay driver as a failed test).
 *
 * Threads: a second thread (the worker) receives jobs through a FIFO: free a
 * block the main thread allocated (a remote free; content checked first),
 * allocate a block the main thread will later free or realloc, realloc a
 * main-thread block.  Frees are asynchronous (the main thread goes on); the
 * others wait for their result.  Another opcode drains the queue and ends
 * the worker, so its pages are abandoned while the model still holds blocks
 * it allocated.  All decisions come from the input, only the interleaving of
 * the asynchronous frees with the main thread varies; STRATA_FUZZ_SYNC=1 in
 * the environment makes every job synchronous, for a reproducible replay.
 *
 * Some opcodes change options at run time (purge_ms, guard_sample,
 * soft_limit: where blocks come from and when memory goes back, never
 * whether a request may fail).
 *
 * At the end of every input the queue is drained, the worker stopped,
 * every live block checked and freed and the options restored, so inputs do
 * not leak into each other (except through the allocator's own state,
 * which is the point).
 *
 * Only the explicit strata_ API is called, and the harness itself never
 * calls malloc: built with STRATA_OVERRIDE=0 (the libFuzzer build, `make
 * fuzz`) the sanitizer runtimes keep their own malloc; linked with
 * libstrata.a (the replay test, tests/u_fuzz_replay.c) malloc is strata too,
 * which does not matter here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strata/malloc.h"

#define NSLOT      64
#define LIVE_MAX   ((size_t)96 << 20)   /* requested bytes live at once */
#define QCAP       32                   /* worker queue */

/* ---- failure ------------------------------------------------------------ */

static __thread unsigned fz_opno;       /* operation number (in the worker: of its job) */

__attribute__((noreturn, format(printf, 1, 2)))
static void fz_fail(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "heap_fuzz: op %u: %s\n", fz_opno, buf);
  fflush(stderr);
  abort();
}

/* ---- content pattern ---------------------------------------------------- */

/* The content loops are most of the run time.  They touch only strata's
 * blocks, which ASan does not track anyway, and their comparisons are no
 * use to libFuzzer's comparison tracing: leave them uninstrumented. */
#if defined(__clang__)
#define FZ_PLAIN __attribute__((no_sanitize("address", "undefined", "coverage")))
#else
#define FZ_PLAIN
#endif
#define FZ_INLINE static inline __attribute__((always_inline)) FZ_PLAIN

static inline uint64_t fz_mix(uint64_t x) {   /* splitmix64 finaliser */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
/* Word k of the pattern of seed s; byte j is byte (j % 8) of word j / 8.
 * Cheap per word (a multiply and an xor), different for every k. */
FZ_INLINE uint64_t fz_word(uint64_t s, size_t k) {
  return s ^ ((uint64_t)k * 0xd1b54a32d192ed03ULL);
}
FZ_INLINE uint8_t fz_byte(uint64_t s, size_t j) {
  return (uint8_t)(fz_word(s, j >> 3) >> (8 * (j & 7)));
}
typedef uint64_t __attribute__((may_alias)) fz_u64;

/* Write the pattern into bytes [from, to) of the block at p (8-aligned). */
FZ_PLAIN static void fz_fill(uint8_t *p, size_t from, size_t to, uint64_t s) {
  size_t j = from;
  for (; j < to && (j & 7); j++) p[j] = fz_byte(s, j);
  for (; j + 8 <= to; j += 8) *(fz_u64 *)(p + j) = fz_word(s, j >> 3);
  for (; j < to; j++) p[j] = fz_byte(s, j);
}
/* The first offset in [from, to) that does not hold the pattern, or
 * SIZE_MAX. */
FZ_PLAIN static size_t fz_bad(const uint8_t *p, size_t from, size_t to, uint64_t s) {
  size_t j = from;
  for (; j < to && (j & 7); j++) if (p[j] != fz_byte(s, j)) return j;
  for (; j + 8 <= to; j += 8)
    if (*(const fz_u64 *)(p + j) != fz_word(s, j >> 3)) break;
  for (; j < to; j++) if (p[j] != fz_byte(s, j)) return j;
  return SIZE_MAX;
}

/* The first non-zero byte of the n bytes at p (8-aligned), or SIZE_MAX. */
FZ_PLAIN static size_t fz_nonzero(const uint8_t *p, size_t n) {
  size_t j = 0;
  for (; j + 8 <= n; j += 8) if (*(const fz_u64 *)(p + j)) break;
  for (; j < n; j++) if (p[j]) return j;
  return SIZE_MAX;
}

/* ---- the model ---------------------------------------------------------- */

enum { K_MALLOC, K_ALIGNED, K_OTHER };  /* malloc/calloc/realloc, aligned_alloc, rest */
static const char *const kind_name[] = { "malloc", "aligned_alloc", "memalign" };

typedef struct {
  uint8_t *p;          /* NULL: empty slot */
  size_t n;            /* requested size */
  size_t usable;       /* strata_malloc_usable_size when allocated */
  size_t align;        /* alignment asked for (16 if none) */
  uint64_t seed;
  int kind;
} blk_t;

static blk_t slot[NSLOT];
static size_t live_bytes;
static uint64_t seed_ctr;

static uint64_t new_seed(void) { return fz_mix(++seed_ctr); }

static void verify(const blk_t *b, size_t upto, const char *what) {
  size_t bad = fz_bad(b->p, 0, upto, b->seed);
  if (bad != SIZE_MAX)
    fz_fail("%s: %zu-byte block %p (%s, align %zu, usable %zu): byte %zu is 0x%02x, expected 0x%02x",
            what, b->n, (void *)b->p, kind_name[b->kind], b->align, b->usable, bad,
            b->p[bad], fz_byte(b->seed, bad));
}

/* Checks every fresh (or moved) block goes through; `self` is the slot it
 * will occupy (skipped by the overlap check), -1 for a worker-side block. */
static void check_new(const char *what, const void *vp, size_t n, size_t align,
                      size_t *usable_out, int self) {
  const uint8_t *p = vp;
  uintptr_t a = (uintptr_t)p;
  if (p == NULL) fz_fail("%s(%zu) returned NULL (errno %d) with %zu bytes live", what, n, errno, live_bytes);
  if (a & 15) fz_fail("%s(%zu) = %p: not 16-byte aligned", what, n, vp);
  if (align > 16 && (a & (align - 1))) fz_fail("%s(%zu) = %p: not %zu-byte aligned", what, n, vp, align);
  size_t u = strata_malloc_usable_size(p);
  if (u < n) fz_fail("%s(%zu) = %p: usable size %zu < request", what, n, vp, u);
  size_t extent = u ? u : 1;
  for (int i = 0; i < NSLOT; i++) {
    const blk_t *o = &slot[i];
    if (i == self || o->p == NULL) continue;
    size_t oe = o->usable ? o->usable : 1;
    if (a < (uintptr_t)o->p + oe && (uintptr_t)o->p < a + extent)
      fz_fail("%s(%zu) = %p (usable %zu) overlaps live block %p (%zu bytes, usable %zu) in slot %d",
              what, n, vp, u, (void *)o->p, o->n, o->usable, i);
  }
  *usable_out = u;
}

/* The size-class waste bound for a fresh unaligned small or medium block
 * (README: 16-byte steps to 128 bytes, less than 12.5% waste above). */
static void check_waste(const char *what, size_t n, size_t u) {
  if (n > ((size_t)128 << 10)) return;
  size_t lim = n <= 128 ? (n | 15) + 1 : n + n / 8 + 16;
  if (n == 0) lim = 16;
  if (u > lim) fz_fail("%s(%zu): usable size %zu beyond the size-class bound %zu", what, n, u, lim);
}

/* ---- reading the input -------------------------------------------------- */

typedef struct { const uint8_t *d; size_t n, i; } in_t;

static unsigned rd8(in_t *in) { return in->i < in->n ? in->d[in->i++] : 0; }
static unsigned rd16(in_t *in) { unsigned a = rd8(in); return a | rd8(in) << 8; }
static size_t rd24(in_t *in) { size_t a = rd16(in); return a | (size_t)rd8(in) << 16; }

/* Sizes where behaviour changes: the 16-byte steps, the class boundaries of
 * each doubling (multiples of 2^(b-3)), the table/medium/span/large limits. */
static size_t bound[160];
static unsigned nbound;
static void init_bounds(void) {
  for (size_t s = 16; s <= 128; s += 16) bound[nbound++] = s;
  for (unsigned b = 7; b < 22; b++)
    for (size_t j = 1; j <= 8; j++) bound[nbound++] = ((size_t)1 << b) + j * ((size_t)1 << (b - 3));
  bound[nbound++] = 4096;
  bound[nbound++] = (size_t)64 << 10;
}

/* A size from 0 to 48 MiB, mostly small, often next to a boundary; one in
 * 64 from 16 to 48 MiB: blocks of mappings of their own, which a region
 * block's realloc moves out to and which grow by mremap (none came above
 * 4 MiB before stop 32, found by review). */
static size_t rd_size(in_t *in) {
  unsigned k = rd8(in);
  switch (k & 7) {
  case 0: case 1: case 2: return rd8(in) & 127;
  case 3: return rd16(in) & 2047;
  case 4: case 5: {
    size_t b = bound[rd8(in) % nbound];
    static const int delta[8] = { 0, 0, -1, 1, -16, 16, -2, 2 };
    return b + (size_t)(long)delta[(k >> 3) & 7];
  }
  case 6: return rd24(in) & (((size_t)256 << 10) - 1);
  default:             /* 1 in 4 of these up to 4 MiB: big blocks are slow to fill */
    if ((k >> 3) & 3) return rd24(in) & (((size_t)1 << 20) - 1);
    if ((k >> 5) & 1) return ((size_t)16 << 20) + (size_t)rd24(in) * 2;
    return rd24(in) & (((size_t)4 << 20) - 1);
  }
}

/* An alignment: a power of two from 1 to 1 MiB. */
static size_t rd_align(in_t *in) { return (size_t)1 << (rd8(in) % 21); }

/* Keep the live total bounded: shrink a request that would cross it. */
static size_t fit(size_t n) {
  if (live_bytes + n > LIVE_MAX) return n & 1023;
  return n;
}

/* ---- the worker thread -------------------------------------------------- */

enum { J_FREE, J_ALLOC, J_REALLOC };
typedef struct {
  int type;
  blk_t b;             /* J_FREE: the block; J_ALLOC/J_REALLOC: in and out */
  size_t new_n;        /* J_ALLOC / J_REALLOC: the size */
  unsigned opno;
} job_t;

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;      /* queue changed */
static job_t q[QCAP];
static unsigned long q_put, q_get, q_done;
static int w_running, w_stop;
static pthread_t w_thread;
static int fz_sync;                     /* STRATA_FUZZ_SYNC=1 */
static job_t *w_result;                 /* where a synchronous job writes back */

static void run_job(job_t *j) {
  fz_opno = j->opno;                    /* for messages */
  blk_t *b = &j->b;
  switch (j->type) {
  case J_FREE:
    verify(b, b->n, "remote free");
    if (b->kind == K_MALLOC && (j->opno & 1)) strata_free_sized(b->p, b->n);
    else if (b->kind == K_ALIGNED && (j->opno & 1)) strata_free_aligned_sized(b->p, b->align, b->n);
    else strata_free(b->p);
    break;
  case J_ALLOC: {
    b->p = strata_malloc(j->new_n);
    if (b->p == NULL) fz_fail("worker malloc(%zu) returned NULL (errno %d)", j->new_n, errno);
    b->n = j->new_n; b->align = 16; b->kind = K_MALLOC;
    fz_fill(b->p, 0, b->n, b->seed);
    break;
  }
  case J_REALLOC: {
    verify(b, b->n, "remote realloc (before)");
    uint8_t *np = strata_realloc(b->p, j->new_n);
    if (np == NULL) fz_fail("worker realloc(%p, %zu) returned NULL (errno %d)", (void *)b->p, j->new_n, errno);
    size_t keep = b->n < j->new_n ? b->n : j->new_n;
    b->p = np;
    verify(b, keep, "remote realloc (preserved prefix)");
    fz_fill(np, keep, j->new_n, b->seed);
    b->n = j->new_n; b->align = 16; b->kind = K_MALLOC;
    break;
  }
  }
}

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&q_mu);
  for (;;) {
    while (q_get == q_put && !w_stop) pthread_cond_wait(&q_cv, &q_mu);
    if (q_get == q_put) break;
    job_t j = q[q_get % QCAP];
    q_get++;
    pthread_cond_broadcast(&q_cv);       /* room in the queue */
    pthread_mutex_unlock(&q_mu);
    run_job(&j);
    pthread_mutex_lock(&q_mu);
    if (j.type != J_FREE) *w_result = j;
    q_done++;
    pthread_cond_broadcast(&q_cv);
  }
  pthread_mutex_unlock(&q_mu);
  return NULL;
}

/* Queue a job; wait for it when it returns something or in sync mode. */
static void submit(job_t *j) {
  pthread_mutex_lock(&q_mu);
  if (!w_running) {
    w_stop = 0;
    int rc = pthread_create(&w_thread, NULL, worker, NULL);
    if (rc != 0) fz_fail("pthread_create: %d", rc);
    w_running = 1;
  }
  while (q_put - q_get == QCAP) pthread_cond_wait(&q_cv, &q_mu);
  j->opno = fz_opno;
  q[q_put % QCAP] = *j;
  unsigned long mine = ++q_put;
  if (j->type != J_FREE) w_result = j;
  pthread_cond_broadcast(&q_cv);
  if (j->type != J_FREE || fz_sync)
    while (q_done < mine) pthread_cond_wait(&q_cv, &q_mu);
  pthread_mutex_unlock(&q_mu);
}

static void drain(void) {
  pthread_mutex_lock(&q_mu);
  while (q_done < q_put) pthread_cond_wait(&q_cv, &q_mu);
  pthread_mutex_unlock(&q_mu);
}

static void stop_worker(void) {
  pthread_mutex_lock(&q_mu);
  if (!w_running) { pthread_mutex_unlock(&q_mu); return; }
  w_stop = 1;
  pthread_cond_broadcast(&q_cv);
  pthread_mutex_unlock(&q_mu);
  int rc = pthread_join(w_thread, NULL);
  if (rc != 0) fz_fail("pthread_join: %d", rc);
  w_running = 0;
}

/* ---- operations --------------------------------------------------------- */

static void put(int s, uint8_t *p, size_t n, size_t u, size_t align, int kind) {
  blk_t *b = &slot[s];
  b->p = p; b->n = n; b->usable = u; b->align = align < 16 ? 16 : align; b->kind = kind;
  b->seed = new_seed();
  fz_fill(p, 0, n, b->seed);
  live_bytes += n;
}

static void drop(int s) { live_bytes -= slot[s].n; slot[s].p = NULL; }

/* Check and free the block in slot s (free, or the matching sized free). */
static void do_free(int s, unsigned how) {
  blk_t *b = &slot[s];
  if (b->p == NULL) { strata_free(NULL); return; }
  verify(b, b->n, "free");
  if (how == 1 && b->kind == K_MALLOC) strata_free_sized(b->p, b->n);
  else if (how == 1 && b->kind == K_ALIGNED) strata_free_aligned_sized(b->p, b->align, b->n);
  else if (how == 2) strata_cfree(b->p);
  else strata_free(b->p);
  drop(s);
}

static void do_alloc(int s, unsigned how, in_t *in) {
  if (slot[s].p) do_free(s, 0);
  size_t n = fit(rd_size(in)), u, align = 16;
  uint8_t *p = NULL;
  int kind = K_MALLOC, err;
  switch (how) {
  case 0:
    p = strata_malloc(n);
    check_new("malloc", p, n, 16, &u, s);
    check_waste("malloc", n, u);
    break;
  case 1: {            /* calloc(n / m, m) with m from the input */
    size_t m = (rd8(in) & 15) + 1, cnt = n / m;
    n = cnt * m;
    p = strata_calloc(cnt, m);
    check_new("calloc", p, n, 16, &u, s);
    size_t bad = fz_nonzero(p, n);
    if (bad != SIZE_MAX) fz_fail("calloc(%zu, %zu) = %p: byte %zu of %zu is not zero", cnt, m, (void *)p, bad, n);
    break;
  }
  case 2:
    align = rd_align(in);
    err = strata_posix_memalign((void **)&p, align, n);
    if (align < sizeof(void *)) {
      if (err != EINVAL) fz_fail("posix_memalign(align %zu) returned %d, not EINVAL", align, err);
      return;
    }
    if (err) fz_fail("posix_memalign(align %zu, %zu) returned %d", align, n, err);
    check_new("posix_memalign", p, n, align, &u, s);
    kind = K_OTHER;
    break;
  case 3:
    align = rd_align(in);
    p = strata_aligned_alloc(align, n);
    check_new("aligned_alloc", p, n, align, &u, s);
    kind = K_ALIGNED;
    break;
  case 4: {            /* memalign with any alignment (rounded up), valloc, pvalloc */
    unsigned w = rd8(in);
    if (w % 3 == 0) {
      size_t want = (w >> 2) + 1;      /* 1..64, often not a power of two */
      align = 16;
      while (align < want) align <<= 1;
      p = strata_memalign(want, n);
      check_new("memalign", p, n, align, &u, s);
    } else if (w % 3 == 1) {
      align = 4096;
      p = strata_valloc(n);
      check_new("valloc", p, n, align, &u, s);
    } else {
      align = 4096;
      n = (n + 4095) & ~(size_t)4095;
      if (n == 0) n = 4096;
      n = fit(n);
      p = strata_pvalloc(n);
      check_new("pvalloc", p, n, align, &u, s);
    }
    kind = K_OTHER;
    break;
  }
  default: {           /* realloc(NULL, n) */
    p = strata_realloc(NULL, n);
    check_new("realloc(NULL)", p, n, 16, &u, s);
    break;
  }
  }
  put(s, p, n, u, align, kind);
}

static void do_realloc(int s, in_t *in, int to_zero) {
  blk_t *b = &slot[s];
  if (b->p == NULL) { do_alloc(s, 5, in); return; }
  verify(b, b->n, "realloc (before)");
  size_t n = to_zero ? 0 : rd_size(in);
  if (n > b->n) n = b->n + fit(n - b->n);
  if (n == 0) {
    void *r = strata_realloc(b->p, 0);
    if (r != NULL) fz_fail("realloc(%p, 0) = %p, expected NULL (the block freed)", (void *)b->p, r);
    drop(s);
    return;
  }
  uint8_t *old = b->p;
  uint8_t *p = (rd8(in) & 1) ? strata_reallocarray(old, n, 1) : strata_realloc(old, n);
  size_t u;
  check_new("realloc", p, n, 16, &u, s);
  size_t keep = b->n < n ? b->n : n;
  b->p = p;
  verify(b, keep, "realloc (preserved prefix)");
  fz_fill(p, keep, n, b->seed);
  live_bytes = live_bytes - b->n + n;
  b->n = n; b->usable = u; b->align = 16; b->kind = K_MALLOC;
}

/* malloc_usable_size, then write the slack past the request: the bytes up
 * to the usable size belong to the block, so writing them must not disturb
 * any other block (the next checks of those would see it). */
static void do_usable(int s) {
  blk_t *b = &slot[s];
  if (b->p == NULL) {
    if (strata_malloc_usable_size(NULL) != 0) fz_fail("malloc_usable_size(NULL) != 0");
    return;
  }
  size_t u = strata_malloc_usable_size(b->p);
  if (u < b->n) fz_fail("malloc_usable_size(%p) = %zu < %zu requested", (void *)b->p, u, b->n);
  if (u != b->usable)
    fz_fail("malloc_usable_size(%p) = %zu, was %zu when allocated", (void *)b->p, u, b->usable);
  memset(b->p + b->n, 0xa5, u - b->n);
}

/* Rewrite a block with a fresh pattern (after checking the old one). */
static void do_write(int s) {
  blk_t *b = &slot[s];
  if (b->p == NULL) return;
  verify(b, b->n, "rewrite");
  b->seed = new_seed();
  fz_fill(b->p, 0, b->n, b->seed);
}

/* Requests that must fail, and the block in slot s must survive them. */
static void do_errors(int s, unsigned w) {
  volatile size_t huge = (size_t)PTRDIFF_MAX + 1 + (w & 0xff);
  void *r, *out = (void *)0x1;
  errno = 0;
  switch (w % 6) {
  case 0: r = strata_malloc(huge); break;
  case 1: r = strata_calloc(huge / 8 + 1, 16); break;
  case 2: r = strata_aligned_alloc(64, huge); break;
  case 3: r = strata_reallocarray(NULL, huge / 4 + 1, 4); break;
  case 4: {
    int err = strata_posix_memalign(&out, 24 + 16 * (w >> 4 & 7), 100);
    if (err != EINVAL || out != (void *)0x1)
      fz_fail("posix_memalign(bad alignment) returned %d, out %p", err, out);
    errno = ENOMEM;
    r = NULL;
    break;
  }
  default:
    if (slot[s].p == NULL) return;
    r = strata_realloc(slot[s].p, huge);
    if (r == NULL && errno == ENOMEM) verify(&slot[s], slot[s].n, "failed realloc");
    break;
  }
  if (r != NULL || errno != ENOMEM)
    fz_fail("impossible request %u returned %p, errno %d (expected NULL, ENOMEM)", w % 6, r, errno);
}

/* Hand the block in slot s to the worker to free. */
static void remote_free(int s) {
  if (slot[s].p == NULL) return;
  job_t j = { .type = J_FREE, .b = slot[s] };
  drop(s);
  submit(&j);
}

static void remote_alloc(int s, in_t *in) {
  if (slot[s].p) do_free(s, 0);
  job_t j = { .type = J_ALLOC, .new_n = fit(rd_size(in)) };
  j.b.seed = new_seed();
  submit(&j);
  size_t u;
  check_new("worker malloc", j.b.p, j.b.n, 16, &u, s);
  j.b.usable = u;
  slot[s] = j.b;
  verify(&slot[s], j.b.n, "worker malloc (content)");
  live_bytes += j.b.n;
}

static void remote_realloc(int s, in_t *in) {
  if (slot[s].p == NULL) { remote_alloc(s, in); return; }
  size_t n = rd_size(in);
  if (n == 0) n = 1;
  if (n > slot[s].n) n = slot[s].n + fit(n - slot[s].n);
  job_t j = { .type = J_REALLOC, .b = slot[s], .new_n = n };
  size_t old_n = slot[s].n;
  slot[s].p = NULL;                  /* not ours while the worker has it */
  submit(&j);
  size_t u;
  check_new("worker realloc", j.b.p, n, 16, &u, s);
  j.b.usable = u;
  slot[s] = j.b;
  verify(&slot[s], n, "worker realloc (content)");
  live_bytes = live_bytes - old_n + n;
}

/* Options that change how blocks are placed and when memory goes back,
 * never whether a request succeeds (no hard_limit): purging at once or
 * never, sampled guarded allocation from every malloc to none, a soft
 * limit that sends freed memory back at once.  finish() restores them. */
static const struct { const char *name; long v[4]; } fz_opt[] = {
  { "purge_ms",     { 0, 250, -1, 10 } },
  { "guard_sample", { 0, 1, 3, 50 } },
  { "soft_limit",   { 0, (long)1 << 20, (long)64 << 20, 0 } },
};
#define NOPT (sizeof fz_opt / sizeof fz_opt[0])
static long opt_saved[NOPT];
static int opt_changed;

static void set_option(unsigned w) {
  unsigned i = w % NOPT;
  long v = fz_opt[i].v[(w / NOPT) % 4];
  if (strata_option_set(fz_opt[i].name, v) != 0)
    fz_fail("strata_option_set(%s, %ld) failed (errno %d)", fz_opt[i].name, v, errno);
  opt_changed = 1;
}

static void finish(void) {
  drain();
  stop_worker();
  for (int s = 0; s < NSLOT; s++) if (slot[s].p) do_free(s, 0);
  if (live_bytes != 0) fz_fail("model out of step: %zu bytes live after freeing all", live_bytes);
  if (opt_changed) {
    for (unsigned i = 0; i < NOPT; i++)
      if (strata_option_set(fz_opt[i].name, opt_saved[i]) != 0)
        fz_fail("restoring option %s to %ld failed", fz_opt[i].name, opt_saved[i]);
    opt_changed = 0;
  }
}

static void fz_init(void) {
  static int inited;
  if (inited) return;
  init_bounds();
  for (unsigned i = 0; i < NOPT; i++) opt_saved[i] = strata_option_get(fz_opt[i].name);
  const char *e = getenv("STRATA_FUZZ_SYNC");
  fz_sync = e && *e == '1';
  inited = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_init();
  in_t in = { data, size, 0 };
  fz_opno = 0;
  seed_ctr = 0;                         /* the same input writes the same contents */
  while (in.i < in.n) {
    fz_opno++;
    unsigned op = rd8(&in);
    int s = (int)(rd8(&in) % NSLOT);
    switch (op % 20) {
    case 0: case 1: case 2: do_alloc(s, 0, &in); break;             /* malloc */
    case 3: do_alloc(s, 1, &in); break;                             /* calloc */
    case 4: do_alloc(s, 2, &in); break;                             /* posix_memalign */
    case 5: do_alloc(s, 3, &in); break;                             /* aligned_alloc */
    case 6: do_alloc(s, (op / 20) & 1 ? 4 : 5, &in); break;         /* memalign & co, realloc(NULL) */
    case 7: case 8: do_free(s, 0); break;
    case 9: do_free(s, 1 + ((op / 20) & 1)); break;                 /* sized free, cfree */
    case 10: case 11: do_realloc(s, &in, 0); break;
    case 12: do_realloc(s, &in, 1); break;                          /* realloc(p, 0) */
    case 13: do_usable(s); break;
    case 14: do_write(s); break;
    case 15: remote_free(s); break;
    case 16: remote_alloc(s, &in); break;
    case 17: remote_realloc(s, &in); break;
    case 18: do_errors(s, rd8(&in)); break;
    default:
      switch ((op / 20) % 8) {
      case 0: drain(); stop_worker(); break;    /* the worker exits: its pages are abandoned */
      case 1:                                  /* at a quiescent point: the worker idle */
        drain();
        if (strata_heap_check() != 0) fz_fail("strata_heap_check failed");
        break;
      case 2: strata_malloc_trim(0); break;
      case 3: drain(); break;
      default: set_option(rd8(&in)); break;
      }
    }
  }
  finish();
  return 0;
}
