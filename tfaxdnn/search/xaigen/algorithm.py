"""XAI-Gen (the XAI-Gen paper's Algorithm 1): conductance decides which layers get which approximate multiplier.

Steps, as implemented (SPEC section 8):

1. Neuron conductance of every Conv2D / DepthwiseConv2D / Dense layer on ``importance_samples`` images (target: the
   label). Layer importance ``z_l`` = mean over samples of ``Σ_neurons |C|`` (``abs_sum``), normalised to
   ``ẑ_l = (z_l − min z) / (max z − min z)`` (``normalization="minmax"``, default: the least important layer is
   0, the most important 1) or ``ẑ_l = z_l / max z`` (``"max"``; conductance magnitudes of trained nets often
   lie within a factor of two, which leaves little room between layers). Neuron importance = mean ``|C|``.
2. Layers are visited from the least to the most important. ``SelectMult``: with ``M`` multipliers sorted by MAE
   (index 0 exact) and the current threshold ``t``, layer ``l`` gets index
   ``i_l = clip(round((1 − ẑ_l / t)·(M − 1)), 0, M − 1)``: a layer at or above the threshold stays exact, a layer of
   near-zero importance gets the most aggressive multiplier, linearly in between. After each committed layer
   ``t`` is lowered by ``δ`` (never below ``δ``), so later, more important layers are approximated more cautiously.
3. Skipping: layer ``l`` drops the fraction ``s_l = t_p·(1 − ẑ_l)`` of its least important neurons, rounded down
   to a multiple of ``skip_step`` (5 %); the model's output layer is never skipped.
4. Each step approximates the model with the committed layers plus the new one (weights re-coded by the weight
   mapping, no retraining) and measures accuracy on the *validation* split and energy with `tfaxdnn.hardware`
   (through the public `tfaxdnn.search.Evaluator`). The evaluation data is split (``validation_fraction``, seeded)
   into the validation images the search selects on and the test images the result is reported on; an explicit
   ``test_data`` replaces the split.
   If the accuracy falls below ``Q_c`` (baseline − ``max_accuracy_drop``): ``on_violation="stop"`` ends the search
   (the paper), ``"backoff"`` (default) retries the layer with half and a quarter of the skip fraction, then
   none, then ever less aggressive multipliers, and keeps the first setting that passes (the layer stays exact
   if none does).
5. Refinement (beyond the paper, ``refine_passes``, default 2): Algorithm 1 never touches the layers at the top of
   the ranking, which may hold most of the MACs. Each pass visits the layers least important first and tries one
   step more aggressive (next multiplier, else ``skip_step`` more skipping up to ``t_p``), keeping a step only if
   accuracy still meets ``Q_c`` and energy falls. ``result.algorithm1`` keeps the pre-refinement result.
6. The result is the last configuration that met ``Q_c``; ``meets_energy`` says whether it also meets ``E_c``
   (energy relative to the all-exact model).

7. Beyond the paper (off by default, so Algorithm 1 stays reproducible):

   * ``selection="sensitivity"``: instead of conductance, each layer's measured validation accuracy drop under
     each multiplier (that layer alone approximate, one pass per layer, cached per search) ranks the layers (score:
     the drop under the most aggressive multiplier) and picks a layer's multiplier: the most aggressive one whose
     own drop stays within the allowed drop. Conductance still ranks the neurons to skip.
   * ``energy_accounting``: ``"system"`` (default), ``"compute"`` or ``"multiplier"`` (`HardwareReport.reduction`)
     is the energy the search minimises (refinement, ``E_c``); all three are reported.
   * ``refine="best"``: each refinement step tries one move on every layer and keeps the one that saves the most
     energy per validation accuracy lost (``"first"``, default: the first acceptable move, layer by layer).
   * ``finetune_epochs > 0`` (needs ``train_data``): the no-retraining plan is fine-tuned with the layers'
     straight-through gradient (skipped channels stay exactly zero: the mask is applied in the layer's call;
     BatchNormalization frozen). With ``search_accuracy_drop`` > ``max_accuracy_drop`` the plan search is first
     run with that looser drop (and then halfway), each plan is fine-tuned, and the first whose fine-tuned
     validation accuracy meets ``Q_c`` is kept (else the no-retraining plan, fine-tuned). The no-retraining result
     is reported next to it (``result.no_retraining``).

``sweep`` evaluates whole-model configurations over a grid of ``t_p`` values, skipping only ("p") and skipping with
approximation ("pa"), as in the paper's Figs. 8–9.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfaxdnn.core.serialization import json_default
from tfaxdnn.search.config import SearchConfig
from tfaxdnn import multipliers as _mult
from tfaxdnn.core import kinds
from tfaxdnn.plan import LayerPlan, Plan

__all__ = ["XAIGenConfig", "XAIGenResult", "Importance", "compute_importance", "select_multiplier", "skip_fraction",
           "run_xaigen", "sweep", "save_sweep", "run_and_save", "energy_cap", "finetune", "XAIGenSearch", "SELECTIONS",
           "ACCOUNTINGS"]

#: Layer selection rules: the paper's conductance ranking, or measured per-layer accuracy drops.
SELECTIONS = ("conductance", "sensitivity")
#: Energy accountings the search can minimise (`tfaxdnn.hardware.ACCOUNTINGS`).
ACCOUNTINGS = ("system", "compute", "multiplier")


@dataclasses.dataclass(frozen=True)
class XAIGenConfig(SearchConfig):
    """Settings of `run_xaigen` (names follow Algorithm 1).

    Args:
        multipliers: signed multiplier names, any order (sorted by MAE, exact first; default the paper's seven).
        t_c: initial conductance threshold (normalised importance units, 0 < t_c).
        delta: threshold step δ after each committed layer.
        t_p: skipping threshold; the least important layer skips up to ``t_p`` of its neurons.
        skip_step: skip fractions are rounded down to multiples of this.
        max_accuracy_drop: ``Q_c`` = baseline accuracy − this (fraction, 0.02 = 2 points).
        energy_budget: ``E_c``, largest acceptable energy relative to the all-exact model (1.0: no constraint).
        weight_mapping: ``"uniform"`` (ALWANN), ``"data"`` or ``"none"`` for every approximated layer.
        on_violation: ``"backoff"`` or ``"stop"`` (see the module docstring).
        refine_passes: greedy passes after Algorithm 1 (0: the paper's algorithm only; see step 5).
        normalization: ``"minmax"`` or ``"max"`` (see the module docstring).
        importance_samples, n_steps: conductance sample count and integration steps.
        calibration_samples, evaluation_samples: sizes taken from the given data (None: all).
        validation_fraction: share of the evaluation data the search selects on (the rest reports the result).
        seed: sampling seed.
        selection: ``"conductance"`` (the paper) or ``"sensitivity"`` (measured per-layer accuracy drops).
        energy_accounting: ``"system"``, ``"compute"`` or ``"multiplier"``: the energy the search minimises.
        refine: ``"first"`` or ``"best"`` (see step 7 of the module docstring).
        finetune_epochs: epochs of straight-through fine-tuning after the plan is fixed (0: none, the paper).
        finetune_learning_rate, finetune_batch_size: Adam (cosine-decayed) settings of the fine-tuning.
        search_accuracy_drop: accuracy drop the plan search may use when fine-tuning follows (None:
            ``max_accuracy_drop``); the fine-tuned model must still meet ``Q_c``.
    """

    t_c: float = 1.0
    delta: float = 0.05
    t_p: float = 0.5
    energy_budget: float = 1.0
    on_violation: str = "backoff"
    refine_passes: int = 2
    normalization: str = "minmax"
    evaluation_samples: Optional[int] = None
    validation_fraction: float = 0.5
    selection: str = "conductance"
    refine: str = "first"
    finetune_epochs: int = 0
    finetune_learning_rate: float = 1e-3
    finetune_batch_size: int = 64
    search_accuracy_drop: Optional[float] = None

    def __post_init__(self):
        super().__post_init__()
        names = list(self.multipliers)
        if len(names) < 2:
            raise ValueError(f"`multipliers` needs at least two entries (exact + approximate). Received: {names}")
        ms = [_mult.lookup(n) for n in names]  # names or Multiplier objects (user circuits are registered)
        if not all(m.signed for m in ms):
            raise ValueError(f"XAI-Gen uses signed (int8) multipliers. Received unsigned: "
                             f"{[m.name for m in ms if not m.signed]}")
        ordered = tuple(m.name for m in sorted(ms, key=lambda m: (m.mae_percent, m.name)))
        object.__setattr__(self, "multipliers", ordered)
        if int(self.refine_passes) < 0:
            raise ValueError(f"`refine_passes` must be >= 0. Received: {self.refine_passes!r}")
        for field, lo, hi in (("t_c", 1e-9, math.inf), ("delta", 0.0, math.inf), ("t_p", 0.0, 1.0),
                              ("validation_fraction", 1e-9, 1.0 - 1e-9),
                              ("energy_budget", 0.0, math.inf)):
            v = getattr(self, field)
            if not lo <= v <= hi:
                raise ValueError(f"`{field}` must be in [{lo}, {hi}]. Received: {field}={v!r}")
        if self.on_violation not in ("backoff", "stop"):
            raise ValueError(f"`on_violation` must be 'backoff' or 'stop'. Received: {self.on_violation!r}")
        if self.normalization not in ("minmax", "max"):
            raise ValueError(f"`normalization` must be 'minmax' or 'max'. Received: {self.normalization!r}")
        for field, allowed in (("selection", SELECTIONS), ("refine", ("first", "best"))):
            if getattr(self, field) not in allowed:
                raise ValueError(f"`{field}` must be one of {allowed}. Received: {field}={getattr(self, field)!r}")
        if int(self.finetune_epochs) < 0 or self.finetune_learning_rate <= 0 or self.finetune_batch_size < 1:
            raise ValueError(f"Fine-tuning needs finetune_epochs >= 0, finetune_learning_rate > 0 and "
                             f"finetune_batch_size >= 1. Received: {self.finetune_epochs!r}, "
                             f"{self.finetune_learning_rate!r}, {self.finetune_batch_size!r}")
        if self.search_accuracy_drop is not None and not self.max_accuracy_drop <= self.search_accuracy_drop <= 1:
            raise ValueError(f"`search_accuracy_drop` must lie in [max_accuracy_drop, 1]. Received: "
                             f"search_accuracy_drop={self.search_accuracy_drop!r}, "
                             f"max_accuracy_drop={self.max_accuracy_drop!r}")


@dataclasses.dataclass
class Importance:
    """Layer scores ``z_l`` (model order) and per-neuron scores from one conductance pass."""

    layers: List[str]
    scores: Dict[str, float]
    neurons: Dict[str, np.ndarray]

    def normalized(self, how: str = "minmax") -> Dict[str, float]:
        """``ẑ`` per layer: min-max scaled to [0, 1] (``"minmax"``) or divided by the largest score (``"max"``)."""
        values = np.array([self.scores[n] for n in self.layers], dtype=np.float64)
        lo = values.min() if how == "minmax" else 0.0
        span = (values.max() - lo) or 1.0
        return {n: float((self.scores[n] - lo) / span) for n in self.layers}

    def ascending(self) -> List[str]:
        return sorted(self.layers, key=lambda n: (self.scores[n], n))

    def as_layer_importance(self):
        from tfaxdnn.xai.importance import LayerImportance

        return LayerImportance(layers=tuple(self.layers), scores=dict(self.scores),
                               per_experiment={"label": dict(self.scores)}, reduce="abs_sum")


def compute_importance(model, x, y, layers=None, n_steps: int = 20, verbose: bool = True) -> Importance:
    """Neuron conductance (target = label) of ``layers`` (default: all approximable layers) on ``x``."""
    from tfaxdnn.xai import neuron_conductance

    layers = list(layers or kinds.approximable_names(model))
    cond = neuron_conductance(model, x, np.asarray(y).astype(np.int64), layers=layers, n_steps=n_steps,
                              verbose=verbose)
    scores = {n: float(np.abs(cond[n]).sum(axis=1).mean()) for n in layers}
    neurons = {n: np.abs(cond[n]).mean(axis=0) for n in layers}
    return Importance(layers, scores, neurons)


def select_multiplier(z_hat: float, threshold: float, n_multipliers: int) -> int:
    """``SelectMult``: index into the MAE-sorted multipliers (0 = exact) for normalised importance ``z_hat``."""
    i = round((1.0 - z_hat / threshold) * (n_multipliers - 1))
    return int(min(max(i, 0), n_multipliers - 1))


def skip_fraction(z_hat: float, t_p: float, step: float = 0.05) -> float:
    """``t_p·(1 − ẑ)`` rounded down to a multiple of ``step``."""
    raw = max(0.0, t_p * (1.0 - z_hat))
    return round(math.floor(raw / step + 1e-9) * step, 6)


@dataclasses.dataclass
class XAIGenResult:
    """What `run_xaigen` found. With fine-tuning, ``model``/``accuracy``/energies are the fine-tuned run's and
    ``no_retraining`` summarises the plan found without retraining."""

    model: object
    plan: Plan
    accuracy: float
    energy_j: float
    latency_s: float
    memory_bytes: int
    relative_energy: float
    baseline_accuracy: float
    exact_accuracy: float
    baseline_energy_j: float
    validation_accuracy: float
    baseline_validation_accuracy: float
    n_validation: int
    n_test: int
    meets_energy: bool
    importance: Importance
    log: List[dict]
    per_layer: List[dict]
    config: XAIGenConfig
    runtime_s: float
    algorithm1: dict = dataclasses.field(default_factory=dict)
    reductions: Dict[str, float] = dataclasses.field(default_factory=dict)
    no_retraining: Optional[dict] = None
    finetune_log: List[dict] = dataclasses.field(default_factory=list)
    sensitivity: Optional[Dict[str, Dict[str, float]]] = None

    @property
    def energy_reduction(self) -> float:
        """Baseline energy / found energy (x lower), system accounting."""
        return self.baseline_energy_j / self.energy_j if self.energy_j else math.inf

    def to_dict(self) -> dict:
        import tfaxdnn

        d = {"tfaxdnn_version": tfaxdnn.__version__,
             "accuracy_split": f"test ({self.n_test} images the search never selected on)",
             "baseline_accuracy": self.baseline_accuracy,
             "exact_multiplier_accuracy": self.exact_accuracy, "accuracy": self.accuracy,
             "finetune_epochs": self.config.finetune_epochs,
             "validation_accuracy": self.validation_accuracy,
             "baseline_validation_accuracy": self.baseline_validation_accuracy,
             "validation_split": f"validation ({self.n_validation} images: the search selected on these)",
             "baseline_energy_j": self.baseline_energy_j, "energy_j": self.energy_j,
             "energy_reduction": self.energy_reduction,
             **{f"energy_reduction_{a}": self.reductions.get(a) for a in ACCOUNTINGS},
             "relative_energy": self.relative_energy,
             "latency_s": self.latency_s, "memory_bytes": self.memory_bytes, "meets_energy": self.meets_energy,
             "energy_accounting": self.config.energy_accounting,
             "energy_accounting_note": f"the search minimised {self.config.energy_accounting} energy "
                                       "(tfaxdnn.hardware.estimate, batch size 1); energy_reduction = system",
             "selection": self.config.selection,
             "runtime_s": self.runtime_s, "algorithm1_result": self.algorithm1, "plan": self.plan.to_dict(),
             "per_layer": self.per_layer,
             "importance": {n: self.importance.scores[n] for n in self.importance.layers},
             "multipliers": {n: _mult.get(n).hash for n in self.config.multipliers},
             "config": self.config.to_dict(), "log": self.log}
        if self.no_retraining is not None:
            d["no_retraining_accuracy"] = self.no_retraining["accuracy"]
            d["no_retraining"] = self.no_retraining
            d["finetune_log"] = self.finetune_log
        if self.sensitivity is not None:
            d["sensitivity"] = self.sensitivity
        return d

    def __str__(self) -> str:
        lines = [f"{'layer':<24s}{'importance':>11s}  {'multiplier':<12s}{'skip':>6s}"]
        for row in self.per_layer:
            lines.append(f"{row['layer']:<24s}{row['importance']:>11.3f}  {row['multiplier']:<12s}"
                         f"{row['skip_fraction'] * 100:>5.0f}%")
        tuned = f" after {self.config.finetune_epochs} fine-tuning epochs" if self.config.finetune_epochs else ""
        lines.append(f"test accuracy{tuned} {self.accuracy:.4f} on {self.n_test} images the search never saw (float "
                     f"{self.baseline_accuracy:.4f}, exact 8-bit {self.exact_accuracy:.4f}; validation "
                     f"{self.validation_accuracy:.4f} vs float {self.baseline_validation_accuracy:.4f})")
        lines.append("energy " + ", ".join(f"{a} {self.reductions.get(a, math.nan):.2f}x" for a in ACCOUNTINGS)
                     + f" lower than all-exact (searched on {self.config.energy_accounting}); "
                     f"{'meets' if self.meets_energy else 'misses'} E_c={self.config.energy_budget}")
        if self.no_retraining is not None:
            nr = self.no_retraining
            lines.append(f"without retraining: test accuracy {nr['accuracy']:.4f}, energy "
                         + ", ".join(f"{a} {nr[f'energy_reduction_{a}']:.2f}x" for a in ACCOUNTINGS))
        return "\n".join(lines)

    def save(self, out_dir) -> None:
        """``result.json``, ``plan.json``, ``importance.png`` and ``axdnn.keras`` in ``out_dir``."""
        from tfaxdnn.xai.importance_plots import save_layer_importance_plot

        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(self.to_dict(), f, indent=2, default=json_default)
        self.plan.to_json(os.path.join(out_dir, "plan.json"))
        what = "conductance, abs_sum" if self.config.selection == "conductance" else "validation accuracy drop"
        save_layer_importance_plot(self.importance.as_layer_importance(), os.path.join(out_dir, "importance.png"),
                                   title=f"XAI-Gen layer importance ({what})")
        self.model.save(os.path.join(out_dir, "axdnn.keras"))


class XAIGenSearch:
    """XAI-Gen's view of the public `Evaluator`: layer settings ``{name: (multiplier, skip)}`` -> plan -> metrics on
    the validation split; the test split (never selected on) reports the result. One instance can serve several
    `run_xaigen` / `sweep` calls on the same model and data (pass it as ``search=``: its evaluations are cached), as
    XAI-NAS does for its seeds."""

    def __init__(self, model, eval_data, calibration_data, config: XAIGenConfig, accelerator=None,
                 importance: Optional[Importance] = None, verbose: bool = True, test_data=None):
        from tfaxdnn.search.evaluator import Evaluator
        from tfaxdnn.search.selection import seeded_subset, split_data

        x_eval, y_eval = (np.asarray(a) for a in eval_data)
        x_eval, y_eval = seeded_subset(config.evaluation_samples, config.seed, x_eval,
                                       y_eval.reshape(-1) if y_eval.ndim == 1 else y_eval)
        if test_data is None:
            val, test = split_data(x_eval, y_eval, config.validation_fraction, config.seed)
        else:
            val, test = (x_eval, y_eval), tuple(np.asarray(a) for a in test_data)
        if importance is None:
            xi, yi = seeded_subset(config.importance_samples, config.seed + 1, val[0], np.asarray(val[1]).reshape(-1))
            importance = compute_importance(model, xi, yi, n_steps=config.n_steps, verbose=verbose)
        self.importance, self.weight_mapping = importance, config.weight_mapping
        self.accounting, self.verbose = config.energy_accounting, verbose
        self.ev = Evaluator(model, val, calibration_data, accelerator, importance=importance.neurons,
                            calibration_samples=config.calibration_samples, seed=config.seed, split="validation")
        self.test = self.ev.with_data(test, split="test")
        self.full = self.ev.with_data((x_eval, y_eval), split="evaluation")
        self.accelerator, self.output_layer = self.ev.accelerator, importance.layers[-1]
        self._sensitivity: Dict[tuple, Dict[str, Dict[str, float]]] = {}

    def plan(self, settings: Dict[str, tuple]) -> Plan:
        layers = {n: LayerPlan(m, s, "none" if _mult.get(m).is_exact else self.weight_mapping)
                  for n, (m, s) in settings.items()}
        return self.ev.complete(Plan(layers))

    def __call__(self, settings: Dict[str, tuple], evaluator=None):
        plan = self.plan(settings)
        return plan, (evaluator or self.ev)(plan)

    def energy(self, m) -> float:
        """Energy of `Metrics` ``m`` relative to all-exact under the search's accounting."""
        return 1.0 / m.reductions[self.accounting]

    def sensitivity(self, multipliers: Sequence[str]) -> Dict[str, Dict[str, float]]:
        """``{layer: {multiplier: validation accuracy drop}}`` with only that layer approximate (vs all-exact 8-bit);
        one pass per layer, computed once per multiplier list."""
        from tqdm.auto import tqdm

        key = tuple(multipliers)
        if key not in self._sensitivity:
            exact = {n: (_mult.EXACT_SIGNED, 0.0) for n in self.importance.layers}
            ref = self(exact)[1].accuracy
            table = {}
            for name in tqdm(self.importance.layers, desc="XAI-Gen sensitivity", disable=not self.verbose):
                table[name] = {mu: ref - self(dict(exact, **{name: (mu, 0.0)}))[1].accuracy
                               for mu in multipliers if not _mult.get(mu).is_exact}
            self._sensitivity[key] = table
        return self._sensitivity[key]


def finetune(model, x, y, epochs: int, seed: int = 0, batch_size: int = 64, learning_rate: float = 1e-3,
             verbose: int = 0):
    """Fine-tunes an approximate Keras model in place (Adam, cosine-decayed, sparse cross-entropy) through its
    layers' straight-through gradient; returns it.

    Skipped outputs stay exactly zero (the layers multiply by their mask in ``call``); BatchNormalization layers are
    frozen (inference statistics). Seeded and deterministic (TensorFlow op determinism, process-wide).
    """
    import keras
    import tensorflow as tf

    from tfaxdnn.core.evaluation import as_labels

    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack += list(getattr(layer, "layers", []))
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    last = model.layers[-1]
    softmax = getattr(getattr(last, "activation", None), "__name__", "") == "softmax" or \
        type(last).__name__ == "Softmax"
    y = as_labels(y)
    steps = max(int(np.ceil(len(x) / batch_size)) * int(epochs), 1)
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax))
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x), y)).shuffle(min(len(x), 10000), seed=seed)
    model.fit(ds.batch(batch_size).prefetch(tf.data.AUTOTUNE), epochs=int(epochs), verbose=verbose, shuffle=False)
    return model


