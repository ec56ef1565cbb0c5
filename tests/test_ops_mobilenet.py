"""The small MobileNet-V2 (tfaxdnn.models.mobilenet_v2_cifar): its depthwise layers are the benchmark's shapes and
the whole model runs through the LUT ops after tfaxdnn.approximate."""

import keras
import numpy as np

import tfaxdnn
from tfaxdnn import models
from tfaxdnn.layers import ApproxDepthwiseConv2D


def test_mobilenet_v2_cifar_depthwise_layers_and_approximation():
    keras.utils.set_random_seed(0)
    model = models.mobilenet_v2_cifar()
    dw = [layer for layer in model.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    # (input channels, input size, stride): block1 unexpanded, then expansion 6 of 16, 24, 24, 32, 32, 64 channels
    assert [(layer.input.shape[-1], layer.input.shape[1], layer.strides[0]) for layer in dw] == [
        (32, 32, 1), (96, 32, 1), (144, 32, 1), (144, 32, 2), (192, 16, 1), (192, 16, 2), (384, 8, 1)]
    assert model.output.shape[-1] == 10

    x = np.random.default_rng(0).random((4, 32, 32, 3), np.float32)
    y_float = model(x, training=False).numpy()
    # through the exact table (mul8s_1KV6) only 8-bit quantisation separates the model from float
    exact = tfaxdnn.approximate(model, tfaxdnn.Plan(default_multiplier="mul8s_1KV6"), calibration_data=x)
    assert sum(isinstance(layer, ApproxDepthwiseConv2D) for layer in exact.layers) == 7
    y = exact(x, training=False).numpy()
    assert y.shape == (4, 10) and np.corrcoef(y.ravel(), y_float.ravel())[0, 1] > 0.999
