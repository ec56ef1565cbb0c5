"""XAI-NAS speed: where one candidate evaluation spends its time, and 2 Dask workers vs 1.

    python benchmarks/bench_nas.py [--model lenet5|resnet8] [--images 10000] [--candidates 6]
                                   [--pop 8 --generations 2] [--out benchmarks/results/bench_nas_<model>.json]

Part 1 (in-process): for ``--candidates`` random genomes, the time of each stage of a candidate evaluation:
build (`approximate`: quantise + weight mapping + LUT layers, calibration ranges reused), inference (accuracy on
``--images`` evaluation images), energy (`hardware.estimate` from the plan and the layer shapes, as `Evaluator`);
the one-off calibration is timed separately.
Part 2: the same small search (``--pop``, ``--generations``, same seed) run with a LocalCluster of 1 and of 2
worker processes; the speed-up is measured on the generations after the first (worker start-up and evaluator
rebuild excluded; they are reported separately). Models are trained briefly (accuracy is irrelevant to speed).
Records the CPU and the load average, since other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
from bench_ops import cpu_model  # noqa: E402  (benchmarks/ is the script's directory)




def _data_and_model(name: str, images: int, seed: int):
    import keras

    from tfaxdnn.data import load_cifar10, load_mnist, preprocess_cifar10, preprocess_mnist
    from tfaxdnn.models import lenet5, resnet8, train_classifier

    if name == "lenet5":
        (xtr, ytr), (xte, yte), src = load_mnist()
        xtr, xte, build = preprocess_mnist(xtr), preprocess_mnist(xte), lenet5
    else:
        (xtr, ytr), (xte, yte), src = load_cifar10(seed=seed)
        xtr, xte, build = preprocess_cifar10(xtr), preprocess_cifar10(xte), resnet8
    keras.utils.set_random_seed(seed)
    model = train_classifier(build(), xtr[:2000], ytr[:2000], 1, seed=seed, verbose=0)
    # evaluation images: repeat the held-out ones if the data file has fewer than asked
    reps = -(-2 * images // len(xte))
    xte, yte = np.concatenate([xte] * reps), np.concatenate([yte] * reps)
    return model, (xtr, ytr), (xte[:2 * images], yte[:2 * images]), src


def stage_times(model, x_cal, x_eval, y_eval, n: int, seed: int) -> dict:
    from tfaxdnn import approximate, evaluate, hardware, kinds
    from tfaxdnn.rewrite.keras_model import calibrate
    from tfaxdnn.search.nas.genome import GenomeSpace

    layers = kinds.approximable_names(model)
    shapes = hardware.model_shapes(model)
    t = time.perf_counter()
    cal = calibrate(model, x_cal, layers=layers)
    calibration = time.perf_counter() - t
    space = GenomeSpace.build(layers, layers[-1], ("mul8s_1KV6", "mul8s_1KV9", "mul8s_1KVP", "mul8s_1L2J",
                                                   "mul8s_1L2L", "mul8s_1L2N"), max_skip=0.0)
    rows = []
    for g in space.random(n + 1, np.random.default_rng(seed)):
        plan = space.to_plan(g)
        t0 = time.perf_counter()
        ax = approximate(model, plan, calibration_data=cal)
        t1 = time.perf_counter()
        evaluate(ax, x_eval, y_eval)
        t2 = time.perf_counter()
        hardware.estimate(None, plan, shapes=shapes)      # as `Evaluator` does: from the plan and layer shapes
        t3 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1, t3 - t2))
    rows = np.array(rows[1:])                 # the first candidate also traces/loads the op: reported apart
    mean = rows.mean(axis=0)
    return {"calibration_s": calibration, "candidates": n, "build_s": mean[0], "inference_s": mean[1],
            "energy_s": mean[2], "total_s": float(mean.sum()),
            "inference_share": float(mean[1] / mean.sum())}


def search_times(model, data, workers: int, pop: int, generations: int, images: int, seed: int) -> dict:
    from tfaxdnn.search.nas import NASConfig, run_xainas

    stamps = []
    cfg = NASConfig(pop_size=pop, n_offsprings=pop, generations=generations, n_seeds=min(pop, 8),
                    importance_samples=50, n_steps=8, calibration_samples=300, seed=seed)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        r = run_xainas(model, data, out, cfg, workers=workers, evaluation_samples=images, verbose=False,
                       on_generation=lambda g, s: stamps.append((time.perf_counter(), s["evaluations"])))
        total = time.perf_counter() - t0
    (t_first, n_first), (t_last, n_last) = stamps[0], stamps[-1]
    per_cand = (t_last - t_first) / max(n_last - n_first, 1)
    return {"workers": workers, "evaluations": len(r.records), "total_s": total, "first_generation_s":
            t_first - t0, "later_generations_s": t_last - t_first, "later_evaluations": n_last - n_first,
            "s_per_candidate_after_warmup": per_cand, "front": [f["genome"] for f in r.front]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("lenet5", "resnet8"), default="lenet5")
    p.add_argument("--images", type=int, default=None, help="evaluation images (lenet5 10000, resnet8 1000)")
    p.add_argument("--candidates", type=int, default=6)
    p.add_argument("--pop", type=int, default=8)
    p.add_argument("--generations", type=int, default=2)
    p.add_argument("--skip-search", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    images = args.images or (10000 if args.model == "lenet5" else 1000)

    model, (xtr, ytr), (xte, yte), src = _data_and_model(args.model, images, args.seed)
    result = {"model": args.model, "data": src, "images": images, "cpu": cpu_model(), "cores": os.cpu_count(),
              "load_average_start": os.getloadavg()}
    st = stage_times(model, xtr[:500], xte[:images], yte[:images], args.candidates, args.seed)
    result["stages"] = st
    print(f"{args.model}, {images} images: per candidate build {st['build_s']:.2f} s, inference "
          f"{st['inference_s']:.2f} s, energy {st['energy_s']:.3f} s = {st['total_s']:.2f} s "
          f"(inference {100 * st['inference_share']:.0f} %); calibration once {st['calibration_s']:.2f} s")
    if not args.skip_search:
        data = ((xtr, ytr), (xte, yte))   # split in halves by run_xainas: `images` validation images
        runs = [search_times(model, data, w, args.pop, args.generations, images, args.seed) for w in (1, 2)]
        result["search"] = runs
        result["speedup_2_vs_1"] = runs[0]["s_per_candidate_after_warmup"] / runs[1]["s_per_candidate_after_warmup"]
        result["same_front"] = runs[0]["front"] == runs[1]["front"]
        for r in runs:
            print(f"{r['workers']} worker(s): first generation (start-up + {args.pop} candidates) "
                  f"{r['first_generation_s']:.1f} s, then {r['s_per_candidate_after_warmup']:.2f} s per candidate")
        print(f"speed-up 2 vs 1 workers: {result['speedup_2_vs_1']:.2f}x; same front: {result['same_front']}")
    result["load_average_end"] = os.getloadavg()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"bench_nas_{args.model}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=2, default=float)
    print(f"written {out}")


if __name__ == "__main__":
    main()
