"""What one XAI-NAS run found (`NASResult`) and its summary for a comparison of runs (`comparison_summary`)."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

from tfaxdnn.search.nas.config import NASConfig
from tfaxdnn.search.nas.fronts import meets_floor

__all__ = ["NASResult", "comparison_summary", "rejection_summary"]


def rejection_summary(records: List[dict]) -> dict:
    """What sequential rejection saved over a search's evaluation records: candidates, rejected ones, images they
    had and images scored, inference seconds spent and (estimated) saved."""
    rows = [r for r in records if "images" in r]
    out = {"candidates": len(rows), "rejected": sum(bool(r.get("rejected")) for r in rows),
           "images": sum(int(r["images"]) for r in rows), "images_scored": sum(int(r["images_scored"]) for r in rows),
           "inference_s": sum(float(r.get("inference_s", 0.0)) for r in rows),
           "saved_s": sum(float(r.get("saved_s", 0.0)) for r in rows)}
    out["images_saved_fraction"] = 1.0 - out["images_scored"] / out["images"] if out["images"] else 0.0
    return out


@dataclasses.dataclass
class NASResult:
    """What `run_xainas` found (also written to ``out_dir``)."""

    config: NASConfig
    records: List[dict]               # every unique evaluation (validation split), in evaluation order
    front: List[dict]                 # Pareto set: plan, genome, metrics on validation and test
    hypervolume: List[float]          # per generation, (error, relative energy) plane, reference `reference_point`
    reference_point: tuple
    baseline_accuracy: Dict[str, float]   # float model, by split
    accuracy_floor: float             # constraint on validation accuracy
    out_dir: str
    wall_time_s: float
    candidates: int                   # candidates proposed (incl. cache hits)
    seeding: dict = dataclasses.field(default_factory=dict)   # XAI-Gen seeding runs: evaluations, time_s, runs
    # the lowest-energy front member that passed the confirmation re-check (else the exact plan), with its drops:
    # validation estimate and bound, confirmation, realised test drop (`holdout.answer_of`)
    answer: Optional[dict] = None
    selection: dict = dataclasses.field(default_factory=dict)  # the rule, confidence, confirmation size, rejection

    @property
    def total_evaluations(self) -> int:
        """Unique evaluations of the search plus those of its XAI-Gen seeding runs (the budget both modes share)."""
        return len(self.records) + int(self.seeding.get("evaluations", 0))

    def best_energy(self, max_drop: float, split: str = "validation") -> Optional[dict]:
        """The front member of lowest relative energy with ≤ ``max_drop`` accuracy loss on ``split``."""
        floor = self.baseline_accuracy[split] - max_drop
        ok = [f for f in self.front if meets_floor(f["accuracy"][split], floor)]
        return min(ok, key=lambda f: f["relative_energy"]) if ok else None


def comparison_summary(r: NASResult) -> dict:
    """Hypervolume, budget, wall time and the best front member within 1 and 2 points (validation, test) of one
    search, with its energy reduction under every accounting."""
    out = {"hypervolume": r.hypervolume[-1] if r.hypervolume else 0.0, "reference_point": list(r.reference_point),
           "energy_accounting": r.config.energy_accounting, "evaluations": len(r.records),
           "seeding_evaluations": int(r.seeding.get("evaluations", 0)), "total_evaluations": r.total_evaluations,
           "candidates": r.candidates, "wall_time_s": r.wall_time_s,
           "seeding_time_s": float(r.seeding.get("time_s", 0.0)), "front_size": len(r.front),
           "baseline_accuracy": r.baseline_accuracy, "selection": r.selection}
    if r.answer is not None:
        a = r.answer
        out["answer"] = {"source": a["source"], "genome": a["genome"], "energy_reduction": a["energy_reduction"],
                         **{k: a["accuracy_drop"].get(k) for k in ("estimated_drop", "estimated_upper",
                                                                   "realised_drop", "kept_promise")},
                         "confirmed": (a["accuracy_drop"].get("confirmation_check") or {}).get("passed")}
    for drop in (0.01, 0.02):
        for split in ("validation", "test"):
            best = r.best_energy(drop, split)
            tag = f"{split}_{int(round(drop * 100))}pt"
            out[f"best_energy_reduction_{tag}"] = 1.0 / best["relative_energy"] if best else None
            out[f"best_{tag}"] = None if best is None else {
                "energy_reduction": best.get("energy_reduction"), "accuracy": best["accuracy"],
                "genome": best["genome"], "source": best["source"], "generation": best["generation"]}
    return out
