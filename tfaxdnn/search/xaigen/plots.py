"""The trade-off figure of a `sweep` (``tradeoff.png``): accuracy and relative energy against ``t_p``, skipping
only ("p") vs skipping with approximation ("pa"), like the paper's Figs. 8–9."""

from __future__ import annotations

from typing import List, Optional

from tfaxdnn.core.figures import pyplot

__all__ = ["save_tradeoff_plot"]


def save_tradeoff_plot(rows: List[dict], path, baseline_accuracy: Optional[float] = None,
                       max_accuracy_drop: float = 0.02) -> None:
    """Writes the figure of `sweep` ``rows`` to ``path`` (PNG); with ``baseline_accuracy``, the float baseline and
    the ``Q_c`` line are drawn."""
    plt = pyplot()
    fig, (ax_acc, ax_en) = plt.subplots(1, 2, figsize=(10, 4))
    for mode, style in (("p", "o-"), ("pa", "s--")):
        sel = [r for r in rows if r["mode"] == mode]
        t_p = [r["t_p"] for r in sel]
        label = "skipping (p)" if mode == "p" else "skipping + approximation (pa)"
        ax_acc.plot(t_p, [100 * r["accuracy"] for r in sel], style, label=label)
        ax_en.plot(t_p, [r["relative_energy"] for r in sel], style, label=label)
    if baseline_accuracy is not None:
        ax_acc.axhline(100 * baseline_accuracy, color="grey", lw=0.8, label="float baseline")
        ax_acc.axhline(100 * (baseline_accuracy - max_accuracy_drop), color="red", lw=0.8, ls=":",
                       label=f"baseline − {100 * max_accuracy_drop:g} pts")
    ax_acc.set(xlabel="skipping threshold t_p", ylabel="accuracy (%)", title="Accuracy")
    ax_en.set(xlabel="skipping threshold t_p", ylabel="energy / all-exact energy", title="Energy")
    ax_acc.legend(fontsize=8)
    ax_en.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
