// Standard-library container churn for tests/real/cxx.sh.  Built with plain
// g++ (NOT linked against strata) and run plainly and under LD_PRELOAD, so
// operator new/delete reach whichever malloc is interposed.  Prints only
// address-independent checksums.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {  // deterministic xorshift64*
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t fnv(const std::string &s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
  return h;
}
uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull + 0x9E37ull; }

std::string word(Rng &r, size_t maxlen) {
  std::string w(1 + r.below(maxlen), 'a');
  for (auto &c : w) c = char('a' + r.below(26));
  return w;
}

uint64_t test_map(Rng &r) {
  uint64_t h = 0;
  for (int round = 0; round < 20; round++) {
    std::map<std::string, std::vector<int>> m;
    for (int i = 0; i < 20000; i++) {
      auto &v = m[word(r, 12)];
      v.push_back(i);
      if (r.below(4) == 0) v.resize(r.below(40));
    }
    for (int i = 0; i < 5000; i++) m.erase(word(r, 3));
    for (auto &kv : m) h = mix(fnv(kv.first, h), kv.second.size());
  }
  return h;
}

uint64_t test_unordered(Rng &r) {
  uint64_t h = 0;
  std::unordered_map<uint64_t, std::string> u;
  for (int i = 0; i < 300000; i++) {
    uint64_t k = r.below(100000);
    if (r.below(3) == 0) u.erase(k);
    else u[k] = std::string(r.below(100), char('A' + k % 26));
  }
  // order-independent sum over an unordered container
  uint64_t sum = 0;
  for (auto &kv : u) sum += kv.first * 31 + kv.second.size();
  h = mix(h, sum);
  h = mix(h, u.size());
  u.clear();
  u.rehash(0);
  return h;
}

uint64_t test_vector_sort(Rng &r) {
  std::vector<std::string> v;
  for (int i = 0; i < 200000; i++) v.push_back(word(r, 30));
  std::sort(v.begin(), v.end());
  std::stable_sort(v.begin(), v.end(), [](const std::string &a, const std::string &b) {
    return a.size() < b.size();
  });
  uint64_t h = 0;
  for (size_t i = 0; i < v.size(); i += 101) h = fnv(v[i], h);
  v.erase(std::unique(v.begin(), v.end()), v.end());
  h = mix(h, v.size());
  std::vector<std::string>().swap(v);
  std::vector<uint64_t> n(500000);
  for (auto &x : n) x = r.next();
  std::sort(n.begin(), n.end());
  for (size_t i = 0; i < n.size(); i += 997) h = mix(h, n[i]);
  return h;
}

struct Obj {
  int id;
  std::string name;
  std::vector<std::shared_ptr<Obj>> kids;
  std::weak_ptr<Obj> parent;
  Obj(int i, std::string n) : id(i), name(std::move(n)) {}
};

uint64_t test_shared(Rng &r, int *live_after) {
  uint64_t h = 0;
  std::weak_ptr<Obj> probe;
  {
    std::vector<std::shared_ptr<Obj>> all;
    for (int i = 0; i < 100000; i++) {
      auto o = (i % 2) ? std::make_shared<Obj>(i, word(r, 20))
                       : std::shared_ptr<Obj>(new Obj(i, word(r, 20)));
      if (!all.empty()) {
        auto &p = all[r.below(all.size())];
        p->kids.push_back(o);
        o->parent = p;
      }
      all.push_back(std::move(o));
    }
    probe = all[all.size() / 2];
    for (auto &o : all) h = mix(h, o->kids.size() * 7 + o->name.size());
    std::vector<std::unique_ptr<std::string>> u;
    for (int i = 0; i < 50000; i++) u.emplace_back(new std::string(word(r, 64)));
    for (auto &s : u) h = fnv(*s, h);
  }
  *live_after = probe.expired() ? 0 : 1;
  return h;
}

uint64_t test_streams(Rng &r) {
  std::ostringstream os;
  for (int i = 0; i < 100000; i++) os << i << ':' << word(r, 8) << '\n';
  std::string s = os.str();
  std::istringstream is(s);
  std::string line;
  uint64_t h = 0;
  std::list<std::string> lst;
  std::deque<std::string> dq;
  std::set<std::string> st;
  while (std::getline(is, line)) {
    h = fnv(line, h);
    lst.push_back(line);
    dq.push_front(line);
    if (line.size() > 10) st.insert(line.substr(line.find(':')));
    if (lst.size() > 1000) { lst.pop_front(); dq.pop_back(); }
  }
  return mix(mix(h, s.size()), st.size());
}

