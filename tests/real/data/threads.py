# Multi-threaded allocation churn for tests/real/python.sh (PYTHONMALLOC=malloc).
# Several threads build and discard structures; a producer/consumer pair hands
# objects from one thread to another so they are freed by a thread other than
# the one that allocated them.  The printed result is deterministic: each
# worker uses its own seeded RNG and results are printed in thread order.
import hashlib
import os
import queue
import random
import sys
import threading


def check_preloaded():
    want = os.environ.get("REAL_EXPECT_PRELOADED")
    if want:
        with open("/proc/self/maps") as f:
            if ("/" + want) not in f.read():
                sys.stderr.write("threads.py: %s not in /proc/self/maps\n" % want)
                sys.exit(3)


def worker(idx, results):
    rng = random.Random(1000 + idx)
    h = hashlib.sha256()
    live = []
    for rnd in range(60):
        d = {("w%d" % idx, i): ["v" * rng.randrange(0, 200), i, (i, rnd)] for i in range(1500)}
        items = sorted(d.items(), key=lambda kv: (len(kv[1][0]), kv[0][1]))
        h.update(repr(items[:: max(1, len(items) // 20)]).encode())
        live.append(items[rng.randrange(len(items))])
        if len(live) > 40:
            live.pop(rng.randrange(len(live)))
        big = bytearray(rng.randrange(1, 300000))
        big[::4096] = b"\x01" * len(big[::4096])
        h.update(bytes([sum(big) % 251]))
        del d, items, big
    h.update(repr(sorted(live)).encode())
    results[idx] = h.hexdigest()[:16]


def producer(q, n, seed):
    rng = random.Random(seed)
    for i in range(n):
        q.put({"i": i, "data": [str(i)] * rng.randrange(1, 50), "blob": b"p" * rng.randrange(0, 5000)})
    q.put(None)


def consumer(q, out):
    total = 0
    count = 0
    while True:
        item = q.get()
        if item is None:
            break
        total += item["i"] + len(item["data"]) + len(item["blob"])
        count += 1
        del item  # freed here, allocated by the producer thread
    out.append((count, total))


def main():
    check_preloaded()
    nthreads = 6
    results = [None] * nthreads
    threads = [threading.Thread(target=worker, args=(i, results)) for i in range(nthreads)]
    qs = [queue.Queue(maxsize=256) for _ in range(2)]
    outs = [[] for _ in range(2)]
    for k in range(2):
        threads.append(threading.Thread(target=producer, args=(qs[k], 40000, 77 + k)))
        threads.append(threading.Thread(target=consumer, args=(qs[k], outs[k])))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        print("worker", i, r)
    for k in range(2):
        print("handoff", k, *outs[k][0])
    print("done")


if __name__ == "__main__":
    main()
