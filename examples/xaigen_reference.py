"""XAI-Gen on a shipped reference model, the honest way: select on validation images, report on the test set.

    python examples/xaigen_reference.py --model resnet8_cifar10 --arch-data cifar10 --max-accuracy-drop 0.01 \\
        --out out/results/xaigen_resnet8 [--selection sensitivity] [--refine best] [--t-p 0.5] \\
        [--weight-mapping uniform] [--finetune-epochs 1 --search-accuracy-drop 0.05]
    python examples/xaigen_reference.py --model lenet5_mnist --arch-data mnist --out out/results/xaigen_lenet5

``--model``: a shipped reference model (`tfaxdnn.models.pretrained`: ``lenet5_mnist``, ``resnet8_cifar10``, ...) or
a ``.keras`` file; ``--arch-data``: its dataset (``mnist`` or ``cifar10``; the npz under ``--data``, default the
shared copy, with x_train, y_train, x_test, y_test).

The images (`tfaxdnn.data.reference_split` of the training set, seed ``--split-seed``; its hash is checked against
the model card of a shipped model):

* **selection**: the 5,000 reference validation images the model never trained on. XAI-Gen scores every candidate on
  (1 − ``--confirmation-fraction``) of them (3,750: the paired upper confidence bound of the drop against the float
  model must stay within ``--max-accuracy-drop``) and re-checks its answer on the rest (1,250: the confirmation
  slice, carved out by the search itself);
* **calibration**: ``--calibration-samples`` images of the *training* part (never validation, never test);
* **fine-tuning** (``--finetune-epochs N``, straight-through): the training part (55,000 MNIST / 45,000 CIFAR-10);
* **report**: all 10,000 test images, never looked at by any choice (nor by the choice of flags: choose them on the
  validation columns of the table).

Energy: `tfaxdnn.hardware.estimate` with ``Accelerator.paper()`` (eight 256x256 weight-stationary pods, clock 2 ns =
500 MHz), batch size 1, structured skipping; XAI-Gen minimises ``--energy-accounting`` (default ``compute``: MAC
array only, multipliers + accumulators) and every row shows the system figure (MACs + on-chip SRAM) alongside.

The table: float, exact 8-bit, the XAI-Gen answer (validation drop with its bound, confirmation drop, test drop,
compute and system reduction) and trivial baselines (every layer mul8s_1L2J with and without uniform ALWANN weight
mapping, every layer on each of the paper's multipliers), validation (all 5,000) and test side by side. Written to
``--out``: ``table.md``, ``table.json``, ``per_layer.csv`` and XAI-Gen's own files (``result.json``, ``plan.json``,
``importance.png``, ``axdnn.keras``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "datasets")
PAPER_MULTIPLIERS = ("mul8s_1KV6", "mul8s_1KV8", "mul8s_1KV9", "mul8s_1KVP", "mul8s_1L2J", "mul8s_1L2L",
                     "mul8s_1L2N")


def parse(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--show"]:   # print the full table of a finished run (after choosing its flags blind)
        return argparse.Namespace(show=argv[1])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="shipped reference model name or a .keras file")
    p.add_argument("--arch-data", choices=("mnist", "cifar10"), required=True, help="the model's dataset")
    p.add_argument("--data", default=None, help="dataset npz (default: the shared copy, else a found one)")
    p.add_argument("--out", default=None, help="output folder (default out/results/xaigen_<model>)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the reference split (default 0)")
    p.add_argument("--n-validation", type=int, default=5000, help="reference validation images (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (subsets, confirmation slice)")
    g = p.add_argument_group("XAI-Gen")
    g.add_argument("--max-accuracy-drop", type=float, default=0.01, help="budget below float (default 0.01)")
    g.add_argument("--confidence", type=float, default=0.95, help="of the paired drop's upper bound (default 0.95)")
    g.add_argument("--confirmation-fraction", type=float, default=0.25,
                   help="share of the validation images held out of the search to re-check its answer")
    g.add_argument("--energy-accounting", choices=("compute", "system", "multiplier"), default="compute",
                   help="the energy the search minimises (default compute; all are reported)")
    g.add_argument("--selection", choices=("conductance", "sensitivity"), default="sensitivity")
    g.add_argument("--refine", choices=("first", "best"), default="best")
    g.add_argument("--refine-passes", type=int, default=2)
    g.add_argument("--no-uniform-candidates", dest="uniform_candidates", action="store_false",
                   help="do not score the every-layer-one-multiplier plans before refinement")
    g.add_argument("--t-p", type=float, default=0.5, help="skipping threshold (default 0.5)")
    g.add_argument("--weight-mapping", choices=("uniform", "data", "none"), default="uniform")
    g.add_argument("--multipliers", default=",".join(PAPER_MULTIPLIERS), help="comma-separated (default: paper's)")
    g.add_argument("--importance-samples", type=int, default=200, help="conductance images (validation)")
    g.add_argument("--n-steps", type=int, default=20, help="conductance integration steps")
    g.add_argument("--calibration-samples", type=int, default=500, help="training images for activation ranges")
    g.add_argument("--finetune-epochs", type=int, default=0,
                   help="straight-through fine-tuning epochs on the training part of the split (issue 25: <= 2)")
    g.add_argument("--search-accuracy-drop", type=float, default=None,
                   help="looser drop the plan search may use when fine-tuning follows (default: the budget)")
    g.add_argument("--sensitivity-from", default=None,
                   help="reuse the per-layer sensitivity table of an earlier run's result.json (same model, split, "
                        "calibration, weight mapping, multipliers and seed, checked) instead of measuring it again")
    g.add_argument("--finetune-learning-rate", type=float, default=1e-3)
    g.add_argument("--finetune-batch-size", type=int, default=64)
    b = p.add_argument_group("table")
    b.add_argument("--baselines", choices=("all", "1l2j", "none"), default="all",
                   help="trivial baselines: all (1L2J +/- mapping, every paper multiplier), 1l2j, none")
    b.add_argument("--baseline-mapping", choices=("uniform", "none"), default="uniform",
                   help="weight mapping of the every-layer-<paper multiplier> rows (default uniform)")
    b.add_argument("--baseline-cache", default=None,
                   help="json file caching the baseline rows per model, split, mapping and multipliers (default: "
                        "out/results/baselines_<model>.json); they do not depend on XAI-Gen's flags")
    b.add_argument("--blind", action="store_true",
                   help="print validation figures only (test figures are still computed and written to "
                        "table.json): for comparing flag settings without seeing the test set")
    b.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    args.show = None
    if args.finetune_epochs > 2:
        print(f"note: --finetune-epochs {args.finetune_epochs} is beyond issue 25's budget of 2 epochs")
    return args


# ------------------------------------------------------------------------------------------------------- data
def load_data(args):
    """``(x_train, y_train), (x_val, y_val), (x_test, y_test), info``: the reference split's parts, preprocessed
    as the reference models were trained (pixels / 255; MNIST with a channel axis)."""
    from tfaxdnn.data import reference_split
    from tfaxdnn.data.loaders import find_dataset

    path = args.data or next((q for q in (os.path.join(SHARED, f"{args.arch_data}.npz"),) if os.path.isfile(q)),
                             None) or find_dataset(args.arch_data)
    if path is None:
        raise SystemExit(f"No {args.arch_data}.npz found: pass --data.")
    with np.load(path) as f:
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    y_train, y_test = y_train.reshape(-1).astype("int64"), y_test.reshape(-1).astype("int64")
    train_idx, val_idx, digest = reference_split(y_train, args.n_validation, args.split_seed)

    def prep(x):
        x = x.astype("float32") / 255.0
        return x[..., None] if x.ndim == 3 else x

    info = {"data": os.path.abspath(path), "split_seed": args.split_seed, "split_hash": digest,
            "n_train": int(len(train_idx)), "n_validation": int(len(val_idx)), "n_test": int(len(y_test))}
    return ((prep(x_train[train_idx]), y_train[train_idx]), (prep(x_train[val_idx]), y_train[val_idx]),
            (prep(x_test), y_test), info)


def load_model(args, info):
    """The float model; for a shipped one, its model card (whose split must be ours)."""
    from tfaxdnn import models

    if args.model.endswith(".keras") or os.path.isfile(args.model):
        import keras

        return keras.models.load_model(args.model, compile=False), None
    card = models.model_card(args.model)
    if card.get("dataset") != args.arch_data:
        raise SystemExit(f"{args.model} was trained on {card.get('dataset')}, not {args.arch_data}.")
    want = card.get("split", {}).get("hash")
    if want and want != info["split_hash"]:
        raise SystemExit(f"The split (seed {args.split_seed}, {info['n_validation']} images) has hash "
                         f"{info['split_hash'][:12]}, the model card's is {want[:12]}: these are not the images "
                         f"{args.model} never trained on.")
    return models.pretrained(args.model), card


# -------------------------------------------------------------------------------------------------- figures
def _drop(m):
    return None if m.drop is None else m.drop.drop


def _upper(m):
    return None if m.drop is None else m.drop.upper


def plan_row(label, search, plan, budget, model=None):
    """A table row of ``plan`` (or of ``model``, built from it elsewhere): all validation images and all test images,
    paired against the float model."""
    if model is None:
        mv, mt = search.full(plan), search.test(plan)
    else:
        mv, mt = search.full.score_model(model, plan), search.test.score_model(model, plan)
    return {"label": label, "val_accuracy": mv.accuracy, "val_drop": _drop(mv), "val_upper": _upper(mv),
            "val_meets": mv.meets(budget), "test_accuracy": mt.accuracy, "test_drop": _drop(mt),
            "compute_x": mt.reductions["compute"], "system_x": mt.reductions["system"],
            "multiplier_x": mt.reductions["multiplier"], "per_layer": mt.per_layer}


def every_layer(search, multiplier, mapping):
    from tfaxdnn import multipliers as mult
    from tfaxdnn.plan import LayerPlan, Plan

    wm = "none" if mult.get(multiplier).is_exact else mapping
    return search.ev.complete(Plan({n: LayerPlan(multiplier, 0.0, wm) for n in search.ev.layers}))


def reuse_sensitivity(search, config, info, folder, name) -> None:
    """Loads the sensitivity table of an earlier run into ``search`` (it is deterministic: the same model,
    validation images, calibration, weight mapping, multipliers and seed give the same table); ``folder`` is the run's
    output folder or its result.json."""
    if os.path.basename(folder) == "result.json":
        folder = os.path.dirname(folder) or "."
    if not os.path.isfile(os.path.join(folder, "result.json")):
        raise SystemExit(f"--sensitivity-from: no result.json in {folder!r} (give an earlier run's output folder).")
    with open(os.path.join(folder, "result.json")) as f:
        old = json.load(f)
    with open(os.path.join(folder, "table.json")) as f:
        old_table = json.load(f)
    same = {k: (old["config"][k], getattr(config, k)) for k in
            ("weight_mapping", "calibration_samples", "seed", "confidence", "confirmation_fraction")}
    same["multipliers"] = (old["config"]["multipliers"], list(config.multipliers))
    same["split_hash"] = (old_table["split_hash"], info["split_hash"])
    same["model"] = (old_table["model"], name)
    same["weights_sha256"] = (old_table.get("weights_sha256", "not recorded"), info["weights_sha256"])
    bad = {k: v for k, v in same.items() if v[0] != v[1]}
    if bad or "sensitivity" not in old:
        raise SystemExit(f"--sensitivity-from {folder}: not the same setting ({bad or 'no sensitivity table'})")
    search._sensitivity[tuple(config.multipliers)] = old["sensitivity"]
    print(f"sensitivity table reused from {folder}/result.json")


def per_layer_breakdown(result, rows, exact_rows):
    """Per layer of the answer: multiplier, skip fraction, MACs active, its compute energy (and that of the layer
    all-exact), its share of the plan's compute and system energy."""
    settings = {r["layer"]: r for r in result.per_layer}
    exact = {r["name"]: r for r in exact_rows}
    tot_c = math.fsum(r["energy_compute_j"] for r in rows)
    tot_s = math.fsum(r["energy_j"] for r in rows)
    tot_x = math.fsum(r["energy_compute_j"] for r in exact_rows)
    out = []
    for r in rows:
        s = settings.get(r["name"], {})
        e = exact.get(r["name"], r)
        out.append({"layer": r["name"], "multiplier": s.get("multiplier", r.get("multiplier")),
                    "skip_fraction": s.get("skip_fraction", 0.0), "macs": r["macs"], "active_macs": r["active_macs"],
                    "compute_nj": 1e9 * r["energy_compute_j"], "exact_compute_nj": 1e9 * e["energy_compute_j"],
                    "system_nj": 1e9 * r["energy_j"],
                    "compute_share": r["energy_compute_j"] / tot_c if tot_c else 0.0,
                    "exact_compute_share": e["energy_compute_j"] / tot_x if tot_x else 0.0,
                    "system_share": r["energy_j"] / tot_s if tot_s else 0.0})
    return out


