"""What every search's settings share (`SearchConfig`): the candidate multipliers, the accuracy budget and how it is
enforced (the confidence of the paired drop bound, sequential rejection, the confirmation slice), the energy the
search minimises, how approximated layers map their weights, the sample sizes of conductance and calibration, and the
seed. `XAIGenConfig` and `NASConfig` extend it with their own settings."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from tfaxdnn import multipliers as _mult
from tfaxdnn.hardware.report import ACCOUNTINGS
from tfaxdnn.plan import WEIGHT_MAPPINGS
from tfaxdnn.search.statistics import DEFAULT_CONFIDENCE, check_confidence

__all__ = ["SearchConfig"]


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Settings shared by the searches.

    Args:
        multipliers: candidate multiplier names (or `Multiplier` objects, registered on the way).
        skip_step: skip fractions are multiples of this.
        max_accuracy_drop: constraint, fraction of the float model's validation accuracy (0.02 = 2 points): the
            upper ``confidence`` bound of a candidate's paired drop against the float model on the same validation
            images must not exceed it (`tfaxdnn.search.statistics`).
        confidence: one-sided confidence of that bound (default 0.95); None: the point estimate (the rule of
            searches before the paired bound; checkpoints of that time resume with it).
        sequential: score candidates slice by slice and stop once one provably breaks the constraint (sequential
            rejection); False: every candidate is scored on every validation image.
        confirmation_fraction: share of the validation images held out of the search as its confirmation slice: the
            answer is re-checked there before it is returned (`tfaxdnn.search.confirmation`; 0: no re-check).
        weight_mapping: ``"uniform"`` (ALWANN), ``"data"`` or ``"none"`` for every approximated layer.
        energy_accounting: ``"system"``, ``"compute"`` or ``"multiplier"``: the energy the search minimises.
        importance_samples, n_steps: conductance sample count and integration steps.
        calibration_samples: activation-range images (None: all given).
        seed: seeds every sampling step of the search.
    """

    multipliers: Sequence[str] = _mult.PAPER_MULTIPLIERS
    skip_step: float = 0.05
    max_accuracy_drop: float = 0.02
    weight_mapping: str = "uniform"
    energy_accounting: str = "system"
    importance_samples: int = 200
    n_steps: int = 20
    calibration_samples: Optional[int] = 500
    seed: int = 0
    confidence: Optional[float] = DEFAULT_CONFIDENCE
    sequential: bool = True
    confirmation_fraction: float = 0.25

    def __post_init__(self):
        object.__setattr__(self, "confidence", check_confidence(self.confidence))
        if not 0.0 <= self.confirmation_fraction < 1.0:
            raise ValueError(f"`confirmation_fraction` must lie in [0, 1). Received: "
                             f"confirmation_fraction={self.confirmation_fraction!r}")
        if not 1e-9 <= self.skip_step <= 1.0:
            raise ValueError(f"`skip_step` must be in [1e-09, 1.0]. Received: skip_step={self.skip_step!r}")
        if not 0.0 <= self.max_accuracy_drop <= 1.0:
            raise ValueError(f"`max_accuracy_drop` must be in [0.0, 1.0]. Received: "
                             f"max_accuracy_drop={self.max_accuracy_drop!r}")
        if self.weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`weight_mapping` must be 'none', 'uniform' or 'data'. Received: {self.weight_mapping!r}")
        if self.energy_accounting not in ACCOUNTINGS:
            raise ValueError(f"`energy_accounting` must be one of {list(ACCOUNTINGS)}. Received: "
                             f"{self.energy_accounting!r}")
        if int(self.importance_samples) < 1 or int(self.n_steps) < 1:
            raise ValueError(f"`importance_samples` and `n_steps` must be >= 1. Received: {self.importance_samples!r}, "
                             f"{self.n_steps!r}")
        if self.calibration_samples is not None and int(self.calibration_samples) < 1:
            raise ValueError(f"`calibration_samples` must be >= 1 or None. Received: {self.calibration_samples!r}")

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @property
    def rejection_limit(self) -> Optional[float]:
        """The drop limit of sequential rejection (None when it is off)."""
        return self.max_accuracy_drop if self.sequential else None
