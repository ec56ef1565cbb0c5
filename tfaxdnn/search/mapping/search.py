"""Fine-grain weight-to-approximation mapping of a reconfigurable multiplier under STL accuracy queries
(formal-mapping paper, Section IV-C; SPEC section 10), and the two baselines it is compared with.

Ours: the 2L mode fractions ``(v1_l, v2_l)`` are searched with `scipy.optimize.dual_annealing` (generalised simulated
annealing, the family of the paper's ERGMC / S-TALIRO optimiser; psy-taliro is not installed and its dual-annealing
optimiser is SciPy's, so it would add a dependency, not a method) to maximise the MAC-level energy gain subject to
query robustness >= 0, within a hard budget of evaluations (every objective call is one approximate-model inference on
the evaluator's data; the optimiser is stopped when the budget is spent). The unit cube is mapped onto
``v1 + v2 <= 1`` by ``v2 = x_a``, ``v1 = x_b (1 - v2)``. Objective: ``-gain`` for a satisfying mapping,
``1 + violation`` (percentage points) otherwise, so every satisfying mapping beats every violating one and violations
are ranked by how far they miss. The first few evaluations (`WARM_STEPS`) bisect one common coordinate for every
layer to start the annealer on the constraint boundary; the annealer then runs at a low temperature (`INITIAL_TEMP`).
Budget: a mapping proposed again is answered from memory and costs no budget (every method). Optional
(``skip_dominated=True``, off by default): the gain needs no inference, so a proposal whose gain cannot beat the best
satisfying mapping found so far is scored ``-gain`` without being evaluated. On LeNet-5 / MNIST (budget 30, two seeds)
it helped at thr_avg 1 % (+0.2, +15.8 gain points) and hurt at 0.5 % (-5.2, -5.6): near a tight constraint every
evaluation is then pushed above the best gain and nearly all violate.

Baselines, same evaluator, same query, same budget:
- ``homogeneous`` (ALWANN-style): each layer entirely in one mode (M0, M1 or M2), the L-dim mode vector searched by
  the same optimiser (same warm start and temperature).
- ``greedy`` (LVRM-style, sensitivity first): rank layers by the mean drop with the layer alone in M2; map whole layers
  to M2 in that order while the query holds; then for the remaining layers grow M2 ranges around the median
  (v2 = 0.75, 0.5, 0.25: first that holds) and fill part of the rest with M1 (v1 = all, half of the remainder).

Every evaluated point is kept (fractions, gain, robustness, utilisation per mode and layer, the drop signal), so any
other query can be checked on it afterwards (`MappingResult.best_for`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.plan import Plan
from tfaxdnn.search.mapping.queries import Query, drop_signal

__all__ = ["MappingProblem", "MappingPoint", "MappingResult", "search_mapping", "homogeneous_baseline",
           "greedy_baseline", "METHODS", "run_method"]

_DIGITS = 4
#: Bisection steps of the warm start (at most a fifth of the budget) and the annealer's initial temperature. Within
#: 30-100 evaluations SciPy's default (5230) makes dual annealing a random search; on a 10-D quadratic in [0, 1]^10
#: with 45 evaluations from the centre (15 runs) the mean best value was 0.37 at T=100, 0.35 at T=5, 0.22 at T=0.5,
#: 0.18-0.20 at T=0.05-0.2, hence 0.1.
WARM_STEPS = 5
INITIAL_TEMP = 0.1
#: Free answers (repeated mappings, proposals ruled out by their gain) per unit of budget before a run stops.
FREE_CALLS = 200


class _BudgetSpent(Exception):
    pass


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
    """

    def __init__(self, evaluator, multiplier="recon_evo", layers: Optional[Sequence[str]] = None):
        from tfaxdnn import hardware
        from tfaxdnn.layers import weight_codes

        self.ev = evaluator
        self.multiplier = _mult.lookup(multiplier)
        if not isinstance(self.multiplier, _mult.Reconfigurable):
            raise ValueError(f"Fine-grain mapping needs a reconfigurable multiplier; {self.multiplier.name!r} has one "
                             f"mode. Valid choices: {sorted(_mult.RECONFIGURABLE_PRESETS)} or a Reconfigurable.")
        self.layers = list(layers) if layers is not None else list(evaluator.layers)
        unknown = [n for n in self.layers if n not in evaluator.layers]
        if unknown:
            raise ValueError(f"Layers {unknown} are not approximable layers of the model: {evaluator.layers}")
        self.shapes = hardware.model_shapes(evaluator.model)
        self.codes = weight_codes(evaluator.build(self.plan({})))
        self.exact = evaluator.exact()
        if len(self.exact.batch_accuracies) == 0:
            raise ValueError(f"The evaluator holds {self.exact.n} images: the per-batch signal needs at least one "
                             "full batch of 100.")

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
        from tfaxdnn.hardware.mode_energy import estimate_modes

        return estimate_modes(self.shapes, plan, self.codes, self.ev.accelerator, self.ev.batch_size)

    def drop(self, metrics) -> np.ndarray:
        return drop_signal(metrics.batch_accuracies, self.exact.batch_accuracies)

    def evaluate(self, fractions: Dict[str, tuple], query: Query, method: str, index: int) -> MappingPoint:
        plan = self.plan(fractions)
        metrics = self.ev(plan)
        report = self.energy(plan)
        drop = self.drop(metrics)
        return MappingPoint(index, method, {n: lp.mode_fractions for n, lp in plan.layers.items()},
                            report.gain, report.gain_multiplier, query.robustness(drop), metrics.accuracy,
                            [float(u) for u in report.utilization()],
                            {r.name: [float(u) for u in r.utilization] for r in report.layers if r.name in plan.layers},
                            drop)


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
        """The highest-gain point satisfying ``query`` (re-monitored on each point's stored signal)."""
        ok = [p for p in self.points if (p.robustness if query == self.query else query.robustness(p.drop)) >= 0]
        return max(ok, key=lambda p: (p.gain, p.robustness, -p.index)) if ok else None

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


