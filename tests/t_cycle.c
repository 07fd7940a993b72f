/* t_cycle.c -- the cycle collector against a reference reachability
 * computation.
 *
 *  random graphs   per seed: rings, cliques, self-loops, chains hanging off
 *                  rings, random extra edges (so garbage points into live
 *                  objects and live ones into garbage-to-be), nodes of both
 *                  flavours plus untraced leaves.  Then rounds of random
 *                  mutations (drop/add external refs, add/remove edges,
 *                  weak upgrades that resurrect not-yet-collected garbage,
 *                  new nodes) and collections, explicit or automatic (a
 *                  small random threshold).  After every round the test
 *                  computes, from its own shadow copy of the edges, the set
 *                  reachable from the remaining external references and
 *                  asserts: no reachable node died (ever, at any time);
 *                  after an explicit collection the dead set is exactly the
 *                  unreachable set; every live node's content and children
 *                  are intact; weak refs are expired exactly for dead nodes.
 *                  Destructors check that the node is destroyed once, that
 *                  weak refs to it are already cleared, and that every
 *                  neighbour's memory is still valid (magic LIVE or DESTROYED,
 *                  never freed).  Many seeds.
 *  shapes          a 3-ring whose destructors read their neighbours, a
 *                  referenced ring kept, the automatic trigger at exactly
 *                  the threshold, a 200k ring (iterative collector),
 *                  statistics
 *  threads         2 threads run seeds at the same time (thread-local
 *                  candidate buffers)
 *  orphans         a garbage ring buffered by a thread that exits is
 *                  reclaimed by the next collection in another thread
 *  misuse          in a child: a destructor that resurrects a collected
 *                  object aborts with the one-line report; a traverse that
 *                  reports a dead object too; a count that changes during
 *                  the collection (a traverse that retains, as a racing
 *                  thread would) is reported, and with abort_on_error=0
 *                  the collection frees nothing, restores the condemned
 *                  members (weak upgrade works again), and a later one
 *                  reclaims them
 *
 * T_CYCLE_LIE=1 (traverse visits a child twice) or =2 (skips a child) break
 * the traverse contract on purpose: the test must then fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "strata/malloc.h"
#include "strata/rc.h"
#include "test.h"

#define MAGIC_LIVE 0x4C4956454C495645ull
#define MAGIC_DEST 0x4445535444455354ull
#define MAXC 8
#define MAXN 1200

typedef struct graph graph_t;
typedef struct node {
  uint64_t magic;
  graph_t *g;
  uint32_t id, nchild;
  struct node *child[MAXC];
  uint64_t pat[3];
} node_t;

struct graph {
  node_t *node[MAXN];        /* valid while !died[i] */
  uint8_t died[MAXN], is_leaf[MAXN], reach[MAXN];
  uint32_t ext[MAXN];        /* external strong refs the test holds */
  uint32_t adj[MAXN][MAXC], nadj[MAXN];   /* shadow of the edges */
  strata_weak_t weak[MAXN];
  uint32_t n;
  long died_now;             /* destructors run */
  uint64_t rng;
};

static int lie;              /* T_CYCLE_LIE */
static _Atomic long total_destroyed;

static void rel(void *o) {
  if (strata_rc_is_atomic(o)) strata_arc_release(o); else strata_rc_release(o);
}
static void *ret(void *o) {
  return strata_rc_is_atomic(o) ? strata_arc_retain(o) : strata_rc_retain(o);
}

static void node_traverse(void *p, strata_rc_visit_fn visit, void *arg) {
  node_t *n = p;
  for (uint32_t k = 0; k < n->nchild; k++) {
    if (lie == 2 && k == 0 && n->id % 5 == 0) continue;
    visit(n->child[k], arg);
    if (lie == 1 && k == 0 && n->id % 5 == 0) visit(n->child[k], arg);
  }
}

