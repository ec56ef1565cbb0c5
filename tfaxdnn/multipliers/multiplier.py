"""The `Multiplier` type: an 8x8-bit (approximate) multiplier as a 256x256 lookup table plus metadata.

Convention (SPEC section 1): ``table[a, w]`` with ``a`` the activation operand (the C model's first argument)
and ``w`` the weight operand. Signed tables are indexed ``[a + 128, w + 128]``; unsigned ``[a, w]``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import tempfile
import warnings
from typing import Callable, Optional

import numpy as np

from tfaxdnn.multipliers import decomposition as _decomposition

TABLE_SHAPE = (256, 256)
BIN_ENTRIES = 256 * 256


def operand_range(signed: bool) -> np.ndarray:
    """Operand values in table order: -128..127 for signed tables, 0..255 for unsigned ones."""
    return np.arange(-128, 128) if signed else np.arange(256)


def exact_table(signed: bool) -> np.ndarray:
    """The exact product table ``a * w`` in the package's indexing convention (int32)."""
    v = operand_range(signed).astype(np.int32)
    return np.multiply.outer(v, v)


def table_hash(table: np.ndarray) -> str:
    """First 16 hex digits of SHA-256 over the table as little-endian int32 (same as EvoApprox metadata)."""
    return hashlib.sha256(np.ascontiguousarray(table, dtype="<i4").tobytes()).hexdigest()[:16]


def _validate_table(table, signed: bool, name: str) -> np.ndarray:
    arr = np.asarray(table)
    if arr.shape != TABLE_SHAPE:
        raise ValueError(f"Multiplier '{name}': table must have shape [256, 256], got {list(arr.shape)}.")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"Multiplier '{name}': table must hold integers, got dtype {arr.dtype} with "
                             "non-integer values.")
    arr64 = arr.astype(np.int64)
    lo, hi = (-(2 ** 15), 2 ** 15 - 1) if signed else (0, 2 ** 16 - 1)
    if arr64.min() < lo or arr64.max() > hi:
        kind = "signed (int16)" if signed else "unsigned (uint16)"
        raise ValueError(f"Multiplier '{name}': {kind} table values must lie in [{lo}, {hi}], got "
                         f"[{arr64.min()}, {arr64.max()}].")
    out = arr64.astype(np.int32)
    out.setflags(write=False)
    return out


def _other_reading(table: np.ndarray, signed: bool) -> np.ndarray:
    """The same 65,536 entries read with the other signedness (as a ``.bin`` file would be misread)."""
    if signed:  # [a+128, w+128] int16 -> [a, w] uint16 bytes
        idx = np.arange(256) ^ 0x80
        return table[np.ix_(idx, idx)].astype(np.int64) & 0xFFFF
    idx = np.arange(-128, 128) & 0xFF
    return (table.astype(np.int64) & 0xFFFF).astype(np.uint16).view(np.int16)[np.ix_(idx, idx)].astype(np.int64)


def check_signedness(name: str, table: np.ndarray, signed: bool) -> None:
    """Warns when the name (``mul8s_``/``mul8u_``) or the values say the table has the other signedness."""
    prefix = {"mul8s_": True, "mul8u_": False}.get(str(name)[:6])
    if prefix is not None and prefix != signed:
        warnings.warn(f"Multiplier '{name}' is declared {'signed' if signed else 'unsigned'} but its name says "
                      f"{'signed (mul8s_)' if prefix else 'unsigned (mul8u_)'}: check `signed=`.", stacklevel=3)
        return
    err_declared = np.abs(table.astype(np.int64) - exact_table(signed)).mean()
    err_other = np.abs(_other_reading(table, signed) - exact_table(not signed)).mean()
    if err_other * 20 < err_declared:
        warnings.warn(f"Multiplier '{name}' is declared {'signed' if signed else 'unsigned'}, but its values are "
                      f"{'unsigned' if signed else 'signed'} products (mean error {err_declared:.4g} as declared, "
                      f"{err_other:.4g} read the other way): check `signed=`.", stacklevel=3)


