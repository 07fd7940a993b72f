/* strata/stats.h -- what the allocator holds, read without stopping anyone.
 *
 * Counters are read with relaxed atomics and may be a few blocks stale while
 * other threads run; they are exact when the process is quiescent.
 */
#ifndef STRATA_STATS_H
#define STRATA_STATS_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_STATS_CLASSES 88   /* small/medium size classes (16 B .. 128 KiB) */

/* One size class. */
typedef struct strata_class_stats {
  size_t block_size;      /* bytes per block */
  size_t blocks_in_use;   /* live blocks (handed out, not freed) */
  size_t spans;           /* spans (pages) holding this class */
  size_t span_bytes;      /* bytes of those spans */
  size_t mallocs;         /* malloc calls served from this class so far */
  size_t requested;       /* bytes those calls asked for (so far, not live) */
} strata_class_stats_t;

typedef struct strata_stats {
  /* address space and memory */
  size_t reserved;        /* address space mapped from the OS */
  size_t committed;       /* of that, usable (read/write) and not purged */
  size_t resident;        /* process RSS, from /proc/self/statm */
  size_t purged;          /* bytes mapped but given back (madvise) right now */
  /* what the program holds */
  size_t requested;       /* estimate of the bytes live blocks were asked for:
                             per class, live blocks x mean request so far;
                             exact for large blocks */
  size_t in_blocks;       /* bytes in live blocks (block sizes) */
  size_t in_spans;        /* bytes of spans in use (small, medium, span blocks) */
  size_t small_in_use;    /* bytes in live small/medium blocks (block sizes) */
  size_t large_in_use;    /* bytes in live large blocks (mapped sizes) */
  size_t large_count;     /* live large blocks */
  size_t large_cached;    /* freed large mappings kept for reuse (trimmed after 2 s) */
  double internal_frag;   /* 1 - requested / in_blocks: waste inside blocks */
  double external_frag;   /* 1 - in_blocks / (in_spans + large mapped): free
                             space held in spans and mappings in use */
  /* structure */
  size_t segments;        /* live small-object segments */
  size_t pages_in_use;    /* spans assigned to a size class */
  size_t pages_abandoned; /* spans whose owner thread exited, not yet adopted */
  size_t heaps;           /* thread caches in use */
  /* events so far */
  size_t remote_frees;    /* frees of a block owned by another thread */
  size_t purges;          /* purge operations (madvise calls) */
  size_t purged_total;    /* bytes purged so far */
  size_t os_maps;         /* mmap calls made so far */
  size_t os_unmaps;       /* munmap calls made so far */
  size_t os_calls;        /* every OS memory call (mmap, munmap, madvise, mremap) */
  size_t limit_failures;  /* allocations refused by the hard limit */
  size_t misuses;         /* heap misuses reported (double/invalid free, wrong
                             size, corrupted free list; see docs/hardening.md) */
  /* limits (bytes; 0 none) */
  size_t soft_limit;
  size_t hard_limit;
  /* sampled guarded allocations (option guard_sample, docs/hardening.md) */
  size_t guarded_sampled;    /* allocations placed on guarded pages so far */
  size_t guarded_live;       /* of those, not yet freed */
  size_t guarded_fallbacks;  /* samples served ordinarily (all slots in use) */
  size_t guarded_detections; /* faults and misuses caught on guarded blocks */
  strata_class_stats_t classes[STRATA_STATS_CLASSES];
} strata_stats_t;

/* Fill *out.  Returns 0, or -1 with errno EINVAL if out is NULL.
 * strata_stats is the same function under the name issue 4 gave it. */
int    strata_stats_get(strata_stats_t *out);
int    strata_stats(strata_stats_t *out);

/* Write the statistics to fp: json == 0 as text for people, json != 0 as
 * one JSON object.  Returns 0, or -1 with errno set (EINVAL for a NULL fp). */
int    strata_stats_print(FILE *fp, int json);

/* The process's resident set size in bytes, or 0 if it cannot be read. */
size_t strata_os_resident(void);

/* Give every free page back to the OS now (empty spans and segments, the
 * large cache, free pages inside spans of the calling thread); returns the
 * bytes released.  Same as malloc_trim(0). */
size_t strata_purge(void);

#ifdef __cplusplus
}
#endif
#endif
