"""Per-weight mode selection of a reconfigurable multiplier: nested code ranges around the layer's weight median.

For a layer with weight codes ``c`` and mode fractions ``(v1, v2, ...)`` (fraction of the layer's weights -- hence of
its multiplications -- in M1, M2, ...; ``sum <= 1``) the most aggressive mode takes the codes closest to the median
code, the next mode the next ring, and M0 the rest (SPEC section 10, the formal-mapping paper's Fig. 3):

- codes are ranked by ``(|code - median|, code)``; every prefix of that ranking is one contiguous code range, so a mode
  is selected by two comparators per range (``lo <= w <= hi``), as LVRM's control unit does;
- mode ``k``'s range is the shortest prefix whose weight count is nearest to ``(v_k + v_{k+1} + ...) * N`` (ties: the
  shorter one); ranges are nested, and a code's mode is the innermost range holding it (none: M0).

Codes are discrete and shared by many weights, so the achieved fractions (`ModeSelection.fractions`) are the nearest
the ranges allow, not the requested ones. The mode depends only on the code, which makes one composite table per layer
(`tfaxdnn.multipliers.Reconfigurable.composite`).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

__all__ = ["ModeSelection", "check_fractions", "select_modes"]

_TOLERANCE = 1e-9


def check_fractions(fractions, n_modes: Optional[int] = None, where: str = "mode_fractions") -> tuple:
    """``fractions`` as a tuple of floats in [0, 1] summing to at most 1 (one per approximate mode when ``n_modes``
    is given); clear ValueError otherwise."""
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, (Sequence, np.ndarray)):
        raise TypeError(f"{where}: expected a sequence of fractions (v1, v2, ...). Received: {fractions!r}")
    try:
        values = tuple(float(v) for v in fractions)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: fractions must be numbers. Received: {fractions!r}") from None
    if not values:
        raise ValueError(f"{where}: give one fraction per approximate mode (v1 for M1, v2 for M2, ...). Received: ()")
    bad = [v for v in values if not np.isfinite(v) or v < 0.0 or v > 1.0]
    if bad:
        raise ValueError(f"{where}: every fraction must lie in [0, 1]. Received: {values}")
    if sum(values) > 1.0 + _TOLERANCE:
        names = ", ".join(f"v{i + 1}={v:g}" for i, v in enumerate(values))
        raise ValueError(f"{where}: the approximate modes' fractions must sum to at most 1 (the rest is M0). "
                         f"Received: {names} (sum {sum(values):g})")
    if n_modes is not None and len(values) != n_modes - 1:
        raise ValueError(f"{where}: the multiplier has {n_modes} modes, so {n_modes - 1} fractions (M1..M"
                         f"{n_modes - 1}) are needed. Received: {len(values)} {values}")
    return values


@dataclasses.dataclass(frozen=True)
class ModeSelection:
    """The code -> mode assignment of one layer.

    Attributes:
        ranges: per approximate mode (M1, M2, ...) its inclusive code range ``(lo, hi)``, or None when empty; nested
            (M2's range inside M1's).
        mode_of_code: int array ``[256]`` indexed like a table's weight axis (signed: ``code + 128``).
        counts: weights per mode ``[n_modes]``.
        median: the layer's median weight code.
        signed: code convention.
    """

    ranges: tuple
    mode_of_code: np.ndarray
    counts: np.ndarray
    median: float
    signed: bool

    @property
    def fractions(self) -> np.ndarray:
        """Achieved fraction of weights per mode (M0 first)."""
        total = self.counts.sum()
        return self.counts / total if total else np.zeros_like(self.counts, dtype=float)

    def modes_of(self, codes) -> np.ndarray:
        """Mode of every weight code in ``codes`` (any shape)."""
        return self.mode_of_code[np.asarray(codes, np.int64) + (128 if self.signed else 0)]

    def to_dict(self) -> dict:
        return {"ranges": [None if r is None else [int(r[0]), int(r[1])] for r in self.ranges],
                "median": float(self.median), "counts": [int(c) for c in self.counts],
                "fractions": [float(f) for f in self.fractions]}


def select_modes(codes, fractions, signed: bool = True) -> ModeSelection:
    """Nested code ranges around the median of ``codes`` holding (nearest to) ``fractions`` of the weights.

    Args:
        codes: the layer's weight codes (any shape; the codes the LUT op multiplies with).
        fractions: ``(v1, v2, ...)`` fraction of weights in M1, M2, ... (``sum <= 1``).
        signed: int8 codes (-128..127) or uint8 codes (0..255).
    """
    v = check_fractions(fractions)
    off = 128 if signed else 0
    flat = np.asarray(codes, np.int64).reshape(-1)
    if flat.size == 0:
        raise ValueError("select_modes: the layer has no weights.")
    if flat.min() < -off or flat.max() > 255 - off:
        raise ValueError(f"select_modes: codes must lie in [{-off}, {255 - off}] for "
                         f"{'signed' if signed else 'unsigned'} tables. Received: [{flat.min()}, {flat.max()}]")
    hist = np.bincount(flat + off, minlength=256)
    median = float(np.median(flat))
    domain = np.arange(256) - off
    order = np.lexsort((domain, np.abs(domain - median)))  # by distance to the median, then code
    cum = np.concatenate([[0], np.cumsum(hist[order])])   # weights in the first p ranked codes, p = 0..256
    n_modes = len(v) + 1
    prefix = [0] * n_modes                                   # prefix[k]: ranked codes in mode >= k (k >= 1)
    inner = 0
    for k in range(n_modes - 1, 0, -1):
        target = sum(v[k - 1:]) * flat.size
        candidates = np.arange(inner, 257)
        p = int(candidates[np.argmin(np.abs(cum[candidates] - target))])  # first minimum: shortest prefix
        prefix[k] = inner = p
    mode_of_code = np.zeros(256, np.int64)
    ranges = []
    for k in range(1, n_modes):
        idx = order[:prefix[k]]
        mode_of_code[idx] = k  # outer ranges first, inner ones overwrite
        ranges.append(None if prefix[k] == 0 else (int(domain[idx].min()), int(domain[idx].max())))
    counts = np.bincount(mode_of_code[flat + off], minlength=n_modes)
    return ModeSelection(tuple(ranges), mode_of_code, counts, median, bool(signed))
