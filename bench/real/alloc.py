# bench/real/alloc.py -- allocation-heavy, deterministic Python work for
# bench/real/python.sh (run with PYTHONMALLOC=malloc, PYTHONHASHSEED=0, so
# every object goes through malloc).  Usage: python3 alloc.py SCALE
# Output depends only on SCALE (no id(), no address-dependent ordering).
import hashlib
import json
import sys


def lcg(seed):
    x = seed
    while True:
        x = (x * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield x >> 33


class Node:
    __slots__ = ("key", "val", "next")

    def __init__(self, key, val, nxt):
        self.key = key
        self.val = val
        self.next = nxt


def dicts_and_strings(rng, n):
    d = {}
    for i in range(n):
        k = "k%d_%x" % (next(rng) % (n // 2 + 1), i & 0xff)
        d[k] = ("v" * (next(rng) % 40)) + str(i)
        if i % 3 == 0:
            d.pop("k%d_%x" % (next(rng) % (n // 2 + 1), (i - 1) & 0xff), None)
    items = sorted(d.items())
    return len(items), hashlib.md5("".join(k + v for k, v in items[::97]).encode()).hexdigest()


def lists_and_tuples(rng, n):
    rows = [(next(rng) % 1000, "r%d" % i, [next(rng) % 7 for _ in range(next(rng) % 8)]) for i in range(n)]
    rows.sort(key=lambda r: (r[0], r[1]))
    total = sum(r[0] + len(r[2]) for r in rows)
    groups = {}
    for r in rows:
        groups.setdefault(r[0] % 50, []).append(r[1])
    return total, sum(len(v) for v in groups.values()), rows[len(rows) // 2][1]


def json_roundtrip(rng, n):
    docs = []
    for i in range(n // 10):
        docs.append({"id": i, "name": "doc%d" % i, "tags": ["t%d" % (next(rng) % 30) for _ in range(5)],
                     "nested": {"a": [next(rng) % 100 for _ in range(10)], "b": "x" * (i % 50)}})
    s = json.dumps(docs, sort_keys=True)
    back = json.loads(s)
    return len(s), sum(len(d["tags"]) + sum(d["nested"]["a"]) for d in back)


def linked(rng, n):
    head = None
    for i in range(n):
        head = Node(i, "n%d" % (next(rng) % 1000), head)
    s, node, kept = 0, head, []
    while node is not None:
        s += node.key
        if node.key % 10 == 0:
            kept.append(node.val)
        node = node.next
    return s, len(kept)


def strings(rng, n):
    parts = ["%05d:%s" % (next(rng) % 100000, "ab" * (i % 17)) for i in range(n)]
    text = "|".join(parts)
    words = text.split("|")
    up = [w.upper() for w in words if w.endswith("b")]
    return len(text), len(up), hashlib.md5(" ".join(sorted(up)[:500]).encode()).hexdigest()


def main():
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    rng = lcg(42)
    n = 20000 * scale
    for rnd in range(3):
        print("round", rnd)
        print("dicts", *dicts_and_strings(rng, n))
        print("lists", *lists_and_tuples(rng, n))
        print("json", *json_roundtrip(rng, n))
        print("linked", *linked(rng, n))
        print("strings", *strings(rng, n))
    print("done")


main()