def _pt(v, sign=True):
    return "—" if v is None else (f"{100 * v:+.2f}" if sign else f"{100 * v:.2f}")


def format_table(t, blind: bool = False) -> str:
    n_sel, n_conf, n_val, n_test = t["n_selection"], t["n_confirmation"], t["n_validation"], t["n_test"]
    conf = f"{t['confidence']:.0%}"
    head = (f"| row | val acc ({n_val}) | val drop [UB{conf}] ({n_val}) | selection drop [UB{conf}] ({n_sel}) | "
            f"confirmation drop ({n_conf}) |" + ("" if blind else f" test acc ({n_test}) | TEST drop ({n_test}) |")
            + " compute | system |")
    lines = [head, "|---|" + "---:|" * (head.count("|") - 2)]
    a = t["answer"]
    for r in t["rows"]:
        ub = "" if r.get("val_upper") is None else f" [{_pt(r['val_upper'])}]"
        mark = "" if r.get("val_meets") is None or r["label"] in ("float", "exact 8-bit") else \
            (" ✓" if r["val_meets"] else " ✗")
        ours = r["label"] == "XAI-Gen"
        sel = f"{_pt(a['sel_drop'])} [{_pt(a['sel_upper'])}]" if ours else "—"
        cnf = _pt(a["conf_drop"]) if ours else "—"
        test = "" if blind else f" {r['test_accuracy']:.4f} | {_pt(r['test_drop'])} |"
        lines.append(f"| {r['label']} | {r['val_accuracy']:.4f} | {_pt(r['val_drop'])}{ub}{mark} | {sel} | {cnf} |"
                     f"{test} {r['compute_x']:.2f}x | {r['system_x']:.2f}x |")
    tail = "" if blind else (f"; TEST {n_test} images drop {_pt(a['test_drop'])} -> "
                             f"{'keeps' if a['kept_promise'] else 'BREAKS'} the {100 * t['budget']:g}-point promise")
    lines += ["", f"XAI-Gen answer ({t['answer_label']}): selection {n_sel} images drop {_pt(a['sel_drop'])} "
              f"(upper bound {_pt(a['sel_upper'])} at {conf}), confirmation {n_conf} images drop "
              f"{_pt(a['conf_drop'])} ({a['confirmation_note']}), all {n_val} validation {_pt(a['val_drop'])}"
              f"{tail}; compute {a['compute_x']:.2f}x, system {a['system_x']:.2f}x, multiplier "
              f"{a['multiplier_x']:.2f}x"]
    if a.get("no_retraining"):
        nr = a["no_retraining"]
        lines.append(f"  the plan searched without retraining: validation accuracy {nr['validation_accuracy']:.4f}"
                     + ("" if blind else f", test {nr['accuracy']:.4f}") + ", compute "
                     f"{nr['compute_x']:.2f}x, system {nr['system_x']:.2f}x")
    lines += ["", "(drops in points below float, paired on the same images; ✓/✗: the upper bound over all validation "
                  "images meets / misses the budget — what a validation-only user can check; energy "
                  f"{t['energy_model']})"]
    return "\n".join(lines)


