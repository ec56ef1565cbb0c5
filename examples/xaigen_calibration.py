"""XAI-Gen calibration (issue 25): over many search seeds, does the answer keep its accuracy promise on the test set?

    python examples/xaigen_calibration.py --seeds 1-10 --out out/results/calibration_resnet8 \\
        [--extra out/results/xaigen_resnet8gpu_nr_A] -- --model resnet8_cifar10 --arch-data cifar10 \\
        --max-accuracy-drop 0.01 --selection sensitivity --refine best --refine-passes 1 --t-p 0.5 ...

Runs `examples/xaigen_reference.py` once per search seed ``k`` into ``<out>/seed_<k>`` (its output in ``log.txt``),
with the XAI-Gen flags given after ``--`` and always ``--seed k --blind --baselines none``. The seed draws the
selection / confirmation slices of the 5,000 validation images (and the calibration and conductance images); the
model and its reference split stay fixed. A seed whose ``table.json`` exists is not run again (``--rerun``: it is);
its flags must be the ones given. ``--extra DIR``: an earlier run of the same flags (another seed) joins the summary
as a row of its own, marked, and the keep rate is given with and without it.

Written to ``<out>``: ``calibration.json`` and ``calibration.md``: per seed the selection drop with its upper bound,
the confirmation drop, whether the search's answer was confirmed or fell back, compute and system reduction, the
validation and test drops and whether the promise (test drop <= budget) was kept; then the count kept / runs with a
one-sided Clopper-Pearson lower bound on the keep rate, and the mean and spread of test drop - validation drop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import xaigen_reference as ref  # noqa: E402

REFERENCE = os.path.abspath(ref.__file__)
FORCED = ("--seed", "--out", "--blind", "--baselines", "--show")   # set by this driver, not after --
NOT_COMPARED = {"out", "blind", "baselines", "baseline_mapping", "baseline_cache", "quiet", "show"}
BOUND_CONFIDENCE = 0.95   # of the one-sided Clopper-Pearson lower bound on the keep rate


def parse_seeds(text: str):
    """``"1-10"``, ``"0,3,5-7"`` -> sorted list of distinct seeds."""
    seeds = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            seeds.update(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError:
        raise SystemExit(f"--seeds {text!r}: expected a list such as 1-10 or 0,3,5-7") from None
    if not seeds:
        raise SystemExit(f"--seeds {text!r}: no seed")
    return sorted(seeds)


def parse(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, xaigen = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", required=True, help="search seeds, e.g. 1-10 or 0,3,5-7")
    p.add_argument("--out", required=True, help="output folder (one seed_<k> folder per seed)")
    p.add_argument("--extra", action="append", default=[],
                   help="an earlier xaigen_reference.py run folder of the same flags to add to the summary "
                        "(repeatable)")
    p.add_argument("--rerun", action="store_true", help="run seeds again even if their table.json exists")
    args = p.parse_args(ours)
    if not xaigen:
        p.error("give the XAI-Gen flags after --, e.g. -- --model lenet5_mnist --arch-data mnist")
    bad = [a for a in xaigen if a.split("=")[0] in FORCED]
    if bad:
        p.error(f"{', '.join(bad)} after --: the driver sets --seed, --out, --blind and --baselines none itself")
    args.seeds, args.xaigen = parse_seeds(args.seeds), xaigen
    for d in args.extra:
        if not os.path.isfile(os.path.join(d, "table.json")):
            p.error(f"--extra {d}: no table.json there")
    return args


def reference_argv(args, seed):
    return [*args.xaigen, "--seed", str(seed), "--out", seed_dir(args.out, seed), "--blind", "--baselines", "none"]


def seed_dir(out, seed):
    return os.path.join(out, f"seed_{seed}")


def _load(folder, name):
    path = os.path.join(folder, name)
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"cannot read {path}: {e}") from None


def check_flags(args, folder, seed=None):
    """An existing run's XAI-Gen flags must be those given after -- (the seed too, unless it is an extra run)."""
    want = vars(ref.parse(reference_argv(args, 0 if seed is None else seed)))
    have = _load(folder, "table.json").get("flags", {})
    skip = NOT_COMPARED | ({"seed"} if seed is None else set())
    diff = {k: (have[k], want[k]) for k in want if k in have and k not in skip and have[k] != want[k]}
    if diff:
        raise SystemExit(f"{folder} was run with other flags (there, given): {diff}; pass another --out or --rerun")


