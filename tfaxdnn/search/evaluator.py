"""`Evaluator`: plan -> metrics (accuracy, energy, latency, memory, per-layer report), memoised, rebuildable in a
worker process from a picklable `EvaluatorSpec`.

Every plan's per-image correctness is kept (`Metrics.correct`) with its paired drop against the evaluator's
``reference`` on the same images (``"float"``: the float model, what XAI-Gen and XAI-NAS constrain; ``"exact"``: the
all-exact 8-bit plan, what the mapping search's queries compare with) and the drop's upper bound at ``confidence``
(`tfaxdnn.search.statistics`). With a drop limit (``max_drop``, per evaluator or per call) a candidate is scored slice
by slice and rejected as soon as it provably breaks ``upper bound <= max_drop`` (sequential rejection; `rejection_info`
says how many images and seconds it saved).

Every search (XAI-Gen, XAI-NAS, fine-grain mapping) scores candidate plans through it. The float model is calibrated
once (per calibration method) and every candidate reuses the ranges; accuracy is measured on the evaluator's own
split (``split`` names it: searches select on ``"validation"`` and report on ``"test"``, `Evaluator.with_data`);
energy comes from `tfaxdnn.hardware` on the same resolved plan (same multipliers, same skipped neurons).

`Evaluator.baseline` also measures the all-exact 8-bit plan on the split and warns (`ExactQuantizationWarning`, once
per evaluator; those derived by `with_data` leave it to the one they come from) when it loses more than
`EXACT_LOSS_WARNING` accuracy against the float model, naming the layers with one-sided inputs and what
``quantization={"activation": "auto"}`` scores there (docs/approximate.md).

Example:
    >>> ev = Evaluator(model, (x_val, y_val), x_train[:500])            # doctest: +SKIP
    >>> m = ev(Plan(default_multiplier="mul8s_1L2N"))                    # doctest: +SKIP
    >>> m.accuracy, m.relative_energy                                    # doctest: +SKIP
    >>> spec = ev.to_spec("work/ev")   # picklable; Evaluator.from_spec(spec) in a worker  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import warnings
from typing import Dict, Mapping, Optional

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.core import kinds
from tfaxdnn.core.evaluation import as_labels
from tfaxdnn.plan import Plan, as_plan
from tfaxdnn.search.metrics import Metrics
from tfaxdnn.search.scoring import MAX_SLICE, SLICE, score_images
from tfaxdnn.search.selection import seeded_subset, split_data
from tfaxdnn.search.statistics import DEFAULT_CONFIDENCE, PairedDrop, check_confidence, paired_drop

__all__ = ["Evaluator", "EvaluatorSpec", "Metrics", "REFERENCES", "split_data", "seeded_subset",
           "ExactQuantizationWarning", "EXACT_LOSS_WARNING"]

#: Images per batch of the per-batch accuracy series (the STL queries' signal); also a slice of sequential scoring.
SIGNAL_BATCH = SLICE
#: References a candidate's paired drop is measured against.
REFERENCES = ("float", "exact")
_UNSET = object()
#: Accuracy the all-exact 8-bit plan may lose against the float model before `Evaluator.baseline` warns.
EXACT_LOSS_WARNING = 0.005


class ExactQuantizationWarning(UserWarning):
    """The exact 8-bit model (quantisation alone, no approximation) loses accuracy against the float model."""


@dataclasses.dataclass(frozen=True)
class EvaluatorSpec:
    """Everything a worker process needs to rebuild an `Evaluator` (files in ``directory`` + settings); picklable."""

    directory: str
    settings: dict
    accelerator: object = None

    def build(self) -> "Evaluator":
        return Evaluator.from_spec(self)


def _key(plan: Plan) -> str:
    """The memo key of a (completed) plan."""
    return hashlib.sha256(plan.to_json(indent=None).encode()).hexdigest()


def _no_rejections() -> dict:
    return {"candidates": 0, "rejected": 0, "images": 0, "images_scored": 0, "inference_s": 0.0, "saved_s": 0.0}


class Evaluator:
    """Scores plans on a float Keras 3 model; see the module docstring.

    Args:
        model: trained float Keras 3 classifier (not modified).
        eval_data: ``(x, y)`` the accuracy is measured on (integer or one-hot labels).
        calibration_data: representative inputs (array or ``(x, y)``) for the activation ranges.
        accelerator: `tfaxdnn.hardware.Accelerator`; default ``Accelerator.paper()``.
        importance: ``{layer: per-neuron scores}`` for plans that skip neurons without carrying their own scores.
        batch_size: hardware batch size of the energy/latency figures.
        calibration_samples: calibration images used (seeded subset; None: all).
        seed: sampling seed.
        split: name of the evaluation split, recorded with every `Metrics`.
        confidence: of the paired drop's upper bound (None: the bound is the point estimate).
        reference: ``"float"`` or ``"exact"``: what `Metrics.drop` compares a plan with.
        max_drop: default drop limit of sequential rejection (None: every plan is scored on every image).
    """

    def __init__(self, model, eval_data, calibration_data, accelerator=None, importance: Optional[Mapping] = None,
                 batch_size: int = 1, calibration_samples: Optional[int] = 500, seed: int = 0,
                 split: str = "validation", confidence: Optional[float] = DEFAULT_CONFIDENCE,
                 reference: str = "float", max_drop: Optional[float] = None):
        from tfaxdnn import hardware

        self.model = model
        self.layers = kinds.approximable_names(model)
        if not self.layers:
            raise ValueError(f"Model '{model.name}' has no approximable layer (Conv2D, DepthwiseConv2D or Dense); "
                             "there is nothing to search.")
        self.output_layer = self.layers[-1]
        x, y = eval_data
        self.x, self.y = np.asarray(x), as_labels(y)
        if len(self.x) != len(self.y) or len(self.x) == 0:
            raise ValueError(f"`eval_data` must hold the same positive number of images and labels. Received: "
                             f"{len(self.x)} images, {len(self.y)} labels")
        if calibration_data is None:
            raise ValueError("`calibration_data` is needed for the activation ranges (a few hundred training images).")
        x_cal = calibration_data[0] if isinstance(calibration_data, tuple) else calibration_data
        self.x_cal = seeded_subset(calibration_samples, seed, np.asarray(x_cal))
        self.accelerator = accelerator or hardware.Accelerator.paper()
        self.importance = {n: np.asarray(v, np.float64) for n, v in (importance or {}).items()}
        self.batch_size, self.seed, self.split = int(batch_size), int(seed), str(split)
        self.calibration_samples = calibration_samples
        self._shapes = hardware.model_shapes(model)
        self._calibrations, self._given = {}, {}   # per method: ranges in use; given by `use_calibration`
        self._mode_code_cache: Dict[tuple, np.ndarray] = {}  # (layer, quantization) -> weight codes (`_mode_codes`)
        self._cache: Dict[str, Metrics] = {}
        self._aside: Dict[str, Metrics] = {}  # measured for the evaluator's own check, not yet asked for
        self._hits = self._misses = 0
        self._baseline: Optional[Metrics] = None
        if reference not in REFERENCES:
            raise ValueError(f"`reference` must be one of {list(REFERENCES)}. Received: {reference!r}")
        self.confidence, self.reference = check_confidence(confidence), reference
        self.max_drop = None if max_drop is None else float(max_drop)
        self._reference_correct: Optional[np.ndarray] = None
        self._limits: Dict[str, Optional[float]] = {}   # plan key -> the limit a cached rejected plan was scored under
        self._rejection = _no_rejections()
        # once per evaluator, not per candidate: the input-range check of its data (first scored model) and the
        # exact-loss check (`baseline`; evaluators derived by `with_data` leave it to this one)
        self._inputs_checked, self._check_exact = False, True
        #: largest inference batch of the scoring slices (`tfaxdnn.search.scoring.slices`; `SLICE`: fixed slices)
        self.max_slice = MAX_SLICE

    # -- plans ------------------------------------------------------------------------------------------------
    def complete(self, plan) -> Plan:
        """``plan`` (any `as_plan` form) with the evaluator's importance for skipping layers that lack their own."""
        plan = as_plan(plan)
        missing = {n: self.importance[n] for n, lp in plan.layers.items()
                   if lp.skip_fraction > 0 and n not in plan.importance and n in self.importance}
        return dataclasses.replace(plan, importance={**plan.importance, **missing}) if missing else plan

    def calibration(self, method: str = "minmax"):
        """The float model's `Calibration` for ``method`` (computed once)."""
        from tfaxdnn.rewrite.keras_model import calibrate

        if method not in self._calibrations:
            self._calibrations[method] = calibrate(self.model, self.x_cal, layers=self.layers, method=method)
        return self._calibrations[method]

    def use_calibration(self, calibration) -> None:
        """Scores every plan with ``calibration`` (a `Calibration` of this model's approximable layers, e.g. from
        `tfaxdnn.search.calibration_file`) for its method instead of measuring the ranges; before the first plan."""
        missing = sorted(set(self.layers) - set(calibration.ranges))
        if calibration.model_name != self.model.name or missing:
            raise ValueError(f"The Calibration of model {calibration.model_name!r} does not fit model "
                             f"{self.model.name!r}{'; it lacks layers ' + str(missing) if missing else ''}.")
        if self._cache or self._aside:
            raise ValueError("use_calibration must come before the first plan is scored.")
        self._calibrations[calibration.method] = self._given[calibration.method] = calibration

    def build(self, plan):
        """The approximate Keras model of ``plan`` (not cached)."""
        from tfaxdnn import approximate

        plan = self.complete(plan)
        return approximate(self.model, plan, calibration_data=self.calibration(plan.quantization.calibration))

    # -- scoring ----------------------------------------------------------------------------------------------
    def __call__(self, plan, max_drop=_UNSET) -> Metrics:
        """`Metrics` of ``plan`` on this evaluator's split, memoised by the plan's JSON.

        ``max_drop`` (default: the evaluator's): the drop limit of sequential rejection; None scores every image. A
        plan rejected under a limit is scored again when asked under a looser limit or none."""
        plan = self.complete(plan)
        key = _key(plan)
        limit = self.max_drop if max_drop is _UNSET else (None if max_drop is None else float(max_drop))
        cached = self._cache.get(key)
        if cached is not None and (not cached.rejected or (limit is not None and limit <= self._limits[key])):
            self._hits += 1
            return cached
        self._misses += 1
        metrics = self._aside.pop(key, None) or self._score(self.build(plan), plan, limit)
        self._cache[key], self._limits[key] = metrics, limit
        return metrics

    def reference_correct(self) -> np.ndarray:
        """Per-image correctness of the reference (`reference`) on this split (scored once)."""
        if self._reference_correct is None:
            if self.reference == "float":
                self.baseline()
            else:
                self._measure_aside(self.exact_plan())
        return self._reference_correct

    def paired(self, correct) -> PairedDrop:
        """The paired drop of per-image correctness ``correct`` (all of this split's images) against the reference,
        at the evaluator's confidence."""
        return paired_drop(self.reference_correct(), correct, self.confidence, self.reference)

    def rejection_info(self) -> dict:
        """What sequential rejection saved on this evaluator: candidates scored and rejected, images scored out of
        those the candidates had, inference seconds spent and (estimated) saved."""
        info = dict(self._rejection)
        info["images_saved_fraction"] = 1.0 - info["images_scored"] / info["images"] if info["images"] else 0.0
        return info

    def _measure_aside(self, plan) -> Metrics:
        """`Metrics` of ``plan`` for the evaluator's own check, leaving the memo's counts as the caller's requests made
        them (a later request of the same plan counts as a miss and reuses this measurement)."""
        plan = self.complete(plan)
        key = _key(plan)
        if key in self._cache and not self._cache[key].rejected:
            return self._cache[key]
        if key not in self._aside:
            self._aside[key] = self._score(self.build(plan), plan)
        return self._aside[key]

    def cache_info(self) -> dict:
        return {"hits": self._hits, "misses": self._misses, "size": len(self._cache)}

    def _score(self, keras_model, plan: Optional[Plan], max_drop: Optional[float] = None) -> Metrics:
        from tfaxdnn import hardware

        check = not self._inputs_checked and keras_model is not self.model   # the float model has no range to miss
        is_reference = self._reference_correct is None and (
            keras_model is self.model if self.reference == "float"
            else plan is not None and _key(plan) == _key(self.complete(self.exact_plan())))
        ref = None if max_drop is None or is_reference else self.reference_correct()
        scored = score_images(keras_model, self.x, self.y, ref, max_drop, self.confidence, check_inputs=check,
                              max_slice=self.max_slice)
        self._inputs_checked = self._inputs_checked or check
        if is_reference:
            self._reference_correct = scored.correct
        if keras_model is not self.model:
            r = self._rejection
            r["candidates"] += 1
            r["rejected"] += int(scored.rejected)
            r["images"] += scored.n
            r["images_scored"] += scored.n_scored
            r["inference_s"] += scored.inference_s
            r["saved_s"] += scored.saved_s
        report = hardware.estimate(None, plan, self.accelerator, batch_size=self.batch_size, shapes=self._shapes,
                                   weight_codes=self._mode_codes(plan, keras_model))
        rows = [dataclasses.asdict(r) for r in report.layers]
        reductions = {a: report.reduction(a) for a in hardware.ACCOUNTINGS}
        drop = None if scored.rejected else self.paired(scored.correct)
        return Metrics(scored.accuracy, report.energy_j, report.relative_energy, report.latency_s,
                       report.memory_bytes, rows, scored.batch_accuracies(SIGNAL_BATCH), self.split, scored.n,
                       reductions, scored.correct, drop, scored.rejected, scored.n_scored, scored.best_case_upper,
                       scored.inference_s, scored.saved_s)

    def score_model(self, keras_model, plan) -> Metrics:
        """`Metrics` of a model built elsewhere from ``plan`` (e.g. fine-tuned: energy is the plan's), every image
        scored; not memoised."""
        return self._score(keras_model, self.complete(plan))

    def energy(self, plan):
        """The hardware report of ``plan`` alone (no inference)."""
        from tfaxdnn import hardware

        plan = self.complete(plan)
        return hardware.estimate(None, plan, self.accelerator, batch_size=self.batch_size, shapes=self._shapes,
                                 weight_codes=self._mode_codes(plan))

    def _mode_codes(self, plan, keras_model=None):
        """Weight codes that price a plan's reconfigurable ``mode_fractions`` per mode (None when it has none).

        Such a layer's codes depend only on its kernel and the quantisation (mode fractions exclude a weight
        mapping), so they are kept per layer and quantisation: `energy` then prices later plans without building a
        model."""
        if plan is None or not any(lp.mode_fractions for lp in plan.layers.values()):
            return None
        resolved = plan.match([s.name for s in self._shapes])
        keys = {n: (n, plan.quantization) for n, lp in resolved.items() if lp.mode_fractions}
        if keras_model is not None or any(k not in self._mode_code_cache for k in keys.values()):
            from tfaxdnn.layers import weight_codes

            codes = weight_codes(keras_model if keras_model is not None else self.build(plan))
            self._mode_code_cache.update({k: codes[n] for n, k in keys.items() if n in codes})
        return {n: self._mode_code_cache[k] for n, k in keys.items() if k in self._mode_code_cache}

    def exact_plan(self) -> Plan:
        """Every approximable layer on the exact signed multiplier (the 8-bit reference)."""
        return Plan(default_multiplier=_mult.EXACT_SIGNED)

    def exact(self) -> Metrics:
        """`Metrics` of the all-exact 8-bit plan (every image scored)."""
        return self(self.exact_plan(), max_drop=None)

    def baseline(self) -> Metrics:
        """`Metrics` of the float model on this split (energy: the all-exact plan's)."""
        if self._baseline is None:
            self._baseline = self._score(self.model, self.exact_plan())
            if self._check_exact:
                self._check_exact_loss()
        return self._baseline

    def _check_exact_loss(self) -> None:
        """Warns when the all-exact 8-bit plan loses more than `EXACT_LOSS_WARNING` against float on this split."""
        from tfaxdnn.quant import one_sided

        exact = self._measure_aside(self.exact_plan())
        loss = self._baseline.accuracy - exact.accuracy
        if loss <= EXACT_LOSS_WARNING + 1e-9:   # (one image of 200 is 0.005 up to rounding)
            return
        q = self.exact_plan().quantization
        ranges = self.calibration(q.calibration).ranges
        sided = [n for n in self.layers if one_sided(ranges[n][0])]
        head = (f"Evaluator: the exact 8-bit model (quantisation alone) scores {exact.accuracy:.4f} on the "
                f"{self.split} split ({exact.n} images), {100 * loss:.1f} points below the float model "
                f"({self._baseline.accuracy:.4f}), with {q.activation} int8 activations.")
        if not sided:
            warnings.warn(f"{head} No layer input is one-sided, so unused activation codes are not the cause; try "
                          "calibration='percentile' or fine-tuning (tfaxdnn.rewrite.finetune).",
                          ExactQuantizationWarning, stacklevel=3)
            return
        fixed = self._measure_aside(Plan(default_multiplier=_mult.EXACT_SIGNED, quantization={"activation": "auto"}))
        shown = sided[:6] + (["..."] if len(sided) > 6 else [])
        warnings.warn(f"{head} {len(sided)} of {len(self.layers)} layers have one-sided inputs (calibrated minimum "
                      f">= 0) that use only half of the symmetric codes: {shown}. With "
                      f"quantization={{'activation': 'auto'}} (asymmetric grids for those inputs) the exact 8-bit "
                      f"model scores {fixed.accuracy:.4f} here. 'auto' keeps the symmetric grid on layers whose "
                      "multiplier gets products of code -128 wrong (e.g. mul8s_1L2*: an asymmetric grid codes a 0 "
                      "input as -128); compare your plans both ways on validation data (docs/approximate.md).",
                      ExactQuantizationWarning, stacklevel=3)

    # -- other splits and processes ---------------------------------------------------------------------------
    def with_data(self, eval_data, split: str = "test", max_drop: Optional[float] = None,
                  reference: Optional[str] = None) -> "Evaluator":
        """The same model, calibration, importance, accelerator, reference and confidence scored on other data (own
        cache); ``max_drop``: its sequential-rejection limit (default None: a held-out split is scored in full);
        ``reference``: another reference (`REFERENCES`)."""
        if reference is not None and reference not in REFERENCES:
            raise ValueError(f"`reference` must be one of {list(REFERENCES)}. Received: {reference!r}")
        other = object.__new__(Evaluator)
        other.__dict__.update(self.__dict__)
        x, y = eval_data
        other.x, other.y, other.split = np.asarray(x), as_labels(y), str(split)
        other._cache, other._aside, other._hits, other._misses, other._baseline = {}, {}, 0, 0, None
        other._inputs_checked, other._check_exact = False, False
        other._limits, other._reference_correct, other._rejection = {}, None, _no_rejections()
        other.max_drop = None if max_drop is None else float(max_drop)
        other.reference = reference or self.reference
        return other

    def to_spec(self, directory) -> EvaluatorSpec:
        """Writes ``model.keras``, ``data.npz``, ``importance.npz`` and the registered user multipliers
        (``multipliers.pkl``, any `Multiplier` kind, e.g. reconfigurable ones with their mode tables) to
        ``directory`` and returns the picklable `EvaluatorSpec` that `from_spec` rebuilds this evaluator from."""
        directory = os.path.abspath(os.fspath(directory))
        os.makedirs(directory, exist_ok=True)
        self.model.save(os.path.join(directory, "model.keras"))
        np.savez(os.path.join(directory, "data.npz"), x_eval=self.x, y_eval=self.y, x_cal=self.x_cal)
        np.savez(os.path.join(directory, "importance.npz"), **self.importance)
        with open(os.path.join(directory, "multipliers.pkl"), "wb") as f:  # user circuits, any Multiplier kind
            pickle.dump(_mult.registered(), f)
        settings = {"batch_size": self.batch_size, "seed": self.seed, "split": self.split,
                    "calibration_samples": None,  # x_cal is stored already subset
                    "confidence": self.confidence, "reference": self.reference, "max_drop": self.max_drop}
        given = [c.to_dict() for c in self._given.values()]      # `use_calibration`'s: not re-measured by a worker
        return EvaluatorSpec(directory, {**settings, "calibrations": given}, self.accelerator)

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec) -> "Evaluator":
        """Rebuilds the evaluator a `to_spec` call described (in this or another process)."""
        import keras

        import tfaxdnn.layers  # noqa: F401  (registers the approximate layers for loading)

        d = spec.directory
        with open(os.path.join(d, "multipliers.pkl"), "rb") as f:
            for m in pickle.load(f):
                _mult.register(m)
        model = keras.models.load_model(os.path.join(d, "model.keras"), compile=False)
        with np.load(os.path.join(d, "data.npz")) as data:
            x_eval, y_eval, x_cal = data["x_eval"], data["y_eval"], data["x_cal"]
        with np.load(os.path.join(d, "importance.npz")) as imp:
            importance = {k: imp[k] for k in imp.files}
        from tfaxdnn.rewrite.keras_model import Calibration

        settings = dict(spec.settings)
        given = settings.pop("calibrations", [])
        ev = cls(model, (x_eval, y_eval), x_cal, accelerator=spec.accelerator, importance=importance, **settings)
        for d in given:
            ev.use_calibration(Calibration.from_dict(d, ev.x_cal))
        return ev