def run_xaigen(model, eval_data, calibration_data, config: Optional[XAIGenConfig] = None, accelerator=None,
               importance: Optional[Importance] = None, verbose: bool = True, test_data=None,
               search: Optional[XAIGenSearch] = None, train_data=None) -> XAIGenResult:
    """XAI-Gen on a trained float Keras 3 model (see the module docstring).

    Args:
        model: trained Keras 3 classifier (logits or probabilities), not modified.
        eval_data: ``(x, y)`` held-out images: split into validation (``Q_c`` is checked and plans are selected
            there) and test (the reported accuracy) by ``config.validation_fraction``, unless ``test_data`` is given.
        calibration_data: images (or ``(x, y)``) for activation ranges and data-aware weight mapping.
        config: `XAIGenConfig` (defaults: the paper's multipliers, t_c=1, δ=0.05, t_p=0.5, Q_c = baseline − 2 pts).
        accelerator: `tfaxdnn.hardware.Accelerator`; default ``Accelerator.paper()``.
        importance: precomputed `Importance` (else computed with `compute_importance` on validation images).
        test_data: ``(x, y)`` to report on; then all of ``eval_data`` is the validation split.
        train_data: ``(x, y)`` training images for ``config.finetune_epochs`` > 0.
    """
    config = config or XAIGenConfig()
    if config.finetune_epochs and train_data is None:
        raise ValueError(f"finetune_epochs={config.finetune_epochs} needs `train_data=(x, y)` (training images to "
                         "fine-tune on).")
    start = time.perf_counter()
    run = search or XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose,
                                 test_data)
    baseline = run.ev.baseline()
    q_c = baseline.accuracy - config.max_accuracy_drop
    imp, settings, m_val, log, algorithm1 = _plan_search(run, config, config.max_accuracy_drop)
    plan = run.plan(settings)
    m_test = run.test(plan)
    sens = run.sensitivity(config.multipliers) if config.selection == "sensitivity" else None
    per_layer = [{"layer": n, "importance": imp.normalized(config.normalization)[n], "multiplier": settings[n][0],
                  "skip_fraction": settings[n][1], "power_mw": _mult.get(settings[n][0]).power_mw}
                 for n in imp.layers]
    result = XAIGenResult(run.test.build(plan), plan, m_test.accuracy, m_test.energy_j, m_test.latency_s,
                          m_test.memory_bytes, m_test.relative_energy, run.test.baseline().accuracy,
                          run.test.exact().accuracy, baseline.energy_j, m_val.accuracy, baseline.accuracy,
                          len(run.ev.y), len(run.test.y), run.energy(m_test) <= config.energy_budget, imp, log,
                          per_layer, config, 0.0, algorithm1, dict(m_test.reductions), sensitivity=sens)
    if config.finetune_epochs:
        _finetune_stage(run, config, result, q_c, train_data)
    result.runtime_s = time.perf_counter() - start
    return result


