"""The plan an approximate model carries (`plan_of`): read back from its layers, whether made in this process or
loaded from a ``.keras`` file."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.core import skipping
from tfaxdnn.plan.plan import LayerPlan, Plan

__all__ = ["plan_of"]


def _layer_multiplier(layer) -> _mult.Multiplier:
    """The multiplier an approximate layer computes with: the registered one of its name when the tables agree
    (keeping its metadata, e.g. power), else its stored table registered (under ``name@hash`` if the name is taken)."""
    if not hasattr(layer, "ax_table"):
        return _mult.get(layer.multiplier_name)
    stored = layer.multiplier
    try:
        known = _mult.get(stored.name)
    except KeyError:
        known = None
    if known is not None and known.hash == stored.hash:
        return known
    if known is not None:
        stored = dataclasses.replace(stored, name=f"{stored.name}@{stored.hash}")
    _mult.register(stored)
    return stored


def _carried_layer_plan(layer, multiplier: _mult.Multiplier, skip: float) -> LayerPlan:
    """A layer's entry; a layer on a reconfigurable multiplier's composite table names the registered multiplier and
    its mode fractions (the composite alone has no power figure to price)."""
    mapping, fractions = getattr(layer, "weight_mapping", "none"), getattr(layer, "mode_fractions", None)
    if fractions is not None:
        base = layer.multiplier_name.rsplit(":", 1)[0]
        try:
            recon = _mult.get(base)
        except KeyError:
            recon = None
        if isinstance(recon, _mult.Reconfigurable):
            return LayerPlan(recon.name, skip, mapping, tuple(fractions))
    return LayerPlan(multiplier.name, skip, mapping)


def plan_of(model) -> Plan:
    """The plan an approximate model (from `tfaxdnn.approximate`, or loaded from its ``.keras`` file) carries: each
    approximate layer's multiplier (its stored table, registered by name), skip fraction and weight mapping, and its
    kept-output mask as importance scores (kept 1, skipped 0), so the plan reproduces the same skipped neurons."""
    layers, importance, signed = {}, {}, set()
    for layer in getattr(model, "layers", []):
        if not hasattr(layer, "multiplier_name") or not hasattr(layer, "kept_outputs"):
            continue
        m = _layer_multiplier(layer)
        signed.add(m.signed)
        skip, mask = float(layer.skip_fraction), layer.kept_outputs
        if mask is not None:
            importance[layer.name] = mask.astype(np.float64)
            if skipping.n_skipped(mask.size, skip) != int((~mask).sum()):  # the mask is what counts
                skip = float((~mask).sum()) / mask.size
        layers[layer.name] = _carried_layer_plan(layer, m, skip)
    if len(signed) > 1:
        raise ValueError(f"Model '{model.name}' mixes signed and unsigned approximate layers; one plan holds one "
                         "quantisation scheme.")
    dtype = "uint8" if signed == {False} else "int8"
    return Plan(layers, quantization={"dtype": dtype}, importance=importance)