static void node_destroy(void *p) {
  node_t *n = p;
  graph_t *g = n->g;
  CHECK(n->magic == MAGIC_LIVE, "node %u destroyed twice or corrupted (magic %llx)", n->id,
        (unsigned long long)n->magic);
  CHECK(!g->died[n->id], "node %u died twice", n->id);
  CHECK(pat_check(n->pat, sizeof n->pat, n->id) == 0, "node %u content", n->id);
  if (g->weak[n->id].obj)
    CHECK(strata_weak_lock(g->weak[n->id]) == NULL && strata_weak_expired(g->weak[n->id]),
          "node %u: weak ref upgradable inside its destructor", n->id);
  /* every neighbour's memory is still valid: live, or destroyed but not freed */
  for (uint32_t k = 0; k < n->nchild; k++) {
    node_t *c = n->child[k];
    CHECK(c->magic == MAGIC_LIVE || c->magic == MAGIC_DEST,
          "node %u: neighbour %p freed before this destructor ran (magic %llx)", n->id,
          (void *)c, (unsigned long long)c->magic);
    if (c->magic == MAGIC_LIVE) CHECK(pat_check(c->pat, sizeof c->pat, c->id) == 0, "neighbour content");
  }
  g->died[n->id] = 1;
  g->died_now++;
  total_destroyed++;
  g->nadj[n->id] = 0;
  n->magic = MAGIC_DEST;
  uint32_t nc = n->nchild;
  n->nchild = 0;
  for (uint32_t k = 0; k < nc; k++) rel(n->child[k]);
}

static const strata_rc_type_t T_NODE = { "node", node_destroy, node_traverse, 0 };
static const strata_rc_type_t T_ANODE = { "anode", node_destroy, node_traverse, STRATA_RC_ATOMIC };
static const strata_rc_type_t T_LEAF = { "leaf", node_destroy, NULL, 0 };

static uint32_t rnd(graph_t *g, uint32_t n) { return (uint32_t)(rnd_next(&g->rng) % n); }

static uint32_t new_node(graph_t *g, int atomic_mix) {
  CHECK(g->n < MAXN, "graph full");
  uint32_t id = g->n++;
  int leaf = rnd(g, 10) == 0;
  const strata_rc_type_t *t = leaf ? &T_LEAF : (atomic_mix && rnd(g, 2)) ? &T_ANODE : &T_NODE;
  node_t *n = strata_rc_new(t, sizeof *n);
  CHECK(n != NULL, "strata_rc_new");
  n->magic = MAGIC_LIVE;
  n->g = g;
  n->id = id;
  pat_fill(n->pat, sizeof n->pat, id);
  g->node[id] = n;
  g->is_leaf[id] = (uint8_t)leaf;
  g->ext[id] = 1;
  g->died[id] = 0;
  g->nadj[id] = 0;
  g->weak[id].obj = NULL;
  if (rnd(g, 3) == 0) g->weak[id] = strata_weak_new(n);
  return id;
}

static int add_edge(graph_t *g, uint32_t u, uint32_t v) {
  if (g->died[u] || g->died[v] || g->is_leaf[u] || g->nadj[u] == MAXC) return 0;
  node_t *a = g->node[u];
  a->child[a->nchild++] = ret(g->node[v]);
  g->adj[u][g->nadj[u]++] = v;
  return 1;
}

static void remove_edge(graph_t *g, uint32_t u) {
  if (g->died[u] || g->nadj[u] == 0) return;
  node_t *a = g->node[u];
  uint32_t k = rnd(g, a->nchild);
  node_t *c = a->child[k];
  a->child[k] = a->child[--a->nchild];
  g->adj[u][k] = g->adj[u][--g->nadj[u]];
  rel(c);
}

static void drop_ext(graph_t *g, uint32_t u) {
  if (g->died[u] || g->ext[u] == 0) return;
  g->ext[u]--;
  rel(g->node[u]);
}

/* The reference answer: BFS over the shadow edges from the external refs. */
static void reachability(graph_t *g) {
  static __thread uint32_t q[MAXN];
  uint32_t h = 0, t = 0;
  memset(g->reach, 0, g->n);
  for (uint32_t i = 0; i < g->n; i++)
    if (g->ext[i]) { g->reach[i] = 1; q[t++] = i; }
  while (h < t) {
    uint32_t u = q[h++];
    for (uint32_t k = 0; k < g->nadj[u]; k++) {
      uint32_t v = g->adj[u][k];
      if (!g->reach[v]) { g->reach[v] = 1; q[t++] = v; }
    }
  }
}

