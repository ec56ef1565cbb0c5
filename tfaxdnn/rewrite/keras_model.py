"""`approximate(model, plan)`: a new Keras model whose planned layers multiply through approximate tables.

Pipeline for a float Keras 3 model (SPEC sections 2 and 4):

1. resolve the plan against the model (unknown or unsupported layers are errors);
2. calibrate the input range of every planned layer on ``calibration_data`` (one probe model, all layers at once)
   and derive per-tensor activation parameters;
3. fold a BatchNormalization that is the only consumer of a planned convolution into it (``fold_batch_norm``), so
   the hardware multiplies with the folded weights, as an inference accelerator would;
4. quantise the kernels (int8 symmetric per output channel for signed tables, uint8 asymmetric for unsigned),
   apply the weight mapping (`tfaxdnn.quant.weight_mapping`) and the neuron-skipping mask;
5. clone the model graph with the approximate layers in place; every other layer keeps a copy of its weights
   (a GlobalAveragePooling2D becomes `OrderedGlobalAveragePooling2D`: the same bits on every backend and device).

The input model is never modified. tf_keras models quantised with tfmot take the `tfaxdnn.rewrite.tfmot` path.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Dict, Mapping, Optional

import keras
import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.core import kinds
from tfaxdnn.core.errors import unknown_name
from tfaxdnn.layers import OrderedGlobalAveragePooling2D, approximate_class
from tfaxdnn.plan import as_plan
from tfaxdnn.quant import activation_params, batches, calibrate_tensors
from tfaxdnn.quant import weight_mapping as _wm
from tfaxdnn.quant.kernels import fold_batch_norm, kernel_params, scale_kernel

__all__ = ["approximate", "calibrate", "Calibration"]


def _batch_norm_folds(model, layers: Dict[str, keras.layers.Layer]) -> Dict[str, keras.layers.Layer]:
    """``{conv_name: bn_layer}`` for planned (depthwise) convolutions whose only consumer is a BatchNormalization."""
    folds = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
            continue
        producer = layer.input._keras_history.operation
        if (producer.name in layers and kinds.kind_of(producer).name in ("Conv2D", "DepthwiseConv2D")
                and len(producer._outbound_nodes) == 1 and producer.activation in (None, keras.activations.linear)
                and layer.axis in (-1, [-1], [3], 3)):
            folds[producer.name] = layer
    return folds


def _folded(layer, bn) -> tuple:
    """(kernel, bias) of ``layer`` with ``bn`` folded in (`tfaxdnn.quant.kernels.fold_batch_norm`)."""
    bias = (np.zeros(kinds.n_outputs(layer)) if layer.bias is None else np.asarray(layer.bias.numpy(), np.float64))
    gamma = np.asarray(bn.gamma.numpy(), np.float64) if bn.gamma is not None else 1.0
    beta = np.asarray(bn.beta.numpy(), np.float64) if bn.beta is not None else 0.0
    scale, bias = fold_batch_norm(1.0, bias, gamma, beta, np.asarray(bn.moving_mean.numpy(), np.float64),
                                  np.asarray(bn.moving_variance.numpy(), np.float64), bn.epsilon)
    kernel = scale_kernel(layer.kernel.numpy(), scale, kinds.kind_of(layer).name == "DepthwiseConv2D")
    return kernel.astype(np.float32), bias.astype(np.float32)


def _single_call_graph(model):
    """``model``, or for a Sequential model whose layers were called several times (Keras rebuilds a loaded
    Sequential model more than once) a clone with copied weights whose layers are each called once."""
    if not isinstance(model, keras.Sequential) or all(len(layer._inbound_nodes) <= 1 for layer in model.layers):
        return model
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.name = model.name
    return clone


def _check_single_use(layers) -> None:
    for name, layer in layers.items():
        if len(layer._inbound_nodes) != 1:
            raise ValueError(f"Layer '{name}' is called {len(layer._inbound_nodes)} times in the model; shared layers "
                             "cannot be approximated (each call would need its own activation range).")


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Input ranges of a float model's approximable layers on representative data, computed once and reusable by
    `approximate` for any number of plans (``approximate(model, plan, calibration_data=calibration)``).

    Attributes:
        model_name: name of the model it was measured on.
        ranges: ``{layer_name: (min, max)}`` of each layer's input.
        method: the `RangeTracker` method used.
        data: the representative inputs themselves (data-aware weight mapping histograms read them again).
    """

    model_name: str
    ranges: Dict[str, tuple]
    method: str
    data: object

    def to_dict(self) -> dict:
        """The ranges as JSON-ready values (without ``data``): ``{"model", "method", "ranges"}``."""
        return {"model": self.model_name, "method": self.method,
                "ranges": {n: [float(v) for v in r] for n, r in self.ranges.items()}}

    @classmethod
    def from_dict(cls, d: dict, data=None) -> "Calibration":
        """The `Calibration` of a `to_dict` value, with ``data`` (the representative inputs) put back."""
        return cls(d["model"], {n: tuple(r) for n, r in d["ranges"].items()}, d["method"], data)


