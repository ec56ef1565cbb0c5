"""Layer (and residual-block) importance from neuron conductance, averaged over samples and target classes.

Why not the signed sum: by completeness, for every layer that every input-output path crosses (a cut: each layer
of a Sequential model, a residual-block output) ``sum_y C_y = F(x) - F(x')``, the same number for all such layers,
so it carries no ranking information. Importance therefore uses the magnitude of the neuron conductances:
``abs_sum`` (default, as the XAI-Gen paper), ``abs_mean`` (per neuron, size-independent) or ``sum`` (signed, for
checks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from tfaxdnn.xai import _graph
from tfaxdnn.xai.conductance import get_layer_conductance, neuron_sum

REDUCTIONS = ("abs_sum", "abs_mean", "sum")
GRANULARITIES = ("neuron", "element")
_ALIASES = {"mean_abs": "abs_mean", "signed_sum": "sum"}


def reduce_neurons(neuron_cond: np.ndarray, reduce: str = "abs_sum") -> np.ndarray:
    """Per-sample layer score from neuron conductance ``[N, units]`` -> ``[N]``."""
    how = _ALIASES.get(reduce, reduce)
    if how not in REDUCTIONS:
        raise ValueError(f"Unknown `reduce`; expected one of {list(REDUCTIONS)}. Received: reduce={reduce!r}")
    c = np.asarray(neuron_cond, dtype=np.float64).reshape(len(neuron_cond), -1)
    if how == "abs_sum":
        return np.abs(c).sum(axis=1)
    if how == "abs_mean":
        return np.abs(c).mean(axis=1)
    return c.sum(axis=1)


@dataclass
class LayerImportance:
    """Importance ``z_l`` per layer (model order), per experiment (target class) and per residual block."""

    layers: Tuple[str, ...]
    scores: Dict[str, float]
    per_experiment: Dict[str, Dict[str, float]]
    blocks: Dict[str, float] = field(default_factory=dict)
    block_outputs: Dict[str, str] = field(default_factory=dict)
    reduce: str = "abs_sum"
    granularity: str = "neuron"
    samples: Dict[str, int] = field(default_factory=dict)

    @property
    def ranking(self) -> List[str]:
        """Layer names, most important first."""
        return sorted(self.layers, key=lambda n: -self.scores[n])

    @property
    def block_ranking(self) -> List[str]:
        return sorted(self.blocks, key=lambda n: -self.blocks[n])

    def normalized(self) -> Dict[str, float]:
        """Scores divided by the largest one."""
        top = max(abs(v) for v in self.scores.values()) or 1.0
        return {k: v / top for k, v in self.scores.items()}

    def to_dict(self) -> dict:
        return {"reduce": self.reduce, "granularity": self.granularity, "layers": list(self.layers),
                "scores": self.scores, "ranking": self.ranking, "per_experiment": self.per_experiment,
                "blocks": self.blocks, "block_outputs": self.block_outputs, "samples": self.samples}

    def __str__(self) -> str:
        lines = [f"layer importance ({self.reduce} over {self.granularity}s), most important first:"]
        for i, n in enumerate(self.ranking, 1):
            lines.append(f"  {i:2d}. {n:<24s} {self.scores[n]:.5g}")
        for i, n in enumerate(self.block_ranking, 1):
            lines.append(f"  block {i:2d}. {n:<18s} {self.blocks[n]:.5g}  (output {self.block_outputs[n]})")
        return "\n".join(lines)


def _experiments(model, x, y, targets) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, x_subset, per-sample targets)]``."""
    if targets is None:
        targets = "label" if y is not None else "predicted"
    if isinstance(targets, str):
        if targets == "label":
            if y is None:
                raise ValueError("`targets='label'` needs labels: pass `data=(x, y)`.")
            return [("label", x, np.asarray(y).astype(np.int64))]
        if targets == "predicted":
            pred = np.asarray(model(x, training=False)).reshape(len(x), -1).argmax(axis=1)
            return [("predicted", x, pred)]
        raise ValueError(f"`targets` must be 'label', 'predicted', an int or a list of ints. Received: {targets!r}")
    classes = [int(targets)] if np.ndim(targets) == 0 else [int(c) for c in targets]
    if not classes:
        raise ValueError("`targets` is empty.")
    out = []
    for c in classes:
        xs = x if y is None else x[np.asarray(y) == c]
        if len(xs) == 0:
            present = sorted(set(np.asarray(y).tolist()))
            raise ValueError(f"No sample with label {c} in `data`; labels present: {present}")
        out.append((f"class {c}", xs, np.full(len(xs), c)))
    return out


