/* bench/gc/pauses.c -- pause times with a large live heap under steady
 * allocation from several threads.
 *
 * What it measures: how long the collector stops the program when the live
 * heap is large (default about 1 GiB of small objects) and the program keeps
 * allocating and mutating.  A stop-the-world marker stops every thread for
 * as long as it takes to mark the whole heap (Boehm: tens to hundreds of
 * ms); a concurrent one should stop each thread only briefly.  This is the
 * benchmark behind the pause targets (max under 1 ms, p99 under
 * 250 us).
 *
 * The program:
 *   1. build the live heap with automatic collections off: a directory of
 *      chunks, each chunk an array of 512 slots, each slot the head of a
 *      list of L (default 4) nodes of 48 bytes; then one full collection;
 *   2. for S seconds (default 10), T threads (default 2) each own a share
 *      of the slots and repeat one operation: pick a random slot of their
 *      share, walk and verify its list, build a fresh list of L nodes and
 *      store it in the slot (the old list becomes garbage).  Every pointer
 *      store goes through the write barrier (gc_write).  The live heap stays
 *      the same size; the program allocates as fast as it can.
 *   3. verify every slot's list.
 * The collector figures (collections, pauses) cover phase 2 only.  Each
 * thread also times every operation, which catches what the collector's own
 * pause figures leave out -- time a thread spends collecting inside an
 * allocation call (Boehm's incremental steps, strata's mark assists), or
 * waiting on a lock while another thread collects: stall_max_us is the
 * longest operation seen, stalls_1ms how many took over 1 ms.
 *
 * Checking: a node records its slot, its position in the list and the
 * generation it was built in, and a tag of these; every walk checks them,
 * so a node freed while still reachable is caught when its slot is next
 * picked or at the final walk.  check = slots * L when all is intact.
 *
 * Usage: pauses [--heap SIZE] [--seconds S] [--threads T] [--list L]
 *               [--conservative]        (SIZE takes k/m/g; default 1g)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcb_util.h"

#define CHUNK_SLOTS 512
#define MAX_THREADS 16
#define MAX_LIST 64

typedef struct pnode {
  struct pnode *next;
  uint64_t key;     /* slot << 8 | position in the list */
  uint64_t gen;     /* the slot's generation when the list was built */
  uint64_t tag;     /* gcb_tag(key, gen) */
  uint64_t payload[2];
} pnode_t;

typedef struct chunk { pnode_t *slot[CHUNK_SLOTS]; } chunk_t;

static const gc_type_t pnode_type = GC_TYPE_BITMAP("pauses.node", sizeof(pnode_t), 0x1);
static const gc_type_t ptrs_type = GC_TYPE_BITMAP("pauses.ptrs", sizeof(void *), 0x1);

static int conservative;
static int list_len = 4;
static atomic_int stop;

static void *alloc_node(void) {
  return conservative ? gc_alloc(sizeof(pnode_t)) : gc_alloc_typed(&pnode_type, sizeof(pnode_t));
}
static void *alloc_ptrs(size_t n) {
  return conservative ? gc_alloc(n * sizeof(void *)) : gc_alloc_typed(&ptrs_type, n * sizeof(void *));
}

/* A fresh list for slot s, generation g; built tail first. */
static pnode_t *build_list(uint64_t s, uint64_t g) {
  pnode_t *head = NULL;
  for (int i = list_len - 1; i >= 0; i--) {
    pnode_t *n = alloc_node();
    n->key = s << 8 | (uint64_t)i;
    n->gen = g;
    n->tag = gcb_tag(n->key, g);
    n->payload[0] = n->payload[1] = g;
    GC_SET(n, n->next, head);
    head = n;
  }
  return head;
}

/* 1 if the list in slot s is whole; *gen gets its generation. */
static int verify_list(const pnode_t *n, uint64_t s, uint64_t *gen) {
  uint64_t g = n ? n->gen : 0;
  for (int i = 0; i < list_len; i++, n = n->next) {
    if (!n || n->key != (s << 8 | (uint64_t)i) || n->gen != g || n->tag != gcb_tag(n->key, g))
      return 0;
  }
  *gen = g;
  return n == NULL;
}

typedef struct heap {
  chunk_t **dir;
  size_t nslots, nchunks;
} heap_t;

static pnode_t **slot_ref(const heap_t *h, size_t s, chunk_t **chunk) {
  *chunk = h->dir[s / CHUNK_SLOTS];
  return &(*chunk)->slot[s % CHUNK_SLOTS];
}

typedef struct worker {
  const heap_t *heap;
  int id, nthreads;
  pthread_t tid;
  uint64_t ops, bytes, bad;
  uint64_t stall_max_ns, stalls_1ms;
} worker_t;

static void *mutate(void *arg) {
  worker_t *w = arg;
  gc_register_thread();
  const heap_t *h = w->heap;
  size_t lo = h->nslots * (size_t)w->id / (size_t)w->nthreads;
  size_t hi = h->nslots * (size_t)(w->id + 1) / (size_t)w->nthreads;
  gcb_rng_t rng;
  gcb_rng_seed(&rng, (uint64_t)w->id + 1);
  uint64_t t = gcb_now_ns();
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int k = 0; k < 256; k++) {
      size_t s = lo + gcb_rng_next(&rng) % (hi - lo);
      chunk_t *c;
      pnode_t **ref = slot_ref(h, s, &c);
      uint64_t g = 0;
      if (!verify_list(*ref, s, &g)) w->bad++;
      gc_write(c, (void **)ref, build_list(s, g + 1));
      uint64_t t2 = gcb_now_ns(), d = t2 - t;
      t = t2;
      if (d > w->stall_max_ns) w->stall_max_ns = d;
      if (d > 1000000) w->stalls_1ms++;
    }
    w->ops += 256;
  }
  w->bytes = w->ops * (uint64_t)list_len * sizeof(pnode_t);
  gc_unregister_thread();
  return NULL;
}

