"""tfmot-quantised tf_keras models -> Keras 3 approximate models that reuse tfmot's own quantisation grids.

A model from ``tfmot.quantization.keras.quantize_model`` (default 8-bit scheme) runs, at inference:

* ``QuantizeLayer``: ``fake_quant_with_min_max_vars`` on the model input (asymmetric, 8 bits);
* ``QuantizeWrapperV2(Conv2D | DepthwiseConv2D | Dense)``: the kernel fake-quantised with its stored
  ``kernel_min/max`` (symmetric, narrow range, per channel for Conv2D), the float bias, the activation, then the
  ``post_activation`` fake quantisation (when the config quantises it);
* other wrappers: the float layer, then its ``output`` fake quantisation when present.

The import rebuilds that graph in Keras 3: tfmot's activation quantisers become `FakeQuant` layers with the same
min/max; a planned layer becomes an approximate layer whose input grid is the `FakeQuant` grid feeding it (through
grid-preserving layers such as pooling and reshapes) and whose kernel grid is tfmot's; an unplanned quantised layer
keeps tfmot's fake-quantised kernel as a plain float layer. No recalibration: with the exact multiplier everywhere
the result reproduces ``model.predict`` to float tolerance. The tf_keras model is only read.
"""

from __future__ import annotations

import inspect
from typing import Dict, Mapping, Optional

import keras
import numpy as np
import tensorflow as tf

from tfaxdnn.core import kinds
from tfaxdnn.core.errors import unknown_name
from tfaxdnn.layers import FakeQuant, approximate_class
from tfaxdnn.plan import LayerPlan, Plan, as_plan
from tfaxdnn.quant import QuantParams
from tfaxdnn.quant import weight_mapping as _wm
from tfaxdnn.quant.fake_quant import nudged_params

__all__ = ["approximate_tfmot", "is_tfmot_model"]

#: layers that keep values on their input's quantisation grid (so an approximate layer after them can use it)
GRID_PRESERVING = ("MaxPooling2D", "MaxPooling1D", "Flatten", "Reshape", "ZeroPadding2D", "Dropout", "ReLU",
                   "Cropping2D", "Permute", "SpatialDropout2D")
_DROPPED_KEYS = ("_initializer", "_regularizer", "_constraint")


def is_tfmot_model(model) -> bool:
    return type(model).__module__.startswith("tf_keras") and any(
        type(layer).__name__.startswith(("QuantizeWrapper", "QuantizeLayer")) for layer in model.layers)


def _var(layer, suffix: str) -> Optional[np.ndarray]:
    for w in layer.weights:
        if w.name.split("/")[-1].split(":")[0] == suffix:
            return np.asarray(w.numpy())
    return None


def _clean_config(layer, cls) -> dict:
    """A config for Keras 3 class ``cls`` from a tf_keras layer: tfmot's activation wrappers unwrapped, initialisers
    and arguments that ``cls`` does not take dropped."""
    cfg = dict(layer.get_config())
    act = cfg.get("activation")
    while isinstance(act, dict) and act.get("class_name") in ("QuantizeAwareActivation", "NoOpActivation"):
        act = act["config"]["activation"] if act["class_name"] == "QuantizeAwareActivation" else "linear"
    if "activation" in cfg:
        cfg["activation"] = act
    if isinstance(cfg.get("axis"), (list, tuple)) and len(cfg["axis"]) == 1:  # tf_keras BN: axis=[3]
        cfg["axis"] = int(cfg["axis"][0])
    allowed = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    return {k: (list(v) if isinstance(v, list) else v) for k, v in cfg.items()
            if k in allowed and not k.endswith(_DROPPED_KEYS)}


def _keras3_class(layer):
    cls = getattr(keras.layers, type(layer).__name__, None)
    if cls is None:
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}) has no Keras 3 counterpart; tfaxdnn cannot "
                         "import this tfmot model.")
    return cls


def _fake_quant(name, x_min, x_max, narrow_range=False) -> FakeQuant:
    if not float(x_max) > float(x_min):
        raise ValueError(f"Layer '{name}': tfmot range [{float(x_min)}, {float(x_max)}] is empty; the quantised model "
                         "has not been trained or calibrated (run fit or a few predict batches in training mode).")
    fq = FakeQuant(narrow_range=narrow_range, name=name)
    fq.build(None)
    fq.min.assign(float(x_min))
    fq.max.assign(float(x_max))
    return fq


