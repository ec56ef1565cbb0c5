"""The files of an XAI-NAS run: ``evaluations.csv`` (every generation), ``pareto.json`` and ``explanations.png``
(at the end). The figures of the search itself are in `tfaxdnn.search.nas.plots`."""

from __future__ import annotations

import csv
import json
import os
import warnings
from typing import Optional, Sequence

from tfaxdnn import multipliers as _mult
from tfaxdnn.core.serialization import json_default
from tfaxdnn.ops import backend
from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.result import NASResult

__all__ = ["write_evaluations_csv", "write_pareto_json", "save_explanations"]

_SPLIT_NAMED = {"accuracy": "accuracy_validation", "robust_accuracy": "robust_accuracy_validation",
                "transfer_accuracy": "transfer_accuracy_validation"}


def write_evaluations_csv(out_dir: str, records: Sequence[dict]) -> None:
    """``out_dir/evaluations.csv``: one row per record (columns: every field seen; accuracies named with their split),
    replaced atomically."""
    path = os.path.join(out_dir, "evaluations.csv")
    fields = list(dict.fromkeys(k for r in records for k in r))
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([_SPLIT_NAMED.get(k, k) for k in fields])
        for r in records:
            w.writerow([r.get(k, "") for k in fields])
    os.replace(path + ".tmp", path)


def write_pareto_json(result: NASResult, space: GenomeSpace, state: dict, validation_size: int, test_size: int,
                      runner_description: str, fingerprint: str) -> None:
    """``result.out_dir/pareto.json``: versions, settings, genome space, multipliers (hash, MAE, power), splits,
    baselines, floor, seeding, hypervolume per generation, counters, runner, wall time, fingerprint and the front
    (``state``: the search's checkpoint state)."""
    import tfaxdnn

    cfg = result.config
    seeding = state.get("seeding", {"evaluations": 0, "time_s": 0.0, "runs": []})
    meta = {"tfaxdnn_version": tfaxdnn.__version__, "mode": cfg.mode, "seed": cfg.seed,
            "settings": cfg.to_dict(), "genome_space": space.to_dict(),
            "multipliers": {n: {"hash": _mult.get(n).hash, "mae_percent": _mult.get(n).mae_percent,
                                "power_mw": _mult.get(n).power_mw} for n in space.multipliers},
            "splits": {"validation": int(validation_size), "test": int(test_size),
                       "confirmation": int(result.selection.get("confirmation_images", 0)),
                       "selection": "validation", "front_reported_on": ["validation", "confirmation", "test"]},
            "selection": result.selection, "answer": result.answer,
            "baseline_accuracy": result.baseline_accuracy, "accuracy_floor_validation": result.accuracy_floor,
            "energy_accounting": cfg.energy_accounting, "seeding": seeding,
            "hypervolume": {"reference_point": list(result.reference_point),
                            "objectives": ["error", f"relative_energy ({cfg.energy_accounting})"],
                            "per_generation": result.hypervolume},
            "evaluations": len(result.records), "candidates": state["candidates"],
            "cache_hits": state["cache_hits"], "runner": runner_description, "computed_by": backend.device(),
            "wall_time_s": state["elapsed_s"], "fingerprint": fingerprint}
    with open(os.path.join(result.out_dir, "pareto.json"), "w") as f:
        json.dump({**meta, "front": result.front}, f, indent=2, default=json_default)


def save_explanations(answer: Optional[dict], build, model, x_test, y_test, out_dir: str, n_images: int,
                      seed: int) -> None:
    """``explanations.png/.json``: float vs approximate attribution maps of the search's ``answer`` (the
    lowest-energy front plan that passed the confirmation re-check; ``n_images`` test images, seeded); nothing when
    the answer is the exact plan or ``n_images`` is 0. ``build(plan)`` gives the approximate model."""
    if not n_images or answer is None or answer.get("genome") is None:
        return
    if backend.name() != "tensorflow":     # tf-explain's maps need TensorFlow models (e.g. a JAX-only GPU machine)
        warnings.warn(f"explanations.png is not written: its attribution maps (tf-explain) need Keras's TensorFlow "
                      f"backend, and this runs on {backend.name()!r}; pass explain_images=0 to silence this.",
                      UserWarning, stacklevel=2)
        return
    from tfaxdnn.plan import Plan
    from tfaxdnn.xai.explanations.plots import explanation_figure

    explanation_figure(model, build(Plan.from_dict(answer["plan"])), x_test, y_test,
                       os.path.join(out_dir, "explanations.png"), n_images=n_images, seed=seed,
                       title=f"XAI-NAS: float vs its answer ({answer['relative_energy']:.3f} x exact energy), test "
                             "images")
