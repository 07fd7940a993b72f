/* bench/gc/gcbench.c -- GCBench, the Ellis / Kovac / Boehm tree benchmark.
 *
 * What it measures: raw allocation and collection throughput on a workload
 * with a small, stable old generation and a torrent of short-lived binary
 * trees -- the shape of many programs with a few long-lived tables and lots
 * of temporary structure.  It is the standard first benchmark of a
 * collector (it ships with the Boehm GC), so figures compare with the
 * literature.
 *
 * The program, in the classic shape:
 *   1. stretch the heap: build a tree of depth max+2 and drop it;
 *   2. build a long-lived tree of depth max (top-down) and a long-lived
 *      array of 500,000 doubles (noscan), which stay live to the end;
 *   3. for depth d = 4, 6, ..., max: build NumIters(d) trees of depth d
 *      top-down (allocate a node, then fill in its children) and as many
 *      bottom-up (children first, then the parent), dropping each at once.
 *      NumIters(d) = 2 * TreeSize(max+2) / TreeSize(d), so every depth
 *      allocates about the same number of nodes.
 * A node holds two pointers and two ints (24 bytes).  By default nodes are
 * typed (a BITMAP descriptor: words 0 and 1 are pointers); --conservative
 * allocates them as conservative objects instead.  (Boehm always allocates
 * them with GC_MALLOC: see gcapi.h.)
 *
 * Checking: every node carries its depth and a tag of it; the last tree of
 * each depth and kind, the long-lived tree and the array are walked and
 * verified.  check = the number of nodes verified (fixed by the parameters).
 *
 * Usage: gcbench [--conservative] [--max-depth N]   (default 16: classic)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcb_util.h"

typedef struct node {
  struct node *left, *right;
  int i, j;
} node_t;

static const gc_type_t node_type = GC_TYPE_BITMAP("gcbench.node", sizeof(node_t), 0x3);
static int conservative;

static node_t *new_node(void) {
  return conservative ? gc_alloc(sizeof(node_t)) : gc_alloc_typed(&node_type, sizeof(node_t));
}

static int node_tag(int depth) { return (int)(gcb_tag((uint64_t)depth, 17) & 0x7fffffff); }

static long tree_size(int depth) { return (1L << (depth + 1)) - 1; }
static long num_iters(int depth, int stretch) { return 2 * tree_size(stretch) / tree_size(depth); }

/* Give n children down to depth levels (n itself is at level `depth`). */
static void populate(int depth, node_t *n) {
  n->i = depth;
  n->j = node_tag(depth);
  if (depth <= 0) return;
  GC_SET(n, n->left, new_node());
  GC_SET(n, n->right, new_node());
  populate(depth - 1, n->left);
  populate(depth - 1, n->right);
}

/* Build the children first, then the node that holds them. */
static node_t *make_tree(int depth) {
  node_t *n;
  if (depth <= 0) {
    n = new_node();
  } else {
    node_t *l = make_tree(depth - 1);
    node_t *r = make_tree(depth - 1);
    n = new_node();
    GC_SET(n, n->left, l);
    GC_SET(n, n->right, r);
  }
  n->i = depth;
  n->j = node_tag(depth);
  return n;
}

/* Nodes in a complete tree of the given depth whose fields are intact, or
 * -1 at the first damaged node. */
static long verify(const node_t *n, int depth) {
  if (!n || n->i != depth || n->j != node_tag(depth)) return -1;
  if (depth == 0) return (n->left || n->right) ? -1 : 1;
  long l = verify(n->left, depth - 1);
  long r = verify(n->right, depth - 1);
  return (l < 0 || r < 0) ? -1 : l + r + 1;
}

int main(int argc, char **argv) {
  int max_depth = 16;
  for (int a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--conservative")) conservative = 1;
    else if (!strcmp(argv[a], "--max-depth") && a + 1 < argc) max_depth = atoi(argv[++a]);
    else {
      fprintf(stderr, "usage: gcbench [--conservative] [--max-depth N]\n");
      return 2;
    }
  }
  if (max_depth < 4) max_depth = 4;
  const int min_depth = 4, stretch = max_depth + 2, long_lived = max_depth;
  const long array_size = 500000;

  gc_init();
  gcb_stats_t s0, s1, w;
  gc_stats(&s0);
  double t0 = gcb_now();
  long verified = 0;
  int ok = 1;

  /* 1. stretch */
  node_t *tmp = make_tree(stretch);
  long c = verify(tmp, stretch);
  ok &= c == tree_size(stretch);
  verified += c;
  tmp = NULL;

  /* 2. the long-lived data */
  node_t *lived = new_node();
  populate(long_lived, lived);
  double *array = gc_alloc_atomic((size_t)array_size * sizeof(double));
  for (long i = 0; i < array_size; i++) array[i] = i < array_size / 2 ? 1.0 / (double)i : 0.0;

  /* 3. short-lived trees */
  for (int d = min_depth; d <= max_depth; d += 2) {
    long iters = num_iters(d, stretch);
    double td = gcb_now();
    for (long k = 0; k < iters; k++) {
      tmp = new_node();
      populate(d, tmp);
    }
    c = verify(tmp, d);
    ok &= c == tree_size(d);
    verified += c;
    double tb = gcb_now();
    for (long k = 0; k < iters; k++) tmp = make_tree(d);
    c = verify(tmp, d);
    ok &= c == tree_size(d);
    verified += c;
    tmp = NULL;
    fprintf(stderr, "# depth %2d: %6ld trees top-down %.3f s, bottom-up %.3f s\n", d, iters,
            tb - td, gcb_now() - tb);
  }

  c = verify(lived, long_lived);
  ok &= c == tree_size(long_lived);
  verified += c;
  ok &= array[1000] == 1.0 / 1000.0 && array[array_size - 1] == 0.0;
  double t1 = gcb_now();
  gc_stats(&s1);
  gc_stats_window(&s0, &s1, &w);

  char check[32], bench[32], extra[64];
  if (ok) snprintf(check, sizeof check, "%ld", verified);
  else snprintf(check, sizeof check, "FAIL");
  snprintf(bench, sizeof bench, "gcbench%s", conservative ? "-cons" : "");
  snprintf(extra, sizeof extra, "max_depth=%d", max_depth);
  gcb_report(bench, t1 - t0, &w, check, extra);
  return ok ? 0 : 1;
}
