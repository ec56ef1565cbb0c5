"""What one XAI-NAS candidate costs, and what one generation costs, on a shipped reference model.

    python examples/xainas_cost.py --pretrained resnet8_cifar10 [--pop 50] [--data cifar10.npz] --out DIR

Sets the search up exactly as ``xainas_resnet8.py --pretrained`` does (the card's 5,000 validation images of x_train:
3,750 to select on, 1,250 confirmation; block genes; the budget and accounting flags below), takes XAI-NAS's initial
population (XAI-Gen sweep seeds, then random genomes) and scores every candidate twice in this process, alternating
which goes first: with fixed 100-image slices (the scoring before adaptive slices) and with the adaptive slices of
`tfaxdnn.search.scoring` (100 to 800 images, sized by the candidate's rates so far). Each candidate's time is split into
the build of the approximate model (``approximate()``, calibration reused), inference, the energy model and the rest;
sequential rejection's share is the inference it saved (images not scored x the candidate's own time per image). Prints
the table and the extrapolation to ``pop`` x ``generations``, writes DIR/cost.json and DIR/candidates.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class Timers:
    """Wraps ``Evaluator.build`` and ``hardware.estimate`` with accumulating timers (this process only)."""

    def __init__(self):
        import tfaxdnn.hardware as hardware
        from tfaxdnn.search import evaluator as evmod

        self.t = {"build": 0.0, "energy": 0.0}
        build, estimate = evmod.Evaluator.build, hardware.estimate

        def timed_build(ev, plan):
            t0 = time.perf_counter()
            try:
                return build(ev, plan)
            finally:
                self.t["build"] += time.perf_counter() - t0

        def timed_estimate(*a, **k):
            t0 = time.perf_counter()
            try:
                return estimate(*a, **k)
            finally:
                self.t["energy"] += time.perf_counter() - t0

        evmod.Evaluator.build = timed_build
        hardware.estimate = timed_estimate

    def take(self) -> dict:
        out, self.t = dict(self.t), {"build": 0.0, "energy": 0.0}
        return out


def main(argv=None):
    from xainas_lenet5 import reference_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pretrained", default="resnet8_cifar10")
    p.add_argument("--data", default=None)
    p.add_argument("--pop", type=int, default=50)
    p.add_argument("--generations", type=int, default=10, help="of the extrapolation")
    p.add_argument("--genes", choices=("layer", "block"), default="block")
    p.add_argument("--max-accuracy-drop", type=float, default=0.01)
    p.add_argument("--energy-accounting", default="compute")
    p.add_argument("--slices", default="100,800", help="largest slice of each scoring to compare (first: before)")
    p.add_argument("--profile", type=int, default=3, help="candidates profiled with cProfile (new slices)")
    p.add_argument("--warmup", action="store_true",
                   help="first score each multiplier on every layer once, untimed (layers that choose their compute "
                        "path at their first call, tfaxdnn.layers.paths 'auto', then choose before the timing)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/results/nas_resnet8_cost")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    from tfaxdnn.search.nas import NASConfig
    from tfaxdnn.search.nas.search import NASSearch
    from tfaxdnn.search.runners import make_runner

    t_setup = time.perf_counter()
    model, data, test, card = reference_data(args.pretrained, args.data)
    config = NASConfig(pop_size=args.pop, n_offsprings=args.pop, genes=args.genes, seed=args.seed,
                       max_accuracy_drop=args.max_accuracy_drop, energy_accounting=args.energy_accounting,
                       n_seeds=min(36, args.pop))
    runner = make_runner(0, None)
    search = NASSearch(model, data, os.path.join(args.out, "search"), config, runner, test_data=test, verbose=False)
    from tfaxdnn.search.nas.seeding import initial_population

    X0, _ = initial_population(search.space, config, search.importance)    # what generation 0 scores
    keys = list(dict.fromkeys(search.space.key(x) for x in X0))[:args.pop]
    setup_s = time.perf_counter() - t_setup
    ev0 = search.ev
    print(f"set-up (model, data, conductance, evaluator, float baseline): {setup_s:.1f} s; {len(keys)} candidates "
          f"on {len(ev0.y)} validation images; {len(ev0.layers)} approximable layers, {len(search.space.genes)} genes")

    timers = Timers()
    limits = [int(s) for s in args.slices.split(",")]
    evs = {}
    for s in limits:     # one evaluator per slice setting (own cache, same reference correctness)
        ev = ev0.with_data((ev0.x, ev0.y), split="validation", max_drop=ev0.max_drop)
        ev._reference_correct, ev._baseline = ev0.reference_correct(), ev0.baseline()
        ev.max_slice = s
        evs[s] = ev
    ev0.calibration()                                       # calibrated once, reused by every candidate
    if args.warmup:
        from tfaxdnn.plan import Plan

        for name in search.space.multipliers[1:]:
            for ev in evs.values():
                ev.with_data((ev0.x[:800], ev0.y[:800]), split="warm-up")(Plan(default_multiplier=name), max_drop=None)
    rows = []
    for i, key in enumerate(keys):
        plan = search.space.to_plan(search.space.from_key(key))
        order = limits if i % 2 == 0 else limits[::-1]
        for s in order:
            timers.take()
            t0 = time.perf_counter()
            m = evs[s](plan)
            wall = time.perf_counter() - t0
            t = timers.take()
            rows.append({"candidate": i, "genome": key, "max_slice": s, "wall_s": wall, "build_s": t["build"],
                         "inference_s": m.inference_s, "energy_s": t["energy"],
                         "other_s": wall - t["build"] - m.inference_s - t["energy"], "rejected": m.rejected,
                         "images_scored": m.n_scored, "images": m.n, "saved_s": m.saved_s,
                         "accuracy": m.accuracy, "drop_upper": m.drop_upper,
                         "feasible": (not m.rejected) and m.drop_upper <= args.max_accuracy_drop + 1e-12,
                         f"energy_reduction_{args.energy_accounting}": m.reductions[args.energy_accounting]})
        last = rows[-len(limits):]
        print(f"{i:3d} {key:>24s} " + "  ".join(
            f"[{r['max_slice']}] {r['wall_s']:.2f} s ({r['images_scored']}{' rej' if r['rejected'] else ''})"
            for r in sorted(last, key=lambda r: r["max_slice"])), flush=True)

    summary = {"model": args.pretrained, "card_test_float": card["accuracy"]["test"]["float"],
               "validation_images": len(ev0.y), "candidates": len(keys), "setup_s": setup_s,
               "float_baseline_validation": ev0.baseline().accuracy, "per_slice": {}}
    for s in limits:
        rs = [r for r in rows if r["max_slice"] == s]
        tot = {k: float(sum(r[k] for r in rs)) for k in ("wall_s", "build_s", "inference_s", "energy_s", "other_s",
                                                         "saved_s")}
        n = len(rs)
        per = {k: v / n for k, v in tot.items()}
        images = sum(r["images"] for r in rs)
        scored = sum(r["images_scored"] for r in rs)
        summary["per_slice"][s] = {
            "seconds_per_candidate": per["wall_s"], "breakdown_s": {k[:-2]: per[k] for k in
                                                                    ("build_s", "inference_s", "energy_s", "other_s")},
            "generation_s": tot["wall_s"], "rejected": sum(r["rejected"] for r in rs),
            "feasible": sum(r["feasible"] for r in rs), "images_saved_fraction": 1 - scored / images,
            "inference_saved_s": tot["saved_s"],
            "rejection_saved_share": tot["saved_s"] / (tot["wall_s"] + tot["saved_s"]),
            "ms_per_scored_image": 1e3 * tot["inference_s"] / scored,
            f"extrapolated_{args.pop}x{args.generations}_min": per["wall_s"] * args.pop * (args.generations + 1) / 60}
    if len(limits) == 2:
        a, b = (summary["per_slice"][s]["seconds_per_candidate"] for s in limits)
        summary["speedup"] = a / b
    if args.profile:
        import cProfile
        import io
        import pstats

        ev = evs[limits[-1]].with_data((ev0.x, ev0.y), split="validation", max_drop=ev0.max_drop)
        ev._reference_correct, ev._baseline, ev.max_slice = ev0.reference_correct(), ev0.baseline(), limits[-1]
        prof = cProfile.Profile()
        prof.enable()
        for key in keys[-args.profile:]:
            ev(search.space.to_plan(search.space.from_key(key)))
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(30)
        with open(os.path.join(args.out, "profile.txt"), "w") as f:
            f.write(buf.getvalue())
    with open(os.path.join(args.out, "cost.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    with open(os.path.join(args.out, "candidates.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"\n{'largest slice':>14s}{'s/cand':>9s}{'build':>8s}{'infer':>8s}{'energy':>8s}{'other':>8s}"
          f"{'rejected':>9s}{'feasible':>9s}{'img saved':>10s}{'rej. share':>11s}{'ms/img':>8s}"
          f"{f'{args.pop}x{args.generations} min':>12s}")
    for s, v in summary["per_slice"].items():
        b = v["breakdown_s"]
        print(f"{s:>14d}{v['seconds_per_candidate']:>9.2f}{b['build']:>8.2f}{b['inference']:>8.2f}"
              f"{b['energy']:>8.3f}{b['other']:>8.3f}{v['rejected']:>9d}{v['feasible']:>9d}"
              f"{100 * v['images_saved_fraction']:>9.1f}%{100 * v['rejection_saved_share']:>10.1f}%"
              f"{v['ms_per_scored_image']:>8.3f}{v[f'extrapolated_{args.pop}x{args.generations}_min']:>12.1f}")
    if "speedup" in summary:
        print(f"adaptive slices: {summary['speedup']:.2f}x faster per candidate (same process, same candidates)")
    search.close()
    runner.close()
    return summary


if __name__ == "__main__":
    main()
