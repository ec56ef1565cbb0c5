"""Conductance of a search's layers (training images), cached next to its checkpoint.

XAI-NAS needs it for the XAI-Gen seeds and the skipping order; the file (``importance.npz``) makes a resumed search
reuse the same scores instead of recomputing them.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from tfaxdnn.search.nas.config import NASConfig

__all__ = ["cached_importance"]


def cached_importance(model, x_train, y_train, layers: Sequence[str], config: NASConfig, path: str, verbose: bool):
    """`Importance` of every approximable layer on ``config.importance_samples`` training images (seeded by
    ``config.seed + 1``); read from ``path`` when it exists, else computed and saved there."""
    from tfaxdnn.search.xaigen import Importance, compute_importance

    if os.path.isfile(path):
        with np.load(path) as f:
            return Importance(list(layers), {n: float(f[f"score__{n}"]) for n in layers},
                              {n: f[f"neurons__{n}"] for n in layers})
    rng_idx = np.sort(np.random.default_rng(config.seed + 1).choice(
        len(x_train), min(config.importance_samples, len(x_train)), replace=False))
    imp = compute_importance(model, x_train[rng_idx], np.asarray(y_train).reshape(-1)[rng_idx], layers=list(layers),
                             n_steps=config.n_steps, verbose=verbose)
    np.savez(path, **{f"score__{n}": imp.scores[n] for n in layers},
             **{f"neurons__{n}": imp.neurons[n] for n in layers})
    return imp
