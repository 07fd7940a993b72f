/* Statistics: strata_stats_get gathers them from the page heap (segments
 * and spans, under its lock), the large blocks, the thread caches and the
 * OS layer; strata_stats_print writes them as text or JSON.
 *
 * Derived figures (see include/strata/stats.h):
 *   requested      per class, live blocks x (bytes asked / mallocs so far),
 *                  plus the exact request of every live large block;
 *   internal_frag  1 - requested / in_blocks;
 *   external_frag  1 - in_blocks / (in_spans + large mapped).
 * Nothing here holds a lock while calling stdio (which may call malloc).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "malloc/internal.h"

static int stats_get(strata_stats_t *st);
STRATA_API int strata_stats_get(strata_stats_t *st) {
  ST_VG_QUIET_BEGIN;
  int r = stats_get(st);
  ST_VG_QUIET_END;
  return r;
}

static int stats_get(strata_stats_t *st) {
  if (st == NULL) { errno = EINVAL; return -1; }
  memset(st, 0, sizeof *st);
  _st_remote_quiesce();        /* the caller's pending remote frees count as freed */
  for (unsigned c = 0; c < ST_NCLASSES && c < STRATA_STATS_CLASSES; c++)
    st->classes[c].block_size = _st_class_size(c);
  _st_segments_stats(st);
  size_t pend[ST_NCLASSES] = {0};
  _st_remote_pending(pend);      /* freed, waiting in other threads' batches */
  for (unsigned c = 0; c < ST_NCLASSES && c < STRATA_STATS_CLASSES; c++) {
    size_t d = pend[c] < st->classes[c].blocks_in_use ? pend[c] : st->classes[c].blocks_in_use;
    st->classes[c].blocks_in_use -= d;
    st->small_in_use -= d * _st_class_size(c);
    st->in_blocks -= d * _st_class_size(c);
  }
  _st_large_stats(st);
  _st_heaps_stats(st);
  st->misuses = _st_misuse_count();
  size_t small_req = 0;
  for (unsigned c = 0; c < ST_NCLASSES; c++) {
    strata_class_stats_t *k = &st->classes[c];
    if (k->mallocs == 0) { small_req += k->blocks_in_use * k->block_size; continue; }
    double mean = (double)k->requested / (double)k->mallocs;
    small_req += (size_t)(mean * (double)k->blocks_in_use);
  }
  st->requested += small_req;
  if (st->requested > st->in_blocks) st->requested = st->in_blocks;
  st->internal_frag = st->in_blocks ? 1.0 - (double)st->requested / (double)st->in_blocks : 0.0;
  double held = (double)(st->in_spans + st->large_in_use);
  st->external_frag = held > 0 ? 1.0 - (double)st->in_blocks / held : 0.0;
  if (st->external_frag < 0) st->external_frag = 0;
  st->resident = _st_os_resident();
  st->os_maps = _st_os_maps();
  st->os_unmaps = _st_os_unmaps();
  st->os_calls = _st_os_calls();
  st->purges = _st_os_purges(&st->purged_total);
  _st_limits_stats(st);
  _st_guarded_stats(st);
  return 0;
}

STRATA_API int strata_stats(strata_stats_t *st) __attribute__((alias("strata_stats_get")));

STRATA_API size_t strata_os_resident(void) { return _st_os_resident(); }

