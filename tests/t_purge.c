/* Memory goes back to the OS: resident memory (read from /proc) after a
 * program frees everything, and after it frees 90% of a fragmented heap at
 * random.
 *
 * Bounds held here (measured on the 2-core CI machines, see the closing notes
 * of issue 4; the margins absorb noise and a different kernel):
 *   - all freed, then idle for purge_ms + 750 ms: the RSS above the
 *     baseline is at most 5% of the peak above the baseline (the purge
 *     thread does it; no call into strata needed);
 *   - the same with purge_thread=0: malloc_trim(0) does it at once;
 *   - 90% freed at random: after 1 s idle, RSS above the baseline at most
 *     2.75x the live bytes asked for (measured 2.3-2.5x; the peers keep
 *     more than 10x); after strata_purge(), at most 2.5x (measured ~2.2x);
 *   - a steady churn of small blocks makes (almost) no purge calls;
 *   - fresh slices taken past dirty ones too short for the request (but
 *     free for longer than purge_ms/25) purge as many of those: the RSS
 *     grows by at most half the fresh bytes (without: all of them);
 *   - pages of an exited thread go back once their last block is freed;
 *   - the next thread takes an exited thread's heap over, pages and all;
 *     one nobody takes is given back after purge_ms;
 *   - the purge thread, started from a short-lived thread, pins no page.
 * Every block is filled with a pattern and checked before it is freed.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <strata/malloc.h>
#include <strata/stats.h>
#include "test.h"

#define MiB ((size_t)1 << 20)

static size_t rss(void) { return strata_os_resident(); }

static void sleep_ms(long ms) {
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
  while (nanosleep(&ts, &ts) != 0) {}
}

typedef struct { unsigned char *p; uint32_t n; } blk;

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

/* A heap of `total` bytes of 16 B .. 16 KiB blocks (one size octave chosen
 * uniformly, then a size in it), every byte written. */
static blk *build(size_t total, size_t *count) {
  size_t cap = total / 16 + 1, n = 0, bytes = 0;
  blk *b = malloc(cap * sizeof *b);
  CHECK(b != NULL, "bookkeeping");
  while (bytes < total) {
    size_t base = (size_t)16 << (next() % 10);
    size_t sz = base + next() % base;
    b[n].p = malloc(sz);
    CHECK(b[n].p != NULL, "malloc(%zu)", sz);
    memset(b[n].p, (int)(n & 0xff), sz);
    b[n].n = (uint32_t)sz;
    bytes += sz;
    n++;
  }
  *count = n;
  return b;
}

static void release(blk *b, size_t i) {
  unsigned char want = (unsigned char)(i & 0xff);
  CHECK(b[i].p[0] == want && b[i].p[b[i].n / 2] == want && b[i].p[b[i].n - 1] == want,
        "block %zu corrupted before free", i);
  free(b[i].p);
  b[i].p = NULL;
}

/* Free everything; RSS must come down with no further call (purge thread)
 * or at malloc_trim (purge_thread=0). */
static void test_free_all(int with_thread) {
  size_t base = rss();
  size_t n;
  blk *b = build(192 * MiB, &n);
  size_t peak = rss();
  for (size_t i = 0; i < n; i++) release(b, i);
  free(b);
  size_t after = rss();
  if (with_thread) {
    long wait = strata_option_get("purge_ms") + 750;
    for (long t = 0; t < wait && rss() > base + (peak - base) / 20; t += 50) sleep_ms(50);
  } else {
    sleep_ms(strata_option_get("purge_ms") + 50);
    CHECK(malloc_trim(0) == 1, "malloc_trim(0) released nothing");
  }
  size_t end = rss();
  printf("free all (%s): baseline %zu MiB, peak %zu MiB, right after %zu MiB, then %zu MiB (%.1f%% of the peak above baseline)\n",
         with_thread ? "purge thread" : "malloc_trim", base / MiB, peak / MiB, after / MiB, end / MiB,
         100.0 * (double)(end > base ? end - base : 0) / (double)(peak - base));
  CHECK(end <= base + (peak - base) / 20, "RSS %zu MiB not within 5%% of the peak %zu MiB (baseline %zu MiB)",
        end / MiB, peak / MiB, base / MiB);
}

