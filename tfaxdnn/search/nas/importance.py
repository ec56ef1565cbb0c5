"""Conductance of a search's layers (training images), cached next to its checkpoint.

XAI-NAS needs it for the XAI-Gen seeds and the skipping order; the file (``importance.npz``) makes a resumed search
reuse the same scores instead of recomputing them. The file records the layers it scores (``layers__``) and a digest
of the model's weights, the conductance settings and the training images used (``key__``); a file of another model,
other images or other settings is refused (`CheckpointError`), never half-read. Files written before it recorded them
are read when they score every layer.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Sequence

import numpy as np

from tfaxdnn.search.checkpoint import CheckpointError, array_digest
from tfaxdnn.search.nas.config import NASConfig

__all__ = ["cached_importance"]


def _refuse(path: str, why: str) -> CheckpointError:
    return CheckpointError(f"{path} {why}: it belongs to a search with other settings. Resume with the same model, "
                           "data and settings, or use another --out (or delete the file).")


def _read(path: str, layers: list, key: str):
    """The cached `Importance`, or `CheckpointError` when the file belongs to other layers, weights or images."""
    from tfaxdnn.search.xaigen import Importance

    with np.load(path) as f:
        held = ([str(n) for n in f["layers__"]] if "layers__" in f.files else
                [k[len("score__"):] for k in f.files if k.startswith("score__")])
        if held != layers and ("layers__" in f.files or not set(layers) <= set(held)):
            raise _refuse(path, f"holds the conductance of layers {held}, not of this model's approximable layers "
                                f"{layers}")
        if "key__" in f.files and str(f["key__"]) != key:
            raise _refuse(path, "holds the conductance of another model (other weights), other training images or "
                                "other conductance settings")
        return Importance(list(layers), {n: float(f[f"score__{n}"]) for n in layers},
                          {n: f[f"neurons__{n}"] for n in layers})


def cached_importance(model, x_train, y_train, layers: Sequence[str], config: NASConfig, path: str, verbose: bool):
    """`Importance` of every approximable layer on ``config.importance_samples`` training images (seeded by
    ``config.seed + 1``); read from ``path`` when it exists (and belongs to this model, these images and
    settings), else computed and saved there."""
    from tfaxdnn.search.xaigen import compute_importance

    layers = list(layers)
    rng_idx = np.sort(np.random.default_rng(config.seed + 1).choice(
        len(x_train), min(config.importance_samples, len(x_train)), replace=False))
    x, y = x_train[rng_idx], np.asarray(y_train).reshape(-1)[rng_idx]
    key = hashlib.sha256(json.dumps({"layers": layers, "model": array_digest(*model.get_weights()),
                                     "images": array_digest(x, y), "n_steps": config.n_steps}).encode()).hexdigest()
    if os.path.isfile(path):
        return _read(path, layers, key)
    imp = compute_importance(model, x, y, layers=layers, n_steps=config.n_steps, verbose=verbose)
    imp.save(path, key)
    return imp
