"""The multiplier registry: the bundled EvoApprox8b library (MIT licence, see ``data/README.md``) plus the user's
own multipliers, looked up by name.

A plain bundled name is the v2022 circuit; the ``__lite2020`` suffix selects the pre-2022 circuit of the same name.
A user multiplier (`Multiplier.from_function`, ``from_c_source``, ``from_bin`` or a table) becomes known by name
through `register` (plans and layers register the `Multiplier` objects they are given). Everything else in the
package asks this module one question: name -> `Multiplier`.
"""

from __future__ import annotations

import csv
import functools
import os
from typing import Dict, Optional, Union

import numpy as np

from tfaxdnn.core.errors import unknown_name
from tfaxdnn.multipliers.multiplier import Multiplier

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


_registered: Dict[str, Multiplier] = {}
TABLE_FILE_SUFFIXES = (".bin", ".npy")
#: Callables ``name -> Multiplier | None`` consulted (in order) for names neither bundled nor registered, e.g. the
#: reconfigurable presets (`tfaxdnn.multipliers.reconfigurable`). Like bundled circuits, what they provide is known
#: in every process by name, so it is not listed by `registered` (nor shipped to workers by the Evaluator).
_providers: list = []
_provided: Dict[str, Multiplier] = {}


def add_provider(provider) -> None:
    """Adds a ``name -> Multiplier | None`` provider that `get` asks about names it does not know."""
    if provider not in _providers:
        _providers.append(provider)


def _provide(name: str) -> Optional[Multiplier]:
    if name not in _provided:
        for provider in _providers:
            found = provider(name)
            if found is not None:
                _provided[name] = found
                break
    return _provided.get(name)


def register(multiplier: Multiplier) -> str:
    """Make a user `Multiplier` known by its name (plans, saved models and searches then accept the name).

    Registering the same name with the same table again replaces the entry (its metadata, e.g. ``power_mw``, may
    have been filled in). Returns the name.

    Raises:
        ValueError: the name is bundled or registered already with a different table.
    """
    if not isinstance(multiplier, Multiplier):
        raise TypeError(f"`register` takes a tfaxdnn.multipliers.Multiplier. Received: {type(multiplier).__name__}")
    name = multiplier.name
    known = _registered.get(name) or (_load(name) if name in _metadata() else None) or _provide(name)
    if known is not None:
        if known.hash != multiplier.hash:
            where = ("a bundled EvoApprox8b circuit" if name in _metadata() else
                     "a preset" if name in _provided and name not in _registered else "registered already")
            raise ValueError(f"Multiplier name {name!r} is {where} with table hash {known.hash}; the new table has "
                             f"hash {multiplier.hash}. Give your multiplier another name.")
        if name in _metadata() or (name in _provided and name not in _registered):
            return name
    _registered[name] = multiplier
    return name


def registered() -> list:
    """The user multipliers registered in this process (not the bundled ones)."""
    return list(_registered.values())


def get(name: str) -> Multiplier:
    """Return the multiplier ``name``: a registered user multiplier or a bundled circuit (``"mul8s_1L2N"``,
    ``"mul8s_1KV8__lite2020"``). A `Multiplier` is returned as it is.

    Raises:
        UnknownNameError (a KeyError and a ValueError): unknown name; the message lists the closest valid names.
    """
    if isinstance(name, Multiplier):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Multiplier name must be a string, got {type(name).__name__}.")
    if name in _registered:
        return _registered[name]
    provided = _provide(name) if name not in _metadata() else None
    if provided is not None:
        return provided
    if name not in _metadata():
        raise unknown_name("multiplier", name, list(_metadata()) + list(_registered),
                           hint=f"See tfaxdnn.multipliers.names() for the {len(_metadata())} bundled circuits; a "
                                "multiplier of your own must be registered first: "
                                "tfaxdnn.multipliers.register(Multiplier.from_bin(...) / .from_function(...)).")
    return _load(name)


def lookup(multiplier, signed: Optional[bool] = None) -> Multiplier:
    """A `Multiplier` from a name, a registered or new `Multiplier` object (registered on the way) or a table file
    path (``.bin`` TFApprox format or ``.npy`` ``[256, 256]`` array; named after the file, ``signed`` needed)."""
    if isinstance(multiplier, Multiplier):
        register(multiplier)
        return multiplier
    if isinstance(multiplier, (str, os.PathLike)) and str(multiplier).endswith(TABLE_FILE_SUFFIXES):
        return _table_file(os.fspath(multiplier), signed)
    return get(multiplier)


def _table_file(path: str, signed: Optional[bool]) -> Multiplier:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Multiplier table file not found: {path}")
    if signed is None:
        raise ValueError(f"Multiplier table file '{path}': its signedness is needed (the plan's quantisation dtype "
                         "decides: int8 -> signed, uint8 -> unsigned).")
    name = os.path.splitext(os.path.basename(path))[0]
    m = (Multiplier.from_bin(path, signed=signed, name=name) if path.endswith(".bin")
         else Multiplier(name=name, signed=signed, table=np.load(path)))
    register(m)
    return m


def exact(signed: bool = True) -> Multiplier:
    """The exact signed (``mul8s_1KV6``) or unsigned (``mul8u_1JJQ``) multiplier."""
    return get(EXACT_SIGNED if signed else EXACT_UNSIGNED)


def resolve(multiplier: Union[str, Multiplier, np.ndarray], signed: Optional[bool] = None) -> Multiplier:
    """Accept a `Multiplier`, a known name or a ``[256, 256]`` table (signedness then required; not registered)."""
    if isinstance(multiplier, (Multiplier, str)):
        return get(multiplier)
    arr = np.asarray(multiplier)
    if arr.ndim == 0:
        raise TypeError(f"`multiplier` must be a Multiplier, a name or a [256, 256] table, got {multiplier!r}.")
    if signed is None:
        raise ValueError("A raw [256, 256] table needs its signedness: pass a Multiplier instead, or the "
                         "operand dtype decides (int8 -> signed, uint8 -> unsigned).")
    return Multiplier(name="custom", signed=signed, table=arr)
