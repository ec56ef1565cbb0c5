"""The one skip rule: how many and which output neurons a skip fraction removes (SPEC section 4).

``n_skipped(n, f) = round(f * n)`` (Python's round, half to even); the neurons with the lowest importance scores
are skipped, ties broken by position (earlier first). Used by `approximate`, the tfmot import and the hardware model,
so accuracy and energy always describe the same network.

When the cut falls inside a group of equal scores (some of the tied neurons skipped, some kept) the scores do not
decide which ones go: the earlier ones are skipped, and `kept_mask` warns (`SkipTieWarning`, once per layer and tie
group) unless the tie is at score 0 in scores that are not a 0/1 mask (neurons with no measured importance, e.g. the
zero conductance of dead ReLUs: any of them is as good a choice). The usual cause is a kept-output mask used as
scores (`tfaxdnn.plan_of` stores kept 1 / skipped 0) with another ``skip_fraction``: pass the original scores instead.
"""

from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

__all__ = ["n_skipped", "kept_mask", "count_mask", "check_fraction", "reduce_scores", "SkipTieWarning"]


class SkipTieWarning(UserWarning):
    """The skip cut falls among neurons of equal importance: which of them are skipped is decided by position."""


def check_fraction(value, where: str = "") -> float:
    """``value`` as a float in [0, 1], else a ValueError naming ``where``."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"{where + ': ' if where else ''}`skip_fraction` must be a number in [0, 1]. Received: "
                         f"skip_fraction={value!r}")
    return f


def n_skipped(n_outputs: int, fraction: float) -> int:
    """Number of outputs a layer with ``n_outputs`` outputs skips at ``fraction``."""
    return int(round(check_fraction(fraction) * int(n_outputs)))


def reduce_scores(scores, n_outputs: int, layer_name: str) -> np.ndarray:
    """Per-neuron scores ``[n]`` from ``[n]`` or per-sample ``[N, n]`` (mean absolute value over samples)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim > 1:
        s = np.abs(s).reshape(-1, s.shape[-1]).mean(axis=0)
    if s.shape != (n_outputs,):
        raise ValueError(f"Layer '{layer_name}': importance must have one score per output neuron, shape "
                         f"({n_outputs},) or (N, {n_outputs}). Received: shape {np.shape(scores)}")
    return s


def kept_mask(layer_name: str, n_outputs: int, fraction: float, scores) -> Optional[np.ndarray]:
    """Bool mask over a layer's outputs keeping all but the `n_skipped` lowest-scoring ones; None if none skipped.

    Raises:
        ValueError: skipping is asked for but ``scores`` is None or has the wrong shape.
    """
    n_skip = n_skipped(n_outputs, check_fraction(fraction, f"Layer '{layer_name}'"))
    if n_skip == 0:
        return None
    if scores is None:
        raise ValueError(f"Layer '{layer_name}': skip_fraction={fraction} needs neuron importance scores. Put them "
                         f"in the plan (`Plan(..., importance={{'{layer_name}': scores}})`) or pass "
                         f"`importance={{'{layer_name}': scores}}` (e.g. tfaxdnn.xai.neuron_conductance).")
    s = reduce_scores(scores, n_outputs, layer_name)
    order = np.argsort(s, kind="stable")
    if n_skip < n_outputs and s[order[n_skip - 1]] == s[order[n_skip]]:
        mask_like = bool(np.isin(s, (0.0, 1.0)).all())
        if s[order[n_skip]] != 0.0 or mask_like:
            _warn_tie(layer_name, s, s[order[n_skip]], mask_like)
    mask = np.ones(n_outputs, dtype=bool)
    mask[order[:n_skip]] = False
    return mask


def _warn_tie(layer_name: str, scores: np.ndarray, value: float, mask_like: bool) -> None:
    """Warns that the cut splits the group of neurons scored ``value`` (the text is the same for every fraction
    that cuts the same group, so Python shows it once)."""
    tied = np.flatnonzero(scores == value)
    hint = (" The scores are a 0/1 kept-output mask (as `tfaxdnn.plan_of` stores): they only say which neurons were "
            "skipped before, not which to skip next." if mask_like else "")
    warnings.warn(f"Layer '{layer_name}': the skip cut falls among {tied.size} neurons of equal importance "
                  f"{value:g} (positions {tied[:8].tolist()}{'...' if tied.size > 8 else ''}); the earlier ones are "
                  f"skipped, by position, not by score.{hint} Pass the layer's original importance scores "
                  f"(`importance={{'{layer_name}': scores}}`) or a skip_fraction that does not split the tie.",
                  SkipTieWarning, stacklevel=3)


def count_mask(n_outputs: int, fraction: float) -> Optional[np.ndarray]:
    """A mask skipping the *last* `n_skipped` outputs: for cost models, where only the count matters."""
    n_skip = n_skipped(n_outputs, fraction)
    if n_skip == 0:
        return None
    mask = np.ones(n_outputs, dtype=bool)
    mask[n_outputs - n_skip:] = False
    return mask
