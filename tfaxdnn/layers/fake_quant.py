"""`FakeQuant`: TF's nudged 8-bit fake quantisation with fixed min/max (used to carry tfmot activation ranges)."""

from __future__ import annotations

import keras

from tfaxdnn.ops import backend, codes
from tfaxdnn.quant import QuantParams
from tfaxdnn.quant.fake_quant import nudged_params


@keras.saving.register_keras_serializable(package="tfaxdnn")
class FakeQuant(keras.layers.Layer):
    """``tf.quantization.fake_quant_with_min_max_vars`` with stored (non-trainable) ``min``/``max`` (on other Keras
    backends the same arithmetic in ``keras.ops``, `tfaxdnn.ops.codes.fake_quant`, bit-identical).

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
        if backend.name() != "tensorflow":
            return codes.fake_quant(inputs, self.min, self.max, self.num_bits, self.narrow_range)
        tf = backend.tensorflow()
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, tf.convert_to_tensor(self.min), tf.convert_to_tensor(self.max), num_bits=self.num_bits,
            narrow_range=self.narrow_range)

    def quant_params(self, signed: bool) -> QuantParams:
        """The grid as `QuantParams` (TF's nudging, float32 scale); int8 codes are the uint8 codes minus 128."""
        return nudged_params(float(self.min.numpy()), float(self.max.numpy()), self.num_bits, self.narrow_range,
                             signed)

    def get_config(self):
        return {**super().get_config(), "num_bits": self.num_bits, "narrow_range": self.narrow_range}
