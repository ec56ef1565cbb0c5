"""XAI-Gen's importance: layer scores ``z_l`` and per-neuron scores from one neuron-conductance pass, and the
normalisation ``ẑ_l`` that SelectMult and the skip rule read.

`Importance` is the search's view of `tfaxdnn.xai.LayerImportance`: the same layer scores (one experiment, target =
label, ``abs_sum`` over neurons) plus what the search needs beyond them, the per-neuron scores (which neurons a layer
skips first) and the normalisations. `Importance.as_layer_importance` and `Importance.from_layer_importance` convert
between the two (`tfaxdnn.xai`'s plots take a `LayerImportance`).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional

import numpy as np

from tfaxdnn.core import kinds

__all__ = ["Importance", "compute_importance", "NORMALIZATIONS"]

#: How `Importance.normalized` scales the layer scores.
NORMALIZATIONS = ("minmax", "max")


@dataclasses.dataclass
class Importance:
    """Layer scores ``z_l`` (``layers`` in model order) and per-neuron scores (``neurons[layer]``: one value per
    output neuron, larger = more important)."""

    layers: List[str]
    scores: Dict[str, float]
    neurons: Dict[str, np.ndarray]

    def normalized(self, how: str = "minmax") -> Dict[str, float]:
        """``ẑ`` per layer.

        ``"minmax"`` (default): ``(z − min z)/(max z − min z)``, the least important layer 0, the most important 1.
        ``"max"``: ``z / max z`` (conductance magnitudes of trained nets often lie within a factor of two, which
        then leaves little room between layers). All-equal scores give 0 (``"minmax"``).
        """
        values = np.array([self.scores[n] for n in self.layers], dtype=np.float64)
        lo = values.min() if how == "minmax" else 0.0
        span = (values.max() - lo) or 1.0
        return {n: float((self.scores[n] - lo) / span) for n in self.layers}

    def ascending(self) -> List[str]:
        """Layer names, least important first (ties by name): the order Algorithm 1 visits them."""
        return sorted(self.layers, key=lambda n: (self.scores[n], n))

    def save(self, path: str, key: Optional[str] = None) -> None:
        """Writes the scores to ``path`` (npz; ``key``: what they were computed from, as XAI-NAS's cache records it,
        `tfaxdnn.search.nas.importance`)."""
        np.savez(path, **{f"score__{n}": self.scores[n] for n in self.layers},
                 **{f"neurons__{n}": self.neurons[n] for n in self.layers}, layers__=np.array(self.layers),
                 **({} if key is None else {"key__": np.array(key)}))

    @classmethod
    def load(cls, path: str) -> "Importance":
        """The `Importance` that `save` (or an XAI-NAS run's ``importance.npz``) wrote to ``path``."""
        with np.load(path) as f:
            if "layers__" not in f.files:
                raise ValueError(f"{path} holds no `layers__` entry: it was not written by `Importance.save` or an "
                                 "XAI-NAS run.")
            layers = [str(n) for n in f["layers__"]]
            missing = [n for n in layers if f"score__{n}" not in f.files or f"neurons__{n}" not in f.files]
            if missing:
                raise ValueError(f"{path} lacks the scores of layers {missing}.")
            return cls(layers, {n: float(f[f"score__{n}"]) for n in layers}, {n: f[f"neurons__{n}"] for n in layers})

    def as_layer_importance(self):
        """The layer scores as a `tfaxdnn.xai.LayerImportance` (one experiment, ``"label"``)."""
        from tfaxdnn.xai.importance import LayerImportance

        return LayerImportance(layers=tuple(self.layers), scores=dict(self.scores),
                               per_experiment={"label": dict(self.scores)}, reduce="abs_sum")

    @classmethod
    def from_layer_importance(cls, importance, neurons: Mapping[str, np.ndarray]) -> "Importance":
        """XAI-Gen's view of a `tfaxdnn.xai.LayerImportance` (e.g. from `tfaxdnn.xai.layer_importance` over
        several target classes), with ``neurons`` ``{layer: per-neuron scores}`` for every ranked layer."""
        missing = [n for n in importance.layers if n not in neurons]
        if missing:
            raise ValueError(f"`neurons` lacks per-neuron scores of layers {missing}.")
        return cls(list(importance.layers), {n: float(importance.scores[n]) for n in importance.layers},
                   {n: np.asarray(neurons[n]) for n in importance.layers})


def compute_importance(model, x, y, layers=None, n_steps: int = 20, verbose: bool = True) -> Importance:
    """Neuron conductance (target = label) of ``layers`` (default: all approximable layers) on ``x``.

    Layer score: mean over samples of ``Σ_neurons |C|`` (`tfaxdnn.xai.reduce_neurons` ``"abs_sum"``, kept in the
    conductance's float32); neuron score: mean over samples of ``|C|``.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Conductance (GradientTape) needs Keras's TensorFlow backend; this runs on "
                           f"{keras.backend.backend()!r}. Compute it where TensorFlow is installed "
                           "(`compute_importance(...).save(path)`; XAI-NAS: the importance.npz it caches in its "
                           "output folder) and pass it here (`Importance.load(path)` as `importance=`, or the file "
                           "in the XAI-NAS folder); the candidate evaluations themselves run on any backend.")
    from tfaxdnn.xai import neuron_conductance

    layers = list(layers or kinds.approximable_names(model))
    cond = neuron_conductance(model, x, np.asarray(y).astype(np.int64), layers=layers, n_steps=n_steps,
                              verbose=verbose)
    scores = {n: float(np.abs(cond[n]).sum(axis=1).mean()) for n in layers}
    neurons = {n: np.abs(cond[n]).mean(axis=0) for n in layers}
    return Importance(layers, scores, neurons)
