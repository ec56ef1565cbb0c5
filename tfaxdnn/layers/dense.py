"""Approximate fully connected layer: `ApproxDense` (the LUT matmul of `tfaxdnn.ops.nn` or the low-rank engine of
`tfaxdnn.ops.lowrank`)."""

from __future__ import annotations

import keras
from keras import ops

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.ops import backend, lowrank
from tfaxdnn.ops.lowrank_form import gemm_precision


def _flat(x):
    return ops.reshape(x, (-1, x.shape[-1]))


def _unflat(y, like, units: int):
    """``y [rows, units]`` back to ``like``'s leading axes."""
    if len(like.shape) == 2:
        return y
    return ops.reshape(y, tuple(ops.shape(like)[:-1]) + (units,))


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

    def _geometry(self) -> tuple:
        return ()

    def _lut_op(self, xq, kq, table, z_a, z_w):
        from tfaxdnn.ops import nn

        tf = backend.tensorflow()
        acc = nn.approx_matmul(_flat(xq), kq, table, z_a, z_w, multiplier_name=self.multiplier_name)
        return tf.reshape(acc, tf.concat([tf.shape(xq)[:-1], [self.units]], 0))

    def _lowrank_plan(self, form, kernel_shape):
        return gemm_precision(form, int(kernel_shape[0]))

    def _lowrank_acc(self, xq, kq, form, z_a, z_w, plan):
        return _unflat(lowrank.matmul_acc(_flat(xq), kq, form, z_a, z_w, plan), xq, self.units)

    def _exact_op(self, x, k):
        if backend.name() == "tensorflow":
            tf = backend.tensorflow()
            y = tf.matmul(tf.reshape(x, [-1, tf.shape(x)[-1]]), k)
            return tf.reshape(y, tf.concat([tf.shape(x)[:-1], [self.units]], 0))
        return ops.matmul(x, k)
