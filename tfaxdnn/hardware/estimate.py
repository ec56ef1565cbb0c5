"""`estimate(model, plan, accelerator)`: per-layer energy / latency / memory on the multi-pod systolic array."""

from __future__ import annotations

import math
from typing import List, Sequence

from tfaxdnn.hardware import cycles as _cy
from tfaxdnn.hardware import energy as _en
from tfaxdnn.hardware.accelerator import Accelerator
from tfaxdnn.hardware.assignment import LayerAssignment, all_exact, assign
from tfaxdnn.hardware.mapping import place
from tfaxdnn.hardware.report import HardwareReport, LayerEstimate
from tfaxdnn.hardware.shapes import LayerShape, kept_per_group, model_shapes

CYCLE_MODELS = ("ws", "paper")


def _pods_label(pods: Sequence[int]) -> str:
    return ",".join(str(p) for p in pods)


def estimate_layer(a: LayerAssignment, acc: Accelerator, batch_size: int = 1, cycle_model: str = "ws",
                   strict: bool = False) -> LayerEstimate:
    """Estimate one layer (see `estimate`)."""
    s = a.shape
    kept = kept_per_group(s, a.kept_mask)
    kept_total = int(kept.sum())
    streamed = s.f * batch_size
    macs = streamed * s.k * s.outputs
    active = streamed * s.k * kept_total
    placement = place(s.name, a.multiplier, acc, strict=strict)
    weight_bytes = s.k * kept_total * _cy.OPERAND_BYTES
    activation_bytes = batch_size * (s.input_elems + s.output_elems) * _cy.OPERAND_BYTES
    if cycle_model == "ws":
        ws = _cy.ws_layer(s.k, kept, streamed, placement.tile_rows, placement.tile_cols, placement.units)
        tiles, n_cycles = ws.tiles, ws.cycles
        busy_macs = min(placement.units, ws.tiles) * placement.tile_rows * placement.tile_cols
        e_compute = active * _en.mac_energy_j(a.multiplier, acc, s.name)
        e_memory = _en.memory_energy_j(ws.sram_bytes, acc)
    elif cycle_model == "paper":
        pods = len(placement.pods)
        n_w = s.k * kept_total
        groups = _cy.paper_weight_groups(n_w, acc.macs_per_pod, pods)
        tiles, n_cycles = groups * pods, _cy.paper_cycles(n_w, streamed, acc.macs_per_pod, pods)
        busy_pods = _cy.paper_busy_pods(n_w, acc.macs_per_pod, pods)
        busy_macs = busy_pods * acc.macs_per_pod
        e_compute = n_cycles * acc.clock_period_s * busy_pods * _en.paper_pod_power_w(a.multiplier, acc, s.name)
        n_m = _cy.paper_memory_accesses(n_w, streamed, acc.macs_per_pod)
        e_memory = (n_m / acc.bank_rows) * acc.memory_energy_j_per_byte
    else:
        raise ValueError(f"`cycle_model` must be one of {CYCLE_MODELS}. Received: cycle_model={cycle_model!r}")
    util = active / (n_cycles * busy_macs) if n_cycles else 0.0
    fits = weight_bytes <= acc.weight_buffer_bytes and activation_bytes <= acc.activation_buffer_bytes
    return LayerEstimate(
        name=s.name, macs=macs, active_macs=active, tiles=tiles, cycles=n_cycles, utilization=util,
        latency_s=n_cycles * acc.clock_period_s, energy_compute_j=e_compute, energy_memory_j=e_memory,
        energy_j=e_compute + e_memory, weight_bytes=weight_bytes, activation_bytes=activation_bytes,
        multiplier=a.multiplier_name, pods=_pods_label(placement.pods), matched=placement.matched, fits_on_chip=fits)


def _estimate_rows(assignments, acc, batch_size, cycle_model, strict) -> List[LayerEstimate]:
    return [estimate_layer(a, acc, batch_size, cycle_model, strict) for a in assignments]


def estimate(model=None, plan=None, accelerator: Accelerator = None, batch_size: int = 1, cycle_model: str = "ws",
             strict: bool = False, shapes: Sequence[LayerShape] = None) -> HardwareReport:
    """Energy, latency and memory of ``model`` under ``plan`` on ``accelerator``.

    Args:
        model: Keras model (float, from ``tfaxdnn.approximate``, or tfmot-quantised tf_keras). May be None when
            ``shapes`` is given.
        plan: None, a dict or an object with ``to_dict()`` (`tfaxdnn.plan.Plan`). Overrides the multipliers and skip
            fractions carried by approximate layers; unnamed layers keep theirs, else the plan's default, else exact.
        accelerator: `Accelerator`; default `Accelerator.paper()`.
        batch_size: int, samples processed in one pass (they stream through the same stationary weights).
        cycle_model: ``"ws"`` (default; dataflow-aware weight-stationary tiles, cross-checked with SCALE-Sim) or
            ``"paper"`` (Eq. (1)-(2) of the XAI-Gen paper under the reading in `cycles.paper_memory_accesses`).
        strict: bool, error (instead of specialising the chip) when no pod carries a layer's multiplier.
        shapes: optional list of `LayerShape` to use instead of reading ``model``.

    Returns:
        `HardwareReport`.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    acc = Accelerator.paper() if accelerator is None else accelerator
    if not isinstance(acc, Accelerator):
        raise TypeError(f"`accelerator` must be an Accelerator. Received: {type(acc).__name__}")
    if shapes is None:
        if model is None:
            raise ValueError("estimate() needs a Keras `model` (or explicit `shapes`): a plan alone has no layer "
                             "shapes.")
        shapes = model_shapes(model)
    assignments = assign(shapes, plan, model)
    rows = _estimate_rows(assignments, acc, batch_size, cycle_model, strict)
    exact_rows = _estimate_rows(all_exact(assignments), acc, batch_size, cycle_model, strict)
    energy = math.fsum(r.energy_j for r in rows)
    exact_energy = math.fsum(r.energy_j for r in exact_rows)
    memory = sum(r.weight_bytes for r in rows) + max(r.activation_bytes for r in rows)
    return HardwareReport(layers=rows, energy_j=energy, latency_s=math.fsum(r.latency_s for r in rows),
                          memory_bytes=memory, relative_energy=energy / exact_energy if exact_energy else float("nan"),
                          accelerator=acc.name, cycle_model=cycle_model, batch_size=batch_size,
                          exact_energy_j=exact_energy)
