"""`Metrics`: what one plan scores on one split (accuracy with its per-image correctness and its paired drop against
the evaluator's reference, energy, latency, memory, per-layer report), and whether scoring stopped early because the
plan provably breaks the search's constraint (sequential rejection, `tfaxdnn.search.statistics`)."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import numpy as np

from tfaxdnn.search.statistics import TOLERANCE, PairedDrop

__all__ = ["Metrics"]


@dataclasses.dataclass
class Metrics:
    """What one plan scores on one split.

    Attributes:
        accuracy: top-1 accuracy on the evaluator's split (``split`` says which). For a ``rejected`` plan: the
            highest accuracy it could still have reached on the split (the images scored, every image left counted
            right), an upper bound, never an estimate.
        energy_j, relative_energy: hardware energy per batch and its ratio to the all-exact 8-bit plan (system
            accounting of `tfaxdnn.hardware.estimate`).
        latency_s, memory_bytes: from the same report.
        per_layer: one dict per approximable layer (the hardware report's rows).
        batch_accuracies: accuracy of consecutive batches of `SIGNAL_BATCH` images (none for a rejected plan).
        split: name of the evaluation split; n: images in it.
        reductions: ``{accounting: x lower than all-exact}`` for ``"system"``, ``"compute"`` and ``"multiplier"``
            (`HardwareReport.reduction`).
        correct: per-image correctness of all ``n`` images, in the split's order; for a rejected plan, of the images
            scored, in the order scored (`tfaxdnn.search.scoring`).
        drop: the paired drop against the evaluator's reference on the same images, with its upper bound
            (`PairedDrop`; None for a rejected plan, which was not scored on every image).
        rejected: scoring stopped early: no completion could meet the drop limit it was scored under.
        n_scored: images scored; rejected_bound: for a rejected plan, the lowest drop bound it could still have
            reached (a lower bound of its bound; above the limit).
        inference_s, saved_s: seconds of inference, and the estimated seconds sequential rejection saved.
    """

    accuracy: float
    energy_j: float
    relative_energy: float
    latency_s: float
    memory_bytes: int
    per_layer: List[dict]
    batch_accuracies: np.ndarray
    split: str
    n: int
    reductions: Dict[str, float] = dataclasses.field(default_factory=dict)
    correct: Optional[np.ndarray] = None
    drop: Optional[PairedDrop] = None
    rejected: bool = False
    n_scored: Optional[int] = None
    rejected_bound: Optional[float] = None
    inference_s: float = 0.0
    saved_s: float = 0.0

    def __post_init__(self):
        if self.n_scored is None:
            self.n_scored = self.n

    @property
    def energy_reduction(self) -> float:
        """All-exact energy / this plan's energy (x lower)."""
        return 1.0 / self.relative_energy if self.relative_energy else float("inf")

    @property
    def drop_upper(self) -> float:
        """The upper bound of the paired drop; for a rejected plan, the lowest bound it could still have reached."""
        if self.rejected:
            return float(self.rejected_bound)
        if self.drop is None:
            raise ValueError("These metrics carry no paired drop (the evaluator had no reference).")
        return self.drop.upper

    def meets(self, max_drop: float) -> bool:
        """Whether the plan meets the constraint ``upper bound of the paired drop <= max_drop`` (a rejected plan
        never does)."""
        return not self.rejected and self.drop_upper <= float(max_drop) + TOLERANCE

    def selection(self) -> dict:
        """The paired-drop record of this split: drop, bound, confidence, images, rejection."""
        out = {"split": self.split, "n": self.n, "n_scored": self.n_scored, "rejected": self.rejected}
        if self.rejected:
            out.update(drop=None, upper=self.rejected_bound)
        elif self.drop is not None:
            out.update({k: v for k, v in self.drop.to_dict().items() if k != "n"})
        return out

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("correct", "drop")}
        d["per_layer"] = [dict(r) for r in self.per_layer]
        d["batch_accuracies"] = [float(v) for v in self.batch_accuracies]
        d["energy_reduction"] = self.energy_reduction
        d["selection"] = self.selection()
        return d
