/* OS page layer for Linux (and other mmap/madvise systems).
 *
 * Aligned reservations.  The kernel only promises page alignment, but strata
 * needs segments aligned to their size (4 MiB) so that a pointer finds its
 * segment by masking.  We first ask for the exact size at a *hinted* address
 * that is already aligned (the hint walks up an otherwise unused region of
 * the address space, as mimalloc does); the kernel honours a hint whenever the
 * range is free, so the common case is one mmap call.  If the result is not
 * aligned we fall back to over-allocating and trimming both
 * ends (one mmap of size + align - page, up to two munmaps).
 *
 * Errors: every failure is returned as NULL/-1 with errno; nothing here
 * aborts or calls malloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "os/os.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

static size_t os_page = 4096;
static _Atomic size_t os_map_count, os_unmap_count;
static _Atomic size_t os_other_count;                 /* madvise, mremap, mprotect */
static _Atomic size_t os_purge_count, os_purge_bytes;
static _Atomic int os_fail_count, os_fail_at, os_fail_more;   /* fault injection (tests) */
/* Next hinted address for aligned mappings: starts at 2 TiB, grows up.
 * Each hinted mapping is followed by a gap of its own size (at most
 * OS_HINT_GAP_MAX) left unmapped, so a large block can grow in place
 * (mremap without moving): packed end to end, every growth moved into a
 * fresh reservation while the old one was still mapped, and under
 * RLIMIT_AS a 300 MiB block could not grow to 400 MiB with 160 MiB of
 * room, where glibc's mremap could (found by review, stop 32).  Unmapped
 * address space costs nothing, not even under RLIMIT_AS. */
static _Atomic uintptr_t os_hint;
#define OS_HINT_BASE  ((uintptr_t)2 << 40)
#define OS_HINT_LIMIT ((uintptr_t)30 << 40)
#define OS_HINT_GAP_MAX ((uintptr_t)1 << 30)

size_t _st_os_page_size(void) {
  static int init;
  if (st_unlikely(!init)) {
    long p = sysconf(_SC_PAGESIZE);
    if (p > 0) os_page = (size_t)p;
    init = 1;
  }
  return os_page;
}

void _st_os_fail_next(int n) { atomic_store(&os_fail_count, n); }
void _st_os_fail_at(int k) { atomic_store(&os_fail_more, 0); atomic_store(&os_fail_at, k); }
void _st_os_fail_from(int k, int n) { atomic_store(&os_fail_more, n > 1 ? n - 1 : 0); atomic_store(&os_fail_at, k); }

static int os_should_fail(void) {
  int n = atomic_load_explicit(&os_fail_count, memory_order_relaxed);
  while (n > 0) {
    if (atomic_compare_exchange_weak(&os_fail_count, &n, n - 1)) return 1;
  }
  int k = atomic_load_explicit(&os_fail_at, memory_order_relaxed);
  while (k > 0) {
    if (atomic_compare_exchange_weak(&os_fail_at, &k, k - 1)) {
      if (k == 1) atomic_store(&os_fail_count, atomic_exchange(&os_fail_more, 0));   /* the rest of the run */
      return k == 1;
    }
  }
  return 0;
}

/* noreserve: MAP_NORESERVE, so the kernel does not charge the mapping
 * against its commit limit (reservations, and memory used piecemeal);
 * without it an impossible size fails here, under the default heuristic
 * overcommit, as glibc's mmap'd blocks do (_st_os_alloc_charged). */
static void *os_mmap(void *hint, size_t size, int prot, int noreserve) {
  if (os_should_fail()) { errno = ENOMEM; return NULL; }
  void *p = mmap(hint, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);
  if (p == MAP_FAILED) { errno = ENOMEM; return NULL; }
  atomic_fetch_add_explicit(&os_map_count, 1, memory_order_relaxed);
  return p;
}

static void os_munmap(void *p, size_t size) {
  if (size == 0) return;
  int saved = errno;
  if (munmap(p, size) == 0)
    atomic_fetch_add_explicit(&os_unmap_count, 1, memory_order_relaxed);
  errno = saved;
}

