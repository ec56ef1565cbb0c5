"""`LayerEstimate` rows and the `HardwareReport` of a whole model."""

from __future__ import annotations

import csv
import dataclasses
from typing import List, Optional

#: Columns of the CSV / table, in order.
COLUMNS = ("name", "macs", "active_macs", "tiles", "cycles", "utilization", "latency_s", "energy_compute_j",
           "energy_memory_j", "energy_j", "weight_bytes", "activation_bytes", "multiplier", "pods", "matched",
           "fits_on_chip")


@dataclasses.dataclass(frozen=True)
class LayerEstimate:
    """Hardware estimate of one layer (units: cycles, s, J, bytes)."""

    name: str
    macs: int
    active_macs: int
    tiles: int
    cycles: int
    utilization: float
    latency_s: float
    energy_compute_j: float
    energy_memory_j: float
    energy_j: float
    weight_bytes: int
    activation_bytes: int
    multiplier: str
    pods: str
    matched: bool
    fits_on_chip: bool

    def as_dict(self) -> dict:
        return {c: getattr(self, c) for c in COLUMNS}


@dataclasses.dataclass(frozen=True)
class HardwareReport:
    """Per-layer estimates plus totals.

    Attributes:
        layers: one `LayerEstimate` per Conv2D / DepthwiseConv2D / Dense layer.
        energy_j, latency_s: sums over layers (layers run one after another).
        memory_bytes: footprint = all weight bytes + the largest per-layer activation footprint.
        relative_energy: ``energy_j`` / energy of the same model all-exact without skipping, same accelerator.
        accelerator: name of the accelerator preset; cycle_model: ``"ws"`` or ``"paper"``; batch_size.
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

    @property
    def cycles(self) -> int:
        return sum(r.cycles for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def active_macs(self) -> int:
        return sum(r.active_macs for r in self.layers)

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
            total = {"name": "TOTAL", "macs": self.macs, "active_macs": self.active_macs,
                     "tiles": sum(r.tiles for r in self.layers), "cycles": self.cycles, "latency_s": self.latency_s,
                     "energy_compute_j": sum(r.energy_compute_j for r in self.layers),
                     "energy_memory_j": sum(r.energy_memory_j for r in self.layers), "energy_j": self.energy_j,
                     "weight_bytes": sum(r.weight_bytes for r in self.layers)}
            w.writerow([total.get(c, "") for c in COLUMNS])

    def __str__(self) -> str:
        head = ("layer", "multiplier", "MACs", "active", "tiles", "cycles", "util", "latency[us]", "E_comp[nJ]",
                "E_mem[nJ]", "E[nJ]")
        rows = [(r.name, r.multiplier + ("" if r.matched else "*"), f"{r.macs:,}", f"{r.active_macs:,}",
                 str(r.tiles), f"{r.cycles:,}", f"{r.utilization:.1%}", f"{r.latency_s * 1e6:.3f}",
                 f"{r.energy_compute_j * 1e9:.3f}", f"{r.energy_memory_j * 1e9:.3f}", f"{r.energy_j * 1e9:.3f}")
                for r in self.layers]
        widths = [max(len(x) for x in col) for col in zip(head, *rows)]
        fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [f"HardwareReport ({self.accelerator}, cycle model '{self.cycle_model}', batch {self.batch_size})",
                 fmt.format(*head), "  ".join("-" * w for w in widths)]
        lines += [fmt.format(*r) for r in rows]
        lines.append(f"total: energy {self.energy_j * 1e9:.3f} nJ ({self.relative_energy:.3f} x all-exact), "
                     f"latency {self.latency_s * 1e6:.3f} us, memory {self.memory_bytes:,} bytes")
        if not all(r.matched for r in self.layers):
            lines.append("* no pod carries this multiplier: placed on all approximate pods (chip specialised)")
        return "\n".join(lines)
