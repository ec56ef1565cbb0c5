"""The mapping comparison's figures (the paper's Figs. 5-8): drop signals with a query's thresholds, energy gain per
query and method, mode utilisation per layer. Written as PNG files with matplotlib's Agg backend."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tfaxdnn.core.figures import pyplot
from tfaxdnn.search.mapping.problem import MappingPoint
from tfaxdnn.search.mapping.queries import Query

__all__ = ["plot_signal", "plot_gains", "plot_utilization"]


def plot_signal(points: Sequence[MappingPoint], query: Query, path, titles: Optional[Sequence[str]] = None) -> None:
    """Fig. 5: per-batch accuracy drop of some evaluated mappings with the query's thresholds."""
    plt = pyplot()
    fig, axes = plt.subplots(len(points), 1, figsize=(8, 2.4 * len(points)), sharex=True, squeeze=False)
    for i, (ax, p) in enumerate(zip(axes[:, 0], points)):
        t = np.arange(len(p.drop))
        ax.bar(t, p.drop, color="tab:blue", width=0.8, label="drop per batch")
        if query.thr is not None:
            ax.axhline(query.thr, color="tab:orange", ls="--", label=f"thr {query.thr:g} % ({query.x:g} % of batches)")
        if query.thr_total is not None:
            ax.axhline(query.thr_total, color="tab:red", ls="-", label=f"thr_total {query.thr_total:g} %")
        if query.thr_avg is not None:
            ax.axhline(query.thr_avg, color="tab:green", ls=":", label=f"thr_avg {query.thr_avg:g} %")
        ax.axhline(float(np.mean(p.drop)), color="k", ls=":", lw=0.8, label="mean drop")
        util = "/".join(f"{100 * u:.0f}" for u in p.utilization)
        head = titles[i] if titles else f"evaluation #{p.index + 1} ({p.method})"
        ax.set_title(f"{head}: M0/M1/M2 = {util} %, gain {100 * p.gain:.1f} %, robustness "
                     f"{p.robustness_for(query):+.2f}",
                     fontsize=9)
        ax.set_ylabel("drop (pp)")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("batch of 100 images")
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=120)
    plt.close(fig)


def _label(query: Query) -> str:
    return query.name if query.thr_avg is None else f"{query.name}@{query.thr_avg:g}"


def plot_gains(rows: Sequence, path) -> None:
    """Figs. 7-8: energy gain per query for ours and the baselines (hatched: query not satisfied); ``rows`` are
    `tfaxdnn.search.mapping.report.ComparisonRow`s."""
    plt = pyplot()
    labels = list(dict.fromkeys(_label(r.query) for r in rows))
    methods = list(dict.fromkeys(r.method for r in rows))
    by_key = {(r.method, _label(r.query)): r for r in rows}
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * len(methods)), 3.6))
    colors = {"ours": "tab:blue", "greedy": "tab:orange", "homogeneous": "tab:gray"}
    for j, m in enumerate(methods):
        for i, lab in enumerate(labels):
            r = by_key.get((m, lab))
            if r is not None:
                ax.bar(i + j * width, 100 * r.gain, width, color=colors.get(m), hatch=None if r.satisfied else "//",
                       edgecolor="k", lw=0.5, label=m if i == 0 else None)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("energy gain vs all-M0 (%)")
    ax.set_title("Energy gain per query (hatched: the mapping violates the query)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=120)
    plt.close(fig)


def plot_utilization(point: MappingPoint, path, title: str = "") -> None:
    """Fig. 6: utilisation of each mode per layer."""
    plt = pyplot()
    names = list(point.layer_utilization)
    util = np.array([point.layer_utilization[n] for n in names])
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(names)), 3))
    bottom = np.zeros(len(names))
    for k in range(util.shape[1]):
        ax.bar(names, 100 * util[:, k], bottom=bottom, label=f"M{k}")
        bottom += 100 * util[:, k]
    ax.set_ylabel("multiplications (%)")
    ax.set_title(title or f"mode utilisation per layer ({point.method})", fontsize=9)
    ax.legend(fontsize=8)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=120)
    plt.close(fig)