def _plan_search(run: XAIGenSearch, config: XAIGenConfig, drop: float):
    """Algorithm 1 (+ refinement) with ``Q_c`` = baseline − ``drop``: (layer scores, settings, validation
    `Metrics`, log, Algorithm 1 summary)."""
    from tqdm.auto import tqdm

    verbose = run.verbose
    q_c = run.ev.baseline().accuracy - drop
    mults = config.multipliers
    exact = mults[0] if _mult.get(mults[0]).is_exact else _mult.EXACT_SIGNED
    sens = run.sensitivity(mults) if config.selection == "sensitivity" else None
    imp = run.importance if sens is None else Importance(
        list(run.importance.layers), {n: max(sens[n][mults[-1]], 0.0) for n in run.importance.layers},
        run.importance.neurons)
    layers, output_layer = imp.layers, run.output_layer
    committed = {n: (exact, 0.0) for n in layers}
    plan, m = run(committed)
    log = [_log_row(0, "exact", committed, m, m.accuracy >= q_c, run)]
    best = (plan, m, dict(committed))
    z_hat = imp.normalized(config.normalization)
    threshold = config.t_c
    bar = tqdm(imp.ascending(), desc="XAI-Gen", disable=not verbose)
    for step, name in enumerate(bar, 1):
        if sens is None:
            i = select_multiplier(z_hat[name], threshold, len(mults))
        else:  # the most aggressive multiplier whose own drop fits the allowed drop
            i = max([0] + [j for j in range(1, len(mults)) if sens[name][mults[j]] <= drop])
        s = 0.0 if name == output_layer else skip_fraction(z_hat[name], config.t_p, config.skip_step)
        candidates = [(i, s)]
        if config.on_violation == "backoff":
            halves = [skip_fraction(0.0, s / 2 ** k, config.skip_step) for k in (1, 2)] + [0.0]
            candidates += [(i, h) for h in halves] + [(j, 0.0) for j in range(i - 1, 0, -1)]
            candidates = list(dict.fromkeys(candidates))
        accepted = False
        for j, sk in candidates:
            if j == 0 and sk == 0.0:
                break
            trial = dict(best[2], **{name: (mults[j], sk)})
            plan, m = run(trial)
            ok = m.accuracy >= q_c
            log.append(_log_row(step, name, trial, m, ok, run))
            bar.set_postfix(layer=name, acc=f"{m.accuracy:.3f}", energy=f"{run.energy(m):.3f}")
            if ok:
                best, accepted = (plan, m, trial), True
                break
        if not accepted and config.on_violation == "stop" and (i > 0 or s > 0):
            break
        threshold = max(threshold - config.delta, config.delta) if config.delta else threshold
    algorithm1 = {"validation_accuracy": best[1].accuracy, "test_accuracy": run.test(best[0]).accuracy,
                  "relative_energy": best[1].relative_energy,
                  **{f"energy_reduction_{a}": best[1].reductions[a] for a in ACCOUNTINGS},
                  "settings": {n: {"multiplier": m, "skip_fraction": s} for n, (m, s) in best[2].items()}}
    refine = _refine_best if config.refine == "best" else _refine_first
    best = refine(run, config, imp, best, q_c, log)
    return imp, best[2], best[1], log, algorithm1