static void verify(graph_t *g, int after_collect, uint64_t seed, int round) {
  reachability(g);
  for (uint32_t i = 0; i < g->n; i++) {
    CHECK(!(g->reach[i] && g->died[i]), "seed %llu round %d: reachable node %u was reclaimed",
          (unsigned long long)seed, round, i);
    if (after_collect)
      CHECK(g->reach[i] || g->died[i], "seed %llu round %d: garbage node %u survived a collection",
            (unsigned long long)seed, round, i);
    if (g->weak[i].obj)
      CHECK(strata_weak_expired(g->weak[i]) == g->died[i], "seed %llu: weak ref of node %u: expired %d, died %d",
            (unsigned long long)seed, i, strata_weak_expired(g->weak[i]), g->died[i]);
    if (g->died[i] || !g->reach[i]) continue;
    node_t *n = g->node[i];
    CHECK(n->magic == MAGIC_LIVE && n->id == i && n->g == g, "live node %u header/content", i);
    CHECK(pat_check(n->pat, sizeof n->pat, i) == 0, "live node %u content", i);
    CHECK(n->nchild == g->nadj[i], "live node %u: %u children, shadow %u", i, n->nchild, g->nadj[i]);
    for (uint32_t k = 0; k < n->nchild; k++)
      CHECK(n->child[k] == g->node[g->adj[i][k]], "live node %u child %u", i, k);
  }
}

/* Shapes at creation: returns nothing; every new node keeps one external ref. */
static void build(graph_t *g, uint32_t target, int atomic_mix) {
  while (g->n + 12 < target) {
    uint32_t kind = rnd(g, 6), base = g->n, len;
    switch (kind) {
    case 0: /* ring */
      len = 1 + rnd(g, 10);
      for (uint32_t i = 0; i < len; i++) new_node(g, atomic_mix);
      for (uint32_t i = 0; i < len; i++) add_edge(g, base + i, base + (i + 1) % len);
      break;
    case 1: /* clique */
      len = 2 + rnd(g, 4);
      for (uint32_t i = 0; i < len; i++) new_node(g, atomic_mix);
      for (uint32_t i = 0; i < len; i++)
        for (uint32_t j = 0; j < len; j++) if (i != j) add_edge(g, base + i, base + j);
      break;
    case 2: /* self-loop */
      new_node(g, atomic_mix);
      add_edge(g, base, base);
      break;
    case 3: /* a ring with a chain hanging off it, and a chain into a ring */
      len = 2 + rnd(g, 5);
      for (uint32_t i = 0; i < len + 4; i++) new_node(g, atomic_mix);
      for (uint32_t i = 0; i < len; i++) add_edge(g, base + i, base + (i + 1) % len);
      add_edge(g, base, base + len);
      for (uint32_t i = len; i < len + 3; i++) add_edge(g, base + i, base + i + 1);
      add_edge(g, base + len + 3, base + 1);
      break;
    default: /* random extra edges between anything */
      if (g->n > 1)
        for (int e = 0; e < 4; e++) add_edge(g, rnd(g, g->n), rnd(g, g->n));
      new_node(g, atomic_mix);
      break;
    }
  }
}

static void mutate(graph_t *g, int ops) {
  for (int o = 0; o < ops; o++) {
    uint32_t u = rnd(g, g->n), v = rnd(g, g->n), r = rnd(g, 100);
    if (r < 40) drop_ext(g, u);
    else if (r < 55) remove_edge(g, u);
    else if (r < 75) add_edge(g, u, v);
    else if (r < 85) {              /* a new external ref: from a live holder, or a weak upgrade */
      if (g->weak[u].obj) {
        node_t *n = strata_weak_lock(g->weak[u]);
        CHECK((n != NULL) == !g->died[u], "weak upgrade of node %u: %p, died %d", u, (void *)n, g->died[u]);
        if (n) g->ext[u]++;         /* may resurrect not-yet-collected garbage: legal */
      } else if (!g->died[u] && g->ext[u]) {
        ret(g->node[u]);
        g->ext[u]++;
      }
    } else if (r < 90 && g->n < MAXN - 1) {
      uint32_t w = new_node(g, 1);
      add_edge(g, w, u);
      add_edge(g, u, w);
    }
  }
}

