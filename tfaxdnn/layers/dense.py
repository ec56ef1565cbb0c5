"""Approximate fully connected layer: `ApproxDense` (through the LUT matmul of `tfaxdnn.ops.nn`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.ops import nn


def _flat(x):
    return tf.reshape(x, [-1, tf.shape(x)[-1]])


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxDense(ApproxMixin, keras.layers.Dense):
    """`keras.layers.Dense` whose products go through a multiplier's table (inputs of any rank >= 2).

    Same extra arguments as `tfaxdnn.layers.ApproxConv2D`. Keras 3's ``Dense.call`` has no product hook, so `call`
    is that call (bias, activation) around `matmul_op`, then the skip mask.
    """

    @property
    def n_outputs(self) -> int:
        return self.units

    def call(self, inputs):
        return self._skip(self._bias_activation(self.matmul_op(inputs, self.kernel)))

    def matmul_op(self, inputs, kernel):
        """``inputs @ kernel`` through the table (the counterpart of the convolutions' `convolution_op`)."""
        return self._product(inputs, kernel)

    def _lut_op(self, xq, kq, table, z_a, z_w):
        acc = nn.approx_matmul(_flat(xq), kq, table, z_a, z_w, multiplier_name=self.multiplier_name)
        return tf.reshape(acc, tf.concat([tf.shape(xq)[:-1], [self.units]], 0))

    def _exact_op(self, x, k):
        y = tf.matmul(_flat(x), k)
        return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.units]], 0))
