"""`OrderedGlobalAveragePooling2D`: a global average pooling whose sum has one fixed order on every backend and device.

`tfaxdnn.approximate` puts it in place of ``GlobalAveragePooling2D`` (same configuration, no weights). A float mean
is not an approximate layer, but its rounding decides the next approximate layer's input codes: on the GPU (XLA)
and the CPU (TensorFlow) a reduction adds in different orders, and one unit in the last place of the pooled value
moved one input code of ResNet-20's and MobileNet-V2's final dense layer across a rounding boundary (1 image in
10,000 each). Here the ``H * W`` positions are added pairwise in a fixed tree, each level one addition of two strided
slices (no reduction op whose order a backend chooses, and nothing a graph optimiser merges into one ``AddN``),
and the sum is divided by ``H * W`` correctly rounded (`tfaxdnn.ops.backend.divide`).
"""

from __future__ import annotations

import keras

from tfaxdnn.ops import backend

__all__ = ["OrderedGlobalAveragePooling2D"]


@keras.saving.register_keras_serializable(package="tfaxdnn")
class OrderedGlobalAveragePooling2D(keras.layers.GlobalAveragePooling2D):
    """``GlobalAveragePooling2D`` with a fixed-order (pairwise) sum and a correctly rounded division, so that every
    Keras backend and device gives the same bits. Spatial sizes must be known when the layer is built."""

    def build(self, input_shape):
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        if any(v is None for v in spatial):
            raise ValueError(f"{self.name}: OrderedGlobalAveragePooling2D needs static spatial sizes; received an "
                             f"input of shape {tuple(input_shape)}.")
        super().build(input_shape)

    def call(self, inputs):
        ops = keras.ops
        x = inputs if self.data_format == "channels_last" else ops.transpose(inputs, (0, 2, 3, 1))
        h, w, c = (int(v) for v in x.shape[1:])          # static: `build` refuses unknown spatial sizes
        n = h * w
        x = ops.reshape(ops.cast(x, "float32"), (-1, n, c))
        while int(x.shape[1]) > 1:
            m = int(x.shape[1])
            pairs = x[:, 0:m - m % 2:2, :] + x[:, 1:m - m % 2:2, :]
            x = pairs if m % 2 == 0 else ops.concatenate([pairs, x[:, m - 1:m, :]], axis=1)
        mean = backend.divide(x[:, 0, :], float(n))
        if self.keepdims:
            mean = ops.reshape(mean, (-1, 1, 1, c) if self.data_format == "channels_last" else (-1, c, 1, 1))
        return ops.cast(mean, self.compute_dtype)
