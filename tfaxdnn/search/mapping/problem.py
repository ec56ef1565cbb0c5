"""What a mapping run works on and what it produces: the problem (evaluator, reconfigurable multiplier, weight codes,
exact 8-bit reference signal), one evaluated mapping (`MappingPoint`) and a method's run (`MappingResult`).

Every evaluated point keeps its fractions, gain, robustness, utilisation per mode and layer, its drop signal and the
upper confidence bound of its mean drop, so any other query can be checked on it afterwards (`MappingResult.best_for`).

The mean-drop term of a query is checked on that bound (``confidence``, default 0.95): the paired drop against the
exact 8-bit model over the images of the signal's batches (`tfaxdnn.search.statistics`), in percentage points.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.plan import Plan
from tfaxdnn.search.evaluator import SIGNAL_BATCH
from tfaxdnn.search.mapping.queries import Query, drop_signal
from tfaxdnn.search.selection import check_resolution, check_signal_batches
from tfaxdnn.search.statistics import DEFAULT_CONFIDENCE, check_confidence, paired_drop

__all__ = ["MappingProblem", "MappingPoint", "MappingResult"]

#: Mode fractions are rounded to this many digits: two proposals with the same rounded fractions are one mapping.
_DIGITS = 4


@dataclasses.dataclass
class MappingPoint:
    """One evaluated mapping.

    Attributes:
        index: evaluation number (0-based) within its run; method: ``"ours"``, ``"homogeneous"``, ``"greedy"``.
        fractions: ``{layer: (v1, v2, ...)}`` requested; achieved utilisation is in ``layer_utilization``.
        gain, gain_multiplier: energy saving vs all-M0 at MAC level / multiplier only (fractions of 1).
        robustness: query robustness (>= 0 satisfied); accuracy: top-1 on the evaluator's split.
        utilization: fraction of all multiplications per mode; layer_utilization: ``{layer: [per mode]}``.
        drop: per-batch accuracy drop (percentage points) against the exact 8-bit model.
        drop_upper: upper confidence bound of the mean drop (percentage points; None: the search used the mean).
    """

    index: int
    method: str
    fractions: Dict[str, tuple]
    gain: float
    gain_multiplier: float
    robustness: float
    accuracy: float
    utilization: List[float]
    layer_utilization: Dict[str, List[float]]
    drop: np.ndarray
    drop_upper: Optional[float] = None

    def robustness_for(self, query) -> float:
        """Robustness of ``query`` on this point's signal (with its mean-drop bound, as the search monitored it)."""
        return query.robustness(self.drop, self.drop_upper)

    @property
    def satisfied(self) -> bool:
        return self.robustness >= 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["fractions"] = {k: list(v) for k, v in self.fractions.items()}
        d["drop"] = [float(v) for v in self.drop]
        return d