def log_warnings(folder):
    """Distinct Python warnings (``...Warning: message``) of a run's log.txt, without their file:line (none if there
    is no log)."""
    path = os.path.join(folder, "log.txt")
    if not os.path.isfile(path):
        return []
    with open(path, errors="replace") as f:
        return list(dict.fromkeys(re.sub(r"^.*?:\d+: (?=\w*Warning:)", "", line.strip()) for line in f
                                  if re.search(r"\w*Warning:", line)))


def answer_status(result, compute_x):
    """What the search returned: its own plan (confirmed), a fallback candidate, or the exact plan."""
    chk = (result.get("accuracy_drop") or {}).get("confirmation_check") or {}
    if not chk.get("n"):
        status = "plan (not re-checked)"
    elif chk.get("index") == 0:
        status = "plan (confirmed)"
    elif chk.get("index") is None:
        status = "fell back: none held, exact plan"
    else:
        status = f"fell back to {chk['tried'][chk['index']]['label']}"
    if compute_x <= 1.0 + 1e-9 and not status.endswith("exact plan"):
        status += ", no saving (exact)"
    return status, bool(chk.get("fell_back"))


def read_run(folder, seed=None, source="calibration"):
    """One summary row from a finished xaigen_reference.py run folder (table.json and result.json)."""
    t, r = _load(folder, "table.json"), _load(folder, "result.json")
    a = t["answer"]
    status, fell_back = answer_status(r, a["compute_x"])
    test, val, sel = a["test_drop"], a["val_drop"], a["sel_drop"]
    kept = a.get("kept_promise")
    return {"seed": t.get("flags", {}).get("seed", seed) if seed is None else seed, "source": source,
            "folder": folder, "budget": t["budget"], "sel_drop": sel, "sel_upper": a["sel_upper"],
            "conf_drop": a["conf_drop"], "conf_upper": a.get("conf_upper"), "answer": status, "fell_back": fell_back,
            "val_drop": val, "test_drop": test, "test_minus_val": None if None in (test, val) else test - val,
            "test_minus_sel": None if None in (test, sel) else test - sel,
            "compute_x": a["compute_x"], "system_x": a["system_x"],
            "kept": kept if kept is not None else (None if test is None else test <= t["budget"] + 1e-12),
            "runtime_s": (t.get("runtime_s") or {}).get("total"), "warnings": log_warnings(folder),
            "model": t["model"], "split_hash": t.get("split_hash"), "weights_sha256": t.get("weights_sha256"),
            "n_selection": t["n_selection"], "n_confirmation": t["n_confirmation"],
            "n_validation": t["n_validation"], "n_test": t["n_test"], "command": t.get("command")}


def clopper_pearson_lower(k, n, confidence=BOUND_CONFIDENCE):
    """One-sided Clopper-Pearson lower bound on a rate from ``k`` successes in ``n`` trials."""
    from scipy.stats import beta

    return 0.0 if k == 0 else float(beta.ppf(1.0 - confidence, k, n - k + 1))


def keep_rate(rows):
    kept = sum(1 for r in rows if r["kept"])
    n = len(rows)
    return {"kept": kept, "runs": n, "rate": kept / n if n else None,
            "lower_bound": clopper_pearson_lower(kept, n) if n else None, "confidence": BOUND_CONFIDENCE,
            "seeds": [r["seed"] for r in rows], "broke": [r["seed"] for r in rows if not r["kept"]]}


def spread(values):
    v = [x for x in values if x is not None]
    return {"n": len(v), "mean": statistics.fmean(v) if v else None, "sd": statistics.stdev(v) if len(v) > 1 else None,
            "min": min(v, default=None), "max": max(v, default=None)}


