"""XAI-NAS genome: per gene (an approximable layer, or a residual block) a multiplier index and a skip level.

Layout ``[m_0, s_0, m_1, s_1, ...]`` (integers). ``m_g`` indexes the MAE-ordered multiplier list (0 = exact);
``s_g`` is the skip level, skip fraction ``s_g · skip_step`` (0, 5 %, ... up to ``max_skip``). The gene holding the
model's output layer never skips (its skip bound is 0); so does every gene in the ALWANN-style baseline.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Dict, List, Mapping, Sequence, Tuple, Union

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.plan import LayerPlan, Plan

__all__ = ["GenomeSpace", "block_genes", "xaigen_seed_genomes", "uniform_genomes"]

_BLOCK = re.compile(r"^(.*?block\d+)(?:_|$)")


def block_genes(layers: Sequence[str]) -> Dict[str, Tuple[str, ...]]:
    """One gene per residual block (layers named ``<...>block<k>_<...>``, as `tfaxdnn.models.resnet` names them),
    one per layer otherwise; model order."""
    genes: Dict[str, List[str]] = {}
    for name in layers:
        m = _BLOCK.match(name)
        genes.setdefault(m.group(1) if m else name, []).append(name)
    return {g: tuple(v) for g, v in genes.items()}


@dataclasses.dataclass(frozen=True)
class GenomeSpace:
    """The search space: genes, multipliers (MAE order, exact first) and skip levels.

    Build with `GenomeSpace.build`; ``genes`` maps gene name -> layer names.
    """

    genes: Tuple[Tuple[str, Tuple[str, ...]], ...]
    multipliers: Tuple[str, ...]
    skip_step: float
    max_skip_level: Tuple[int, ...]            # per gene (0: never skips)
    weight_mapping: str = "uniform"

    @classmethod
    def build(cls, layers: Sequence[str], output_layer: str, multipliers: Sequence[str], max_skip: float = 0.5,
              skip_step: float = 0.05, genes: Union[str, Mapping[str, Sequence[str]]] = "layer",
              allow_skip: bool = True, weight_mapping: str = "uniform") -> "GenomeSpace":
        """Args:
            layers: approximable layer names (model order); output_layer: never skipped.
            multipliers: names, sorted here by MAE (the exact multiplier of their signedness is put first).
            genes: ``"layer"``, ``"block"`` (see `block_genes`) or ``{gene: [layers]}`` covering every layer once.
            allow_skip: False for the ALWANN-style baseline (no skipping anywhere).
        """
        layers = list(layers)
        if not layers:
            raise ValueError("The model has no approximable layer (Conv2D, DepthwiseConv2D or Dense): nothing to "
                             "search.")
        if genes == "layer":
            groups = {n: (n,) for n in layers}
        elif genes == "block":
            groups = block_genes(layers)
        elif isinstance(genes, Mapping):
            groups = {str(g): tuple(v) for g, v in genes.items()}
            flat = [n for v in groups.values() for n in v]
            if sorted(flat) != sorted(layers):
                missing, extra = sorted(set(layers) - set(flat)), sorted(set(flat) - set(layers))
                raise ValueError(f"`genes` must cover every approximable layer exactly once. Missing: {missing}; "
                                 f"unknown or repeated: {extra or sorted({n for n in flat if flat.count(n) > 1})}. "
                                 f"Approximable layers: {layers}.")
        else:
            raise ValueError(f"`genes` must be 'layer', 'block' or a dict of gene -> layers. Received: {genes!r}")
        ms = [_mult.get(n) for n in dict.fromkeys(multipliers)]
        if len({m.signed for m in ms}) != 1:
            raise ValueError(f"`multipliers` must be all signed or all unsigned. Received: {[m.name for m in ms]}")
        exact = _mult.EXACT_SIGNED if ms[0].signed else _mult.EXACT_UNSIGNED
        rest = sorted((m for m in ms if m.name != exact), key=lambda m: (m.mae_percent, m.name))
        if not rest:
            raise ValueError(f"`multipliers` needs at least one approximate multiplier. Received: {multipliers}")
        if not (0 < skip_step <= 1 and 0 <= max_skip <= 1):
            raise ValueError(f"Need 0 < skip_step <= 1 and 0 <= max_skip <= 1. Received: skip_step={skip_step}, "
                             f"max_skip={max_skip}")
        top = int(math.floor(max_skip / skip_step + 1e-9)) if allow_skip else 0
        levels = tuple(0 if output_layer in members else top for members in groups.values())
        return cls(tuple(groups.items()), (exact, *(m.name for m in rest)), float(skip_step), levels,
                   weight_mapping)

    # -- shape ------------------------------------------------------------------------------------------------
    @property
    def gene_names(self) -> List[str]:
        return [g for g, _ in self.genes]

    @property
    def n_var(self) -> int:
        return 2 * len(self.genes)

    @property
    def lower(self) -> np.ndarray:
        return np.zeros(self.n_var, dtype=int)

    @property
    def upper(self) -> np.ndarray:
        up = np.empty(self.n_var, dtype=int)
        up[0::2] = len(self.multipliers) - 1
        up[1::2] = self.max_skip_level
        return up

    def check(self, genome) -> np.ndarray:
        g = np.asarray(genome)
        if g.shape != (self.n_var,):
            raise ValueError(f"A genome has {self.n_var} integers (multiplier, skip level per gene "
                             f"{self.gene_names}). Received shape {g.shape}.")
        g = np.rint(g).astype(int)
        if (g < self.lower).any() or (g > self.upper).any():
            raise ValueError(f"Genome {g.tolist()} is outside the bounds {self.lower.tolist()}..{self.upper.tolist()}.")
        return g

    # -- decoding ---------------------------------------------------------------------------------------------
    def settings(self, genome) -> Dict[str, Tuple[str, float]]:
        """``{layer: (multiplier, skip_fraction)}`` for every approximable layer."""
        g = self.check(genome)
        out = {}
        for i, (_, members) in enumerate(self.genes):
            mult, skip = self.multipliers[g[2 * i]], round(g[2 * i + 1] * self.skip_step, 6)
            out.update({n: (mult, skip) for n in members})
        return out

    def to_plan(self, genome) -> Plan:
        """The `Plan` of a genome: every approximable layer named; weight mapping on approximate multipliers."""
        exact = self.multipliers[0]
        return Plan({n: LayerPlan(m, s, "none" if m == exact else self.weight_mapping)
                     for n, (m, s) in self.settings(genome).items()})

    def from_plan(self, plan) -> np.ndarray:
        """The genome of ``plan`` (a `Plan`): per gene the least aggressive setting of its layers (lowest multiplier
        index, lowest skip level; a per-block genome cannot hold differing settings, and the least aggressive keeps
        the projection of a feasible plan closest to feasible). Skip fractions are rounded to the level grid and
        capped at the gene's maximum; layers the plan does not name count as exact. Unknown multipliers are an
        error."""
        out = np.zeros(self.n_var, dtype=int)
        for i, (gene, members) in enumerate(self.genes):
            mults, skips = [], []
            for name in members:
                lp = plan.layers.get(name)
                if lp is None:
                    mults.append(0)
                    skips.append(0)
                    continue
                if lp.multiplier not in self.multipliers:
                    raise ValueError(f"Plan layer {name!r} uses {lp.multiplier!r}, which is not among the searched "
                                     f"multipliers {list(self.multipliers)}.")
                mults.append(self.multipliers.index(lp.multiplier))
                skips.append(int(round(lp.skip_fraction / self.skip_step)))
            out[2 * i] = min(mults)
            out[2 * i + 1] = min(min(skips), self.max_skip_level[i])
        return out

    def key(self, genome) -> str:
        """Cache key / CSV form: the integers separated by spaces."""
        return " ".join(str(int(v)) for v in self.check(genome))

    def from_key(self, key: str) -> np.ndarray:
        return self.check([int(v) for v in key.split()])

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(self.lower, self.upper + 1, size=(n, self.n_var))

    def to_dict(self) -> dict:
        return {"genes": {g: list(v) for g, v in self.genes}, "multipliers": list(self.multipliers),
                "skip_step": self.skip_step, "max_skip_level": list(self.max_skip_level),
                "weight_mapping": self.weight_mapping}


def uniform_genomes(space: GenomeSpace) -> np.ndarray:
    """The uniform plans: for each approximate multiplier (MAE order) every gene on it, nothing skipped (the
    candidates XAI-Gen's ``uniform_candidates`` also scores, and the homogeneous reference points)."""
    out = np.zeros((len(space.multipliers) - 1, space.n_var), dtype=int)
    out[:, 0::2] = np.arange(1, len(space.multipliers))[:, None]
    return out


def xaigen_seed_genomes(space: GenomeSpace, layer_scores: Mapping[str, float], n_seeds: int = 36,
                        t_p_max: float = 0.8, t_c_values: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                        output_important: bool = True) -> np.ndarray:
    """XAI-Gen whole-model configurations (its ``sweep`` "pa" rule) at ``n_seeds`` skipping thresholds.

    Seed ``i`` uses ``t_p = t_p_max · i / (n_seeds − 1)`` and conductance threshold ``t_c`` cycling through
    ``t_c_values``; each gene gets ``SelectMult(ẑ, t_c)`` and skip ``t_p·(1 − ẑ)`` (capped at the gene's maximum),
    with ``ẑ`` the min-max normalised mean conductance of the gene's layers. Duplicates are dropped (order kept).

    ``output_important``: the gene holding the output layer (the last layer of ``layer_scores``, model order, as in
    XAI-Gen; it never skips) counts as the most important (``ẑ = 1``: exact in every seed) and is left out of the
    normalisation. Its conductance is not comparable with the hidden layers' (its errors reach the logits with
    nothing downstream to absorb them): on the retrained ResNet-8 its low conductance gave it mul8s_1L2N in every
    seed, and none of 106 such candidates met a 1-point budget.
    """
    from tfaxdnn.search.xaigen import select_multiplier, skip_fraction

    if n_seeds < 1:
        return np.zeros((0, space.n_var), dtype=int)
    raw = np.array([np.mean([layer_scores[n] for n in members]) for _, members in space.genes], dtype=float)
    hidden = raw
    if output_important:
        output_layer = list(layer_scores)[-1]
        out_gene = next(i for i, (_, members) in enumerate(space.genes) if output_layer in members)
        hidden = np.delete(raw, out_gene) if len(raw) > 1 else raw
    span = (hidden.max() - hidden.min()) or 1.0
    z = np.clip((raw - hidden.min()) / span, 0.0, 1.0)
    if output_important:
        z[out_gene] = 1.0
    out = []
    for i in range(n_seeds):
        t_p = t_p_max * i / max(n_seeds - 1, 1)
        t_c = t_c_values[i % len(t_c_values)]
        g = np.empty(space.n_var, dtype=int)
        for j, z_g in enumerate(z):
            g[2 * j] = select_multiplier(float(z_g), t_c, len(space.multipliers))
            s = skip_fraction(float(z_g), t_p, space.skip_step)
            g[2 * j + 1] = min(int(round(s / space.skip_step)), space.max_skip_level[j])
        out.append(tuple(g))
    return np.array(list(dict.fromkeys(out)), dtype=int)
