#!/usr/bin/python3
"""The Python side of bench/PDiff.Bench's Conv1dBenchmarks: the same op, the same libtorch.

    /usr/bin/python3 bench/python/conv1d_reference.py [--threads 2] [--repeat 10]

Prints one JSON object: milliseconds per call (mean, median, min over --repeat single calls after 3
warm-up calls) for forward+backward and for forward under no_grad.
"""
import argparse
import json
import statistics
import timeit

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--repeat", type=int, default=10)
args = p.parse_args()
torch.set_num_threads(args.threads)

g = torch.Generator().manual_seed(0)
x = torch.randn(200, 256, 120, generator=g).requires_grad_()
w = (torch.randn(256, 256, 5, generator=g) * 0.05).requires_grad_()
b = torch.zeros(256).requires_grad_()


def forward_backward():
    y = F.conv1d(x, w, b, padding=2)
    y.sum().backward()
    # Gradients set to None each step, as optimizer.zero_grad() does by default.
    x.grad = None
    w.grad = None
    b.grad = None


def forward():
    with torch.no_grad():
        F.conv1d(x, w, b, padding=2)


def stats(fn):
    for _ in range(3):
        fn()
    t = [1000 * s for s in timeit.repeat(fn, number=1, repeat=args.repeat)]
    return {"mean_ms": round(statistics.mean(t), 2), "median_ms": round(statistics.median(t), 2), "min_ms": round(min(t), 2)}


print(json.dumps({
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "input": [200, 256, 120], "kernel": [256, 256, 5], "padding": 2,
    "forward_backward": stats(forward_backward),
    "forward_no_grad": stats(forward),
}))
