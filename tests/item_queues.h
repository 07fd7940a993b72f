/* item_queues.h -- what the cross-thread stress tests (t_latefree,
 * t_keystress) share: NQUEUES bounded FIFOs of item_t, each under its own
 * mutex, where threads push the blocks they make and pop others' to free
 * them; and spawner(), which starts short-lived threads (the includer's
 * ephemeral(), 8 at a time, counted in n_threads) until `stop`.  The
 * includer defines item_t, NQUEUES and QCAP first, and ephemeral(), and
 * calls q_init() before any thread starts. */
#ifndef STRATA_TEST_ITEM_QUEUES_H
#define STRATA_TEST_ITEM_QUEUES_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "test.h"

typedef struct { pthread_mutex_t m; item_t v[QCAP]; size_t head, len; } queue_t;
static queue_t queues[NQUEUES];

static void q_init(void) {
  for (int i = 0; i < NQUEUES; i++) pthread_mutex_init(&queues[i].m, NULL);
}
/* Onto queue q % NQUEUES; 0 when it is full. */
static int q_push(uint64_t q, item_t it) {
  queue_t *Q = &queues[q % NQUEUES];
  pthread_mutex_lock(&Q->m);
  int ok = Q->len < QCAP;
  if (ok) { Q->v[(Q->head + Q->len) % QCAP] = it; Q->len++; }
  pthread_mutex_unlock(&Q->m);
  return ok;
}
/* The oldest item of queue q % NQUEUES; 0 when it is empty. */
static int q_pop(uint64_t q, item_t *it) {
  queue_t *Q = &queues[q % NQUEUES];
  pthread_mutex_lock(&Q->m);
  int ok = Q->len > 0;
  if (ok) { *it = Q->v[Q->head]; Q->head = (Q->head + 1) % QCAP; Q->len--; }
  pthread_mutex_unlock(&Q->m);
  return ok;
}

static atomic_int stop;
static atomic_long n_threads;
static void *ephemeral(void *arg);

static void *spawner(void *arg) {
  uint64_t s = (uintptr_t)arg | 1;
  while (!atomic_load(&stop)) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) t[i] = test_spawn(ephemeral, (void *)(uintptr_t)rnd_next(&s));
    for (int i = 0; i < 8; i++) test_join(t[i]);
    atomic_fetch_add(&n_threads, 8);
  }
  return NULL;
}
#endif
