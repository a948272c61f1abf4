#!/usr/bin/env python3
"""float32 convolutions of PyTorch against float64 (which PyTorch computes without oneDNN): the PyTorch twin of
Program.cs. Prints the machine, the versions and every shape whose float32 result is off.

    python3 repro.py              # as PyTorch runs them
    python3 repro.py --no-onednn  # torch.backends.mkldnn.enabled = False: PyTorch's own kernels
Set ONEDNN_MAX_CPU_ISA (e.g. AVX2, SSE41) in the environment to try other oneDNN kernels.
"""
import os
import re
import sys

import torch
import torch.nn.functional as F

TOL = 1e-3  # float32 rounding here is ~1e-6


def cpu_line():
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        return "CPU: ?"
    field = lambda name: (re.search(rf"^{name}\s*:\s*(.*)$", text, re.M) or [None, "?"])[1]
    flags = " ".join(f for f in field("flags").split() if f.startswith("avx512"))
    return f"CPU: {field('model name')} (family {field('cpu family')}, model {field('model')}); AVX-512 flags: {flags}"


def dirty_heap():
    """Frees NaN-filled blocks of the sizes the next tensors take, so memory a kernel reads without writing it
    first holds NaN instead of the zeros of fresh pages."""
    for i in range(7):
        t = torch.full((256 << i,), float("nan"))
        del t


def errors(x_shape, w_shape, conv, dirty, gen):
    x64 = torch.randn(x_shape, dtype=torch.float64, generator=gen)
    w64 = torch.randn(w_shape, dtype=torch.float64, generator=gen)
    up = None

    def run(dt):
        nonlocal up
        x = x64.to(dt).detach().requires_grad_(True)
        w = w64.to(dt).detach().requires_grad_(True)
        if dt == torch.float32 and dirty:
            dirty_heap()
        y = conv(x, w)
        if up is None:
            up = torch.randn(y.shape, dtype=torch.float64, generator=gen)
        (y * up.to(dt)).sum().backward()
        return y.detach(), x.grad, w.grad

    ref, f32 = run(torch.float64), run(torch.float32)

    def err(a, b):
        e = float((a.double() - b).abs().max() / b.abs().max())
        return float("inf") if e != e else e

    return tuple(err(a, b) for a, b in zip(f32, ref))


def show(e):
    return "NaN" if e == float("inf") else "ok" if e < TOL else f"{e:.1e}"


def main():
    torch.set_num_threads(1)
    no_onednn = "--no-onednn" in sys.argv
    torch.backends.mkldnn.enabled = not no_onednn
    onednn = [l.strip() for l in torch.__config__.show().splitlines() if "DNN" in l]
    print(cpu_line())
    print(f"torch {torch.__version__}, {onednn[0] if onednn else 'oneDNN: ?'}, threads {torch.get_num_threads()}, "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}, "
          f"oneDNN (mkldnn) {'disabled' if no_onednn else 'enabled'}")
    gen = torch.Generator().manual_seed(2024)

    print()
    print("shape                                  heap   output   input grad  weight grad")
    named = [
        ("conv1d 8->8 k3, x [4,8,32]", (4, 8, 32), (8, 8, 3), lambda x, w: F.conv1d(x, w, padding=1)),
        ("conv1d 16->16 k3, x [4,16,32]", (4, 16, 32), (16, 16, 3), lambda x, w: F.conv1d(x, w, padding=1)),
        ("conv1d 24->24 k3, x [4,24,32]", (4, 24, 32), (24, 24, 3), lambda x, w: F.conv1d(x, w, padding=1)),
        ("conv2d 8->8 k3, x [4,8,10,10]", (4, 8, 10, 10), (8, 8, 3, 3), lambda x, w: F.conv2d(x, w, padding=1)),
        ("conv2d 20->16 k3, x [4,20,10,10]", (4, 20, 10, 10), (16, 20, 3, 3), lambda x, w: F.conv2d(x, w, padding=1)),
        ("conv2d 24->24 k3, x [4,24,14,14]", (4, 24, 14, 14), (24, 24, 3, 3), lambda x, w: F.conv2d(x, w, padding=1)),
        ("conv2d 40->16 k3 s2, x [4,40,10,10]", (4, 40, 10, 10), (16, 40, 3, 3), lambda x, w: F.conv2d(x, w, stride=2, padding=1)),
    ]
    for name, xs, ws, conv in named:
        for dirty in (False, True):
            y, dx, dw = errors(xs, ws, conv, dirty, gen)
            print(f"{name:<38} {'dirty' if dirty else 'fresh':<6} {show(y):<8} {show(dx):<11} {show(dw)}")

    counts = [1, 2, 3, 4, 8, 12, 16, 17, 20, 24, 32, 40]
    print()
    print("conv1d k3 on a dirty heap, rows: input channels, columns: output channels; "
          "Y = output wrong, X = input grad wrong, W = weight grad wrong")
    print("cin\\cout " + "".join(f"{c:4}" for c in counts))
    wrong = [0, 0, 0, 0]
    for cin in counts:
        row = f"{cin:8} "
        for cout in counts:
            y, dx, dw = errors((4, cin, 32), (cout, cin, 3), lambda x, w: F.conv1d(x, w, padding=1), True, gen)
            mark = ("Y" if y >= TOL else "") + ("X" if dx >= TOL else "") + ("W" if dw >= TOL else "")
            wrong[0] += bool(mark)
            wrong[1] += y >= TOL
            wrong[2] += dx >= TOL
            wrong[3] += dw >= TOL
            row += f"{mark or '.':>4}"
        print(row)
    print(f"{wrong[0]} of {len(counts) ** 2} conv1d shapes wrong (output {wrong[1]}, input gradient {wrong[2]}, weight gradient {wrong[3]}).")


if __name__ == "__main__":
    main()
