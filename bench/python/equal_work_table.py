"""The equal-work table: our notebook 11's stage times against the PyTorch reference's, from the two JSONs one
bench/equal-work.sh run just wrote (never a typed number).

  python3 bench/python/equal_work_table.py OURS.json PYTORCH.json --out DIR [--set key=value ...]

OURS.json is notebook 11's stage_times.json (TimedPipeline), PYTORCH.json what bench/python/pdiff_v2_pipeline.py
wrote. Stages are matched by name. Each matched stage gets the ratio PyTorch seconds ÷ PDiff.NET seconds (above 1: ours
took less wall time); a stage on one side only is listed with a dash and named in the report and in the JSON's
"unmatched", and a whole pipeline that lacks one of its stages on either side gets no ratio. --set adds the run's
circumstances (date, CPU, load, versions, command) to the files. Writes DIR/equal-work.md, .tsv and .json.
Exit status: 0 written; 1 the two files are not the same work (profile, precision or sampler rows differ); 2 usage.
"""
import argparse, json, os, sys

SAMPLING, EVALUATION = "sampling, ", "evaluation, "


class NotEqualWork(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        print(f"equal_work_table.py: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def load(path, side):
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        raise NotEqualWork(f"{side} result {path}: {e}")
    if not isinstance(d.get("stages"), list) or not all(isinstance(s, dict) and "stage" in s and "seconds" in s for s in d["stages"]):
        raise NotEqualWork(f"{side} result {path} has no list of stages with their seconds")
    return d


def samplers(stages):
    return [s["stage"][len(SAMPLING):] for s in stages if s["stage"].startswith(SAMPLING)]


def check_same_work(ours, torch):
    """The run's description on both sides must agree: profile, precision and the sampler rows."""
    for key in ("profile", "precision"):
        if key in ours and key in torch and ours[key] != torch[key]:
            raise NotEqualWork(f"not equal work: {key} {ours[key]} (PDiff.NET) against {torch[key]} (PyTorch)")
    a, b = samplers(ours["stages"]), samplers(torch["stages"])
    if sorted(a) != sorted(b):
        raise NotEqualWork(f"not equal work: sampler rows {', '.join(a) or 'none'} (PDiff.NET) against {', '.join(b) or 'none'} (PyTorch)")


def ratio(torch_s, ours_s):
    return torch_s / ours_s if torch_s is not None and ours_s is not None and ours_s > 0 else None


def stage_rows(ours, torch):
    """One row per stage, ours in order then PyTorch's extras; and the names found on one side only."""
    o = {s["stage"]: s for s in ours["stages"]}
    t = {s["stage"]: s for s in torch["stages"]}
    names = [s["stage"] for s in ours["stages"]] + [s["stage"] for s in torch["stages"] if s["stage"] not in o]
    rows = []
    for n in names:
        os_, ts = o.get(n, {}).get("seconds"), t.get(n, {}).get("seconds")
        rows.append({"stage": n, "pdiff_seconds": os_, "pytorch_seconds": ts, "pytorch_cpu_seconds": t.get(n, {}).get("cpu_seconds"),
                     "ratio": ratio(ts, os_)})
    unmatched = {"pdiff_only": [n for n in o if n not in t], "pytorch_only": [n for n in t if n not in o]}
    return rows, unmatched


def pipeline_rows(rows):
    """The whole pipeline per sampler: the shared stages, its sampling and its evaluation, summed on each side."""
    shared = [r for r in rows if not r["stage"].startswith((SAMPLING, EVALUATION))]
    out = []
    for name in [r["stage"][len(SAMPLING):] for r in rows if r["stage"].startswith(SAMPLING)]:
        parts = shared + [r for r in rows if r["stage"] in (SAMPLING + name, EVALUATION + name)]
        missing = [r["stage"] for r in parts if r["pdiff_seconds"] is None or r["pytorch_seconds"] is None]
        total = lambda key: None if missing else sum(r[key] for r in parts)
        out.append({"sampler": name, "pdiff_seconds": total("pdiff_seconds"), "pytorch_seconds": total("pytorch_seconds"),
                    "ratio": ratio(total("pytorch_seconds"), total("pdiff_seconds")), "missing": missing})
    return out


def table(ours, torch):
    check_same_work(ours, torch)
    rows, unmatched = stage_rows(ours, torch)
    return rows, pipeline_rows(rows), unmatched


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def markdown(meta, rows, pipelines, unmatched):
    lines = [f"# Equal work: PDiff.NET (notebook 11) against PyTorch eager ({meta.get('budget', '?')} budget, {meta.get('precision', '?')})", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "Wall seconds of each stage, measured back to back in this run; ratio = PyTorch ÷ PDiff.NET (above 1: PDiff.NET took less time).", "",
              "| stage | PDiff.NET s | PyTorch s | PyTorch CPU s | ratio |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['stage']} | {fmt(r['pdiff_seconds'], '.1f')} | {fmt(r['pytorch_seconds'], '.1f')} | {fmt(r['pytorch_cpu_seconds'], '.1f')} | {fmt(r['ratio'], '.2f')} |" for r in rows]
    lines += [f"| **whole pipeline, {p['sampler']}** | {fmt(p['pdiff_seconds'], '.1f')} | {fmt(p['pytorch_seconds'], '.1f')} | | **{fmt(p['ratio'], '.2f')}** |" for p in pipelines]
    for side, names in (("PDiff.NET", unmatched["pdiff_only"]), ("PyTorch", unmatched["pytorch_only"])):
        if names:
            lines += ["", f"Stages only {side} reported (no ratio): {', '.join(names)}."]
    for p in pipelines:
        if p["missing"]:
            lines += ["", f"Whole pipeline with {p['sampler']}: no ratio, stages missing on one side: {', '.join(p['missing'])}."]
    return "\n".join(lines) + "\n"


def tsv(rows, pipelines):
    out = ["stage\tpdiff_seconds\tpytorch_seconds\tpytorch_cpu_seconds\tratio_pytorch_over_pdiff"]
    out += [f"{r['stage']}\t{fmt(r['pdiff_seconds'], '.3f')}\t{fmt(r['pytorch_seconds'], '.3f')}\t{fmt(r['pytorch_cpu_seconds'], '.3f')}\t{fmt(r['ratio'], '.4f')}" for r in rows]
    out += [f"whole pipeline, {p['sampler']}\t{fmt(p['pdiff_seconds'], '.3f')}\t{fmt(p['pytorch_seconds'], '.3f')}\t—\t{fmt(p['ratio'], '.4f')}" for p in pipelines]
    return "\n".join(out).replace("—", "") + "\n"


def parse_meta(pairs):
    meta = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {p}: give key=value")
        meta[key] = value
    return meta


def main(argv=None):
    p = OneLineParser(description="The equal-work table from notebook 11's stage_times.json and the PyTorch pipeline's JSON.")
    p.add_argument("ours")
    p.add_argument("pytorch")
    p.add_argument("--out", required=True, help="folder for equal-work.md, .tsv and .json")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a circumstance of the run (date, cpu, load, versions, command)")
    a = p.parse_args(argv)
    try:
        meta = parse_meta(a.set)
    except ValueError as e:
        p.error(str(e))
    try:
        ours, torch = load(a.ours, "PDiff.NET"), load(a.pytorch, "PyTorch")
        rows, pipelines, unmatched = table(ours, torch)
    except NotEqualWork as e:
        print(f"equal_work_table.py: {e}", file=sys.stderr)
        return 1
    meta.setdefault("profile", torch.get("profile", ours.get("profile", "?")))
    meta.setdefault("precision", torch.get("precision", ours.get("precision", "?")))
    os.makedirs(a.out, exist_ok=True)
    result = {"format": "pdiff-equal-work", "version": 1, **meta, "stages": rows, "pipelines": pipelines, "unmatched": unmatched,
              "pytorch_stages": torch["stages"], "pdiff_threads": ours.get("threads"), "pytorch_threads": torch.get("threads")}
    files = {"equal-work.md": markdown(meta, rows, pipelines, unmatched), "equal-work.tsv": tsv(rows, pipelines),
             "equal-work.json": json.dumps(result, indent=1, ensure_ascii=False) + "\n"}
    for name, text in files.items():
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            f.write(text)
    for side, names in (("PDiff.NET", unmatched["pdiff_only"]), ("PyTorch", unmatched["pytorch_only"])):
        if names:
            print(f"equal_work_table.py: stages only {side} reported: {', '.join(names)}", file=sys.stderr)
    sys.stdout.write(files["equal-work.md"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
