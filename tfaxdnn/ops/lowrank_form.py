"""A table's low-rank form for the low-rank path (`tfaxdnn.ops.lowrank`): re-coding tables, exactness bounds, the
choice of float32 or float64 GEMMs, and the chunked exact GEMM.

The argument (issue 26): a float GEMM of integer operands is exact, in any summation order and with or without FMA,
when the sum of the absolute values of the products of every output stays within the format's integer range
(2**24 for float32, 2**53 for float64): then every partial sum is an integer that the format represents. So the
reduction axis is cut into chunks whose bound stays within that range, each chunk's (exact, integral) result is
converted to integers, divided by the decomposition's denominator where needed (exact: each chunk sums whole taps,
each a multiple of it) and the chunks are added in integers. float32 is used where the per-tap bounds allow it
and the backend's float32 GEMM is plain float32 (JAX is asked for ``Precision.HIGHEST``; TF32 on TensorFlow or
PyTorch GPUs sends it to float64); otherwise float64, which JAX has only with ``jax_enable_x64``.

Integers: int32 with wrap-around (XLA, TensorFlow and PyTorch wrap): the result equals the LUT op's wherever the LUT
op's fits int32, which is certain when ``K * acc_tap_bound < 2**31``; beyond that (K above about 8,000 for unsigned
or 32,000 for signed tables) int64, which refuses sums outside int32 when run eagerly, as the LUT op does.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np

from tfaxdnn.multipliers import Multiplier
from tfaxdnn.ops import backend

__all__ = ["LowRankForm", "Int8Group", "form_of", "gemm_precision", "int_dtype", "exact_gemm", "int8_gemm", "chunks",
           "table_fingerprint", "table_fingerprint_tensor", "add_group", "F32_EXACT", "F64_EXACT"]

F32_EXACT = 2 ** 24
F64_EXACT = 2 ** 53
_INT32 = 2 ** 31
_INT64 = 2 ** 63
PRECISIONS = ("auto", "float32", "float64", "int8", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Int8Group:
    """One int8 GEMM of the ``"int8"`` form (`LowRankForm.int8_groups`): activation and weight tables
    ``int8 [256, c]`` (column 0 of a ``product`` group holds the codes themselves), the scale ``256**level`` of its
    sums, whether it belongs to the low-rank numerator (divided by ``d``) and a bound of one tap's scaled sum."""

    a_tab: np.ndarray
    w_tab: np.ndarray
    scale: int
    numerator: bool
    product: bool
    tap_bound: int


def _int8_digits(u: np.ndarray) -> list:
    """``u`` (integers) as digits in ``[-128, 127]``: ``u = sum_t 256**t digits[t]``."""
    u, digits = u.astype(object), []
    while len(digits) == 0 or np.any(u != 0):
        d = ((u + 128) % 256) - 128
        digits.append(d.astype(np.int64))
        u = (u - d) // 256
    return digits