def _moves(config: XAIGenConfig, settings, name, output_layer):
    """One step more aggressive for layer ``name``: the next multiplier, or ``skip_step`` more skipping."""
    mults = config.multipliers
    mu, s_now = settings[name]
    m_idx = mults.index(mu) if mu in mults else 0
    moves = [(m_idx + 1, s_now)] if m_idx + 1 < len(mults) else []
    if name != output_layer and s_now + config.skip_step <= config.t_p + 1e-9:
        moves.append((m_idx, round(s_now + config.skip_step, 6)))
    return [(mults[j], sk) for j, sk in moves]


def _refine_first(run, config, imp, best, q_c, log):
    """``refine_passes`` passes, least important layer first; the first move that keeps ``Q_c`` and saves energy
    is taken."""
    from tqdm.auto import tqdm

    step = len(log)
    for _ in range(config.refine_passes):
        changed = False
        for name in tqdm(imp.ascending(), desc="XAI-Gen refine", disable=not run.verbose):
            step += 1
            for move in _moves(config, best[2], name, run.output_layer):
                trial = dict(best[2], **{name: move})
                plan, m = run(trial)
                ok = m.accuracy >= q_c and run.energy(m) < run.energy(best[1])
                log.append(_log_row(step, f"refine {name}", trial, m, ok, run))
                if ok:
                    best, changed = (plan, m, trial), True
                    break
        if not changed:
            break
    return best


