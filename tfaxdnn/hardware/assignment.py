"""Which multiplier and which kept outputs each layer has: from a plan and/or the model's approximate layers.

Precedence for a layer named ``n``: the plan's entry for ``n`` > the layer's own attributes (``multiplier_name``,
``kept_outputs``, ``skip_fraction`` of layers made by ``tfaxdnn.approximate``) > the plan's ``default_multiplier``
> exact.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfaxdnn import multipliers as _mults
from tfaxdnn.hardware.shapes import LayerShape, mask_from_fraction


def normalize_plan(plan) -> dict:
    """Plan -> ``{"default_multiplier": str|Multiplier|None, "layers": {name: {"multiplier", "skip_fraction"}}}``.

    Accepts None, a plain dict, or any object with ``to_dict()`` (the `tfaxdnn.plan.Plan` contract). Layer entries
    may omit keys; a missing ``multiplier`` or ``skip_fraction`` (None) means "not set by this entry".
    """
    if plan is None:
        return {"default_multiplier": None, "layers": {}}
    if hasattr(plan, "to_dict") and not isinstance(plan, dict):
        plan = plan.to_dict()
    if not isinstance(plan, dict):
        raise TypeError(f"`plan` must be None, a dict or an object with to_dict(). Received: {type(plan).__name__}")
    layers = plan.get("layers") or {}
    if not isinstance(layers, dict):
        raise TypeError(f"plan['layers'] must map layer names to settings. Received: {type(layers).__name__}")
    out = {}
    for name, entry in layers.items():
        if isinstance(entry, (str, _mults.Multiplier)):
            entry = {"multiplier": entry}
        if not isinstance(entry, dict):
            raise TypeError(f"plan['layers']['{name}'] must be a dict or a multiplier name. Received: {entry!r}")
        skip = entry.get("skip_fraction")
        skip = None if skip is None else float(skip)
        if skip is not None and not 0.0 <= skip <= 1.0:
            raise ValueError(f"plan['layers']['{name}']: skip_fraction must lie in [0, 1]. Received: {skip!r}")
        out[name] = {"multiplier": entry.get("multiplier"), "skip_fraction": skip}
    return {"default_multiplier": plan.get("default_multiplier"), "layers": out}


@dataclasses.dataclass(frozen=True)
class LayerAssignment:
    """A layer's multiplier (None = exact) and kept-output mask (None = all kept).

    ``mask_positional``: the mask comes from a skip fraction alone (which neurons are skipped is unknown; only the
    count is meaningful), so structured skipping does not intersect it with other branches.
    """

    shape: LayerShape
    multiplier: Optional[_mults.Multiplier]
    kept_mask: Optional[np.ndarray] = dataclasses.field(default=None, compare=False)
    mask_positional: bool = dataclasses.field(default=False, compare=False)

    @property
    def multiplier_name(self) -> str:
        return self.multiplier.name if self.multiplier is not None else "exact"


def _resolve(mult, layer_name: str) -> Optional[_mults.Multiplier]:
    if mult is None:
        return None
    try:
        return _mults.get(mult) if isinstance(mult, str) else _mults.resolve(mult)
    except KeyError as err:
        raise KeyError(f"Layer '{layer_name}': {err.args[0]}") from None


def assign(shapes: Sequence[LayerShape], plan=None) -> List[LayerAssignment]:
    """One `LayerAssignment` per shape; unknown plan layer names are an error listing the valid ones."""
    plan = normalize_plan(plan)
    names = [s.name for s in shapes]
    unknown = sorted(set(plan["layers"]) - set(names))
    if unknown:
        raise ValueError(f"Plan names layers {unknown} that are not Conv2D/DepthwiseConv2D/Dense layers of the model. "
                         f"Valid layer names: {names}")
    out = []
    for s in shapes:
        entry = plan["layers"].get(s.name, {})
        layer = s.layer
        mult = entry.get("multiplier")
        if mult is None:
            mult = getattr(layer, "multiplier_name", None) or plan["default_multiplier"]
        positional = True
        if entry.get("skip_fraction") is not None:
            mask = mask_from_fraction(s, entry["skip_fraction"])
        elif getattr(layer, "kept_outputs", None) is not None:
            mask, positional = np.asarray(layer.kept_outputs, dtype=bool), False
        else:
            mask = mask_from_fraction(s, float(getattr(layer, "skip_fraction", 0.0) or 0.0))
        out.append(LayerAssignment(s, _resolve(mult, s.name), mask, mask_positional=positional))
    return out


def all_exact(assignments: Sequence[LayerAssignment]) -> List[LayerAssignment]:
    """The same layers, exact and without skipping (the reference for ``relative_energy``).

    Layers keep their signedness: a layer with an unsigned multiplier is compared with the exact unsigned one.
    """
    return [LayerAssignment(a.shape, None if a.multiplier is None else _mults.exact(a.multiplier.signed), None)
            for a in assignments]


def multiplier_names(assignments: Sequence[LayerAssignment]) -> Dict[str, int]:
    """Distinct multiplier names in use with their layer counts."""
    counts: Dict[str, int] = {}
    for a in assignments:
        counts[a.multiplier_name] = counts.get(a.multiplier_name, 0) + 1
    return counts