def summarize(rows, command="", version=""):
    """The calibration summary of ``rows`` (`read_run`): keep rate of this calibration's seeds and, if there are
    extra runs, of all; test - validation (all validation images) and test - selection drop."""
    ours = [r for r in rows if r["source"] == "calibration"]
    groups = {"seeds": ours} if len(ours) == len(rows) else {"seeds": ours, "all": rows}
    odd = {k: {v: [r["seed"] for r in rows if str(r[k]) == v] for v in dict.fromkeys(str(r[k]) for r in rows)}
           for k in ("model", "split_hash", "weights_sha256", "budget")}
    return {"model": rows[0]["model"] if rows else None, "budget": rows[0]["budget"] if rows else None,
            "command": command, "tfaxdnn_version": version, "runs": rows,
            "keep_rate": {g: keep_rate(rs) for g, rs in groups.items()},
            "test_minus_val": {g: spread(r["test_minus_val"] for r in rs) for g, rs in groups.items()},
            "test_minus_sel": {g: spread(r["test_minus_sel"] for r in rs) for g, rs in groups.items()},
            "fell_back": [r["seed"] for r in rows if r["fell_back"]],
            "warnings": {w: [r["seed"] for r in rows if w in r["warnings"]]
                         for w in dict.fromkeys(w for r in rows for w in r["warnings"])},
            "inconsistent": {k: v for k, v in odd.items() if len(v) > 1}}


def _rate(k):
    return (f"{k['kept']}/{k['runs']} runs kept it ({100 * k['rate']:.0f} %), one-sided {k['confidence']:.0%} "
            f"Clopper-Pearson lower bound {100 * k['lower_bound']:.1f} %"
            + (f"; broke it: seed(s) {', '.join(map(str, k['broke']))}" if k["broke"] else ""))


def _gap(s):
    if not s["n"]:
        return "—"
    sd = "—" if s["sd"] is None else f"{100 * s['sd']:.2f}"
    return (f"mean {ref._pt(s['mean'])}, SD {sd}, min {ref._pt(s['min'])}, max {ref._pt(s['max'])} points "
            f"({s['n']} runs)")


def format_md(s) -> str:
    rows = s["runs"]
    if not rows:
        return "no finished run"
    r0 = rows[0]
    head = (f"| seed | selection drop [UB95%] ({r0['n_selection']}) | confirmation drop ({r0['n_confirmation']}) | "
            f"answer | val drop ({r0['n_validation']}) | TEST drop ({r0['n_test']}) | test − val | compute | system | "
            "kept | runtime |")
    lines = [f"# XAI-Gen calibration: {s['model']}, budget {100 * s['budget']:g} point(s), {len(rows)} runs", "",
             f"`{s['command']}`", "", f"tfaxdnn {s['tfaxdnn_version']}", "", head,
             "|---|" + "---:|" * 2 + "---|" + "---:|" * 5 + "---|---:|"]
    for r in rows:
        seed = f"{r['seed']}" + ("" if r["source"] == "calibration" else f" ({r['source']})")
        rt = "—" if r["runtime_s"] is None else f"{r['runtime_s'] / 60:.1f} min"
        lines.append(f"| {seed} | {ref._pt(r['sel_drop'])} [{ref._pt(r['sel_upper'])}] | {ref._pt(r['conf_drop'])} | "
                     f"{r['answer']} | {ref._pt(r['val_drop'])} | {ref._pt(r['test_drop'])} | "
                     f"{ref._pt(r['test_minus_val'])} | {r['compute_x']:.2f}x | {r['system_x']:.2f}x | "
                     f"{'yes' if r['kept'] else 'NO'} | {rt} |")
    lines += ["", f"Promise: test drop <= {100 * s['budget']:g} point(s) below float (paired, all test images)."]
    names = {"seeds": "calibration seeds", "all": "with the extra run(s)"}
    for g, k in s["keep_rate"].items():
        lines.append(f"- {names[g]} ({', '.join(map(str, k['seeds']))}): {_rate(k)}")
    for g in s["keep_rate"]:
        lines.append(f"- test − validation drop, {names[g]}: {_gap(s['test_minus_val'][g])}; test − selection drop: "
                     f"{_gap(s['test_minus_sel'][g])}")
    lines.append(f"- fell back: {', '.join(map(str, s['fell_back'])) or 'none'}")
    for w, seeds in s["warnings"].items():
        lines.append(f"- seed(s) {', '.join(map(str, seeds))} warned: {w}")
    for k, values in s["inconsistent"].items():
        lines.append(f"- NOTE: the runs differ in {k}: " + "; ".join(f"{v[:12]} (seed(s) {', '.join(map(str, seeds))})"
                                                                   for v, seeds in values.items()))
    lines += ["", "(drops in points below float, paired on the same images; selection: the images the search chose "
                  "on, confirmation: the held-out rest of the validation images, val: all of them; runtime: "
                  "xaigen_reference.py's own total, without start-up)"]
    return "\n".join(lines)