/* Sleep until the monotonic clock reads `when` (s): a collector's signals
 * (Boehm stops threads with them) cut a plain sleep short. */
static void sleep_until(double when) {
  struct timespec ts = {.tv_sec = (time_t)when,
                        .tv_nsec = (long)((when - (double)(time_t)when) * 1e9)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
  }
}

int main(int argc, char **argv) {
  size_t heap_bytes = (size_t)1 << 30;
  double seconds = 10;
  int nthreads = 2;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--conservative")) conservative = 1;
    else if (!strcmp(argv[a], "--heap") && a + 1 < argc) heap_bytes = gcb_parse_size(argv[++a]);
    else if (!strcmp(argv[a], "--seconds") && a + 1 < argc) seconds = atof(argv[++a]);
    else if (!strcmp(argv[a], "--threads") && a + 1 < argc) nthreads = atoi(argv[++a]);
    else if (!strcmp(argv[a], "--list") && a + 1 < argc) list_len = atoi(argv[++a]);
    else {
      fprintf(stderr, "usage: pauses [--heap SIZE] [--seconds S] [--threads T] [--list L] "
                      "[--conservative]\n");
      return 2;
    }
  }
  if (nthreads < 1) nthreads = 1;
  if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
  if (list_len < 1) list_len = 1;
  if (list_len > MAX_LIST) list_len = MAX_LIST;

  gc_init();

  /* 1. the live heap */
  heap_t h;
  h.nslots = heap_bytes / ((size_t)list_len * sizeof(pnode_t) + sizeof(void *));
  if (h.nslots < (size_t)nthreads * 16) h.nslots = (size_t)nthreads * 16;
  h.nchunks = (h.nslots + CHUNK_SLOTS - 1) / CHUNK_SLOTS;
  double tb = gcb_now();
  gc_disable();
  h.dir = alloc_ptrs(h.nchunks);
  for (size_t ci = 0; ci < h.nchunks; ci++) {
    chunk_t *c = alloc_ptrs(CHUNK_SLOTS);
    GC_SET(h.dir, h.dir[ci], c);
    for (size_t j = 0; j < CHUNK_SLOTS && ci * CHUNK_SLOTS + j < h.nslots; j++)
      GC_SET(c, c->slot[j], build_list(ci * CHUNK_SLOTS + j, 0));
  }
  gc_enable();
  gc_collect();
  double build_s = gcb_now() - tb;
  long rss_built = gcb_peak_rss_kb();

  /* 2. steady allocation */
  worker_t w[MAX_THREADS];
  memset(w, 0, sizeof w);
  gcb_stats_t s0, s1, win;
  gc_stats(&s0);
  double t0 = gcb_now();
  for (int i = 0; i < nthreads; i++) {
    w[i] = (worker_t){.heap = &h, .id = i, .nthreads = nthreads};
    if (pthread_create(&w[i].tid, NULL, mutate, &w[i]) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  gc_block_begin();
  sleep_until(t0 + seconds);
  atomic_store(&stop, 1);
  for (int i = 0; i < nthreads; i++) pthread_join(w[i].tid, NULL);
  gc_block_end();
  double t1 = gcb_now();
  gc_stats(&s1);
  gc_stats_window(&s0, &s1, &win);

  /* 3. the final walk */
  uint64_t ops = 0, bytes = 0, bad = 0, stall_max = 0, stalls = 0, intact = 0;
  for (int i = 0; i < nthreads; i++) {
    ops += w[i].ops;
    bytes += w[i].bytes;
    bad += w[i].bad;
    stalls += w[i].stalls_1ms;
    if (w[i].stall_max_ns > stall_max) stall_max = w[i].stall_max_ns;
  }
  for (size_t s = 0; s < h.nslots; s++) {
    chunk_t *c;
    uint64_t g;
    if (verify_list(*slot_ref(&h, s, &c), s, &g)) intact += (uint64_t)list_len;
  }
  int ok = bad == 0 && intact == (uint64_t)h.nslots * (uint64_t)list_len;

  double dt = t1 - t0;
  char check[32], extra[384];
  if (ok) snprintf(check, sizeof check, "%llu", (unsigned long long)intact);
  else snprintf(check, sizeof check, "FAIL");
  snprintf(extra, sizeof extra,
           "alloc_mb_s=%.1f ops=%llu stall_max_us=%.1f stalls_1ms=%llu heap_mb=%zu threads=%d "
           "list=%d build_s=%.2f rss_built_kb=%ld bad=%llu pause_max_ack_us=%.1f stops_taken_back=%llu",
           (double)bytes / dt / 1048576.0, (unsigned long long)ops, stall_max / 1e3,
           (unsigned long long)stalls, heap_bytes >> 20, nthreads, list_len, build_s, rss_built,
           (unsigned long long)bad, win.pause_max_ack_ns / 1e3,
           (unsigned long long)win.taken_back);
  gcb_report(conservative ? "pauses-cons" : "pauses", dt, &win, check, extra);
  return ok ? 0 : 1;
}
