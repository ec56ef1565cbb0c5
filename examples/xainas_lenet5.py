"""XAI-NAS vs the ALWANN-style baseline (and XAI-Gen) on LeNet-5 / MNIST.

    python examples/xainas_lenet5.py [--data mnist.npz] [--model lenet5.keras] [--generations 10 --pop 50]
                                     [--workers N] --out DIR
    python examples/xainas_lenet5.py --pretrained lenet5_mnist --energy-accounting compute \
        --max-accuracy-drop 0.01 --xaigen-t-p 0.5 --xaigen-selection sensitivity --xaigen-refine best \
        --max-evaluations 300 --out DIR

Data: ``--data``, else ``~/.keras/datasets/mnist.npz`` or the shared copy, else the bundled 4,000/1,000-image
subset (``--subset`` forces it). x_test is split (seeded) into a validation half (selection) and a test half (the
final fronts are re-evaluated on it). With ``--pretrained NAME`` (a shipped reference model,
`tfaxdnn.models.pretrained`) nothing of x_test is selected on: the searches select on the model card's validation
images (`tfaxdnn.data.reference_split` of x_train: images the model never trained on; a quarter of them is the
confirmation slice), report on all of x_test, and calibrate and compute conductance on the training part.

Writes DIR/xainas/, DIR/alwann/ (evaluations.csv, pareto.json, plots, checkpoints; ``--resume`` continues),
DIR/generations.png, DIR/hypervolume.png, DIR/comparison.json and DIR/xaigen_<drop>/ (XAI-Gen on the same
validation images, with the flags of the refined seeds: with ``--xaigen-t-p`` and the NAS's conductance it is the run
whose answer seeds XAI-NAS, and the comparison says whether that answer is in XAI-NAS's first population), and prints
the comparison.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from _common import card_split, trained_model


def parser(doc: str, default_out: str) -> argparse.ArgumentParser:
    from tfaxdnn.search.runners import default_workers

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--data", default=None, help="npz dataset (default: a found copy, else the bundled subset)")
    p.add_argument("--subset", action="store_true", help="use the bundled subset even if the full data exists")
    p.add_argument("--model", default=None, help="trained .keras model (default: train one)")
    p.add_argument("--pretrained", default=None,
                   help="shipped reference model (e.g. lenet5_mnist): select on its card's validation images of "
                        "x_train, report on all of x_test")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--pop", type=int, default=50)
    p.add_argument("--seeds", type=int, default=36)
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="Dask worker processes (0: in-process; default: 0 on <= 2 cores, else half the cores)")
    p.add_argument("--evaluation-samples", type=int, default=None, help="validation images per candidate")
    p.add_argument("--validation-fraction", type=float, default=0.5,
                   help="share of x_test for selection (the rest is the held-out test split)")
    p.add_argument("--offsprings", type=int, default=None, help="offspring per generation (default: --pop)")
    p.add_argument("--genes", choices=("layer", "block"), default="layer")
    p.add_argument("--energy-accounting", choices=("system", "compute", "multiplier"), default="system",
                   help="energy objective of both searches and XAI-Gen (all three are reported)")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02,
                   help="budget: upper bound of the paired validation drop against float (default 0.02)")
    p.add_argument("--baseline", choices=("alwann", "none"), default="alwann",
                   help="none: XAI-NAS alone (no ALWANN-style run, e.g. to time a generation)")
    p.add_argument("--xaigen-selection", choices=("conductance", "sensitivity"), default="conductance",
                   help="selection of the refined XAI-Gen seeding runs and of the XAI-Gen reference runs")
    p.add_argument("--xaigen-refine", choices=("first", "best"), default="first",
                   help="refinement rule of the refined XAI-Gen seeding runs and of the XAI-Gen reference runs")
    p.add_argument("--xaigen-own-conductance", action="store_true",
                   help="also run XAI-Gen as it runs alone (conductance on its validation images, not the NAS's)")
    p.add_argument("--xaigen-t-p", default="", help="comma-separated t_p of refined XAI-Gen seeds (XAI-NAS only; "
                                                     "their evaluations count against the shared budget)")
    p.add_argument("--xaigen-refine-passes", type=int, default=2,
                   help="refinement passes of the --xaigen-t-p seeding runs (0: Algorithm 1 with back-off only)")
    p.add_argument("--max-evaluations", type=int, default=None,
                   help="budget of unique evaluations per search (default: XAI-NAS's, given to the baseline)")
    p.add_argument("--no-uniform-seeds", action="store_true",
                   help="leave the uniform plans out of XAI-NAS's first population")
    p.add_argument("--tolerance-seeds", type=int, default=0,
                   help="XAI-NAS: score each gene alone on each multiplier first, seed N plans of the additive front "
                        "(default 0: off; xainas_resnet8.py: 12)")
    p.add_argument("--plain-operators", action="store_true",
                   help="XAI-NAS without the skip-aware mutation, biased random start and skip repair")
    p.add_argument("--no-xaigen", action="store_true", help="skip the XAI-Gen reference run")
    p.add_argument("--xaigen-drops", default=None,
                   help="max accuracy drops of the XAI-Gen reference runs (default: --max-accuracy-drop)")
    p.add_argument("--pack", default=None,
                   help="with --pretrained: the images of examples/search_pack.py's pack.npz instead of the dataset "
                        "(its validation images select, its test subset reports)")
    p.add_argument("--importance", default=None,
                   help="XAI-NAS's conductance computed elsewhere (search_pack.py's <model>/importance.npz): placed "
                        "in DIR/xainas/ first; needed where TensorFlow is absent")
    p.add_argument("--calibration", default=None,
                   help="activation ranges measured elsewhere (search_pack.py's <model>/calibration.json): placed in "
                        "DIR/xainas/ and DIR/alwann/ first, so every machine scores the candidates alike")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=default_out)
    return p


def _fmt(v, pct=False, digits=2):
    if v is None:
        return "-"
    return f"{100 * v:.{digits}f}" if pct else f"{v:.{digits}f}"


def answer_row(label: str, answer: dict, accounting: str, extra: dict = None) -> dict:
    """One row of the answers table from a search's answer (`holdout.answer_of` / XAI-Gen's `accuracy_drop`)."""
    rec = answer["accuracy_drop"]
    conf = rec.get("confirmation") or {}
    check = rec.get("confirmation_check") or {}
    red = answer["energy_reduction"]
    return {"search": label, "source": answer.get("source"), "accounting": accounting,
            "validation_drop": rec.get("estimated_drop"), "validation_upper": rec.get("estimated_upper"),
            "confirmation_drop": conf.get("drop"), "confirmed": check.get("passed"),
            "fell_back": check.get("fell_back"), "test_drop": rec.get("realised_drop"),
            "kept_promise": rec.get("kept_promise"), "compute_x": red.get("compute"), "system_x": red.get("system"),
            "multiplier_x": red.get("multiplier"), **(extra or {})}


def print_answers(rows, max_drop: float) -> None:
    print(f"\nanswers (drops in points vs float, budget {100 * max_drop:g}; energy x lower than all-exact 8-bit):")
    print(f"{'search':34s}{'val drop':>9s}{'bound':>7s}{'conf':>7s}{'ok':>6s}{'TEST':>7s}{'compute':>9s}"
          f"{'system':>8s}{'mult':>7s}  source")
    for r in rows:
        print(f"{r['search']:34s}{_fmt(r['validation_drop'], True):>9s}{_fmt(r['validation_upper'], True):>7s}"
              f"{_fmt(r['confirmation_drop'], True):>7s}{str(r['confirmed']):>6s}{_fmt(r['test_drop'], True):>7s}"
              f"{_fmt(r['compute_x']):>9s}{_fmt(r['system_x']):>8s}{_fmt(r['multiplier_x']):>7s}  {r['source']}")


def compare(args, model, data, test_data=None) -> dict:
    """Runs both searches (same budget) and XAI-Gen; prints and returns the summary. ``test_data``: report there and
    select on all of ``data``'s second pair (`--pretrained`)."""
    import shutil
    import time

    from tfaxdnn.ops import backend
    from tfaxdnn.search import XAIGenConfig, run_xaigen
    from tfaxdnn.search.calibration_file import FILE as CALIBRATION_FILE
    from tfaxdnn.search.calibration_file import cached_calibration
    from tfaxdnn.search.xaigen import XAIGenSearch
    from tfaxdnn.search.nas import NASConfig, compare_with_alwann, run_xainas
    from tfaxdnn.search.nas.result import comparison_summary
    from tfaxdnn.search.selection import seeded_subset, split_data

    config = NASConfig(pop_size=args.pop, n_offsprings=args.offsprings or args.pop, generations=args.generations,
                       n_seeds=args.seeds, genes=args.genes, seed=args.seed, energy_accounting=args.energy_accounting,
                       max_accuracy_drop=args.max_accuracy_drop,
                       xaigen_t_p=[float(t) for t in args.xaigen_t_p.split(",") if t.strip()],
                       max_evaluations=args.max_evaluations, skip_aware=not args.plain_operators,
                       uniform_seeds=not args.no_uniform_seeds, tolerance_seeds=args.tolerance_seeds,
                       xaigen_refine_passes=args.xaigen_refine_passes, xaigen_selection=args.xaigen_selection,
                       xaigen_refine=args.xaigen_refine)
    if args.importance:     # computed where TensorFlow is (conductance needs it): where XAI-NAS caches its own
        os.makedirs(os.path.join(args.out, "xainas"), exist_ok=True)
        shutil.copyfile(args.importance, os.path.join(args.out, "xainas", "importance.npz"))
    for mode in ("xainas", "alwann") if args.calibration else ():    # where each search keeps its own
        os.makedirs(os.path.join(args.out, mode), exist_ok=True)
        shutil.copyfile(args.calibration, os.path.join(args.out, mode, CALIBRATION_FILE))
    explain = {} if backend.name() == "tensorflow" else {"explain_images": 0}   # tf-explain needs TensorFlow
    kw = dict(workers=args.workers, resume=args.resume, evaluation_samples=args.evaluation_samples,
              validation_fraction=args.validation_fraction, test_data=test_data, **explain)
    t0 = time.perf_counter()
    if args.baseline == "alwann":
        results = compare_with_alwann(model, data, args.out, config, **kw)
        with open(os.path.join(args.out, "comparison.json")) as f:
            summary = json.load(f)
    else:
        results = {"xainas": run_xainas(model, data, os.path.join(args.out, "xainas"), config, **kw)}
        summary = {"xainas": comparison_summary(results["xainas"])}
    modes = list(results)
    print(f"\n{'':40s}" + "".join(f"{'XAI-NAS' if m == 'xainas' else 'ALWANN-style':>14s}" for m in modes))
    for key in ("hypervolume", "evaluations", "seeding_evaluations", "total_evaluations", "candidates",
                "wall_time_s", "seeding_time_s", "front_size",
                "best_energy_reduction_validation_1pt", "best_energy_reduction_test_1pt",
                "best_energy_reduction_validation_2pt", "best_energy_reduction_test_2pt"):
        cells = [summary[m][key] for m in modes]
        print(f"{key:40s}" + "".join(f"{c:>14.5g}" if isinstance(c, (int, float)) else f"{str(c):>14s}"
                                     for c in cells))
    for m in modes:
        rej = results[m].selection.get("sequential_rejection", {})
        summary[m]["sequential_rejection"] = rej
        if rej:
            print(f"{m}: sequential rejection stopped {rej['rejected']} of {rej['candidates']} candidates early, "
                  f"{100 * rej['images_saved_fraction']:.1f} % of all candidates' images not scored, inference "
                  f"{rej['inference_s']:.0f} s spent, ~{rej['saved_s']:.0f} s saved")
    rows = [answer_row("XAI-NAS" if m == "xainas" else "ALWANN-style", results[m].answer, args.energy_accounting,
                       {"hypervolume": summary[m]["hypervolume"], "evaluations": summary[m]["total_evaluations"]})
            for m in modes]
    xn = results["xainas"]
    if not args.no_xaigen:
        if test_data is None:   # the searches' split of x_test; XAI-Gen selects on their validation pool
            (x_train, y_train), (x_held, y_held) = data
            (x_val, y_val), test = split_data(x_held, np.asarray(y_held).reshape(-1), args.validation_fraction,
                                              args.seed)
            keep = seeded_subset(args.evaluation_samples, args.seed + 2, np.arange(len(x_val)))
            x_val, y_val = x_val[keep], y_val[keep]
        else:
            (x_train, y_train), (x_val, y_val) = data
            test = test_data
        from tfaxdnn.core import kinds
        from tfaxdnn.search.nas.genome import GenomeSpace
        from tfaxdnn.search.nas.importance import cached_importance

        layers = kinds.approximable_names(model)
        # the NAS's conductance (training images, cached in its folder): XAI-Gen with it is the seeding run itself
        nas_importance = cached_importance(model, np.asarray(x_train), y_train, layers, config,
                                           os.path.join(args.out, "xainas", "importance.npz"), False)
        space = GenomeSpace.build(layers, layers[-1], config.multipliers, config.max_skip, config.skip_step,
                                  config.genes, weight_mapping=config.weight_mapping)
        seed_keys = {r["genome"] for r in xn.seeding.get("runs", [])}
        first_pop = {r["genome"] for r in xn.records if r["generation"] == 0}
        ref_t_p = config.xaigen_t_p[0] if config.xaigen_t_p else 0.5
        drops = [float(d) for d in (args.xaigen_drops or str(args.max_accuracy_drop)).split(",") if d.strip()]
        variants = [("nas conductance", nas_importance)] + ([("own conductance", None)]
                                                            if args.xaigen_own_conductance else [])
        for drop in drops:
            for label, importance in variants:
                xcfg = XAIGenConfig(seed=args.seed, energy_accounting=args.energy_accounting, max_accuracy_drop=drop,
                                    t_p=ref_t_p, selection=args.xaigen_selection, refine=args.xaigen_refine,
                                    refine_passes=args.xaigen_refine_passes, multipliers=space.multipliers,
                                    calibration_samples=config.calibration_samples,
                                    weight_mapping=config.weight_mapping, skip_step=config.skip_step)
                search = XAIGenSearch(model, (x_val, y_val), x_train, xcfg, importance=importance, verbose=False,
                                      test_data=test)
                # the NAS's activation ranges (the same images): every machine scores XAI-Gen's plans alike
                cached_calibration(search.ev, os.path.join(args.out, "xainas", CALIBRATION_FILE))
                xg = run_xaigen(model, (x_val, y_val), x_train, xcfg, search=search)
                tag = f"{int(round(drop * 100))}pt" + ("" if importance is not None else "_own")
                xg.save(os.path.join(args.out, f"xaigen_{tag}"))
                key = space.key(space.from_plan(xg.plan))
                seeded = key in seed_keys and key in first_pop
                ahead = xn.answer["energy_reduction"][args.energy_accounting] >= xg.reductions[args.energy_accounting]
                summary[f"xaigen_{tag}"] = {
                    "conductance": label, "t_p": ref_t_p, "selection": args.xaigen_selection,
                    "refine": args.xaigen_refine, "refine_passes": args.xaigen_refine_passes,
                    "relative_energy": xg.relative_energy, "energy_reduction": 1.0 / xg.relative_energy,
                    **{f"energy_reduction_{a}": xg.reductions[a] for a in ("system", "compute", "multiplier")},
                    "accuracy_validation": xg.validation_accuracy, "accuracy_test": xg.accuracy,
                    "baseline_accuracy_validation": xg.baseline_validation_accuracy,
                    "baseline_accuracy_test": xg.baseline_accuracy, "runtime_s": xg.runtime_s,
                    "accuracy_drop": xg.accuracy_drop, "genome": key,
                    "answer_in_xainas_first_population": seeded,
                    "xainas_answer_not_behind": bool(ahead) if drop == args.max_accuracy_drop else None}
                rows.append(answer_row(f"XAI-Gen ({tag}, {label})",
                                       {"source": f"t_p {ref_t_p}, {args.xaigen_selection}/{args.xaigen_refine}",
                                        "energy_reduction": xg.reductions, "accuracy_drop": xg.accuracy_drop},
                                       args.energy_accounting, {"runtime_s": xg.runtime_s, "seeded": seeded}))
                print(f"XAI-Gen ({tag}, {label}): answer genome {key} "
                      f"{'IS' if seeded else 'is NOT'} in XAI-NAS's first population; XAI-NAS's answer "
                      f"{'is not behind' if ahead else 'is BEHIND'} it ({args.energy_accounting}); "
                      f"{xg.runtime_s:.0f} s")
    summary["answers"] = rows
    summary["total_wall_s"] = time.perf_counter() - t0
    with open(os.path.join(args.out, "comparison.json"), "w") as f:
        json.dump(summary, f, indent=2, default=float)
    print_answers(rows, args.max_accuracy_drop)
    base = xn.baseline_accuracy
    print(f"float baseline accuracy: validation {base['validation']:.4f}, test {base['test']:.4f}; "
          f"results in {args.out}")
    return summary


