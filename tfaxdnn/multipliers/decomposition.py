"""Exact low-rank factorisation of a multiplier's error table ``E = T - a*w``.

A table whose error has rank ``r`` is the exact product plus ``r`` rank-1 terms::

    T[a, w] = a*w + sum_k U[a, k] * V[k, w] / d        (exactly; every U, V, d an integer)

so an approximate matmul/convolution is ``r + 1`` ordinary ones on element-wise re-coded operands
(``U[:, k]`` looked up by the activation code, ``V[k, :]`` by the weight code).

Construction (all exact, no floating point): the rank and a non-singular pivot block ``M = E[I, J]`` are found by
Gaussian elimination modulo a prime; ``M^-1 E[I, :]`` is then solved modulo a growing set of primes, combined by the
CRT and read back as fractions by rational reconstruction, and the candidate is checked exactly in integers
(fraction-free Bareiss Gauss-Jordan over the integers is the fallback; no bundled table needs it). With
``U = E[:, J]``, ``E = U . M^-1 . E[I, :]``; each term's fraction is reduced by its gcd and the terms are put over a
common denominator ``d``. :meth:`ErrorDecomposition.reconstruct` rebuilds the table in integer arithmetic, and the
construction checks it, which also proves the rank (``M`` is non-singular, so rank >= r; the identity, rank <= r).

Zero points: the LUT op multiplies *codes*, ``T[qa, qw]`` (indexed like ``Multiplier.table``): the exact
``sum_k (qa_k - z_a)(qw_k - z_w)`` is replaced by
``sum_k T[qa_k, qw_k] - z_w*sum qa - z_a*sum qw + K*z_a*z_w``. Those corrections involve no table and are exact
and separate; only the product part ``sum_k T[qa_k, qw_k]`` uses this decomposition, with ``a``, ``w`` the code
values (signed -128..127 or unsigned 0..255), not the zero-point-shifted ones.
"""

from __future__ import annotations

import dataclasses
import functools
from math import gcd, isqrt, lcm
from typing import Dict, Tuple

import numpy as np

__all__ = ["ErrorDecomposition", "decompose"]

_PRIME = 2147483629  # < 2**31, so products of residues fit int64
_INT64_SAFE = 2 ** 62
_TRANSPOSE_RANK = 8  # up to this rank the transpose's factorisation is tried too (smaller term bound kept)
_CACHE: Dict[Tuple[str, bool], "ErrorDecomposition"] = {}


@dataclasses.dataclass(frozen=True, eq=False)
class ErrorDecomposition:
    """``table = a*w + u @ v / d`` exactly (``a``, ``w`` the operand values in table order).

    Attributes:
        signed: operand range of the table (-128..127 or 0..255).
        rank: rank of the error table over the rationals (0: exact multiplier).
        u: integer array ``[256, rank]`` indexed by the activation operand (``int64``, or ``object`` if needed).
        v: integer array ``[rank, 256]`` indexed by the weight operand.
        d: positive integer common denominator (1 when no division is needed).
        u_max, v_max: ``max |u|`` and ``max |v|`` (0 for rank 0).
        term_bound: ``sum_k max|u[:, k]| * max|v[k, :]|``, a bound on ``|(u @ v)[a, w]|``; a K-term dot product
            of re-coded operands has every partial sum bounded by ``K * term_bound``.
    """

    signed: bool
    rank: int
    u: np.ndarray
    v: np.ndarray
    d: int
    u_max: int
    v_max: int
    term_bound: int

    def error(self) -> np.ndarray:
        """The error table ``u @ v / d`` as int64 ``[256, 256]`` (exact integer arithmetic)."""
        if self.rank == 0:
            return np.zeros((256, 256), np.int64)
        num = _exact_matmul(self.u, self.v, self.term_bound)
        q = num // self.d
        if np.any(q * self.d != num):
            raise ArithmeticError("decomposition numerator not divisible by its denominator")
        return q.astype(np.int64)

    def reconstruct(self) -> np.ndarray:
        """The full table ``a*w + u @ v / d`` as int64 ``[256, 256]``, rebuilt exactly."""
        vals = np.arange(-128, 128) if self.signed else np.arange(256)
        return np.multiply.outer(vals, vals).astype(np.int64) + self.error()

    def describe(self) -> dict:
        return {"rank": self.rank, "d": self.d, "u_max": self.u_max, "v_max": self.v_max,
                "term_bound": self.term_bound}


