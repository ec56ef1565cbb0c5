"""Approximate convolutions: `ApproxConv2D` and `ApproxDepthwiseConv2D` (NHWC, backed by `tfaxdnn.ops.nn`)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tfaxdnn.layers.base import ApproxMixin, check_channels_last
from tfaxdnn.ops.loader import load


def _four(pair):
    return [1, int(pair[0]), int(pair[1]), 1]


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxConv2D(ApproxMixin, keras.layers.Conv2D):
    """`keras.layers.Conv2D` whose products go through an 8x8 multiplier's lookup table.

    Args:
        multiplier: str or `Multiplier`, the multiplier (default: exact signed ``mul8s_1KV6``).
        skip_fraction: float, recorded fraction of skipped output channels (the mask itself is a weight).
        weight_mapping: str, recorded weight-mapping mode (``"none"``, ``"uniform"``, ``"data"``).
        multiplier_hash, signed: recorded by `get_config`; normally left unset.
        **kwargs: the `keras.layers.Conv2D` arguments (``groups=1`` and ``channels_last`` only).

    Quantisation parameters are set with `set_quantization` (``tfaxdnn.approximate`` does it).
    """

    def __init__(self, *args, multiplier=None, multiplier_hash=None, signed=None, skip_fraction=0.0,
                 weight_mapping="none", mode_fractions=None, **kwargs):
        super().__init__(*args, **kwargs)
        check_channels_last(self)
        if self.groups != 1:
            raise ValueError(f"Layer '{self.name}' (Conv2D): grouped convolutions cannot be approximated. "
                             f"Received: groups={self.groups}")
        self._init_approx(multiplier, multiplier_hash, signed, skip_fraction, weight_mapping, mode_fractions)

    @property
    def n_outputs(self) -> int:
        return self.filters

    def build(self, input_shape):
        super().build(input_shape)
        self._build_approx()

    def _channel_shape(self):
        return (1, 1, 1, self.filters)

    def _lut_op(self, xq, kq, table, z_a, z_w):
        return load().tfax_approx_conv2d(xq, kq, table, z_a, z_w, strides=_four(self.strides),
                                         padding=self.padding.upper(), dilations=_four(self.dilation_rate),
                                         multiplier=self.multiplier_name)

    def _float_op(self, x, k):
        return tf.nn.conv2d(x, k, strides=_four(self.strides), padding=self.padding.upper(),
                            dilations=_four(self.dilation_rate))

    def get_config(self):
        return {**super().get_config(), **self._approx_config()}


@keras.saving.register_keras_serializable(package="tfaxdnn")
class ApproxDepthwiseConv2D(ApproxMixin, keras.layers.DepthwiseConv2D):
    """`keras.layers.DepthwiseConv2D` through a multiplier's table (output channel ``c * depth_multiplier + m``).

    Same extra arguments as `ApproxConv2D`.
    """

    def __init__(self, *args, multiplier=None, multiplier_hash=None, signed=None, skip_fraction=0.0,
                 weight_mapping="none", mode_fractions=None, **kwargs):
        super().__init__(*args, **kwargs)
        check_channels_last(self)
        self._init_approx(multiplier, multiplier_hash, signed, skip_fraction, weight_mapping, mode_fractions)

    @property
    def n_outputs(self) -> int:
        return int(self.kernel.shape[2] * self.kernel.shape[3])

    def build(self, input_shape):
        super().build(input_shape)
        self._build_approx()

    def _channel_shape(self):
        return (1, 1, int(self.kernel.shape[2]), int(self.kernel.shape[3]))

    def _lut_op(self, xq, kq, table, z_a, z_w):
        return load().tfax_approx_depthwise_conv2d(xq, kq, table, z_a, z_w, strides=_four(self.strides),
                                                   padding=self.padding.upper(),
                                                   dilations=_four(self.dilation_rate),
                                                   multiplier=self.multiplier_name)

    def _float_op(self, x, k):
        return tf.nn.depthwise_conv2d(x, k, strides=_four(self.strides), padding=self.padding.upper(),
                                      dilations=tuple(self.dilation_rate))

    def get_config(self):
        return {**super().get_config(), **self._approx_config()}
