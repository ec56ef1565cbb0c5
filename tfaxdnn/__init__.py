"""tfaxdnn: approximate deep neural networks on TensorFlow/Keras with compiled LUT multipliers.

``tfaxdnn.approximate(model, plan)`` turns a float Keras 3 or tfmot-quantised tf_keras model into one whose
Conv2D / DepthwiseConv2D / Dense layers multiply through an 8x8 approximate multiplier's table. Submodules:
`multipliers`, `quant`, `nn` (the compiled op), `layers`, `weight_mapping`, `hardware`, `xai`, `search`.
TensorFlow-dependent parts are imported on first use, so ``import tfaxdnn`` stays light; the approximate layers are
registered with Keras as soon as Keras is imported (before or after tfaxdnn), so ``keras.models.load_model`` reads
approximate ``.keras`` files after a plain ``import tfaxdnn``.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

from tfaxdnn import multipliers  # noqa: E402  (light: numpy only)

class _RegisterLayersAfterKeras(importlib.abc.MetaPathFinder):
    """Imports `tfaxdnn.layers` (which registers the approximate layers) right after ``keras`` is imported."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            importlib.import_module("tfaxdnn.layers")

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    importlib.import_module("tfaxdnn.layers")
elif not any(isinstance(f, _RegisterLayersAfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterLayersAfterKeras())

_LAZY = {
    "Plan": ("tfaxdnn.plan", "Plan"),
    "LayerPlan": ("tfaxdnn.plan", "LayerPlan"),
    "QuantizationConfig": ("tfaxdnn.plan", "QuantizationConfig"),
    "approximate": ("tfaxdnn.approximation", "approximate"),
    "plan_of": ("tfaxdnn.plan", "plan_of"),
    "UnknownNameError": ("tfaxdnn.errors", "UnknownNameError"),
    "evaluate": ("tfaxdnn.evaluation", "evaluate"),
    "custom_objects": ("tfaxdnn.layers", "custom_objects"),
}
_SUBMODULES = ("kinds", "skipping", "errors", "nn", "quant", "layers", "weight_mapping", "hardware", "xai", "search", "data", "models")

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
