"""The one normaliser of convolution arguments (strides, dilations, padding), shared by the LUT op's functional API
(`tfaxdnn.ops.nn`) and the low-rank path (`tfaxdnn.ops.lowrank`); NumPy only, so it serves every Keras backend."""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["pair", "padding_mode"]


def pair(value, name: str) -> Tuple[int, int]:
    """A positive int or a pair of positive ints as ``(height, width)``; a ValueError naming ``name`` otherwise."""
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints. Received: {name}={value}")
    return value


def padding_mode(padding: str) -> str:
    """``"SAME"`` or ``"VALID"`` (any case); a ValueError otherwise."""
    p = str(padding).upper()
    if p not in ("SAME", "VALID"):
        raise ValueError(f"`padding` must be 'SAME' or 'VALID'. Received: padding={padding!r}")
    return p