def format_breakdown(rows) -> str:
    lines = ["| layer | multiplier | skip | active MACs / MACs | compute nJ (all-exact) | share of all-exact compute | "
             "compute share | system share |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['layer']} | {r['multiplier']} | {100 * r['skip_fraction']:.0f}% | "
                     f"{r['active_macs']:,} / {r['macs']:,} | {r['compute_nj']:.1f} ({r['exact_compute_nj']:.1f}) | "
                     f"{100 * r['exact_compute_share']:.1f}% | {100 * r['compute_share']:.1f}% | "
                     f"{100 * r['system_share']:.1f}% |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse(argv)
    if args.show:
        return show(args.show)
    from tfaxdnn.search import XAIGenConfig
    from tfaxdnn.search.checkpoint import array_digest
    from tfaxdnn.search.xaigen import XAIGenSearch, run_xaigen

    t0 = time.perf_counter()
    name = os.path.splitext(os.path.basename(args.model))[0]
    out = args.out or os.path.join("out", "results", f"xaigen_{name}")
    os.makedirs(out, exist_ok=True)
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te), info = load_data(args)
    model, card = load_model(args, info)
    # caches and reused tables are keyed by the weights, not by the name (a retrained model keeps its name)
    info["weights_sha256"] = array_digest(*model.get_weights())
    verbose = not args.quiet
    print(f"{name}: split {info['split_hash'][:12]} ({info['n_train']} train / {info['n_validation']} validation), "
          f"{info['n_test']} test images; calibration on {args.calibration_samples} training images")
    config = XAIGenConfig(multipliers=args.multipliers.split(","), max_accuracy_drop=args.max_accuracy_drop,
                          confidence=args.confidence, confirmation_fraction=args.confirmation_fraction,
                          energy_accounting=args.energy_accounting, selection=args.selection, refine=args.refine,
                          refine_passes=args.refine_passes, uniform_candidates=args.uniform_candidates, t_p=args.t_p,
                          weight_mapping=args.weight_mapping,
                          importance_samples=args.importance_samples, n_steps=args.n_steps,
                          calibration_samples=args.calibration_samples, evaluation_samples=None, seed=args.seed,
                          finetune_epochs=args.finetune_epochs, search_accuracy_drop=args.search_accuracy_drop,
                          finetune_learning_rate=args.finetune_learning_rate,
                          finetune_batch_size=args.finetune_batch_size)
    # all 5,000 reference validation images select (the search carves its confirmation slice out of them);
    # calibration: training images; report: the 10,000 test images
    search = XAIGenSearch(model, (x_val, y_val), x_tr, config, None, None, verbose, test_data=(x_te, y_te))
    if args.sensitivity_from and config.selection == "sensitivity":
        reuse_sensitivity(search, config, info, args.sensitivity_from, name)
    t_search = time.perf_counter()
    result = run_xaigen(model, (x_val, y_val), x_tr, config, verbose=verbose, search=search,
                        train_data=(x_tr, y_tr) if args.finetune_epochs else None)
    t_search = time.perf_counter() - t_search
    result.save(out)
    if not args.blind:
        print(result)
    table = build_table(args, name, card, info, config, search, result, len(y_te), t0, t_search)
    write_outputs(table, out, args.arch_data)
    print_table(table, out, blind=args.blind)
    return result


