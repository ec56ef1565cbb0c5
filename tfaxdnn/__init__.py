"""tfaxdnn: approximate deep neural networks on TensorFlow/Keras with compiled LUT multipliers.

``tfaxdnn.approximate(model, plan)`` turns a float Keras 3 or tfmot-quantised tf_keras model into one whose
Conv2D / DepthwiseConv2D / Dense layers multiply through an 8x8 approximate multiplier's table. Submodules:
`multipliers`, `quant`, `nn` (the compiled op), `layers`, `weight_mapping`, `hardware`, `xai`, `search`.
TensorFlow-dependent parts are imported on first use, so ``import tfaxdnn`` stays light.
"""

import importlib

__version__ = "0.1.0"

from tfaxdnn import multipliers  # noqa: E402  (light: numpy only)

_LAZY = {
    "Plan": ("tfaxdnn.plan", "Plan"),
    "LayerPlan": ("tfaxdnn.plan", "LayerPlan"),
    "QuantizationConfig": ("tfaxdnn.plan", "QuantizationConfig"),
    "approximate": ("tfaxdnn.approximation", "approximate"),
    "evaluate": ("tfaxdnn.evaluation", "evaluate"),
    "custom_objects": ("tfaxdnn.layers", "custom_objects"),
}
_SUBMODULES = ("nn", "quant", "layers", "weight_mapping", "hardware", "xai", "search", "data", "models")

__all__ = ["__version__", "multipliers", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"tfaxdnn.{name}")
    else:
        raise AttributeError(f"module 'tfaxdnn' has no attribute {name!r}")
    globals()[name] = value
    return value
