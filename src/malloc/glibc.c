/* glibc's extensions with strata's meaning.
 *
 *   malloc_trim(pad)   give back cached memory now: exited threads' retired
 *                      heaps, the calling thread's empty pages, empty
 *                      abandoned pages, dirty free slices,
 *                      empty segments and the large cache; 1 if anything
 *                      went back.
 *   mallopt(p, v)      accepted and ignored (strata tunes itself; options
 *                      come from STRATA_OPTIONS); returns 1 like glibc.
 *   mallinfo2()        arena = bytes in small-object segments, hblks/hblkhd
 *                      = large blocks, uordblks = bytes in live blocks,
 *                      fordblks = arena - small bytes in use.
 *   malloc_stats()     strata_stats_print(stderr, text) (stats.c).
 *   malloc_info(0, fp) the same as XML.
 * Nothing here holds a lock while calling stdio (which may call malloc).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "malloc/internal.h"

/* Everything that can go back at once: retired heaps (abandoned: their
 * empty pages go back, the rest can be adopted), the calling thread's and
 * the orphan heap's empty pages, the caller's sparse units, empty abandoned pages, dirty slices, empty
 * segments and the large cache.  Returns the bytes released. */
static size_t purge_all(void);
STRATA_API size_t strata_purge(void) {
  ST_VG_QUIET_BEGIN;
  size_t freed = purge_all();
  ST_VG_QUIET_END;
  return freed;
}

static size_t purge_all(void) {
  _st_remote_quiesce();            /* the caller's stash and batches first */
  _st_heaps_retired_trim(1);       /* exited threads' heaps: their pages counted below */
  size_t freed = _st_heap_trim_self();
  freed += _st_heap_trim_orphan();
  freed += _st_abandoned_trim();
  freed += _st_segments_trim();
  freed += _st_large_trim();
  return freed;
}

STRATA_API void strata_collect(int force) {
  (void)force;
  strata_purge();
}

STRATA_API int strata_malloc_trim(size_t pad) {
  (void)pad;
  size_t unmaps = _st_os_unmaps();
  return strata_purge() > 0 || _st_os_unmaps() != unmaps;
}

STRATA_API int strata_mallopt(int param, int value) {
  (void)param; (void)value;
  return 1;
}

STRATA_API int strata_heap_check(void) {
  ST_VG_QUIET_BEGIN;
  int r = _st_heaps_check();
  ST_VG_QUIET_END;
  return r;
}

/* Same layout as glibc's struct mallinfo2 / mallinfo (malloc.h is not
 * included so that our definitions do not clash with its prototypes). */
struct st_mallinfo2 { size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; };
struct st_mallinfo  { int arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost; };

STRATA_API struct st_mallinfo2 strata_mallinfo2(void) {
  strata_stats_t st;
  strata_stats_get(&st);
  struct st_mallinfo2 mi;
  memset(&mi, 0, sizeof mi);
  mi.arena = st.segments * ST_SEGMENT_SIZE;
  mi.ordblks = st.pages_in_use;
  mi.hblks = st.large_count;
  mi.hblkhd = st.large_in_use;
  mi.uordblks = st.small_in_use + st.large_in_use;
  mi.fordblks = mi.arena > st.small_in_use ? mi.arena - st.small_in_use : 0;
  return mi;
}

static int clamp_int(size_t v) { return v > 0x7fffffff ? 0x7fffffff : (int)v; }

STRATA_API struct st_mallinfo strata_mallinfo(void) {
  struct st_mallinfo2 m = strata_mallinfo2();
  struct st_mallinfo mi = {
    clamp_int(m.arena), clamp_int(m.ordblks), clamp_int(m.smblks), clamp_int(m.hblks),
    clamp_int(m.hblkhd), clamp_int(m.usmblks), clamp_int(m.fsmblks), clamp_int(m.uordblks),
    clamp_int(m.fordblks), clamp_int(m.keepcost) };
  return mi;
}

STRATA_API void strata_malloc_stats(void) { strata_stats_print(stderr, 0); }

STRATA_API int strata_malloc_info(int options, FILE *fp) {
  if (options != 0 || fp == NULL) { errno = EINVAL; return -1; }
  strata_stats_t st;
  strata_stats_get(&st);
  fprintf(fp, "<malloc version=\"strata-%d.%d\">\n"
              "<heap nr=\"0\">\n"
              "<total type=\"segments\" count=\"%zu\" size=\"%zu\"/>\n"
              "<total type=\"small\" size=\"%zu\"/>\n"
              "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
              "<system type=\"current\" size=\"%zu\"/>\n"
              "<system type=\"resident\" size=\"%zu\"/>\n"
              "</heap>\n</malloc>\n",
          STRATA_VERSION_MAJOR, STRATA_VERSION_MINOR, st.segments, st.segments * ST_SEGMENT_SIZE,
          st.small_in_use, st.large_count, st.large_in_use, st.committed, st.resident);
  return 0;
}

#if STRATA_OVERRIDE
#define ST_ALIAS(fn) __attribute__((alias(#fn), visibility("default"), used))
int   malloc_trim(size_t) ST_ALIAS(strata_malloc_trim);
int   mallopt(int, int) ST_ALIAS(strata_mallopt);
struct st_mallinfo2 mallinfo2(void) ST_ALIAS(strata_mallinfo2);
struct st_mallinfo  mallinfo(void) ST_ALIAS(strata_mallinfo);
void  malloc_stats(void) ST_ALIAS(strata_malloc_stats);
int   malloc_info(int, FILE *) ST_ALIAS(strata_malloc_info);
#endif
