#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (seed-*), one per
theme, in the input format of heap_fuzz.c: an opcode byte, a slot byte,
then the operation's arguments.  Reproducers of fixed bugs (regress-*) and
inputs the fuzzer found are committed next to them.  Usage: python3 tests/fuzz/make_seeds.py"""
import os, random

def tiny(n):  return [0, n & 127]
def small(n): return [3, n & 255, (n >> 8) & 7]
def mid(n):   return [6, n & 255, (n >> 8) & 255, (n >> 16) & 3]
def big(n):   return [7, n & 255, (n >> 8) & 255, (n >> 16) & 63]
def upto1m(n): return [15, n & 255, (n >> 8) & 255, (n >> 16) & 15]   # below 1 MiB
def huge(n):  m = (n - (16 << 20)) // 2; return [0x27, m & 255, (m >> 8) & 255, (m >> 16) & 255]   # 16..48 MiB, even
def bnd(i, d=0): return [4 | (d << 3), i]          # boundary table entry i, delta index d
def sz(n):
    if n < 128: return tiny(n)
    if n < 2048: return small(n)
    if n < 256 << 10: return mid(n)
    return big(n)
def al(a): return [a.bit_length() - 1]

MALLOC, CALLOC, PMEMALIGN, ALIGNED, REALLOC_NULL = 0, 3, 4, 5, 6
MEMALIGN = 26
FREE, SIZED, CFREE = 7, 9, 29
REALLOC, REALLOC0, USABLE, WRITE = 10, 12, 13, 14
RFREE, RALLOC, RREALLOC, ERRORS = 15, 16, 17, 18
STOP, CHECK, TRIM, DRAIN = 19, 39, 59, 79
OPTION = 99                              # argument w: option w % 3, value (w // 3) % 4

def op(o, s, *args):
    out = [o, s]
    for a in args: out += a if isinstance(a, list) else [a]
    return out

seeds = {}
seeds["seed-small"] = sum([op(MALLOC, i, sz(n)) for i, n in enumerate([0, 1, 15, 16, 17, 100, 127, 128, 129, 1000, 1024, 1025, 2047])], []) \
    + sum([op(USABLE, i) + op(FREE, i) for i in range(13)], [])
seeds["seed-bounds"] = sum([op(MALLOC, i % 64, bnd(i, i % 8)) for i in range(130)], []) + op(CHECK, 0)
seeds["seed-calloc"] = sum([op(CALLOC, i, sz(n), m) for i, (n, m) in enumerate([(0, 1), (33, 3), (4096, 7), (70000, 15), (200000, 2), (2 << 20, 0)])], [])
seeds["seed-aligned"] = sum([op(PMEMALIGN if a % 2 else ALIGNED, i, sz(n), al(a))
                             for i, (n, a) in enumerate([(1, 32), (100, 64), (3000, 4096), (70000, 65536), (5, 1 << 17),
                                                         (1 << 20, 1 << 20), (10, 2), (0, 1 << 19), (300000, 8192)])], []) \
    + sum([op(SIZED, i) for i in range(9)], [])
seeds["seed-memalign"] = sum([op(MEMALIGN, i, sz(n), w) for i, (n, w) in enumerate([(10, 0), (10, 1), (10, 2), (5000, 3 * 9), (0, 4), (70000, 5), (3 << 20, 8)])], [])
seeds["seed-realloc"] = op(MALLOC, 1, sz(10)) + sum([op(REALLOC, 1, sz(n), n & 1) for n in
                        [20, 200, 2000, 20000, 130000, 600000, 1 << 20, (1 << 20) + 1, 3 << 20, 2 << 20, 500000, 100000, 5000, 64, 1]], []) \
    + op(REALLOC0, 1) + op(REALLOC, 2, sz(77), 0) + op(CFREE, 2)
seeds["seed-large"] = sum([op(MALLOC, i, big(n)) for i, n in enumerate([(1 << 20) + 1, 2 << 20, (4 << 20) - 1])], []) \
    + op(FREE, 0) + op(MALLOC, 3, big((1 << 20) + 100)) + op(TRIM, 0) + op(REALLOC, 3, big(3 << 20), 0) + op(WRITE, 3)
# blocks of mappings of their own: a growth (mremap), a region block (request =
# its usable size, so a copy one byte short shows) moved out into a mapping,
# calloc, a mapping shrunk to 200 KiB (its tail unmapped) and grown again
seeds["seed-big"] = op(MALLOC, 0, huge(20 << 20)) + op(REALLOC, 0, huge(24 << 20), 0) \
    + op(MALLOC, 1, upto1m(896 << 10)) + op(MALLOC, 4, upto1m(0x0e1000)) + op(REALLOC, 1, huge(20 << 20), 0) \
    + op(CALLOC, 2, huge(18 << 20), 0) + op(FREE, 0) + op(MALLOC, 3, huge(18 << 20)) \
    + op(REALLOC, 3, mid(200 << 10), 1) + op(REALLOC, 3, huge(22 << 20), 0) + op(USABLE, 3) + op(WRITE, 3) \
    + op(FREE, 1) + op(FREE, 2) + op(FREE, 3) + op(FREE, 4)
seeds["seed-remote"] = sum([op(MALLOC, i, sz(n)) for i, n in enumerate([8, 64, 500, 5000, 70000, 200000, 2 << 20])], []) \
    + sum([op(RFREE, i) for i in range(7)], []) + op(DRAIN, 0) \
    + sum([op(RALLOC, 10 + i, sz(n)) for i, n in enumerate([8, 64, 500, 5000, 70000])], []) \
    + sum([op(FREE, 10 + i) for i in range(3)], []) + op(STOP, 0) + op(FREE, 13) + op(RREALLOC, 14, sz(100)) + op(CHECK, 0)
seeds["seed-abandon"] = sum([op(RALLOC, i, sz(48)) for i in range(40)], []) + op(STOP, 0) \
    + sum([op(FREE, i) for i in range(0, 40, 2)], []) + sum([op(MALLOC, 40 + i, sz(48)) for i in range(10)], []) + op(CHECK, 0)
seeds["seed-errors"] = sum([op(ERRORS, 1, w) for w in range(12)], []) + op(MALLOC, 1, sz(50)) + op(ERRORS, 1, 5) + op(ERRORS, 1, 11)
seeds["seed-options"] = op(OPTION, 0, 4) + sum([op(MALLOC, i, sz(n)) for i, n in enumerate([1, 16, 100, 1000, 4000, 30000])], []) \
    + op(REALLOC, 2, sz(300), 0) + op(USABLE, 3) + op(RFREE, 4) + op(OPTION, 0, 0) + op(OPTION, 0, 5) \
    + sum([op(FREE, i) for i in range(6)], []) + sum([op(MALLOC, 10 + i, big(n)) for i, n in enumerate([1 << 20, 3 << 20])], []) \
    + op(FREE, 10) + op(OPTION, 0, 6) + op(CHECK, 0)
for k in (1, 2, 3, 4):                  # (Random(6)'s input hit the bug of corpus/regress-realloc-overaligned-grow)
    rng = random.Random(k)
    seeds["seed-random-%d" % k] = [rng.randrange(256) for _ in range(600)]

d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(d, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes(b & 255 for b in data))
print("wrote %d seeds to %s" % (len(seeds), d))