static void teardown(graph_t *g) {
  for (uint32_t i = 0; i < g->n; i++)
    while (!g->died[i] && g->ext[i]) drop_ext(g, i);
  long r = strata_rc_collect();
  CHECK(r >= 0, "collect: errno %d", errno);
  for (uint32_t i = 0; i < g->n; i++) {
    CHECK(g->died[i], "node %u survived teardown", i);
    strata_weak_release(g->weak[i]);
  }
}

static long run_seed(uint64_t seed, int atomic_mix) {
  graph_t *g = calloc(1, sizeof *g);
  CHECK(g != NULL, "calloc");
  g->rng = pat_mix(seed) | 1;
  size_t thr = (seed % 3 == 0) ? 1 + rnd(g, 40) : 0;   /* automatic collection too */
  strata_rc_set_threshold(thr);
  build(g, 100 + rnd(g, 700), atomic_mix);
  long reclaimed = 0;
  for (int round = 0; round < 6; round++) {
    mutate(g, 50 + (int)rnd(g, 400));
    verify(g, 0, seed, round);
    long d0 = g->died_now;
    long r = strata_rc_collect();
    CHECK(r >= 0, "seed %llu: strata_rc_collect failed: errno %d", (unsigned long long)seed, errno);
    CHECK(r <= g->died_now - d0, "collect says %ld reclaimed, %ld destructors ran", r, g->died_now - d0);
    CHECK(strata_rc_check() == 0, "candidate buffer invalid");
    reclaimed += r;
    verify(g, 1, seed, round);
  }
  teardown(g);
  free(g);
  return reclaimed;
}

/* thread-safe threshold use: the threshold is process-wide, so the threaded
 * run leaves it alone (0) */
static void *thread_seeds(void *arg) {
  uint64_t base = (uintptr_t)arg;
  for (uint64_t s = 0; s < 40; s++) {
    graph_t *g = calloc(1, sizeof *g);
    CHECK(g != NULL, "calloc");
    g->rng = pat_mix(base + s) | 1;
    build(g, 200 + rnd(g, 400), 0);
    for (int round = 0; round < 4; round++) {
      mutate(g, 200);
      CHECK(strata_rc_collect() >= 0, "collect");
      verify(g, 1, base + s, round);
    }
    teardown(g);
    free(g);
  }
  return NULL;
}

/* ---- a candidate made garbage by a collection's own destructors ---- */

/* Z is a self-loop held from outside the traced graph (by an untraced
 * holder U): a live candidate.  A is a garbage self-loop that owns U.  The
 * collection that reclaims A runs A's destructor, which releases U, whose
 * destructor releases Z: Z is garbage now, a self-loop, and must be buffered
 * again so a later collection reclaims it.  It was dropped from the buffer
 * instead, and leaked for good (found by review, 2026-11-28). */
typedef struct lnode { void *self, *held; } lnode_t;
static int l_destroyed;
static void l_traverse(void *p, strata_rc_visit_fn visit, void *arg) {
  lnode_t *n = p;
  visit(n->self, arg);
  visit(n->held, arg);
}
static void l_destroy(void *p) {
  lnode_t *n = p;
  void *a = n->self, *b = n->held;
  n->self = n->held = NULL;
  l_destroyed++;
  if (a) strata_rc_release(a);
  if (b) strata_rc_release(b);
}
static const strata_rc_type_t T_L = { "lnode", l_destroy, l_traverse, 0 };
typedef struct { void *z; } holder_t;
static void h_destroy(void *p) { strata_rc_release(((holder_t *)p)->z); }
static const strata_rc_type_t T_H = { "holder", h_destroy, NULL, 0 };

