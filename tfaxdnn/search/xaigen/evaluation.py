"""`XAIGenSearch`: XAI-Gen's view of the public `tfaxdnn.search.Evaluator`.

A candidate is a dict of layer settings ``{name: (multiplier, skip fraction)}``; the search turns it into a `Plan`
and scores it on the validation split (every choice is made there: a candidate meets the budget when the upper bound
of its paired drop against the float model does, and is rejected as soon as it provably cannot); the confirmation
slice (validation images held out of the search) re-checks the answer, the test split (never selected on) reports
the result, and the whole evaluation data serves the sweeps. Also here: the log row of one scored candidate and the
measured per-layer sensitivity table (``selection="sensitivity"``).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from tfaxdnn import multipliers as _mult
from tfaxdnn.plan import LayerPlan, Plan
from tfaxdnn.search.xaigen.config import XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.importance import Importance, compute_importance

__all__ = ["XAIGenSearch"]


class XAIGenSearch:
    """XAI-Gen's view of the public `Evaluator`: layer settings ``{name: (multiplier, skip)}`` -> plan -> metrics on
    the validation split; the test split (never selected on) reports the result. One instance can serve several
    `run_xaigen` / `sweep` calls on the same model and data (pass it as ``search=``: its evaluations are cached), as
    XAI-NAS does for its seeds.

    Attributes:
        ev, test, full: evaluators on the validation split (the images selected on), the test split and all the
            evaluation data.
        confirm: evaluator on the confirmation slice (None when ``config.confirmation_fraction`` is 0).
        importance: the `Importance` (computed on validation images unless given).
        output_layer: the model's last approximable layer (never skipped).
    """

    def __init__(self, model, eval_data, calibration_data, config: XAIGenConfig, accelerator=None,
                 importance: Optional[Importance] = None, verbose: bool = True, test_data=None):
        from tfaxdnn.search.evaluator import Evaluator
        from tfaxdnn.search.selection import confirmation_split, seeded_subset, split_data

        x_eval, y_eval = (np.asarray(a) for a in eval_data)
        x_eval, y_eval = seeded_subset(config.evaluation_samples, config.seed, x_eval,
                                       y_eval.reshape(-1) if y_eval.ndim == 1 else y_eval)
        if test_data is None:
            val, test = split_data(x_eval, y_eval, config.validation_fraction, config.seed)
        else:
            val, test = (x_eval, y_eval), tuple(np.asarray(a) for a in test_data)
        val, confirm = confirmation_split(*val, config.confirmation_fraction, config.seed)
        if importance is None:
            xi, yi = seeded_subset(config.importance_samples, config.seed + 1, val[0], np.asarray(val[1]).reshape(-1))
            importance = compute_importance(model, xi, yi, n_steps=config.n_steps, verbose=verbose)
        self.importance, self.weight_mapping = importance, config.weight_mapping
        self.accounting, self.verbose = config.energy_accounting, verbose
        self.ev = Evaluator(model, val, calibration_data, accelerator, importance=importance.neurons,
                            calibration_samples=config.calibration_samples, seed=config.seed, split="validation",
                            confidence=config.confidence, max_drop=config.rejection_limit)
        self.sequential = config.sequential
        self.confirm = self.ev.with_data(confirm, split="confirmation") if len(confirm[0]) else None
        self.test = self.ev.with_data(test, split="test")
        self.full = self.ev.with_data((x_eval, y_eval), split="evaluation")
        self.accelerator, self.output_layer = self.ev.accelerator, importance.layers[-1]
        self._sensitivity: Dict[tuple, Dict[str, Dict[str, float]]] = {}

    def plan(self, settings: Dict[str, tuple]) -> Plan:
        """The complete `Plan` of ``settings`` (approximate layers use the configured weight mapping)."""
        layers = {n: LayerPlan(m, s, "none" if _mult.get(m).is_exact else self.weight_mapping)
                  for n, (m, s) in settings.items()}
        return self.ev.complete(Plan(layers))

    def __call__(self, settings: Dict[str, tuple], evaluator=None, drop: Optional[float] = None):
        """``(plan, Metrics)`` of ``settings`` on the validation split (or on ``evaluator``, scored in full). ``drop``:
        the budget the candidate is checked against, which sequential rejection (when on) may stop it at; None:
        every image scored."""
        plan = self.plan(settings)
        if evaluator is not None:
            return plan, evaluator(plan)
        return plan, self.ev(plan, max_drop=drop if self.sequential else None)

    @staticmethod
    def accepts(m, drop: float) -> bool:
        """Whether validation `Metrics` ``m`` meet the budget ``drop``: the upper bound of the paired drop against
        the float model is at most ``drop`` (the point estimate when the search's confidence is None)."""
        return m.meets(drop)

    def energy(self, m) -> float:
        """Energy of `Metrics` ``m`` relative to all-exact under the search's accounting."""
        return 1.0 / m.reductions[self.accounting]

    def log_row(self, step: int, layer: str, settings: Dict[str, tuple], m, accepted: bool,
                drop: Optional[float] = None) -> dict:
        """One row of the search log: a scored candidate (``m``: its validation `Metrics`; a rejected one's
        accuracy is the most it could have reached), whether it met the budget ``drop`` and whether it was kept."""
        return {"step": step, "layer": layer, "validation_accuracy": m.accuracy, "energy_j": m.energy_j,
                "relative_energy": m.relative_energy, "search_energy": self.energy(m),
                **energy_fields(m.reductions),
                "drop": None if m.drop is None else m.drop.drop, "drop_upper": m.drop_upper,
                "rejected": bool(m.rejected), "images_scored": int(m.n_scored),
                "meets_budget": None if drop is None else bool(m.meets(drop)), "accepted": bool(accepted),
                "settings": {n: {"multiplier": mu, "skip_fraction": s} for n, (mu, s) in settings.items()}}

    def sensitivity(self, multipliers: Sequence[str]) -> Dict[str, Dict[str, float]]:
        """``{layer: {multiplier: validation accuracy drop}}`` with only that layer approximate (vs all-exact 8-bit);
        one pass per layer, computed once per multiplier list."""
        from tqdm.auto import tqdm

        key = tuple(multipliers)
        if key not in self._sensitivity:
            exact = {n: (_mult.EXACT_SIGNED, 0.0) for n in self.importance.layers}
            ref = self(exact)[1].accuracy           # (no drop given: every image scored)
            table = {}
            for name in tqdm(self.importance.layers, desc="XAI-Gen sensitivity", disable=not self.verbose):
                table[name] = {mu: ref - self(dict(exact, **{name: (mu, 0.0)}))[1].accuracy
                               for mu in multipliers if not _mult.get(mu).is_exact}
            self._sensitivity[key] = table
        return self._sensitivity[key]
