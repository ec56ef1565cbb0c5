"""The mapping methods (formal-mapping paper, Section IV-C; SPEC section 10): ours and the two baselines it is
compared with, all on the same `MappingProblem`, query and budget (`objective.BudgetedObjective`).

- ``ours`` (`search_mapping`): the 2L mode fractions ``(v1_l, v2_l)`` are searched by `anneal.anneal` (dual annealing
  with a bisection warm start) to maximise the MAC-level energy gain subject to query robustness >= 0. The unit cube
  is mapped onto ``v1 + v2 <= 1`` by ``v2 = x_a``, ``v1 = x_b (1 - v2)``.
- ``homogeneous`` (ALWANN-style): each layer entirely in one mode (M0, M1 or M2), the L-dim mode vector searched by
  the same optimiser (same warm start and temperature).
- ``greedy`` (LVRM-style, sensitivity first): rank layers by the mean drop with the layer alone in M2; map whole layers
  to M2 in that order while the query holds; then for the remaining layers grow M2 ranges around the median
  (v2 = 0.75, 0.5, 0.25: first that holds) and fill part of the rest with M1 (v1 = all, half of the remainder).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from tfaxdnn.search.mapping.anneal import INITIAL_TEMP, WARM_STEPS, anneal
from tfaxdnn.search.mapping.objective import BudgetedObjective, BudgetSpent
from tfaxdnn.search.mapping.problem import MappingProblem, MappingResult
from tfaxdnn.search.mapping.queries import Query

__all__ = ["search_mapping", "homogeneous_baseline", "greedy_baseline", "METHODS", "run_method"]


def search_mapping(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                   progress: Optional[Callable] = None, skip_dominated: bool = False) -> MappingResult:
    """Ours: dual annealing over the 2L fractions (see the module docstring); ``skip_dominated=True`` does not
    evaluate proposals whose gain cannot beat the best satisfying one."""
    objective = BudgetedObjective(problem, query, "ours", budget, progress)
    names, n = problem.layers, problem.n_approx_modes

    def decode(x):
        out = {}
        for i, name in enumerate(names):
            left, fr = 1.0, []
            for j in range(n):  # innermost (most aggressive) mode first: v_n = x0, v_{n-1} = x1 * (1 - v_n), ...
                v = float(x[i * n + j]) * left
                fr.append(v)
                left -= v
            out[name] = tuple(reversed(fr))
        return out

    anneal(objective, n * len(names), decode, seed, warm_steps=min(WARM_STEPS, budget // 5),
           initial_temp=INITIAL_TEMP, skip_dominated=skip_dominated)
    return objective.result(seed)


def _whole(n_approx: int, mode: int) -> tuple:
    """The fractions of a layer entirely in ``mode`` (0: M0)."""
    return tuple(1.0 if k == mode else 0.0 for k in range(1, n_approx + 1))


def homogeneous_baseline(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                         progress: Optional[Callable] = None, skip_dominated: bool = False) -> MappingResult:
    """ALWANN-style: one mode per layer, searched by the same optimiser and budget (same options)."""
    objective = BudgetedObjective(problem, query, "homogeneous", budget, progress)
    names, n_modes = problem.layers, problem.multiplier.n_modes

    def decode(x):
        return {name: _whole(n_modes - 1, min(int(v * n_modes), n_modes - 1)) for name, v in zip(names, x)}

    anneal(objective, len(names), decode, seed, warm_steps=min(WARM_STEPS, budget // 5), initial_temp=INITIAL_TEMP,
           skip_dominated=skip_dominated)
    return objective.result(seed)


def greedy_baseline(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                    progress: Optional[Callable] = None) -> MappingResult:
    """LVRM-style greedy sensitivity-first mapping (deterministic; ``seed`` recorded only)."""
    objective = BudgetedObjective(problem, query, "greedy", budget, progress)
    names, n = problem.layers, problem.n_approx_modes
    top = _whole(n, n)
    try:
        alone = {name: objective({name: top}) for name in names}  # step 1: each layer alone in the top mode
        order = sorted(names, key=lambda nm: (float(np.mean(alone[nm].drop)), names.index(nm)))
        current: Dict[str, tuple] = {}
        rest = list(order)
        for name in order:  # step 2: whole resilient layers to the top mode while the query holds
            point = alone[name] if not current else objective({**current, name: top})
            if point.satisfied:
                current[name] = top
                rest.remove(name)
            else:
                break
        for name in rest:  # steps 3-4: ranges around the median, top mode first, then M1 in part of the rest
            chosen = [0.0] * n
            for v_top in (0.75, 0.5, 0.25):
                trial = [0.0] * (n - 1) + [v_top]
                if objective({**current, name: tuple(trial)}).satisfied:
                    chosen = trial
                    break
            for share in ((1.0, 0.5) if n > 1 else ()):
                trial = list(chosen)
                trial[0] = (1.0 - chosen[-1]) * share
                if objective({**current, name: tuple(trial)}).satisfied:
                    chosen = trial
                    break
            current[name] = tuple(chosen)
    except BudgetSpent:
        pass
    return objective.result(seed)


METHODS = {"ours": search_mapping, "homogeneous": homogeneous_baseline, "greedy": greedy_baseline}


def run_method(method: str, problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
               progress: Optional[Callable] = None) -> MappingResult:
    """Run ``method`` (``"ours"``, ``"homogeneous"``, ``"greedy"``) on ``query``."""
    if method not in METHODS:
        from tfaxdnn.core.errors import unknown_name

        raise unknown_name("mapping method", method, list(METHODS))
    return METHODS[method](problem, query, budget=budget, seed=seed, progress=progress)