class MappingProblem:
    """What every mapping method shares: the evaluator, the reconfigurable multiplier, weight codes and the exact
    8-bit reference signal.

    Args:
        evaluator: `tfaxdnn.search.Evaluator` (its data give the per-batch signal: at least one batch of 100).
        multiplier: a `Reconfigurable` or its name (default preset ``"recon_evo"``).
        layers: layers to search (default: every approximable layer); the others stay in M0, so every mapping is
            an 8-bit model like the exact reference.
        confidence: of the mean drop's upper bound that the queries' mean-drop term is checked on (None: the mean).
    """

    def __init__(self, evaluator, multiplier="recon_evo", layers: Optional[Sequence[str]] = None,
                 confidence: Optional[float] = DEFAULT_CONFIDENCE):
        from tfaxdnn import hardware
        from tfaxdnn.layers import weight_codes

        if evaluator.reference != "exact":   # the drops are against the exact 8-bit model (no float baseline needed)
            evaluator = evaluator.with_data((evaluator.x, evaluator.y), evaluator.split, reference="exact")
        self.ev = evaluator
        self.multiplier = _mult.lookup(multiplier)
        if not isinstance(self.multiplier, _mult.Reconfigurable):
            raise ValueError(f"Fine-grain mapping needs a reconfigurable multiplier; {self.multiplier.name!r} has one "
                             f"mode. Valid choices: {sorted(_mult.RECONFIGURABLE_PRESETS)} or a Reconfigurable.")
        self.layers = list(layers) if layers is not None else list(evaluator.layers)
        unknown = [n for n in self.layers if n not in evaluator.layers]
        if unknown:
            raise ValueError(f"Layers {unknown} are not approximable layers of the model: {evaluator.layers}")
        self.confidence = check_confidence(confidence)
        self.shapes = hardware.model_shapes(evaluator.model)
        self.codes = weight_codes(evaluator.build(self.plan({})))
        self.exact = evaluator.exact()
        if len(self.exact.batch_accuracies) == 0:
            raise ValueError(f"The evaluator holds {self.exact.n} images: the per-batch signal needs at least one "
                             "full batch of 100.")
        self._checked: set = set()

    def check_query(self, query) -> None:
        """Warns (`tfaxdnn.search.selection.ValidationSizeWarning`, once per problem and kind) when the evaluator's
        split is too small for ``query`` (a `Query` or `AllOf`): a mean-drop threshold ``thr_avg`` the signal's
        images cannot resolve at the problem's ``confidence`` (`check_resolution`: the paired drop against the exact
        8-bit model; nothing with ``confidence=None``), or per-batch terms (``thr``/``x``,
        ``thr_total``) on fewer than `tfaxdnn.search.selection.MIN_SIGNAL_BATCHES` batches (`check_signal_batches`).
        Nothing the search does changes."""
        batches, per_batch = len(self.exact.batch_accuracies), SIGNAL_BATCH
        for q in getattr(query, "queries", (query,)):
            if q.thr_avg is not None and ("avg", q.thr_avg) not in self._checked:
                self._checked.add(("avg", q.thr_avg))
                check_resolution(batches * per_batch, q.thr_avg / 100.0, "map", confidence=self.confidence)
            if (q.thr is not None or q.thr_total is not None) and "batches" not in self._checked:
                self._checked.add("batches")
                check_signal_batches(batches, per_batch, "map")

    @property
    def n_approx_modes(self) -> int:
        return self.multiplier.n_modes - 1

    def plan(self, fractions: Dict[str, tuple]) -> Plan:
        """The plan of a mapping: every approximable layer on the reconfigurable multiplier (missing: all M0)."""
        zero = (0.0,) * self.n_approx_modes
        return Plan({n: {"multiplier": self.multiplier.name,
                         "mode_fractions": tuple(round(float(v), _DIGITS) for v in fractions.get(n, zero))}
                     for n in self.ev.layers})

    def energy(self, plan):
        """The hardware model's mode-energy report of ``plan`` (no inference)."""
        from tfaxdnn.hardware.mode_energy import estimate_modes

        return estimate_modes(self.shapes, plan, self.codes, self.ev.accelerator, self.ev.batch_size)

    def drop(self, metrics) -> np.ndarray:
        """Per-batch accuracy drop of ``metrics`` against the exact 8-bit model (percentage points)."""
        return drop_signal(metrics.batch_accuracies, self.exact.batch_accuracies)

    def drop_upper(self, metrics) -> Optional[float]:
        """Upper ``confidence`` bound of the mean drop of ``metrics`` (percentage points, the paired drop against the
        exact 8-bit model over the images of the full batches); None without a confidence."""
        if self.confidence is None:
            return None
        n = len(self.exact.batch_accuracies) * SIGNAL_BATCH
        return 100.0 * paired_drop(self.exact.correct[:n], metrics.correct[:n], self.confidence, "exact").upper

    def evaluate(self, fractions: Dict[str, tuple], query: Query, method: str, index: int) -> MappingPoint:
        """One inference of the mapping ``fractions`` (uncounted, uncached: see `objective.BudgetedObjective`)."""
        plan = self.plan(fractions)
        metrics = self.ev(plan)
        report = self.energy(plan)
        drop, upper = self.drop(metrics), self.drop_upper(metrics)
        return MappingPoint(index, method, {n: lp.mode_fractions for n, lp in plan.layers.items()},
                            report.gain, report.gain_multiplier, query.robustness(drop, upper), metrics.accuracy,
                            [float(u) for u in report.utilization()],
                            {r.name: [float(u) for u in r.utilization] for r in report.layers if r.name in plan.layers},
                            drop, upper)


@dataclasses.dataclass
class MappingResult:
    """A method's run on one query: every evaluated point and the best satisfying one (None if none satisfied)."""

    method: str
    query: Query
    points: List[MappingPoint]
    budget: int
    seed: int
    multiplier: str
    exact_accuracy: float

    @property
    def best(self) -> Optional[MappingPoint]:
        return self.best_for(self.query)

    def best_for(self, query: Query) -> Optional[MappingPoint]:
        """The highest-gain point satisfying ``query`` (re-monitored on each point's stored signal and bound)."""
        ranked = self.ranked_for(query)
        return ranked[0] if ranked else None

    def ranked_for(self, query) -> List[MappingPoint]:
        """The points satisfying ``query``, best first (gain, then robustness, then evaluation order)."""
        ok = [p for p in self.points if (p.robustness if query == self.query else p.robustness_for(query)) >= 0]
        return sorted(ok, key=lambda p: (-p.gain, -p.robustness, p.index))

    def plan(self) -> Optional[Plan]:
        """The best mapping as a `Plan` (None when no point satisfied the query)."""
        best = self.best
        if best is None:
            return None
        zero = (0.0,) * (len(next(iter(best.fractions.values()))))
        return Plan({n: {"multiplier": self.multiplier, "mode_fractions": best.fractions.get(n, zero)}
                     for n in best.fractions})

    def to_dict(self) -> dict:
        best = self.best
        return {"method": self.method, "query": self.query.to_dict(), "budget": self.budget, "seed": self.seed,
                "multiplier": self.multiplier, "exact_accuracy": self.exact_accuracy,
                "best_index": None if best is None else best.index, "points": [p.to_dict() for p in self.points]}

    def save(self, path) -> None:
        with open(os.fspath(path), "w") as f:
            json.dump(self.to_dict(), f, indent=1)
