"""`XAIGenConfig`: the settings of one XAI-Gen run (names follow the paper's Algorithm 1), validated on creation.

It extends `tfaxdnn.search.config.SearchConfig` (multipliers, accuracy budget, weight mapping, energy accounting,
sample sizes, seed) with the thresholds of Algorithm 1 and the options beyond the paper (see
`tfaxdnn.search.xaigen.algorithm`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional

from tfaxdnn import multipliers as _mult
from tfaxdnn.hardware.report import ACCOUNTINGS as _ACCOUNTING_FIELDS
from tfaxdnn.search.config import SearchConfig
from tfaxdnn.search.xaigen.importance import NORMALIZATIONS

__all__ = ["XAIGenConfig", "SELECTIONS", "ACCOUNTINGS", "energy_fields"]

#: Layer selection rules: the paper's conductance ranking, or measured per-layer accuracy drops.
SELECTIONS = ("conductance", "sensitivity")
#: Energy accountings the search can minimise and reports (`tfaxdnn.hardware.ACCOUNTINGS`, in its order).
ACCOUNTINGS = tuple(_ACCOUNTING_FIELDS)


def energy_fields(reductions: Mapping[str, float]) -> dict:
    """``{"energy_reduction_<accounting>": x}`` for every accounting (the columns of logs, rows and results)."""
    return {f"energy_reduction_{a}": reductions.get(a) for a in ACCOUNTINGS}


@dataclasses.dataclass(frozen=True)
class XAIGenConfig(SearchConfig):
    """Settings of `run_xaigen` (names follow Algorithm 1).

    Args:
        multipliers: signed multiplier names, any order (sorted by MAE, exact first; default the paper's seven).
        t_c: initial conductance threshold (normalised importance units, 0 < t_c).
        delta: threshold step δ after each committed layer.
        t_p: skipping threshold; the least important layer skips up to ``t_p`` of its neurons.
        skip_step: skip fractions are rounded down to multiples of this.
        max_accuracy_drop: ``Q_c`` = baseline accuracy − this (fraction, 0.02 = 2 points).
        energy_budget: ``E_c``, largest acceptable energy relative to the all-exact model (1.0: no constraint).
        weight_mapping: ``"uniform"`` (ALWANN), ``"data"`` or ``"none"`` for every approximated layer.
        on_violation: ``"backoff"`` or ``"stop"`` (see `tfaxdnn.search.xaigen.algorithm`).
        refine_passes: greedy passes after Algorithm 1 (0: the paper's algorithm only; see step 5 there).
        normalization: ``"minmax"`` or ``"max"`` (see `Importance.normalized`).
        importance_samples, n_steps: conductance sample count and integration steps.
        calibration_samples, evaluation_samples: sizes taken from the given data (None: all).
        validation_fraction: share of the evaluation data the search selects on (the rest reports the result).
        seed: sampling seed.
        selection: ``"conductance"`` (the paper) or ``"sensitivity"`` (measured per-layer accuracy drops).
        energy_accounting: ``"system"``, ``"compute"`` or ``"multiplier"``: the energy the search minimises.
        refine: ``"first"`` or ``"best"`` (see `tfaxdnn.search.xaigen.refine`).
        uniform_candidates: also score every layer on one multiplier (each multiplier, no skipping) after
            Algorithm 1; the one saving the most energy among those meeting ``Q_c`` replaces Algorithm 1's result
            if it saves more, and refinement starts from it (step 5b of `tfaxdnn.search.xaigen.algorithm`).
        finetune_epochs: epochs of straight-through fine-tuning after the plan is fixed (0: none, the paper).
        finetune_learning_rate, finetune_batch_size: Adam (cosine-decayed) settings of the fine-tuning.
        search_accuracy_drop: accuracy drop the plan search may use when fine-tuning follows (None:
            ``max_accuracy_drop``); the fine-tuned model must still meet ``Q_c``.
    """

    t_c: float = 1.0
    delta: float = 0.05
    t_p: float = 0.5
    energy_budget: float = 1.0
    on_violation: str = "backoff"
    refine_passes: int = 2
    normalization: str = "minmax"
    evaluation_samples: Optional[int] = None
    validation_fraction: float = 0.5
    selection: str = "conductance"
    refine: str = "first"
    uniform_candidates: bool = True
    finetune_epochs: int = 0
    finetune_learning_rate: float = 1e-3
    finetune_batch_size: int = 64
    search_accuracy_drop: Optional[float] = None

    def __post_init__(self):
        super().__post_init__()
        names = list(self.multipliers)
        if len(names) < 2:
            raise ValueError(f"`multipliers` needs at least two entries (exact + approximate). Received: {names}")
        ms = [_mult.lookup(n) for n in names]  # names or Multiplier objects (user circuits are registered)
        if not all(m.signed for m in ms):
            raise ValueError(f"XAI-Gen uses signed (int8) multipliers. Received unsigned: "
                             f"{[m.name for m in ms if not m.signed]}")
        ordered = tuple(m.name for m in sorted(ms, key=lambda m: (m.mae_percent, m.name)))
        object.__setattr__(self, "multipliers", ordered)
        if int(self.refine_passes) < 0:
            raise ValueError(f"`refine_passes` must be >= 0. Received: {self.refine_passes!r}")
        for field, lo, hi in (("t_c", 1e-9, math.inf), ("delta", 0.0, math.inf), ("t_p", 0.0, 1.0),
                              ("validation_fraction", 1e-9, 1.0 - 1e-9),
                              ("energy_budget", 0.0, math.inf)):
            v = getattr(self, field)
            if not lo <= v <= hi:
                raise ValueError(f"`{field}` must be in [{lo}, {hi}]. Received: {field}={v!r}")
        if self.on_violation not in ("backoff", "stop"):
            raise ValueError(f"`on_violation` must be 'backoff' or 'stop'. Received: {self.on_violation!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"`normalization` must be 'minmax' or 'max'. Received: {self.normalization!r}")
        for field, allowed in (("selection", SELECTIONS), ("refine", ("first", "best"))):
            if getattr(self, field) not in allowed:
                raise ValueError(f"`{field}` must be one of {allowed}. Received: {field}={getattr(self, field)!r}")
        if int(self.finetune_epochs) < 0 or self.finetune_learning_rate <= 0 or self.finetune_batch_size < 1:
            raise ValueError(f"Fine-tuning needs finetune_epochs >= 0, finetune_learning_rate > 0 and "
                             f"finetune_batch_size >= 1. Received: {self.finetune_epochs!r}, "
                             f"{self.finetune_learning_rate!r}, {self.finetune_batch_size!r}")
        if self.search_accuracy_drop is not None and not self.max_accuracy_drop <= self.search_accuracy_drop <= 1:
            raise ValueError(f"`search_accuracy_drop` must lie in [max_accuracy_drop, 1]. Received: "
                             f"search_accuracy_drop={self.search_accuracy_drop!r}, "
                             f"max_accuracy_drop={self.max_accuracy_drop!r}")
