#!/usr/bin/python3
"""The Python side of bench/PDiff.Bench's TinyOpBenchmarks: a.add(b) on two 16-element float tensors.

    /usr/bin/python3 bench/python/tiny_op_reference.py

Prints one JSON object: nanoseconds per call, median and min over 30 rounds of 20,000 calls, timed by
the wall clock and by this thread's CPU time (which a busy machine does not inflate), as the C#
benchmark does.
"""
import json
import statistics
import time
import timeit

import torch

torch.set_num_threads(1)
a = torch.ones(16)
b = torch.ones(16)
n = 20000
out = {"torch": torch.__version__}
for name, stmt in [("a.add(b)", "a.add(b)"), ("a + b", "a + b"), ("a.add_(b)", "a.add_(b)"), ("a.shape", "a.shape")]:
    for clock, timer in [("wall", time.perf_counter), ("thread_cpu", time.thread_time)]:
        t = [1e9 * s / n for s in timeit.Timer(stmt, globals={"a": a, "b": b}, timer=timer).repeat(number=n, repeat=30)]
        out[f"{name} {clock}"] = {"median_ns": round(statistics.median(t), 1), "min_ns": round(min(t), 1)}
print(json.dumps(out, indent=1))
