"""CPU-time variant of /work/shared/bench/torch_v2_reference.py: the same PyTorch modules and training
steps (imported from it), timed with process CPU time as well as wall time, because the machine is
shared and wall times swing with other jobs. At 1 thread the CPU time is the comparable figure.
Usage: /usr/bin/python3 torch_cpu_time.py [threads] [steps]"""
import json, sys, time
sys.path.insert(0, "/work/shared/bench")
import torch, torch.nn.functional as F
from torch_v2_reference import OneDimAE, OneDimCNN

def timeit(fn, n):
    fn(); fn()
    c, w = time.process_time(), time.perf_counter()
    for _ in range(n): fn()
    return (time.perf_counter() - w) / n, (time.process_time() - c) / n

def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(threads); torch.manual_seed(0)
    N, B = 2048, 50
    ae, den = OneDimAE(N), OneDimCNN()
    data = torch.randn(200, N)
    opt = torch.optim.AdamW(ae.parameters(), lr=2e-5)
    def ae_step():
        x = data[torch.randint(0, 200, (B,))]
        loss = ae.loss(x); opt.zero_grad(); loss.backward(); opt.step()
    betas = torch.linspace(1e-4, 2e-2, 1000); abar = torch.cumprod(1 - betas, 0)
    lat = torch.randn(200, 128)
    opt2 = torch.optim.AdamW(den.parameters(), lr=1e-4)
    def dn_step():
        x0 = lat[torch.randint(0, 200, (B,))]; t = torch.randint(0, 1000, (B,)); e = torch.randn_like(x0)
        xt = abar[t].sqrt()[:, None] * x0 + (1 - abar[t]).sqrt()[:, None] * e
        loss = F.mse_loss(den(xt, t), e); opt2.zero_grad(); loss.backward(); opt2.step()
    for what, fn in [("v2_denoiser_train_step", dn_step), ("v2_ae_train_step", ae_step)]:
        w, c = timeit(fn, n)
        print(json.dumps({"what": what, "threads": threads, "batch": B, "seconds": w, "cpu_seconds": c}), flush=True)

if __name__ == "__main__":
    main()
