"""Which images a search selects on and which it reports on: a seeded split of evaluation data into validation
and test parts, and seeded subsets. A search never selects on the test part."""

from __future__ import annotations

from typing import Optional

import numpy as np

__all__ = ["split_data", "seeded_subset"]


def split_data(x, y, validation_fraction: float, seed: int):
    """``((x_val, y_val), (x_test, y_test))``: a seeded random split of evaluation data into the part a search
    selects on and the part its result is reported on."""
    x, y = np.asarray(x), np.asarray(y)
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must lie in (0, 1). Received: {validation_fraction!r}")
    n_val = int(round(len(x) * validation_fraction))
    if n_val < 1 or n_val >= len(x):
        raise ValueError(f"Cannot split {len(x)} evaluation images at validation_fraction={validation_fraction}: "
                         "both parts need at least one image.")
    order = np.random.default_rng(seed).permutation(len(x))
    val, test = np.sort(order[:n_val]), np.sort(order[n_val:])
    return (x[val], y[val]), (x[test], y[test])


def seeded_subset(n: Optional[int], seed: int, *arrays):
    """The same ``n`` seeded rows (sorted indices) of each array, all rows when ``n`` is None or too large; one array
    in -> one array out."""
    if n is not None and n < len(arrays[0]):
        idx = np.sort(np.random.default_rng(seed).choice(len(arrays[0]), n, replace=False))
        arrays = tuple(a[idx] for a in arrays)
    return arrays if len(arrays) > 1 else arrays[0]
