"""Path-integral approximation rules, as in Captum's ``captum/attr/_utils/approximation_methods.py``.

``approximation_parameters(method)`` returns ``(step_sizes, alphas)``, two functions of the number of points ``n``.
Gauss-Legendre nodes come from ``numpy.polynomial.legendre.leggauss`` mapped from [-1, 1] to [0, 1]; Riemann
rules use ``linspace`` (trapezoid: both end points, half weights at the ends).
"""

from __future__ import annotations

from typing import Callable, List, Tuple

import numpy as np

SUPPORTED_RIEMANN_METHODS = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"]
SUPPORTED_METHODS: List[str] = SUPPORTED_RIEMANN_METHODS + ["gausslegendre"]

Builder = Callable[[int], List[float]]


def _check_n(n: int, minimum: int) -> None:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < minimum:
        raise ValueError(f"The number of points must be an integer >= {minimum}. Received: n={n!r}")


def riemann_builders(kind: str = "trapezoid") -> Tuple[Builder, Builder]:
    """Equal step sizes (halved at both ends for ``trapezoid``) and alphas in [0, 1]."""
    if kind not in ("left", "right", "middle", "trapezoid"):
        raise ValueError(f"Unknown Riemann rule {kind!r}; expected one of left, right, middle, trapezoid.")

    def step_sizes(n: int) -> List[float]:
        _check_n(n, 2)
        deltas = [1.0 / n] * n
        if kind == "trapezoid":
            deltas[0] /= 2
            deltas[-1] /= 2
        return deltas

    def alphas(n: int) -> List[float]:
        _check_n(n, 2)
        if kind == "trapezoid":
            a = np.linspace(0.0, 1.0, n)
        elif kind == "left":
            a = np.linspace(0.0, 1.0 - 1.0 / n, n)
        elif kind == "middle":
            a = np.linspace(1.0 / (2 * n), 1.0 - 1.0 / (2 * n), n)
        else:
            a = np.linspace(1.0 / n, 1.0, n)
        return a.tolist()

    return step_sizes, alphas


def gauss_legendre_builders() -> Tuple[Builder, Builder]:
    """Gauss-Legendre weights halved and nodes mapped to [0, 1] (ascending, end points excluded)."""

    def step_sizes(n: int) -> List[float]:
        _check_n(n, 1)
        return (0.5 * np.polynomial.legendre.leggauss(n)[1]).tolist()

    def alphas(n: int) -> List[float]:
        _check_n(n, 1)
        return (0.5 * (1.0 + np.polynomial.legendre.leggauss(n)[0])).tolist()

    return step_sizes, alphas


def approximation_parameters(method: str) -> Tuple[Builder, Builder]:
    """``(step_sizes, alphas)`` builders for ``method`` (one of ``SUPPORTED_METHODS``)."""
    if method in SUPPORTED_RIEMANN_METHODS:
        return riemann_builders(method.split("_")[-1])
    if method == "gausslegendre":
        return gauss_legendre_builders()
    raise ValueError(f"Unknown integral approximation `method`; expected one of {SUPPORTED_METHODS}. "
                     f"Received: method={method!r}")