def version():
    import tfaxdnn

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(REFERENCE)).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=os.path.dirname(REFERENCE)).stdout.strip()
    except OSError:
        head, dirty = "", ""
    return tfaxdnn.__version__ + (f" (git {head}{', modified' if dirty else ''})" if head else "")


def _min(s):
    return f"{s / 60:.1f} min"


def main(argv=None):
    args = parse(argv)
    try:   # the XAI-Gen flags are checked before anything runs
        ref.parse(reference_argv(args, args.seeds[0]))
    except SystemExit as e:
        if e.code:
            raise SystemExit("(the usage above is xaigen_reference.py's: it rejected the flags after --)") from None
        raise
    for d in args.extra:
        check_flags(args, d)
    os.makedirs(args.out, exist_ok=True)
    t0, failed = time.perf_counter(), []
    for i, seed in enumerate(args.seeds, 1):
        folder = seed_dir(args.out, seed)
        tag = f"[{i}/{len(args.seeds)}] seed {seed}"
        if os.path.isfile(os.path.join(folder, "table.json")) and not args.rerun:
            check_flags(args, folder, seed)
            print(f"{tag}: {folder}/table.json exists, skipped", flush=True)
            continue
        os.makedirs(folder, exist_ok=True)
        print(f"{tag}: running into {folder} (elapsed {_min(time.perf_counter() - t0)})", flush=True)
        t1 = time.perf_counter()
        with open(os.path.join(folder, "log.txt"), "w") as log:
            rc = subprocess.run([sys.executable, REFERENCE, *reference_argv(args, seed)], stdout=log,
                                stderr=subprocess.STDOUT).returncode
        if rc or not os.path.isfile(os.path.join(folder, "table.json")):
            failed.append(seed)
            print(f"{tag}: FAILED (exit {rc}) after {_min(time.perf_counter() - t1)}; see {folder}/log.txt",
                  flush=True)
            continue
        r = read_run(folder, seed)
        print(f"{tag}: done in {_min(time.perf_counter() - t1)} (elapsed {_min(time.perf_counter() - t0)}): selection "
              f"drop {ref._pt(r['sel_drop'])} [{ref._pt(r['sel_upper'])}], confirmation {ref._pt(r['conf_drop'])}, "
              f"{r['answer']}, compute {r['compute_x']:.2f}x" + (f", {len(r['warnings'])} warning line(s)"
                                                                  if r["warnings"] else ""), flush=True)
    rows = [read_run(seed_dir(args.out, s), s) for s in args.seeds if s not in failed]
    rows += [read_run(d, source="earlier run") for d in args.extra]
    command = "python " + " ".join(shlex.quote(a) for a in
                                   [os.path.relpath(os.path.abspath(__file__)), *(argv or sys.argv[1:])])
    summary = summarize(rows, command, version())
    with open(os.path.join(args.out, "calibration.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    text = format_md(summary)
    with open(os.path.join(args.out, "calibration.md"), "w") as f:
        f.write(text + "\n")
    print(f"\n{text}\n\nwritten: {args.out}/calibration.md, calibration.json (total {_min(time.perf_counter() - t0)})")
    if failed:
        raise SystemExit(f"seed(s) {', '.join(map(str, failed))} failed: see their log.txt")
    return summary


if __name__ == "__main__":
    main()