def _kernel_grid(wrapper, inner, cls_name, signed) -> QuantParams:
    """tfmot's kernel grid (symmetric narrow range) as per-output `QuantParams`."""
    attr = kinds.kind_named(cls_name).tfmot_kernel_attr
    k_min, k_max = _var(wrapper, f"{attr}_min"), _var(wrapper, f"{attr}_max")
    if k_min is None:
        raise ValueError(f"Layer '{wrapper.name}': no tfmot kernel range ({attr}_min/max); only the default 8-bit "
                         "scheme's quantised kernels can be imported.")
    kernel = _var(wrapper, attr)
    n = kinds.n_outputs(inner)
    grid = nudged_params(np.ravel(k_min), np.ravel(k_max), 8, True, signed)
    scale, zero = grid.scale.astype(np.float32), grid.zero_point.astype(np.int32)
    if cls_name == "DepthwiseConv2D" and scale.size == kernel.shape[-2]:
        scale, zero = np.repeat(scale, kernel.shape[-1]), np.repeat(zero, kernel.shape[-1])
    dtype = "int8" if signed else "uint8"
    return QuantParams(np.broadcast_to(scale, (n,)).copy(), np.broadcast_to(zero, (n,)).copy(), dtype, 0, True)


def _fake_quantised_kernel(wrapper, inner, cls_name) -> np.ndarray:
    attr = kinds.kind_named(cls_name).tfmot_kernel_attr
    kernel = _var(wrapper, attr)
    k_min, k_max = _var(wrapper, f"{attr}_min"), _var(wrapper, f"{attr}_max")
    if k_min is None:
        return kernel
    if np.ndim(k_min) == 0 or np.size(k_min) == 1:
        return tf.quantization.fake_quant_with_min_max_vars(kernel, float(np.ravel(k_min)[0]),
                                                            float(np.ravel(k_max)[0]), 8, True).numpy()
    return tf.quantization.fake_quant_with_min_max_vars_per_channel(kernel, k_min, k_max, 8, True).numpy()


def _inbound(layer_cfg) -> list:
    nodes = layer_cfg.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise ValueError(f"Layer '{layer_cfg['name']}' is called {len(nodes)} times; shared layers cannot be imported.")
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # newer serialisation: {"args": [...], "kwargs": {...}}
        raise ValueError(f"Layer '{layer_cfg['name']}': unsupported functional config format.")
    return [(entry[0], entry[2]) for entry in node]


