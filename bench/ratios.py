#!/usr/bin/env python3
"""Ratios of median times to one allocator's, per workload, from the JSON
that `strata bench --json` writes (bench/hardening.sh, bench/floor.sh).

  python3 bench/ratios.py RESULTS.json BASE [SKIP,...]

One line per workload: every allocator's median time over BASE's (fastest
first), leaving out BASE itself and the allocators in SKIP.
"""
import json, sys

d = json.load(open(sys.argv[1]))
base_name = sys.argv[2]
skip = set(sys.argv[3].split(',')) if len(sys.argv) > 3 else set()
for w in d["workloads"]:
    t = {r["allocator"]: r["time_median"] for r in w["results"] if r.get("time_median")}
    base = t.get(base_name)
    if not base:
        continue
    rest = sorted((v / base, a) for a, v in t.items() if a != base_name and a not in skip)
    print(f"{w['name']:10s} " + "  ".join(f"{a} {r:.3f}" for r, a in rest))
