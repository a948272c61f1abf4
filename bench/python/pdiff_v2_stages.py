"""The torch side of bench/python/pdiff_v2_pipeline.py: data, the base model, the zoo, p-diff and the evaluation,
stage by stage (see that script for what each stage does and how it matches notebook 11)."""
import gzip, math, os, platform, struct, sys, time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

DATA = os.environ.get("PDIFF_FASHION_MNIST", "/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------- data

def idx(path):
    with gzip.open(path, "rb") as f:
        nd = struct.unpack(">I", f.read(4))[0] & 0xFF
        dims = struct.unpack(">" + "I" * nd, f.read(4 * nd))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)


def load_data(s, g):
    """Train / validation / test of the profile's sizes (a seeded split; ours is stratified: the sizes are equal)."""
    for f in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        if not os.path.exists(os.path.join(DATA, f)):
            raise SystemExit(f"pdiff_v2_pipeline.py: {DATA}/{f} is missing: apt-get install dataset-fashion-mnist (or set PDIFF_FASHION_MNIST)")
    xtr = torch.tensor(idx(f"{DATA}/train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
    ytr = torch.tensor(idx(f"{DATA}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xte = torch.tensor(idx(f"{DATA}/t10k-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
    yte = torch.tensor(idx(f"{DATA}/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    perm = torch.randperm(len(xtr), generator=g)
    va, tr = perm[:s["val_size"]], perm[s["val_size"]:s["val_size"] + s["train_size"]]
    mean, std = xtr[tr].mean().item(), xtr[tr].std(unbiased=False).item()
    norm = lambda x: ((x - mean) / std)[:, None]
    return {"train": (norm(xtr[tr]), ytr[tr]), "val": (norm(xtr[va]), ytr[va]),
            "test": (norm(xte[:s["test_size"]]), yte[:s["test_size"]]), "black": -mean / std}


def augment(x, black, g):
    """Random crop after padding 2 (black borders) and a horizontal flip with probability 0.5, as one gather."""
    b, _, h, w = x.shape
    xp = F.pad(x, (2, 2, 2, 2), value=black)
    dy = torch.randint(0, 5, (b,), generator=g)
    dx = torch.randint(0, 5, (b,), generator=g)
    flip = torch.rand(b, generator=g) < 0.5
    cols = torch.arange(w)[None, :].expand(b, w)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + dx[:, None]
    rows = torch.arange(h)[None, :] + dy[:, None]
    return xp[torch.arange(b)[:, None, None], 0, rows[:, :, None], cols[:, None, :]][:, None]


# ---------------------------------------------------------------- the base model and its subset

class ConvNet3(nn.Module):
    """Ours (lib/Models/ConvNet3.cs): three blocks conv 3×3 → BN → ReLU → 2×2 average pool, then a linear classifier."""

    def __init__(self, channels):
        super().__init__()
        layers, c = [], 1
        for w in channels:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.AvgPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * 9, 10)

    def prefix(self, x):  # the frozen layers before the subset (features.5 = the second BN): conv, BN, ReLU, pool, conv
        return self.features[:5](x)

    def suffix(self, h):
        return self.classifier(self.features[5:](h).flatten(1))

    def forward(self, x):
        return self.suffix(self.prefix(x))


SUBSET = ["features.5.weight", "features.5.bias", "features.9.weight", "features.9.bias"]


def subset_params(m):
    p = dict(m.named_parameters())
    return [p[k] for k in SUBSET]


def get_vec(m):
    return torch.cat([t.detach().flatten() for t in subset_params(m)])


@torch.no_grad()
def set_vec(m, v):
    i = 0
    for t in subset_params(m):
        t.copy_(v[i:i + t.numel()].view_as(t))
        i += t.numel()


@torch.no_grad()
def accuracy(m, x, y, bs=1000):
    m.eval()
    return torch.cat([m(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)]).eq(y).float().mean().item()


# ---------------------------------------------------------------- stages

class Clock:
    """Wall and process-CPU seconds of each stage, in order."""

    def __init__(self):
        self.stages = []

    def run(self, name, work, fn, *args):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args)
        self.stages.append({"stage": name, "seconds": time.perf_counter() - w, "cpu_seconds": time.process_time() - c, "work": work})
        log(f"{name}: {self.stages[-1]['seconds']:.1f} s wall, {self.stages[-1]['cpu_seconds']:.1f} s CPU")
        return out

    def seconds(self, name):
        return next(x["seconds"] for x in self.stages if x["stage"] == name)


def log(line):
    print(f"[torch] {line}", file=sys.stderr, flush=True)


def base_training(s, data, g):
    """V2's recipe (AdamW, cosine over the epochs, stepped per epoch); validation and test after each epoch; the best validation epoch kept."""
    m = ConvNet3(s["channels"])
    wd = 5e-4
    opt = torch.optim.AdamW(m.parameters(), lr=s["base_lr"], weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, s["epochs"])
    (x, y), best, history = data["train"], (-1.0, None), []
    for epoch in range(s["epochs"]):
        m.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), s["base_batch"]):
            b = perm[i:i + s["base_batch"]]
            xb = augment(x[b], data["black"], g) if s["augment"] else x[b]
            loss = F.cross_entropy(m(xb), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val, test = accuracy(m, *data["val"]), accuracy(m, *data["test"])
        history.append({"epoch": epoch, "val": val, "test": test})
        log(f"base epoch {epoch + 1}: val {100 * val:.2f}%, test {100 * test:.2f}%")
        if val > best[0]:
            best = (val, {k: v.clone() for k, v in m.state_dict().items()})
        sched.step()
    m.load_state_dict(best[1])
    m.eval()
    return m, history


def collection(s, m, data, g):
    """V2: the subset alone trains (AdamW lr 0.05, wd 5e-4, constant), batch 128, its BN layers in train mode and the
    others in eval; the frozen layers run without gradients; K checkpoints, one per iteration after the first."""
    subset = set(SUBSET)
    for n, p in m.named_parameters():
        p.requires_grad_(n in subset)
    m.eval()
    m.features[5].train()
    m.features[9].train()
    opt = torch.optim.AdamW(subset_params(m), lr=0.05, weight_decay=5e-4)
    x, y = data["train"]
    vecs, step = [], 0
    while len(vecs) < s["k"]:
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            b = perm[i:i + 128]
            with torch.no_grad():
                h = m.prefix(x[b])
            loss = F.cross_entropy(m.suffix(h), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step > 1:
                vecs.append(get_vec(m).clone())
            if len(vecs) == s["k"]:
                break
    base = torch.stack(vecs)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return base


class Scorer:
    """The frozen prefix of validation and test once, then the suffix per vector, in tail batches of 512 rows."""

    def __init__(self, m, data):
        self.m = m
        with torch.no_grad():
            self.h = {split: torch.cat([m.prefix(data[split][0][i:i + 1000]) for i in range(0, len(data[split][0]), 1000)]) for split in ("val", "test")}
        self.y = {split: data[split][1] for split in ("val", "test")}
        self.saved = get_vec(m).clone()

    @torch.no_grad()
    def wrong(self, vecs, split, bs=512):
        out = []
        for v in vecs:
            set_vec(self.m, v)
            h = self.h[split]
            pred = torch.cat([self.m.suffix(h[i:i + bs]).argmax(1) for i in range(0, len(h), bs)])
            out.append(pred != self.y[split])
        set_vec(self.m, self.saved)
        return torch.stack(out)


def score_zoo(m, data, originals):
    scorer = Scorer(m, data)
    return scorer, {split: scorer.wrong(originals, split) for split in ("val", "test")}


# ---------------------------------------------------------------- p-diff: normaliser, autoencoder, denoiser

class Normalizer:
    """Per-tensor z-score (reference §1.4): each tensor's mean and sample std per checkpoint, averaged over the K.
    The subset is [bn2.weight, bn2.bias, bn3.weight, bn3.bias] of the widths c2, c3."""

    def __init__(self, p, c2, c3):
        self.mu = torch.zeros(p.shape[1])
        self.sd = torch.ones(p.shape[1])
        offs = np.cumsum([0, c2, c2, c3, c3])
        for a, b in zip(offs[:-1], offs[1:]):
            self.mu[a:b] = p[:, a:b].mean(1).mean()
            self.sd[a:b] = p[:, a:b].std(1).mean()


class OneDimVAE(nn.Module):
    """V2's OneDimVAE used as an AE with additive noise (reference §2.3); input zero-padded to a multiple of 64."""

    def __init__(self, n, ch=(64, 128, 256, 256, 32), d=128, k=7):
        super().__init__()
        self.n, self.padded = n, (n + 63) // 64 * 64
        self.L, self.c_last = self.padded // 32, ch[-1]
        enc, c_in = [], 1
        for c in ch:
            enc += [nn.Conv1d(c_in, c, k, 2, k // 2), nn.BatchNorm1d(c), nn.LeakyReLU()]
            c_in = c
        self.enc = nn.Sequential(*enc)
        self.to_latent = nn.Linear(self.L * ch[-1], d)
        self.fc_mu = nn.Linear(d, d)
        self.fc_var = nn.Linear(d, d)  # never trained (KL weight 0), kept for the parameter count
        self.to_decode = nn.Linear(d, self.L * ch[-1])
        r, dec = list(reversed(ch)), []
        for i in range(len(r) - 1):
            dec += [nn.ConvTranspose1d(r[i], r[i + 1], k, 2, k // 2, output_padding=1), nn.BatchNorm1d(r[i + 1]), nn.ELU()]
        dec += [nn.ConvTranspose1d(r[-1], r[-1], k, 2, k // 2, output_padding=1), nn.BatchNorm1d(r[-1]), nn.ELU(), nn.Conv1d(r[-1], 1, k, 1, k // 2)]
        self.dec = nn.Sequential(*dec)

    def encode(self, x):
        x = F.pad(x, (0, self.padded - self.n))
        return self.fc_mu(self.to_latent(self.enc(x[:, None, :]).flatten(1)))

    def decode(self, z):
        return self.dec(self.to_decode(z).view(-1, self.c_last, self.L))[:, 0, :self.n]

    def loss(self, x, g):
        noisy = x + 0.001 * torch.randn(x.shape, generator=g)
        z = self.encode(noisy)
        z = z + 0.1 * torch.randn(z.shape, generator=g)
        return F.mse_loss(self.decode(z), x)  # the clean target (our default preset)


class OneDimCNN(nn.Module):
    """V2's denoiser (reference §3.2): DiT time embedding added before every conv, five encoder and three decoder convs."""

    def __init__(self, d=128, chans=(1, 64, 128, 256, 512, 256, 128, 64, 1), k=7):
        super().__init__()
        self.d = d
        self.time = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, d))
        self.convs = nn.ModuleList([nn.Conv1d(chans[i], chans[i + 1], k, 1, k // 2) for i in range(8)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(chans[i + 1]) for i in range(7)])
        freqs = torch.exp(-math.log(10000) * torch.arange(d, dtype=torch.float32) / d)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, x, t):
        a = t[:, None].float() * self.freqs[None]
        tau = self.time(torch.cat([a.cos(), a.sin()], 1))[:, None, :]
        h, skips = x[:, None, :], []
        for i, conv in enumerate(self.convs):
            if i >= 5:
                h = h + skips[7 - i]
            h = conv(h + tau)
            if i < 7:
                h = F.elu(self.norms[i](h))
            if i < 3:
                skips.append(h)
        return h[:, 0, :].float()


class Diffusion:
    def __init__(self, T):
        self.T = T
        self.betas = np.linspace(1e-4, 2e-2, T)
        self.alphas = 1 - self.betas
        self.abar = np.cumprod(self.alphas)
        self.sqrt_abar = torch.tensor(np.sqrt(self.abar), dtype=torch.float32)
        self.sqrt_1m = torch.tensor(np.sqrt(1 - self.abar), dtype=torch.float32)

    def ab(self, t):
        return 1.0 if t < 0 else self.abar[t]

    def ddim_timesteps(self, steps):  # trailing spacing: starts at T − 1, lands on ᾱ = 1
        return [int(math.floor(self.T - i * self.T / steps + 0.5)) - 1 for i in range(steps)]


def autocast(s):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["precision"] == "bf16")


class Batches:
    """Uniform minibatches from K rows: a fresh permutation per pass, drop_last; batch ≥ K gives all K rows."""

    def __init__(self, k, batch, g):
        self.k, self.batch, self.g, self.perm, self.at = k, min(batch, k), g, None, k

    def next(self):
        if self.perm is None or self.at + self.batch > self.k:
            self.perm, self.at = torch.randperm(self.k, generator=self.g), 0
        self.at += self.batch
        return self.perm[self.at - self.batch:self.at]


class PDiff:
    def __init__(self, s, originals, channels, g):
        self.s, self.g = s, g
        self.norm = Normalizer(originals, channels[1], channels[2])
        self.z = (originals - self.norm.mu) / self.norm.sd
        self.ae = OneDimVAE(originals.shape[1])
        self.den = OneDimCNN()
        self.ema = OneDimCNN()
        self.ema.load_state_dict(self.den.state_dict())
        self.ema.eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.diff = Diffusion(s["timesteps"])
        self.validation = {}

    def train_autoencoder(self, scorer):
        s, ae = self.s, self.ae
        opt = torch.optim.AdamW(ae.parameters(), lr=2e-4, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, s["ae_steps"]))
        batches = Batches(len(self.z), 50, self.g)
        ae.train()
        for step in range(s["ae_steps"]):
            loss = ae.loss(self.z[batches.next()], self.g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        ae.eval()
        if s["validate_models"] and s["ae_steps"]:  # reconstructions of the first training vectors, scored on validation
            with torch.no_grad():
                rec = self.denormalize(ae.decode(ae.encode(self.z[:s["validate_models"]])))
            self.validation["ae"] = 1 - scorer.wrong(rec, "val").float().mean(1)
        return loss.item() if s["ae_steps"] else None

    def train_denoiser(self, scorer):
        s, den = self.s, self.den
        with torch.no_grad():
            lat = self.ae.encode(self.z)
        opt = torch.optim.AdamW(den.parameters(), lr=1e-4, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, s["diff_steps"]))
        batches = Batches(len(lat), 50, self.g)
        ema_pairs = list(zip(self.ema.parameters(), den.parameters()))
        buffer_pairs = list(zip(self.ema.buffers(), den.buffers()))
        den.train()
        for n in range(s["diff_steps"]):
            x0 = lat[batches.next()]
            t = torch.randint(0, self.diff.T, (len(x0),), generator=self.g)
            e = torch.randn(x0.shape, generator=self.g)
            xt = self.diff.sqrt_abar[t][:, None] * x0 + self.diff.sqrt_1m[t][:, None] * e
            with autocast(s):
                eps = den(xt, t)
            loss = F.mse_loss(eps, e)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            self.ema_update(ema_pairs, buffer_pairs, min(0.999, (1.0 + n) / (10.0 + n)))
        den.eval()
        if s["validate_models"] and s["diff_steps"]:  # a few generated models, scored on validation
            gen = self.generate(s["validate_models"], s["validate_sampler"])
            self.validation["diffusion"] = 1 - scorer.wrong(gen, "val").float().mean(1)
        return loss.item() if s["diff_steps"] else None

    @staticmethod
    @torch.no_grad()
    def ema_update(pairs, buffers, decay):
        for e, p in pairs:
            e.lerp_(p, 1 - decay)
        for e, b in buffers:
            e.copy_(b)

    def denormalize(self, x):
        return x * self.norm.sd + self.norm.mu

    @torch.no_grad()
    def generate(self, count, sampler, chunk=100):
        zs = [self.chain(min(chunk, count - i), sampler) for i in range(0, count, chunk)]
        z = torch.cat(zs)
        if torch.isnan(z).any():
            raise SystemExit(f"pdiff_v2_pipeline.py: the {sampler['name']} chain produced NaN latents")
        return self.denormalize(self.ae.decode(z))

    def chain(self, n, sampler):
        d, den, s = self.diff, self.ema, self.s
        x = torch.randn(n, 128, generator=self.g)
        ts = list(reversed(range(d.T))) if sampler["kind"] == "ddpm" else d.ddim_timesteps(sampler["steps"])
        for i, t in enumerate(ts):
            with autocast(s):
                eps = den(x, torch.full((n,), t, dtype=torch.long))
            if sampler["kind"] == "ddpm":
                beta, alpha, ab, ab_prev = d.betas[t], d.alphas[t], d.ab(t), d.ab(t - 1)
                x = (x - beta / math.sqrt(1 - ab) * eps) / math.sqrt(alpha)
                if t > 0:
                    x = x + math.sqrt(beta * (1 - ab_prev) / (1 - ab)) * torch.randn(x.shape, generator=self.g)
            else:
                ab, ab_prev = d.ab(t), d.ab(ts[i + 1] if i + 1 < len(ts) else -1)
                x0 = (x - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
                x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
        return x


# ---------------------------------------------------------------- evaluation

def iou_summary(wrong, k, g0, g1):
    w = wrong.float()
    inter = w @ w.T
    union = w.sum(1)[:, None] + w.sum(1)[None] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
    def mean_off_diagonal(a, b):
        block = iou[a:b, a:b]
        n = b - a
        return ((block.sum() - block.diagonal().sum()) / max(1, n * (n - 1))).item()
    og = iou[g0:g1, :k]
    return {"o-o": mean_off_diagonal(0, k), "g-g": mean_off_diagonal(g0, g1), "o-g": og.mean().item(), "o-g max": og.max(1).values.mean().item()}


def evaluate(scorer, zoo_wrong, generated, ensemble_wrong, originals):
    """The generated models (and the weight average when not scored yet) on validation and test, then the IoU on test."""
    wrong = {split: scorer.wrong(generated, split) for split in ("val", "test")}
    if ensemble_wrong is None:
        avg = originals.mean(0, keepdim=True)
        ensemble_wrong = {split: scorer.wrong(avg, split) for split in ("val", "test")}
    k, m = len(zoo_wrong["test"]), len(generated)
    all_test = torch.cat([zoo_wrong["test"], wrong["test"], ensemble_wrong["test"]])
    acc = lambda w: (1 - w.float().mean(1)).numpy()
    return ensemble_wrong, {
        "generated_test": summary(acc(wrong["test"])), "generated_best_on_val_test": float(acc(wrong["test"])[acc(wrong["val"]).argmax()]),
        "weight_average_test": float(acc(ensemble_wrong["test"])[0]), "iou_test": iou_summary(all_test, k, k, k + m),
    }


def summary(a):
    return {"n": int(len(a)), "mean": float(a.mean()), "median": float(np.median(a)), "min": float(a.min()), "max": float(a.max())}


# ---------------------------------------------------------------- the run

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def run(s):
    torch.set_num_threads(s["threads"])
    torch.manual_seed(s["seed"])
    g = torch.Generator().manual_seed(s["seed"])
    clock, started = Clock(), time.strftime("%Y-%m-%d %H:%M:%S %Z")
    w0 = time.perf_counter()
    data = load_data(s, g)
    data_seconds = time.perf_counter() - w0
    k, ch, T = s["k"], s["channels"], s["timesteps"]
    n_tr, n_va, n_te = (len(data[x][0]) for x in ("train", "val", "test"))
    m, history = clock.run("base training", f"{s['epochs']} epochs × {n_tr:,} images, batch {s['base_batch']}{' (augmented)' if s['augment'] else ''} + validation and test each epoch",
                           base_training, s, data, g)
    originals = clock.run("collection", f"{1 + k} iterations × batch 128, the subset's layers with gradients", collection, s, m, data, g)
    scorer, zoo_wrong = clock.run("scoring the zoo", f"{k} checkpoints on validation and test (prefix once, suffix per checkpoint)", score_zoo, m, data, originals)
    p = PDiff(s, originals, ch, g)
    vm, vs = s["validate_models"], s["validate_sampler"]["name"]
    ae_loss = clock.run("autoencoder training", f"{s['ae_steps']} steps × batch {min(50, k)} + {vm} reconstructions scored on validation", p.train_autoencoder, scorer)
    den_loss = clock.run("denoiser training", f"{s['diff_steps']} steps × batch {min(50, k)} ({s['precision']}) + encoding the {k} vectors + {vm} models by {vs} scored on validation",
                         p.train_denoiser, scorer)
    shared = sum(x["seconds"] for x in clock.stages)
    rows, ensemble_wrong, pipelines = {}, None, []
    for sampler in s["samplers"]:
        name = sampler["name"]
        gen = clock.run(f"sampling, {name}", f"{s['models']} models × {sampler['steps']} denoiser steps ({s['precision']}) in chains of ≤ 100 + decoding", p.generate, s["models"], sampler)
        runs = s["models"] + (1 if ensemble_wrong is None else 0)
        ensemble_wrong, rows[name] = clock.run(f"evaluation, {name}", f"{runs} models run on validation and test ({s['models']} generated{', the weight average' if runs > s['models'] else ''}; the {k} originals' scores kept from the zoo) + the IoU on test",
                                               evaluate, scorer, zoo_wrong, gen, ensemble_wrong, originals)
        pipelines.append({"sampler": name, "seconds": shared + clock.seconds(f"sampling, {name}") + clock.seconds(f"evaluation, {name}")})
    acc = lambda w: (1 - w.float().mean(1)).numpy()
    return {
        "tool": "bench/python/pdiff_v2_pipeline.py", "side": "pytorch", "started": started, "task": "fashion-mnist × convnet3 × last-two-norms",
        "profile": s["profile"], "precision": s["precision"], "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}, "cpu": cpu_model(),
        "settings": {key: (list(v) if isinstance(v, tuple) else v) for key, v in s.items() if key != "out"},
        "data_seconds": data_seconds, "stages": clock.stages, "pipelines": pipelines,
        "accuracy": {"base": history, "originals_test": summary(acc(zoo_wrong["test"])), "samplers": rows,
                     "ae_final_loss": ae_loss, "denoiser_final_loss": den_loss,
                     "validation": {key: v.tolist() for key, v in p.validation.items()}},
    }