def calibrate(model, data, layers=None, method: str = "minmax", batch_size: int = 128) -> Calibration:
    """Measure the input ranges of ``layers`` (default: every Conv2D / DepthwiseConv2D / Dense) of a float model."""
    model = _single_call_graph(model)
    names = list(layers) if layers is not None else kinds.approximable_names(model)
    ranges = calibrate_tensors(model, {n: model.get_layer(n).input for n in names}, data, method=method,
                               batch_size=batch_size)
    return Calibration(model.name, ranges, method, data)


def _warn_raw_pixels(data) -> None:
    """Warns when array calibration data looks like raw 0-255 pixels (a common mismatch with scaled training)."""
    x = data[0] if isinstance(data, tuple) else data
    if not isinstance(x, np.ndarray) or x.size == 0 or not np.issubdtype(x.dtype, np.number):
        return
    sample = x[:64]
    if sample.max() > 2.0 and sample.min() >= 0 and np.all(sample == np.round(sample)):
        warnings.warn(f"Calibration data looks like raw pixels (integers in [{sample.min():g}, {sample.max():g}]): if "
                      "the model was trained on scaled inputs (e.g. x / 255), scale the calibration data the same "
                      "way, or the activation ranges will be wrong.", stacklevel=4)


def _layer_ranges(model, layers, calibration_data, method, batch_size) -> Dict[str, tuple]:
    """Input ranges of ``layers`` from a `Calibration` (checked against the model and method) or from raw data."""
    if not isinstance(calibration_data, Calibration):
        _warn_raw_pixels(calibration_data)
        return calibrate_tensors(model, {n: layer.input for n, layer in layers.items()}, calibration_data,
                                 method=method, batch_size=batch_size)
    c = calibration_data
    missing = sorted(set(layers) - set(c.ranges))
    if c.model_name != model.name or missing or c.method != method:
        raise ValueError(f"The Calibration (model {c.model_name!r}, method {c.method!r}, {len(c.ranges)} layers) "
                         f"does not fit model {model.name!r} with calibration method {method!r}"
                         f"{'; it lacks layers ' + str(missing) if missing else ''}. Recompute it with "
                         "tfaxdnn.rewrite.keras_model.calibrate(model, data, method=...).")
    return {n: c.ranges[n] for n in layers}


