"""The objective every mapping method queries: a budgeted, cached evaluation of mappings, and its scalar value.

Budget: every new mapping costs one model evaluation (one approximate-model inference on the evaluator's data); when
the budget is spent, the next new mapping raises `BudgetSpent` and the method stops. A mapping proposed again (same
rounded fractions) is answered from memory and costs no budget (every method).

Optional (``skip_dominated=True`` in the annealed methods, off by default): the gain needs no inference, so a proposal
whose gain cannot beat the best satisfying mapping found so far is scored ``-gain`` without being evaluated
(`BudgetedObjective.skip`). On LeNet-5 / MNIST (budget 30, two seeds) it helped at thr_avg 1 % (+0.2, +15.8 gain
points) and hurt at 0.5 % (-5.2, -5.6): near a tight constraint every evaluation is then pushed above the best gain and
nearly all violate.

Scalar value (`objective_value`, minimised): ``-gain`` for a satisfying mapping, ``1 + violation`` (percentage points)
otherwise, so every satisfying mapping beats every violating one and violations are ranked by how far they miss.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np

from tfaxdnn.search.mapping.problem import MappingPoint, MappingProblem, MappingResult
from tfaxdnn.search.mapping.queries import Query

__all__ = ["BudgetedObjective", "BudgetSpent", "check_budget", "objective_value", "FREE_CALLS"]

#: Free answers (repeated mappings, proposals ruled out by their gain) per unit of budget before a run stops.
FREE_CALLS = 200


class BudgetSpent(Exception):
    """Raised by `BudgetedObjective` when the budget (or its allowance of free answers) is spent: the run stops."""


def check_budget(budget) -> int:
    """``budget`` as an int, or a ValueError unless it is a positive int (model evaluations)."""
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"`budget` must be a positive int (model evaluations). Received: budget={budget!r}")
    return int(budget)


def objective_value(point: MappingPoint) -> float:
    """The minimised scalar: ``-gain`` if ``point`` satisfies its query, else ``1 - robustness`` (``1 + violation``)."""
    return -point.gain if point.satisfied else 1.0 - point.robustness


class BudgetedObjective:
    """One method's run on one query: ``objective(fractions)`` evaluates a mapping (or answers it from memory),
    counts it against the budget and records the point.

    A mapping evaluated before (same rounded fractions) is returned from memory and costs no budget; so does a
    proposal that `skip` rules out. At most `FREE_CALLS` such free answers per unit of budget are given, then the run
    stops (the optimiser proposes nothing new).

    Args:
        problem: the shared `MappingProblem`; query: the query monitored on every point; method: its name in the
            points and the result; budget: model evaluations (positive int); progress: ``callback(point)`` after
            each evaluation, or None.
    """

    def __init__(self, problem: MappingProblem, query: Query, method: str, budget: int,
                 progress: Optional[Callable[[MappingPoint], None]]):
        self.problem, self.query, self.method, self.budget = problem, query, method, check_budget(budget)
        problem.check_query(query)
        self.progress = progress
        self.points: List[MappingPoint] = []
        self.memo: Dict[tuple, MappingPoint] = {}
        self.free = 0

    @property
    def left(self) -> int:
        """Evaluations left in the budget."""
        return self.budget - len(self.points)

    @property
    def best_gain(self) -> Optional[float]:
        """The highest gain of a satisfying point so far (None before the first)."""
        ok = [p.gain for p in self.points if p.satisfied]
        return max(ok) if ok else None

    def _free(self) -> None:
        self.free += 1
        if self.free > FREE_CALLS * self.budget:
            raise BudgetSpent

    def gain(self, fractions: Dict[str, tuple]) -> float:
        """Energy gain of a mapping without inference (the hardware model only)."""
        return self.problem.energy(self.problem.plan(fractions)).gain

    def skip(self, fractions: Dict[str, tuple]) -> Optional[float]:
        """The gain of a proposal that cannot beat the best satisfying point found so far (it is not evaluated and
        costs no budget), else None."""
        best = self.best_gain
        if best is None or self._key(fractions) in self.memo:
            return None
        g = self.gain(fractions)
        if g > best + 1e-12:
            return None
        self._free()
        return g

    def _key(self, fractions: Dict[str, tuple]) -> tuple:
        return tuple(sorted((n, lp.mode_fractions) for n, lp in self.problem.plan(fractions).layers.items()))

    def __call__(self, fractions: Dict[str, tuple]) -> MappingPoint:
        key = self._key(fractions)
        if key in self.memo:
            self._free()
            return self.memo[key]
        if self.left <= 0:
            raise BudgetSpent
        p = self.problem.evaluate(fractions, self.query, self.method, len(self.points))
        self.points.append(p)
        self.memo[key] = p
        if self.progress is not None:
            self.progress(p)
        return p

    def result(self, seed: int) -> MappingResult:
        """The run so far as a `MappingResult` (``seed`` recorded)."""
        return MappingResult(self.method, self.query, self.points, self.budget, seed, self.problem.multiplier.name,
                             self.problem.exact.accuracy)
