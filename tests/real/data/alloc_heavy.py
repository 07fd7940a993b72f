# Allocation-heavy, deterministic Python workload for tests/real/python.sh.
# Run with PYTHONMALLOC=malloc so every object goes through malloc/free.
# Prints only values that do not depend on addresses (no id(), no sets of
# objects, no default object hashes), so output must be identical whatever
# allocator is underneath.
import gc
import hashlib
import json
import os
import random
import sys
import weakref
import zlib


def check_preloaded():
    want = os.environ.get("REAL_EXPECT_PRELOADED")
    if want:
        with open("/proc/self/maps") as f:
            if ("/" + want) not in f.read():
                sys.stderr.write("alloc_heavy.py: %s not in /proc/self/maps\n" % want)
                sys.exit(3)


def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]


def churn_containers(rng):
    total = 0
    keep = []
    for rnd in range(40):
        d = {}
        for i in range(4000):
            k = "k%d_%d" % (rng.randrange(100000), i)
            d[k] = (i, k * (i % 5), [i] * (i % 7))
        lst = sorted(d.items(), key=lambda kv: (len(kv[1][1]), kv[0]))
        total = (total * 31 + len(lst) + sum(v[0] for _, v in lst[:100])) % (1 << 61)
        # keep some survivors so the heap has long- and short-lived objects
        keep.append(lst[rng.randrange(len(lst))])
        if len(keep) > 25:
            del keep[rng.randrange(len(keep))]
        # strings: grow, slice, join, replace
        s = "".join(chr(97 + (i * 7 + rnd) % 26) for i in range(5000))
        parts = [s[i:i + rng.randrange(1, 300)] for i in range(0, len(s), 97)]
        joined = "|".join(parts).replace("ab", "XYZ" * 3).upper()
        total = (total ^ zlib.crc32(joined.encode())) % (1 << 61)
        # bytes / bytearray with realloc-style growth
        ba = bytearray()
        for i in range(3000):
            ba += bytes([i % 256]) * (i % 13)
        total = (total + zlib.adler32(bytes(ba))) % (1 << 61)
        del d, lst, s, parts, joined, ba
    return total, digest(sorted(keep))


def json_roundtrip(rng):
    doc = {
        "users": [
            {
                "id": i,
                "name": "user%05d" % i,
                "tags": ["t%d" % rng.randrange(50) for _ in range(rng.randrange(0, 12))],
                "score": round(rng.random() * 1000, 3),
                "nested": {"a": [i, i * 2, {"b": "x" * (i % 40)}], "c": None, "d": i % 3 == 0},
            }
            for i in range(10000)
        ],
        "meta": {"version": 3, "blob": "y" * 200000},
    }
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc
    text2 = json.dumps(back, sort_keys=True, indent=1)
    back2 = json.loads(text2)
    assert back2 == doc
    return len(text), len(text2), hashlib.sha256(text.encode()).hexdigest()[:16]


def sorting(rng):
    nums = [rng.randrange(-10**9, 10**9) for _ in range(200000)]
    floats = [rng.random() for _ in range(100000)]
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 12)))
             for _ in range(50000)]
    tuples = sorted(zip(words, nums), key=lambda t: (t[0], -t[1]))
    nums.sort()
    floats.sort(reverse=True)
    return (digest(nums[::997]), digest(floats[::499]), digest(tuples[::331]),
            sum(nums) % 1000003)


class Node:
    __slots__ = ("name", "children", "parent", "payload", "__weakref__")

    def __init__(self, name, payload):
        self.name = name
        self.children = []
        self.parent = None
        self.payload = payload


def cycles(rng):
    freed = [0]

    def on_free():
        freed[0] += 1

    made = 0
    checks = []
    gc.disable()
    for rnd in range(20):
        nodes = [Node("n%d_%d" % (rnd, i), [i] * (i % 9)) for i in range(3000)]
        for i, n in enumerate(nodes):
            weakref.finalize(n, on_free)
            # parent pointer + random cross links => plenty of reference cycles
            if i:
                p = nodes[rng.randrange(i)]
                n.parent = p
                p.children.append(n)
            n.children.append(nodes[rng.randrange(len(nodes))])
        made += len(nodes)
        checks.append(sum(len(n.children) for n in nodes))
        del nodes, n, p
        if rnd % 5 == 4:
            gc.collect()
    gc.enable()
    gc.collect()
    return made, freed[0], sum(checks)


class Account:
    def __init__(self, i):
        self.i = i
        self.history = {}
        self.peer = None


def instance_graph(rng):
    accounts = [Account(i) for i in range(20000)]
    for a in accounts:
        a.peer = accounts[rng.randrange(len(accounts))]
        for j in range(rng.randrange(8)):
            a.history["t%d" % j] = (a.i * j, str(a.i) * (j + 1))
    value = sum(a.peer.i + len(a.history) for a in accounts)
    del accounts, a
    n = gc.collect()
    return value, n > 0


def main():
    check_preloaded()
    rng = random.Random(20240611)
    print("containers", *churn_containers(rng))
    print("json", *json_roundtrip(rng))
    print("sorting", *sorting(rng))
    print("cycles", *cycles(rng))
    print("instances", *instance_graph(rng))
    # a final burst of tiny allocations of every size up to a few KiB
    acc = 0
    for rep in range(20):
        objs = [b"z" * ((i * 37 + rep) % 4100) for i in range(20000)]
        acc = (acc + sum(map(len, objs[::7]))) % 1000000007
        del objs[::2]
        objs.extend("w" * (i % 700) for i in range(5000))
        acc = (acc * 3 + len(objs)) % 1000000007
    print("tiny", acc)
    print("done")


if __name__ == "__main__":
    main()
