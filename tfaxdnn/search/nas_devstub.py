"""TEMPORARY stand-in for `tfaxdnn.search.Evaluator` (CONTRACT.md interface) until the lead's lands on main.

Only used by the NAS code while the real evaluator is missing; deleted at the merge.
"""

from __future__ import annotations

import dataclasses
import os
import numpy as np


@dataclasses.dataclass
class Metrics:
    accuracy: float
    energy_j: float
    relative_energy: float
    latency_s: float
    memory_bytes: int
    per_layer: list
    batch_accuracies: np.ndarray
    split: str = "validation"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["batch_accuracies"] = np.asarray(self.batch_accuracies).tolist()
        return d


@dataclasses.dataclass(frozen=True)
class EvaluatorSpec:
    directory: str
    split: str
    seed: int
    calibration_samples: int


class Evaluator:
    def __init__(self, model, eval_data, calibration_data, accelerator=None, importance=None, batch_size=1,
                 calibration_samples=500, seed=0, split="validation"):
        from tfaxdnn.approximation import calibrate
        from tfaxdnn.plan import supported_layer_names

        self.model, self.accelerator, self.batch_size, self.seed = model, accelerator, batch_size, seed
        self.calibration_samples, self.split = calibration_samples, split
        self.x, self.y = np.asarray(eval_data[0]), np.asarray(eval_data[1]).reshape(-1)
        self.x_cal = np.asarray(calibration_data)[:calibration_samples]
        self.importance = {k: np.asarray(v) for k, v in (importance or {}).items()}
        self.layers = supported_layer_names(model)
        if not self.layers:
            raise ValueError(f"Model {model.name!r} has no approximable layer.")
        self.output_layer = self.layers[-1]
        self.calibration = calibrate(model, self.x_cal, layers=self.layers)
        self._cache, self.hits = {}, 0

    def build(self, plan):
        from tfaxdnn import approximate

        imp = {n: self.importance[n] for n, lp in plan.layers.items() if lp.skip_fraction > 0}
        return approximate(self.model, plan, calibration_data=self.calibration, importance=imp)

    def _metrics(self, model, plan=None):
        from tfaxdnn import evaluate, hardware

        ev = evaluate(model, self.x, self.y, batch_size=100)
        rep = hardware.estimate(model, accelerator=self.accelerator, batch_size=self.batch_size)
        return Metrics(ev.accuracy, rep.energy_j, rep.relative_energy, rep.latency_s, rep.memory_bytes,
                       [r.as_dict() for r in rep.layers], ev.batch_accuracies, self.split)

    def __call__(self, plan):
        key = plan.to_json()
        if key in self._cache:
            self.hits += 1
        else:
            self._cache[key] = self._metrics(self.build(plan))
        return self._cache[key]

    def baseline(self):
        return self._metrics(self.model)

    def with_data(self, data, split="test"):
        new = object.__new__(Evaluator)
        new.__dict__.update(self.__dict__)
        new.x, new.y = np.asarray(data[0]), np.asarray(data[1]).reshape(-1)
        new.split, new._cache, new.hits = split, {}, 0
        return new

    def to_spec(self, directory) -> EvaluatorSpec:
        os.makedirs(directory, exist_ok=True)
        self.model.save(os.path.join(directory, "model.keras"))
        np.savez(os.path.join(directory, "data.npz"), x=self.x, y=self.y, x_cal=self.x_cal,
                 **{f"imp__{k}": v for k, v in self.importance.items()})
        return EvaluatorSpec(os.path.abspath(directory), self.split, self.seed, self.calibration_samples)

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec) -> "Evaluator":
        import keras

        import tfaxdnn.layers  # noqa: F401

        model = keras.models.load_model(os.path.join(spec.directory, "model.keras"), compile=False)
        with np.load(os.path.join(spec.directory, "data.npz")) as f:
            imp = {k[5:]: f[k] for k in f.files if k.startswith("imp__")}
            return cls(model, (f["x"], f["y"]), f["x_cal"], importance=imp, seed=spec.seed,
                       calibration_samples=spec.calibration_samples, split=spec.split)