def approximate_tfmot(model, plan, importance: Optional[Mapping] = None, name: Optional[str] = None) -> keras.Model:
    """`tfaxdnn.approximate` for a tfmot-quantised tf_keras model (see the module docstring).

    Plan layer names may be the original layer names (``conv1``) or tfmot's wrapper names (``quant_conv1``).
    """
    plan = as_plan(plan)
    if not is_tfmot_model(model):
        raise TypeError(f"Model '{model.name}' is a tf_keras model without tfmot quantisation wrappers; quantise it "
                        "with tfmot.quantization.keras.quantize_model, or pass a Keras 3 model.")
    signed = plan.quantization.signed
    wrappers = {kinds.unwrap(layer).name: layer for layer in model.layers
                if kinds.unwrap(layer) is not layer and kinds.supports(layer)}
    resolved = _resolve(plan, wrappers)
    for n, lp in resolved.items():
        if lp.weight_mapping == "data":
            raise ValueError(f"Layer '{n}': weight_mapping='data' needs calibration data, which the tfmot path does "
                             "not take; use 'uniform'.")
    importance = dict(importance or {})
    for n in importance:
        if n not in resolved:
            raise unknown_name("layer in `importance`", n, sorted(resolved),
                               hint=f"(it must be a layer the plan approximates: {sorted(resolved)}).")

    config = model.get_config()
    if "input_layers" not in config:
        config = _sequential_config(model)
    tensors: Dict[str, keras.KerasTensor] = {}
    grids: Dict[str, Optional[QuantParams]] = {}       # activation grid of each tensor (None: not on a grid)
    pending = []                                         # (approx layer, wrapper, inner, class, input grid, plan)
    inputs = []
    for layer_cfg in config["layers"]:
        src = None if "batch_shape" in layer_cfg else model.get_layer(layer_cfg["name"])
        if src is None or type(src).__name__ == "InputLayer":
            shape = layer_cfg["batch_shape"] if src is None else src.get_config()["batch_input_shape"]
            t = keras.Input(batch_shape=tuple(shape), name=layer_cfg["name"])
            inputs.append(t)
            tensors[layer_cfg["name"]], grids[layer_cfg["name"]] = t, None
            continue
        cls_name = type(src).__name__
        inbound = _inbound(layer_cfg)
        args = [tensors[n] for n, _ in inbound]
        in_grid = grids[inbound[0][0]] if len(args) == 1 else None
        x = args[0] if len(args) == 1 else args
        if cls_name == "QuantizeLayer":
            fq = _fake_quant(src.name, _var(src, f"{src.name}_min"), _var(src, f"{src.name}_max"))
            tensors[src.name], grids[src.name] = fq(x), fq.quant_params(signed)
            continue
        inner = getattr(src, "layer", src)
        inner_cls = type(inner).__name__
        if _var(src, "pre_activation_min") is not None:
            raise ValueError(f"Layer '{src.name}': tfmot quantises before its activation "
                             f"({inner.get_config().get('activation')}); only post-activation quantisation is "
                             "supported.")
        approximated = inner.name in resolved
        if approximated:
            if in_grid is None:
                raise ValueError(f"Layer '{inner.name}': its input is not on a tfmot quantisation grid (no "
                                 "FakeQuant before it through grid-preserving layers), so it cannot be approximated "
                                 "without recalibration.")
            lp = resolved[inner.name]
            cfg = dict(_clean_config(inner, _keras3_class(inner)), multiplier=plan.multiplier(lp.multiplier),
                       skip_fraction=lp.skip_fraction, weight_mapping=lp.weight_mapping)
            kind = kinds.kind_of(inner)
            new_layer = approximate_class(kind).from_config(cfg)
            pending.append((new_layer, src, inner, kind.name, in_grid, lp))
        else:
            new_layer = _keras3_class(inner).from_config(_clean_config(inner, _keras3_class(inner)))
        y = new_layer(x)
        weights = [np.asarray(w.numpy()) for w in src.weights if src is inner or w.name.startswith(inner.name + "/")]
        if not approximated and weights:  # approximate layers get their weights after the model is built
            if kinds.kind_of(inner) is not None:
                weights[0] = _fake_quantised_kernel(src, inner, inner_cls)
            new_layer.set_weights(weights)
        out_grid = in_grid if inner_cls in GRID_PRESERVING else None
        for kind in ("post_activation", "output"):
            lo, hi = _var(src, f"{kind}_min"), _var(src, f"{kind}_max")
            if lo is not None:
                fq = _fake_quant(f"{src.name}_{kind}_quant", lo, hi)
                y, out_grid = fq(y), fq.quant_params(signed)
        tensors[src.name], grids[src.name] = y, out_grid
    outputs = [tensors[entry[0]] for entry in config["output_layers"]]
    new = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs[0] if len(outputs) == 1 else outputs,
                      name=name or f"{model.name}_approx")
    for layer, wrapper, inner, cls_name, in_grid, lp in pending:
        layer.kernel.assign(_var(wrapper, kinds.kind_named(cls_name).tfmot_kernel_attr))
        if layer.bias is not None:
            layer.bias.assign(_var(wrapper, "bias"))
        table = (_wm.mapping_table(layer.multiplier, activation_zero_point=int(np.asarray(in_grid.zero_point)))
                 if lp.weight_mapping != "none" else None)
        mask = plan.kept_mask(inner.name, layer.n_outputs, lp.skip_fraction, importance)
        layer.set_quantization(in_grid, _kernel_grid(wrapper, inner, cls_name, signed), weight_map=table,
                               kept_outputs=mask)
    return new


def _resolve(plan: Plan, wrappers: Dict[str, object]) -> Dict[str, LayerPlan]:
    """Plan entries keyed by the inner layer names (wrapper names ``quant_<name>`` accepted), multipliers filled in."""
    by_wrapper = {w.name: inner for inner, w in wrappers.items()}
    return plan.match(list(wrappers), aliases=lambda key: [by_wrapper[key]] if key in by_wrapper else [])


def _sequential_config(model) -> dict:
    """A functional-style config (a chain of inbound nodes) for a Sequential tfmot model."""
    previous = f"{model.name}_input"
    layers = [{"name": previous, "batch_shape": tuple(model.input_shape)}]
    for layer in model.layers:
        layers.append({"name": layer.name, "inbound_nodes": [[[previous, 0, 0, {}]]]})
        previous = layer.name
    return {"layers": layers, "output_layers": [[previous, 0, 0]]}
