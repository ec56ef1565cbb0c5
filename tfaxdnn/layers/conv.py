"""Approximate convolutions: `ApproxConv2D` and `ApproxDepthwiseConv2D` (NHWC; the LUT op of `tfaxdnn.ops.nn` or
the low-rank engine of `tfaxdnn.ops.lowrank`)."""

from __future__ import annotations

import keras

from tfaxdnn.layers.base import ApproxMixin
from tfaxdnn.ops import backend, lowrank
from tfaxdnn.ops.lowrank_form import gemm_precision


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxConv2D(ApproxMixin, keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose products go through an 8x8 multiplier's lookup table.

    Takes the `keras.layers.Conv2D` arguments (``groups=1`` and ``channels_last`` only) and those of
    `tfaxdnn.layers.ApproxMixin` (``multiplier``, ``skip_fraction``, ``weight_mapping``, ...). Keras's own call
    runs, with `convolution_op` replaced.
    """

    @property
    def n_outputs(self) -> int:
        return self.filters

    def convolution_op(self, inputs, kernel):
        return self._product(inputs, kernel)

    def _geometry(self) -> tuple:
        return tuple(self.strides), self.padding.upper(), tuple(self.dilation_rate)

    def _lut_op(self, xq, kq, table, z_a, z_w):
        from tfaxdnn.ops import nn

        return nn.approx_conv2d(xq, kq, table, self.strides, self.padding, self.dilation_rate, z_a, z_w,
                                multiplier_name=self.multiplier_name)

    def _lowrank_plan(self, form, kernel_shape):
        return gemm_precision(form, int(kernel_shape[0] * kernel_shape[1] * kernel_shape[2]))

    def _lowrank_acc(self, xq, kq, form, z_a, z_w, plan):
        return lowrank.conv2d_acc(xq, kq, form, z_a, z_w, tuple(self.strides), self.padding.upper(),
                                  tuple(self.dilation_rate), plan)

    def _exact_op(self, x, k):
        if backend.name() == "tensorflow":
            # not Keras's convolution_op (tf.nn.convolution): its dilated kernel gradient differs in the last bits
            tf = backend.tensorflow()
            return tf.nn.conv2d(x, k, self.strides, self.padding.upper(), dilations=self.dilation_rate)
        return keras.ops.conv(x, k, self.strides, self.padding, self.data_format, self.dilation_rate)


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxDepthwiseConv2D(ApproxMixin, keras.layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` through a multiplier's table (output channel ``c * depth_multiplier + m``).

    Same extra arguments as `ApproxConv2D`. Keras 3's ``DepthwiseConv2D.call`` has no product hook, so `call` is
    that call (bias, activation) around `convolution_op`, then the skip mask.
    """

    @property
    def n_outputs(self) -> int:
        return int(self.kernel.shape[2] * self.kernel.shape[3])

    def call(self, inputs):
        return self._skip(self._bias_activation(self.convolution_op(inputs, self.kernel)))

    def convolution_op(self, inputs, kernel):
        return self._product(inputs, kernel)

    def _geometry(self) -> tuple:
        return tuple(self.strides), self.padding.upper(), tuple(self.dilation_rate)

    def _lut_op(self, xq, kq, table, z_a, z_w):
        from tfaxdnn.ops import nn

        return nn.approx_depthwise_conv2d(xq, kq, table, self.strides, self.padding, self.dilation_rate, z_a, z_w,
                                          multiplier_name=self.multiplier_name)

    def _lowrank_plan(self, form, kernel_shape):
        return lowrank.depthwise_precision(form, int(kernel_shape[0] * kernel_shape[1]))

    def _lowrank_acc(self, xq, kq, form, z_a, z_w, plan):
        return lowrank.depthwise_acc(xq, kq, form, z_a, z_w, tuple(self.strides), self.padding.upper(),
                                     tuple(self.dilation_rate), plan)

    def _exact_op(self, x, k):
        return keras.ops.depthwise_conv(x, k, self.strides, self.padding, self.data_format, self.dilation_rate)
