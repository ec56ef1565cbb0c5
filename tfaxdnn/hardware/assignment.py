"""Which multiplier and which kept outputs each layer has, from the resolved plan.

The plan is the one vocabulary (`tfaxdnn.plan`): the multipliers come from `Plan.match` and the kept outputs from
the one skip rule (`tfaxdnn.core.skipping`). A model made by ``tfaxdnn.approximate`` carries its own plan
(`tfaxdnn.plan.plan_of`); an explicit plan's entries override it layer by layer.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

from tfaxdnn import multipliers as _mults
from tfaxdnn.core import skipping
from tfaxdnn.hardware.shapes import LayerShape
from tfaxdnn.plan import LayerPlan, Plan, as_plan, plan_of


@dataclasses.dataclass(frozen=True)
class LayerAssignment:
    """A layer's multiplier (None = exact) and kept-output mask (None = all kept).

    ``mask_positional``: the mask comes from a skip fraction alone (which neurons are skipped is unknown; only the
    count is meaningful), so structured skipping does not intersect it with other branches.
    ``mode_fractions``: the plan's mode fractions for a reconfigurable multiplier (None: every weight in M0).
    """

    shape: LayerShape
    multiplier: Optional[_mults.Multiplier]
    kept_mask: Optional[np.ndarray] = dataclasses.field(default=None, compare=False)
    mask_positional: bool = dataclasses.field(default=False, compare=False)
    mode_fractions: Optional[tuple] = None

    @property
    def multiplier_name(self) -> str:
        return self.multiplier.name if self.multiplier is not None else "exact"


def _override(base: Plan, plan: Plan) -> Plan:
    """``base`` (the model's own plan) with ``plan``'s entries on top: an entry replaces the layer's settings (an
    entry without a multiplier keeps the layer's multiplier)."""
    layers = dict(base.layers)
    for name, lp in plan.layers.items():
        own = layers.get(name)
        layers[name] = lp if lp.multiplier or own is None else dataclasses.replace(lp, multiplier=own.multiplier)
    importance = {n: v for n, v in base.importance.items() if n not in plan.layers}
    return dataclasses.replace(plan, layers=layers, importance={**importance, **plan.importance})


def effective_plan(model, plan=None) -> Plan:
    """The plan the hardware prices: the model's own (approximate layers) overridden by ``plan``."""
    explicit = None if plan is None else as_plan(plan)
    own = plan_of(model) if model is not None else None
    if own is None or not own.layers:
        return explicit or Plan()
    return own if explicit is None else _override(own, explicit)


def assign(shapes: Sequence[LayerShape], plan=None, model=None) -> List[LayerAssignment]:
    """One `LayerAssignment` per shape from the resolved plan; plan layers that are not shapes are an error.

    Shapes with ``approximable=False`` are always exact (the plan's default multiplier does not reach them) and a
    plan that names one is an error saying why.

    Skipped outputs: the plan's importance scores pick them (the same neurons as `approximate`); without scores only
    their count matters and the last ones are marked.
    """
    plan = effective_plan(model, plan)
    fixed = {s.origin: s.note for s in shapes if not s.approximable}
    named = [n for n in plan.layers if n in fixed]
    if named:
        raise ValueError(f"Plan names layers that cannot be approximated: "
                         f"{', '.join(f'{n!r} ({fixed[n]})' for n in named)}. The hardware model prices them as "
                         "exact 8-bit MACs whatever the plan says; remove them from the plan.")
    resolved = plan.match([s.name for s in shapes if s.approximable])
    out = []
    for s in shapes:
        lp: Optional[LayerPlan] = resolved.get(s.name)
        if lp is None:  # not in the plan, or a layer that cannot be approximated: exact, nothing skipped
            out.append(LayerAssignment(s, None, None))
            continue
        positional = s.name not in plan.importance
        if positional:
            mask = skipping.count_mask(s.outputs, lp.skip_fraction)
        else:
            mask = plan.kept_mask(s.name, s.outputs, lp.skip_fraction)
        out.append(LayerAssignment(s, plan.multiplier(lp.multiplier), mask, mask_positional=positional,
                                   mode_fractions=lp.mode_fractions))
    return out


def all_exact(assignments: Sequence[LayerAssignment]) -> List[LayerAssignment]:
    """The same layers, exact and without skipping (the reference for ``relative_energy``).

    Layers keep their signedness: a layer with an unsigned multiplier is compared with the exact unsigned one.
    """
    return [LayerAssignment(a.shape, None if a.multiplier is None else _mults.exact(a.multiplier.signed), None)
            for a in assignments]