def reference_data(name: str, path=None, seed=None, pack=None):
    """``(model, ((x_fit, y_fit), (x_val, y_val)), (x_test, y_test), card)`` of a shipped reference model: the
    training part of its card's split (calibration, conductance), its validation images (selection) and all of the
    test set (report), prepared for the model's input. ``pack``: `examples/search_pack.py`'s npz instead (its
    training and test subsets, the same validation images; the split hash is checked against the card)."""
    from tfaxdnn.data import prepare_images
    from tfaxdnn.models import model_card, pretrained

    if pack is not None:
        card, model = model_card(name), pretrained(name)
        with np.load(pack) as f:
            meta = json.loads(str(f["meta"]))
            if meta["split_hash"] != card["split"]["hash"]:
                raise SystemExit(f"error: {pack} packs split {meta['split_hash'][:12]}, not {name}'s "
                                 f"{card['split']['hash'][:12]} (--pack)")
            shape = model.input_shape
            fit, val, test = ((prepare_images(f[f"x_{k}"], shape), f[f"y_{k}"]) for k in ("fit", "val", "test"))
        print(f"{name}: {len(fit[0])} training / {len(val[0])} validation / {len(test[0])} test images of {pack} "
              f"(split {meta['split_hash'][:12]}); card: float test {card['accuracy']['test']['float']:.4f} on all "
              "test images")
        return model, (fit, val), test, card
    card, src, (xtr, ytr), (xte, yte), train, val = card_split(name, path, seed)
    digest = card["split"]["hash"]
    model = pretrained(name)
    shape = model.input_shape
    print(f"{name}: {len(train)} training / {len(val)} validation images of {src} (split {digest[:12]}), "
          f"{len(xte)} test images; card: float test {card['accuracy']['test']['float']:.4f}")
    return (model, ((prepare_images(xtr[train], shape), ytr[train]), (prepare_images(xtr[val], shape), ytr[val])),
            (prepare_images(xte, shape), yte), card)


def main(argv=None):
    from tfaxdnn import evaluate
    from tfaxdnn.data import load_mnist, preprocess_mnist
    from tfaxdnn.models import lenet5

    args = parser(__doc__, "out/xainas_lenet5").parse_args(argv)
    if args.pretrained:
        model, data, test, _ = reference_data(args.pretrained, args.data, pack=args.pack)
        return compare(args, model, data, test)
    (xtr, ytr), (xte, yte), _ = load_mnist(args.data, full=not args.subset, verbose=True)
    xtr, xte = preprocess_mnist(xtr), preprocess_mnist(xte)
    epochs = args.epochs or (10 if len(xtr) > 10000 else 8)
    model = trained_model(args, lenet5, xtr, ytr, epochs, "lenet5", batch_size=64, verbose=0)
    print(f"LeNet-5 accuracy {evaluate(model, xte, yte).accuracy:.4f} on all {len(xte)} x_test images")
    compare(args, model, ((xtr, ytr), (xte, yte)))


if __name__ == "__main__":
    main()
