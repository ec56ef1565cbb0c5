"""``tfaxdnn.nn``: the functional API of the compiled LUT op. It lives in `tfaxdnn.ops.nn`; this name is kept for
``import tfaxdnn.nn as nn``."""

from tfaxdnn.ops.nn import approx_conv2d, approx_depthwise_conv2d, approx_matmul, quantize, table_tensor

__all__ = ["approx_conv2d", "approx_depthwise_conv2d", "approx_matmul", "quantize", "table_tensor"]
