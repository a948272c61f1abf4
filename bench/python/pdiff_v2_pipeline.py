"""The p-diff pipeline of notebook 11 in PyTorch eager, stage by stage, at the same work as ours.

Written from shared/docs/pdiff-reference.md and from what notebook 11 runs (the full-v2 and smoke profiles of
lib/Zoo/ZooProfiles.cs, notebooks/Studies/Pipeline/ProfileDefaults.cs and PDiffConfig's default preset), not from
the authors' code. Needs Debian's python3-torch (1.13) and its interpreter, /usr/bin/python3:

  /usr/bin/python3 bench/python/pdiff_v2_pipeline.py --profile full-v2 --precision bf16 --out torch.json

Stages and their names are notebook 11's (TimedPipeline): base training (with validation and test after every epoch,
the best validation epoch kept), collection (V2: only the last two BatchNorm layers train, AdamW constant lr, one
checkpoint per iteration after the first), scoring the zoo (every checkpoint on validation and test, the frozen
layers before the subset run once), autoencoder training and denoiser training (the default preset: V2's networks
and budgets, AE lr 2e-4, clean reconstruction target, EMA 0.999 with warm-up, validation on a few models at the end
of each phase), then for each sampler its sampling (models in chains of 100, decoded) and its evaluation (the
generated models and, once, the originals' weight average on validation and test, and the IoU of the wrong-prediction
sets on test; the originals' scores are kept from the zoo, as ours keeps them).

--precision bf16 runs the denoiser's forward under torch.autocast("cpu", bfloat16) in training, in validation and
in the sampling chains; the autoencoder, the loss, the optimisers, the sampler arithmetic and the scoring stay float32,
as PDiffConfig.Autocast = BFloat16 does (ours keeps the time embedding's two linear layers in float32; autocast runs
them in bfloat16: under 0.1 % of the denoiser's multiply-adds).

Writes one JSON: per-stage wall and process-CPU seconds, the whole pipeline per sampler, the settings, versions and
accuracies (for a sanity check only: the data split and seeds are not ours, so the numbers differ from ours).
"""
import argparse, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# What each profile of notebook 11 runs (ZooProfiles, ProfileDefaults, PDiffConfig.ForProfile, the notebook's smoke
# Timesteps = 100). Flags override single values.
PROFILES = {
    "full-v2": dict(train_size=55000, val_size=5000, test_size=10000, channels=(32, 64, 128), epochs=3, base_batch=128,
                    base_lr=5e-4, augment=True, k=200, ae_steps=500, diff_steps=1000, timesteps=1000, models=200,
                    validate_models=4, validate_sampler="ddpm-1000", samplers=["ddpm-1000", "ddim-50"]),
    "smoke": dict(train_size=2000, val_size=500, test_size=1000, channels=(8, 8, 8), epochs=1, base_batch=32,
                  base_lr=2e-3, augment=False, k=10, ae_steps=20, diff_steps=20, timesteps=100, models=8,
                  validate_models=2, validate_sampler="ddim-20", samplers=["ddpm-100", "ddim-50"]),
}


class UsageError(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as the bench's other commands
        print(f"pdiff_v2_pipeline.py: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse(argv):
    p = OneLineParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=sorted(PROFILES), default="full-v2")
    p.add_argument("--sampler", action="append", choices=["ddpm", "ddim"], help="repeatable; default: the profile's DDPM and DDIM-50 rows")
    p.add_argument("--sample-steps", action="append", type=int, help="steps of each --sampler, in order (DDPM: the timesteps)")
    p.add_argument("--precision", choices=["float32", "bf16"], default="float32")
    for name in ("k", "ae-steps", "diff-steps", "models", "epochs", "timesteps", "validate-models", "train-size", "val-size", "test-size"):
        p.add_argument(f"--{name}", type=int)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the JSON to write")
    a = p.parse_args(argv)
    try:
        return settings(a)
    except UsageError as e:
        p.error(str(e))


def parse_sampler(text, timesteps):
    kind, _, steps = text.partition("-")
    steps = int(steps) if steps else (timesteps if kind == "ddpm" else 50)
    if kind == "ddpm" and steps != timesteps:
        raise UsageError(f"DDPM runs every timestep: --sample-steps {steps} must equal --timesteps {timesteps}")
    if not 1 <= steps <= timesteps:
        raise UsageError(f"{kind} steps must be in 1 … {timesteps} (got {steps})")
    return {"kind": kind, "steps": steps, "name": f"{kind.upper()}-{steps}"}


def settings(a):
    s = dict(PROFILES[a.profile])
    for key in ("k", "ae_steps", "diff_steps", "models", "epochs", "timesteps", "validate_models", "train_size", "val_size", "test_size"):
        if getattr(a, key) is not None:
            s[key] = getattr(a, key)
    for key in ("k", "models", "epochs", "timesteps", "train_size", "val_size", "test_size"):
        if s[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1 (got {s[key]})")
    if min(s["ae_steps"], s["diff_steps"], s["validate_models"]) < 0:
        raise UsageError("--ae-steps, --diff-steps and --validate-models must be ≥ 0")
    if a.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {a.threads})")
    if s["train_size"] + s["val_size"] > 60000 or s["test_size"] > 10000:
        raise UsageError("Fashion-MNIST has 60,000 training (train + validation) and 10,000 test images")
    if a.sample_steps and (not a.sampler or len(a.sample_steps) != len(a.sampler)):
        raise UsageError("give one --sample-steps per --sampler, in the same order")
    T = s["timesteps"]
    if a.sampler:
        texts = [f"{k}-{n}" if a.sample_steps else k for k, n in zip(a.sampler, a.sample_steps or [0] * len(a.sampler))]
    else:
        texts = [f"ddpm-{T}"] + [x for x in s["samplers"] if x.startswith("ddim")]
    s["samplers"] = [parse_sampler(x, T) for x in texts]
    vs = s["validate_sampler"]
    s["validate_sampler"] = parse_sampler(f"ddpm-{T}" if vs.startswith("ddpm") else vs, T)
    s.update(profile=a.profile, precision=a.precision, threads=a.threads, seed=a.seed, out=a.out)
    return s


def main(argv=None):
    s = parse(sys.argv[1:] if argv is None else argv)
    try:  # after the arguments, so that usage errors need no PyTorch
        import pdiff_v2_stages
    except ImportError as e:
        print(f"pdiff_v2_pipeline.py: PyTorch is missing ({e}): install Debian's python3-torch (sudo apt-get install python3-torch) "
              "and run this script with /usr/bin/python3", file=sys.stderr)
        sys.exit(3)
    result = pdiff_v2_stages.run(s)
    os.makedirs(os.path.dirname(os.path.abspath(s["out"])), exist_ok=True)
    with open(s["out"], "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    pdiff_v2_stages.log(f"wrote {s['out']}: " + ", ".join(f"{x['sampler']} {x['seconds'] / 60:.1f} min" for x in result["pipelines"]))


if __name__ == "__main__":
    main()
