/* GC torture: threads build and mutate random object graphs while
 * collections (from any thread, or from the pacer) stop them at arbitrary
 * points.  Each thread owns a graph whose roots are a registered range; its
 * nodes are typed (four pointer fields, bitmap layout) and carry an id and a
 * checksum, and some point to a noscan blob filled with a pattern derived
 * from the id.  Every pointer store into a node goes through the write
 * barrier; stores into the root ranges do too in even-numbered threads and
 * are plain stores in odd-numbered ones (roots need no barrier: the first
 * stop scans them with the stacks, or the termination scans them again).
 *
 * After each collection a thread triggers, it walks everything reachable
 * from its roots and checks that every node is a live GC object with an
 * intact checksum and blob.  gc_debug=2 (set below) poisons swept slots, so
 * a wrongly freed object is caught at its next use, and after every mark
 * walks the heap from the roots and aborts if a reachable object was left
 * unmarked (a lost shade, a black object pointing to a white one: caught at
 * the mark that lost it, not later).  At the end every graph
 * is dropped and the weak references to a sample of nodes must be cleared
 * (a few may stay held by stale stack words of the conservative scan).
 */
#include <stdatomic.h>
#include <string.h>
#include <strata/gc.h>
#include <strata/malloc.h>
#include "test.h"

#define THREADS 4
#define ROOTS 512
#define OPS 150000
#define SAMPLE 256

typedef struct node { struct node *f[4]; uint64_t id, sum; } node_t;
static const strata_gc_type_t node_type = { STRATA_GC_BITMAP, "tnode", sizeof(node_t), 0xF, NULL, 0, NULL };

static node_t *roots[THREADS][ROOTS];

static uint64_t mix(uint64_t x) { return pat_mix(x + 0x9E3779B97F4A7C15ULL); }
/* Mostly small blobs; one in 64 takes the large-object path (> 32 KiB). */
static size_t blob_len(uint64_t id) {
  uint64_t m = mix(id);
  return m % 64 == 0 ? 40000 + (size_t)(m >> 8) % 60000 : 16 + (size_t)(m % 2000);
}

typedef struct { uint64_t s; } rng_t;
static uint64_t rnd(rng_t *r) { r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL; return mix(r->s); }

static node_t *new_node(uint64_t id) {
  node_t *n = strata_gc_alloc(&node_type, sizeof *n);
  CHECK(n != NULL, "alloc node");
  n->id = id;
  n->sum = mix(id);
  return n;
}

static void attach_blob(node_t *n) {
  size_t len = blob_len(n->id);
  unsigned char *b = strata_gc_malloc_atomic(len);
  CHECK(b != NULL, "alloc blob");
  for (size_t i = 0; i < len; i++) b[i] = (unsigned char)(n->id * 31 + i);
  /* f[3] holds blobs only; the bitmap scans it as a pointer (it is one) */
  STRATA_GC_WRITE(n, n->f[3], b);
}

static void check_node(const node_t *n) {
  CHECK(strata_gc_base(n) == n, "reachable node %p is not a live object", (void *)n);
  CHECK(n->sum == mix(n->id), "node %p id %llu: checksum broken", (void *)n, (unsigned long long)n->id);
  const unsigned char *b = (const unsigned char *)n->f[3];
  if (b) {
    size_t len = blob_len(n->id);
    CHECK(strata_gc_base(b) == b && strata_gc_size(b) >= len, "blob of node %llu not live",
          (unsigned long long)n->id);
    for (size_t i = 0; i < len; i++)
      CHECK(b[i] == (unsigned char)(n->id * 31 + i), "blob of node %llu broken at %zu",
            (unsigned long long)n->id, i);
  }
}

/* Walk the graph of thread t from its roots (test-side visited set). */
static size_t verify(int t) {
  size_t cap = 1 << 16, n = 0, top = 0;
  const node_t **seen = strata_calloc(cap, sizeof *seen);
  const node_t **stack = strata_malloc(cap * sizeof *stack);
  CHECK(seen && stack, "verify buffers");
  for (int i = 0; i < ROOTS; i++) if (roots[t][i]) stack[top++] = roots[t][i];
  while (top) {
    const node_t *x = stack[--top];
    size_t h = (size_t)(mix((uintptr_t)x) & (cap - 1));
    while (seen[h] && seen[h] != x) h = (h + 1) & (cap - 1);
    if (seen[h]) continue;
    seen[h] = x;
    CHECK(++n < cap / 2, "graph larger than the visited set");
    check_node(x);
    for (int k = 0; k < 3; k++) if (x->f[k]) { CHECK(top < cap, "stack"); stack[top++] = x->f[k]; }
  }
  strata_free(seen);
  strata_free(stack);
  return n;
}

static _Atomic size_t total_verified, total_collects;

/* A root store: barriered or plain (see the top). */
static void set_root(int t, node_t **slot, node_t *v) {
  if (t & 1) *(node_t *volatile *)slot = v;
  else STRATA_GC_WRITE(NULL, *slot, v);
}

static int ops = OPS, deep;

