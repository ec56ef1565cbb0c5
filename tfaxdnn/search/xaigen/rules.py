"""The two rules of the XAI-Gen paper that turn a layer's normalised importance ``ẑ`` into its approximation:
``SelectMult`` (which multiplier) and the skip fraction (how many of its least important neurons to drop).

Both are pure functions; Algorithm 1 (`tfaxdnn.search.xaigen.algorithm`), the trade-off sweep and XAI-NAS's seed
genomes apply them.
"""

from __future__ import annotations

import math

__all__ = ["select_multiplier", "skip_fraction"]


def select_multiplier(z_hat: float, threshold: float, n_multipliers: int) -> int:
    """``SelectMult``: index into the MAE-sorted multipliers (0 = exact) for normalised importance ``z_hat``.

    ``i = clip(round((1 − ẑ/t)·(M − 1)), 0, M − 1)``: a layer at or above the threshold ``t`` stays exact, a layer
    of near-zero importance gets the most aggressive multiplier, linearly in between.
    """
    i = round((1.0 - z_hat / threshold) * (n_multipliers - 1))
    return int(min(max(i, 0), n_multipliers - 1))


def skip_fraction(z_hat: float, t_p: float, step: float = 0.05) -> float:
    """``t_p·(1 − ẑ)`` rounded down to a multiple of ``step``."""
    raw = max(0.0, t_p * (1.0 - z_hat))
    return round(math.floor(raw / step + 1e-9) * step, 6)