def baseline_rows(args, name, info, config, search, budget):
    """The trivial plans' rows (cached per model weights, split, calibration, mapping and multiplier: they do not
    depend on XAI-Gen's flags)."""
    specs = []
    if args.baselines != "none":
        specs += [("mul8s_1L2J", "uniform"), ("mul8s_1L2J", "none")]
    if args.baselines == "all":
        specs += [(m, args.baseline_mapping) for m in PAPER_MULTIPLIERS[1:] if (m, args.baseline_mapping) not in specs]
    path = args.baseline_cache or os.path.join("out", "results", f"baselines_{name}.json")
    cache = {}
    if os.path.isfile(path):
        with open(path) as f:
            cache = json.load(f)
    rows = []
    for mu, wm in specs:
        label = f"every layer {mu}" + (" + uniform mapping" if wm == "uniform" else
                                       " + data mapping" if wm == "data" else " (no mapping)")
        key = json.dumps([info["weights_sha256"], info["split_hash"], info["n_test"], args.calibration_samples,
                          args.seed, mu, wm, budget, args.confidence])
        if key not in cache:
            r = plan_row(label, search, every_layer(search, mu, wm), budget)
            r.pop("per_layer")
            cache[key] = r
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                json.dump(cache, f, indent=1, default=float)
        rows.append(dict(cache[key], label=label))
        if not args.quiet:
            print(f"  {label}: validation {rows[-1]['val_accuracy']:.4f}, compute {rows[-1]['compute_x']:.2f}x")
    return rows