@dataclasses.dataclass(frozen=True, eq=False)
class LowRankForm:
    """``T[a, w] = a*w + sum_j u[a, j] v[w, j] / d`` of one table, indexed by code + `off` (see
    `tfaxdnn.multipliers.decomposition`).

    Attributes:
        name, signed, rank, d, term_bound: the table's name and the decomposition's.
        u, v: integer arrays ``[256, rank]`` (activation, weight), int64 or object for huge entries.
        entry_bound: ``max(|u|, |v|)``.
        table_bound: ``max |T|``.
        table: the table itself (``int32 [256, 256]``).
    """

    name: str
    signed: bool
    rank: int
    d: int
    term_bound: int
    u: np.ndarray
    v: np.ndarray
    entry_bound: int
    table_bound: int
    table: np.ndarray

    @property
    def off(self) -> int:
        """Table index of code 0 (128 for int8 codes)."""
        return 128 if self.signed else 0

    @property
    def code_bound(self) -> int:
        """``max |code|`` and ``max |zero point|``."""
        return 128 if self.signed else 255

    @property
    def product_bound(self) -> int:
        """Bound of one product ``a * (w - z_w)`` of the exact part."""
        return self.code_bound * 255

    @property
    def acc_tap_bound(self) -> int:
        """Bound of one tap's share of an accumulator, ``|T - z_w a - z_a w + z_a z_w|``."""
        return self.table_bound + 3 * self.code_bound ** 2

    @property
    def tap_bound(self) -> int:
        """The largest bound of one tap's products among the GEMM groups (`groups`)."""
        if self.rank == 0:
            return self.product_bound
        return self.product_bound + self.term_bound if self.d == 1 else max(self.product_bound, self.term_bound)

    def values(self) -> np.ndarray:
        """The code value of each table index (``int64 [256]``)."""
        return np.arange(-128, 128) if self.signed else np.arange(256)

    @functools.lru_cache(maxsize=None)
    def groups(self, dtype: str):
        """The GEMM groups: ``[(activation table [256, c], weight table [256, c], tap bound, divisor, product)]``
        (NumPy, ``dtype``): column 0 of a ``product`` group is the code value (the weight's minus its zero point
        is taken later); the rank columns are ``u``/``v``. The exact part and a divided low-rank part (``d > 1``)
        are separate groups; with ``d = 1`` they are one GEMM."""
        vals = self.values()[:, None]
        if self.rank == 0:
            return ((vals.astype(dtype), vals.astype(dtype), self.product_bound, 1, True),)
        u, v = self.u.astype(dtype), self.v.astype(dtype)
        if self.d == 1:
            return ((np.hstack([vals.astype(dtype), u]), np.hstack([vals.astype(dtype), v]),
                     self.product_bound + self.term_bound, 1, True),)
        return ((vals.astype(dtype), vals.astype(dtype), self.product_bound, 1, True),
                (u, v, self.term_bound, self.d, False))

    @functools.lru_cache(maxsize=None)
    def int_tables(self, dtype: str):
        """``(u, v)`` as NumPy integer arrays of ``dtype`` (the depthwise engine's multiply-adds)."""
        return self.u.astype(dtype), self.v.astype(dtype)

    @functools.cached_property
    def int8_groups(self):
        """The GEMMs of the ``"int8"`` form (tuple of `Int8Group`), or ``None`` where it has none (unsigned codes).

        Integer GEMMs of int8 operands with int32 accumulation (tensor cores on a GPU) are exact by construction, so
        no chunking is needed beyond keeping the numerator of a ``d > 1`` table from wrapping before its division.
        Each weight factor ``v_j`` must fit int8 (a column and its ``u_j`` are negated where that makes ``+128``
        fit); each activation factor is cut into base-256 digits in ``[-128, 127]``, one GEMM per digit level.
        The exact part multiplies the codes themselves (``a * w``): the weight zero point is taken out afterwards
        (``- z_w sum a``), since ``w - z_w`` may leave int8."""
        if not self.signed:
            return None
        vals = self.values()[:, None]
        if self.rank == 0:
            return (Int8Group(vals.astype(np.int8), vals.astype(np.int8), 1, False, True, self.product_bound),)
        u, v = self.u.astype(object).copy(), self.v.astype(object).copy()
        for j in range(self.rank):
            if max(v[:, j]) > 127:
                u[:, j], v[:, j] = -u[:, j], -v[:, j]
            if max(v[:, j]) > 127 or min(v[:, j]) < -128:
                return None
        v8 = v.astype(np.int64)
        vmax = int(np.abs(v8).max())
        groups = []
        for level, dig in enumerate(_int8_digits(u)):
            cols = [j for j in range(self.rank) if np.any(dig[:, j] != 0)]
            if not cols:
                continue
            scale = 256 ** level
            bound = scale * int(np.abs(dig[:, cols]).max()) * vmax * len(cols)
            a_tab, w_tab = dig[:, cols], v8[:, cols]
            product = level == 0 and self.d == 1
            if product:
                a_tab, w_tab, bound = np.hstack([vals, a_tab]), np.hstack([vals, w_tab]), bound + self.product_bound
            groups.append(Int8Group(a_tab.astype(np.int8), w_tab.astype(np.int8), scale, self.d > 1, product, bound))
        if self.d > 1 or not groups or not groups[0].product:
            groups.insert(0, Int8Group(vals.astype(np.int8), vals.astype(np.int8), 1, False, True,
                                       self.product_bound))
        return tuple(groups)

    def describe(self) -> str:
        return f"'{self.name}' (error rank {self.rank}, denominator {self.d}, term bound {self.term_bound})"


_FORMS = {}


def form_of(multiplier: Multiplier) -> LowRankForm:
    """The `LowRankForm` of a multiplier's table (cached by table hash and signedness)."""
    key = (multiplier.hash, multiplier.signed)
    if key not in _FORMS:
        dec = multiplier.decomposition()
        u = np.asarray(dec.u)
        v = np.asarray(dec.v).T
        entry = max([abs(int(x)) for x in u.ravel()] + [abs(int(x)) for x in v.ravel()] + [0])
        _FORMS[key] = LowRankForm(multiplier.name, multiplier.signed, dec.rank, dec.d, dec.term_bound, u, v, entry,
                                  int(np.abs(multiplier.table).max()), np.asarray(multiplier.table, np.int32))
    return _FORMS[key]