@functools.lru_cache(maxsize=None)
def _primes(count: int, below: int = 2 ** 26) -> tuple:
    """The ``count`` largest primes below ``below`` (descending)."""
    out, n = [], below - 1
    while len(out) < count:
        if n % 2 and all(n % f for f in range(3, isqrt(n) + 1, 2)):
            out.append(n)
        n -= 1
    return tuple(out)


def _exact_matmul(u: np.ndarray, v: np.ndarray, bound: int) -> np.ndarray:
    """``u @ v`` exactly, given ``|(u @ v)[i, j]| <= bound``: int64 when that fits, else multi-modular (primes
    below 2**26, so each modular product sum stays below 2**61 for up to 256 terms) with CRT (Garner)."""
    if bound < _INT64_SAFE:
        return u.astype(np.int64) @ v.astype(np.int64)
    primes, prod = [], 1
    for p in _primes(160):
        if prod > 2 * bound:
            break
        primes.append(p)
        prod *= p
    residues = []
    for p in primes:
        um = np.array([[int(x) % p for x in row] for row in u], dtype=np.int64)
        vm = np.array([[int(x) % p for x in row] for row in v], dtype=np.int64)
        residues.append((um @ vm) % p)
    # Garner: mixed-radix digits c_i in int64, then N = c0 + p0 (c1 + p1 (c2 + ...)).
    digits = []
    for i, p in enumerate(primes):
        x = residues[i]
        for j, c in enumerate(digits):
            x = (x - c) % p * pow(primes[j], -1, p) % p
        digits.append(x)
    num = digits[-1].astype(object)
    for j in range(len(primes) - 2, -1, -1):
        num = digits[j].astype(object) + primes[j] * num
    return np.where(num > prod // 2, num - prod, num)


def _pivots_mod_p(E: np.ndarray):
    """Rank of ``E`` mod a prime and pivot rows/columns (in elimination order) of a non-singular block."""
    A = (E % _PRIME).astype(np.int64)
    rows = np.arange(A.shape[0])
    r, I, J = 0, [], []
    for c in range(A.shape[1]):
        if r == A.shape[0]:
            break
        nz = np.nonzero(A[r:, c])[0]
        if nz.size == 0:
            continue
        i = r + int(nz[0])
        A[[r, i]], rows[[r, i]] = A[[i, r]], rows[[i, r]]
        A[r] = A[r] * pow(int(A[r, c]), _PRIME - 2, _PRIME) % _PRIME
        f = A[r + 1:, c].copy()
        A[r + 1:] = (A[r + 1:] - f[:, None] * A[r][None, :] % _PRIME) % _PRIME
        I.append(int(rows[r]))
        J.append(c)
        r += 1
    return I, J


def _bareiss_gauss_jordan(B: np.ndarray, J):
    """Fraction-free Gauss-Jordan on integer ``B [r, n]`` with pivot columns ``J``: returns ``(D, det)`` where
    ``D = det * M^-1 B`` (``M = B[:, J]``), all integer (minors of ``B``)."""
    B = B.astype(np.int64)
    prev = 1
    for k, c in enumerate(J):
        big = int(np.abs(B).max())
        if B.dtype != object and 2 * big * big >= _INT64_SAFE:
            B = B.astype(object)
        piv = B[k, c]
        if piv == 0:
            raise ArithmeticError("zero pivot in fraction-free elimination")
        rowk = B[k].copy()
        B = (piv * B - np.multiply.outer(B[:, c], rowk)) // prev
        B[k] = rowk
        prev = piv
    det = prev
    return B, det


def _solve_mod_p(M: np.ndarray, B: np.ndarray, p: int):
    """``M^-1 B mod p`` (int64) by Gauss-Jordan, or None when ``M`` is singular mod ``p``."""
    r = M.shape[0]
    A = np.concatenate([M % p, B % p], axis=1).astype(np.int64)
    for k in range(r):
        nz = np.nonzero(A[k:, k])[0]
        if nz.size == 0:
            return None
        i = k + int(nz[0])
        A[[k, i]] = A[[i, k]]
        A[k] = A[k] * pow(int(A[k, k]), -1, p) % p
        f = A[:, k].copy()
        f[k] = 0
        A = (A - f[:, None] * A[k][None, :] % p) % p
    return A[:, r:]


def _ratrec(y: int, P: int, bound: int):
    """``n / den`` with ``|n|, den <= bound`` and ``n = den * y (mod P)``, or None."""
    r0, r1, s0, s1 = P, y % P, 0, 1
    while r1 > bound:
        q = r0 // r1
        r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
    if s1 == 0 or abs(s1) > bound:
        return None
    return (r1, s1) if s1 > 0 else (-r1, -s1)


def _rows_from_residues(X, P: int):
    """Rows of integers ``L_k * X[k]`` with per-row denominators ``L_k``, read off residues ``X mod P`` by rational
    reconstruction; None when ``P`` is still too small. (Checked by the caller: this step need not be right.)"""
    bound = isqrt(P // 2)
    rows, dens = [], []
    for xrow in X:
        L, out = 1, []
        for x in xrow:
            y = L * int(x) % P
            if y > P // 2:
                y -= P
            if abs(y) > bound:
                rec = _ratrec(y, P, bound)
                if rec is None:
                    return None
                y, den = rec
                out = [e * den for e in out]
                L *= den
                if L > bound:
                    return None
            out.append(y)
        rows.append(out)
        dens.append(L)
    return rows, dens


def _modular_terms(E: np.ndarray, I, J):
    """``(rows, dens)``: term k of ``E`` is ``E[:, J[k]] * rows[k] / dens[k]`` (to be verified), computed as
    ``M^-1 E[I, :]`` modulo growing products of primes with rational reconstruction; None if that fails."""
    others = [c for c in range(E.shape[1]) if c not in set(J)]
    M, B = E[np.ix_(I, J)], E[np.ix_(I, others)]
    crt, P, tried = None, 1, 0
    for p in _primes(160):
        Xp = _solve_mod_p(M, B, p)
        if Xp is None:
            continue
        if crt is None:
            crt, P = Xp.astype(object), p
        else:  # x = crt + P * t, t = (Xp - crt) / P mod p
            t = (Xp - (crt % p).astype(np.int64)) % p * pow(P % p, -1, p) % p
            crt, P = crt + P * t.astype(object), P * p
        tried += 1
        if tried & (tried - 1) == 0 or tried % 8 == 0:  # attempt at 1, 2, 4, 8, 16, 24, ... primes
            got = _rows_from_residues(crt, P)
            if got is not None:
                rows, dens = got
                full = []
                for k, row in enumerate(rows):
                    it, r = iter(row), [0] * E.shape[1]
                    for c in others:
                        r[c] = next(it)
                    r[J[k]] = dens[k]
                    full.append(r)
                v = np.array(full, dtype=object)
                u = E[:, J].astype(object)
                # Exact check (multi-modular, rigorous): L * E == sum_k E[:, J[k]] * row_k * (L / dens_k).
                L = lcm(*dens)
                vv = v * np.array([L // dk for dk in dens], dtype=object)[:, None]
                bound = sum(int(np.abs(u[:, k]).max()) * int(np.abs(vv[k]).max()) for k in range(len(J)))
                if np.array_equal(_exact_matmul(u, vv, bound), E.astype(object) * L):
                    return [list(map(int, r)) for r in full], dens
    return None


def _factor(E: np.ndarray, pivots=None):
    """``(u, v, d)`` with ``E = u @ v / d``: ``u = E[:, J]``, ``v`` integer rows, ``d`` a common denominator;
    ``pivots``: ``E``'s `_pivots_mod_p`, when already found."""
    I, J = pivots or _pivots_mod_p(E)
    r = len(I)
    if r == 0:
        return np.zeros((256, 0), np.int64), [], 1
    got = _modular_terms(E, I, J)
    if got is None:  # fall back (not needed by any bundled table) to fraction-free elimination over the integers
        D, det = _bareiss_gauss_jordan(E[I, :], J)
        got = [[int(x) for x in row] for row in D], [int(det)] * r
    # Term k of E is E[:, J[k]] * row_k / den_k; reduce each by its gcd, then take a common denominator.
    rows, dens = [], []
    for row, den in zip(*got):
        g = gcd(den, *row)
        dk = den // g
        if dk < 0:
            dk, g = -dk, -g
        rows.append([x // g for x in row])
        dens.append(dk)
    d = lcm(*dens)
    v = [[x * (d // dk) for x in row] for row, dk in zip(rows, dens)]
    return E[:, J].astype(np.int64), v, d


def _as_int_array(rows, shape) -> np.ndarray:
    flat = [x for row in rows for x in row]
    big = max((abs(x) for x in flat), default=0)
    arr = np.array(flat, dtype=np.int64 if big < 2 ** 63 else object).reshape(shape)
    arr.setflags(write=False)
    return arr


def decompose(error: np.ndarray, signed: bool) -> ErrorDecomposition:
    """Exact ``error = u @ v / d`` factorisation of an integer ``[256, 256]`` error table (see module doc).

    For low ranks (<= 8) the factorisation of the transpose is tried as well and the one with the smaller
    ``term_bound`` kept. The result is checked by exact reconstruction.
    """
    E = np.asarray(error, dtype=np.int64)
    pivots = _pivots_mod_p(E)                  # the rank decides whether the transpose is tried too
    best = None
    for transpose in ((False, True) if len(pivots[0]) <= _TRANSPOSE_RANK else (False,)):
        u, v, d = _factor(E.T) if transpose else _factor(E, pivots)
        if transpose:  # E^T = u v / d  ->  E = v^T u^T / d
            u, v = np.array(v, dtype=object).T, np.asarray(u).T
            u_rows, v_rows = [[int(x) for x in row] for row in u], [[int(x) for x in row] for row in v]
        else:
            u_rows, v_rows = [[int(x) for x in row] for row in np.asarray(u)], v
        r = len(v_rows)
        u_arr, v_arr = _as_int_array(u_rows, (256, r)), _as_int_array(v_rows, (r, 256))
        umax = [max((abs(int(x)) for x in u_arr[:, k]), default=0) for k in range(r)]
        vmax = [max((abs(int(x)) for x in v_arr[k]), default=0) for k in range(r)]
        cand = ErrorDecomposition(signed=bool(signed), rank=r, u=u_arr, v=v_arr, d=int(d),
                                  u_max=max(umax, default=0), v_max=max(vmax, default=0),
                                  term_bound=sum(a * b for a, b in zip(umax, vmax)))
        if best is None or cand.term_bound < best.term_bound:
            best = cand
    if not np.array_equal(best.error(), E):
        raise ArithmeticError("exact reconstruction of the error table failed")
    return best


def cached(table_hash: str, signed: bool, error_fn) -> ErrorDecomposition:
    """Decomposition cached by ``(table hash, signedness)``; ``error_fn()`` supplies the error table on a miss."""
    key = (table_hash, bool(signed))
    if key not in _CACHE:
        _CACHE[key] = decompose(error_fn(), signed)
    return _CACHE[key]
