"""``tfaxdnn map``: fine-grain weight-to-approximation mapping of a reconfigurable multiplier under STL queries.

Writes to ``--out``: ``mapping.json`` (the best mapping of the first query, a plan: ``tfaxdnn.Plan.from_json``),
``mapping_<query>.json`` per query, ``queries.csv`` (per query and method: satisfied on the search split, robustness,
gain, utilisation, plus the re-verification on the held-out split), ``points_<method>_<query>.json`` (every evaluated
point), ``signal_<query>.png`` (Fig. 5), ``gains.png`` (Figs. 7-8), ``utilization_<query>.png`` (Fig. 6).

The search selects on a seeded ``--validation-fraction`` of ``x_test`` (the paper uses 25 %), or on the ``x_test`` of
``--val-data``; every reported mapping is re-loaded from its JSON and re-evaluated by a fresh evaluator on the rest
(with ``--val-data``: all of ``--data``'s ``x_test``; ``verify_*`` columns).
"""

from __future__ import annotations

import argparse
import json
import os

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from tfaxdnn.multipliers.reconfigurable import preset_names

    p = subparsers.add_parser("map", help="fine-grain mapping of a reconfigurable multiplier under STL queries",
                              description=__doc__.split("\n\n")[0].replace("``", "") +
                              " Exit code 3 when no mapping satisfies a query.")
    common.model_arg(p)
    p.add_argument("--out", required=True, help="output directory")
    common.data_args(p)
    common.split_args(p, fraction=0.25, samples_help="use only this many x_test images (with --val-data: of its "
                                                     "validation images)")
    common.hardware_args(p)
    g = p.add_argument_group("mapping")
    g.add_argument("--query", default="Q3",
                   help="Q1..Q7, 'all', a comma-separated list, or 'thr=3,x=80,thr_total=15,thr_avg=1' (default Q3)")
    g.add_argument("--thr-avg", default="1", help="mean-drop threshold(s) in %% for Q1..Q7, comma-separated "
                                                  "(paper: 0.5,1,2; default 1)")
    g.add_argument("--budget", type=int, default=50, help="model evaluations per search (paper: 50-100)")
    g.add_argument("--modes", default="recon_evo", help=f"reconfigurable multiplier preset or registered name "
                                                        f"({', '.join(preset_names())}; default recon_evo)")
    g.add_argument("--baselines", default="greedy,homogeneous", help="comma-separated baselines, or 'none'")
    g.add_argument("--protocol", choices=("native", "query", "shared"), default="native",
                   help="baselines under their own Q7 constraint (paper, default), under each query, or 'shared': "
                        "every method searches once per thr_avg under all its queries and reports each query's best")
    common.seed_arg(p)
    common.quiet_arg(p, "no progress bars")
    p.set_defaults(func=run)
    return p


def _queries(args):
    from tfaxdnn.search.mapping.queries import PAPER_QUERIES, parse_query

    levels = [float(v) for v in str(args.thr_avg).split(",") if v.strip()]
    if not levels:
        raise ValueError("--thr-avg needs at least one value.")
    text = args.query.strip()
    if "=" in text:
        return [parse_query(text)]
    names = list(PAPER_QUERIES) if text.lower() == "all" else [t.strip() for t in text.split(",") if t.strip()]
    return [parse_query(n, level) for level in levels for n in names]


def _progress_factory(quiet: bool, budget: int):
    if quiet:
        return None
    from tqdm import tqdm

    def factory(label):
        bar = tqdm(total=budget, desc=label, unit="eval", leave=True)
        best = [None]

        def step(point):
            if point.satisfied and (best[0] is None or point.gain > best[0]):
                best[0] = point.gain
            bar.set_postfix(best=("-" if best[0] is None else f"{100 * best[0]:.1f}%"),
                            gain=f"{100 * point.gain:.1f}%", rob=f"{point.robustness:+.2f}")
            bar.update(1)
            if bar.n >= budget:
                bar.close()
        return step
    return factory


def _subset(x, y, n, seed):
    """A seeded sorted subset of ``n`` of the images (all when ``n`` is None or 0)."""
    import numpy as np

    if not n:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False))
    return x[idx], np.asarray(y)[idx]


