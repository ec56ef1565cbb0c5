"""Activation-range calibration from representative data (deterministic for a given data order).

Methods:
- ``"minmax"``: global min and max over all batches;
- ``"moving_average"``: exponential moving average of per-batch min/max (``momentum``, tfmot's default 0.999
  is for training; 0.9 here since calibration sees few batches), first batch initialises;
- ``"percentile"``: mean over batches of each batch's ``(100 - p)``-th and ``p``-th percentiles (default p=99.99).
"""

from __future__ import annotations

from typing import Dict, Iterable

import numpy as np

METHODS = ("minmax", "moving_average", "percentile")


class RangeTracker:
    """Accumulates the range of a stream of arrays with one of :data:`METHODS`."""

    def __init__(self, method: str = "minmax", momentum: float = 0.9, percentile: float = 99.99):
        if method not in METHODS:
            raise ValueError(f"Unknown calibration method {method!r}; choose one of {list(METHODS)}.")
        self.method, self.momentum, self.percentile = method, momentum, percentile
        self._lo = self._hi = None
        self._n = 0

    def update(self, x) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        if x.size == 0:
            return
        if self.method == "percentile":
            lo, hi = np.percentile(x, [100.0 - self.percentile, self.percentile])
        else:
            lo, hi = float(x.min()), float(x.max())
        if self._n == 0:
            self._lo, self._hi = lo, hi
        elif self.method == "minmax":
            self._lo, self._hi = min(self._lo, lo), max(self._hi, hi)
        elif self.method == "moving_average":
            m = self.momentum
            self._lo, self._hi = m * self._lo + (1 - m) * lo, m * self._hi + (1 - m) * hi
        else:  # running mean of percentiles
            self._lo += (lo - self._lo) / (self._n + 1)
            self._hi += (hi - self._hi) / (self._n + 1)
        self._n += 1

    @property
    def range(self):
        if self._n == 0:
            raise ValueError("RangeTracker saw no data: calibration data is empty.")
        return float(self._lo), float(self._hi)


def batches(data, batch_size: int = 128) -> Iterable[np.ndarray]:
    """Yields numpy batches from an array, a ``(x, y)`` tuple, a ``tf.data.Dataset`` or an iterable of batches."""
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]
    if isinstance(data, np.ndarray):
        if len(data) == 0:
            raise ValueError("Calibration data is empty.")
        for i in range(0, len(data), batch_size):
            yield data[i:i + batch_size]
        return
    for item in data:
        if isinstance(item, (tuple, list)):
            item = item[0]
        yield np.asarray(item)


def calibrate_tensors(model, tensors: Dict[str, object], data, method: str = "minmax",
                      batch_size: int = 128, **kw) -> Dict[str, tuple]:
    """Ranges of intermediate tensors of a Keras functional model: ``{key: (min, max)}``.

    ``tensors`` maps keys to symbolic tensors of ``model`` (e.g. ``layer.input``); one probe model computes all.
    """
    import keras

    keys = list(tensors)
    if not keys:
        return {}
    probe = keras.Model(model.inputs[0] if len(model.inputs) == 1 else model.inputs, [tensors[k] for k in keys])
    trackers = {k: RangeTracker(method, **kw) for k in keys}
    for batch in batches(data, batch_size):
        outs = probe(batch, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for k, v in zip(keys, outs):
            trackers[k].update(np.asarray(v))
    return {k: t.range for k, t in trackers.items()}
