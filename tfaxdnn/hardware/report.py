"""`LayerEstimate` rows and the `HardwareReport` of a whole model, with its energy accountings side by side."""

from __future__ import annotations

import csv
import dataclasses
import math
from typing import Dict, List, Optional, Tuple

#: Energy accountings: ``system`` = MACs + on-chip SRAM (+ DRAM when the accelerator includes it); ``compute`` =
#: multipliers + accumulators (what approximate-computing papers compare); ``multiplier`` = multipliers only.
ACCOUNTINGS = {"system": "energy_j", "compute": "energy_compute_j", "multiplier": "energy_multiplier_j"}

#: Energy parts that add up to ``energy_j`` (DRAM only when included).
SRAM_PARTS = ("energy_sram_weights_j", "energy_sram_ifmap_j", "energy_sram_psum_j", "energy_sram_ofmap_j")
COMPUTE_PARTS = ("energy_multiplier_j", "energy_accumulator_j")

#: Columns of the CSV, in order.
COLUMNS = ("name", "macs", "active_macs", "tiles", "cycles", "utilization", "latency_s",
           "energy_multiplier_j", "energy_accumulator_j", "energy_compute_j",
           "energy_sram_weights_j", "energy_sram_ifmap_j", "energy_sram_psum_j", "energy_sram_ofmap_j",
           "energy_sram_j", "energy_dram_j", "energy_memory_j", "energy_j",
           "sram_weight_bytes", "sram_ifmap_bytes", "sram_psum_bytes", "sram_ofmap_bytes", "dram_weight_bytes",
           "dram_ifmap_bytes", "dram_ofmap_bytes", "dram_bytes", "weight_bytes", "activation_bytes",
           "zero_input_channels", "multiplier", "pods", "matched", "fits_on_chip", "approximable")
_SUMMED = [c for c in COLUMNS if c.startswith(("energy_", "sram_", "dram_")) or c in (
    "macs", "active_macs", "tiles", "cycles", "latency_s", "weight_bytes")]


