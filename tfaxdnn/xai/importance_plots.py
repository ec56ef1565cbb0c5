"""Matplotlib figures for layer importance (one bar panel per target-class experiment, like the paper's Fig. 6)."""

from __future__ import annotations

import os
from typing import Optional

from tfaxdnn.xai.importance import LayerImportance


def plot_layer_importance(result: LayerImportance, normalize: bool = True, title: Optional[str] = None):
    """A ``matplotlib.figure.Figure``: one panel per experiment plus the mean, bars per layer in model order.

    ``normalize`` divides each panel by its largest bar (the paper plots relative importance).
    """
    from matplotlib.figure import Figure

    panels = dict(result.per_experiment)
    if len(panels) > 1:
        panels["mean"] = result.scores
    fig = Figure(figsize=(max(4.0, 0.55 * len(result.layers) + 1.5) * min(len(panels), 3),
                          3.0 * -(-len(panels) // 3)), layout="constrained")
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    for i, (name, scores) in enumerate(panels.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        vals = [scores[l] for l in result.layers]
        top = max(abs(v) for v in vals) or 1.0
        vals = [v / top for v in vals] if normalize else vals
        best = max(range(len(vals)), key=lambda j: vals[j])
        colors = ["tab:red" if j == best else "tab:blue" for j in range(len(vals))]
        ax.bar(range(len(vals)), vals, color=colors)
        ax.set_xticks(range(len(vals)), result.layers, rotation=60 if len(vals) > 6 else 0, ha="right"
                      if len(vals) > 6 else "center", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(("relative " if normalize else "") + f"importance ({result.reduce})", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def save_layer_importance_plot(result: LayerImportance, path, normalize: bool = True, title: Optional[str] = None,
                               dpi: int = 120) -> str:
    """Write ``plot_layer_importance`` to ``path`` (PNG; parent folders created) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig = plot_layer_importance(result, normalize=normalize, title=title)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return path