def _refine_best(run, config, imp, best, q_c, log):
    """Up to ``refine_passes`` x layers steps; each tries every layer's moves and keeps the one saving the most
    energy (search accounting) per validation accuracy point lost, among those keeping ``Q_c``."""
    from tqdm.auto import tqdm

    floor = 1.0 / max(len(run.ev.y), 1)  # one image: a move that loses nothing is not infinitely good
    step = len(log)
    for _ in tqdm(range(config.refine_passes * len(imp.layers)), desc="XAI-Gen refine", disable=not run.verbose):
        step += 1
        options = []
        for name in imp.ascending():
            for move in _moves(config, best[2], name, run.output_layer):
                trial = dict(best[2], **{name: move})
                plan, m = run(trial)
                gain = run.energy(best[1]) - run.energy(m)
                ok = m.accuracy >= q_c and gain > 0
                log.append(_log_row(step, f"refine {name}", trial, m, False, run))
                if ok:
                    options.append((gain / max(best[1].accuracy - m.accuracy, floor), plan, m, trial, len(log) - 1))
        if not options:
            break
        _, plan, m, trial, row = max(options, key=lambda o: o[0])
        log[row]["accepted"] = True
        best = (plan, m, trial)
    return best


def _finetune_stage(run: XAIGenSearch, config: XAIGenConfig, result: XAIGenResult, q_c: float,
                    train_data) -> None:
    """Fine-tunes the searched plan(s) and turns ``result`` into the fine-tuned result (see module step 7)."""
    from tfaxdnn.core.evaluation import evaluate

    x_tr, y_tr = (np.asarray(a) for a in train_data)
    nr = {"accuracy": result.accuracy, "validation_accuracy": result.validation_accuracy,
          **{f"energy_reduction_{a}": result.reductions[a] for a in ACCOUNTINGS}, "plan": result.plan.to_dict()}
    drop = config.max_accuracy_drop
    loose = config.search_accuracy_drop if config.search_accuracy_drop is not None else drop
    drops = list(dict.fromkeys([loose, (loose + drop) / 2, drop])) if loose > drop else [drop]
    for d in drops:
        if d == drop:
            imp, settings = result.importance, {r["layer"]: (r["multiplier"], r["skip_fraction"])
                                                for r in result.per_layer}
        else:
            imp, settings, _, log, _ = _plan_search(run, config, d)
            result.log += [dict(row, search_accuracy_drop=d) for row in log]
        plan = run.plan(settings)
        ax = finetune(run.ev.build(plan), x_tr, y_tr, config.finetune_epochs, config.seed,
                      config.finetune_batch_size, config.finetune_learning_rate, verbose=0)
        val_acc = evaluate(ax, run.ev.x, run.ev.y).accuracy
        m = run.ev(plan)
        row = {"search_accuracy_drop": d, "validation_accuracy_before": m.accuracy,
               "validation_accuracy": val_acc, "accepted": val_acc >= q_c or d == drop,
               **{f"energy_reduction_{a}": m.reductions[a] for a in ACCOUNTINGS}}
        result.finetune_log.append(row)
        if run.verbose:
            print(f"fine-tuned plan searched at drop {d:.3f}: validation {m.accuracy:.4f} -> {val_acc:.4f} "
                  f"(Q_c {q_c:.4f}); {config.energy_accounting} {m.reductions[config.energy_accounting]:.2f}x")
        if row["accepted"]:
            break
    m_test = run.test(plan)
    z_hat = imp.normalized(config.normalization)
    result.model, result.plan, result.importance = ax, plan, imp
    result.accuracy = evaluate(ax, run.test.x, run.test.y).accuracy
    result.validation_accuracy = val_acc
    result.energy_j, result.latency_s, result.memory_bytes = m_test.energy_j, m_test.latency_s, m_test.memory_bytes
    result.relative_energy, result.reductions = m_test.relative_energy, dict(m_test.reductions)
    result.meets_energy = run.energy(m_test) <= config.energy_budget
    result.per_layer = [{"layer": n, "importance": z_hat[n], "multiplier": settings[n][0],
                         "skip_fraction": settings[n][1], "power_mw": _mult.get(settings[n][0]).power_mw}
                        for n in imp.layers]
    result.no_retraining = nr