def _input_histograms(model, layers, params, data, batch_size) -> Dict[str, np.ndarray]:
    """Activation-code histograms of the given layers' inputs (for ``weight_mapping="data"``)."""
    if not layers:
        return {}
    names = list(layers)
    probe = keras.Model(model.inputs[0] if len(model.inputs) == 1 else model.inputs, [layers[n].input for n in names])
    hist = {n: np.zeros(256) for n in names}
    for batch in batches(data, batch_size):
        outs = probe(batch, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for n, v in zip(names, outs):
            p = params[n]
            hist[n] += _wm.code_histogram(p.quantize(np.asarray(v)), p.dtype == "int8")
    return hist


def approximate(model, plan, calibration_data=None, importance: Optional[Mapping] = None, batch_size: int = 128,
                name: Optional[str] = None) -> keras.Model:
    """A new model whose layers named by ``plan`` run through approximate multipliers.

    Args:
        model: a float Keras 3 model (Sequential or Functional, residual graphs too) or a tfmot-quantised tf_keras
            model (its own scales and zero points are used; no calibration).
        plan: `Plan`, dict, JSON text or JSON file path.
        calibration_data: representative inputs (array, ``(x, y)``, ``tf.data`` or iterable of batches), or a
            `Calibration` from `calibrate` (measured once, reused across plans), for the
            activation ranges of float models; required when the plan approximates any layer.
        importance: ``{layer_name: scores}`` per output neuron (``[n]`` or ``[N, n]``) for layers with
            ``skip_fraction > 0``; overrides the plan's own ``importance``. The lowest-scoring neurons are skipped
            (their outputs are exactly 0).
        batch_size: calibration batch size.
        name: name of the new model (default: the input model's name + ``"_approx"``).

    Returns:
        A new Keras 3 model (Sequential for a Sequential input); ``model`` is not modified.
    """
    plan = as_plan(plan)
    if type(model).__module__.startswith("tf_keras"):
        from tfaxdnn.rewrite.tfmot import approximate_tfmot

        recon = _reconfigurable_entries(plan)
        if recon:
            raise ValueError(f"Reconfigurable multipliers (per-weight modes) are supported for Keras 3 models only, not "
                             f"for tfmot-quantised tf_keras models. Received: {recon} on a reconfigurable multiplier. "
                             "Approximate the float Keras 3 model with calibration data instead.")

        return approximate_tfmot(model, plan, importance=importance, name=name)
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a Keras 3 model or a tfmot-quantised tf_keras model. Received: "
                        f"{type(model).__module__}.{type(model).__name__}")
    model = _single_call_graph(model)
    resolved = plan.resolve(model)
    _warn_float_layers(model, resolved)
    importance = dict(importance or {})
    for n in importance:
        if n not in resolved:
            raise unknown_name("layer in `importance`", n, sorted(resolved),
                               hint=f"(it must be a layer the plan approximates: {sorted(resolved)}).")
    q = plan.quantization
    layers = {n: model.get_layer(n) for n in resolved}
    _check_single_use(layers)
    masks = {n: plan.kept_mask(n, kinds.n_outputs(layers[n]), lp.skip_fraction, importance)
             for n, lp in resolved.items()}
    _warn_silenced_outputs(model, masks)
    folds = _batch_norm_folds(model, layers) if q.fold_batch_norm else {}
    if layers and calibration_data is None:
        raise ValueError(f"Calibration data is needed for the activation ranges of {sorted(layers)}: pass "
                         "`calibration_data=x_calib` (a few hundred representative inputs).")
    ranges = _layer_ranges(model, layers, calibration_data, q.calibration, batch_size)
    data = calibration_data.data if isinstance(calibration_data, Calibration) else calibration_data
    in_params = {n: activation_params(lo, hi, q.signed, q.activation, _tables(plan, resolved[n], q.activation))
                 for n, (lo, hi) in ranges.items()}
    data_mapped = {n: layers[n] for n, lp in resolved.items() if lp.weight_mapping == "data"}
    hist = _input_histograms(model, data_mapped, in_params, data, batch_size)
    folded_bns = {bn.name for bn in folds.values()}

    def clone(layer):
        if layer.name in resolved:
            lp = resolved[layer.name]
            m = plan.multiplier(lp.multiplier)
            cfg = dict(layer.get_config(), multiplier=m.name, multiplier_hash=m.hash, skip_fraction=lp.skip_fraction,
                       weight_mapping=lp.weight_mapping)
            if isinstance(m, _mult.Reconfigurable):  # the layer stores its composite table (set in _apply_modes)
                fractions = lp.mode_fractions if lp.mode_fractions is not None else (0.0,) * (m.n_modes - 1)
                cfg.update(multiplier=composite_name(m, layer.name), multiplier_hash=None, signed=m.signed,
                           mode_fractions=fractions)
            if layer.name in folds:
                cfg["use_bias"] = True
            return approximate_class(kinds.kind_of(layer)).from_config(cfg)
        if layer.name in folded_bns:
            return keras.layers.Identity(name=layer.name)
        if type(layer) is keras.layers.GlobalAveragePooling2D:  # the same bits on every backend and device
            return OrderedGlobalAveragePooling2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):  # a folded BatchNormalization's Identity takes no mask/training arguments
        return layer(args[0]) if layer.name in folded_bns else layer(*args, **kwargs)

    # Sequential models list their layers (nothing is called while cloning), so they take no call_function; the
    # Identity standing for a folded BatchNormalization is then called like any Sequential layer.
    sequential = isinstance(model, keras.Sequential)
    new = keras.models.clone_model(model, clone_function=clone, **({} if sequential else {"call_function": call}))
    for layer in model.layers:  # (clone_model may rename unnamed input layers: they carry no weights)
        if layer.name in resolved:
            _load_approx(new.get_layer(layer.name), layer, folds.get(layer.name), in_params[layer.name],
                         resolved[layer.name], q, hist.get(layer.name), masks[layer.name])
            _apply_modes(new.get_layer(layer.name), plan.multiplier(resolved[layer.name].multiplier),
                         resolved[layer.name].mode_fractions)
        elif layer.name not in folded_bns and layer.weights:
            new.get_layer(layer.name).set_weights(layer.get_weights())
    new.name = name or f"{model.name}_approx"
    return new