@dataclasses.dataclass(frozen=True, eq=False)
class Multiplier:
    """An 8x8 multiplier given by its full truth table.

    Attributes:
        name: identifier (EvoApprox key such as ``mul8s_1L2N``, or a user name).
        signed: True for int8 x int8 tables (indexed ``[a+128, w+128]``), False for uint8 x uint8.
        table: read-only int32 array ``[256, 256]``, ``table[a, w]``.
        power_mw, area_um2, delay_ns: published PDK45 figures (None when unknown).
        mae_percent, wce_percent: error metrics in % of 2**16 (computed from the table when not published).
    """

    name: str
    signed: bool
    table: np.ndarray
    power_mw: Optional[float] = None
    area_um2: Optional[float] = None
    delay_ns: Optional[float] = None
    mae_percent: Optional[float] = None
    wce_percent: Optional[float] = None
    metadata: dict = dataclasses.field(default_factory=dict, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "table", _validate_table(self.table, self.signed, self.name))
        err = np.abs(self.error_table())
        if self.mae_percent is None:
            object.__setattr__(self, "mae_percent", float(err.mean() / 2 ** 16 * 100))
        if self.wce_percent is None:
            object.__setattr__(self, "wce_percent", float(err.max() / 2 ** 16 * 100))

    # -- derived properties -------------------------------------------------------------------------------
    @property
    def hash(self) -> str:
        """Table hash (16 hex digits), recorded with every experiment output."""
        return table_hash(self.table)

    @property
    def is_exact(self) -> bool:
        return bool(np.array_equal(self.table, exact_table(self.signed)))

    @property
    def dtype(self) -> str:
        """Operand dtype name: ``int8`` or ``uint8``."""
        return "int8" if self.signed else "uint8"

    def error_table(self) -> np.ndarray:
        """``table - exact`` as int64 ``[256, 256]``."""
        return self.table.astype(np.int64) - exact_table(self.signed)

    def decomposition(self) -> "_decomposition.ErrorDecomposition":
        """Exact low-rank factorisation ``table = a*w + u @ v / d`` of :meth:`error_table` (integer ``u [256, r]``,
        ``v [r, 256]``, ``d``; ``r`` the error's rank), cached per table hash. ``a``, ``w`` are the operand values
        in table order (the codes the LUT op multiplies; zero-point corrections stay separate and exact): see
        :mod:`tfaxdnn.multipliers.decomposition`."""
        return _decomposition.cached(self.hash, self.signed, self.error_table)

    def __call__(self, a, w) -> np.ndarray:
        """Evaluate the multiplier on integer operands (broadcasting)."""
        off = 128 if self.signed else 0
        return self.table[np.asarray(a) + off, np.asarray(w) + off]

    def __repr__(self) -> str:
        p = "?" if self.power_mw is None else f"{self.power_mw:.3f} mW"
        return (f"Multiplier('{self.name}', {'signed' if self.signed else 'unsigned'}, "
                f"MAE {self.mae_percent:.4g} %, {p}, hash {self.hash})")

    def describe(self) -> dict:
        """JSON-ready summary (name, signedness, hash, metadata) for experiment records."""
        return {"name": self.name, "signed": self.signed, "hash": self.hash, "power_mw": self.power_mw,
                "mae_percent": self.mae_percent, "wce_percent": self.wce_percent}

    # -- constructors ---------------------------------------------------------------------------------------
    @classmethod
    def from_function(cls, fn: Callable, signed: bool, name: str, **metadata) -> "Multiplier":
        """Build from ``fn(a, w)`` evaluated on the full operand grid (vectorised call first, scalar fallback)."""
        v = operand_range(signed)
        a, w = np.meshgrid(v, v, indexing="ij")
        try:
            table = np.asarray(fn(a, w))
            if table.shape != TABLE_SHAPE:
                raise ValueError
        except Exception:  # not vectorisable: evaluate pair by pair
            table = np.array([[fn(int(x), int(y)) for y in v] for x in v])
        m = cls(name=name, signed=signed, table=table, **metadata)
        check_signedness(m.name, m.table, m.signed)
        return m

    @classmethod
    def from_c_source(cls, path, function_name: str, signed: bool, name: Optional[str] = None,
                      compiler: Optional[str] = None, **metadata) -> "Multiplier":
        """Compile an EvoApprox-style C function ``f(a, b)`` with the system C compiler and tabulate it.

        The function's first argument receives the activation operand. Signed functions are called with
        ``int8_t``-range values and their 16-bit result is read as two's complement.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"C source not found: {path}")
        cc = compiler or os.environ.get("CC", "cc")
        lo, hi = (-128, 127) if signed else (0, 255)
        cast = "(int16_t)" if signed else "(uint16_t)"
        # The source is #included so the call uses the function's own signature (EvoApprox files declare
        # e.g. `uint16_t f(uint8_t A, uint8_t B)` or `uint64_t f(const uint64_t B, const uint64_t A)`).
        driver = f"""