// Threads: independent workers, plus a producer/consumer queue so that
// objects allocated in one thread are freed in another.
uint64_t worker(int idx) {
  Rng r(1000 + idx);
  uint64_t h = 0;
  for (int round = 0; round < 30; round++) {
    std::map<int, std::string> m;
    std::vector<std::unique_ptr<char[]>> blocks;
    for (int i = 0; i < 3000; i++) {
      m[int(r.below(100000))] = word(r, 50);
      size_t sz = 1 + r.below(i % 100 == 0 ? 200000 : 512);
      blocks.emplace_back(new char[sz]);
      memset(blocks.back().get(), idx, sz);
      if (r.below(3) == 0 && !blocks.empty()) blocks.erase(blocks.begin() + r.below(blocks.size()));
    }
    for (auto &kv : m) h = mix(fnv(kv.second, h), kv.first);
    h = mix(h, blocks.size());
  }
  return h;
}

struct Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::unique_ptr<std::vector<std::string>>> q;
  bool done = false;
};

uint64_t test_threads() {
  const int nworkers = 4;
  std::vector<uint64_t> res(nworkers);
  std::vector<std::thread> ts;
  for (int i = 0; i < nworkers; i++) ts.emplace_back([i, &res] { res[i] = worker(i); });

  Queue qu;
  uint64_t consumed = 0, items = 0;
  std::thread prod([&qu] {
    Rng r(77);
    for (int i = 0; i < 50000; i++) {
      auto v = std::make_unique<std::vector<std::string>>();
      for (int j = 0, n = int(r.below(10)); j < n; j++) v->push_back(word(r, 100));
      std::unique_lock<std::mutex> lk(qu.mu);
      qu.cv.wait(lk, [&] { return qu.q.size() < 512; });
      qu.q.push_back(std::move(v));
      qu.cv.notify_all();
    }
    std::lock_guard<std::mutex> lk(qu.mu);
    qu.done = true;
    qu.cv.notify_all();
  });
  std::thread cons([&] {
    for (;;) {
      std::unique_ptr<std::vector<std::string>> v;
      {
        std::unique_lock<std::mutex> lk(qu.mu);
        qu.cv.wait(lk, [&] { return !qu.q.empty() || qu.done; });
        if (qu.q.empty()) break;
        v = std::move(qu.q.front());
        qu.q.pop_front();
        qu.cv.notify_all();
      }
      for (auto &s : *v) consumed = fnv(s, consumed);
      items++;
      // v (allocated by the producer thread) is freed here
    }
  });
  for (auto &t : ts) t.join();
  prod.join();
  cons.join();
  // many short-lived threads (thread cache creation/teardown)
  uint64_t shorts = 0;
  for (int round = 0; round < 20; round++) {
    std::vector<std::thread> sh;
    std::vector<uint64_t> out(8);
    for (int i = 0; i < 8; i++)
      sh.emplace_back([i, round, &out] {
        std::vector<std::string> v;
        for (int j = 0; j < 500; j++) v.push_back(std::string(size_t(j % 97 + i), char('a' + round % 26)));
        uint64_t h = 0;
        for (auto &s : v) h = fnv(s, h);
        out[i] = h;
      });
    for (auto &t : sh) t.join();
    for (auto x : out) shorts = mix(shorts, x);
  }
  uint64_t h = mix(mix(consumed, items), shorts);
  for (auto x : res) h = mix(h, x);
  return h;
}

bool check_preloaded() {
  const char *want = getenv("REAL_EXPECT_PRELOADED");
  if (!want || !*want) return true;
  std::ifstream f("/proc/self/maps");
  std::string maps((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return maps.find(std::string("/") + want) != std::string::npos;
}

}  // namespace

int main() {
  if (!check_preloaded()) {
    fprintf(stderr, "containers: %s not in /proc/self/maps\n", getenv("REAL_EXPECT_PRELOADED"));
    return 3;
  }
  Rng r(20240611);
  printf("map %016llx\n", (unsigned long long)test_map(r));
  printf("unordered_map %016llx\n", (unsigned long long)test_unordered(r));
  printf("vector_sort %016llx\n", (unsigned long long)test_vector_sort(r));
  int live = -1;
  uint64_t sh = test_shared(r, &live);
  printf("shared_ptr %016llx freed=%s\n", (unsigned long long)sh, live == 0 ? "yes" : "NO");
  printf("streams %016llx\n", (unsigned long long)test_streams(r));
  printf("threads %016llx\n", (unsigned long long)test_threads());
  printf("done\n");
  return 0;
}