static void *work(int t) {
  rng_t r = { (uint64_t)t * 7919 + 1 + (uint64_t)deep * 104729 };
  /* bit 62: no id is a user-space address.  Without it thread 2's ids
   * (2 << 40 + k) ran through the heap (reserved at 2 TiB), and an id
   * spilled to the stack after the snapshot "pointed" into an object that
   * was garbage at the snapshot: gc_debug=2's walk reported it as lost. */
  uint64_t next_id = ((uint64_t)1 << 62) + ((uint64_t)t << 40) + ((uint64_t)deep << 36);
  for (int op = 0; op < ops; op++) {
    uint64_t x = rnd(&r);
    unsigned pick = (unsigned)(x % 100);
    node_t **slot = &roots[t][(x >> 8) % ROOTS];
    node_t *a = roots[t][(x >> 20) % ROOTS], *b = roots[t][(x >> 32) % ROOTS];
    if (pick < 30) {
      node_t *n = new_node(next_id++);
      if (x & (1u << 7)) attach_blob(n);
      set_root(t, slot, n);
    } else if (pick < 45) {
      /* a fresh chain, built tail first (a cycle may start between two
       * nodes: a newer node, born marked, then points to an older one,
       * which only the barrier's shading of the stored value keeps) */
      node_t *head = NULL;
      for (int k = 0; k < 4; k++) {
        node_t *n = new_node(next_id++);
        STRATA_GC_WRITE(n, n->f[0], head);
        head = n;
      }
      set_root(t, slot, head);
    } else if (pick < 75) {
      if (a && b) STRATA_GC_WRITE(a, a->f[(x >> 44) % 3], b);
    } else if (pick < 85) {
      if (a) STRATA_GC_WRITE(a, a->f[(x >> 44) % 3], NULL);
    } else if (pick < 95) {
      if (a) attach_blob(a);
    } else if (pick < 96 && (x >> 50) % 16 == 0) {
      strata_gc_collect();
      atomic_fetch_add(&total_collects, 1);
      atomic_fetch_add(&total_verified, verify(t));
    } else {
      for (int i = 0; i < 8; i++) strata_gc_malloc(32 + (size_t)i * 40);   /* garbage */
    }
  }
  atomic_fetch_add(&total_verified, verify(t));
  return NULL;
}

/* In the deep phase thread 0 works below 320 KiB of stack: more than a
 * collection's first stop scans, so no cycle takes a snapshot; stacks get
 * handshakes and the termination scans every stack and range again. */
static __attribute__((noinline)) void *work_deep(int t) {
  volatile char pad[320 << 10];
  memset((char *)pad, 1, sizeof pad);
  void *r = work(t);
  return (void *)((uintptr_t)r + (pad[7] - 1));
}

static void *worker(void *arg) {
  int t = (int)(intptr_t)arg;
  return deep && t == 0 ? work_deep(t) : work(t);
}

static void run_phase(const char *name) {
  strata_gc_stats_t a, b;
  strata_gc_stats_get(&a);
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) th[t] = test_spawn(worker, (void *)(intptr_t)t);
  for (int t = 0; t < THREADS; t++) test_join(th[t]);
  strata_gc_stats_get(&b);
  size_t cycles = b.cycles - a.cycles, rescans = b.stack_rescans - a.stack_rescans;
  printf("t_gc_torture: %s phase: %zu cycles, %zu rescanned every stack\n", name, cycles, rescans);
  CHECK(cycles >= 10, "%s phase: only %zu collections", name, cycles);
  if (!deep)   /* small stacks and roots: a snapshot at the first stop, stacks scanned once */
    CHECK(rescans <= cycles / 8, "%zu of %zu cycles rescanned the stacks", rescans, cycles);
  else
    CHECK(rescans >= cycles / 2, "deep phase: only %zu of %zu cycles rescanned", rescans, cycles);
}

static strata_gc_weak_t *sample[SAMPLE];

static __attribute__((noinline)) void take_sample(void) {
  int k = 0;
  for (int t = 0; t < THREADS && k < SAMPLE; t++)
    for (int i = 0; i < ROOTS && k < SAMPLE; i += 4)
      if (roots[t][i]) sample[k++] = strata_gc_weak_new(roots[t][i], 0);
}

static __attribute__((noinline)) void scrub(void) {
  volatile char pad[65536];
  memset((char *)pad, 0, sizeof pad);
}

int main(void) {
  CHECK(strata_option_set("gc_debug", 2) == 0, "gc_debug");
  strata_gc_set_goal(50);                        /* collect often */
  CHECK(strata_gc_add_roots(roots, (char *)roots + sizeof roots) == 0, "roots");
  run_phase("snapshot");
  deep = 1;
  ops = OPS / 3;
  run_phase("deep");
  take_sample();
  memset(roots, 0, sizeof roots);
  scrub();
  strata_gc_collect();
  scrub();
  strata_gc_collect();
  int held = 0, n = 0;
  for (int i = 0; i < SAMPLE; i++) {
    if (!sample[i]) continue;
    n++;
    if (strata_gc_weak_get(sample[i])) held++;
    strata_gc_weak_free(sample[i]);
  }
  CHECK(n > SAMPLE / 2, "sample too small (%d)", n);
  CHECK(held <= 8, "%d of %d dropped nodes still alive after two collections", held, n);
  strata_gc_stats_t st;
  strata_gc_stats_get(&st);
  CHECK(st.cycles >= 20, "only %zu collections", st.cycles);
  printf("t_gc_torture: %d threads x %d ops, %zu explicit collections, %zu cycles in all, "
         "%zu nodes verified, %d of %d dropped nodes held\n", THREADS, OPS + OPS / 3, (size_t)total_collects,
         st.cycles, (size_t)total_verified, held, n);
  strata_gc_stats_print(stdout);
  return 0;
}