def _check_budget(budget) -> int:
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"`budget` must be a positive int (model evaluations). Received: budget={budget!r}")
    return int(budget)


class _Runner:
    """Counts evaluations against the budget and records the points.

    A mapping evaluated before (same rounded fractions) is returned from memory and costs no budget; so does a
    proposal that `skip` rules out. At most `FREE_CALLS` such free answers per unit of budget are given, then the run
    stops (the optimiser proposes nothing new)."""

    def __init__(self, problem: MappingProblem, query: Query, method: str, budget: int,
                 progress: Optional[Callable[[MappingPoint], None]]):
        self.problem, self.query, self.method, self.budget = problem, query, method, _check_budget(budget)
        self.progress = progress
        self.points: List[MappingPoint] = []
        self.memo: Dict[tuple, MappingPoint] = {}
        self.free = 0

    @property
    def left(self) -> int:
        return self.budget - len(self.points)

    @property
    def best_gain(self) -> Optional[float]:
        ok = [p.gain for p in self.points if p.satisfied]
        return max(ok) if ok else None

    def _free(self) -> None:
        self.free += 1
        if self.free > FREE_CALLS * self.budget:
            raise _BudgetSpent

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
            raise _BudgetSpent
        p = self.problem.evaluate(fractions, self.query, self.method, len(self.points))
        self.points.append(p)
        self.memo[key] = p
        if self.progress is not None:
            self.progress(p)
        return p

    def result(self, seed: int) -> MappingResult:
        return MappingResult(self.method, self.query, self.points, self.budget, seed, self.problem.multiplier.name,
                             self.problem.exact.accuracy)


def _objective(point: MappingPoint) -> float:
    return -point.gain if point.satisfied else 1.0 - point.robustness


def _warm_start(runner: "_Runner", dim: int, decode, steps: int) -> np.ndarray:
    """Bisection on one common coordinate ``s`` (every layer at ``x = s``) for the most aggressive uniform mapping
    that satisfies the query: a start on the constraint boundary for the annealer."""
    lo, hi = 0.0, 1.0
    best_x, best_f = np.zeros(dim), np.inf
    for _ in range(steps):
        s = 0.5 * (lo + hi)
        x = np.full(dim, s)
        f = _objective(runner(decode(x)))
        if f < best_f:
            best_x, best_f = x, f
        if f <= 0.0:
            lo = s
        else:
            hi = s
    return best_x