/* Free a random 90%: RSS must come down toward the live bytes. */
static void test_free_90(void) {
  size_t base = rss();
  size_t n;
  blk *b = build(256 * MiB, &n);
  size_t *perm = malloc(n * sizeof *perm);
  CHECK(perm != NULL, "perm");
  for (size_t i = 0; i < n; i++) perm[i] = i;
  for (size_t i = n; i > 1; i--) { size_t j = next() % i, t = perm[i - 1]; perm[i - 1] = perm[j]; perm[j] = t; }
  size_t peak = rss();
  for (size_t k = 0; k < n - n / 10; k++) release(b, perm[k]);
  size_t live = 0;
  for (size_t i = 0; i < n; i++) if (b[i].p) live += b[i].n;
  size_t now = rss();
  sleep_ms(1000);
  size_t idle = rss();
  double r_now = (double)(now - base) / (double)live, r_idle = (double)(idle - base) / (double)live;
  strata_purge();
  size_t purged = rss();
  double r_purged = (double)(purged - base) / (double)live;
  printf("free 90%%: peak %zu MiB, live %zu MiB; RSS above baseline %.2fx live at once, %.2fx after 1 s idle, %.2fx after strata_purge\n",
         (peak - base) / MiB, live / MiB, r_now, r_idle, r_purged);
  CHECK(r_idle <= 2.75, "RSS after 90%% freed and 1 s idle is %.2fx the live bytes (bound 2.75x)", r_idle);
  CHECK(r_purged <= 2.5, "RSS after strata_purge is %.2fx the live bytes (bound 2.5x)", r_purged);
  /* the survivors are intact, and the purged space is usable again */
  for (size_t i = 0; i < n; i++) if (b[i].p) release(b, i);
  blk *again = build(64 * MiB, &n);
  for (size_t i = 0; i < n; i++) release(again, i);
  free(again);
  free(perm);
  free(b);
}

/* Steady churn must not turn into syscalls: a window of small blocks
 * replaced at random for a while makes (almost) no purges. */
static void test_churn_no_purge(void) {
  enum { W = 20000 };
  CHECK(strata_option_set("purge_ms", 250) == 0, "purge_ms");   /* the default, whatever the environment says */
  static blk w[W];
  for (size_t i = 0; i < W; i++) { w[i].n = (uint32_t)(16 + next() % 1000); w[i].p = malloc(w[i].n); memset(w[i].p, (int)(i & 0xff), w[i].n); }
  strata_stats_t a, z;
  strata_stats_get(&a);
  for (size_t k = 0; k < 2000000; k++) {
    size_t i = next() % W;
    release(w, i);
    w[i].n = (uint32_t)(16 + next() % 1000);
    w[i].p = malloc(w[i].n);
    CHECK(w[i].p != NULL, "malloc");
    memset(w[i].p, (int)(i & 0xff), w[i].n);
  }
  CHECK(strata_stats(&z) == 0, "strata_stats");
  printf("churn: 2M replacements, %zu purge calls\n", z.purges - a.purges);
  CHECK(z.purges - a.purges <= 20, "steady churn made %zu purge calls", z.purges - a.purges);
  for (size_t i = 0; i < W; i++) release(w, i);
}

/* The large-block regions' exchange (region.c, rg_exchange; the page heap
 * does the same for slices, segment.c exchange_purge): blocks of 3 units,
 * every other one freed, leave dirty runs of 3 units between live blocks;
 * after 40 ms, blocks of 13 units fit none of them and take fresh units,
 * and as many of the stranded dirty ones are purged, so the resident set
 * does not grow by the new blocks' bytes. */
static void test_exchange(void) {
  enum { N = 64, K = 4 };
  CHECK(strata_option_set("purge_ms", 250) == 0 && strata_option_set("purge_thread", 0) == 0, "options");
  CHECK(strata_option_set("guard_sample", 0) == 0, "guard_sample");
  static blk a[N], big[K];
  for (size_t i = 0; i < N; i++) {
    a[i].n = 129 << 10;                             /* 3 units each */
    a[i].p = malloc(a[i].n);
    CHECK(a[i].p != NULL, "malloc");
    memset(a[i].p, (int)(i & 0xff), a[i].n);
  }
  for (size_t i = 0; i < N; i += 2) release(a, i);
  sleep_ms(40);
  strata_stats_t s0, s1;
  strata_stats_get(&s0);
  size_t r0 = rss(), fresh = 0;
  for (size_t i = 0; i < K; i++) {
    big[i].n = 769 << 10;                           /* 13 units: no dirty run fits */
    big[i].p = malloc(big[i].n);
    CHECK(big[i].p != NULL, "malloc");
    memset(big[i].p, (int)(i & 0xff), big[i].n);
    fresh += (size_t)13 << 16;
  }
  size_t r1 = rss();
  strata_stats_get(&s1);
  printf("exchange: %zu KiB of fresh units past stranded dirty ones: RSS %+ld KiB, %zu KiB purged\n",
         fresh >> 10, ((long)r1 - (long)r0) / 1024, (s1.purged_total - s0.purged_total) >> 10);
  CHECK(s1.purged_total - s0.purged_total >= fresh, "purged %zu bytes for %zu fresh", s1.purged_total - s0.purged_total, fresh);
  CHECK(r1 < r0 + fresh / 2, "RSS grew by %zu KiB for %zu KiB of fresh units", (r1 - r0) >> 10, fresh >> 10);
  for (size_t i = 0; i < K; i++) release(big, i);
  for (size_t i = 1; i < N; i += 2) release(a, i);
}

