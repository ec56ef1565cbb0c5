"""`evaluate(model, x, y)`: accuracy overall and per equal-sized batch (the per-batch series feeds STL queries)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Evaluation", "evaluate", "as_labels", "predict_labels", "predict_scores"]


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


def predict_scores(model, x, batch_size: int = 256) -> np.ndarray:
    """``model``'s outputs for every sample of ``x``, by eager batched forward passes.

    Eager calls rather than ``model.predict``: ``predict`` traces a new ``tf.function`` for every new model, which
    dominated the time of a search that scores hundreds of candidate models (3.8x on LeNet-5, 1.4x on ResNet-8 at
    1,000 images); the values are the same (the approximate layers are bit-identical across batch sizes and modes).
    """
    x = np.asarray(x)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: {batch_size}")
    parts = [np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,))


def predict_labels(model, x, batch_size: int = 256) -> np.ndarray:
    """Arg-max class of ``model`` (logits or probabilities) for every sample of ``x``."""
    out = predict_scores(model, x, batch_size)
    if out.ndim != 2:
        raise ValueError(f"`model` must output [N, classes] scores. Received: shape {out.shape}")
    return out.argmax(axis=1)


def as_labels(y) -> np.ndarray:
    """Integer class labels (int64, 1-D) from integer or one-hot labels."""
    y = np.asarray(y)
    return (y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)).astype(np.int64)


def evaluate(model, x, y, batch_size: int = 256) -> Evaluation:
    """Top-1 accuracy of ``model`` on ``(x, y)`` (integer or one-hot labels)."""
    y = as_labels(y)
    if len(y) != len(x):
        raise ValueError(f"`x` and `y` must have the same number of samples. Received: {len(x)} and {len(y)}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: {batch_size}")
    correct = predict_labels(model, x, batch_size) == y
    full = len(y) // batch_size * batch_size
    per_batch = correct[:full].reshape(-1, batch_size).mean(axis=1) if full else np.zeros(0)
    return Evaluation(float(correct.mean()), per_batch, len(y), batch_size)
