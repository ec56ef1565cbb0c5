"""XAI-NAS figures: candidates per generation in the accuracy–energy plane (paper Fig. 10) and hypervolume."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from tfaxdnn.core.figures import pyplot

__all__ = ["save_generations_plot", "save_hypervolume_plot"]

_LABEL = {"xainas": "XAI-NAS", "alwann": "ALWANN-style baseline"}


def save_generations_plot(results: Mapping[str, object], path: str) -> None:
    """Every candidate of the first run (validation accuracy vs energy relative to all-exact), coloured by
    generation; XAI-Gen seeds starred; the Pareto front of every run drawn as a step line; the constraint dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    main_mode, main = next(iter(results.items()))
    recs = main.records
    if recs:
        gen = np.array([r["generation"] for r in recs])
        sc = ax.scatter([r["relative_energy"] for r in recs], [100 * r["accuracy"] for r in recs], c=gen,
                        cmap="viridis", s=14, alpha=0.8, label=f"{_LABEL.get(main_mode, main_mode)} candidates")
        fig.colorbar(sc, ax=ax, label="generation")
        for source, marker, label in (("xaigen_seed", "*", "XAI-Gen seeds"), ("uniform", "s", "uniform plans")):
            seeds = [r for r in recs if r["source"] == source]
            if seeds:
                ax.scatter([r["relative_energy"] for r in seeds], [100 * r["accuracy"] for r in seeds],
                           marker=marker, s=90 if marker == "*" else 40, facecolor="none", edgecolor="red",
                           label=label)
    for (mode, res), style in zip(results.items(), ("k-", "C1--", "C2:")):
        front = sorted(res.front, key=lambda f: f["relative_energy"])
        if front:
            ax.step([f["relative_energy"] for f in front], [100 * f["accuracy"]["validation"] for f in front],
                    style, where="post", marker="o", ms=4, label=f"{_LABEL.get(mode, mode)} front")
    ax.axhline(100 * main.accuracy_floor, color="red", lw=0.8, ls="--", label="accuracy constraint")
    acc = getattr(main.config, "energy_accounting", "system")
    ax.set(xlabel=f"energy / all-exact 8-bit energy ({acc} accounting)", ylabel="accuracy on validation split (%)",
           title="Candidates per generation")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def evaluations_per_generation(res) -> np.ndarray:
    """Unique evaluations spent by the end of each generation, the XAI-Gen seeding runs' included."""
    gens = np.array([r["generation"] for r in res.records], dtype=int)
    seeding = int(getattr(res, "seeding", {}).get("evaluations", 0))
    return np.array([seeding + int((gens <= g).sum()) for g in range(len(res.hypervolume))])


def save_hypervolume_plot(results: Mapping[str, object], path: str) -> None:
    """Hypervolume of the feasible archive after each generation against the evaluations spent (seeding included),
    (error, relative energy) plane, same reference point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ref = None
    for mode, res in results.items():
        ax.plot(evaluations_per_generation(res), res.hypervolume, "o-", ms=3, label=_LABEL.get(mode, mode))
        ref = res.reference_point
    ax.set(xlabel="evaluations (XAI-Gen seeding included)", ylabel="hypervolume (validation)",
           title=f"Hypervolume, reference (error, energy) = ({ref[0]:.3f}, {ref[1]:.2f})" if ref else "Hypervolume")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