/* Cut the unused ends off an over-sized mapping: not counted as an unmap
 * (the mapping stays, counted once). */
static void os_trim(void *p, size_t size) {
  if (size == 0) return;
  int saved = errno;
  (void)munmap(p, size);
  errno = saved;
}

static uintptr_t os_next_hint(size_t size, size_t align) {
  if (align < ((size_t)1 << 20)) return 0;     /* small alignments: let the kernel choose */
  uintptr_t cur = atomic_load_explicit(&os_hint, memory_order_relaxed), a, next;
  uintptr_t gap = size < OS_HINT_GAP_MAX ? size : OS_HINT_GAP_MAX;
  do {
    uintptr_t h = cur;
    for (int wrap = 0;; wrap++) {
      if (h == 0)   /* first use: the base plus a per-process spread of up to 1 TiB */
        h = OS_HINT_BASE + ((((uintptr_t)&cur) >> 14) & 0xff) * ((uintptr_t)1 << 32);
      a = (h + align - 1) & ~(uintptr_t)(align - 1);
      next = a + size + gap;
      if (next >= a && next <= OS_HINT_LIMIT) break;
      /* past the window: start over at its base (only a hint: a range
       * still taken there is refused and the fallback maps elsewhere;
       * a long-running process that gave up here kept only the fallback,
       * with its mappings packed: found by review, stop 32) */
      if (wrap) return 0;
      h = 0;
    }
  } while (!atomic_compare_exchange_weak(&os_hint, &cur, next));
  return a;
}

/* mmap `size` bytes aligned to `align` with protection `prot`. */
static void *os_map_aligned(size_t size, size_t align, int prot, int noreserve) {
  size_t ps = _st_os_page_size();
  if (align < ps) align = ps;
  if (size == 0 || (align & (align - 1)) != 0) { errno = EINVAL; return NULL; }
  size = (size + ps - 1) & ~(ps - 1);
  if (size == 0 || size > (SIZE_MAX >> 2)) { errno = ENOMEM; return NULL; }
  if (align == ps) return os_mmap(NULL, size, prot, noreserve);

  uintptr_t hint = os_next_hint(size, align);
  if (hint) {
    void *p = os_mmap((void *)hint, size, prot, noreserve);
    if (p == NULL) return NULL;
    if (((uintptr_t)p & (align - 1)) == 0) return p;
    os_munmap(p, size);
  }
  if (size + align < size) { errno = ENOMEM; return NULL; }
  size_t over = size + align - ps;
  uint8_t *raw = os_mmap(NULL, over, prot, noreserve);
  if (raw == NULL) return NULL;
  uint8_t *aligned = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  os_trim(raw, (size_t)(aligned - raw));
  os_trim(aligned + size, (size_t)((raw + over) - (aligned + size)));
  return aligned;
}

/* `size` bytes at p with p + skew a multiple of `align` (skew: a multiple
 * of the page size below align).  The range is found in a PROT_NONE
 * reservation of size + align that is never charged, then mapped over with
 * `prot` (charged unless noreserve), so a huge alignment costs address
 * space only. */
