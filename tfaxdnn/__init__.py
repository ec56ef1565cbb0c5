"""tfaxdnn: approximate deep neural networks on TensorFlow/Keras with compiled LUT multipliers.

``tfaxdnn.approximate(model, plan)`` turns a float Keras 3 or tfmot-quantised tf_keras model into one whose
Conv2D / DepthwiseConv2D / Dense layers multiply through an 8x8 approximate multiplier's table. Submodules:
one folder per stage of the pipeline, `core` → `multipliers` → `quant` → `ops` (``tfaxdnn.nn``) → `plan` →
`layers` → `rewrite` → `hardware` → `xai` → `search` → `graphs` → `cli` (docs/architecture.md).
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
    "approximate": ("tfaxdnn.rewrite.keras_model", "approximate"),
    "plan_of": ("tfaxdnn.plan", "plan_of"),
    "UnknownNameError": ("tfaxdnn.core.errors", "UnknownNameError"),
    "evaluate": ("tfaxdnn.core.evaluation", "evaluate"),
    "custom_objects": ("tfaxdnn.layers", "custom_objects"),
}
#: the pipeline's stages, in order (docs/architecture.md), and the public modules of earlier layouts by their new home
_SUBMODULES = {name: f"tfaxdnn.{name}" for name in (
    "core", "multipliers", "quant", "ops", "nn", "plan", "layers", "rewrite", "hardware", "xai", "search", "graphs",
    "cli", "data", "models")}
_SUBMODULES.update({"kinds": "tfaxdnn.core.kinds", "skipping": "tfaxdnn.core.skipping",
                    "errors": "tfaxdnn.core.errors", "weight_mapping": "tfaxdnn.quant.weight_mapping"})

__all__ = ["__version__", "multipliers", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'tfaxdnn' has no attribute {name!r}")
    globals()[name] = value
    return value