def gemm_precision(form: LowRankForm, taps: int, precision: str = "auto") -> str:
    """``"float32"``, ``"float64"``, ``"int8"`` or ``"bfloat16"``: the GEMM type that is exact for ``taps`` products
    per output here.

    int8 and bfloat16 (signed tables; the int8 values of `LowRankForm.int8_groups`) need ``taps * acc_tap_bound <
    2**31`` as float32 does. int8 (integer GEMMs) is taken by ``"auto"`` only where `backend.prefers_int8_gemm`
    (``TFAXDNN_LOWRANK_GEMM=int8``) and is refused on JAX on a GPU unless that variable asks for it (XLA's GPU int8
    dots measured inexact). bfloat16 (bfloat16 operands, float32 accumulation in chunks below 2**24; JAX only) is
    taken by ``"auto"`` where `backend.prefers_bf16` (JAX on a GPU). float32 needs each tap's bound within 2**24,
    ``taps * acc_tap_bound < 2**31`` (int32 accumulators cannot overflow) and a plain-float32 GEMM; float64 needs
    each tap's bound below 2**53 and float64 on the backend. Raises ValueError saying why when the one asked for (or
    either float type, for ``"auto"``) cannot be exact.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {list(PRECISIONS)}. Received: precision={precision!r}")
    fits = taps * form.acc_tap_bound < _INT32
    if precision == "bfloat16" or (precision == "auto" and fits and form.int8_groups and backend.prefers_bf16()):
        if form.int8_groups is None:
            raise ValueError(f"{form.describe()}: no bfloat16 form (unsigned codes do not fit int8).")
        if not fits:
            raise ValueError(f"{form.describe()}: K={taps} taps could overflow int32 accumulators; no bfloat16 form.")
        if not backend.bf16_available():
            raise ValueError(f"The bfloat16 form needs JAX (bfloat16 operands with float32 results); the "
                             f"{backend.name()} backend would round its sums. Use precision='float32'.")
        return "bfloat16"
    if precision == "int8" or (precision == "auto" and backend.prefers_int8_gemm() and fits and form.int8_groups):
        if form.int8_groups is None:
            raise ValueError(f"{form.describe()}: no int8 form (unsigned codes do not fit int8).")
        if not fits:
            raise ValueError(f"{form.describe()}: K={taps} taps could overflow int32 accumulators; no int8 form.")
        if backend.name() == "jax" and backend.on_gpu() and not backend.prefers_int8_gemm():
            raise ValueError("The int8 form is refused on JAX on a GPU: XLA's s8 x s8 -> s32 dots were measured "
                             "wrong there for small shapes (jax 0.11.2, H100). Set TFAXDNN_LOWRANK_GEMM=int8 to "
                             "use it anyway, or use precision='bfloat16'.")
        return "int8"
    tap = form.tap_bound
    f32_ok, why = backend.float32_gemm_exact()
    if tap > F32_EXACT:
        why = f"one tap's terms reach {tap} > 2**24"
    elif taps * form.acc_tap_bound >= _INT32:
        why = f"K={taps} taps could overflow int32 accumulators (int64 detects it)"
    if precision == "float32" or (precision == "auto" and not why):
        if why:
            raise ValueError(f"{form.describe()}: no exact float32 form here: {why}.")
        return "float32"
    if tap >= F64_EXACT:
        raise ValueError(f"{form.describe()}: one tap's terms reach {tap} >= 2**53: no exact float64 form; use "
                         "the LUT op (TensorFlow).")
    if not backend.wide_types():
        raise ValueError(f"{form.describe()} needs float64 GEMMs here ({why or 'asked for'}), and JAX has float64 only "
                         "with jax.config.update('jax_enable_x64', True) (set it before building the model), or "
                         "use a table with a smaller term bound.")
    return "float64"


def int_dtype(precision: str) -> str:
    return "int64" if precision == "float64" else "int32"


def exact_gemm(a, b, taps: int, cols: int, tap_bound: int, divisor: int, precision: str):
    """``(a @ b) / divisor`` exactly, as int32 (float32) or int64 (float64) ``[M, O]``: ``a [M, taps*cols]`` and
    ``b [taps*cols, O]`` hold integers, tap ``t`` being columns ``t*cols .. t*cols + cols - 1``, whose products
    sum to at most ``tap_bound`` in absolute value, and each tap's sum a multiple of ``divisor``. The taps are cut
    into equal chunks of at most ``limit // tap_bound`` (one batched GEMM), see the module docstring."""
    ops = keras.ops
    limit = F32_EXACT if precision == "float32" else F64_EXACT
    if tap_bound > limit:
        raise ValueError(f"A tap bound of {tap_bound} exceeds the exact {precision} range.")
    n, per = chunks(taps, tap_bound, limit)
    idt = int_dtype(precision)
    if n == 1:
        out = ops.cast(backend.matmul(a, b), idt)
        return out if divisor == 1 else ops.floor_divide(out, divisor)
    out = ops.cast(backend.matmul(*_chunked(a, b, taps, cols, n, per)), idt)  # each chunk's sum exact: an integer
    if divisor != 1:
        out = ops.floor_divide(out, divisor)                       # exact: a multiple of the divisor
    return ops.cast(ops.sum(out, axis=0), idt)


