"""The one skip rule: how many and which output neurons a skip fraction removes (SPEC section 4).

``n_skipped(n, f) = round(f * n)`` (Python's round, half to even); the neurons with the lowest importance scores
are skipped, ties broken by position (earlier first). Used by `approximate`, the tfmot import and the hardware model,
so accuracy and energy always describe the same network.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["n_skipped", "kept_mask", "count_mask", "check_fraction", "reduce_scores"]


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
    mask = np.ones(n_outputs, dtype=bool)
    mask[np.argsort(s, kind="stable")[:n_skip]] = False
    return mask


def count_mask(n_outputs: int, fraction: float) -> Optional[np.ndarray]:
    """A mask skipping the *last* `n_skipped` outputs: for cost models, where only the count matters."""
    n_skip = n_skipped(n_outputs, fraction)
    if n_skip == 0:
        return None
    mask = np.ones(n_outputs, dtype=bool)
    mask[n_outputs - n_skip:] = False
    return mask