/* Each case in its own process, so one's memory is not another's baseline. */
static void in_child(void (*fn)(void), const char *what) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) { fn(); fflush(stdout); _exit(0); }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", what);
}

/* Blocks that outlive their thread: once the last one is freed (by another
 * thread, with no owner left to collect it), the page goes back to the page
 * heap at once -- not only when some thread adopts a page of its class or
 * malloc_trim runs.  purge_ms=0: the exiting thread's heap is abandoned at
 * once, not retired (test_retired covers retirement). */
#define ORPHANS 2000
static void *make_orphans(void *arg) {
  unsigned char **v = arg;
  for (size_t i = 0; i < ORPHANS; i++) {
    size_t n = 16 + (i * 37) % 3000;
    v[i] = malloc(n);
    CHECK(v[i] != NULL, "malloc");
    memset(v[i], (int)(i & 0xff), n);
  }
  return NULL;
}
static void test_orphans(void) {
  CHECK(strata_option_set("purge_thread", 0) == 0, "option");
  CHECK(strata_option_set("purge_ms", 0) == 0, "option");
  static unsigned char *v[ORPHANS];
  test_join(test_spawn(make_orphans, v));
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  size_t before = st.pages_abandoned;
  CHECK(before >= 10, "the thread's pages are abandoned: %zu", before);
  for (size_t i = 0; i < ORPHANS; i++) {
    size_t n = 16 + (i * 37) % 3000;
    for (size_t k = 0; k < n; k += 97) CHECK(v[i][k] == (unsigned char)(i & 0xff), "block %zu", i);
    free(v[i]);
  }
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.pages_abandoned == 0, "%zu of %zu abandoned pages left after every block was freed",
        st.pages_abandoned, before);
  printf("orphans: %zu abandoned pages, 0 left after the frees\n", before);
}

/* Threads that come and go: an exiting thread's heap is retired whole and
 * the next thread takes it over, pages and all (heap.c, "Retired heaps").
 * Thread A fills spans of 24 classes and exits leaving every other block
 * live; nothing is abandoned.  Thread B then frees A's leftovers -- local
 * frees, since B owns A's pages now (no remote free counted) -- and
 * allocates the same again without a single new span.  Then a retired heap
 * that nobody takes is abandoned once it has waited purge_ms (here on the
 * 64th malloc slow path after that): its pages, whose blocks main freed
 * meanwhile, go back to the page heap. */
