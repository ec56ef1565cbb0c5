"""`estimate(model, plan, accelerator)`: per-layer energy / latency / memory on the multi-pod systolic array."""

from __future__ import annotations

import math
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tfaxdnn.hardware import cycles as _cy
from tfaxdnn.hardware import energy as _en
from tfaxdnn.hardware.accelerator import Accelerator
from tfaxdnn.hardware.assignment import LayerAssignment, all_exact, assign
from tfaxdnn.hardware.mode_energy import mode_weights
from tfaxdnn.hardware.placement import place
from tfaxdnn.hardware.report import ACCOUNTINGS, HardwareReport, LayerEstimate
from tfaxdnn.hardware.shapes import (UNPRICED_POLICIES, LayerShape, kept_per_group, model_shapes, quoted,
                                     unpriced_error)
from tfaxdnn.hardware.structure import zero_input_channels
from tfaxdnn.multipliers import Reconfigurable

CYCLE_MODELS = ("ws", "paper")


def _pods_label(pods: Sequence[int]) -> str:
    return ",".join(str(p) for p in pods)


def effective_k(shape: LayerShape, zero_inputs: Optional[np.ndarray]) -> np.ndarray:
    """Reduction length per group after removing provably-zero input channels (Dense: features)."""
    k = np.full(shape.groups, shape.k, dtype=np.int64)
    if zero_inputs is None:
        return k
    z = np.asarray(zero_inputs, dtype=bool).reshape(-1)
    if shape.kind == "dense":
        return k - int(z.sum()) if z.size == shape.k else k
    if z.size % shape.groups:
        return k
    per_group = z.reshape(shape.groups, -1)
    cin_g = per_group.shape[1]
    if shape.k % cin_g:
        return k
    return (shape.k // cin_g) * (cin_g - per_group.sum(axis=1)).astype(np.int64)


def mode_shares(a: LayerAssignment, codes=None) -> tuple:
    """``(modes, share of the layer's multiplications per mode)`` of a layer on a `Reconfigurable` multiplier (its
    ``mode_fractions`` applied to its weight ``codes``, `tfaxdnn.hardware.mode_energy.mode_weights`); ``((), ())`` for a
    single-mode multiplier. Without codes only the all-M0 case (no or zero fractions) can be priced."""
    m = a.multiplier
    if not isinstance(m, Reconfigurable):
        return (), ()
    all_m0 = (1.0,) + (0.0,) * (m.n_modes - 1)
    if codes is None:
        if any(a.mode_fractions or ()):
            raise ValueError(f"Layer '{a.shape.name}': pricing mode_fractions {tuple(a.mode_fractions)} of "
                             f"reconfigurable multiplier '{m.name}' needs the layer's weight codes. Pass "
                             "weight_codes=tfaxdnn.layers.weight_codes(approximate_model) to estimate(), or "
                             "the approximate model (tfaxdnn.approximate) together with the plan.")
        return m.modes, all_m0
    _, weights, _ = mode_weights(a.shape, codes, m, a.mode_fractions, a.kept_mask)
    total = weights.sum()
    return m.modes, tuple(float(w) / total for w in weights) if total else all_m0


def estimate_layer(a: LayerAssignment, acc: Accelerator, batch_size: int = 1, cycle_model: str = "ws",
                   strict: bool = False, zero_inputs: Optional[np.ndarray] = None, codes=None) -> LayerEstimate:
    """Estimate one layer (see `estimate`); ``zero_inputs`` masks its provably-zero input channels; ``codes`` are its
    weight codes (needed to price the mode fractions of a reconfigurable multiplier)."""
    s = a.shape
    modes, shares = mode_shares(a, codes)
    kept = kept_per_group(s, a.kept_mask)
    k_g = effective_k(s, zero_inputs)
    kept = np.where(k_g > 0, kept, 0)
    n_w = int((k_g * kept).sum())
    streamed = s.f * batch_size
    macs = streamed * s.k * s.outputs
    active = streamed * n_w
    placement = place(s.name, a.multiplier, acc, strict=strict)
    in_fraction = float(k_g.sum()) / float(s.k * s.groups) if s.k else 0.0
    ifmap_unique = int(round(batch_size * s.input_elems * in_fraction)) * _cy.OPERAND_BYTES
    kept_outputs = int(kept.sum())
    # the output tensor once (all kept; a transposed convolution's tensor is not f x outputs), else its kept channels
    ofmap_unique = batch_size * (s.output_elems if kept_outputs == s.outputs else
                                 (s.output_elems // max(s.outputs, 1)) * kept_outputs) * _cy.OUTPUT_BYTES
    weight_bytes = n_w * _cy.OPERAND_BYTES
    activation_bytes = ifmap_unique + ofmap_unique
    dram_bytes = weight_bytes + ifmap_unique + ofmap_unique
    if cycle_model == "ws":
        ws = _cy.ws_layer(k_g, kept, streamed, placement.tile_rows, placement.tile_cols, placement.units)
        tiles, n_cycles = ws.tiles, ws.cycles
        busy_macs = min(placement.units, ws.tiles) * placement.tile_rows * placement.tile_cols
        per_mult = (math.fsum(u * _en.multiplier_energy_j(m, acc, s.name) for m, u in zip(modes, shares)) if modes
                    else _en.multiplier_energy_j(a.multiplier, acc, s.name))
        e_mult = active * per_mult
        e_acc = active * acc.accumulator_energy_j
        sram = (ws.weight_read_bytes, ws.ifmap_read_bytes, ws.psum_bytes, ws.output_write_bytes)
        e_sram = [_en.memory_energy_j(b, acc) for b in sram]
    elif cycle_model == "paper":
        pods = len(placement.pods)
        groups = _cy.paper_weight_groups(n_w, acc.macs_per_pod, pods)
        tiles, n_cycles = groups * pods, _cy.paper_cycles(n_w, streamed, acc.macs_per_pod, pods)
        busy_pods = _cy.paper_busy_pods(n_w, acc.macs_per_pod, pods)
        busy_macs = busy_pods * acc.macs_per_pod
        pod_time = n_cycles * acc.clock_period_s * busy_pods * acc.macs_per_pod / 2  # MAC-seconds per half
        p_layer = (math.fsum(u * _en.multiplier_power_w(m, s.name) for m, u in zip(modes, shares)) if modes
                   else _en.multiplier_power_w(a.multiplier or acc.exact_multiplier, s.name))
        e_mult = pod_time * (_en.multiplier_power_w(acc.exact_multiplier, s.name) + p_layer)
        e_acc = n_cycles * busy_pods * acc.macs_per_pod * acc.accumulator_energy_j
        n_m = _cy.paper_memory_accesses(n_w, streamed, acc.macs_per_pod)
        sram = (n_m / acc.bank_rows, 0, 0, 0)  # Eq. (1)-(2): weight accesses only
        e_sram = [sram[0] * acc.memory_energy_j_per_byte, 0.0, 0.0, 0.0]
    else:
        raise ValueError(f"`cycle_model` must be one of {CYCLE_MODELS}. Received: cycle_model={cycle_model!r}")
    e_compute = e_mult + e_acc
    e_sram_total = math.fsum(e_sram)
    e_dram = dram_bytes * acc.dram_energy_j_per_byte
    e_memory = e_sram_total + (e_dram if acc.include_dram else 0.0)
    util = active / (n_cycles * busy_macs) if n_cycles else 0.0
    fits = weight_bytes <= acc.weight_buffer_bytes and activation_bytes <= acc.activation_buffer_bytes
    zero_in = 0 if zero_inputs is None else int(np.count_nonzero(zero_inputs))
    return LayerEstimate(
        name=s.name, macs=macs, active_macs=active, tiles=tiles, cycles=n_cycles, utilization=util,
        latency_s=n_cycles * acc.clock_period_s, energy_multiplier_j=e_mult, energy_accumulator_j=e_acc,
        energy_compute_j=e_compute, energy_sram_weights_j=e_sram[0], energy_sram_ifmap_j=e_sram[1],
        energy_sram_psum_j=e_sram[2], energy_sram_ofmap_j=e_sram[3], energy_sram_j=e_sram_total,
        energy_dram_j=e_dram, energy_memory_j=e_memory, energy_j=e_compute + e_memory,
        sram_weight_bytes=int(round(sram[0])), sram_ifmap_bytes=int(sram[1]), sram_psum_bytes=int(sram[2]),
        sram_ofmap_bytes=int(sram[3]), dram_weight_bytes=weight_bytes, dram_ifmap_bytes=ifmap_unique,
        dram_ofmap_bytes=ofmap_unique, dram_bytes=dram_bytes, weight_bytes=weight_bytes,
        activation_bytes=activation_bytes, zero_input_channels=zero_in, multiplier=a.multiplier_name,
        pods=_pods_label(placement.pods), matched=placement.matched, fits_on_chip=fits, mode_utilization=shares,
        approximable=s.approximable)


def _estimate_rows(assignments, acc, batch_size, cycle_model, strict, zeros=None, codes=None) -> List[LayerEstimate]:
    zeros, codes = zeros or {}, codes or {}
    return [estimate_layer(a, acc, batch_size, cycle_model, strict, zeros.get(a.shape.name), codes.get(a.shape.name))
            for a in assignments]


def _layer_codes(assignments, weight_codes) -> dict:
    """Weight codes of the reconfigurable layers: given ones first, else read from approximate layers."""
    given = dict(weight_codes or {})
    out = {}
    for a in assignments:
        name, layer = a.shape.name, a.shape.layer
        if not isinstance(a.multiplier, Reconfigurable):
            continue
        if name in given:
            out[name] = given[name]
        elif hasattr(layer, "weight_codes"):
            out[name] = layer.weight_codes()
    return out


def estimate(model=None, plan=None, accelerator: Accelerator = None, batch_size: int = 1, cycle_model: str = "ws",
             strict: bool = False, shapes: Sequence[LayerShape] = None,
             structured_skipping: bool = True, weight_codes=None, unpriced: str = "raise") -> HardwareReport:
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
        structured_skipping: bool, a skipped output channel also removes the input-channel MACs, weights and
            activation traffic of its consumers where it is provably zero (`tfaxdnn.hardware.structure`). The graph
            is read from ``model``, or downstream from ``shapes``' Keras layers; shapes built by hand stay per layer.
        weight_codes: ``{layer: weight codes}`` (`tfaxdnn.layers.weight_codes` of the approximate model) for
            layers on a `Reconfigurable` multiplier with ``mode_fractions``: each multiplication is priced in the mode
            its weight code selects (the kept weights' mode shares, `mode_shares`). Approximate layers of ``model``
            or ``shapes`` give their own codes.
        unpriced: ``"raise"`` (default) or ``"exclude"``, for layers that multiply but have no GEMM shape (e.g.
            MultiHeadAttention, `tfaxdnn.hardware.unapproximated.UNPRICED`): an error naming them, or every figure
            (the all-exact reference too) without them, named in ``report.unpriced`` and warned.

    Layers that multiply but cannot be approximated (SeparableConv, Conv1D/3D, transposed, 1-D depthwise, grouped
    convolutions) are priced as exact 8-bit MACs on the exact halves of the same array, in this energy and in the
    all-exact reference alike; the plan cannot change them; ``estimate`` warns once, naming them, and their rows have
    ``approximable=False``.

    Returns:
        `HardwareReport`: ``energy_j`` is the system energy; ``report.energy(accounting)`` and
        ``report.reduction(accounting)`` give the ``"system"``, ``"compute"`` and ``"multiplier"`` figures.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    acc = Accelerator.paper() if accelerator is None else accelerator
    if not isinstance(acc, Accelerator):
        raise TypeError(f"`accelerator` must be an Accelerator. Received: {type(acc).__name__}")
    if unpriced not in UNPRICED_POLICIES:
        raise ValueError(f"`unpriced` must be one of {UNPRICED_POLICIES}. Received: unpriced={unpriced!r}")
    if shapes is None:
        if model is None:
            raise ValueError("estimate() needs a Keras `model` (or explicit `shapes`): a plan alone has no layer "
                             "shapes.")
        shapes = model_shapes(model, unpriced="exclude")  # refused below, by `estimate`, when unpriced="raise"
    excluded = tuple(getattr(shapes, "unpriced", ()))
    if excluded and unpriced == "raise":
        raise unpriced_error(excluded)
    assignments = assign(shapes, plan, model)
    exact_only = _warn(shapes, excluded)
    zeros, structured = None, bool(structured_skipping)
    if structured and any(a.kept_mask is not None for a in assignments):
        zeros = zero_input_channels(model, assignments)
        structured = zeros is not None
    rows = _estimate_rows(assignments, acc, batch_size, cycle_model, strict, zeros,
                          _layer_codes(assignments, weight_codes))
    exact = HardwareReport(_estimate_rows(all_exact(assignments), acc, batch_size, cycle_model, strict), 0.0, 0.0, 0,
                           1.0)
    exact_totals = {name: exact.energy(name) for name in ACCOUNTINGS}
    energy = math.fsum(r.energy_j for r in rows)
    memory = sum(r.weight_bytes for r in rows) + max(r.activation_bytes for r in rows)
    return HardwareReport(layers=rows, energy_j=energy, latency_s=math.fsum(r.latency_s for r in rows),
                          memory_bytes=memory,
                          relative_energy=energy / exact_totals["system"] if exact_totals["system"] else float("nan"),
                          accelerator=acc.name, cycle_model=cycle_model, batch_size=batch_size,
                          exact_energy_j=exact_totals["system"], clock_period_s=acc.clock_period_s,
                          exact_totals=exact_totals, energy_note=_energy_note(acc, cycle_model),
                          include_dram=acc.include_dram, structured_skipping=structured,
                          not_approximated=exact_only, unpriced=excluded)


def _warn(shapes: Sequence[LayerShape], excluded: Tuple[str, ...]) -> Tuple[str, ...]:
    """Warns once about layers priced exact because they cannot be approximated, and about excluded ones; returns
    the former as ``"name (note)"``."""
    exact_only = tuple(dict.fromkeys(f"{s.origin} ({s.note})" for s in shapes if not s.approximable))
    if exact_only:
        warnings.warn(f"estimate: layers {quoted(exact_only)} multiply but cannot be approximated: priced as exact "
                      "8-bit MACs on the accelerator's exact halves, in this energy and in the all-exact reference; "
                      "no plan changes them, so they bound the reduction.", UserWarning, stacklevel=3)
    if excluded:
        warnings.warn(f"estimate: layers {quoted(excluded)} multiply but have no GEMM shape and are NOT priced: every "
                      "energy, latency and memory figure of this report (the all-exact reference too) leaves them "
                      "out.", UserWarning, stacklevel=3)
    return exact_only


def _energy_note(acc: Accelerator, cycle_model: str) -> str:
    if cycle_model == "paper":
        return ("Eq. (1)-(2) as read in docs/hardware.md: busy pods charged c_l x T x P_pod with the PDK45 powers "
                f"(energy scales with T = {acc.clock_period_s * 1e9:.3g} ns), memory N_m / R x E_M; DRAM "
                f"{acc.dram_energy_j_per_byte * 1e12:.3g} pJ/B")
    return (_en.describe(acc) + f"; accumulator {acc.accumulator_energy_j * 1e12:.3g} pJ/MAC; SRAM "
            f"{acc.memory_energy_j_per_byte * 1e12:.3g} pJ/B; DRAM {acc.dram_energy_j_per_byte * 1e12:.3g} pJ/B; "
            "T sets latency only")