static void print_text(FILE *fp, const strata_stats_t *st) {
  const double M = 1024.0 * 1024.0;
  fprintf(fp, "strata %d.%d statistics\n", STRATA_VERSION_MAJOR, STRATA_VERSION_MINOR);
  fprintf(fp, "  memory     resident %.1f MiB, committed %.1f MiB, reserved %.1f MiB, purged now %.1f MiB\n",
          st->resident / M, st->committed / M, st->reserved / M, st->purged / M);
  fprintf(fp, "  program    requested ~%.1f MiB in blocks of %.1f MiB (spans %.1f MiB, large %zu blocks %.1f MiB)\n",
          st->requested / M, st->in_blocks / M, st->in_spans / M, st->large_count, st->large_in_use / M);
  fprintf(fp, "  waste      internal %.1f%%, external %.1f%%; large cache %.1f MiB\n",
          100 * st->internal_frag, 100 * st->external_frag, st->large_cached / M);
  fprintf(fp, "  structure  %zu segments, %zu spans (%zu abandoned), %zu thread caches\n",
          st->segments, st->pages_in_use, st->pages_abandoned, st->heaps);
  fprintf(fp, "  events     %zu remote frees, %zu purges (%.1f MiB), %zu OS calls (%zu mmap, %zu munmap), "
          "%zu refused by the hard limit, %zu misuses\n",
          st->remote_frees, st->purges, st->purged_total / M, st->os_calls, st->os_maps, st->os_unmaps,
          st->limit_failures, st->misuses);
  if (st->soft_limit || st->hard_limit)
    fprintf(fp, "  limits     soft %.1f MiB, hard %.1f MiB (0 = none)\n", st->soft_limit / M, st->hard_limit / M);
  if (st->guarded_sampled || st->guarded_fallbacks || st->guarded_detections)
    fprintf(fp, "  guarded    %zu sampled (%zu live), %zu fallbacks, %zu detections\n",
            st->guarded_sampled, st->guarded_live, st->guarded_fallbacks, st->guarded_detections);
  int header = 0;
  for (unsigned c = 0; c < STRATA_STATS_CLASSES; c++) {
    const strata_class_stats_t *k = &st->classes[c];
    if (k->blocks_in_use == 0 && k->spans == 0) continue;
    if (!header) { fprintf(fp, "  %8s %10s %6s %10s %12s %9s\n", "class", "live", "spans", "span KiB", "mallocs", "mean req"); header = 1; }
    fprintf(fp, "  %8zu %10zu %6zu %10zu %12zu %9.1f\n", k->block_size, k->blocks_in_use, k->spans,
            k->span_bytes >> 10, k->mallocs, k->mallocs ? (double)k->requested / (double)k->mallocs : 0.0);
  }
}

static void print_json(FILE *fp, const strata_stats_t *st) {
  fprintf(fp, "{\"version\":\"%d.%d\",\"reserved\":%zu,\"committed\":%zu,\"resident\":%zu,\"purged\":%zu,"
              "\"requested\":%zu,\"in_blocks\":%zu,\"in_spans\":%zu,\"small_in_use\":%zu,"
              "\"large_in_use\":%zu,\"large_count\":%zu,\"large_cached\":%zu,"
              "\"internal_frag\":%.4f,\"external_frag\":%.4f,\"segments\":%zu,\"pages_in_use\":%zu,"
              "\"pages_abandoned\":%zu,\"heaps\":%zu,\"remote_frees\":%zu,\"purges\":%zu,"
              "\"purged_total\":%zu,\"os_maps\":%zu,\"os_unmaps\":%zu,\"os_calls\":%zu,"
              "\"limit_failures\":%zu,\"misuses\":%zu,\"soft_limit\":%zu,\"hard_limit\":%zu,\"classes\":[",
          STRATA_VERSION_MAJOR, STRATA_VERSION_MINOR, st->reserved, st->committed, st->resident, st->purged,
          st->requested, st->in_blocks, st->in_spans, st->small_in_use, st->large_in_use, st->large_count,
          st->large_cached, st->internal_frag, st->external_frag, st->segments, st->pages_in_use,
          st->pages_abandoned, st->heaps, st->remote_frees, st->purges, st->purged_total, st->os_maps,
          st->os_unmaps, st->os_calls, st->limit_failures, st->misuses, st->soft_limit, st->hard_limit);
  for (unsigned c = 0; c < STRATA_STATS_CLASSES; c++) {
    const strata_class_stats_t *k = &st->classes[c];
    fprintf(fp, "%s{\"block_size\":%zu,\"blocks_in_use\":%zu,\"spans\":%zu,\"span_bytes\":%zu,"
                "\"mallocs\":%zu,\"requested\":%zu}",
            c ? "," : "", k->block_size, k->blocks_in_use, k->spans, k->span_bytes, k->mallocs, k->requested);
  }
  fprintf(fp, "],\"guarded_sampled\":%zu,\"guarded_live\":%zu,\"guarded_fallbacks\":%zu,"
              "\"guarded_detections\":%zu}\n",
          st->guarded_sampled, st->guarded_live, st->guarded_fallbacks, st->guarded_detections);
}

STRATA_API int strata_stats_print(FILE *fp, int json) {
  if (fp == NULL) { errno = EINVAL; return -1; }
  strata_stats_t st;
  strata_stats_get(&st);
  if (json) print_json(fp, &st); else print_text(fp, &st);
  return fflush(fp) == 0 ? 0 : -1;
}
