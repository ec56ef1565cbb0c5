"""Mapping policy: which half-pods a layer runs on.

Policy (documented in docs/hardware.md):

- A pod split into halves is used as two independent ``(rows/2) x cols`` weight-stationary arrays; the upper half
  has exact MACs, the lower half the pod's approximate multiplier.
- **Approximate layer** with multiplier X: runs on the lower halves of every pod whose multiplier is X, tiles spread
  round-robin. If no pod carries X: with ``strict=True`` this is an error; otherwise the layer is placed on the
  lower halves of all approximate pods as if they had been built with X (design-time specialisation of the chip
  for the plan) and the placement is flagged ``matched=False``.
- **Exact layer**: runs on every exact half, i.e. the upper half of each pod plus both halves of all-exact pods.
  When *every* pod is exact the halves are not split and each pod is one ``rows x cols`` array.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

from tfaxdnn.hardware.accelerator import Accelerator, is_exact


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a layer runs: ``units`` identical arrays of ``tile_rows x tile_cols`` MACs on ``pods``."""

    tile_rows: int
    tile_cols: int
    units: int
    pods: Tuple[int, ...]
    matched: bool = True

    @property
    def macs(self) -> int:
        """MAC units available to the layer."""
        return self.units * self.tile_rows * self.tile_cols


def place(layer_name: str, multiplier, acc: Accelerator, strict: bool = False) -> Placement:
    """The `Placement` of a layer using ``multiplier`` (a `Multiplier`, or None for exact) on ``acc``.

    A multiplier whose table is the exact product (e.g. ``mul8s_1KV6``) counts as exact.

    Raises:
        ValueError: approximate layer on an accelerator without approximate pods, or (``strict``) on one without a
            pod carrying its multiplier.
    """
    pm = acc.pod_multipliers
    approx_pods = acc.approximate_pods
    if multiplier is None or is_exact(multiplier):
        if not approx_pods:
            return Placement(acc.rows, acc.cols, acc.pods, tuple(range(acc.pods)))
        units = acc.pods + (acc.pods - len(approx_pods))
        return Placement(acc.half_rows, acc.cols, units, tuple(range(acc.pods)))
    name = multiplier.name
    matching = tuple(i for i, n in enumerate(pm) if n == name)
    if matching:
        return Placement(acc.half_rows, acc.cols, len(matching), matching)
    carried = sorted({n for n in pm if n is not None})
    if not approx_pods:
        raise ValueError(f"Layer '{layer_name}' uses approximate multiplier '{name}' but accelerator '{acc.name}' has "
                         f"no approximate pod. Use e.g. Accelerator.paper() or acc.configured_for(['{name}']).")
    if strict:
        raise ValueError(f"Layer '{layer_name}' uses multiplier '{name}', which no pod of accelerator '{acc.name}' "
                         f"carries (pods carry {carried}). Use acc.configured_for([...]) or strict=False.")
    return Placement(acc.half_rows, acc.cols, len(approx_pods), approx_pods, matched=False)
