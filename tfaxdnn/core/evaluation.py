"""`evaluate(model, x, y)`: accuracy overall and per equal-sized batch (the per-batch series feeds STL queries);
`input_range_problem`: whether inputs miss the range an approximate model's first layer was calibrated on."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Optional, Tuple

import numpy as np

__all__ = ["Evaluation", "evaluate", "as_labels", "predict_labels", "predict_scores", "calibrated_input_range",
           "input_range_problem"]

#: layers that may stand between a model's input and its first approximate layer without changing the range of the
#: values that layer reads (class names: this module imports no layer code)
RANGE_KEEPING = frozenset({"InputLayer", "Flatten", "Reshape", "Permute", "Dropout", "SpatialDropout1D",
                           "SpatialDropout2D", "SpatialDropout3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
                           "Cropping1D", "Cropping2D", "Cropping3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
                           "Identity"})


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


def calibrated_input_range(model) -> Optional[Tuple[str, float, float]]:
    """``(layer name, low, high)``: the real input values the 8-bit input codes of ``model``'s first approximate layer
    cover (``scale * (code - zero_point)`` at the ends of its code range, as calibration set them), when that layer
    reads the model's input (only `RANGE_KEEPING` layers before it); None otherwise (a float model, or layers that
    transform the input first). Duck-typed: an approximate layer is one with ``ax_input_scale`` and
    ``ax_input_zero_point``."""
    for layer in getattr(model, "layers", ()):
        if hasattr(layer, "ax_input_scale") and hasattr(layer, "ax_input_zero_point"):
            scale = float(np.asarray(layer.ax_input_scale))
            zero_point = int(np.asarray(layer.ax_input_zero_point))
            lo, hi = (-128, 127) if getattr(layer, "signed", True) else (0, 255)
            return layer.name, scale * (lo - zero_point), scale * (hi - zero_point)
        if type(layer).__name__ not in RANGE_KEEPING:
            return None
    return None


def input_range_problem(model, x, min_share: float = 0.02, max_outside: float = 0.01) -> Optional[str]:
    """Why ``x`` looks scaled unlike the data ``model`` (an approximate model, see `calibrated_input_range`) was
    calibrated on, or None: more than ``max_outside`` of its values lie more than the calibrated range's width
    beyond it (they saturate the input codes), or its values span less than ``min_share`` of that range (they fall
    on a few codes). Float models, and inputs that a layer transforms first, are never flagged."""
    found = calibrated_input_range(model)
    x = np.asarray(x)
    if found is None or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        return None
    name, lo, hi = found
    width = hi - lo
    if not width > 0:
        return None
    x_lo, x_hi = float(np.min(x)), float(np.max(x))
    where = (f"layer '{name}' was calibrated on input values in [{lo:.4g}, {hi:.4g}], but these inputs span "
             f"[{x_lo:.4g}, {x_hi:.4g}]")
    outside = float(np.mean((x < lo - width) | (x > hi + width)))
    if outside > max_outside:
        return (f"{where}: {outside:.0%} of them lie far outside the calibrated range and saturate its 8-bit "
                "input codes; the inputs are probably scaled unlike the calibration data")
    share = (x_hi - x_lo) / width
    if 0 < share < min_share:
        return (f"{where}, {share:.2%} of the calibrated range (about {max(1, round(share * 255))} of its 256 input "
                "codes); the inputs are probably scaled unlike the calibration data")
    return None


def evaluate(model, x, y, batch_size: int = 256, check_inputs: bool = True) -> Evaluation:
    """Top-1 accuracy of ``model`` on ``(x, y)`` (integer or one-hot labels). With ``check_inputs``, a
    ``UserWarning`` says when ``x`` misses the input range an approximate ``model`` was calibrated on
    (`input_range_problem`)."""
    y = as_labels(y)
    if len(y) != len(x):
        raise ValueError(f"`x` and `y` must have the same number of samples. Received: {len(x)} and {len(y)}")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: {batch_size}")
    problem = input_range_problem(model, x) if check_inputs else None
    if problem:
        warnings.warn(problem + ".", UserWarning, stacklevel=2)
    correct = predict_labels(model, x, batch_size) == y
    full = len(y) // batch_size * batch_size
    per_batch = correct[:full].reshape(-1, batch_size).mean(axis=1) if full else np.zeros(0)
    return Evaluation(float(correct.mean()), per_batch, len(y), batch_size)
