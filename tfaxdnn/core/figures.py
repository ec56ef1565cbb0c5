"""Figures written to files: pyplot on the non-interactive Agg backend (no display needed)."""

from __future__ import annotations

__all__ = ["pyplot"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (imported on first use: matplotlib stays out of ``import tfaxdnn``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
