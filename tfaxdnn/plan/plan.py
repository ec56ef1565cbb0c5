"""Approximation plans: which multiplier, skip fraction and weight mapping each layer gets (SPEC section 4).

A plan is data (frozen dataclasses, JSON round-trip). ``Plan.layers`` names the layers to approximate; layers not
named stay exact float unless ``default_multiplier`` is set, in which case every supported layer of the model
runs through that multiplier. ``Plan.importance`` carries the neuron scores that skipping needs, so a plan alone
reproduces a skipped model. Multipliers are named (bundled or registered, `tfaxdnn.multipliers.register`); the
JSON form records each multiplier's table hash and is refused when a name means another table in this process.

`Plan.match` is the one resolver every path uses (Keras layers, tfmot wrappers, frozen-graph nodes, the hardware
model): plan keys -> candidate names, defaults filled in, multipliers made concrete.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.core import skipping
from tfaxdnn.core.errors import did_you_mean, unknown_name
from tfaxdnn.multipliers.mode_selection import check_fractions

__all__ = ["Plan", "LayerPlan", "QuantizationConfig", "WEIGHT_MAPPINGS", "as_plan"]

WEIGHT_MAPPINGS = ("none", "uniform", "data")
ACTIVATION_MODES = ("symmetric", "asymmetric", "auto")


def _multiplier_name(value, where: str, signed: Optional[bool] = None) -> str:
    """The registry name of ``value`` (a name, a table-file path or a `Multiplier`, registered on the way), checked
    against the plan's signedness when given."""
    if not isinstance(value, (str, os.PathLike, _mult.Multiplier)):
        raise TypeError(f"{where}: `multiplier` must be a multiplier name, a table file path or a "
                        f"tfaxdnn.multipliers.Multiplier. Received: multiplier={value!r}")
    try:
        m = _mult.lookup(value, signed=signed)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise type(exc)(f"{where}: {exc}") from None
    if signed is not None and m.signed != signed:
        scheme = "int8" if signed else "uint8"
        raise ValueError(f"{where}: multiplier {m.name!r} is {'signed' if m.signed else 'unsigned'} but the plan's "
                         f"quantisation scheme is {scheme!r} (which needs {'mul8s_*' if signed else 'mul8u_*'} "
                         f"multipliers). Received: multiplier={m.name!r}, quantization.dtype={scheme!r}. Valid "
                         f"choices: a {'signed' if signed else 'unsigned'} multiplier, or "
                         f"quantization=QuantizationConfig(dtype={'uint8' if signed else 'int8'!r}).")
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else m.name


