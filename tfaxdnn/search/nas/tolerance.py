"""Measured-tolerance seeds of XAI-NAS: what each gene tolerates, measured, then combined under an additive model.

The XAI-Gen sweep seeds rank multipliers by mean absolute error and genes by conductance. On the CIFAR ResNets that
order is not the accuracy order (ResNet-8: mul8s_1KV9 on stage 2 lost more than mul8s_1L2J there), so the sweep seeds
were infeasible and the ALWANN-style baseline's random start did better. These seeds measure instead:

1. `single_gene_genomes`: every (gene, approximate multiplier) alone, the rest exact, nothing skipped, scored on
   every validation image (no sequential rejection: a single layer near the budget is exactly what the table must
   price; they are archived, count against the evaluation budget, source ``"tolerance"``);
2. `tolerance_table`: per gene and multiplier the measured paired drop (point estimate, clipped at 0; a record
   without one, rejected by the sequential test, counts as unusable: infinite) and the energy saving
   ``1 − relative_energy`` of the search's accounting;
3. `additive_front`: the plans on the Pareto front of (summed drop, summed saving), by dynamic programming over the
   genes (exact for additive objectives; compute and multiplier accounting are additive over layers);
4. `tolerance_seed_genomes`: the front's best-saving plans within predicted drops spread from a quarter of the budget
   to ``spread`` times it (drops of separate layers do not add exactly: the search, not the model, decides).
"""

from __future__ import annotations

import bisect
import math
from typing import Dict, Iterator, List, Mapping, Tuple

import numpy as np

from tfaxdnn.search.nas.genome import GenomeSpace

__all__ = ["single_gene_genomes", "tolerance_table", "table_dict", "additive_front", "tolerance_seed_genomes"]

#: at most this many plans are kept on the front between genes (thinned evenly beyond it)
MAX_FRONT = 4000


def _single_genes(space: GenomeSpace) -> Iterator[Tuple[int, int, np.ndarray]]:
    """``(gene, multiplier index, genome)`` of every gene alone on every approximate multiplier: gene-major,
    multipliers in the space's order, nothing skipped."""
    for j in range(len(space.genes)):
        for m in range(1, len(space.multipliers)):
            g = np.zeros(space.n_var, dtype=int)
            g[2 * j] = m
            yield j, m, g


def single_gene_genomes(space: GenomeSpace) -> np.ndarray:
    """One genome per (gene, approximate multiplier): that gene on that multiplier, every other gene exact, nothing
    skipped; gene-major, multipliers in the space's order."""
    return np.array([g for _, _, g in _single_genes(space)], dtype=int).reshape(-1, space.n_var)


def tolerance_table(space: GenomeSpace, records: Mapping[str, dict]) -> Tuple[np.ndarray, np.ndarray]:
    """``(drop, saving)``, each ``[gene, multiplier]`` (column 0: exact, 0 and 0) from the archived records of
    `single_gene_genomes` (``records``: genome key -> record). A missing record is an error (never a silent 0)."""
    shape = (len(space.genes), len(space.multipliers))
    drop, saving = np.zeros(shape), np.zeros(shape)
    for j, m, g in _single_genes(space):
        key = space.key(g)
        if key not in records:
            raise KeyError(f"The tolerance of genome {key} was not measured (no archived record).")
        rec = records[key]
        d = rec.get("drop")
        usable = not rec.get("rejected") and d is not None and math.isfinite(float(d))
        drop[j, m] = max(float(d), 0.0) if usable else math.inf
        saving[j, m] = 1.0 - float(rec["relative_energy"])
    return drop, saving


def table_dict(space: GenomeSpace, drop: np.ndarray) -> Dict[str, Dict[str, float]]:
    """``{gene: {multiplier: drop}}`` of the approximate multipliers, JSON-ready (an unusable entry: None)."""
    return {gene: {space.multipliers[m]: (round(float(drop[j, m]), 6) if np.isfinite(drop[j, m]) else None)
                   for m in range(1, len(space.multipliers))}
            for j, gene in enumerate(space.gene_names)}


def additive_front(drop: np.ndarray, saving: np.ndarray, max_drop: float) -> List[Tuple[float, float, Tuple[int, ...]]]:
    """The Pareto front of ``(Σ drop, Σ saving)`` over one multiplier per gene, summed drops at most ``max_drop``:
    ``[(drop, saving, multiplier indices)]``, drop ascending, saving strictly ascending."""
    front: List[Tuple[float, float, Tuple[int, ...]]] = [(0.0, 0.0, ())]
    for j in range(drop.shape[0]):
        options = [m for m in range(drop.shape[1]) if math.isfinite(drop[j, m])]
        cand = [(d + drop[j, m], s + saving[j, m], c + (m,)) for d, s, c in front for m in options
                if d + drop[j, m] <= max_drop + 1e-12]
        cand.sort(key=lambda t: (t[0], -t[1]))
        front, best = [], -math.inf
        for t in cand:
            if t[1] > best + 1e-12:
                front.append(t)
                best = t[1]
        if len(front) > MAX_FRONT:
            front = [front[i] for i in np.unique(np.linspace(0, len(front) - 1, MAX_FRONT).round().astype(int))]
    return front


def tolerance_seed_genomes(space: GenomeSpace, drop: np.ndarray, saving: np.ndarray, n_seeds: int,
                           budget: float, spread: float = 2.0) -> np.ndarray:
    """Up to ``n_seeds`` distinct genomes (nothing skipped): for predicted drops ``t`` evenly from ``budget / 4`` to
    ``spread · budget``, the additive front's plan of largest saving with summed drop ≤ ``t``; plans saving nothing
    are left out. Order: ascending predicted drop."""
    if n_seeds < 1:
        return np.zeros((0, space.n_var), dtype=int)
    front = additive_front(drop, saving, spread * budget)
    drops = [p[0] for p in front]           # ascending, and so is the saving: the last plan within t saves most
    out: Dict[tuple, None] = {}
    for t in np.linspace(budget / 4, spread * budget, n_seeds):
        i = bisect.bisect_right(drops, t + 1e-12) - 1
        if i < 0 or front[i][1] <= 0:
            continue
        g = np.zeros(space.n_var, dtype=int)
        g[0::2] = front[i][2]
        out.setdefault(tuple(int(v) for v in g))
    return np.array(list(out), dtype=int).reshape(-1, space.n_var)
