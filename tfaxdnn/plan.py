"""Approximation plans: which multiplier, skip fraction and weight mapping each layer gets (SPEC section 4).

A plan is data (frozen dataclasses, JSON round-trip). ``Plan.layers`` names the layers to approximate; layers not
named stay exact float unless ``default_multiplier`` is set, in which case every supported layer of the model
runs through that multiplier (the hardware model reads plans the same way).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from typing import Dict, Mapping, Optional, Union

from tfaxdnn import multipliers as _mult

__all__ = ["Plan", "LayerPlan", "QuantizationConfig", "WEIGHT_MAPPINGS", "SUPPORTED_LAYERS", "close_matches"]

WEIGHT_MAPPINGS = ("none", "uniform", "data")
#: Keras layer classes ``approximate`` can replace (class name -> approximate class name).
SUPPORTED_LAYERS = {"Conv2D": "ApproxConv2D", "DepthwiseConv2D": "ApproxDepthwiseConv2D", "Dense": "ApproxDense"}
ACTIVATION_MODES = ("symmetric", "asymmetric")


def close_matches(name: str, choices) -> str:
    """`` Did you mean: a, b?`` (closest first) or an empty string."""
    close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.4)
    return f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""


def _check_multiplier(name, where: str, signed: bool) -> str:
    if isinstance(name, _mult.Multiplier):
        name = name.name
    if not isinstance(name, str):
        raise TypeError(f"{where}: `multiplier` must be a multiplier name (str). Received: multiplier={name!r}")
    valid = _mult.names()
    if name not in valid:
        raise ValueError(f"{where}: unknown multiplier. Received: multiplier={name!r}.{close_matches(name, valid)} "
                         f"Valid choices: tfaxdnn.multipliers.names() ({len(valid)} circuits, e.g. "
                         f"{', '.join(_mult.PAPER_MULTIPLIERS)}).")
    m = _mult.get(name)
    if m.signed != signed:
        scheme = "int8" if signed else "uint8"
        raise ValueError(f"{where}: multiplier {name!r} is {'signed' if m.signed else 'unsigned'} but the plan's "
                         f"quantisation scheme is {scheme!r} (which needs {'mul8s_*' if signed else 'mul8u_*'} "
                         f"multipliers). Received: multiplier={name!r}, quantization.dtype={scheme!r}. Valid "
                         f"choices: a {'signed' if signed else 'unsigned'} multiplier, or "
                         f"quantization=QuantizationConfig(dtype={'uint8' if signed else 'int8'!r}).")
    return name


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """Model-wide quantisation settings (SPEC section 2).

    Args:
        dtype: str, ``"int8"`` (signed ``mul8s_*`` tables: symmetric per-channel weights) or ``"uint8"`` (unsigned
            ``mul8u_*`` tables: asymmetric weights and activations).
        activation: str, ``"symmetric"`` (int8 only, zero point 0) or ``"asymmetric"``.
        per_channel: bool, per-output-channel weight scales (else one scale per layer).
        calibration: str, activation-range method: ``"minmax"``, ``"moving_average"`` or ``"percentile"``.
        fold_batch_norm: bool, fold a BatchNormalization that directly follows an approximated convolution into it.
    """

    dtype: str = "int8"
    activation: str = "symmetric"
    per_channel: bool = True
    calibration: str = "minmax"
    fold_batch_norm: bool = True

    def __post_init__(self):
        from tfaxdnn.quant import METHODS

        if self.dtype not in ("int8", "uint8"):
            raise ValueError(f"`quantization.dtype` must be 'int8' or 'uint8'. Received: dtype={self.dtype!r}")
        if self.activation not in ACTIVATION_MODES:
            raise ValueError(f"`quantization.activation` must be one of {list(ACTIVATION_MODES)}. Received: "
                             f"activation={self.activation!r}")
        if self.dtype == "uint8" and self.activation == "symmetric":
            object.__setattr__(self, "activation", "asymmetric")  # uint8 codes are always asymmetric
        if self.calibration not in METHODS:
            raise ValueError(f"`quantization.calibration` must be one of {list(METHODS)}. Received: "
                             f"calibration={self.calibration!r}")

    @property
    def signed(self) -> bool:
        return self.dtype == "int8"

    @property
    def exact_multiplier(self) -> str:
        return _mult.EXACT_SIGNED if self.signed else _mult.EXACT_UNSIGNED


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """What one layer gets.

    Args:
        multiplier: str or None, a multiplier name; None means the plan's default (or the exact multiplier).
        skip_fraction: float in [0, 1], fraction of output neurons (units / channels) removed, least important first.
        weight_mapping: str, ``"none"``, ``"uniform"`` (ALWANN) or ``"data"`` (calibration activation histogram).
    """

    multiplier: Optional[str] = None
    skip_fraction: float = 0.0
    weight_mapping: str = "none"

    def __post_init__(self):
        if isinstance(self.multiplier, _mult.Multiplier):
            object.__setattr__(self, "multiplier", self.multiplier.name)
        try:
            skip = float(self.skip_fraction)
        except (TypeError, ValueError):
            skip = float("nan")
        if not 0.0 <= skip <= 1.0:
            raise ValueError(f"`skip_fraction` must be a number in [0, 1]. Received: "
                             f"skip_fraction={self.skip_fraction!r}")
        object.__setattr__(self, "skip_fraction", skip)
        if self.weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`weight_mapping` must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                             f"weight_mapping={self.weight_mapping!r}.{close_matches(self.weight_mapping, WEIGHT_MAPPINGS)}")

    def to_dict(self) -> dict:
        return {"multiplier": self.multiplier, "skip_fraction": self.skip_fraction,
                "weight_mapping": self.weight_mapping}


def _layer_plan(name: str, entry) -> LayerPlan:
    if isinstance(entry, LayerPlan):
        return entry
    if isinstance(entry, (str, _mult.Multiplier)):
        return LayerPlan(multiplier=entry)
    if isinstance(entry, Mapping):
        unknown = set(entry) - {"multiplier", "skip_fraction", "weight_mapping"}
        if unknown:
            raise ValueError(f"Layer {name!r}: unknown plan keys {sorted(unknown)}. Valid keys: "
                             "['multiplier', 'skip_fraction', 'weight_mapping'].")
        try:
            return LayerPlan(**entry)
        except ValueError as exc:
            raise ValueError(f"Layer {name!r}: {exc}") from None
    raise TypeError(f"Layer {name!r}: a plan entry must be a LayerPlan, a dict or a multiplier name. Received: "
                    f"{entry!r}")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Per-layer approximation settings plus model-wide defaults.

    Args:
        layers: dict, layer name -> `LayerPlan` (or a dict with its fields, or just a multiplier name).
        default_multiplier: str or None; when set, every supported layer not in ``layers`` is approximated with it,
            and layer entries without a multiplier use it.
        default_weight_mapping: str, weight mapping of layers covered only by ``default_multiplier``.
        quantization: `QuantizationConfig` or dict.

    Example:
        >>> plan = Plan({"conv1": "mul8s_1KV8", "fc1": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"}})
        >>> Plan.from_json(plan.to_json()) == plan
        True
    """

    layers: Dict[str, LayerPlan] = dataclasses.field(default_factory=dict)
    default_multiplier: Optional[str] = None
    default_weight_mapping: str = "none"
    quantization: QuantizationConfig = dataclasses.field(default_factory=QuantizationConfig)

    def __post_init__(self):
        q = self.quantization
        if isinstance(q, Mapping):
            q = QuantizationConfig(**q)
        elif q is None:
            q = QuantizationConfig()
        if not isinstance(q, QuantizationConfig):
            raise TypeError(f"`quantization` must be a QuantizationConfig or a dict. Received: {q!r}")
        object.__setattr__(self, "quantization", q)
        if not isinstance(self.layers, Mapping):
            raise TypeError(f"`layers` must map layer names to settings. Received: {type(self.layers).__name__}")
        layers = {str(k): _layer_plan(k, v) for k, v in self.layers.items()}
        for name, lp in layers.items():
            if lp.multiplier is not None:
                _check_multiplier(lp.multiplier, f"Layer {name!r}", q.signed)
        object.__setattr__(self, "layers", layers)
        if self.default_multiplier is not None:
            object.__setattr__(self, "default_multiplier",
                               _check_multiplier(self.default_multiplier, "`default_multiplier`", q.signed))
        if self.default_weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`default_weight_mapping` must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                             f"default_weight_mapping={self.default_weight_mapping!r}")

    # -- construction helpers ---------------------------------------------------------------------------------
    @classmethod
    def uniform(cls, layer_names, multiplier: str, weight_mapping: str = "none", skip_fraction: float = 0.0,
                **kw) -> "Plan":
        """The same settings for every named layer (``layer_names`` may be a model: all its supported layers)."""
        if hasattr(layer_names, "layers"):
            layer_names = supported_layer_names(layer_names)
        entry = LayerPlan(multiplier, skip_fraction, weight_mapping)
        return cls({n: entry for n in layer_names}, **kw)

    # -- queries ----------------------------------------------------------------------------------------------
    def resolve(self, model) -> Dict[str, LayerPlan]:
        """``{layer_name: LayerPlan}`` with concrete multipliers for every layer of ``model`` to approximate.

        Raises:
            ValueError: a named layer is not in the model or cannot be approximated.
        """
        self.validate(model)
        return self.complete(self.layers, supported_layer_names(model))

    def complete(self, entries: Mapping[str, "LayerPlan"], candidates) -> Dict[str, "LayerPlan"]:
        """``entries`` (plan entries keyed by resolved names) plus, when ``default_multiplier`` is set, a default
        entry for every other name in ``candidates``; every multiplier made concrete (entry, default, exact)."""
        out = dict(entries)
        if self.default_multiplier is not None:
            for n in candidates:
                out.setdefault(n, LayerPlan(None, 0.0, self.default_weight_mapping))
        exact = self.quantization.exact_multiplier
        return {n: dataclasses.replace(lp, multiplier=lp.multiplier or self.default_multiplier or exact)
                for n, lp in out.items()}

    def validate(self, model) -> None:
        """Checks every named layer exists in ``model`` and is a supported type."""
        by_name = {layer.name: layer for layer in model.layers}
        supported = supported_layer_names(model)
        for name in self.layers:
            if name not in by_name:
                raise ValueError(f"Plan names layer {name!r}, which is not in model {model.name!r}."
                                 f"{close_matches(name, supported)} Valid choices (approximable layers): "
                                 f"{supported}.")
            layer = by_name[name]
            if _approximable_class(layer) is None:
                raise ValueError(f"Layer {name!r} ({type(layer).__name__}) cannot be approximated: supported "
                                 f"layer types are {list(SUPPORTED_LAYERS)}. Valid choices (approximable layers): "
                                 f"{supported}.")

    # -- serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"default_multiplier": self.default_multiplier,
                "default_weight_mapping": self.default_weight_mapping,
                "layers": {n: lp.to_dict() for n, lp in self.layers.items()},
                "quantization": dataclasses.asdict(self.quantization)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Plan":
        if not isinstance(d, Mapping):
            raise TypeError(f"`Plan.from_dict` expects a dict. Received: {type(d).__name__}")
        unknown = set(d) - {"default_multiplier", "default_weight_mapping", "layers", "quantization"}
        if unknown:
            raise ValueError(f"Unknown plan keys {sorted(unknown)}. Valid keys: ['default_multiplier', "
                             "'default_weight_mapping', 'layers', 'quantization'].")
        return cls(layers=dict(d.get("layers") or {}), default_multiplier=d.get("default_multiplier"),
                   default_weight_mapping=d.get("default_weight_mapping", "none"),
                   quantization=d.get("quantization") or {})

    get_config, from_config = to_dict, from_dict

    def to_json(self, path: Union[str, os.PathLike, None] = None, indent: int = 2) -> str:
        """The plan as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, source: Union[str, os.PathLike]) -> "Plan":
        """A plan from a JSON string or a path to a JSON file."""
        text = os.fspath(source)
        if not text.lstrip().startswith("{"):
            if not os.path.isfile(text):
                raise FileNotFoundError(f"`source` must be JSON text or a path to a JSON file. Received: {text!r}")
            with open(text) as f:
                text = f.read()
        return cls.from_dict(json.loads(text))


def _approximable_class(layer) -> Optional[str]:
    """The supported base class name of ``layer`` (Keras 3 classes and subclasses), else None."""
    import keras

    for cls_name in ("DepthwiseConv2D", "Conv2D", "Dense"):
        if isinstance(layer, getattr(keras.layers, cls_name)):
            return cls_name
    return None


def supported_layer_names(model) -> list:
    """Names of the layers of ``model`` that ``approximate`` can replace, in model order."""
    return [layer.name for layer in model.layers if _approximable_class(layer) is not None]
