"""Cycle and memory-traffic models of one layer: dataflow-aware weight-stationary tiling and the paper's Eq. (1).

Notation: a layer is ``groups`` GEMMs; group ``g`` multiplies ``F x k`` streamed activations by a ``k x o_g`` weight
matrix (``o_g`` = kept outputs of the group). ``F`` = positions per sample x batch size.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

#: Bytes per operand (int8 activations and weights), per partial sum (int32) and per stored output (int8).
OPERAND_BYTES = 1
PSUM_BYTES = 4
OUTPUT_BYTES = 1


@dataclasses.dataclass(frozen=True)
class WSCycles:
    """Result of the weight-stationary tile model for one layer."""

    tiles: int
    cycles_per_tile: int
    cycles: int
    weight_read_bytes: int
    ifmap_read_bytes: int
    psum_bytes: int
    output_write_bytes: int

    @property
    def sram_bytes(self) -> int:
        """All on-chip buffer traffic of the layer, bytes."""
        return self.weight_read_bytes + self.ifmap_read_bytes + self.psum_bytes + self.output_write_bytes


def ws_tile_cycles(tile_rows: int, tile_cols: int, streamed_rows: int) -> int:
    """Cycles of one weight-stationary tile: ``2r + c + F - 2`` (SCALE-Sim's count).

    ``r`` cycles load the weights, then ``F`` activation rows stream through with ``r - 1`` cycles of input skew
    (fill) and ``c - 1`` cycles of drain.
    """
    return 2 * tile_rows + tile_cols + streamed_rows - 2


def ws_layer(k, kept_per_group: Sequence[int], streamed_rows: int, tile_rows: int, tile_cols: int,
             units: int) -> WSCycles:
    """Tile the ``k_g x o_g`` weight matrices into ``tile_rows x tile_cols`` tiles spread round-robin over ``units``.

    ``k`` is the reduction length, one int for all groups or one per group (structured skipping removes the input
    channels of a group that are provably zero). Every tile streams all ``streamed_rows`` (= F) activation rows;
    tiles on different units run concurrently, so the layer takes ``ceil(tiles / units)`` tile times. Edge tiles cost
    a full tile time (the array is not resized). Traffic: each weight read once; the activations are re-streamed
    once per column fold; partial sums of all but the last row fold are written and read back as int32; outputs are
    written once as int8.
    """
    ks = [int(k)] * len(kept_per_group) if isinstance(k, (int, np.integer)) else [int(v) for v in k]
    if len(ks) != len(kept_per_group):
        raise ValueError(f"ws_layer: {len(ks)} reduction lengths for {len(kept_per_group)} groups.")
    tiles = weight = ifmap = psum = out = 0
    for k_g, o_g in zip(ks, kept_per_group):
        o_g = int(o_g)
        if o_g <= 0 or k_g <= 0:
            continue
        row_folds = math.ceil(k_g / tile_rows)
        col_folds = math.ceil(o_g / tile_cols)
        tiles += row_folds * col_folds
        weight += k_g * o_g * OPERAND_BYTES
        ifmap += streamed_rows * k_g * col_folds * OPERAND_BYTES
        psum += streamed_rows * o_g * (row_folds - 1) * 2 * PSUM_BYTES
        out += streamed_rows * o_g * OUTPUT_BYTES
    per_tile = ws_tile_cycles(tile_rows, tile_cols, streamed_rows)
    cycles = math.ceil(tiles / units) * per_tile if tiles else 0
    return WSCycles(tiles, per_tile, cycles, weight, ifmap, psum, out)


# ---------------------------------------------------------------------- the paper's Eq. (1)-(2)
def paper_weight_groups(n_w: int, macs_per_pod: int, pods: int) -> int:
    """Groups of weights loaded into each half: ``w_p/2 = ceil(2 n_w / (m p))`` (each half holds ``m/2``)."""
    return math.ceil(2 * n_w / (macs_per_pod * pods)) if n_w else 0


def paper_cycles(n_w: int, f_l: int, macs_per_pod: int, pods: int) -> int:
    """``c_l = f_l * w_p/2``: every weight group stays for ``f_l`` cycles, one reusing position per cycle."""
    return f_l * paper_weight_groups(n_w, macs_per_pod, pods)


def paper_busy_pods(n_w: int, macs_per_pod: int, pods: int) -> int:
    """Pods that hold weights during the layer: ``min(p, ceil(2 n_w / m))`` (a weight group fills one half each).

    Eq. (2) charges ``c_l T P_pod``; we charge every pod that holds a weight group, not idle ones.
    """
    return min(pods, math.ceil(2 * n_w / macs_per_pod)) if n_w else 0


def paper_memory_accesses(n_w: int, f_l: int, macs_per_pod: int) -> float:
    """``N_m`` of Eq. (1) under our reading, with ``x = r.c`` read as the layer's weight count ``n_w``::

        N_m = x                              if x <= m/2          (weights fit one half: each read once)
            = (m/2) * max(f_l (x/(m/2) - 1), 1)   if m/2 < x <= m
            = m     * max(f_l (x/m     - 1), 1)   otherwise

    i.e. ``max(f_l (x - u), u)`` with capacity ``u`` = ``m/2`` or ``m``: the weights that overflow the capacity are
    re-fetched for every one of the ``f_l`` positions. The garbled ``(r c 2)`` / ``(r c 1)`` are read as
    ``x/(m/2) - 1`` and ``x/m - 1``. Note the drop at ``x = m`` (``f_l m/2`` -> ``m``) that this reading inherits.
    """
    x, m = float(n_w), float(macs_per_pod)
    if x <= m / 2:
        return x
    if x <= m:
        return (m / 2) * max(f_l * (x / (m / 2) - 1.0), 1.0)
    return m * max(f_l * (x / m - 1.0), 1.0)