def _log_row(step, layer, settings, m, ok, run) -> dict:
    return {"step": step, "layer": layer, "validation_accuracy": m.accuracy, "energy_j": m.energy_j,
            "relative_energy": m.relative_energy, "search_energy": run.energy(m),
            **{f"energy_reduction_{a}": m.reductions[a] for a in ACCOUNTINGS}, "accepted": bool(ok),
            "settings": {n: {"multiplier": mu, "skip_fraction": s} for n, (mu, s) in settings.items()}}


def sweep(model, eval_data, calibration_data, t_p_values=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
          config: Optional[XAIGenConfig] = None, accelerator=None, importance: Optional[Importance] = None,
          verbose: bool = True, search: Optional[XAIGenSearch] = None) -> List[dict]:
    """Whole-model configurations over ``t_p``: "p" (skipping, exact multipliers) and "pa" (skipping + SelectMult
    at the initial threshold ``t_c`` for every layer). Nothing is selected, so each row's accuracy is measured on all
    of the evaluation data. Returns one row per configuration."""
    from tqdm.auto import tqdm

    config = config or XAIGenConfig()
    run = search or XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose)
    imp, output_layer = run.importance, run.output_layer
    z_hat, mults = imp.normalized(config.normalization), config.multipliers
    rows = []
    grid = [(mode, t_p) for t_p in t_p_values for mode in ("p", "pa")]
    for mode, t_p in tqdm(grid, desc="XAI-Gen sweep", disable=not verbose):
        settings = {}
        for n in imp.layers:
            s = 0.0 if n == output_layer else skip_fraction(z_hat[n], t_p, config.skip_step)
            m = mults[select_multiplier(z_hat[n], config.t_c, len(mults))] if mode == "pa" else mults[0]
            settings[n] = (m, s)
        plan, m = run(settings, run.full)
        rows.append({"mode": mode, "t_p": t_p, "accuracy": m.accuracy, "split": m.split,
                     "energy_j": m.energy_j, "relative_energy": m.relative_energy,
                     **{f"energy_reduction_{a}": m.reductions[a] for a in ACCOUNTINGS}, "latency_s": m.latency_s,
                     "plan": json.dumps(plan.to_dict()["layers"])})
    return rows


