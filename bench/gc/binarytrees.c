/* bench/gc/binarytrees.c -- the Computer Language Benchmarks Game's
 * binary-trees, on a garbage collector.
 *
 * What it measures: allocation throughput and collection cost when almost
 * everything dies young: millions of complete binary trees are built,
 * walked once and dropped, while one long-lived tree stays live throughout.
 * It is the benchmark language implementations quote for their collectors,
 * so the figures compare with published ones.
 *
 * The program (depth n, default 21; min depth 4):
 *   1. build a "stretch" tree of depth n+1, count its nodes, drop it;
 *   2. build a long-lived tree of depth n;
 *   3. for d = 4, 6, ..., n: build 2^(n-d+4) trees of depth d bottom-up,
 *      count each tree's nodes (a full walk), drop it;
 *   4. count the long-lived tree's nodes.
 * A node is two pointers (16 bytes, typed: BITMAP 0x3; --conservative
 * allocates conservative objects).  With --threads T the iterations of each
 * depth are dealt out round-robin to T threads (the main thread is one).
 *
 * Checking: check = the sum of every node count printed by the classic
 * program (fixed by n, whatever the thread count); a count that is not
 * 2^(d+1)-1 means a damaged tree and prints check=FAIL.
 *
 * Usage: binarytrees [--threads T] [--conservative] [DEPTH]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcb_util.h"

typedef struct tnode {
  struct tnode *left, *right;
} tnode_t;

static const gc_type_t tnode_type = GC_TYPE_BITMAP("binarytrees.node", sizeof(tnode_t), 0x3);
static int conservative;

static tnode_t *bottom_up(int depth) {
  tnode_t *n = conservative ? gc_alloc(sizeof(tnode_t))
                            : gc_alloc_typed(&tnode_type, sizeof(tnode_t));
  if (depth > 0) {
    tnode_t *l = bottom_up(depth - 1);
    tnode_t *r = bottom_up(depth - 1);
    GC_SET(n, n->left, l);
    GC_SET(n, n->right, r);
  }
  return n;
}

static long item_check(const tnode_t *n) {
  if (!n->left) return 1;
  return 1 + item_check(n->left) + item_check(n->right);
}

static long full_size(int depth) { return (1L << (depth + 1)) - 1; }

typedef struct worker {
  int id, nthreads, min_depth, max_depth;
  long sum;          /* node counts of this worker's trees */
  int ok;
  pthread_t tid;
} worker_t;

/* Worker w builds iterations w.id, w.id + T, ... of every depth. */
static void *work(void *arg) {
  worker_t *w = arg;
  if (w->id) gc_register_thread();
  w->ok = 1;
  for (int d = w->min_depth; d <= w->max_depth; d += 2) {
    long iters = 1L << (w->max_depth - d + w->min_depth);
    for (long k = w->id; k < iters; k += w->nthreads) {
      long c = item_check(bottom_up(d));
      w->ok &= c == full_size(d);
      w->sum += c;
    }
  }
  if (w->id) gc_unregister_thread();
  return NULL;
}

int main(int argc, char **argv) {
  int n = 21, nthreads = 1;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--conservative")) conservative = 1;
    else if (!strcmp(argv[a], "--threads") && a + 1 < argc) nthreads = atoi(argv[++a]);
    else if (argv[a][0] >= '0' && argv[a][0] <= '9') n = atoi(argv[a]);
    else {
      fprintf(stderr, "usage: binarytrees [--threads T] [--conservative] [DEPTH]\n");
      return 2;
    }
  }
  const int min_depth = 4;
  int max_depth = n < min_depth + 2 ? min_depth + 2 : n;
  if (nthreads < 1) nthreads = 1;
  if (nthreads > 64) nthreads = 64;

  gc_init();
  gcb_stats_t s0, s1, w;
  gc_stats(&s0);
  double t0 = gcb_now();
  int ok = 1;
  long check = 0;

  long c = item_check(bottom_up(max_depth + 1));
  ok &= c == full_size(max_depth + 1);
  check += c;
  fprintf(stderr, "stretch tree of depth %d\t check: %ld\n", max_depth + 1, c);

  tnode_t *long_lived = bottom_up(max_depth);

  worker_t workers[64];
  memset(workers, 0, sizeof workers);
  for (int i = 0; i < nthreads; i++) {
    workers[i] = (worker_t){.id = i, .nthreads = nthreads, .min_depth = min_depth,
                            .max_depth = max_depth};
    if (i && pthread_create(&workers[i].tid, NULL, work, &workers[i]) != 0) {
      perror("pthread_create");
      return 1;
    }
  }
  work(&workers[0]);
  gc_block_begin();
  for (int i = 1; i < nthreads; i++) pthread_join(workers[i].tid, NULL);
  gc_block_end();
  for (int i = 0; i < nthreads; i++) {
    ok &= workers[i].ok;
    check += workers[i].sum;
  }

  c = item_check(long_lived);
  ok &= c == full_size(max_depth);
  check += c;
  fprintf(stderr, "long lived tree of depth %d\t check: %ld\n", max_depth, c);
  double t1 = gcb_now();
  gc_stats(&s1);
  gc_stats_window(&s0, &s1, &w);

  char checks[32], bench[48], extra[64];
  if (ok) snprintf(checks, sizeof checks, "%ld", check);
  else snprintf(checks, sizeof checks, "FAIL");
  snprintf(bench, sizeof bench, "binarytrees%s%s", nthreads > 1 ? "-mt" : "",
           conservative ? "-cons" : "");
  snprintf(extra, sizeof extra, "depth=%d threads=%d", max_depth, nthreads);
  gcb_report(bench, t1 - t0, &w, checks, extra);
  return ok ? 0 : 1;
}
