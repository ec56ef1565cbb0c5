"""The reference split of a training set into the images a model is trained on and the validation images searches
select on (the test set is never part of it), with a hash that names it in model cards."""

from __future__ import annotations

import hashlib

import numpy as np

#: validation images held out of each training set by the reference models (`tfaxdnn.models.pretrained()`)
REFERENCE_VALIDATION = {"mnist": 5000, "cifar10": 5000}


def reference_split(labels, n_validation: int, seed: int = 0):
    """``(train_index, validation_index, split_hash)`` of a training set whose labels (in the file's order) are
    ``labels``: a seeded permutation, the last ``n_validation`` positions validation, both index arrays sorted.

    ``split_hash`` (sha256 hex of the validation indices and the labels) changes with the seed, the size and the
    file's order, so a model card names exactly the images its model never trained on."""
    labels = np.asarray(labels).reshape(-1)
    n = len(labels)
    if not 0 < n_validation < n:
        raise ValueError(f"`n_validation` must lie in (0, {n}) for a training set of {n} images. "
                         f"Received: {n_validation!r}")
    order = np.random.default_rng(seed).permutation(n)
    train, val = np.sort(order[:n - n_validation]), np.sort(order[n - n_validation:])
    return train, val, split_hash(val, labels)


def split_hash(validation_index, labels) -> str:
    """sha256 (hex) naming a validation split: its indices and the labels of the whole training set."""
    h = hashlib.sha256()
    h.update(np.asarray(validation_index, dtype="<i8").tobytes())
    h.update(np.asarray(labels, dtype="<i8").reshape(-1).tobytes())
    return h.hexdigest()