def energy_cap(model, eval_data, calibration_data, config: Optional[XAIGenConfig] = None, accelerator=None,
               importance: Optional[Importance] = None, skip_values=(0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5),
               verbose: bool = True) -> List[dict]:
    """How low the energy model lets energy go: the most aggressive multiplier on every layer plus the same skip
    fraction on every layer but the output one (least important neurons first), for each of ``skip_values``.
    Rows carry ``meets_quality`` (accuracy ≥ baseline − ``max_accuracy_drop``, both on all the evaluation data)."""
    from tqdm.auto import tqdm

    config = config or XAIGenConfig()
    run = XAIGenSearch(model, eval_data, calibration_data, config, accelerator, importance, verbose)
    q_c = run.full.baseline().accuracy - config.max_accuracy_drop
    rows = []
    for s in tqdm(skip_values, desc="energy cap", disable=not verbose):
        settings = {n: (config.multipliers[-1], 0.0 if n == run.output_layer else s)
                    for n in run.importance.layers}
        _, m = run(settings, run.full)
        rows.append({"multiplier": config.multipliers[-1], "skip_fraction": s, "accuracy": m.accuracy,
                     "relative_energy": m.relative_energy, "energy_reduction": m.energy_reduction,
                     **{f"energy_reduction_{a}": m.reductions[a] for a in ACCOUNTINGS},
                     "meets_quality": m.accuracy >= q_c})
    return rows


