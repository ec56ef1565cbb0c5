"""`evaluate(model, x, y)`: accuracy overall and per equal-sized batch (the per-batch series feeds STL queries)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Evaluation", "evaluate", "predict_labels"]


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Accuracy of a classifier on ``n`` samples.

    Attributes:
        accuracy: float, fraction correct over all samples.
        batch_accuracies: ``[n // batch_size]`` accuracies of consecutive equal batches (a remainder smaller than
            ``batch_size`` counts in ``accuracy`` only).
        n: int, samples evaluated.
        batch_size: int.
    """

    accuracy: float
    batch_accuracies: np.ndarray
    n: int
    batch_size: int


def predict_labels(model, x, batch_size: int = 256) -> np.ndarray:
    """Arg-max class of ``model`` (logits or probabilities) for every sample of ``x``."""
    out = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if out.ndim != 2:
        raise ValueError(f"`model` must output [N, classes] scores. Received: shape {out.shape}")
    return out.argmax(axis=1)


def evaluate(model, x, y, batch_size: int = 256) -> Evaluation:
    """Top-1 accuracy of ``model`` on ``(x, y)`` (integer or one-hot labels)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"`x` and `y` must have the same number of samples. Received: {len(x)} and {len(y)}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: {batch_size}")
    correct = predict_labels(model, x, batch_size) == y
    full = len(y) // batch_size * batch_size
    per_batch = correct[:full].reshape(-1, batch_size).mean(axis=1) if full else np.zeros(0)
    return Evaluation(float(correct.mean()), per_batch, len(y), batch_size)
