/* The standard names of the malloc family (and glibc's __libc_ ones), as
 * aliases of the strata_ functions, for a build that overrides malloc.
 * Included once by the file that defines those functions: alloc.c
 * (ST_ALIASES_CORE) and aligned.c (ST_ALIASES_ALIGNED), or valgrind.c
 * (both) in a STRATA_VALGRIND build, where the strata_ names are its
 * wrappers.  One list, so the names cannot drift apart. */
#if STRATA_OVERRIDE
#ifndef ST_ALIAS
#define ST_ALIAS(fn) __attribute__((alias(#fn), visibility("default"), used))
#endif
#ifdef ST_ALIASES_CORE
void  *malloc(size_t) ST_ALIAS(strata_malloc);
void   free(void *) ST_ALIAS(strata_free);
void  *calloc(size_t, size_t) ST_ALIAS(strata_calloc);
void  *realloc(void *, size_t) ST_ALIAS(strata_realloc);
void  *reallocarray(void *, size_t, size_t) ST_ALIAS(strata_reallocarray);
size_t malloc_usable_size(void *) ST_ALIAS(strata_malloc_usable_size);
void   free_sized(void *, size_t) ST_ALIAS(strata_free_sized);
void   cfree(void *) ST_ALIAS(strata_cfree);
void  *__libc_malloc(size_t) ST_ALIAS(strata_malloc);
void   __libc_free(void *) ST_ALIAS(strata_free);
void  *__libc_calloc(size_t, size_t) ST_ALIAS(strata_calloc);
void  *__libc_realloc(void *, size_t) ST_ALIAS(strata_realloc);
void   __libc_cfree(void *) ST_ALIAS(strata_cfree);
#endif
#ifdef ST_ALIASES_ALIGNED
int    posix_memalign(void **, size_t, size_t) ST_ALIAS(strata_posix_memalign);
void  *aligned_alloc(size_t, size_t) ST_ALIAS(strata_aligned_alloc);
void  *memalign(size_t, size_t) ST_ALIAS(strata_memalign);
void  *valloc(size_t) ST_ALIAS(strata_valloc);
void  *pvalloc(size_t) ST_ALIAS(strata_pvalloc);
void   free_aligned_sized(void *, size_t, size_t) ST_ALIAS(strata_free_aligned_sized);
void  *__libc_memalign(size_t, size_t) ST_ALIAS(strata_memalign);
void  *__libc_valloc(size_t) ST_ALIAS(strata_valloc);
void  *__libc_pvalloc(size_t) ST_ALIAS(strata_pvalloc);
int    __posix_memalign(void **, size_t, size_t) ST_ALIAS(strata_posix_memalign);
#endif
#endif