def save_sweep(rows: List[dict], out_dir, baseline_accuracy: Optional[float] = None,
               max_accuracy_drop: float = 0.02) -> None:
    """``sweep.csv`` and ``tradeoff.png`` (accuracy and relative energy per configuration, "p" vs "pa")."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "sweep.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
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
    fig.savefig(os.path.join(out_dir, "tradeoff.png"), dpi=120)
    plt.close(fig)


def run_and_save(model, eval_data, calibration_data, out_dir, config: Optional[XAIGenConfig] = None,
                 accelerator=None, t_p_values=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), verbose: bool = True,
                 test_data=None, train_data=None, explain_images: int = 4) -> XAIGenResult:
    """`run_xaigen` + `sweep` (one evaluator, calibrated once), writing ``result.json``, ``plan.json``,
    ``importance.png``, ``axdnn.keras``, ``sweep.csv``, ``tradeoff.png`` and (``explain_images`` > 0)
    ``explanations.png/.json`` (tf-explain maps of the float and the chosen approximate model on that many test
    images, seeded) to ``out_dir``; prints the importance, the plan and the trade-off."""
    config = config or XAIGenConfig()
    search = XAIGenSearch(model, eval_data, calibration_data, config, accelerator, None, verbose, test_data)
    result = run_xaigen(model, eval_data, calibration_data, config, verbose=verbose, search=search,
                        train_data=train_data)
    rows = sweep(model, eval_data, calibration_data, t_p_values, config, verbose=verbose,
                 search=search) if t_p_values else []
    result.save(out_dir)
    if rows:
        save_sweep(rows, out_dir, search.full.baseline().accuracy, config.max_accuracy_drop)
    if explain_images:
        from tfaxdnn.xai.explanations.plots import explanation_figure

        explanation_figure(model, result.model, search.test.x, search.test.y,
                           os.path.join(out_dir, "explanations.png"), n_images=explain_images, seed=config.seed,
                           title="XAI-Gen plan: float vs approximate model (test images)")
    if verbose:
        print(result)
        if rows:
            print(f"sweep ({len(rows)} configurations on all {len(search.full.y)} evaluation images, "
                  f"{out_dir}/sweep.csv):")
            for r in rows:
                print(f"  {r['mode']:<3s} t_p={r['t_p']:.1f}  accuracy {r['accuracy']:.4f}  energy "
                      f"{r['relative_energy']:.3f} x exact")
        print(f"XAI-Gen took {result.runtime_s:.1f} s; results in {out_dir}")
    return result
