"""`FakeQuant`: TF's nudged 8-bit fake quantisation with fixed min/max (used to carry tfmot activation ranges)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfaxdnn.quant import QuantParams


@keras.saving.register_keras_serializable(package="tfaxdnn")
class FakeQuant(keras.layers.Layer):
    """``tf.quantization.fake_quant_with_min_max_vars`` with stored (non-trainable) ``min``/``max``.

    Args:
        num_bits: int, 8.
        narrow_range: bool, codes ``[1, 255]`` instead of ``[0, 255]``.
    """

    def __init__(self, num_bits: int = 8, narrow_range: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_bits, self.narrow_range = int(num_bits), bool(narrow_range)

    def build(self, input_shape):
        self.min = self.add_weight(name="min", shape=(), initializer=keras.initializers.Constant(-6.0),
                                   trainable=False, autocast=False)
        self.max = self.add_weight(name="max", shape=(), initializer=keras.initializers.Constant(6.0),
                                   trainable=False, autocast=False)

    def call(self, inputs):
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, tf.convert_to_tensor(self.min), tf.convert_to_tensor(self.max), num_bits=self.num_bits,
            narrow_range=self.narrow_range)

    def quant_params(self, signed: bool) -> QuantParams:
        """The grid as `QuantParams` (TF's nudging, float32 scale); int8 codes are the uint8 codes minus 128."""
        return nudged_params(float(self.min.numpy()), float(self.max.numpy()), self.num_bits, self.narrow_range,
                             signed)

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits, "narrow_range": self.narrow_range}


def nudged_params(x_min: float, x_max: float, num_bits: int = 8, narrow_range: bool = False,
                  signed: bool = True) -> QuantParams:
    """TF's ``Nudge`` (fake_quant_ops_functor.h) in float32, as `QuantParams` of int8 or uint8 codes."""
    if num_bits != 8:
        raise ValueError(f"Only 8-bit fake quantisation maps onto 8x8 multipliers. Received: num_bits={num_bits}")
    qmin, qmax = np.float32(1 if narrow_range else 0), np.float32(255)
    lo, hi = np.float32(x_min), np.float32(x_max)
    scale = (hi - lo) / (qmax - qmin)
    zp_from_min = qmin - lo / scale
    zp = qmin if zp_from_min < qmin else qmax if zp_from_min > qmax else np.float32(np.floor(zp_from_min + 0.5))
    zp = int(zp) - (128 if signed else 0)
    return QuantParams(np.float32(scale), zp, "int8" if signed else "uint8", None, False)
