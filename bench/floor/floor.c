/* bench/floor/floor.c -- libfloor.so, the least an allocator can do, as a
 * yardstick for the workloads (not a product: never use it for anything
 * but a benchmark).
 *
 * What it does per call, and nothing more:
 *   malloc(n <= FL_SMALL_MAX): class c = ceil(n / 16); pop the calling
 *     thread's LIFO list of class c, or bump a per-class region when it is
 *     empty.  Two loads, one store, one branch on the path a warm workload
 *     takes.
 *   free(p): the class is the region p lies in (one subtraction and shift);
 *     push p on the calling thread's list of that class.
 *   Bigger blocks: one mmap each, with a page in front holding the size.
 *
 * What it leaves out, which is what every real allocator pays for: no
 * checks of any kind (a bad free corrupts silently), no statistics, no
 * memory returned to the OS, no limit on the lists (a producer/consumer
 * pair moves every block to the consumer's lists), classes of 16 B steps
 * (finer than any allocator's), no metadata beyond one list head per class.
 *
 * Invariants: class c (1 <= c < FL_CLASSES) owns the address range
 * [fl_base + c * FL_REGION, + FL_REGION); every block in it is c * 16 bytes
 * and starts at a multiple of c * 16 from the region's start; a block is on
 * at most one thread's list.  fl_bump[c] only grows (atomic fetch-add, so
 * threads may share it); the lists are thread-local, so no other sharing.
 *
 * Used by bench/floor.sh: how close strata gets to it, and how much of a
 * workload's time no allocator can remove.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FL_CLASSES   65                      /* class c: c * 16 bytes, 1..64 */
#define FL_SMALL_MAX ((FL_CLASSES - 1) * 16) /* 1 KiB                        */
#define FL_REGION    ((size_t)1 << 30)       /* address space per class      */
#define FL_HDR       4096                    /* in front of a big block      */

typedef struct fl_block { struct fl_block *next; } fl_block_t;

static char *fl_base;                        /* set once, by the first call */
static _Atomic size_t fl_bump[FL_CLASSES];   /* bytes handed out per region */
static __thread fl_block_t *fl_list[FL_CLASSES] __attribute__((tls_model("initial-exec")));

/* Reserve the regions (never committed up front: MAP_NORESERVE).  Racing
 * first calls may both map; the loser unmaps its copy. */
static int fl_init(void) {
  size_t len = FL_REGION * FL_CLASSES;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return -1;
  char *expected = NULL;
  if (!__atomic_compare_exchange_n(&fl_base, &expected, (char *)m, 0,
                                   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    munmap(m, len);
  return 0;
}

static void *fl_big(size_t n) {
  if (n > PTRDIFF_MAX - FL_HDR) { errno = ENOMEM; return NULL; }
  char *m = mmap(NULL, n + FL_HDR, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) { errno = ENOMEM; return NULL; }
  *(size_t *)m = n;
  return m + FL_HDR;
}

static void *fl_refill(unsigned c) {
  if (fl_base == NULL && fl_init() != 0) { errno = ENOMEM; return NULL; }
  size_t bs = (size_t)c * 16;
  size_t at = atomic_fetch_add_explicit(&fl_bump[c], bs, memory_order_relaxed);
  if (at + bs > FL_REGION) { errno = ENOMEM; return NULL; }
  return fl_base + (size_t)c * FL_REGION + at;
}

void *malloc(size_t n) {
  if (n > FL_SMALL_MAX) return fl_big(n);
  unsigned c = n == 0 ? 1 : (unsigned)((n + 15) >> 4);
  fl_block_t *b = fl_list[c];
  if (__builtin_expect(b != NULL, 1)) {
    fl_list[c] = b->next;
    return b;
  }
  return fl_refill(c);
}

/* The class of p, or 0 when p is a big block.  Before the first small
 * block fl_base is NULL and off is p itself: an mmap address, far above
 * FL_REGION * FL_CLASSES (65 GiB), so class 0 as it should be. */
static unsigned fl_class(const void *p) {
  size_t off = (size_t)((const char *)p - fl_base);
  return off < FL_REGION * FL_CLASSES ? (unsigned)(off / FL_REGION) : 0;
}

static size_t fl_size(const void *p) {
  unsigned c = fl_class(p);
  return c ? (size_t)c * 16 : *(const size_t *)((const char *)p - FL_HDR);
}

void free(void *p) {
  if (p == NULL) return;
  unsigned c = fl_class(p);
  if (__builtin_expect(c != 0, 1)) {
    fl_block_t *b = p;
    b->next = fl_list[c];
    fl_list[c] = b;
    return;
  }
  char *m = (char *)p - FL_HDR;
  munmap(m, *(size_t *)m + FL_HDR);
}

void *calloc(size_t k, size_t n) {
  size_t t;
  if (__builtin_mul_overflow(k, n, &t)) { errno = ENOMEM; return NULL; }
  void *p = malloc(t);
  if (p && fl_class(p)) memset(p, 0, t);     /* big blocks are fresh zero pages */
  return p;
}

void *realloc(void *p, size_t n) {
  if (p == NULL) return malloc(n);
  if (n == 0) { free(p); return NULL; }
  size_t old = fl_size(p);
  if (n <= old && (n > FL_SMALL_MAX || fl_class(p))) return p;
  void *q = malloc(n);
  if (q == NULL) return NULL;
  memcpy(q, p, old < n ? old : n);
  free(p);
  return q;
}

/* Aligned blocks: a small class whose size is a multiple of the alignment
 * starts at such a multiple (regions start at page-aligned addresses), so round the size up; above 1 KiB, over-map. */
int posix_memalign(void **out, size_t align, size_t n) {
  if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
  if (align <= 16 || (align <= FL_SMALL_MAX && n <= FL_SMALL_MAX)) {
    size_t m = n < align ? align : (n + align - 1) & ~(align - 1);
    void *p = malloc(m);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
  }
  /* a big block whose data start is aligned: over-allocate whole pages */
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  if (n > PTRDIFF_MAX / 2 || align > PTRDIFF_MAX / 2) return ENOMEM;
  char *m = mmap(NULL, n + align + FL_HDR, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return ENOMEM;
  char *data = (char *)(((uintptr_t)m + FL_HDR + align - 1) & ~(uintptr_t)(align - 1));
  size_t lead = (size_t)(data - FL_HDR - m);              /* a multiple of the page size */
  if (lead) munmap(m, lead & ~(pg - 1));
  *(size_t *)(data - FL_HDR) = n + align - lead;          /* what free unmaps after the header */
  *out = data;
  return 0;
}

void *aligned_alloc(size_t align, size_t n) {
  void *p;
  int e = posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
  if (e) { errno = e; return NULL; }
  return p;
}
void *memalign(size_t align, size_t n) { return aligned_alloc(align, n); }
void *valloc(size_t n) { return aligned_alloc((size_t)sysconf(_SC_PAGESIZE), n); }
void *pvalloc(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return aligned_alloc(pg, (n + pg - 1) & ~(pg - 1));
}
size_t malloc_usable_size(void *p) { return p ? fl_size(p) : 0; }
