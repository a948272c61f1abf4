#!/usr/bin/python3
"""The Python side of bench/PDiff.Bench's TinyOpBenchmarks: a.add(b) on two 16-element float tensors.

    /usr/bin/python3 bench/python/tiny_op_reference.py

Prints one JSON object: nanoseconds per call (median and min over 30 rounds of 20,000 calls; on a
shared machine the minimum is the best estimate of the cost itself).
"""
import json
import statistics
import timeit

import torch

torch.set_num_threads(1)
a = torch.ones(16)
b = torch.ones(16)
n = 20000
out = {"torch": torch.__version__}
for name, stmt in [("a.add(b)", "a.add(b)"), ("a + b", "a + b"), ("a.add_(b)", "a.add_(b)"), ("a.shape", "a.shape")]:
    t = [1e9 * s / n for s in timeit.repeat(stmt, globals={"a": a, "b": b}, number=n, repeat=30)]
    out[name] = {"median_ns": round(statistics.median(t), 1), "min_ns": round(min(t), 1)}
print(json.dumps(out))