#include <stdio.h>
#include <stdint.h>
#include "{os.path.abspath(path)}"
int main(void) {{
  for (int a = {lo}; a <= {hi}; ++a)
    for (int b = {lo}; b <= {hi}; ++b)
      printf("%lld\\n", (long long)({cast}{function_name}(a, b)));
  return 0;
}}
"""
        with tempfile.TemporaryDirectory() as tmp:
            drv, exe = os.path.join(tmp, "driver.c"), os.path.join(tmp, "mult")
            with open(drv, "w") as f:
                f.write(driver)
            proc = subprocess.run([cc, "-O1", "-w", "-o", exe, drv],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise ValueError(f"Could not compile '{path}' with function `{function_name}` using {cc}:\n"
                                 f"{proc.stderr.strip()[-2000:]}")
            run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                how = (f"killed by signal {-run.returncode}" if run.returncode < 0
                       else f"exit status {run.returncode}")
                detail = run.stderr.strip()[-500:] or "no error output"
                raise ValueError(f"Evaluating `{function_name}` from '{path}' over all operand pairs failed ({how}): "
                                 f"{detail}")
        values = np.array(run.stdout.split(), dtype=np.int64)
        if values.size != BIN_ENTRIES:
            raise ValueError(f"Evaluating `{function_name}` produced {values.size} values, expected {BIN_ENTRIES}.")
        m = cls(name=name or function_name, signed=signed, table=values.reshape(TABLE_SHAPE), **metadata)
        check_signedness(m.name, m.table, m.signed)
        return m

    @classmethod
    def from_bin(cls, path, signed: bool = False, name: Optional[str] = None, **metadata) -> "Multiplier":
        """Read a TFApprox ``.bin`` table: 65,536 little-endian uint16, entry ``(a << 8) | b``.

        For ``signed=True`` the operands are the two's-complement bytes of ``a`` and ``b`` and the result is read
        as int16, then re-indexed to this package's ``[a + 128, w + 128]`` convention.
        """
        path = os.fspath(path)
        raw = np.fromfile(path, dtype="<u2")
        size = os.path.getsize(path)
        if size != 2 * BIN_ENTRIES:
            raise ValueError(f"'{path}' is not a TFApprox multiplier table: expected {2 * BIN_ENTRIES} bytes "
                             f"(65,536 little-endian uint16), got {size}.")
        table = raw.reshape(TABLE_SHAPE)
        if signed:
            idx = (np.arange(-128, 128) & 0xFF)
            table = table.view("<i2")[np.ix_(idx, idx)]
        base = os.path.splitext(os.path.basename(path))[0]
        m = cls(name=name or base, signed=signed, table=table, **metadata)
        check_signedness(m.name, m.table, m.signed)
        return m

    def to_bin(self, path) -> None:
        """Write the TFApprox ``.bin`` format (inverse of :meth:`from_bin`)."""
        table = self.table
        if self.signed:
            idx = (np.arange(256) ^ 0x80)  # byte code -> row of the [a+128] table
            table = table[np.ix_(idx, idx)]
        np.ascontiguousarray(table.astype(np.int64) & 0xFFFF, dtype="<u2").tofile(os.fspath(path))
