"""The optimiser of the annealed methods (ours and the homogeneous baseline): a bisection warm start, then
`scipy.optimize.dual_annealing` at a low temperature, stopped when the budget is spent.

Dual annealing is generalised simulated annealing, the family of the paper's ERGMC / S-TALIRO optimiser (psy-taliro is
not installed and its dual-annealing optimiser is SciPy's, so it would add a dependency, not a method). The first few
evaluations (`WARM_STEPS`) bisect one common coordinate for every search dimension to start the annealer on the
constraint boundary; the annealer then runs at `INITIAL_TEMP`. Whatever budget it leaves (it may stop early after
converging) is spent on seeded uniform restarts.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from tfaxdnn.search.mapping.objective import FREE_CALLS, BudgetedObjective, BudgetSpent, objective_value

__all__ = ["anneal", "warm_start", "WARM_STEPS", "INITIAL_TEMP"]

#: Bisection steps of the warm start (at most a fifth of the budget) and the annealer's initial temperature. Within
#: 30-100 evaluations SciPy's default (5230) makes dual annealing a random search; on a 10-D quadratic in [0, 1]^10
#: with 45 evaluations from the centre (15 runs) the mean best value was 0.37 at T=100, 0.35 at T=5, 0.22 at T=0.5,
#: 0.18-0.20 at T=0.05-0.2, hence 0.1.
WARM_STEPS = 5
INITIAL_TEMP = 0.1

Decode = Callable[[np.ndarray], Dict[str, tuple]]


def warm_start(objective: BudgetedObjective, dim: int, decode: Decode, steps: int) -> np.ndarray:
    """Bisection on one common coordinate ``s`` (every layer at ``x = s``) for the most aggressive uniform mapping
    that satisfies the query: a start on the constraint boundary for the annealer."""
    lo, hi = 0.0, 1.0
    best_x, best_f = np.zeros(dim), np.inf
    for _ in range(steps):
        s = 0.5 * (lo + hi)
        x = np.full(dim, s)
        f = objective_value(objective(decode(x)))
        if f < best_f:
            best_x, best_f = x, f
        if f <= 0.0:
            lo = s
        else:
            hi = s
    return best_x


def anneal(objective: BudgetedObjective, dim: int, decode: Decode, seed: int, warm_steps: int = 0,
           initial_temp: float = 1000.0, skip_dominated: bool = False) -> None:
    """Minimise `objective_value` over ``[0, 1]^dim`` (``decode`` maps a point to layer fractions) until
    ``objective``'s budget is spent; the points are recorded by ``objective``.

    Args:
        warm_steps: bisection steps of `warm_start` (0: start at the origin); initial_temp: the annealer's.
        skip_dominated: score a proposal that cannot beat the best satisfying gain by ``-gain``, unevaluated.
    """
    from scipy.optimize import dual_annealing

    def f(x):
        fractions = decode(np.clip(x, 0.0, 1.0))
        if skip_dominated:
            gain = objective.skip(fractions)
            if gain is not None:  # cannot beat the best satisfying point: scored as if satisfied, not evaluated
                return -gain
        return objective_value(objective(fractions))

    try:
        x0 = warm_start(objective, dim, decode, warm_steps) if warm_steps else np.zeros(dim)
        dual_annealing(f, bounds=[(0.0, 1.0)] * dim, seed=int(seed), maxfun=FREE_CALLS * objective.budget,
                       maxiter=FREE_CALLS * objective.budget,
                       no_local_search=True, initial_temp=initial_temp, x0=x0)
        # Spend what the optimiser left (it may stop early after converging): uniform restarts.
        rng = np.random.default_rng(seed)
        while objective.left > 0:
            f(rng.random(dim))
    except BudgetSpent:
        pass