def run(args) -> int:
    from tfaxdnn.plan import Plan
    from tfaxdnn.search import Evaluator, split_data
    from tfaxdnn.search.mapping import MappingProblem
    from tfaxdnn.search.mapping import report as rep
    from tfaxdnn.search.mapping.queries import drop_signal

    model = common.load_model(args.model)
    x_cal, (x_eval, y_test) = common.load_data(args, model)
    val = common.load_validation(args, model)
    with common.reported(ValueError, FileNotFoundError, KeyError, TypeError):
        queries = _queries(args)
        baselines = [] if args.baselines.strip().lower() == "none" else [
            b.strip() for b in args.baselines.split(",") if b.strip()]
        accelerator = common.accelerator(args.accelerator)
        if val is None:  # the search sees --validation-fraction of x_test, the rest verifies
            x_eval, y_test = _subset(x_eval, y_test, args.evaluation_samples, args.seed)
            (x_val, y_val), (x_hold, y_hold) = split_data(x_eval, y_test, args.validation_fraction, args.seed)
        else:  # the search sees --val-data's x_test, all of --data's x_test verifies
            (x_val, y_val), (x_hold, y_hold) = _subset(*val, args.evaluation_samples, args.seed), (x_eval, y_test)
        ev = Evaluator(model, (x_val, y_val), x_cal, accelerator=accelerator, batch_size=args.batch_size,
                       calibration_samples=args.calibration_samples, seed=args.seed)
        problem = MappingProblem(ev, args.modes)
    os.makedirs(args.out, exist_ok=True)
    try:
        rows, results = rep.compare(problem, queries, budget=args.budget, seed=args.seed, baselines=baselines,
                                    protocol=args.protocol, progress=_progress_factory(args.quiet, args.budget))
    except KeyboardInterrupt:
        return common.interrupted(f"the mapping search keeps no checkpoint, and {args.out} holds no results yet: "
                                  "rerun the command to start again", newline=not args.quiet)
    # Re-verification: reload each reported mapping from its JSON and monitor a fresh evaluation on held-out data.
    fresh = Evaluator(model, (x_hold, y_hold), x_cal, accelerator=accelerator, batch_size=args.batch_size,
                      calibration_samples=args.calibration_samples, seed=args.seed, split="test")
    exact_hold = fresh.exact()
    records = []
    wrote_main = False
    for r in rows:
        rec = r.to_record()
        if r.point is not None:
            plan = problem.plan(r.point.fractions)
            path = os.path.join(args.out, f"mapping_{r.method}_{r.query.name}_{r.query.thr_avg}.json")
            plan.to_json(path)
            if r.method == "ours":
                plan.to_json(os.path.join(args.out, f"mapping_{r.query.name}_{r.query.thr_avg}.json"))
                if not wrote_main:
                    plan.to_json(os.path.join(args.out, "mapping.json"))
                    wrote_main = True
            m = fresh(Plan.from_json(path))
            drop = drop_signal(m.batch_accuracies, exact_hold.batch_accuracies)
            rec.update(verify_robustness=round(r.query.robustness(drop), 4), verify_accuracy=m.accuracy,
                       verify_satisfied=bool(r.query.robustness(drop) >= 0))
        records.append(rec)
    rep.write_csv(records, os.path.join(args.out, "queries.csv"))
    for (method, qname, level), res in results.items():
        res.save(os.path.join(args.out, f"points_{method}_{qname}_{level}.json"))
    for query in queries:
        res = results.get(("ours", query.name, query.thr_avg)) or results[("ours", "all", query.thr_avg)]
        best = res.best_for(query)
        tag = f"{query.name}_{query.thr_avg}"
        shown = [res.points[0], res.points[len(res.points) // 2]] + ([best] if best is not None else [])
        rep.plot_signal(shown, query, os.path.join(args.out, f"signal_{tag}.png"),
                        titles=["first evaluation", "mid-search"] + (["best satisfying"] if best else []))
        if best is not None:
            rep.plot_utilization(best, os.path.join(args.out, f"utilization_{tag}.png"))
    rep.plot_gains(rows, os.path.join(args.out, "gains.png"))
    summary = {"model": args.model, "data": args.data, "multiplier": problem.multiplier.describe(),
               "budget": args.budget, "seed": args.seed, "protocol": args.protocol,
               "search_images": len(x_val), "verify_images": len(x_hold),
               "exact_accuracy_search": problem.exact.accuracy, "exact_accuracy_verify": exact_hold.accuracy,
               **({"val_data": args.val_data} if args.val_data else {}), "rows": records}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    if not args.quiet:
        for rec in records:
            print(f"{rec['query']:>4} thr_avg={rec['thr_avg']} {rec['method']:<12} satisfied={rec['satisfied']!s:<5} "
                  f"gain={100 * rec['gain']:5.1f}%  robustness={rec['robustness']}  "
                  f"verify={rec.get('verify_robustness')}")
    ours_ok = all(r.satisfied for r in rows if r.method == "ours")
    return 0 if ours_ok else 3
