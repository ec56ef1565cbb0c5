"""Energy of reconfigurable-multiplier mappings, priced mode by mode (SPEC section 10).

Every MAC unit holds the reconfigurable multiplier; a multiplication runs in the mode its weight code selects
(`tfaxdnn.multipliers.mode_selection`). Per layer: weights per mode (of the kept outputs) times the output positions
that reuse each weight (``LayerShape.f``) times the batch = multiplications per mode; each costs its mode's energy per
multiplication (`tfaxdnn.hardware.energy.multiplier_energy_j`: ``power * t`` under the accelerator's convention) plus
the accumulator's ``E_acc``. `tfaxdnn.hardware.estimate` prices reconfigurable layers with the same per-mode counts
(`mode_weights`). Layers without a reconfigurable multiplier count as one mode (their multiplier, or the accelerator's
exact one). The reference is the same layers with every multiplication in M0 (exact in the presets), so
``gain = 1 - E / E_M0`` is the energy saving the formal-mapping paper reports (MAC level; the multiplier-only figure
is given too). Memory traffic does not depend on the modes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Mapping, Sequence

import numpy as np

from tfaxdnn import multipliers as _mults
from tfaxdnn.hardware import energy as _en
from tfaxdnn.hardware.accelerator import Accelerator
from tfaxdnn.hardware.assignment import assign
from tfaxdnn.hardware.shapes import LayerShape
from tfaxdnn.multipliers.mode_selection import select_modes
from tfaxdnn.plan import as_plan

__all__ = ["LayerModes", "ModesReport", "layer_modes", "mode_weights", "estimate_modes"]


@dataclasses.dataclass(frozen=True)
class LayerModes:
    """One layer's multiplications per mode and their energy.

    Attributes:
        name, multiplier: layer and multiplier names.
        mode_names: the multiplier of each mode (M0 first).
        weights: weights (of kept outputs) per mode; multiplications: per mode, ``weights * f * batch``.
        utilization: fraction of the layer's multiplications per mode.
        ranges: code range per approximate mode (``(lo, hi)`` or None), from the mode selection.
        energy_mult_j, energy_mac_j: multiplier-only and MAC (multiplier + accumulator) energy.
        m0_energy_mult_j, m0_energy_mac_j: the same with every multiplication in M0.
    """

    name: str
    multiplier: str
    mode_names: tuple
    weights: tuple
    multiplications: tuple
    utilization: tuple
    ranges: tuple
    energy_mult_j: float
    energy_mac_j: float
    m0_energy_mult_j: float
    m0_energy_mac_j: float

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["ranges"] = [None if r is None else list(r) for r in self.ranges]
        return d


@dataclasses.dataclass(frozen=True)
class ModesReport:
    """Per-layer `LayerModes` and totals; ``gain`` = 1 - energy / all-M0 energy (MAC level)."""

    layers: List[LayerModes]
    energy_mac_j: float
    energy_mult_j: float
    m0_energy_mac_j: float
    m0_energy_mult_j: float

    @property
    def gain(self) -> float:
        return 1.0 - self.energy_mac_j / self.m0_energy_mac_j if self.m0_energy_mac_j else 0.0

    @property
    def gain_multiplier(self) -> float:
        return 1.0 - self.energy_mult_j / self.m0_energy_mult_j if self.m0_energy_mult_j else 0.0

    def utilization(self) -> np.ndarray:
        """Fraction of all multiplications per mode index (layers with fewer modes count in their own indices)."""
        width = max(len(r.multiplications) for r in self.layers)
        total = np.zeros(width)
        for r in self.layers:
            total[:len(r.multiplications)] += r.multiplications
        return total / total.sum() if total.sum() else total

    def to_dict(self) -> dict:
        return {"gain": self.gain, "gain_multiplier": self.gain_multiplier, "energy_mac_j": self.energy_mac_j,
                "energy_mult_j": self.energy_mult_j, "m0_energy_mac_j": self.m0_energy_mac_j,
                "m0_energy_mult_j": self.m0_energy_mult_j, "utilization": [float(u) for u in self.utilization()],
                "layers": [r.to_dict() for r in self.layers]}


def mode_weights(shape: LayerShape, codes, multiplier, fractions=None, kept_mask=None) -> tuple:
    """``(modes, weights per mode, ranges)`` of one layer: the multiplier's modes (one for a static multiplier), the
    weights of kept outputs in each (`tfaxdnn.multipliers.mode_selection` on the codes) and each approximate mode's
    code range.

    Args: as `layer_modes` (``multiplier`` a `Multiplier`, not None); a single-mode multiplier needs no ``codes``.
    """
    if codes is None and not isinstance(multiplier, _mults.Reconfigurable) and fractions is None:
        kept = shape.outputs if kept_mask is None else int(np.asarray(kept_mask, bool).sum())
        return (multiplier,), np.array([kept * (shape.weights // max(shape.outputs, 1))]), ()
    if np.size(codes) != shape.weights:
        raise ValueError(f"Layer '{shape.name}': {np.size(codes)} weight codes given, the shape has {shape.weights} "
                         f"weights ({shape.outputs} outputs).")
    flat = np.asarray(codes, np.int64).reshape(-1, shape.outputs)
    kept = np.ones(shape.outputs, bool) if kept_mask is None else np.asarray(kept_mask, bool).reshape(-1)
    if isinstance(multiplier, _mults.Reconfigurable):
        sel = select_modes(flat, fractions if fractions is not None else (0.0,) * (multiplier.n_modes - 1),
                           multiplier.signed)
        weights = np.bincount(sel.modes_of(flat[:, kept]).reshape(-1), minlength=multiplier.n_modes)
        return multiplier.modes, weights, sel.ranges
    if fractions is not None:
        raise ValueError(f"Layer '{shape.name}': mode fractions given but multiplier '{multiplier.name}' has one mode.")
    return (multiplier,), np.array([int(kept.sum()) * flat.shape[0]]), ()


def layer_modes(shape: LayerShape, codes, multiplier, fractions=None, kept_mask=None, accelerator=None,
                batch_size: int = 1) -> LayerModes:
    """Multiplications and energy per mode of one layer.

    Args:
        shape: the layer's `LayerShape`.
        codes: its weight codes (kernel shape; reshaped to ``[-1, outputs]``: Keras orders the output axis last).
        multiplier: `Multiplier` (a `Reconfigurable` selects modes by ``fractions``) or None (the exact one).
        fractions: ``(v1, v2, ...)`` mode fractions (None: all M0).
        kept_mask: bool ``[outputs]`` of kept outputs (None: all).
        accelerator: `Accelerator` (energy per multiplication as `tfaxdnn.hardware.energy.multiplier_energy_j`,
            accumulator energy, exact multiplier); default ``Accelerator.paper()``.
    """
    acc = accelerator or Accelerator.paper()
    m = _mults.get(acc.exact_multiplier) if multiplier is None else multiplier
    modes, weights, ranges = mode_weights(shape, codes, m, fractions, kept_mask)
    mults = weights.astype(np.int64) * shape.f * int(batch_size)
    total = int(mults.sum())
    energies = np.array([_en.multiplier_energy_j(mode, acc, shape.name) for mode in modes])
    e_mult = math.fsum(mults * energies)
    e_m0 = total * energies[0]
    e_acc = total * acc.accumulator_energy_j
    return LayerModes(shape.name, m.name, tuple(mode.name for mode in modes), tuple(int(w) for w in weights),
                      tuple(int(c) for c in mults), tuple(float(c) / total if total else 0.0 for c in mults),
                      tuple(ranges), e_mult, e_mult + e_acc, e_m0, e_m0 + e_acc)


def estimate_modes(shapes: Sequence[LayerShape], plan, codes: Mapping[str, np.ndarray], accelerator=None,
                   batch_size: int = 1) -> ModesReport:
    """`ModesReport` of ``plan`` (its multipliers, skipped outputs and ``mode_fractions``) on layers ``shapes``.

    Args:
        shapes: `LayerShape` list (`tfaxdnn.hardware.model_shapes`).
        plan: `Plan` (or any `as_plan` form).
        codes: ``{layer: weight codes}`` of every approximable shape (`tfaxdnn.layers.weight_codes` of an approximate
            model: the codes do not depend on the modes, so one approximate model of the plan's quantisation serves
            every mapping). Shapes that cannot be approximated need none: they count as exact multiplications (one
            mode), in the energy and in the all-M0 reference alike.
    """
    plan = as_plan(plan)
    missing = [s.name for s in shapes if s.approximable and s.name not in codes]
    if missing:
        raise ValueError(f"estimate_modes: weight codes are missing for layers {missing}.")
    resolved = plan.match([s.name for s in shapes if s.approximable])
    rows = []
    for a in assign(shapes, plan):
        lp = resolved.get(a.shape.name)
        rows.append(layer_modes(a.shape, codes.get(a.shape.name), a.multiplier, lp.mode_fractions if lp else None,
                                a.kept_mask, accelerator, batch_size))
    return ModesReport(rows, math.fsum(r.energy_mac_j for r in rows), math.fsum(r.energy_mult_j for r in rows),
                       math.fsum(r.m0_energy_mac_j for r in rows), math.fsum(r.m0_energy_mult_j for r in rows))
