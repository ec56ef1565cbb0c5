"""``ExplanationCallback``: while an approximate model is fine-tuned, write the exact-vs-approximate explanation grid
and the similarity after every ``every`` epochs (in the style of tf-explain's callbacks)."""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import keras
import numpy as np

from tfaxdnn.xai.explanations.compare import METHODS, explain
from tfaxdnn.xai.explanations.plots import save_explanation_grid


class ExplanationCallback(keras.callbacks.Callback):
    """After every ``every`` epochs: ``explain(exact_model, <model being trained>, x, y)``, the grid to
    ``out_dir/epoch_NNN.png`` and one JSON line per epoch (mean similarity per method) to
    ``out_dir/similarity.jsonl``; with ``log_dir`` also TensorBoard scalars ``explain/<method>/<score>`` and the grid
    image.

    Args:
        exact_model: the exact (float) reference model.
        validation_data: ``(x, y)`` images to explain (keep it small: a few images), ``y`` may be None.
        out_dir: folder for the PNGs and ``similarity.jsonl``.
        methods, seed, explain_kwargs: passed to ``explain``.
        log_dir: TensorBoard log folder (optional).
        every: epochs between explanations (1: every epoch).
    """

    def __init__(self, exact_model, validation_data, out_dir, methods: Sequence[str] = METHODS, seed: int = 0,
                 log_dir: Optional[str] = None, every: int = 1, **explain_kwargs):
        super().__init__()
        x, y = validation_data if isinstance(validation_data, (tuple, list)) else (validation_data, None)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        self.exact_model, self.x, self.y = exact_model, np.asarray(x), None if y is None else np.asarray(y)
        self.out_dir, self.methods, self.seed, self.every = os.fspath(out_dir), tuple(methods), seed, every
        self.log_dir, self.explain_kwargs = log_dir, explain_kwargs
        self.history = []
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        res = explain(self.exact_model, self.model, self.x, self.y, methods=self.methods, seed=self.seed,
                      **self.explain_kwargs)
        os.makedirs(self.out_dir, exist_ok=True)
        path = save_explanation_grid(res, os.path.join(self.out_dir, f"epoch_{epoch + 1:03d}.png"),
                                     title=f"exact vs approximate model after epoch {epoch + 1}")
        entry = {"epoch": epoch + 1, "mean": res.mean(), "grid": path}
        self.history.append(entry)
        with open(os.path.join(self.out_dir, "similarity.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")
        if self.log_dir:
            self._tensorboard(epoch + 1, res.mean(), path)

    def _tensorboard(self, step, means, path):
        """Scalars and the grid image through ``tf.summary.write`` with TensorBoard's plugin metadata (TensorFlow's
        ``tf.summary.scalar``/``image`` need the tensorboard package, which tensorflow-cpu does not install)."""
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        def meta(plugin):
            m = summary_pb2.SummaryMetadata()
            m.plugin_data.plugin_name = plugin
            return m.SerializeToString()

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        png = tf.io.read_file(path)
        h, w = (int(v) for v in tf.shape(tf.io.decode_png(png))[:2])
        with self._writer.as_default():
            for method, scores in means.items():
                for score, value in scores.items():
                    tf.summary.write(f"explain/{method}/{score}", tf.constant(value, tf.float32), step=step,
                                     metadata=meta("scalars"))
            tf.summary.write("explain/grid", tf.stack([tf.as_string(w), tf.as_string(h), png]), step=step,
                             metadata=meta("images"))
        self._writer.flush()
