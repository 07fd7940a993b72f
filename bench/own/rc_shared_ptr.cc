// bench/own/rc_shared_ptr.cc -- the std::shared_ptr side of bench/own/rc.c.
//
//   rc_shared_ptr --once [--quick]   one round: "name value" lines
//   rc_shared_ptr --cg MODE K        K iterations of MODE in cg_loop
//
// Same loops, same barriers and same counts as rc.c:
//   sp_copy    copy + destroy of a shared_ptr (atomic increment, atomic
//              decrement-and-test)
//   sp_copy_x  copy of 256 shared_ptrs, then destroy of all (per pair)
//   wp_lock    weak_ptr::lock() + destroy of the result
//   sp_make    make_shared<16 bytes> + destroy
//
// libstdc++ skips the atomic instructions when it thinks the program is
// single-threaded: with glibc >= 2.32 it tests __libc_single_threaded (true
// until the first thread is created), before that __gthread_active_p()
// (false when not linked with pthread).  This program is linked with
// -pthread, starts and joins a std::thread before measuring, and prints
// both: the line "atomic_path yes" means the lock-prefixed path (lock add
// for a copy, lock xadd for a destroy) is what is measured.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <sys/single_threaded.h>
#include <thread>
#include <vector>

#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")

struct payload { uint64_t a, b; };   // 16 bytes, as rc.c's objects

static double now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   // as rc.c: CPU time of this thread
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double t_copy(long n) {
  auto p = std::make_shared<payload>();
  double t0 = now();
  for (long i = 0; i < n; i++) {
    std::shared_ptr<payload> c(p);
    BARRIER(c.get());
  }
  return (now() - t0) * 1e9 / (double)n;
}

static double t_copy_x(long n) {
  const int NX = 256;
  std::vector<std::shared_ptr<payload>> v(NX), c(NX);
  for (auto &x : v) x = std::make_shared<payload>();
  long rounds = n / NX;
  double t0 = now();
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < NX; i++) c[i] = v[i];
    BARRIER(c.data());
    for (int i = 0; i < NX; i++) c[i].reset();
    BARRIER(c.data());
  }
  return (now() - t0) * 1e9 / (double)(rounds * NX);
}

static double t_lock(long n) {
  auto p = std::make_shared<payload>();
  std::weak_ptr<payload> w(p);
  double t0 = now();
  for (long i = 0; i < n; i++) {
    std::shared_ptr<payload> c = w.lock();
    BARRIER(c.get());
  }
  return (now() - t0) * 1e9 / (double)n;
}

static double t_make(long n) {
  double t0 = now();
  for (long i = 0; i < n; i++) {
    auto p = std::make_shared<payload>();
    BARRIER(p.get());
  }
  return (now() - t0) * 1e9 / (double)n;
}

static std::shared_ptr<payload> cg_p;
static std::weak_ptr<payload> cg_w;
__attribute__((noinline)) static void cg_loop(const char *mode, long k) {
  if (!strcmp(mode, "sp_copy"))
    for (long i = 0; i < k; i++) { std::shared_ptr<payload> c(cg_p); BARRIER(c.get()); }
  else if (!strcmp(mode, "wp_lock"))
    for (long i = 0; i < k; i++) { std::shared_ptr<payload> c = cg_w.lock(); BARRIER(c.get()); }
  else if (!strcmp(mode, "sp_make"))
    for (long i = 0; i < k; i++) { auto p = std::make_shared<payload>(); BARRIER(p.get()); }
  else
    for (long i = 0; i < k; i++) BARRIER(cg_p.get());
}

int main(int argc, char **argv) {
  std::thread([] {}).join();             // make libstdc++ see a multi-threaded program
  int quick = 0, once = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--once")) once = 1;
    else if (!strcmp(argv[i], "--cg") && i + 2 < argc) {
      cg_p = std::make_shared<payload>();
      cg_w = cg_p;
      cg_loop(argv[i + 1], 10);
      cg_loop(argv[i + 1], atol(argv[i + 2]));
      return 0;
    }
  }
  if (!once) { fprintf(stderr, "usage: %s --once [--quick] | --cg MODE K\n", argv[0]); return 2; }
  bool atomic = __gthread_active_p() && !__libc_single_threaded;
  printf("atomic_path %s (__libc_single_threaded = %d, __gthread_active_p() = %d)\n",
         atomic ? "yes" : "NO", (int)__libc_single_threaded, (int)__gthread_active_p());
  long k = quick ? 1 : 4;
  printf("sp_copy %.3f\n", t_copy(k * 5000000));
  printf("sp_copy_x %.3f\n", t_copy_x(k * 5000000));
  printf("wp_lock %.3f\n", t_lock(k * 5000000));
  printf("sp_make %.3f\n", t_make(k * 1000000));
  return 0;
}