static void rebuffered(void) {
  strata_rc_collect();                         /* an empty buffer to start from */
  size_t threshold = strata_rc_set_threshold(0);
  l_destroyed = 0;
  lnode_t *z = strata_rc_new(&T_L, sizeof *z);
  holder_t *u = strata_rc_new(&T_H, sizeof *u);
  lnode_t *a = strata_rc_new(&T_L, sizeof *a);
  CHECK(z && u && a, "new");
  z->self = strata_rc_retain(z);
  u->z = strata_rc_retain(z);
  strata_rc_release(z);                        /* a candidate, held by u */
  a->self = strata_rc_retain(a);
  a->held = u;                                 /* our reference to u moves into a */
  strata_rc_release(a);                        /* garbage */
  strata_weak_t wz = strata_weak_new(z);
  CHECK(strata_rc_collect() == 1 && l_destroyed == 1, "first collection: %d destroyed", l_destroyed);
  CHECK(strata_rc_candidates() == 1, "z not buffered again (%zu candidates)", strata_rc_candidates());
  CHECK(strata_rc_collect() == 1 && l_destroyed == 2 && strata_weak_expired(wz),
        "z, garbage since the first collection, was not reclaimed (%d destroyed)", l_destroyed);
  strata_weak_release(wz);
  strata_rc_set_threshold(threshold);
  printf("candidate made garbage by a collection's destructors: collected next time\n");
}

/* ---- shapes ---- */

/* A simple ring node for the shapes below. */
typedef struct rnode { uint64_t magic; struct rnode *next; uint64_t val; } rnode_t;
static long r_destroyed, r_bad_neighbour;
static rnode_t *resurrect_into;          /* misuse case: its destructor keeps a reference */
static void r_traverse(void *p, strata_rc_visit_fn visit, void *arg) { visit(((rnode_t *)p)->next, arg); }
static void r_destroy(void *p) {
  rnode_t *n = p;
  /* the neighbour's memory is valid and still holds its value */
  if (n->next && (n->next->magic != MAGIC_LIVE && n->next->magic != MAGIC_DEST)) r_bad_neighbour++;
  if (n->next && n->next->val != n->val + 1 && n->next->val != 0) r_bad_neighbour++;
  n->magic = MAGIC_DEST;
  r_destroyed++;
  if (resurrect_into == p) return;      /* misuse: keeps its reference to next */
  rnode_t *x = n->next;
  n->next = NULL;
  if (x) strata_rc_release(x);
}
static const strata_rc_type_t T_R = { "rnode", r_destroy, r_traverse, 0 };

/* A ring of n; returns its first node with one external ref, the rest
 * released (each buffered as a candidate). */
static rnode_t *ring(uint32_t n) {
  rnode_t *first = NULL, *prev = NULL;
  for (uint32_t i = 0; i < n; i++) {
    rnode_t *x = strata_rc_new(&T_R, sizeof *x);
    CHECK(x != NULL, "new");
    x->magic = MAGIC_LIVE;
    x->val = i;
    if (prev) prev->next = x; else first = x;   /* prev's ref: the creation ref */
    prev = x;
  }
  prev->next = strata_rc_retain(first);        /* close the ring */
  return first;
}