static void *os_map_skewed(size_t size, size_t align, size_t skew, int prot, int noreserve) {
  size_t ps = _st_os_page_size();
  if (skew == 0) return os_map_aligned(size, align, prot, noreserve);
  if (size == 0 || (align & (align - 1)) != 0 || align <= skew || (skew & (ps - 1)) != 0) { errno = EINVAL; return NULL; }
  size = (size + ps - 1) & ~(ps - 1);
  if (size == 0 || size > (SIZE_MAX >> 2) || size + align < size) { errno = ENOMEM; return NULL; }
  size_t over = size + align - ps;
  uint8_t *raw = os_mmap(NULL, over, PROT_NONE, 1);
  if (raw == NULL) return NULL;
  uint8_t *p = (uint8_t *)((((uintptr_t)raw + skew + align - 1) & ~(uintptr_t)(align - 1)) - skew);
  os_trim(raw, (size_t)(p - raw));
  os_trim(p + size, (size_t)((raw + over) - (p + size)));
  if (prot == PROT_NONE && noreserve) return p;
  /* the same mapping, given its protection and charge (not counted again) */
  if (os_should_fail() ||
      mmap(p, size, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0) == MAP_FAILED) {
    os_munmap(p, size);
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

void *_st_os_reserve(size_t size, size_t align) {
  return os_map_aligned(size, align, PROT_NONE, 1);
}

void *_st_os_alloc(size_t size, size_t align) {
  return os_map_aligned(size, align, PROT_READ | PROT_WRITE, 1);
}

void *_st_os_alloc_charged(size_t size, size_t align, size_t skew) {
  return os_map_skewed(size, align, skew, PROT_READ | PROT_WRITE, 0);
}

void *_st_os_reserve_skewed(size_t size, size_t align, size_t skew) {
  return os_map_skewed(size, align, skew, PROT_NONE, 1);
}

int _st_os_commit(void *p, size_t size) {
  if (os_should_fail()) { errno = ENOMEM; return -1; }
  atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
  if (mprotect(p, size, PROT_READ | PROT_WRITE) != 0) { errno = ENOMEM; return -1; }
  return 0;
}

int _st_os_commit_fresh(void *p, size_t size) {
  if (os_should_fail()) { errno = ENOMEM; return -1; }
  void *q = mmap(p, size, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (q == MAP_FAILED) { errno = ENOMEM; return -1; }
  atomic_fetch_add_explicit(&os_map_count, 1, memory_order_relaxed);
  return 0;
}

int _st_os_decommit(void *p, size_t size) {
  if (os_should_fail()) { errno = ENOMEM; return -1; }
  atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
  /* Replacing the range with a fresh PROT_NONE mapping drops the pages and
   * the commit charge in one call. */
  void *q = mmap(p, size, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (q == MAP_FAILED) { errno = ENOMEM; return -1; }
  return 0;
}

int _st_os_reset(void *p, size_t size) {
  if (os_should_fail()) return -1;              /* errno untouched, as below */
  int saved = errno;
  int r = madvise(p, size, MADV_DONTNEED);
  errno = saved;
  atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
  if (r == 0) {
    atomic_fetch_add_explicit(&os_purge_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&os_purge_bytes, size, memory_order_relaxed);
  }
  return r == 0 ? 0 : -1;
}

/* Several ranges at once.  Each madvise(MADV_DONTNEED) ends in a TLB
 * flush, which under a hypervisor costs ~18 us a call, far more than
 * freeing the pages: purging 8192 scattered 16 KiB ranges took 0.15 s one
 * call each and 0.021 s as 16 process_madvise calls of 512 (this machine,
 * 2026-11-27).  process_madvise on the calling process (PIDFD_SELF, Linux
 * 6.14; any advice for oneself since 6.13) takes them all in one call and
 * flushes once (6.16).  Where it is refused (older kernels, seccomp
 * filters, valgrind: ENOSYS, EINVAL, EBADF, EPERM, ESRCH) the first refusal
 * switches to one madvise per range for good; any other failure falls back
 * for this call only.  Returns 0 when every range was purged. */
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define OS_PIDFD_SELF_GROUP (-10001)      /* PIDFD_SELF_THREAD_GROUP */
static _Atomic int os_pm_state;           /* 0 untried, 1 works, -1 refused */

int _st_os_reset_many(const struct iovec *iov, size_t n) {
  if (n == 0) return 0;
  if (n == 1) return _st_os_reset(iov[0].iov_base, iov[0].iov_len);
  if (os_should_fail()) return -1;
  int saved = errno, bad = 0;
  size_t done = 0, total = 0;
  for (size_t i = 0; i < n; i++) total += iov[i].iov_len;
  if (atomic_load_explicit(&os_pm_state, memory_order_relaxed) >= 0) {
    for (size_t i = 0; i < n;) {
      size_t k = n - i < OS_IOV_MAX ? n - i : OS_IOV_MAX, want = 0;
      for (size_t j = 0; j < k; j++) want += iov[i + j].iov_len;
      long r = syscall(SYS_process_madvise, OS_PIDFD_SELF_GROUP, iov + i, k, MADV_DONTNEED, 0);
      atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
      if (r < 0) {                             /* refused for good, or a passing failure */
        if (errno == ENOSYS || errno == EINVAL || errno == EBADF || errno == EPERM || errno == ESRCH)
          atomic_store_explicit(&os_pm_state, -1, memory_order_relaxed);
        break;
      }
      atomic_store_explicit(&os_pm_state, 1, memory_order_relaxed);
      if ((size_t)r != want) {                 /* stopped part-way: finish one by one */
        size_t left = (size_t)r;
        while (left >= iov[i].iov_len) left -= iov[i++].iov_len;
        done += (size_t)r;
        if (left != 0) {
          if (madvise((uint8_t *)iov[i].iov_base + left, iov[i].iov_len - left, MADV_DONTNEED) != 0) bad = 1;
          done += iov[i].iov_len - left;
          i++;
        }
        continue;
      }
      done += want;
      i += k;
    }
  }
  if (done < total) {                          /* refused, or cut short */
    size_t skip = done;
    for (size_t i = 0; i < n; i++) {
      if (skip >= iov[i].iov_len) { skip -= iov[i].iov_len; continue; }
      skip = 0;
      atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
      if (madvise(iov[i].iov_base, iov[i].iov_len, MADV_DONTNEED) != 0) bad = 1;
    }
  }
  errno = saved;
  if (!bad) {
    atomic_fetch_add_explicit(&os_purge_count, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&os_purge_bytes, total, memory_order_relaxed);
  }
  return bad ? -1 : 0;
}

void _st_os_release(void *p, size_t size) { os_munmap(p, size); }

void *_st_os_remap(void *p, size_t old_size, size_t new_size, void *dst) {
  size_t ps = _st_os_page_size();
  new_size = (new_size + ps - 1) & ~(ps - 1);
  if (new_size == 0) { errno = EINVAL; return NULL; }
  if (new_size <= old_size && dst == NULL) {       /* shrink: trim the tail (no mapping goes) */
    os_trim((uint8_t *)p + new_size, old_size - new_size);
    return p;
  }
  if (os_should_fail()) { errno = ENOMEM; return NULL; }
  atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
  void *q = dst == NULL ? mremap(p, old_size, new_size, 0)
                        : mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
  if (q == MAP_FAILED) { errno = ENOMEM; return NULL; }
  return q;
}

void _st_os_hint_huge(void *p, size_t size, int want) {
#ifdef MADV_HUGEPAGE
  int saved = errno;
  atomic_fetch_add_explicit(&os_other_count, 1, memory_order_relaxed);
  (void)madvise(p, size, want ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  errno = saved;
#else
  (void)p; (void)size; (void)want;
#endif
}

size_t _st_os_resident(void) {
  int saved = errno;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) { errno = saved; return 0; }
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  errno = saved;
  if (n <= 0) return 0;
  buf[n] = 0;
  const char *s = buf;
  while (*s && *s != ' ') s++;                      /* skip total size */
  while (*s == ' ') s++;
  size_t pages = 0;
  while (*s >= '0' && *s <= '9') pages = pages * 10 + (size_t)(*s++ - '0');
  return pages * _st_os_page_size();
}

size_t _st_os_max_mappings(void) {
  int saved = errno;
  int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  char buf[32];
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  errno = saved;
  size_t v = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) v = v * 10 + (size_t)(buf[i] - '0');
  return v ? v : 65530;                             /* the kernel's default */
}

size_t _st_os_maps(void) { return atomic_load(&os_map_count); }
size_t _st_os_calls(void) {
  return atomic_load(&os_map_count) + atomic_load(&os_unmap_count) + atomic_load(&os_other_count);
}
size_t _st_os_purges(size_t *bytes) {
  *bytes = atomic_load(&os_purge_bytes);
  return atomic_load(&os_purge_count);
}
size_t _st_os_unmaps(void) { return atomic_load(&os_unmap_count); }

void _st_os_write(int fd, const char *buf, size_t len) {
  int saved = errno;
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) { if (errno == EINTR) continue; break; }
    buf += n; len -= (size_t)n;
  }
  errno = saved;
}
