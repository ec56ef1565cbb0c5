"""JSON output of search results: NumPy scalars and arrays as plain numbers and lists."""

from __future__ import annotations

import numpy as np

__all__ = ["json_default"]


def json_default(o):
    """``json.dump(..., default=json_default)``: NumPy scalars as Python numbers, arrays as lists."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")