def _anneal(runner: _Runner, dim: int, decode, seed: int, warm_steps: int = 0, initial_temp: float = 1000.0,
            skip_dominated: bool = False) -> None:
    from scipy.optimize import dual_annealing

    def f(x):
        fractions = decode(np.clip(x, 0.0, 1.0))
        if skip_dominated:
            gain = runner.skip(fractions)
            if gain is not None:  # cannot beat the best satisfying point: scored as if satisfied, not evaluated
                return -gain
        return _objective(runner(fractions))

    try:
        x0 = _warm_start(runner, dim, decode, warm_steps) if warm_steps else np.zeros(dim)
        dual_annealing(f, bounds=[(0.0, 1.0)] * dim, seed=int(seed), maxfun=FREE_CALLS * runner.budget,
                       maxiter=FREE_CALLS * runner.budget,
                       no_local_search=True, initial_temp=initial_temp, x0=x0)
        # Spend what the optimiser left (it may stop early after converging): uniform restarts.
        rng = np.random.default_rng(seed)
        while runner.left > 0:
            f(rng.random(dim))
    except _BudgetSpent:
        pass


def search_mapping(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                   progress: Optional[Callable] = None, skip_dominated: bool = False) -> MappingResult:
    """Ours: dual annealing over the 2L fractions (see the module docstring); ``skip_dominated=True`` does not
    evaluate proposals whose gain cannot beat the best satisfying one."""
    runner = _Runner(problem, query, "ours", budget, progress)
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

    _anneal(runner, n * len(names), decode, seed, warm_steps=min(WARM_STEPS, budget // 5),
            initial_temp=INITIAL_TEMP, skip_dominated=skip_dominated)
    return runner.result(seed)


def _whole(n_approx: int, mode: int) -> tuple:
    return tuple(1.0 if k == mode else 0.0 for k in range(1, n_approx + 1))


def homogeneous_baseline(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                         progress: Optional[Callable] = None, skip_dominated: bool = False) -> MappingResult:
    """ALWANN-style: one mode per layer, searched by the same optimiser and budget (same options)."""
    runner = _Runner(problem, query, "homogeneous", budget, progress)
    names, n_modes = problem.layers, problem.multiplier.n_modes

    def decode(x):
        return {name: _whole(n_modes - 1, min(int(v * n_modes), n_modes - 1)) for name, v in zip(names, x)}

    _anneal(runner, len(names), decode, seed, warm_steps=min(WARM_STEPS, budget // 5), initial_temp=INITIAL_TEMP,
            skip_dominated=skip_dominated)
    return runner.result(seed)


def greedy_baseline(problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
                    progress: Optional[Callable] = None) -> MappingResult:
    """LVRM-style greedy sensitivity-first mapping (deterministic; ``seed`` recorded only)."""
    runner = _Runner(problem, query, "greedy", budget, progress)
    names, n = problem.layers, problem.n_approx_modes
    top = _whole(n, n)
    try:
        alone = {name: runner({name: top}) for name in names}  # step 1: each layer alone in the top mode
        order = sorted(names, key=lambda nm: (float(np.mean(alone[nm].drop)), names.index(nm)))
        current: Dict[str, tuple] = {}
        rest = list(order)
        for name in order:  # step 2: whole resilient layers to the top mode while the query holds
            point = alone[name] if not current else runner({**current, name: top})
            if point.satisfied:
                current[name] = top
                rest.remove(name)
            else:
                break
        for name in rest:  # steps 3-4: ranges around the median, top mode first, then M1 in part of the rest
            chosen = [0.0] * n
            for v_top in (0.75, 0.5, 0.25):
                trial = [0.0] * (n - 1) + [v_top]
                if runner({**current, name: tuple(trial)}).satisfied:
                    chosen = trial
                    break
            for share in ((1.0, 0.5) if n > 1 else ()):
                trial = list(chosen)
                trial[0] = (1.0 - chosen[-1]) * share
                if runner({**current, name: tuple(trial)}).satisfied:
                    chosen = trial
                    break
            current[name] = tuple(chosen)
    except _BudgetSpent:
        pass
    return runner.result(seed)


METHODS = {"ours": search_mapping, "homogeneous": homogeneous_baseline, "greedy": greedy_baseline}


def run_method(method: str, problem: MappingProblem, query: Query, budget: int = 50, seed: int = 0,
               progress: Optional[Callable] = None) -> MappingResult:
    """Run ``method`` (``"ours"``, ``"homogeneous"``, ``"greedy"``) on ``query``."""
    if method not in METHODS:
        from tfaxdnn.core.errors import unknown_name

        raise unknown_name("mapping method", method, list(METHODS))
    return METHODS[method](problem, query, budget=budget, seed=seed, progress=progress)
