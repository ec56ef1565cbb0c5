"""Checks a search run elsewhere (e.g. on a GPU through Keras's JAX backend) from `examples/search_pack.py`'s pack,
here with TensorFlow and the LUT op.

    python benchmarks/check_search_pack.py --run OUT --pretrained resnet8_cifar10 --pack DIR/pack.npz \
        [--data cifar10.npz] [--against CPU_OUT] [--json check.json]

- ``--against``: a run of the same command here; every search (``xainas``, ``alwann``) must have evaluated the same
  candidates in the same order with the same validation accuracy, drop bound, rejection and energy (the columns of
  ``evaluations.csv`` that do not measure time or name a process), and reached the same answer.
- Each search's answer (``pareto.json``) is re-scored here on **all** test images of the dataset (the pack carries a
  subset) against the float model: the realised drop that the run could only estimate on its subset. Nothing here
  chooses anything: the answers are the runs' own.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

#: columns of evaluations.csv that time the run or name its process (they may differ between machines)
TIMING = {"inference_s", "saved_s", "wall_time_s", "worker_pid"}


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def same_trajectory(run: str, other: str, mode: str) -> dict:
    """Whether ``mode``'s evaluations and answer are identical in both runs (timing columns aside)."""
    a, b = (read_csv(os.path.join(d, mode, "evaluations.csv")) for d in (run, other))
    differing = [i for i, (ra, rb) in enumerate(zip(a, b))
                 if {k: v for k, v in ra.items() if k not in TIMING} != {k: v for k, v in rb.items() if k not in TIMING}]
    answers = [json.load(open(os.path.join(d, mode, "pareto.json")))["answer"] for d in (run, other)]
    return {"evaluations": [len(a), len(b)], "differing_rows": differing[:20], "n_differing": len(differing),
            "same_answer": answers[0].get("genome") == answers[1].get("genome"),
            "identical": len(a) == len(b) and not differing and answers[0].get("genome") == answers[1].get("genome")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="the output folder of the run to check")
    p.add_argument("--pretrained", required=True)
    p.add_argument("--pack", required=True, help="the run's pack.npz (its training images calibrate)")
    p.add_argument("--data", default=None, help="the dataset npz (default: a found copy)")
    p.add_argument("--against", default=None, help="the same command's output folder from here")
    p.add_argument("--json", default=None, help="write the findings here (default: RUN/check.json)")
    args = p.parse_args(argv)
    import tfaxdnn
    from tfaxdnn.data import prepare_images
    from tfaxdnn.models import card_split, pretrained
    from tfaxdnn.ops import backend
    from tfaxdnn.plan import Plan
    from tfaxdnn.search import Evaluator
    from tfaxdnn.search.xaigen.importance import Importance

    model = pretrained(args.pretrained)
    card, src, _, (xte, yte), _, _ = card_split(args.pretrained, args.data)
    x_test = prepare_images(xte, model.input_shape)
    with np.load(args.pack) as f:
        if json.loads(str(f["meta"]))["split_hash"] != card["split"]["hash"]:
            raise SystemExit(f"error: {args.pack} is not a pack of {args.pretrained}'s split (--pack)")
        x_fit = prepare_images(f["x_fit"], model.input_shape)
    report = {"tfaxdnn_version": tfaxdnn.__version__, "checked_by": backend.device(), "run": args.run,
              "test_images": len(xte), "source": str(src), "searches": {}}
    ok = True
    for mode in ("xainas", "alwann"):
        path = os.path.join(args.run, mode, "pareto.json")
        if not os.path.exists(path):
            continue
        meta = json.load(open(path))
        rec = {"computed_by": meta.get("computed_by"), "wall_time_s": meta["wall_time_s"],
               "evaluations": meta["evaluations"], "candidates": meta["candidates"],
               "hypervolume": meta["hypervolume"]["per_generation"][-1]}
        answer = meta["answer"]
        if answer.get("plan") is not None:
            # calibration: the run's images (the pack's x_fit) and settings, so the same activation ranges
            settings = meta["settings"]
            # a plan that skips needs the run's neuron conductance (XAI-NAS keeps it beside its pareto.json)
            saved = os.path.join(args.run, mode, "importance.npz")
            importance = Importance.load(saved).neurons if os.path.exists(saved) else None
            ev = Evaluator(model, (x_test, yte), x_fit, importance=importance,
                           calibration_samples=settings["calibration_samples"], seed=settings["seed"], split="test",
                           confidence=settings.get("confidence"))
            m = ev(Plan.from_dict(answer["plan"]))
            drop = ev.baseline().accuracy - m.accuracy
            promised = answer["accuracy_drop"]["estimated_upper"] if "accuracy_drop" in answer else None
            rec["answer"] = {"genome": answer.get("genome"), "energy_reduction": answer.get("energy_reduction"),
                             "test_accuracy_all": m.accuracy, "float_test_accuracy_all": ev.baseline().accuracy,
                             "realised_drop_all": drop, "budget": settings["max_accuracy_drop"],
                             "within_budget": bool(drop <= settings["max_accuracy_drop"]),
                             "run_reported": answer.get("accuracy_drop", {}).get("realised_drop"),
                             "validation_upper": promised}
        if args.against and os.path.exists(os.path.join(args.against, mode, "evaluations.csv")):
            rec["same_as_here"] = same_trajectory(args.run, args.against, mode)
            ok &= rec["same_as_here"]["identical"]
        elif args.against:
            rec["same_as_here"] = f"not run in {args.against}"
        report["searches"][mode] = rec
        print(f"{mode}: {json.dumps(rec, default=float)}")
    out = args.json or os.path.join(args.run, "check.json")
    with open(out, "w") as f:
        json.dump(report, f, indent=1, default=float)
    print(f"-> {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
