/* Unit test: the OS page layer. */
#include <errno.h>
#include <signal.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "os/os.h"

#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
  fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); exit(1); } } while (0)

static sigjmp_buf jb;
static void on_segv(int s) { (void)s; siglongjmp(jb, 1); }
static int readable(volatile char *p) {
  if (sigsetjmp(jb, 1)) return 0;
  (void)*p;
  return 1;
}

int main(void) {
  size_t ps = _st_os_page_size();
  CHECK(ps >= 4096 && (ps & (ps - 1)) == 0, "page size %zu", ps);
  signal(SIGSEGV, on_segv);

  /* aligned reservations for every power of two up to 1 GiB */
  for (size_t a = 1; a <= ((size_t)1 << 30); a <<= 1) {
    void *p = _st_os_alloc(3 * ps, a);
    CHECK(p != NULL, "alloc align %zu failed", a);
    CHECK(((uintptr_t)p & ((a < ps ? ps : a) - 1)) == 0, "align %zu: %p", a, p);
    memset(p, 0x5a, 3 * ps);
    _st_os_release(p, 3 * ps);
  }
  CHECK(_st_os_alloc(ps, 3 * ps) == NULL && errno == EINVAL, "non-power-of-two alignment accepted");

  /* reserve -> commit -> use -> decommit (inaccessible, RSS drops) -> release */
  size_t big = (size_t)64 << 20;
  char *r = _st_os_reserve(big, (size_t)4 << 20);
  CHECK(r != NULL, "reserve");
  CHECK(!readable(r), "reserved memory is accessible");
  CHECK(_st_os_commit(r, big) == 0, "commit");
  size_t rss0 = _st_os_resident();
  memset(r, 1, big);
  size_t rss1 = _st_os_resident();
  CHECK(rss1 >= rss0 + big / 2, "RSS did not grow after touching 64 MiB: %zu -> %zu", rss0, rss1);
  CHECK(_st_os_reset(r, big / 2) == 0, "reset");
  CHECK(r[0] == 0 && r[big / 2 - 1] == 0 && r[big / 2] == 1, "reset range does not read as zero");
  CHECK(_st_os_decommit(r, big) == 0, "decommit");
  size_t rss2 = _st_os_resident();
  CHECK(rss2 + big / 2 <= rss1, "RSS did not drop after decommit: %zu -> %zu", rss1, rss2);
  CHECK(!readable(r + ps), "decommitted memory is accessible");
  CHECK(_st_os_commit(r, ps) == 0 && r[0] == 0, "recommit reads zero");
  _st_os_release(r, big);

  /* remap: grow in place or onto a reserved destination; shrink */
  char *m = _st_os_alloc(4 * ps, 0);
  memset(m, 7, 4 * ps);
  char *dst = _st_os_reserve(64 * ps, (size_t)4 << 20);
  char *m2 = _st_os_remap(m, 4 * ps, 64 * ps, dst);
  CHECK(m2 == dst && m2[0] == 7 && m2[4 * ps - 1] == 7 && m2[10 * ps] == 0, "remap move");
  CHECK(_st_os_remap(m2, 64 * ps, 8 * ps, NULL) == m2, "shrink in place");
  _st_os_release(m2, 8 * ps);

  /* injected failures come back as NULL/ENOMEM, nothing aborts */
  _st_os_fail_next(2);
  errno = 0;
  CHECK(_st_os_alloc(ps, 0) == NULL && errno == ENOMEM, "fault injection 1");
  CHECK(_st_os_reserve(ps, (size_t)1 << 22) == NULL && errno == ENOMEM, "fault injection 2");
  void *ok = _st_os_alloc(ps, 0);
  CHECK(ok != NULL, "allocation after injected failures");
  _st_os_release(ok, ps);
  /* impossible sizes */
  CHECK(_st_os_alloc((size_t)1 << 62, 0) == NULL && errno == ENOMEM, "huge size");
  printf("os layer: page %zu, rss after touch +%zu KiB, after decommit -%zu KiB, maps %zu unmaps %zu\n",
         ps, (rss1 - rss0) >> 10, (rss1 - rss2) >> 10, _st_os_maps(), _st_os_unmaps());
  return 0;
}
