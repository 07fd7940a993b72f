/* strata/stats.h -- what the allocator holds, read without stopping anyone.
 *
 * Counters are read with relaxed atomics and may be a few blocks stale while
 * other threads run; they are exact when the process is quiescent.
 */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_stats {
  size_t reserved;        /* address space mapped from the OS */
  size_t committed;       /* of that, usable (read/write) */
  size_t resident;        /* process RSS, from /proc/self/statm */
  size_t small_in_use;    /* bytes in live small/medium blocks (block sizes) */
  size_t large_in_use;    /* bytes in live large blocks (mapped sizes) */
  size_t large_count;     /* live large blocks */
  size_t large_cached;    /* freed large mappings kept for reuse (trimmed after 2 s) */
  size_t segments;        /* live small-object segments */
  size_t pages_in_use;    /* spans assigned to a size class */
  size_t pages_abandoned; /* spans whose owner thread exited, not yet adopted */
  size_t heaps;           /* thread caches in use */
  size_t os_maps;         /* mmap calls made so far */
  size_t os_unmaps;       /* munmap calls made so far */
} strata_stats_t;

/* Fill *out.  Returns 0, or -1 with errno EINVAL if out is NULL. */
int    strata_stats_get(strata_stats_t *out);

/* The process's resident set size in bytes, or 0 if it cannot be read. */
size_t strata_os_resident(void);

#ifdef __cplusplus
}
#endif
#endif
