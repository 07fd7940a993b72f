#!/usr/bin/env python3
"""CPU time of one workload under several allocators, interleaved.

  python3 bench/cpu_series.py ROUNDS WORKLOAD THREADS OPS name=lib.so ...

Each round runs `workloads WORKLOAD THREADS OPS` once per library (preloaded;
the order reverses every other round), and takes its CPU time (user + sys,
getrusage of the child).  Prints per library the median time and the
median, first and third quartile of its per-round ratio to the first
library.  On a shared, noisy machine a per-round ratio cancels slow phases
that hit both runs of the round; medians ignore the outliers.
A library may carry options of its own after a '?': name=lib.so?check_interior=1
runs that library with STRATA_OPTIONS set to those (added to the common ones).
Environment: WORKLOADS (default build/bench/workloads), STRATA_OPTIONS for
every run (default guard_sample=0: no sampled allocation in the timings),
CPU: run every process on that CPU (taskset), for one-thread workloads.
On the 2-core machines here the two CPUs differ: churn ran 10-25% slower
on CPU 0 than on CPU 1 (2026-11-27), so unpinned runs land on either and
the per-round ratios spread; pinned to CPU 1 they spread far less.
"""
import os, resource, statistics, subprocess, sys

rounds = int(sys.argv[1])
wl = sys.argv[2:5]
libs = [a.split('=', 1) for a in sys.argv[5:]]
prog = os.environ.get('WORKLOADS', 'build/bench/workloads')
opts = os.environ.get('STRATA_OPTIONS', 'guard_sample=0')
pin = ['taskset', '-c', os.environ['CPU']] if os.environ.get('CPU') else []
t = {n: [] for n, _ in libs}
for r in range(rounds):
    order = libs if r % 2 == 0 else libs[::-1]
    for n, lib in order:
        path, _, own = lib.partition('?')
        env = dict(os.environ, LD_PRELOAD=path, STRATA_OPTIONS=",".join(x for x in (opts, own) if x))
        b = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(pin + [prog] + wl, env=env, stdout=subprocess.DEVNULL, check=True)
        a = resource.getrusage(resource.RUSAGE_CHILDREN)
        t[n].append(a.ru_utime - b.ru_utime + a.ru_stime - b.ru_stime)
base = libs[0][0]
print("cpu", os.environ.get('CPU', 'any'), "load", " ".join(open('/proc/loadavg').read().split()[:3]), "|", rounds, "rounds of", " ".join(wl))
for n, _ in libs:
    ratios = [x / y for x, y in zip(t[n], t[base])]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    print(f"{n:14s} median {statistics.median(t[n]):.4f} s  fastest {min(t[n]):.4f} s  "
          f"/{base}: median {statistics.median(ratios):.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})")