def layer_importance(model, data, targets=None, reduce: str = "abs_sum", blocks=None, layers=None,
                     baseline=None, n_steps: int = 50, method: str = "gausslegendre",
                     batch_size: Optional[int] = None, samples_per_target: Optional[int] = None,
                     granularity: str = "neuron", verbose: bool = True) -> LayerImportance:
    """Rank layers (and residual blocks) by conductance, averaged over samples and target-class experiments.

    Args:
        model: Keras 3 or tf_keras model (logits output).
        data: images ``x`` or ``(x, y)``.
        targets: list of classes (one experiment each, the paper uses five; with labels, experiment ``c`` uses the
            samples labelled ``c``), an int, ``'label'`` (default with labels) or ``'predicted'``.
        reduce: ``abs_sum`` (default), ``abs_mean`` or ``sum``, applied to neuron conductance (Dense unit, conv
            channel summed over space) per sample; the signed ``sum`` equals ``F(x) - F(x')`` for every layer that is
            a cut (completeness), so it cannot rank layers.
        blocks: ``{block_name: output_layer_name}``; None detects residual blocks (``Add`` layers), False: none.
            A block's importance is the score of its output layer (a cut of the network).
        layers: layers to rank (default Conv2D/DepthwiseConv2D/Dense); block outputs are added to the pass.
        samples_per_target: use at most this many samples per experiment (first ones).
        granularity: ``neuron`` (default, SPEC 7: conv channel = conductance summed over space, then ``reduce``) or
            ``element`` (``reduce`` over every output element; signs at different positions no longer cancel).
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"Unknown `granularity`; expected one of {list(GRANULARITIES)}. "
                         f"Received: granularity={granularity!r}")
    x, y = (data if isinstance(data, tuple) else (data, None))
    x = np.asarray(x, dtype=np.float32)
    if y is not None and len(np.asarray(y)) != len(x):
        raise ValueError(f"`data=(x, y)` lengths differ: {len(x)} images, {len(np.asarray(y))} labels.")
    if blocks is None:
        blocks = _graph.detect_blocks(model)
    elif blocks is False:
        blocks = {}
    else:
        blocks = dict(blocks)
    k = _graph.framework(model)
    if layers is None:
        ranked = [l.name for l in model.layers if _graph.is_neuron_layer(l)]
    else:
        ranked = _graph.select_layers(model, layers)
    names = [l.name for l in model.layers]
    for b, out_name in blocks.items():
        if out_name not in names:
            raise ValueError(f"Block {b!r}: unknown output layer {out_name!r}; valid names: {names}")
    wanted = set(ranked) | set(blocks.values())
    lc = get_layer_conductance(model, [n for n in names if n in wanted])
    per_exp, samples = {}, {}
    for name, xs, ts in _experiments(model, x, y, targets):
        if samples_per_target is not None:
            xs, ts = xs[:samples_per_target], ts[:samples_per_target]
        cond = lc.attribute(xs, baseline, ts, n_steps=n_steps, method=method, internal_batch_size=batch_size,
                            verbose=verbose)
        per_exp[name] = {l: float(reduce_neurons(neuron_sum(model.get_layer(l), c) if granularity == "neuron"
                                                 else c, reduce).mean()) for l, c in cond.items()}
        samples[name] = len(xs)
    mean = {l: float(np.mean([e[l] for e in per_exp.values()])) for l in wanted}
    how = _ALIASES.get(reduce, reduce)
    return LayerImportance(layers=tuple(n for n in names if n in set(ranked)),
                           scores={n: mean[n] for n in names if n in set(ranked)},
                           per_experiment={e: {n: v[n] for n in names if n in set(ranked)} for e, v in per_exp.items()},
                           blocks={b: mean[o] for b, o in blocks.items()}, block_outputs=blocks, reduce=how,
                           granularity=granularity,
                           samples=samples)