def int8_gemm(a, b, taps: int, cols: int, n: int, per: int):
    """``a @ b`` of int8 operands (tap ``t`` = columns ``t*cols ..``) in ``n`` chunks of ``per`` taps: int32
    ``[n, M, O]`` (integer GEMMs with int32 accumulation, `backend.int8_matmul`), for numerators that must not wrap
    before their division (see `LowRankForm.int8_groups`)."""
    if n == 1:
        return keras.ops.expand_dims(backend.int8_matmul(a, b), 0)
    return backend.int8_matmul(*_chunked(a, b, taps, cols, n, per))


def _chunked(a, b, taps: int, cols: int, n: int, per: int):
    """``a [M, taps*cols]`` and ``b [taps*cols, O]`` cut into ``n`` chunks of ``per`` taps (the last one padded with
    zeros): ``[n, M, per*cols]`` and ``[n, per*cols, O]``, for one batched GEMM."""
    ops = keras.ops
    width, pad = per * cols, (n * per - taps) * cols
    if pad:
        a = ops.pad(a, [[0, 0], [0, pad]])
        b = ops.pad(b, [[0, pad], [0, 0]])
    return ops.transpose(ops.reshape(a, (-1, n, width)), (1, 0, 2)), ops.reshape(b, (n, width, -1))


def add_group(g, part, acc, num):
    """``(acc, num)`` with the int32 sums ``part`` of int8 group ``g``, scaled, added to the exact part or the
    numerator (divided by ``d`` later)."""
    part = part if g.scale == 1 else part * g.scale
    if g.numerator:
        return acc, (part if num is None else num + part)
    return (part if acc is None else acc + part), num


def chunks(taps: int, tap_bound: int, limit: int):
    """``(number, size)`` of equal chunks of at most ``limit // tap_bound`` taps covering ``taps``."""
    per = max(1, limit // max(tap_bound, 1))
    n = -(-taps // per)
    return n, -(-taps // n)



def _mix(k, ops_mod, shift):
    """A fixed pseudo-random int32 weight per table entry from its flat index ``k`` (int32 wrap-around)."""
    r = k * np.int32(-1640531535)            # 0x9E3779B1
    r = ops_mod.bitwise_xor(r, shift(r, 15))
    r = r * np.int32(-2048144789)            # 0x85EBCA6B
    return ops_mod.bitwise_xor(r, shift(r, 13))


def table_fingerprint(table) -> np.int32:
    """``sum_k T[k] * r[k]`` modulo 2**32 (int32) with pseudo-random weights ``r``: a cheap in-graph check that a
    table weight is still the table a trace was made with (`table_fingerprint_tensor`)."""
    k = np.arange(256 * 256, dtype=np.int32)
    with np.errstate(over="ignore"):
        r = _mix(k, np, np.right_shift)
        return np.int32((np.asarray(table, np.int32).ravel() * r).sum(dtype=np.int32))


def table_fingerprint_tensor(table):
    """`table_fingerprint` of a ``[256, 256]`` int32 tensor, in ``keras.ops`` (int32 wrap-around)."""
    ops = keras.ops
    r = _mix(ops.arange(256 * 256, dtype="int32"), ops, ops.right_shift)
    return ops.cast(ops.sum(ops.reshape(ops.cast(table, "int32"), (-1,)) * r), "int32")
