"""Matplotlib figures for layer importance (one bar panel per target-class experiment, like the paper's Fig. 6)."""

from __future__ import annotations

import os
import textwrap
from typing import Optional

from tfaxdnn.xai.importance import LayerImportance

#: Colours of the most important layer of a panel and of the other layers.
TOP_COLOR, OTHER_COLOR = "tab:red", "tab:blue"
_TITLE_SIZE = 11


def _wrapped(title: str, width_in: float, fontsize: float = _TITLE_SIZE) -> str:
    """``title`` broken into lines that fit ``width_in`` inches (an average glyph is about 0.6 em wide)."""
    chars = max(12, int(width_in * 72 / (0.6 * fontsize)) - 2)
    lines = len(textwrap.wrap(title, chars)) or 1
    balanced = min(chars, -(-len(title) // lines) + 4)  # lines of about equal length
    return "\n".join(textwrap.wrap(title, balanced if len(textwrap.wrap(title, balanced)) == lines else chars))


def plot_layer_importance(result: LayerImportance, normalize: bool = True, title: Optional[str] = None,
                          ylabel: Optional[str] = None):
    """A ``matplotlib.figure.Figure``: one panel per experiment plus the mean, bars per layer in model order.

    ``normalize`` divides each panel by its largest bar (the paper plots relative importance). In each panel the
    most important layer (the largest score; ties all) is drawn in red, which a legend below the panels explains;
    a panel whose bars are all equal has none. ``title`` is wrapped to the figure width; ``ylabel`` replaces the
    default axis label ``"[relative ]importance (<reduce>)"`` (e.g. for scores that are not conductance).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = dict(result.per_experiment)
    if len(panels) > 1:
        panels["mean"] = result.scores
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    width = max(4.5, 0.55 * len(result.layers) + 1.5) * ncols
    fig = Figure(figsize=(width, 3.0 * nrows + 0.6), layout="constrained")
    if ylabel is None:
        ylabel = ("relative " if normalize else "") + f"importance ({result.reduce})"
    highlighted = False
    for i, (name, scores) in enumerate(panels.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        vals = [scores[l] for l in result.layers]
        top = max(abs(v) for v in vals) or 1.0
        vals = [v / top for v in vals] if normalize else vals
        best = max(vals)
        tops = [v == best for v in vals] if min(vals) < best else [False] * len(vals)
        highlighted = highlighted or any(tops)
        ax.bar(range(len(vals)), vals, color=[TOP_COLOR if t else OTHER_COLOR for t in tops])
        ax.set_xticks(range(len(vals)), result.layers, rotation=60 if len(vals) > 6 else 0, ha="right"
                      if len(vals) > 6 else "center", fontsize=8)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(ylabel, fontsize=8)
    if highlighted:
        where = "in each panel" if len(panels) > 1 else ""
        fig.legend(handles=[Patch(color=TOP_COLOR, label=f"most important layer {where}".strip()),
                            Patch(color=OTHER_COLOR, label="other layers")],
                   loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    if title:
        fig.suptitle(_wrapped(title, width), fontsize=_TITLE_SIZE)
    return fig


def save_layer_importance_plot(result: LayerImportance, path, normalize: bool = True, title: Optional[str] = None,
                               dpi: int = 120, ylabel: Optional[str] = None) -> str:
    """Write ``plot_layer_importance`` to ``path`` (PNG; parent folders created) and return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    fig = plot_layer_importance(result, normalize=normalize, title=title, ylabel=ylabel)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi)
    return path
