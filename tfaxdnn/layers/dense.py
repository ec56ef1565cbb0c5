"""Approximate fully connected layer: `ApproxDense` (backed by the LUT matmul)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.ops.loader import load


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxDense(ApproxMixin, keras.layers.Dense):
    """`keras.layers.Dense` whose products go through a multiplier's table (inputs of any rank >= 2).

    Same extra arguments as `tfaxdnn.layers.ApproxConv2D`.
    """

    def __init__(self, *args, multiplier=None, multiplier_hash=None, signed=None, skip_fraction=0.0,
                 weight_mapping="none", mode_fractions=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_approx(multiplier, multiplier_hash, signed, skip_fraction, weight_mapping, mode_fractions)

    @property
    def n_outputs(self) -> int:
        return self.units

    def build(self, input_shape):
        super().build(input_shape)
        self._build_approx()

    def _channel_shape(self):
        return (1, self.units)

    @staticmethod
    def _flat(x):
        return tf.reshape(x, [-1, tf.shape(x)[-1]])

    def _lut_op(self, xq, kq, table, z_a, z_w):
        acc = load().tfax_approx_mat_mul(self._flat(xq), kq, table, z_a, z_w, multiplier=self.multiplier_name)
        return tf.reshape(acc, tf.concat([tf.shape(xq)[:-1], [self.units]], 0))

    def _float_op(self, x, k):
        y = tf.matmul(self._flat(x), k)
        return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.units]], 0))

    def get_config(self):
        return {**super().get_config(), **self._approx_config()}
