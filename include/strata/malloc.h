/* strata/malloc.h -- the general-purpose allocator (layer 2).
 *
 * Every function here behaves like its standard/glibc namesake.  When the
 * library is preloaded (LD_PRELOAD=libstrata.so) or linked before libc, the
 * standard names (malloc, free, ...) are strata too; the strata_ names are
 * always available, also when libstrata.so is dlopen'd.
 *
 * Error convention: functions returning a pointer return NULL and set errno
 * (ENOMEM, or EINVAL for a bad alignment) on failure and change nothing else;
 * posix_memalign returns the error number instead.  free never changes errno.
 */
#ifndef STRATA_MALLOC_H
#define STRATA_MALLOC_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1

void  *strata_malloc(size_t size);
void   strata_free(void *p);
void  *strata_calloc(size_t n, size_t size);
void  *strata_realloc(void *p, size_t size);
void  *strata_reallocarray(void *p, size_t n, size_t size);
int    strata_posix_memalign(void **out, size_t align, size_t size);
void  *strata_aligned_alloc(size_t align, size_t size);
void  *strata_memalign(size_t align, size_t size);
void  *strata_valloc(size_t size);
void  *strata_pvalloc(size_t size);
size_t strata_malloc_usable_size(const void *p);
void   strata_free_sized(void *p, size_t size);
void   strata_free_aligned_sized(void *p, size_t align, size_t size);
void   strata_cfree(void *p);

/* glibc extensions, with strata's meaning documented in docs/malloc.md. */
int    strata_malloc_trim(size_t pad);      /* returns 1 if memory went back to the OS */
int    strata_mallopt(int param, int value); /* accepted and ignored: returns 1 */
void   strata_malloc_stats(void);           /* human summary on stderr */
int    strata_malloc_info(int options, FILE *fp); /* XML summary; options must be 0 */

/* Options (see README "Options"): name=value pairs, also read from the
 * STRATA_OPTIONS environment variable at first use.  Returns 0, or -1 with
 * errno EINVAL for an unknown name, a bad value, or a change of an option
 * read only at start-up (secure, secure_zero, stats).  on_misuse reads as
 * abort_on_error (1 abort, 0 ignore). */
int    strata_option_set(const char *name, long value);
long   strata_option_get(const char *name);   /* -1 with EINVAL if unknown */

/* Hand cached memory back to the OS now (same as malloc_trim(0)). */
void   strata_collect(int force);

/* Check the heap's invariants: the calling thread's cache (every page, its
 * free list and counts), the abandoned pages, and the segments with free
 * slices.  Other threads' caches are not walked (their owners may be
 * running).  Returns 0 when consistent; reports and returns -1 otherwise.
 * Expensive: meant for tests and debugging. */
int    strata_heap_check(void);

#ifdef __cplusplus
}
#endif
#endif
