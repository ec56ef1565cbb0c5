"""Reconfigurable approximate multipliers: one circuit with several modes M0 (exact), M1, M2, ... (SPEC section 10).

Each mode is a full `Multiplier` (256x256 table + ``power_mw``; one multiplication costs ``power * T``). The mode of
a multiplication is chosen by its **weight code** (comparators on the weight operand, as in LVRM and the
formal-mapping paper), so for a given code -> mode assignment the whole layer behaves like one static multiplier whose
column ``w`` is the column ``w`` of the mode that code ``w`` selects: `Reconfigurable.composite`. That composite table
runs through the existing LUT op; no new kernel.

A `Reconfigurable` is a `Multiplier` (its own ``table``/``power_mw`` are M0's, i.e. what a layer gets when no weight
is mapped to an approximate mode), registered and looked up by name like any other. Its ``hash`` covers every mode
table, so two reconfigurables that differ in any mode are different multipliers.

Presets (`PRESETS`, from the bundled EvoApprox8b signed v2022 circuits, PDK45 power):

============  ============  =========================  =========================  ==========================
preset        M0 (exact)    M1                         M2                         why
============  ============  =========================  =========================  ==========================
recon_evo     mul8s_1KV6    mul8s_1L2J: MAE 0.081 %,   mul8s_1L2N: MAE 0.52 %,    M1 saves the most power per
              0.425 mW      0.301 mW (-29 %)           0.126 mW (-70 %)           unit of MAE of all signed
                                                                                  circuits (sub-linear error /
                                                                                  saving, like LVRM1 vs LVRM2)
recon_mild    mul8s_1KV6    mul8s_1KVP: MAE 0.051 %,   mul8s_1L2L: MAE 0.23 %,    gentler pair for sensitive
              0.425 mW      0.363 mW (-15 %)           0.200 mW (-53 %)           networks (deeper models)
============  ============  =========================  =========================  ==========================

The reconfiguration logic (4 comparators, 2 AND, 1 OR per array row; < 3 % area in LVRM) is not priced.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Mapping, Optional, Sequence

import numpy as np

from tfaxdnn.multipliers import library as _lib
from tfaxdnn.multipliers.multiplier import TABLE_SHAPE, Multiplier

__all__ = ["Reconfigurable", "PRESETS", "preset", "preset_names"]

#: name -> (M0, M1, M2) bundled circuit names; see the module docstring for the choice.
PRESETS = {"recon_evo": ("mul8s_1KV6", "mul8s_1L2J", "mul8s_1L2N"),
           "recon_mild": ("mul8s_1KV6", "mul8s_1KVP", "mul8s_1L2L")}


def _mode(value, index: int, owner: str, signed: Optional[bool]) -> Multiplier:
    """A mode as a `Multiplier`: a Multiplier, a bundled/registered name, or ``{"table", "power_mw"[, "name"]}``."""
    where = f"Reconfigurable {owner!r} mode M{index}"
    if isinstance(value, Reconfigurable):
        raise TypeError(f"{where}: a mode must be a single multiplier, not another Reconfigurable ({value.name!r}).")
    if isinstance(value, str):
        value = _lib.get(value)
    elif isinstance(value, Mapping):
        unknown = set(value) - {"table", "power_mw", "name", "signed"}
        if unknown or "table" not in value:
            raise ValueError(f"{where}: a mode dict needs 'table' (and 'power_mw'), got keys {sorted(value)}.")
        table = np.asarray(value["table"])
        if table.shape != TABLE_SHAPE:
            raise ValueError(f"{where}: the mode table must have shape [256, 256], got {list(table.shape)}.")
        value = Multiplier(name=value.get("name", f"{owner}.M{index}"), signed=value.get("signed", signed),
                           table=table, power_mw=value.get("power_mw"))
    elif not isinstance(value, Multiplier):
        table = np.asarray(value)
        shape = f" of shape {list(table.shape)}" if table.ndim else ""
        raise TypeError(f"{where}: expected a Multiplier, a multiplier name or a dict with 'table' and 'power_mw'. "
                        f"Received: {type(value).__name__}{shape}")
    if value.power_mw is None:
        raise ValueError(f"{where} ({value.name!r}) has no power figure: give it power_mw= (the energy per "
                         "multiplication is power_mw * clock period).")
    return value


@dataclasses.dataclass(frozen=True, eq=False, init=False)
class Reconfigurable(Multiplier):
    """A multiplier with several run-time modes selected per weight code.

    Args:
        name: str, registry name.
        modes: sequence of at least two modes, M0 first (exact in the presets), each a `Multiplier`, a multiplier
            name, or ``{"table": [256, 256], "power_mw": float, "name": str}`` (user-defined); all of one signedness
            and all with a power figure.

    Attributes:
        modes: tuple of `Multiplier`, M0 first. ``table``/``power_mw`` are M0's.
    """

    modes: tuple = ()

    def __init__(self, name: str, modes: Sequence, metadata: Optional[dict] = None, **_derived):
        # (``**_derived`` swallows the Multiplier fields `dataclasses.replace` passes back: they follow from modes.)
        if not isinstance(name, str) or not name:
            raise TypeError(f"Reconfigurable: `name` must be a non-empty string. Received: {name!r}")
        if isinstance(modes, (str, Mapping)) or not isinstance(modes, Sequence) or len(modes) < 2:
            raise ValueError(f"Reconfigurable {name!r}: `modes` must list at least two modes (M0, M1, ...). "
                             f"Received: {modes!r}")
        first = _mode(modes[0], 0, name, None)
        built = (first,) + tuple(_mode(m, i, name, first.signed) for i, m in enumerate(modes[1:], start=1))
        bad = [f"M{i} {m.name!r}" for i, m in enumerate(built) if m.signed != first.signed]
        if bad:
            raise ValueError(f"Reconfigurable {name!r}: all modes must share M0's signedness "
                             f"({'signed' if first.signed else 'unsigned'}); {bad} differ.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "signed", first.signed)
        object.__setattr__(self, "table", first.table)
        object.__setattr__(self, "power_mw", first.power_mw)
        object.__setattr__(self, "area_um2", None)
        object.__setattr__(self, "delay_ns", None)
        object.__setattr__(self, "mae_percent", None)
        object.__setattr__(self, "wce_percent", None)
        object.__setattr__(self, "metadata", dict(metadata or {}))
        object.__setattr__(self, "modes", built)
        self.__post_init__()

    @property
    def hash(self) -> str:
        """16 hex digits of SHA-256 over every mode table in order (int32 little endian)."""
        h = hashlib.sha256()
        for m in self.modes:
            h.update(np.ascontiguousarray(m.table, dtype="<i4").tobytes())
        return h.hexdigest()[:16]

    @property
    def n_modes(self) -> int:
        return len(self.modes)

    @property
    def mode_powers_mw(self) -> tuple:
        return tuple(float(m.power_mw) for m in self.modes)

    def mode_energy_j(self, clock_period_s: float) -> np.ndarray:
        """Energy of one multiplication in each mode: ``power * T`` (joules)."""
        return np.array(self.mode_powers_mw) * 1e-3 * float(clock_period_s)

    def composite(self, mode_of_code) -> np.ndarray:
        """The layer table for a code -> mode assignment: column ``w`` is mode ``mode_of_code[w]``'s column ``w``.

        Args:
            mode_of_code: int array ``[256]`` indexed like the table's weight axis (signed: ``code + 128``).
        """
        sel = np.asarray(mode_of_code)
        if sel.shape != (256,) or not np.issubdtype(sel.dtype, np.integer):
            raise ValueError(f"Reconfigurable {self.name!r}: `mode_of_code` must be an int array of shape [256]. "
                             f"Received: dtype {sel.dtype}, shape {list(sel.shape)}")
        if sel.min() < 0 or sel.max() >= self.n_modes:
            raise ValueError(f"Reconfigurable {self.name!r}: modes must lie in [0, {self.n_modes - 1}]. Received: "
                             f"[{sel.min()}, {sel.max()}]")
        stack = np.stack([m.table for m in self.modes])  # [modes, a, w]
        return stack[sel, :, np.arange(256)].T.astype(np.int32)

    def describe(self) -> dict:
        d = super().describe()
        d["modes"] = [m.describe() for m in self.modes]
        return d

    def __repr__(self) -> str:
        modes = ", ".join(f"M{i} {m.name} (MAE {m.mae_percent:.3g} %, {m.power_mw:.3f} mW)"
                          for i, m in enumerate(self.modes))
        return f"Reconfigurable('{self.name}', {modes}, hash {self.hash})"


def preset_names() -> list:
    return sorted(PRESETS)


def preset(name: str) -> Reconfigurable:
    """The preset reconfigurable multiplier ``name`` (registered); see `PRESETS`."""
    if name not in PRESETS:
        from tfaxdnn.core.errors import unknown_name

        raise unknown_name("reconfigurable preset", name, list(PRESETS),
                           hint=f"Valid choices: {preset_names()}, or build Reconfigurable(name, modes=[...]).")
    return _lib.get(name)


def _provide(name: str) -> Optional[Reconfigurable]:
    return Reconfigurable(name, PRESETS[name]) if name in PRESETS else None


_lib.add_provider(_provide)
