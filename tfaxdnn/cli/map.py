"""``tfaxdnn map``: fine-grain weight-to-approximation mapping of a reconfigurable multiplier under STL queries.

The search selects on a seeded ``--validation-fraction`` of ``x_test`` (the paper uses 25 %), or on the ``x_test`` of
``--val-data``; its queries' mean-drop term is checked on the upper ``--confidence`` bound of the mean drop.
``--confirmation-fraction`` of the images that choose re-check each method's answer (its best mapping satisfying the
query must hold there too, else its next one that does; `tfaxdnn.search.mapping.confirm`), and images that choose
nothing verify what was confirmed (reported only, ``verify_*`` columns; each mapping is re-loaded from its JSON and
re-evaluated by a fresh evaluator):

- with ``--val-data``, the confirmation slice is that share of the validation images (disjoint from the search's) and
  all of ``--data``'s ``x_test`` verifies: the test images choose nothing, not even a fallback;
- without it, ``x_test`` is all there is: the rest of it after the search's share is split into the confirmation
  slice and the verification images.

Writes to ``--out``: ``mapping.json`` (the confirmed mapping of ours for the first query, a plan:
``tfaxdnn.Plan.from_json``) and ``mapping_<query>_<thr_avg>.json`` per query, **only** for mappings that hold on the
held-out confirmation images; ``mapping_candidates.json`` (per query and method, every candidate re-checked and its
outcome, whether or not one holds); ``mapping_<method>_<query>_<thr_avg>.json`` (each method's confirmed mapping);
``queries.csv`` (per query and method: the confirmed mapping's gain, robustness and mean drop with its bound on the
search split, the confirmation and the verification, and the search split's own best), ``points_<method>_<query>.json``
(every evaluated point), ``signal_<query>.png`` (Fig. 5), ``gains.png`` (Figs. 7-8), ``utilization_<query>.png``
(Fig. 6). Exit code 3 when, for some query, no mapping of ours holds on the held-out images (it says which).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tfaxdnn.cli import common

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from tfaxdnn.multipliers.reconfigurable import preset_names

    p = subparsers.add_parser("map", help="fine-grain mapping of a reconfigurable multiplier under STL queries",
                              description=__doc__.split("\n\n")[0].replace("``", "") +
                              " mapping.json is written only for a mapping that holds on held-out images; exit code "
                              "3 when, for some query, none does (candidates in mapping_candidates.json).")
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
    common.selection_args(p, sequential=False, fraction=0.5,
                          confirmation_help="share of the images that re-check each answer: with --val-data, of "
                                            "its images (the search gets the rest, all of --data's x_test verifies); "
                                            "without, of the x_test images the search does not see (the rest "
                                            "verifies; default 0.5; each part needs at least 100 images)")
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


def _confirmation_split(x, y, fraction, seed, images: str, rest: str, advice: str, confirmation_first=False):
    """``(rest, confirmation)``: `tfaxdnn.search.selection.confirmation_split` of ``images`` (their description),
    each part at least 100 images (one batch of the per-batch signal), else an error naming the parts and ``advice``."""
    from tfaxdnn.search.selection import confirmation_split

    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--confirmation-fraction must lie in (0, 1). Received: {fraction!r}")
    other, confirm = confirmation_split(x, y, fraction, seed)
    if min(len(other[0]), len(confirm[0])) < 100:
        parts = [f"{len(other[0])} {rest}", f"{len(confirm[0])} confirmation"]
        first, second = parts[::-1] if confirmation_first else parts
        raise ValueError(f"The {len(x)} {images} give {first} and {second} images; each part needs at least 100 (one "
                         f"batch of the per-batch signal): {advice}.")
    return other, confirm


def run(args) -> int:
    import dataclasses

    from tfaxdnn.plan import Plan
    from tfaxdnn.search import Evaluator, split_data
    from tfaxdnn.search.mapping import MappingProblem
    from tfaxdnn.search.mapping import report as rep
    from tfaxdnn.search.mapping.confirm import confirm_answer, held_out_check

    model = common.load_model(args.model)
    x_cal, (x_eval, y_test) = common.load_data(args, model)
    val = common.load_validation(args, model)
    with common.reported(ValueError, FileNotFoundError, KeyError, TypeError):
        queries = _queries(args)
        baselines = [] if args.baselines.strip().lower() == "none" else [
            b.strip() for b in args.baselines.split(",") if b.strip()]
        accelerator = common.accelerator(args.accelerator)
        if val is None:  # the search sees --validation-fraction of x_test, the rest confirms and verifies
            x_eval, y_test = _subset(x_eval, y_test, args.evaluation_samples, args.seed)
            (x_val, y_val), (x_hold, y_hold) = split_data(x_eval, y_test, args.validation_fraction, args.seed)
            verify, confirm = _confirmation_split(x_hold, y_hold, args.confirmation_fraction, args.seed,
                                                  "held-out images", "verification", "use more x_test images, a "
                                                  "smaller --validation-fraction, or another --confirmation-fraction",
                                                  confirmation_first=True)
        else:  # --val-data's x_test: the search's part and the confirmation slice; all of --data's x_test verifies
            (x_val, y_val), confirm = _confirmation_split(*val, args.confirmation_fraction, args.seed,
                                                          "images of --val-data", "search", "pass more validation "
                                                          "images or another --confirmation-fraction")
            (x_val, y_val), verify = _subset(x_val, y_val, args.evaluation_samples, args.seed), (x_eval, y_test)

        def evaluator(data, split):
            return Evaluator(model, data, x_cal, accelerator=accelerator, batch_size=args.batch_size,
                             calibration_samples=args.calibration_samples, seed=args.seed, split=split,
                             confidence=args.confidence, reference="exact")

        problem = MappingProblem(evaluator((x_val, y_val), "validation"), args.modes, confidence=args.confidence)
        held_out = MappingProblem(evaluator(confirm, "confirmation"), args.modes, confidence=args.confidence)
    os.makedirs(args.out, exist_ok=True)
    try:
        rows, results = rep.compare(problem, queries, budget=args.budget, seed=args.seed, baselines=baselines,
                                    protocol=args.protocol, progress=_progress_factory(args.quiet, args.budget))
        answers = [confirm_answer(r.run, r.query, held_out) for r in rows]
    except KeyboardInterrupt:
        return common.interrupted(f"the mapping search keeps no checkpoint, and {args.out} holds no results yet: "
                                  "rerun the command to start again", newline=not args.quiet)
    # Verification: reload each confirmed mapping from its JSON and monitor a fresh evaluation on the rest.
    fresh = MappingProblem(evaluator(verify, "test"), args.modes, confidence=args.confidence)
    main = os.path.join(args.out, "mapping.json")
    for stale in [main] + [os.path.join(args.out, f"mapping_{q.name}_{q.thr_avg}.json") for q in queries]:
        if os.path.exists(stale):   # an answer of an earlier run in this folder must not pass for this run's
            os.remove(stale)
    records, candidates, failed, confirmed_rows = [], [], [], []
    for r, (point, conf) in zip(rows, answers):
        best = r.point
        row = dataclasses.replace(r, point=point, robustness=None if point is None else point.robustness_for(r.query))
        confirmed_rows.append(row)
        rec = row.to_record()
        rec.update(search_best_gain=None if best is None else round(best.gain, 6), search_best_satisfied=r.satisfied,
                   confirmed=point is not None, fell_back=conf.fell_back, confirmation_images=conf.n)
        tag = f"{r.query.name}_{r.query.thr_avg}"
        if point is not None:
            path = os.path.join(args.out, f"mapping_{r.method}_{tag}.json")
            problem.plan(point.fractions).to_json(path)
            if r.method == "ours":
                problem.plan(point.fractions).to_json(os.path.join(args.out, f"mapping_{tag}.json"))
                if r.query is queries[0]:
                    problem.plan(point.fractions).to_json(main)
            held = conf.tried[conf.index]
            rec.update(confirm_robustness=round(held["robustness"], 4), confirm_mean_drop=round(held["mean_drop"], 4))
            check = held_out_check(fresh, r.query, dataclasses.replace(
                point, fractions={n: lp.mode_fractions for n, lp in Plan.from_json(path).layers.items()}))
            rec.update(verify_robustness=round(check["robustness"], 4), verify_accuracy=check["accuracy"],
                       verify_mean_drop=round(check["mean_drop"], 4), verify_satisfied=check["holds"])
        elif r.method == "ours":
            why = (f"none of the {len(conf.tried)} candidate(s) re-checked holds on the {conf.n} held-out images"
                   if conf.tried else f"no mapping satisfies it on the {len(x_val)} search images"
                   + (f" (its mean-drop term on the {args.confidence:.0%} upper bound)" if args.confidence else ""))
            failed.append(f"{r.query.name} (thr_avg {r.query.thr_avg:g} %): {why}")
        candidates.append({"query": r.query.to_dict(), "method": r.method, "confirmed": point is not None,
                           "search_split_satisfying": len(r.run.ranked_for(r.query)), **conf.to_dict(),
                           "plans": [problem.plan(p.fractions).to_dict()["layers"]
                                     for p in r.run.ranked_for(r.query)[:len(conf.tried)]]})
        records.append(rec)
    with open(os.path.join(args.out, "mapping_candidates.json"), "w") as f:
        json.dump({"rule": "a mapping is an answer only if its query also holds on the held-out confirmation images",
                   "confirmation_images": len(confirm[0]), "candidates": candidates}, f, indent=1, default=float)
    rep.write_csv(records, os.path.join(args.out, "queries.csv"))
    for (method, qname, level), res in results.items():
        res.save(os.path.join(args.out, f"points_{method}_{qname}_{level}.json"))
    for r, (point, _) in zip(rows, answers):
        if r.method != "ours":
            continue
        tag = f"{r.query.name}_{r.query.thr_avg}"
        shown = [r.run.points[0], r.run.points[len(r.run.points) // 2]] + ([point] if point is not None else [])
        rep.plot_signal(shown, r.query, os.path.join(args.out, f"signal_{tag}.png"),
                        titles=["first evaluation", "mid-search"] + (["confirmed answer"] if point else []))
        if point is not None:
            rep.plot_utilization(point, os.path.join(args.out, f"utilization_{tag}.png"))
    rep.plot_gains(confirmed_rows, os.path.join(args.out, "gains.png"))
    summary = {"model": args.model, "data": args.data, "multiplier": problem.multiplier.describe(),
               "budget": args.budget, "seed": args.seed, "protocol": args.protocol, "confidence": args.confidence,
               "search_images": len(x_val), "confirmation_images": len(confirm[0]), "verify_images": len(verify[0]),
               "confirmation_from": "validation" if val is not None else "x_test",
               "exact_accuracy_search": problem.exact.accuracy, "exact_accuracy_verify": fresh.exact.accuracy,
               "answer_written": os.path.exists(main), "queries_without_answer": failed,
               **({"val_data": args.val_data} if args.val_data else {}), "rows": records}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=float)
    if not args.quiet:
        for rec in records:
            print(f"{rec['query']:>4} thr_avg={rec['thr_avg']} {rec['method']:<12} confirmed={rec['confirmed']!s:<5} "
                  f"gain={100 * rec['gain']:5.1f}%  robustness={rec['robustness']}  "
                  f"confirm={rec.get('confirm_robustness')}  verify={rec.get('verify_robustness')}")
    if failed:
        print(f"tfaxdnn map: no mapping holds for {'; '.join(failed)}"
              + ("" if os.path.exists(main) else "; no mapping.json written")
              + f"; the candidates are in {os.path.join(args.out, 'mapping_candidates.json')}", file=sys.stderr)
        return 3
    return 0
