"""XAI-NAS variation operators on the integer genome ``[m_0, s_0, m_1, s_1, ...]`` (`tfaxdnn.search.nas.genome`).

* `IntegerResetMutation`: every gene, with probability ``prob_var``, takes a uniformly random other value (the
  ALWANN-style baseline's mutation; its skip genes have no range, so only multipliers change).
* `SkipAwareMutation` (XAI-NAS): multiplier genes as above; a mutated skip gene moves one level up, one level down
  or back to 0 (equally likely, clipped): skipping grows by small steps instead of jumping to a random level, which
  without retraining is nearly always infeasible.
* `skip_bound_repair`: before evaluation, each skip gene is clipped to one level above the largest level of that gene
  among the feasible candidates evaluated so far (learned from the archive; no extra evaluation), so offspring stay
  near the region the seeds showed to be feasible and widen it one level at a time.
* `biased_random`: random genomes whose skip levels are geometric (P(0) = ``p_zero``), for the random part of
  XAI-NAS's initial population.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
from pymoo.core.mutation import Mutation

__all__ = ["IntegerResetMutation", "SkipAwareMutation", "skip_bound_repair", "biased_random"]


def _reset(X, lo, hi, hit, rng):
    """Genes where ``hit`` take a uniformly random other value in [lo, hi]."""
    span = hi - lo
    shift = rng.integers(1, np.maximum(span, 1) + 1, size=X.shape)   # 1..span: never itself
    return np.where(hit & (span > 0), lo + (X - lo + shift) % (span + 1), X)


class IntegerResetMutation(Mutation):
    """Each gene, with probability ``prob_var``, takes a uniformly random *other* value of its range."""

    def __init__(self, prob_var: float = 0.1):
        super().__init__(prob=1.0, prob_var=prob_var)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        X = np.rint(X).astype(int)
        lo, hi = np.asarray(problem.xl, int), np.asarray(problem.xu, int)
        hit = random_state.random(X.shape) < float(self.get_prob_var(problem))
        return _reset(X, lo, hi, hit, random_state).astype(float)


class SkipAwareMutation(IntegerResetMutation):
    """Multiplier genes (even positions): random reset; skip genes (odd positions): −1, +1 or 0 (clipped)."""

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        X = np.rint(X).astype(int)
        lo, hi = np.asarray(problem.xl, int), np.asarray(problem.xu, int)
        hit = random_state.random(X.shape) < float(self.get_prob_var(problem))
        out = X.copy()
        out[:, 0::2] = _reset(X[:, 0::2], lo[0::2], hi[0::2], hit[:, 0::2], random_state)
        s = X[:, 1::2]
        move = random_state.integers(0, 3, size=s.shape)                   # 0: down, 1: up, 2: to zero
        moved = np.clip(np.where(move == 0, s - 1, np.where(move == 1, s + 1, 0)), lo[1::2], hi[1::2])
        out[:, 1::2] = np.where(hit[:, 1::2], moved, s)
        return out.astype(float)


def skip_bound_repair(X: np.ndarray, feasible_genomes: Iterable[Sequence[int]], slack: int = 1) -> np.ndarray:
    """``X`` with every skip gene clipped to (largest level of that gene among ``feasible_genomes``) + ``slack``
    (``slack`` when none is feasible yet); multiplier genes unchanged."""
    X = np.rint(np.asarray(X)).astype(int)
    F = np.array([list(g) for g in feasible_genomes], dtype=int).reshape(-1, X.shape[1])
    bound = (F[:, 1::2].max(axis=0) if len(F) else np.zeros(X.shape[1] // 2, int)) + int(slack)
    out = X.copy()
    out[:, 1::2] = np.minimum(X[:, 1::2], bound)
    return out


def biased_random(space, n: int, rng: np.random.Generator, p_zero: float = 0.5) -> np.ndarray:
    """``n`` genomes of ``space``: uniform multipliers, skip levels ``min(Geometric(p_zero) − 1, max level)``."""
    X = space.random(n, rng)
    levels = rng.geometric(p_zero, size=(n, len(space.genes))) - 1
    X[:, 1::2] = np.minimum(levels, np.asarray(space.max_skip_level, int))
    return X