static void shapes(void) {
  strata_rc_stats_t s0, s1;
  strata_rc_set_threshold(0);
  /* 3-ring: every destructor reads its neighbour */
  long d0 = r_destroyed;
  rnode_t *a = ring(3);
  CHECK(strata_rc_count(a) == 2, "ring head count %u", strata_rc_count(a));
  strata_rc_release(a);
  CHECK(r_destroyed == d0 && strata_rc_candidates() == 1, "ring died by counting");
  CHECK(strata_rc_collect() == 3 && r_destroyed == d0 + 3 && r_bad_neighbour == 0,
        "3-ring: %ld destroyed, %ld bad neighbour reads", r_destroyed - d0, r_bad_neighbour);
  CHECK(strata_rc_candidates() == 0, "buffer not emptied");

  /* a ring that is still referenced survives, and is found once dropped */
  a = ring(50);
  strata_rc_retain(a->next->next);
  strata_rc_release(a);
  CHECK(strata_rc_collect() == 0, "a referenced ring was collected");
  rnode_t *c = a->next->next;
  CHECK(c->magic == MAGIC_LIVE && c->val == 2, "live ring intact");
  strata_rc_release(c);
  CHECK(strata_rc_collect() == 50, "dropped ring not collected");

  /* the automatic trigger: the 10th buffered candidate starts a collection */
  CHECK(strata_rc_set_threshold(10) == 0 && strata_rc_get_threshold() == 10, "threshold get/set");
  d0 = r_destroyed;
  strata_rc_stats_get(&s0);
  for (int i = 0; i < 10; i++) {
    rnode_t *x = ring(1);                  /* a self-loop */
    strata_rc_release(x);
    CHECK(strata_rc_candidates() == (size_t)(i + 1) % 10, "candidates %zu after %d", strata_rc_candidates(), i + 1);
  }
  strata_rc_stats_get(&s1);
  CHECK(r_destroyed == d0 + 10 && s1.auto_collections == s0.auto_collections + 1, "automatic collection");
  strata_rc_set_threshold(0);

  /* 200k ring: the collector is iterative */
  const uint32_t N = 200000;
  strata_rc_stats_get(&s0);
  d0 = r_destroyed;
  a = ring(N);
  strata_rc_release(a);
  double t0 = now_sec();
  long r = strata_rc_collect();
  double dt = now_sec() - t0;
  strata_rc_stats_get(&s1);
  CHECK(r == (long)N && r_destroyed == d0 + N && r_bad_neighbour == 0, "big ring: %ld reclaimed", r);
  CHECK(s1.scanned - s0.scanned == N && s1.cycles - s0.cycles == 1 && s1.reclaimed - s0.reclaimed == N,
        "big ring stats: scanned %llu cycles %llu", (unsigned long long)(s1.scanned - s0.scanned),
        (unsigned long long)(s1.cycles - s0.cycles));
  printf("shapes: ok (200k ring collected in %.1f ms)\n", dt * 1e3);
}

/* ---- misuse in children ---- */

static void resurrect(void) {
  rnode_t *a = ring(4);
  resurrect_into = a->next;
  strata_rc_release(a);
  strata_rc_collect();
}
static rnode_t *dangling;
static void dead_child_traverse(void *p, strata_rc_visit_fn visit, void *arg) {
  visit(((rnode_t *)p)->next, arg);
  visit(dangling, arg);                  /* a reference it does not hold */
}
static void dead_child(void) {
  static const strata_rc_type_t T_BADTRAV = { "badtrav", r_destroy, dead_child_traverse, 0 };
  rnode_t *d = strata_rc_new(&T_R, sizeof *d);
  strata_weak_t w = strata_weak_new(d);  /* keep the storage */
  (void)w;
  strata_rc_release(d);
  dangling = d;
  rnode_t *x = strata_rc_new(&T_BADTRAV, sizeof *x);
  strata_rc_retain(x);
  strata_rc_release(x);                  /* buffered */
  strata_rc_collect();
}
/* A traverse that retains a member of the garbage ring the second time it
 * is called (phase 3): what a racing thread would do.  The collector must
 * notice, report, undo and free nothing. */
static rnode_t *evil_target;
static int evil_calls;
static void evil_traverse(void *p, strata_rc_visit_fn visit, void *arg) {
  if (p == evil_target && ++evil_calls == 2) strata_rc_retain(p);
  visit(((rnode_t *)p)->next, arg);
}
static const strata_rc_type_t T_EVIL = { "evil", r_destroy, evil_traverse, 0 };
static void changed_count(void) {
  int ignore = getenv("T_IGNORE") != NULL;
  if (ignore) strata_option_set("abort_on_error", 0);
  rnode_t *a = strata_rc_new(&T_EVIL, sizeof *a), *b = strata_rc_new(&T_R, sizeof *b);
  a->magic = b->magic = MAGIC_LIVE;
  a->next = b;                           /* a -> b -> a */
  b->next = strata_rc_retain(a);
  strata_weak_t w = strata_weak_new(b);
  evil_target = a;
  strata_rc_release(a);                  /* garbage, a buffered */
  long d0 = r_destroyed;
  long r = strata_rc_collect();          /* aborts unless ignored */
  if (r != 0 || r_destroyed != d0 || strata_rc_check() != 0) _exit(10);
  rnode_t *bb = strata_weak_lock(w);     /* restored: alive again */
  if (bb != b || a->magic != MAGIC_LIVE) _exit(11);
  strata_rc_release(bb);
  strata_rc_release(a);                  /* the evil extra reference */
  evil_target = NULL;
  if (strata_rc_collect() != 2 || r_destroyed != d0 + 2) _exit(12);
  strata_weak_release(w);
  _exit(0);
}

