/* The OS page layer: the only place strata talks to the kernel about memory.
 *
 * Contract, for every function below:
 *  - sizes and addresses are multiples of the OS page size (_st_os_page_size())
 *    unless stated otherwise;
 *  - failure returns NULL (or -1) with errno set (ENOMEM, EINVAL), never
 *    aborts and never allocates with malloc;
 *  - all functions are thread-safe and async-fork-safe (no locks held).
 *
 * Vocabulary: *reserve* takes address space only (PROT_NONE, no RSS, no
 * commit charge); *commit* makes a reserved range usable (read/write, pages
 * still appear only on first touch); *decommit* gives the pages back and makes
 * the range inaccessible again; *reset* gives the pages back but keeps the
 * range usable (it reads as zero afterwards); *release* unmaps.
 */
#ifndef STRATA_OS_H
#define STRATA_OS_H

#include <stddef.h>
#include <stdint.h>
#include "config.h"

ST_INTERNAL size_t _st_os_page_size(void);

/* Reserve `size` bytes aligned to `align` (a power of two; 0 = page). */
ST_INTERNAL void  *_st_os_reserve(size_t size, size_t align);
/* Reserve and commit in one step: read/write memory aligned to `align`. */
ST_INTERNAL void  *_st_os_alloc(size_t size, size_t align);
/* The same, charged against the kernel's commit limit: for a block the
 * program asked for whole (a large block), so that a size the machine
 * cannot back fails with ENOMEM under the default heuristic overcommit, as
 * with glibc, instead of meeting the OOM killer later.  (The others are
 * MAP_NORESERVE: reservations, and memory committed piece by piece.) */
ST_INTERNAL void  *_st_os_alloc_charged(size_t size, size_t align, size_t skew);
/* A reservation like _st_os_reserve at p with p + skew a multiple of align
 * (skew: a page multiple below align; 0: p aligned).  _st_os_alloc_charged
 * takes the same skew. */
ST_INTERNAL void  *_st_os_reserve_skewed(size_t size, size_t align, size_t skew);
/* Make a reserved (or decommitted) range readable and writable, keeping
 * what it held (mprotect). */
ST_INTERNAL int    _st_os_commit(void *p, size_t size);
/* The same as fresh zero pages (a new mapping over the range: whatever was
 * there is dropped).  Tools that follow mappings (valgrind's memcheck) see
 * this one; they ignore mprotect. */
ST_INTERNAL int    _st_os_commit_fresh(void *p, size_t size);
ST_INTERNAL int    _st_os_decommit(void *p, size_t size);
ST_INTERNAL int    _st_os_reset(void *p, size_t size);
/* The same for n ranges, with as few system calls (and TLB flushes) as the
 * kernel allows; 0 when all were purged. */
struct iovec;
#define OS_IOV_MAX 512
ST_INTERNAL int    _st_os_reset_many(const struct iovec *iov, size_t n);
ST_INTERNAL void   _st_os_release(void *p, size_t size);
/* Resize a read/write mapping.  With dst NULL only in place (shrinking always
 * succeeds); otherwise move the pages, without copying, onto the reserved
 * range dst (which the move replaces).  NULL/ENOMEM on failure, and then
 * nothing changed. */
ST_INTERNAL void  *_st_os_remap(void *p, size_t old_size, size_t new_size, void *dst);
/* Ask for transparent huge pages on a range (a hint; errors ignored). */
ST_INTERNAL void   _st_os_hint_huge(void *p, size_t size, int want);
/* Resident set size of the process in bytes (0 if unreadable). */
ST_INTERNAL size_t _st_os_resident(void);
/* How many mappings (VMAs) the kernel lets a process have (vm.max_map_count). */
ST_INTERNAL size_t _st_os_max_mappings(void);
/* Counters of successful mmap/munmap calls (for stats). */
ST_INTERNAL size_t _st_os_maps(void), _st_os_unmaps(void);
/* Every OS memory call so far (mmap, munmap, madvise, mremap, mprotect);
 * purges (successful _st_os_reset calls) and, in *bytes, the bytes purged. */
ST_INTERNAL size_t _st_os_calls(void), _st_os_purges(size_t *bytes);
/* Fault injection for tests: the next `n` mapping calls fail with ENOMEM. */
ST_INTERNAL void   _st_os_fail_next(int n);
/* ... or only the k-th call from now (k >= 1; 0 cancels): fault sweeps. */
ST_INTERNAL void   _st_os_fail_at(int k);
/* ... or the n calls from the k-th on (a failure that lasts: strata's own
 * retry after giving its caches back does not absorb it). */
ST_INTERNAL void   _st_os_fail_from(int k, int n);
/* Write a whole buffer to a file descriptor without allocating. */
ST_INTERNAL void   _st_os_write(int fd, const char *buf, size_t len);

#endif
