/* tests/test.h -- tiny shared helpers for strata's tests.
 *
 * CHECK(cond, fmt, ...): on failure print "file:line: CHECK failed: cond: msg"
 * to stderr and exit 1 (with _exit, so a broken allocator or a wedged thread
 * cannot hang the exit path).
 *
 * pat_fill / pat_check: a position-dependent byte pattern derived from a
 * 64-bit seed.  Byte j of a block is byte (j & 7) of W(j >> 3), where
 * W(k) = mix(seed) + k * odd constant.  Filling is word-wise on 8-aligned
 * blocks; a prefix of a block filled with seed s has the same contents as a
 * shorter block filled with s, so realloc can be checked with the old seed.
 *
 * blk_t: a block {p, n, seed} carrying that pattern.  blk_fill(b, salt)
 * derives the seed from (p, n, salt) and fills; blk_vfy(b, what) CHECKs the
 * whole block.  Neither allocates, so the san_* tests (strata_* API only)
 * may use them.  blk_new(n, salt, what) is malloc + CHECK + blk_fill; it is
 * left out when STRATA_OVERRIDE=0 (the san_* builds, where malloc is not
 * strata).
 *
 * test_spawn / test_join: pthread_create / pthread_join that CHECK success.
 */
#ifndef STRATA_TEST_H
#define STRATA_TEST_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                          \
      fputc('\n', stderr);                                                   \
      fflush(stdout);                                                        \
      _exit(1);                                                              \
    }                                                                        \
  } while (0)

typedef uint64_t __attribute__((may_alias)) test_u64a;

/* qsort comparator for an array of pointers, by address. */
static inline int test_cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
  return x < y ? -1 : x > y;
}

static inline uint64_t pat_mix(uint64_t x) {
  x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}
/* A seed for a block from its address, size and a caller seed. */
static inline uint64_t pat_seed(const void *p, size_t n, uint64_t seed) {
  return pat_mix((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL ^ pat_mix(n + seed));
}
#define PAT_K 0xD6E8FEB86659FD93ULL
static inline unsigned char pat_byte(uint64_t seed, size_t j) {
  uint64_t w = pat_mix(seed) + (uint64_t)(j >> 3) * PAT_K;
  return (unsigned char)(w >> (8 * (j & 7)));
}
static inline void pat_fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = (unsigned char *)p;
  size_t j = 0;
  if (((uintptr_t)b & 7) == 0) {
    uint64_t w = pat_mix(seed);
    test_u64a *q = (test_u64a *)b;
    for (size_t k = 0; k < n / 8; k++, w += PAT_K) q[k] = w;
    j = n & ~(size_t)7;
  }
  for (; j < n; j++) b[j] = pat_byte(seed, j);
}
/* Returns 0 if the first n bytes of p hold the pattern, else 1 + the offset
 * of the first bad byte. */
static inline size_t pat_check(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = (const unsigned char *)p;
  size_t j = 0;
  if (((uintptr_t)b & 7) == 0) {
    uint64_t w = pat_mix(seed);
    const test_u64a *q = (const test_u64a *)b;
    for (size_t k = 0; k < n / 8; k++, w += PAT_K)
      if (q[k] != w) { j = k * 8; goto bytes; }
    j = n & ~(size_t)7;
  }
bytes:
  for (; j < n; j++)
    if (b[j] != pat_byte(seed, j)) return j + 1;
  return 0;
}
/* 1 if the n bytes at p are all zero. */
static inline int mem_is_zero(const void *p, size_t n) {
  const unsigned char *b = (const unsigned char *)p;
  size_t j = 0;
  while (j < n && ((uintptr_t)(b + j) & 7)) if (b[j++]) return 0;
  for (; j + 8 <= n; j += 8) if (*(const test_u64a *)(b + j)) return 0;
  for (; j < n; j++) if (b[j]) return 0;
  return 1;
}
/* xorshift64* PRNG, one state per thread. */
static inline uint64_t rnd_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}
static inline double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { void *p; size_t n; uint64_t seed; } blk_t;
static inline void blk_fill(blk_t *b, uint64_t salt) {
  b->seed = pat_seed(b->p, b->n, salt);
  pat_fill(b->p, b->n, b->seed);
}
static inline void blk_vfy(const blk_t *b, const char *what) {
  size_t bad = pat_check(b->p, b->n, b->seed);
  CHECK(bad == 0, "%s: %zu-byte block %p corrupted at offset %zu", what, b->n, b->p, bad - 1);
}
#if !defined(STRATA_OVERRIDE) || STRATA_OVERRIDE
static inline blk_t blk_new(size_t n, uint64_t salt, const char *what) {
  blk_t b = { malloc(n), n, 0 };
  CHECK(b.p != NULL, "%s: malloc(%zu) failed, errno %d", what, n, errno);
  blk_fill(&b, salt);
  return b;
}
#endif

static inline pthread_t test_spawn(void *(*fn)(void *), void *arg) {
  pthread_t t;
  int rc = pthread_create(&t, NULL, fn, arg);
  CHECK(rc == 0, "pthread_create: %d", rc);
  return t;
}
static inline void *test_join(pthread_t t) {
  void *r;
  int rc = pthread_join(t, &r);
  CHECK(rc == 0, "pthread_join: %d", rc);
  return r;
}

/* Run fn in a forked child (stderr captured into buf, NUL-terminated; a
 * 20 s alarm against hangs); returns its wait status.  For tests that check
 * a misuse is reported and aborts. */
static inline int test_in_child(void (*fn)(void), char *buf, size_t cap) {
  int fd[2];
  CHECK(pipe(fd) == 0, "pipe");
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0, "fork");
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], 2);
    alarm(20);
    fn();
    _exit(0);
  }
  close(fd[1]);
  size_t len = 0;
  ssize_t r;
  while (len + 1 < cap && (r = read(fd[0], buf + len, cap - 1 - len)) > 0) len += (size_t)r;
  buf[len] = 0;
  close(fd[0]);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
  return st;
}

#endif
