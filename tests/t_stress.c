/* t_stress.c -- multithreaded stress with byte-exact content checks.
 *
 * Phase 1: T threads each run random malloc/calloc/realloc/aligned_alloc/
 *          posix_memalign/free on their own slots, sizes 1 B .. 4 MiB skewed
 *          small; every block carries a pattern derived from address, size
 *          and a seed, checked in full before every free and realloc.
 * Phase 2: producers allocate and fill, consumers (other threads) verify and
 *          free (or realloc then free), through mutex-protected batch queues.
 * Phase 3: thousands of short-lived threads, a few at a time; each allocates,
 *          hands some blocks to a long-lived reaper thread, frees blocks left
 *          by earlier (exited) threads and exits holding live blocks that
 *          later threads or the main thread free.
 * Each phase is bounded by an operation count and a time budget.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/stats.h"
#include "test.h"

static double t_start;
static atomic_ulong total_ops;

/* Size distribution: mostly < 1 KiB, some to 4 MiB. */
static size_t rnd_size(uint64_t *rs) {
  uint64_t r = rnd_next(rs);
  unsigned pct = (unsigned)(r % 10000);
  uint64_t x = r >> 20;
  if (pct < 7000) return 1 + x % 512;
  if (pct < 9000) return 1 + x % 1024;
  if (pct < 9700) return 1024 + x % 15360;
  if (pct < 9960) return 16384 + x % (256 * 1024 - 16384);
  if (pct < 9995) return 256 * 1024 + x % (768 * 1024);
  return (1 << 20) + x % (3 << 20);
}

/* ------------------------------------------------------------ phase 1 */

enum { SLOTS = 1500 };
static long p1_ops_per_thread = 150000;
static double p1_budget = 4.0;

static void *p1_worker(void *arg) {
  uint64_t rs = 0x1234567ULL + (uintptr_t)arg * 0x9E3779B97F4A7C15ULL;
  blk_t *s = calloc(SLOTS, sizeof *s);
  CHECK(s != NULL, "calloc slots");
  double end = t_start + p1_budget;
  long ops = 0;
  for (; ops < p1_ops_per_thread; ops++) {
    if ((ops & 1023) == 0 && now_sec() > end) break;
    uint64_t r = rnd_next(&rs);
    blk_t *b = &s[r % SLOTS];
    unsigned op = (unsigned)((r >> 32) % 100);
    if (b->p) {
      blk_vfy(b, "phase1 before free/realloc");
      if (op < 60) {
        if (op < 5) strata_free(b->p); else free(b->p);
        b->p = NULL;
      } else {
        size_t nn = rnd_size(&rs);
        void *q = op < 65 ? strata_realloc(b->p, nn) : realloc(b->p, nn);
        CHECK(q != NULL, "realloc(%zu -> %zu) failed", b->n, nn);
        size_t keep = nn < b->n ? nn : b->n;
        size_t bad = pat_check(q, keep, b->seed);
        CHECK(bad == 0, "realloc(%p, %zu -> %zu) = %p lost contents at %zu", b->p, b->n, nn, q, bad - 1);
        b->p = q; b->n = nn;
        blk_fill(b, r);
      }
    } else {
      size_t n = rnd_size(&rs);
      void *p = NULL;
      size_t al = 0;
      if (op < 50) p = malloc(n);
      else if (op < 65) {
        p = (op & 1) ? calloc(1, n) : calloc(n, 1);
        CHECK(p != NULL, "calloc(%zu)", n);
        CHECK(mem_is_zero(p, n), "calloc(%zu) = %p not zeroed", n, p);
      } else if (op < 75) {
        al = (size_t)1 << (4 + (r >> 8) % 9); /* 16 .. 4096 */
        p = aligned_alloc(al, n);
      } else if (op < 80) {
        al = (size_t)1 << (3 + (r >> 8) % 14); /* 8 .. 64 KiB */
        int rc = posix_memalign(&p, al, n);
        CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", al, n, rc);
      } else if (op < 85) {
        al = (size_t)64 << ((r >> 8) % 4);
        p = memalign(al, n);
      } else if (op < 90) {
        p = strata_malloc(n);
      } else {
        p = realloc(NULL, n);
      }
      CHECK(p != NULL, "allocation of %zu bytes (op %u) failed, errno %d", n, op, errno);
      if (al) CHECK(((uintptr_t)p & (al - 1)) == 0, "alignment %zu: got %p", al, p);
      else CHECK(((uintptr_t)p & 15) == 0 || n < 16, "malloc(%zu) = %p not 16-byte aligned", n, p);
      if ((r & 0xff) == 0) {
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "malloc_usable_size(%p) = %zu < %zu", p, u, n);
      }
      b->p = p; b->n = n;
      blk_fill(b, r);
    }
  }
  for (int i = 0; i < SLOTS; i++)
    if (s[i].p) { blk_vfy(&s[i], "phase1 final"); free(s[i].p); }
  free(s);
  atomic_fetch_add(&total_ops, (unsigned long)ops);
  return (void *)(intptr_t)ops;
}