def _tables(plan, lp, activation: str) -> list:
    """The tables a layer of ``plan`` may multiply with (every mode of a reconfigurable multiplier): what the
    ``"auto"`` activation scheme reads; no lookup for the other schemes."""
    if activation != "auto":
        return []
    multiplier = plan.multiplier(lp.multiplier)
    return [m.table for m in getattr(multiplier, "modes", ())] or [multiplier.table]


def _warn_float_layers(model, resolved) -> None:
    """Warns about layers with multiplications that stay float although the plan approximates others or all."""
    if not resolved:
        warnings.warn(f"approximate: the plan approximates no layer of model '{model.name}' (empty plan and no "
                      "default_multiplier); the result computes like the float model.", stacklevel=3)
        return
    left = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner = [lay.name for lay in layer.layers if kinds.kind_of(lay) or type(lay).__name__ in
                     kinds.NOT_APPROXIMATED]
            if inner:
                left.append(f"{layer.name} (nested model holding {inner})")
        elif type(layer).__name__ in kinds.NOT_APPROXIMATED or (kinds.kind_of(layer) and not kinds.supports(layer)):
            reason = kinds.unsupported_reason(layer) or f"{type(layer).__name__} is not an approximable kind"
            left.append(f"{layer.name} ({reason})")
    if left:
        warnings.warn(f"approximate: these layers multiply in float and are NOT approximated: {left}. Their "
                      "arithmetic stays float (no approximation error); tfaxdnn.hardware.estimate prices those it can "
                      "shape as exact 8-bit MACs and names the rest (docs/hardware.md).", stacklevel=3)


def _warn_silenced_outputs(model, masks) -> None:
    out_names = {t._keras_history.operation.name for t in model.outputs}
    for name, mask in masks.items():
        if mask is not None and name in out_names and not mask.any():
            warnings.warn(f"approximate: layer '{name}' is a model output and skips all of its outputs "
                          "(skip_fraction=1.0): the model outputs only zeros.", stacklevel=3)


def _load_approx(target, source, bn, input_params, lp, q, histogram, mask) -> None:
    """Copy (folded) weights into the approximate layer and set its quantisation state."""
    if bn is not None:
        kernel, bias = _folded(source, bn)
    else:
        kernel = source.kernel.numpy()
        bias = None if source.bias is None else source.bias.numpy()
    target.kernel.assign(kernel)
    if bias is not None:
        target.bias.assign(bias)
    kp = kernel_params(kinds.kind_of(source).name, kernel, q.signed, q.per_channel)
    table = None
    if lp.weight_mapping != "none":
        table = _wm.mapping_table(target.multiplier, histogram if lp.weight_mapping == "data" else None,
                                  activation_zero_point=int(np.asarray(input_params.zero_point)))
    target.set_quantization(input_params, kp, weight_map=table, kept_outputs=mask)


def _reconfigurable_entries(plan) -> list:
    """Plan entries (layer names, or ``default_multiplier``) that use a reconfigurable multiplier or mode fractions."""
    def recon(name):
        return name is not None and isinstance(plan.multiplier(name), _mult.Reconfigurable)

    out = [n for n, lp in plan.layers.items()
           if lp.mode_fractions is not None or recon(lp.multiplier or plan.default_multiplier)]
    return out + (["default_multiplier"] if recon(plan.default_multiplier) else [])


def composite_name(multiplier, layer_name: str) -> str:
    """Name of the per-layer composite table of a reconfigurable multiplier (not registered: the layer stores it)."""
    return f"{multiplier.name}:{layer_name}"


def _apply_modes(target, multiplier, fractions) -> None:
    """For a `Reconfigurable` multiplier: select each weight code's mode (`tfaxdnn.multipliers.mode_selection`) and
    load the layer's composite table (no fractions: every weight in M0)."""
    if not isinstance(multiplier, _mult.Reconfigurable):
        return
    from tfaxdnn.multipliers.mode_selection import select_modes

    fractions = fractions if fractions is not None else (0.0,) * (multiplier.n_modes - 1)
    selection = select_modes(target.weight_codes(), fractions, multiplier.signed)
    table = multiplier.composite(selection.mode_of_code)
    target.set_table(table)
    target.multiplier_hash = _mult.table_hash(table)