#define RT_CLASSES 24
#define RT_PER 40
static unsigned char *rt_v[RT_CLASSES * RT_PER];
static size_t rt_size(size_t i) { return 48 + (i % RT_CLASSES) * 150; }   /* 48 .. 3498 bytes */
static void *rt_fill(void *arg) {
  (void)arg;
  for (size_t i = 0; i < RT_CLASSES * RT_PER; i++) {
    rt_v[i] = malloc(rt_size(i));
    CHECK(rt_v[i] != NULL, "malloc");
    memset(rt_v[i], (int)(i & 0xff), rt_size(i));
  }
  for (size_t i = 0; i < RT_CLASSES * RT_PER; i += 2) { free(rt_v[i]); rt_v[i] = NULL; }
  return NULL;
}
static void rt_free_left(void) {
  for (size_t i = 0; i < RT_CLASSES * RT_PER; i++) {
    if (rt_v[i] == NULL) continue;
    CHECK(rt_v[i][0] == (unsigned char)(i & 0xff) && rt_v[i][rt_size(i) - 1] == (unsigned char)(i & 0xff),
          "block %zu corrupted", i);
    free(rt_v[i]);
    rt_v[i] = NULL;
  }
}
static strata_stats_t rt_after_a;
static void *rt_takeover(void *arg) {
  (void)arg;
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  size_t remote = st.remote_frees;
  rt_free_left();
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.remote_frees == remote, "%zu of A's blocks were freed remotely: B does not own A's pages",
        st.remote_frees - remote);
  rt_fill(NULL);
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.pages_in_use <= rt_after_a.pages_in_use, "B took %zu new spans instead of A's",
        st.pages_in_use - rt_after_a.pages_in_use);
  return NULL;
}
static void test_retired(void) {
  CHECK(strata_option_set("purge_thread", 0) == 0, "option");
  CHECK(strata_option_set("purge_ms", 100) == 0, "option");
  strata_stats_t st0, st;
  CHECK(strata_stats_get(&st0) == 0, "stats");
  test_join(test_spawn(rt_fill, NULL));
  CHECK(strata_stats_get(&rt_after_a) == 0, "stats");
  CHECK(rt_after_a.pages_abandoned == 0, "%zu pages abandoned at exit: the heap was not retired",
        rt_after_a.pages_abandoned);
  CHECK(rt_after_a.pages_in_use >= st0.pages_in_use + RT_CLASSES, "A's spans kept: %zu -> %zu",
        st0.pages_in_use, rt_after_a.pages_in_use);
  test_join(test_spawn(rt_takeover, NULL));
  /* B exited in turn: its (A's) heap is retired with half its blocks live.
   * Main frees them; after purge_ms the heap is abandoned, and every page,
   * empty by then, goes back. */
  rt_free_left();
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.pages_in_use >= st0.pages_in_use + RT_CLASSES, "retired heap kept its spans: %zu -> %zu",
        st0.pages_in_use, st.pages_in_use);
  sleep_ms(150);
  for (int i = 0; i < 64; i++) {                 /* malloc slow paths (span blocks) */
    void *p = malloc(200 * 1024);
    CHECK(p != NULL, "malloc");
    free(p);
  }
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.pages_abandoned == 0, "%zu pages abandoned with no live block", st.pages_abandoned);
  CHECK(st.pages_in_use < st0.pages_in_use + RT_CLASSES, "the expired retired heap kept its spans: %zu -> %zu",
        st0.pages_in_use, st.pages_in_use);
  printf("retired: A's %zu spans taken over by B with no remote free and no new span; given back %s\n",
         rt_after_a.pages_in_use - st0.pages_in_use, "after purge_ms");
}

/* The purge thread started from a short-lived thread: what pthread_create
 * allocates for it (its DTV) lives as long as the purge thread, and must not
 * pin a page of the starter's heap once that thread is gone (it comes from
 * the orphan heap).  The worker frees 32 MiB of small blocks, so the purge
 * thread starts on one of its slow paths. */
static void *pt_starter(void *arg) {
  (void)arg;
  enum { N = 32 * 1024 };
  static unsigned char *v[N];
  for (size_t i = 0; i < N; i++) { v[i] = malloc(1000); CHECK(v[i] != NULL, "malloc"); memset(v[i], 1, 1000); }
  for (size_t i = 0; i < N; i++) free(v[i]);
  for (int i = 0; i < 64; i++) free(malloc(16 + (size_t)i * 16));   /* slow paths */
  return NULL;
}
static void test_purge_thread_start(void) {
  CHECK(strata_option_set("purge_thread", 1) == 0 && strata_option_set("purge_ms", 250) == 0, "option");
  test_join(test_spawn(pt_starter, NULL));
  strata_collect(1);
  strata_stats_t st;
  CHECK(strata_stats_get(&st) == 0, "stats");
  CHECK(st.pages_abandoned == 0, "%zu abandoned pages after strata_collect: a block the purge thread's start "
        "allocated pins a page of its exited starter", st.pages_abandoned);
  printf("purge thread started by a short-lived thread: no page pinned\n");
}

static void free_all_thread(void) { test_free_all(1); }
static void free_all_trim(void) { CHECK(strata_option_set("purge_thread", 0) == 0, "option"); test_free_all(0); }

int main(void) {
  in_child(free_all_thread, "free all, purge thread");
  in_child(free_all_trim, "free all, malloc_trim");
  in_child(test_free_90, "free 90%");
  in_child(test_churn_no_purge, "churn");
  in_child(test_exchange, "exchange");
  in_child(test_orphans, "orphans");
  in_child(test_retired, "retired heaps");
  in_child(test_purge_thread_start, "purge thread start");
  printf("t_purge: all passed\n");
  return 0;
}