def build_table(args, name, card, info, config, search, result, n_test, t0, t_search) -> dict:
    budget = args.max_accuracy_drop
    t_base = time.perf_counter()
    fv, ft = search.full.baseline(), search.test.baseline()
    rows = [{"label": "float", "val_accuracy": fv.accuracy, "val_drop": None, "val_upper": None, "val_meets": None,
             "test_accuracy": ft.accuracy, "test_drop": None, "compute_x": 1.0, "system_x": 1.0,
             "multiplier_x": 1.0}]
    ex = plan_row("exact 8-bit", search, search.ev.exact_plan(), budget)
    finetuned = bool(args.finetune_epochs) and result.accuracy_drop.get("finetuned", True)
    ans = plan_row("XAI-Gen", search, result.plan, budget, model=result.model if finetuned else None)
    breakdown = per_layer_breakdown(result, ans["per_layer"], ex["per_layer"])
    for r in (ex, ans):
        r.pop("per_layer")
    rows += [ex, ans] + baseline_rows(args, name, info, config, search, budget)
    t_base = time.perf_counter() - t_base
    sel = result.accuracy_drop
    conf = sel.get("confirmation") or {}
    check = sel.get("confirmation_check") or {}
    nr = result.no_retraining
    answer = {"sel_drop": sel.get("estimated_drop"), "sel_upper": (sel.get("validation") or {}).get("upper"),
              "conf_drop": conf.get("drop"), "conf_upper": conf.get("upper"),
              "confirmation_note": check.get("note") or ("confirmed on the confirmation slice" if sel.get("confirmed")
                                                         else "failed the re-check" if sel.get("confirmed") is False
                                                         else "not re-checked"),
              "val_drop": ans["val_drop"], "test_drop": sel.get("realised_drop"),
              "kept_promise": sel.get("kept_promise"),
              "compute_x": result.reductions["compute"], "system_x": result.reductions["system"],
              "multiplier_x": result.reductions["multiplier"],
              "no_retraining": nr and {"accuracy": nr["accuracy"], "validation_accuracy": nr["validation_accuracy"],
                                       "compute_x": nr["energy_reduction_compute"],
                                       "system_x": nr["energy_reduction_system"]},
              "finetune_log": result.finetune_log}
    acc = search.accelerator
    energy_model = (f"tfaxdnn.hardware.estimate, accelerator {acc.name} (Accelerator.paper(): 8 pods of 256x256 "
                    f"weight-stationary MACs), batch size {search.ev.batch_size}, clock {acc.clock_period_s * 1e9:g} ns "
                    f"({1e-6 / acc.clock_period_s:g} MHz), structured skipping; the search minimised "
                    f"{config.energy_accounting} energy")
    return {"model": name, "model_card_accuracy": card and card.get("accuracy"), **info,
            "budget": budget, "confidence": args.confidence, "n_selection": result.n_validation,
            "n_confirmation": result.n_confirmation, "n_test": n_test, "energy_model": energy_model,
            "answer_label": ("fine-tuned %d epoch(s)" % args.finetune_epochs) if finetuned else
            "no retraining" + (" (no fine-tuned plan held on validation: the no-retraining answer is kept)"
                               if args.finetune_epochs else ""),
            "answer": answer, "rows": rows, "per_layer": breakdown, "flags": dict(vars(args)),
            "command": "python " + " ".join(sys.argv),
            "runtime_s": {"search": t_search, "table": t_base, "total": time.perf_counter() - t0},
            "sequential_rejection": sel.get("sequential_rejection")}