@dataclasses.dataclass(frozen=True)
class LayerEstimate:
    """Hardware estimate of one layer (units: cycles, s, J, bytes).

    Energy parts: ``energy_multiplier_j + energy_accumulator_j = energy_compute_j``; the four SRAM parts (weights,
    input activations, int32 partial sums, outputs) sum to ``energy_sram_j``; ``energy_memory_j = energy_sram_j``
    (+ ``energy_dram_j`` when the accelerator includes DRAM); ``energy_j = energy_compute_j + energy_memory_j``.
    ``energy_dram_j`` is always computed: unique tensor bytes (kept weights once, the real input tensor once, the
    kept outputs once; ``dram_bytes`` = their sum) x the DRAM energy per byte.
    ``zero_input_channels``: input channels (Dense: features) provably zero because a producer skipped them.
    ``mode_utilization``: share of the layer's multiplications per mode of a reconfigurable multiplier (M0 first;
    empty for a single-mode multiplier).
    ``approximable``: False for a layer that multiplies but cannot be approximated (SeparableConv parts, Conv1D/3D,
    transposed, 1-D depthwise, grouped convolutions): priced as exact 8-bit MACs on the exact halves, here and in
    the all-exact reference.
    """

    name: str
    macs: int
    active_macs: int
    tiles: int
    cycles: int
    utilization: float
    latency_s: float
    energy_multiplier_j: float
    energy_accumulator_j: float
    energy_compute_j: float
    energy_sram_weights_j: float
    energy_sram_ifmap_j: float
    energy_sram_psum_j: float
    energy_sram_ofmap_j: float
    energy_sram_j: float
    energy_dram_j: float
    energy_memory_j: float
    energy_j: float
    sram_weight_bytes: int
    sram_ifmap_bytes: int
    sram_psum_bytes: int
    sram_ofmap_bytes: int
    dram_weight_bytes: int
    dram_ifmap_bytes: int
    dram_ofmap_bytes: int
    dram_bytes: int
    weight_bytes: int
    activation_bytes: int
    zero_input_channels: int
    multiplier: str
    pods: str
    matched: bool
    fits_on_chip: bool
    mode_utilization: tuple = ()
    approximable: bool = True

    def as_dict(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


def _pct(fraction: float) -> str:
    """Utilisation with three significant digits (depthwise layers reach ~1e-4, which ``.1%`` shows as 0.0 %)."""
    return "0%" if fraction == 0 else f"{fraction * 100:.3g}%"


def _fmt_table(head, rows, left=2) -> List[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" if i < left else f"{{:>{w}}}" for i, w in enumerate(widths))
    return [fmt.format(*head), "  ".join("-" * w for w in widths)] + [fmt.format(*r) for r in rows]


@dataclasses.dataclass(frozen=True)
class HardwareReport:
    """Per-layer estimates plus totals.

    Attributes:
        layers: one `LayerEstimate` per Conv2D / DepthwiseConv2D / Dense layer, and per GEMM of a layer that cannot
            be approximated (``approximable=False``; a SeparableConv ``sep``: ``sep/depthwise``, ``sep/pointwise``).
        energy_j, latency_s: sums over layers (layers run one after another); ``energy_j`` is the **system**
            energy (MACs + on-chip SRAM, + DRAM when the accelerator includes it).
        memory_bytes: footprint = all weight bytes + the largest per-layer activation footprint.
        relative_energy: ``energy_j`` / system energy of the same model all-exact without skipping, same accelerator.
        accelerator, cycle_model, batch_size, clock_period_s: the setting.
        exact_energy_j: system energy of the all-exact reference.
        exact_totals: ``{accounting: J}`` of the all-exact reference for every accounting in `ACCOUNTINGS`.
        energy_note: how the multiplier energy per operation was obtained (printed in the header).
        include_dram: whether ``energy_j`` contains the DRAM part.
        structured_skipping: whether skipped channels also removed their consumers' inputs.
        not_approximated: ``"name (what)"`` of the layers that cannot be approximated, priced as exact 8-bit MACs.
        unpriced: ``"name (Class)"`` of the layers that multiply but have no GEMM shape, left out of every figure
            (``estimate(..., unpriced="exclude")``; empty otherwise).
    """

    layers: List[LayerEstimate]
    energy_j: float
    latency_s: float
    memory_bytes: int
    relative_energy: float
    accelerator: str = ""
    cycle_model: str = "ws"
    batch_size: int = 1
    exact_energy_j: Optional[float] = None
    clock_period_s: Optional[float] = None
    exact_totals: Dict[str, float] = dataclasses.field(default_factory=dict)
    energy_note: str = ""
    include_dram: bool = False
    structured_skipping: bool = True
    not_approximated: Tuple[str, ...] = ()
    unpriced: Tuple[str, ...] = ()

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def active_macs(self) -> int:
        return sum(r.active_macs for r in self.layers)

    def total(self, column: str) -> float:
        """Sum of a numeric column over layers (``math.fsum`` for floats)."""
        values = [getattr(r, column) for r in self.layers]
        return math.fsum(values) if any(isinstance(v, float) for v in values) else sum(values)

    def energy(self, accounting: str = "system") -> float:
        """Total energy in joules under ``accounting`` (``"system"``, ``"compute"`` or ``"multiplier"``)."""
        return self.total(_column(accounting))

    def reduction(self, accounting: str = "system") -> float:
        """How many times lower than the all-exact, unskipped model under ``accounting`` (e.g. 2.85 = 2.85x)."""
        ours, exact = self.energy(accounting), self.exact_totals.get(accounting)
        if exact is None:
            raise ValueError("This report carries no all-exact reference (built by hand?): no reduction available.")
        return exact / ours if ours else float("inf")

    def breakdown(self) -> Dict[str, float]:
        """Total energy of every part (multiplier, accumulator, SRAM weights/ifmap/psum/ofmap, DRAM), joules."""
        return {c: self.total(c) for c in COMPUTE_PARTS + SRAM_PARTS + ("energy_dram_j",)}

    def __getitem__(self, name: str) -> LayerEstimate:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"No layer '{name}' in the report. Layers: {[r.name for r in self.layers]}")

    def to_csv(self, path: str) -> None:
        """Write one row per layer plus a ``TOTAL`` row."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for row in self.layers:
                w.writerow([getattr(row, c) for c in COLUMNS])
            total = {c: self.total(c) for c in _SUMMED}
            total["name"] = "TOTAL"
            w.writerow([total.get(c, "") for c in COLUMNS])

    def header(self) -> List[str]:
        clock = "" if self.clock_period_s is None else f", clock T = {self.clock_period_s * 1e9:.3g} ns"
        lines = [f"HardwareReport ({self.accelerator}, cycle model '{self.cycle_model}', batch {self.batch_size}"
                 f"{clock})"]
        if self.energy_note:
            lines.append(self.energy_note)
        lines.append("skipping: " + ("structured (skipped channels also remove their consumers' input MACs, weights "
                                     "and traffic where provably zero)" if self.structured_skipping else
                                     "per layer only (the next layers keep their inputs)")
                     + ("; DRAM included in system energy" if self.include_dram else
                        "; DRAM shown, not included in system energy"))
        if self.unpriced:
            lines.append(f"NOT priced (multiply, but no GEMM shape; left out of every figure below, the all-exact "
                         f"reference too): {', '.join(self.unpriced)}")
        return lines

    def __str__(self) -> str:
        nj = lambda v: f"{v * 1e9:.4g}"  # noqa: E731
        head = ("layer", "multiplier", "MACs", "active", "cycles", "util", "lat[us]", "mult[nJ]", "acc[nJ]",
                "W[nJ]", "in[nJ]", "psum[nJ]", "out[nJ]", "DRAM[nJ]", "E[nJ]")
        mark = lambda r: ("" if r.matched else "*") + ("" if r.approximable else "^")  # noqa: E731
        rows = [(r.name, r.multiplier + mark(r), f"{r.macs:,}", f"{r.active_macs:,}", f"{r.cycles:,}",
                 _pct(r.utilization), f"{r.latency_s * 1e6:.4g}", nj(r.energy_multiplier_j),
                 nj(r.energy_accumulator_j), nj(r.energy_sram_weights_j), nj(r.energy_sram_ifmap_j),
                 nj(r.energy_sram_psum_j), nj(r.energy_sram_ofmap_j), nj(r.energy_dram_j), nj(r.energy_j))
                for r in self.layers]
        b = self.breakdown()
        rows.append(("TOTAL", "", f"{self.macs:,}", f"{self.active_macs:,}", f"{self.cycles:,}", "",
                     f"{self.latency_s * 1e6:.4g}", nj(b["energy_multiplier_j"]), nj(b["energy_accumulator_j"]),
                     nj(b["energy_sram_weights_j"]), nj(b["energy_sram_ifmap_j"]), nj(b["energy_sram_psum_j"]),
                     nj(b["energy_sram_ofmap_j"]), nj(b["energy_dram_j"]), nj(self.energy_j)))
        lines = self.header() + _fmt_table(head, rows)
        if self.exact_totals:
            acc_rows = [(name, nj(self.energy(name)), nj(self.exact_totals[name]), f"{self.reduction(name):.3g}x")
                        for name in ACCOUNTINGS]
            lines += [""] + _fmt_table(("accounting", "E[nJ]", "all-exact[nJ]", "reduction"), acc_rows, left=1)
        lines.append(f"latency {self.latency_s * 1e6:.4g} us, memory {self.memory_bytes:,} bytes, "
                     f"energy {nj(self.energy_j)} nJ ({self.relative_energy:.3f} x all-exact)")
        if not all(r.matched for r in self.layers):
            lines.append("* no pod carries this multiplier: placed on all approximate pods (chip specialised)")
        if not all(r.approximable for r in self.layers):
            lines.append("^ not approximable: priced as exact 8-bit MACs on the exact halves, here and in the "
                         "all-exact reference (no plan changes them): " + ", ".join(self.not_approximated))
        return "\n".join(lines)


def _column(accounting: str) -> str:
    try:
        return ACCOUNTINGS[accounting]
    except KeyError:
        raise ValueError(f"`accounting` must be one of {tuple(ACCOUNTINGS)}. Received: accounting={accounting!r}") \
            from None