@dataclasses.dataclass(frozen=True)
class QuantizationConfig:
    """Model-wide quantisation settings (SPEC section 2).

    Args:
        dtype: str, ``"int8"`` (signed ``mul8s_*`` tables: symmetric per-channel weights) or ``"uint8"`` (unsigned
            ``mul8u_*`` tables: asymmetric weights and activations).
        activation: str, ``"symmetric"`` (int8 only, zero point 0), ``"asymmetric"`` or ``"auto"`` (per layer:
            asymmetric where the calibrated input is one-sided, minimum >= 0, and the layer's multiplier multiplies
            activation code -128 exactly; symmetric elsewhere; `tfaxdnn.quant.activation_scheme`); default: symmetric
            for int8, asymmetric for uint8 (uint8 codes are asymmetric under every setting).
        per_channel: bool, per-output-channel weight scales (else one scale per layer).
        calibration: str, activation-range method: ``"minmax"``, ``"moving_average"`` or ``"percentile"``.
        fold_batch_norm: bool, fold a BatchNormalization that directly follows an approximated convolution into it.
    """

    dtype: str = "int8"
    activation: Optional[str] = None
    per_channel: bool = True
    calibration: str = "minmax"
    fold_batch_norm: bool = True

    def __post_init__(self):
        from tfaxdnn.quant import METHODS

        if self.dtype not in ("int8", "uint8"):
            raise ValueError(f"`quantization.dtype` must be 'int8' or 'uint8'. Received: dtype={self.dtype!r}")
        if self.activation is None:
            object.__setattr__(self, "activation", "symmetric" if self.dtype == "int8" else "asymmetric")
        if self.activation not in ACTIVATION_MODES:
            raise ValueError(f"`quantization.activation` must be one of {list(ACTIVATION_MODES)}. Received: "
                             f"activation={self.activation!r}")
        if self.dtype == "uint8" and self.activation == "symmetric":
            raise ValueError("`quantization.activation`='symmetric' needs dtype 'int8': uint8 codes are always "
                             "asymmetric. Received: dtype='uint8', activation='symmetric'. Valid choices: "
                             "activation='asymmetric' (or leave it unset) with uint8.")
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
        multiplier: a multiplier name, a `Multiplier` (registered and stored by name), a ``.bin``/``.npy`` table
            path, or None (the plan's default, else exact).
        skip_fraction: float in [0, 1], fraction of output neurons (units / channels) removed, least important first.
        weight_mapping: str, ``"none"``, ``"uniform"`` (ALWANN) or ``"data"`` (calibration activation histogram).
        mode_fractions: for a `tfaxdnn.multipliers.Reconfigurable` multiplier, the fraction of the layer's weights
            in each approximate mode ``(v1, v2, ...)`` (M1, M2, ...; ``sum <= 1``, the rest M0), selected by code
            ranges around the weight median (`tfaxdnn.multipliers.mode_selection`); None: every weight in M0.
    """

    multiplier: Optional[str] = None
    skip_fraction: float = 0.0
    weight_mapping: str = "none"
    mode_fractions: Optional[tuple] = None

    def __post_init__(self):
        if isinstance(self.multiplier, _mult.Multiplier):  # a name or path is checked by the Plan (signedness)
            object.__setattr__(self, "multiplier", _multiplier_name(self.multiplier, "LayerPlan"))
        elif isinstance(self.multiplier, os.PathLike):
            object.__setattr__(self, "multiplier", os.fspath(self.multiplier))
        object.__setattr__(self, "skip_fraction", skipping.check_fraction(self.skip_fraction))
        if self.weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`weight_mapping` must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                             f"weight_mapping={self.weight_mapping!r}.{did_you_mean(self.weight_mapping, WEIGHT_MAPPINGS)}")
        if self.mode_fractions is not None:
            object.__setattr__(self, "mode_fractions", check_fractions(self.mode_fractions, where="`mode_fractions`"))
            if self.weight_mapping != "none":
                raise ValueError("`mode_fractions` selects modes by the layer's own weight codes and cannot be "
                                 "combined with a weight mapping. Received: "
                                 f"weight_mapping={self.weight_mapping!r}. Valid choices: weight_mapping='none'.")

    def to_dict(self) -> dict:
        d = {"multiplier": self.multiplier, "skip_fraction": self.skip_fraction,
             "weight_mapping": self.weight_mapping}
        if self.mode_fractions is not None:
            d["mode_fractions"] = list(self.mode_fractions)
        return d


_LAYER_KEYS = ("multiplier", "skip_fraction", "weight_mapping", "mode_fractions")
_PLAN_KEYS = ("default_multiplier", "default_weight_mapping", "layers", "quantization", "importance", "multipliers")


def _layer_plan(name: str, entry) -> LayerPlan:
    if isinstance(entry, LayerPlan):
        return entry
    if isinstance(entry, (str, os.PathLike, _mult.Multiplier)):
        entry = {"multiplier": entry}
    if isinstance(entry, Mapping):
        unknown = set(entry) - set(_LAYER_KEYS)
        if unknown:
            raise ValueError(f"Layer {name!r}: unknown plan keys {sorted(unknown)}. Valid keys: {list(_LAYER_KEYS)}.")
        try:
            return LayerPlan(**entry)
        except (ValueError, KeyError, TypeError, FileNotFoundError) as exc:
            raise type(exc)(f"Layer {name!r}: {exc}") from None
    raise TypeError(f"Layer {name!r}: a plan entry must be a LayerPlan, a dict or a multiplier name. Received: "
                    f"{entry!r}")


def _scores(name: str, values) -> tuple:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1:
        arr = np.abs(arr).reshape(-1, arr.shape[-1]).mean(axis=0)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError(f"Plan importance of layer {name!r} must be finite per-neuron scores ([n] or [N, n]). "
                         f"Received: shape {np.shape(values)}")
    return tuple(float(v) for v in arr)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Per-layer approximation settings plus model-wide defaults.

    Args:
        layers: dict, layer name -> `LayerPlan` (or a dict with its fields, or just a multiplier).
        default_multiplier: multiplier or None; when set, every supported layer not in ``layers`` is approximated
            with it, and layer entries without a multiplier use it.
        default_weight_mapping: str, weight mapping of layers covered only by ``default_multiplier``.
        quantization: `QuantizationConfig` or dict.
        importance: ``{layer_name: per-neuron scores}`` used by layers with ``skip_fraction > 0`` (the lowest-scoring
            neurons are skipped); saved with the plan so it reproduces the same skipped neurons.

    Example:
        >>> plan = Plan({"conv1": "mul8s_1KV8", "fc1": {"multiplier": "mul8s_1L2N", "weight_mapping": "uniform"}})
        >>> Plan.from_json(plan.to_json()) == plan
        True
    """

    layers: Dict[str, LayerPlan] = dataclasses.field(default_factory=dict)
    default_multiplier: Optional[str] = None
    default_weight_mapping: str = "none"
    quantization: QuantizationConfig = dataclasses.field(default_factory=QuantizationConfig)
    importance: Dict[str, tuple] = dataclasses.field(default_factory=dict)

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
                _multiplier_name(lp.multiplier, f"Layer {name!r}", q.signed)
        object.__setattr__(self, "layers", layers)
        if self.default_multiplier is not None:
            object.__setattr__(self, "default_multiplier",
                               _multiplier_name(self.default_multiplier, "`default_multiplier`", q.signed))
        for name, lp in layers.items():
            if lp.mode_fractions is not None:
                self._check_modes(name, lp)
        if self.default_weight_mapping not in WEIGHT_MAPPINGS:
            raise ValueError(f"`default_weight_mapping` must be one of {list(WEIGHT_MAPPINGS)}. Received: "
                             f"default_weight_mapping={self.default_weight_mapping!r}")
        if not isinstance(self.importance or {}, Mapping):
            raise TypeError(f"`importance` must map layer names to neuron scores. Received: "
                            f"{type(self.importance).__name__}")
        object.__setattr__(self, "importance", {str(k): _scores(k, v) for k, v in (self.importance or {}).items()})

    def _check_modes(self, name: str, lp: LayerPlan) -> None:
        """A layer with ``mode_fractions`` needs a reconfigurable multiplier with one more mode than fractions."""
        which = lp.multiplier or self.default_multiplier
        m = self.multiplier(which) if which else None
        n_modes = getattr(m, "n_modes", None)
        if n_modes is None:
            what = "no multiplier is set" if m is None else f"{m.name!r} has a single mode"
            raise ValueError(f"Layer {name!r}: `mode_fractions` needs a reconfigurable multiplier "
                             f"(tfaxdnn.multipliers.Reconfigurable); {what}. "
                             f"Valid choices: {sorted(_mult.RECONFIGURABLE_PRESETS)} or a registered Reconfigurable.")
        check_fractions(lp.mode_fractions, n_modes, where=f"Layer {name!r}: `mode_fractions`")

    # -- queries ----------------------------------------------------------------------------------------------
    def multiplier(self, name: str) -> _mult.Multiplier:
        """The `Multiplier` a plan name stands for (bundled, registered or a table file)."""
        return _mult.lookup(name, signed=self.quantization.signed)

    def match(self, candidates: Sequence[str], aliases: Optional[Callable[[str], Sequence[str]]] = None,
              what: str = "layer") -> Dict[str, LayerPlan]:
        """The one plan resolver: ``{candidate: LayerPlan}`` for every candidate the plan approximates.

        Args:
            candidates: names the plan may address (approximable layers, tfmot inner layers, graph nodes).
            aliases: ``key -> [candidates]`` for keys that are not candidate names themselves (wrapper names,
                layer-name components of node names); default: none.
            what: noun used in error messages (``"layer"``, ``"node"``).

        Entries keep their order; with ``default_multiplier`` every other candidate gets a default entry; every
        multiplier is made concrete (entry, default, exact).

        Raises:
            UnknownNameError: a key matches no candidate. ValueError: a key matches several.
        """
        names = list(candidates)
        matched: Dict[str, LayerPlan] = {}
        for key, lp in self.layers.items():
            hits = [key] if key in names else list(aliases(key) if aliases else [])
            if not hits:
                raise unknown_name(what, key, names,
                                   hint=f"Valid choices (approximable {what}s): {names}.")
            if len(hits) > 1:
                raise ValueError(f"Plan key {key!r} is ambiguous: it matches {what}s {hits}; use their full names.")
            matched[hits[0]] = lp
        if self.default_multiplier is not None:
            for n in names:
                matched.setdefault(n, LayerPlan(None, 0.0, self.default_weight_mapping))
        exact = self.quantization.exact_multiplier
        return {n: dataclasses.replace(lp, multiplier=lp.multiplier or self.default_multiplier or exact)
                for n, lp in matched.items()}

    def resolve(self, model) -> Dict[str, LayerPlan]:
        """`match` against a Keras model's approximable layers; a named layer that exists but cannot be
        approximated gets an error that says why."""
        from tfaxdnn.core import kinds
        by_name = {layer.name: layer for layer in model.layers}
        for name in self.layers:
            if name in by_name and not kinds.supports(by_name[name]):
                raise ValueError(f"Layer {name!r}: {kinds.unsupported_reason(by_name[name])}. Valid choices "
                                 f"(approximable layers): {kinds.approximable_names(model)}.")
        return self.match(kinds.approximable_names(model))

    def kept_mask(self, name: str, n_outputs: int, skip_fraction: float, importance: Optional[Mapping] = None):
        """The layer's kept-output mask by the one skip rule, scores from ``importance`` or else the plan's."""
        scores = (importance or {}).get(name, self.importance.get(name))
        return skipping.kept_mask(name, n_outputs, skip_fraction, scores)

    def with_importance(self, importance: Mapping) -> "Plan":
        """A copy carrying ``importance`` (``{layer: scores}``) for the layers that skip neurons."""
        skipping_layers = {n for n, lp in self.layers.items() if lp.skip_fraction > 0}
        kept = {n: v for n, v in importance.items() if n in skipping_layers}
        return dataclasses.replace(self, importance={**self.importance, **kept})

    def multiplier_hashes(self) -> Dict[str, str]:
        """``{multiplier name: table hash}`` of every multiplier the plan names."""
        used = [lp.multiplier for lp in self.layers.values() if lp.multiplier] + [self.default_multiplier]
        return {n: self.multiplier(n).hash for n in dict.fromkeys(u for u in used if u)}

    # -- serialisation ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"default_multiplier": self.default_multiplier,
             "default_weight_mapping": self.default_weight_mapping,
             "layers": {n: lp.to_dict() for n, lp in self.layers.items()},
             "quantization": dataclasses.asdict(self.quantization),
             "multipliers": self.multiplier_hashes()}
        if self.importance:
            d["importance"] = {n: list(v) for n, v in self.importance.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Plan":
        if not isinstance(d, Mapping):
            raise TypeError(f"`Plan.from_dict` expects a dict. Received: {type(d).__name__}")
        unknown = set(d) - set(_PLAN_KEYS)
        if unknown:
            raise ValueError(f"Unknown plan keys {sorted(unknown)}. Valid keys: {list(_PLAN_KEYS)}.")
        plan = cls(layers=dict(d.get("layers") or {}), default_multiplier=d.get("default_multiplier"),
                   default_weight_mapping=d.get("default_weight_mapping", "none"),
                   quantization=d.get("quantization") or {}, importance=d.get("importance") or {})
        for name, want in (d.get("multipliers") or {}).items():
            have = plan.multiplier(name).hash
            if have != want:
                raise ValueError(f"The plan was made with multiplier {name!r} of table hash {want}, but {name!r} "
                                 f"here has table hash {have}: register the plan's table under this name, or "
                                 "rename one of them.")
        return plan

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
                raise FileNotFoundError(f"Plan file not found: {text!r} (a plan is JSON text, a JSON file path, a "
                                        "dict or a tfaxdnn.Plan).")
            with open(text) as f:
                text = f.read()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Plan {os.fspath(source)[:80]!r} is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def as_plan(plan) -> Plan:
    """A `Plan` from a Plan, a dict, JSON text or a JSON file path."""
    if isinstance(plan, Plan):
        return plan
    if isinstance(plan, Mapping):
        return Plan.from_dict(plan)
    if isinstance(plan, (str, os.PathLike)):
        return Plan.from_json(plan)
    if callable(getattr(plan, "to_dict", None)):
        return Plan.from_dict(plan.to_dict())
    raise TypeError(f"`plan` must be a tfaxdnn.Plan, a dict, JSON text or a JSON file path. Received: "
                    f"{type(plan).__name__}")