static void misuse(void) {
  char buf[2048];
  int st = test_in_child(resurrect, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
        strstr(buf, "strata: rc: a destructor kept a reference to a collected object"),
        "resurrection: status %d stderr %s", st, buf);
  st = test_in_child(dead_child, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, "strata: rc: traverse visited a dead object"),
        "dead child: status %d stderr %s", st, buf);
  st = test_in_child(changed_count, buf, sizeof buf);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT &&
        strstr(buf, "strata: rc: object count changed during cycle collection"),
        "count changed: status %d stderr %s", st, buf);
  setenv("T_IGNORE", "1", 1);
  st = test_in_child(changed_count, buf, sizeof buf);
  unsetenv("T_IGNORE");
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "nothing freed") && strstr(buf, "; ignored"),
        "count changed, ignored: status %d stderr %s", st, buf);
  printf("misuse: ok\n");
}

/* A thread leaves a garbage ring in its buffer and exits (automatic
 * collection off): the next collection anywhere adopts and reclaims it. */
static void *leave_ring(void *arg) {
  (void)arg;
  rnode_t *a = ring(10);
  strata_rc_release(a);
  CHECK(strata_rc_candidates() == 1, "candidate in the exiting thread");
  return NULL;
}
static void orphans(void) {
  strata_rc_set_threshold(0);
  long d0 = r_destroyed;
  test_join(test_spawn(leave_ring, NULL));
  CHECK(r_destroyed == d0, "ring died without a collection");
  long r = strata_rc_collect();
  CHECK(r == 10 && r_destroyed == d0 + 10, "orphaned ring: %ld reclaimed", r);
  printf("orphans: ok\n");
}

int main(void) {
  const char *l = getenv("T_CYCLE_LIE");
  lie = l ? atoi(l) : 0;
  strata_rc_stats_t s0, s1;
  strata_rc_stats_get(&s0);
  long reclaimed = 0;
  int seeds = 1000;
  double t0 = now_sec();
  for (int s = 1; s <= seeds; s++) reclaimed += run_seed((uint64_t)s * 1000003u, s & 1);
  strata_rc_stats_get(&s1);
  printf("random graphs: ok (%d seeds, %.2f s): %ld destructors, collector reclaimed %llu "
         "(%ld by explicit calls between rounds), %llu collections (%llu automatic), "
         "%llu garbage groups, %llu scanned\n", seeds, now_sec() - t0, (long)total_destroyed,
         (unsigned long long)(s1.reclaimed - s0.reclaimed), reclaimed,
         (unsigned long long)(s1.collections - s0.collections),
         (unsigned long long)(s1.auto_collections - s0.auto_collections),
         (unsigned long long)(s1.cycles - s0.cycles), (unsigned long long)(s1.scanned - s0.scanned));
  CHECK(s1.reclaimed - s0.reclaimed >= (uint64_t)reclaimed &&
        s1.reclaimed - s0.reclaimed <= (uint64_t)total_destroyed, "stats reclaimed %llu, returns %ld",
        (unsigned long long)(s1.reclaimed - s0.reclaimed), reclaimed);
  CHECK(s1.cycles > s0.cycles && s1.auto_collections > s0.auto_collections && s1.resurrected == s0.resurrected,
        "statistics");
  CHECK(s1.objects_live == s0.objects_live, "objects_live %llu -> %llu", (unsigned long long)s0.objects_live,
        (unsigned long long)s1.objects_live);
  shapes();
  rebuffered();
  orphans();
  misuse();
  strata_rc_set_threshold(0);
  pthread_t a = test_spawn(thread_seeds, (void *)(uintptr_t)77777), b = test_spawn(thread_seeds, (void *)(uintptr_t)99999);
  test_join(a);
  test_join(b);
  printf("threads: ok\n");
  strata_rc_stats_get(&s1);
  CHECK(s1.objects_live == s0.objects_live, "objects_live %llu -> %llu at the end",
        (unsigned long long)s0.objects_live, (unsigned long long)s1.objects_live);
  printf("t_cycle: all passed\n");
  return 0;
}
