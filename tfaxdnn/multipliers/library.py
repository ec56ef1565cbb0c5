"""The bundled EvoApprox8b library (MIT licence, see ``data/README.md``): lookup by name.

A plain name is the v2022 circuit; the ``__lite2020`` suffix selects the pre-2022 circuit of the same name.
"""

from __future__ import annotations

import csv
import difflib
import functools
import os
from typing import Optional, Union

import numpy as np

from tfaxdnn.multipliers.multiplier import Multiplier, exact_table

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")

#: Exact reference circuits.
EXACT_SIGNED = "mul8s_1KV6"
EXACT_UNSIGNED = "mul8u_1JJQ"
#: The XAI-Gen paper's multipliers, ordered by MAE (exact first).
PAPER_MULTIPLIERS = ("mul8s_1KV6", "mul8s_1KV8", "mul8s_1KV9", "mul8s_1KVP", "mul8s_1L2J", "mul8s_1L2L",
                     "mul8s_1L2N")


def _float(value: str) -> Optional[float]:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def _metadata() -> dict:
    with open(os.path.join(DATA_DIR, "metadata.csv"), newline="") as f:
        return {row["name"]: row for row in csv.DictReader(f)}


@functools.lru_cache(maxsize=2)
def _tables(signed: bool):
    return np.load(os.path.join(DATA_DIR, "mul8s_luts.npz" if signed else "mul8u_luts.npz"))


def names(signed: Optional[bool] = None) -> list:
    """All bundled multiplier names (optionally only signed or only unsigned), sorted by MAE then name."""
    rows = _metadata().values()
    if signed is not None:
        rows = [r for r in rows if (r["signedness"] == "signed") == signed]
    return [r["name"] for r in sorted(rows, key=lambda r: (_float(r["mae_percent_computed"]) or 0.0, r["name"]))]


@functools.lru_cache(maxsize=None)
def _load(name: str) -> Multiplier:
    row = _metadata()[name]
    signed = row["signedness"] == "signed"
    return Multiplier(
        name=name, signed=signed, table=_tables(signed)[name],
        power_mw=_float(row["power_mW"]), area_um2=_float(row["area_um2"]), delay_ns=_float(row["delay_ns"]),
        mae_percent=_float(row["mae_percent"]), wce_percent=_float(row["wce_percent"]),
        metadata={k: row[k] for k in ("mre_percent", "ep_percent", "mae_percent_computed", "wce_percent_computed",
                                      "releases", "source_path", "same_function_as", "table_sha256_16")})


def get(name: str) -> Multiplier:
    """Return the bundled multiplier ``name`` (e.g. ``"mul8s_1L2N"`` or ``"mul8s_1KV8__lite2020"``).

    Raises:
        KeyError: unknown name; the message lists the closest valid names.
    """
    if isinstance(name, Multiplier):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Multiplier name must be a string, got {type(name).__name__}.")
    if name not in _metadata():
        close = difflib.get_close_matches(name, list(_metadata()), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(f"Unknown multiplier '{name}'.{hint} See tfaxdnn.multipliers.names() for all "
                       f"{len(_metadata())} bundled circuits.")
    return _load(name)


def exact(signed: bool = True) -> Multiplier:
    """The exact signed (``mul8s_1KV6``) or unsigned (``mul8u_1JJQ``) multiplier."""
    return get(EXACT_SIGNED if signed else EXACT_UNSIGNED)


def resolve(multiplier: Union[str, Multiplier, np.ndarray], signed: Optional[bool] = None) -> Multiplier:
    """Accept a `Multiplier`, a bundled name or a ``[256, 256]`` table (signedness then required)."""
    if isinstance(multiplier, Multiplier):
        return multiplier
    if isinstance(multiplier, str):
        return get(multiplier)
    arr = np.asarray(multiplier)
    if arr.ndim == 0:
        raise TypeError(f"`multiplier` must be a Multiplier, a name or a [256, 256] table, got {multiplier!r}.")
    if signed is None:
        raise ValueError("A raw [256, 256] table needs its signedness: pass a Multiplier instead, or the "
                         "operand dtype decides (int8 -> signed, uint8 -> unsigned).")
    return Multiplier(name="custom", signed=signed, table=arr)


def _check_exact_references():  # used by tests
    return all(np.array_equal(get(n).table, exact_table(get(n).signed)) for n in (EXACT_SIGNED, EXACT_UNSIGNED))