def write_outputs(table, out, arch_data) -> None:
    text, brk = format_table(table), format_breakdown(table["per_layer"])
    rt = table["runtime_s"]
    with open(os.path.join(out, "table.json"), "w") as f:
        json.dump(table, f, indent=2, default=float)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(f"# XAI-Gen on {table['model']} ({arch_data}), budget {100 * table['budget']:g} point(s)\n\n"
                f"`{table['command']}`\n\n{text}\n\nPer-layer breakdown of the answer (hardware report):\n\n{brk}\n\n"
                f"runtime: search {rt['search']:.0f} s, table {rt['table']:.0f} s, total {rt['total']:.0f} s\n")
    with open(os.path.join(out, "per_layer.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table["per_layer"][0]))
        w.writeheader()
        w.writerows(table["per_layer"])


def print_table(table, out, blind=False) -> None:
    rt = table["runtime_s"]
    print()
    print(f"{table['command']}")
    print(format_table(table, blind=blind))
    print()
    print(format_breakdown(table["per_layer"]))
    print(f"\nruntime: search {rt['search']:.0f} s, table {rt['table']:.0f} s, total {rt['total']:.0f} s; results in "
          f"{out}" + (" (blind: test figures are in table.json, not shown; `--show DIR` prints them)" if blind else ""))


def show(out) -> None:
    with open(os.path.join(out, "table.json")) as f:
        print_table(json.load(f), out)


if __name__ == "__main__":
    main()