static void phase1(int nthreads) {
  pthread_t th[16];
  t_start = now_sec();
  for (int i = 0; i < nthreads; i++)
    th[i] = test_spawn(p1_worker, (void *)(intptr_t)i);
  long ops = 0;
  for (int i = 0; i < nthreads; i++) ops += (long)(intptr_t)test_join(th[i]);
  printf("phase 1: %d threads, %ld ops in %.2f s\n", nthreads, ops, now_sec() - t_start);
  CHECK(ops >= 20000, "phase 1 made too little progress (%ld ops): the allocator is far too slow", ops);
  CHECK(strata_heap_check() == 0, "strata_heap_check() after phase 1");
}

/* ------------------------------------------------------------ phase 2 */

enum { QCAP = 4096, BATCH = 32 };
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  blk_t item[QCAP];
  size_t head, count;
  int producers_left;
} queue_t;

static queue_t q2 = { .mu = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
                      .not_full = PTHREAD_COND_INITIALIZER };

static void q_push(queue_t *q, const blk_t *b, int n) {
  pthread_mutex_lock(&q->mu);
  while (q->count + (size_t)n > QCAP) pthread_cond_wait(&q->not_full, &q->mu);
  for (int i = 0; i < n; i++) q->item[(q->head + q->count++) % QCAP] = b[i];
  pthread_cond_broadcast(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
}
/* Pops up to max items; returns 0 when producers are done and queue empty. */
static int q_pop(queue_t *q, blk_t *b, int max) {
  pthread_mutex_lock(&q->mu);
  while (q->count == 0 && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->mu);
  int n = 0;
  while (n < max && q->count) {
    b[n++] = q->item[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
  }
  pthread_cond_broadcast(&q->not_full);
  pthread_mutex_unlock(&q->mu);
  return n;
}

static long p2_items_per_producer = 120000;
static double p2_budget = 4.0;

static void *p2_producer(void *arg) {
  uint64_t rs = 0xABCDEF12345ULL ^ ((uintptr_t)arg << 17);
  blk_t batch[BATCH];
  double end = t_start + p2_budget;
  long i = 0;
  for (; i < p2_items_per_producer; i += BATCH) {
    if (now_sec() > end) break;
    for (int k = 0; k < BATCH; k++) {
      size_t n = rnd_size(&rs);
      if (n > (1 << 20) && (rnd_next(&rs) & 3)) n >>= 4; /* fewer huge ones in flight */
      batch[k].n = n;
      batch[k].p = (k & 3) == 3 ? strata_malloc(n) : malloc(n);
      CHECK(batch[k].p != NULL, "producer malloc(%zu)", n);
      blk_fill(&batch[k], (uint64_t)i + k);
    }
    q_push(&q2, batch, BATCH);
  }
  pthread_mutex_lock(&q2.mu);
  q2.producers_left--;
  pthread_cond_broadcast(&q2.not_empty);
  pthread_mutex_unlock(&q2.mu);
  atomic_fetch_add(&total_ops, (unsigned long)i);
  return (void *)(intptr_t)i;
}

static void *p2_consumer(void *arg) {
  uint64_t rs = 0x77ULL + (uintptr_t)arg;
  blk_t batch[BATCH];
  long got = 0;
  int n;
  while ((n = q_pop(&q2, batch, BATCH)) > 0) {
    for (int k = 0; k < n; k++) {
      blk_t *b = &batch[k];
      blk_vfy(b, "consumer");
      uint64_t r = rnd_next(&rs);
      if (r % 8 == 0) { /* grow or shrink in the consumer, then free */
        size_t nn = 1 + (r >> 8) % (2 * b->n + 16);
        void *q = realloc(b->p, nn);
        CHECK(q != NULL, "consumer realloc(%zu -> %zu)", b->n, nn);
        size_t keep = nn < b->n ? nn : b->n;
        size_t bad = pat_check(q, keep, b->seed);
        CHECK(bad == 0, "consumer realloc(%zu -> %zu) lost contents at %zu", b->n, nn, bad - 1);
        b->p = q; b->n = nn;
        blk_fill(b, r);
        blk_vfy(b, "consumer after realloc");
      }
      if (r % 5 == 1) strata_free(b->p); else free(b->p);
      got++;
    }
  }
  atomic_fetch_add(&total_ops, (unsigned long)got);
  return (void *)(intptr_t)got;
}

static void phase2(int np, int nc) {
  pthread_t pt[8], ct[8];
  t_start = now_sec();
  q2.producers_left = np;
  for (int i = 0; i < np; i++) pt[i] = test_spawn(p2_producer, (void *)(intptr_t)i);
  for (int i = 0; i < nc; i++) ct[i] = test_spawn(p2_consumer, (void *)(intptr_t)i);
  long made = 0, eaten = 0;
  for (int i = 0; i < np; i++) made += (long)(intptr_t)test_join(pt[i]);
  for (int i = 0; i < nc; i++) eaten += (long)(intptr_t)test_join(ct[i]);
  printf("phase 2: %d producers, %d consumers, %ld blocks in %.2f s\n", np, nc, made, now_sec() - t_start);
  CHECK(made == eaten, "produced %ld blocks but consumed %ld", made, eaten);
  CHECK(made >= 10000, "phase 2 made too little progress (%ld blocks)", made);
  CHECK(strata_heap_check() == 0, "strata_heap_check() after phase 2");
}

/* ------------------------------------------------------------ phase 3 */

enum { ORPH_MAX = 8192 };
static pthread_mutex_t orph_mu = PTHREAD_MUTEX_INITIALIZER;
static blk_t orphans[ORPH_MAX];
static int n_orphans;
static queue_t reap_q = { .mu = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
                          .not_full = PTHREAD_COND_INITIALIZER };
static int p3_threads = 3000;
static double p3_budget = 5.0;

static void *reaper(void *arg) {
  (void)arg;
  blk_t batch[BATCH];
  long got = 0;
  int n;
  while ((n = q_pop(&reap_q, batch, BATCH)) > 0)
    for (int k = 0; k < n; k++) { blk_vfy(&batch[k], "reaper"); free(batch[k].p); got++; }
  atomic_fetch_add(&total_ops, (unsigned long)got);
  return (void *)(intptr_t)got;
}

static void *shortlived(void *arg) {
  uintptr_t id = (uintptr_t)arg;
  uint64_t rs = 0x5151ULL * (id + 1);
  long ops = 0;
  /* Half the threads start by freeing orphans left by exited threads (so
   * their very first allocator call is a free). */
  int first_free = id & 1;
  blk_t mine[24];
  if (first_free) goto take_orphans;
allocate:
  for (int i = 0; i < 24; i++) {
    size_t n = rnd_size(&rs);
    if (n > 65536) n = 1 + n % 65536;
    mine[i].n = n;
    mine[i].p = (i % 3 == 0) ? calloc(1, n) : malloc(n);
    CHECK(mine[i].p != NULL, "short-lived thread malloc(%zu)", n);
    blk_fill(&mine[i], id * 100 + i);
    ops++;
  }
  q_push(&reap_q, mine, 8);            /* 8 to the reaper */
  for (int i = 8; i < 16; i++) {       /* 8 freed here */
    blk_vfy(&mine[i], "short-lived own");
    free(mine[i].p);
    ops++;
  }
  pthread_mutex_lock(&orph_mu);        /* 8 left live for others */
  for (int i = 16; i < 24; i++) {
    if (n_orphans < ORPH_MAX) orphans[n_orphans++] = mine[i];
    else { blk_vfy(&mine[i], "short-lived own"); free(mine[i].p); }
  }
  pthread_mutex_unlock(&orph_mu);
  if (first_free) goto done;
take_orphans:
  {
    blk_t took[8];
    int k = 0;
    pthread_mutex_lock(&orph_mu);
    while (k < 8 && n_orphans > 0) {
      unsigned idx = (unsigned)(rnd_next(&rs) % (uint64_t)n_orphans);
      took[k++] = orphans[idx];
      orphans[idx] = orphans[--n_orphans];
    }
    pthread_mutex_unlock(&orph_mu);
    for (int i = 0; i < k; i++) {
      blk_vfy(&took[i], "orphan from an exited thread");
      if (i & 1) {
        void *q = realloc(took[i].p, took[i].n * 2 + 1);
        CHECK(q != NULL, "realloc of an orphan");
        CHECK(pat_check(q, took[i].n, took[i].seed) == 0, "realloc of an orphan lost contents");
        took[i].p = q;
      }
      free(took[i].p);
      ops++;
    }
  }
  if (first_free) goto allocate;
done:
  atomic_fetch_add(&total_ops, (unsigned long)ops);
  return NULL;
}

static void phase3(int width) {
  pthread_t rp;
  t_start = now_sec();
  reap_q.producers_left = 1;
  rp = test_spawn(reaper, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  int made = 0;
  double end = t_start + p3_budget;
  while (made < p3_threads && now_sec() < end) {
    pthread_t th[8];
    int k = 0;
    for (; k < width && made < p3_threads; k++, made++)
      CHECK(pthread_create(&th[k], &attr, shortlived, (void *)(uintptr_t)made) == 0, "create short-lived #%d", made);
    for (int i = 0; i < k; i++) test_join(th[i]);
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&reap_q.mu);
  reap_q.producers_left = 0;
  pthread_cond_broadcast(&reap_q.not_empty);
  pthread_mutex_unlock(&reap_q.mu);
  void *reaped = test_join(rp);
  int left = n_orphans;
  CHECK(strata_heap_check() == 0, "strata_heap_check() with %d blocks of exited threads live", left);
  for (int i = 0; i < n_orphans; i++) { blk_vfy(&orphans[i], "main freeing orphans"); free(orphans[i].p); }
  n_orphans = 0;
  printf("phase 3: %d short-lived threads (%d at a time), reaper freed %ld, main freed %d orphans, %.2f s\n",
         made, width, (long)(intptr_t)reaped, left, now_sec() - t_start);
  CHECK(made >= 300, "phase 3 created only %d threads", made);
  CHECK(strata_heap_check() == 0, "strata_heap_check() after phase 3");
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "strata_stats_get");
  printf("stats: heaps %zu, segments %zu, pages in use %zu, abandoned %zu, resident %zu KiB\n",
         st.heaps, st.segments, st.pages_in_use, st.pages_abandoned, st.resident >> 10);
  CHECK(st.heaps < 64, "%zu thread caches still in use after %d threads exited (only the main thread is alive)",
        st.heaps, made);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  double t0 = now_sec();
  const char *quick = getenv("STRATA_TEST_QUICK");
  if (quick && *quick == '1') {
    p1_ops_per_thread /= 10; p2_items_per_producer /= 10; p3_threads /= 10;
  }
  phase1(6);
  phase2(3, 3);
  phase3(4);
  unsigned long ops = atomic_load(&total_ops);
  printf("t_stress: %lu operations in %.2f s, all passed\n", ops, now_sec() - t0);
  return 0;
}
