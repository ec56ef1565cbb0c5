"""`XAIGenResult`: what one XAI-Gen run found, its JSON record (`XAIGenResult.to_dict`), its printout and the files
it saves (`XAIGenResult.save`)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional

from tfaxdnn import multipliers as _mult
from tfaxdnn.core.serialization import json_default
from tfaxdnn.plan import Plan
from tfaxdnn.search.xaigen.config import ACCOUNTINGS, XAIGenConfig, energy_fields
from tfaxdnn.search.xaigen.importance import Importance

__all__ = ["XAIGenResult", "per_layer_rows"]


def per_layer_rows(importance: Importance, settings: Dict[str, tuple], normalization: str) -> List[dict]:
    """The result's per-layer table: normalised importance, multiplier, skip fraction and multiplier power."""
    z_hat = importance.normalized(normalization)
    return [{"layer": n, "importance": z_hat[n], "multiplier": settings[n][0], "skip_fraction": settings[n][1],
             "power_mw": _mult.get(settings[n][0]).power_mw} for n in importance.layers]


@dataclasses.dataclass
class XAIGenResult:
    """What `run_xaigen` found. With fine-tuning, ``model``/``accuracy``/energies are the fine-tuned run's and
    ``no_retraining`` summarises the plan found without retraining.

    ``accuracy_drop`` (`tfaxdnn.search.confirmation.drop_record`) holds the paired drop against the float model on the
    validation split (the estimate, with its upper bound), on the confirmation slice (and the re-check's outcome)
    and on the test split (the realised drop), side by side, and what sequential rejection saved. ``n_validation``
    counts the images selected on, ``n_confirmation`` those of the confirmation slice."""

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
    accuracy_drop: dict = dataclasses.field(default_factory=dict)
    n_confirmation: int = 0

    @property
    def confirmed(self) -> Optional[bool]:
        """Whether the returned plan passed the confirmation re-check (None: there was none)."""
        check = self.accuracy_drop.get("confirmation_check")
        if check is not None:
            return check["passed"] if check["n"] else None
        return self.accuracy_drop.get("confirmed") if self.accuracy_drop.get("confirmation") else None

    @property
    def energy_reduction(self) -> float:
        """Baseline energy / found energy (x lower), system accounting."""
        return self.baseline_energy_j / self.energy_j if self.energy_j else math.inf

    def to_dict(self) -> dict:
        """The JSON record (``result.json``): accuracies with their splits, energies in every accounting, the plan,
        the per-layer table, the layer scores, the multipliers' table hashes, the configuration and the log."""
        import tfaxdnn

        d = {"tfaxdnn_version": tfaxdnn.__version__,
             "accuracy_split": f"test ({self.n_test} images the search never selected on)",
             "baseline_accuracy": self.baseline_accuracy,
             "exact_multiplier_accuracy": self.exact_accuracy, "accuracy": self.accuracy,
             "finetune_epochs": self.config.finetune_epochs,
             "validation_accuracy": self.validation_accuracy,
             "baseline_validation_accuracy": self.baseline_validation_accuracy,
             "validation_split": f"validation ({self.n_validation} images: the search selected on these)",
             "confirmation_split": f"confirmation ({self.n_confirmation} validation images held out of the search: "
                                   "the answer was re-checked there)",
             "accuracy_drop": self.accuracy_drop,
             "baseline_energy_j": self.baseline_energy_j, "energy_j": self.energy_j,
             "energy_reduction": self.energy_reduction,
             **energy_fields(self.reductions),
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
        tuned = f" after {self.config.finetune_epochs} fine-tuning epochs" if self.config.finetune_epochs and \
            self.accuracy_drop.get("finetuned", True) else ""
        lines.append(f"test accuracy{tuned} {self.accuracy:.4f} on {self.n_test} images the search never saw (float "
                     f"{self.baseline_accuracy:.4f}, exact 8-bit {self.exact_accuracy:.4f}; validation "
                     f"{self.validation_accuracy:.4f} vs float {self.baseline_validation_accuracy:.4f})")
        sel = self.accuracy_drop
        if sel.get("validation"):
            bound = (f" (upper bound {100 * sel['estimated_upper']:.2f} at {sel['confidence']:.0%})"
                     if sel.get("confidence") else " (point estimate)")
            conf, check = sel.get("confirmation"), sel.get("confirmation_check") or {}
            note = check["note"] if check.get("n") else {
                None: "not re-checked", True: "confirmed on the confirmation slice",
                False: "failed the re-check on the confirmation slice"}[self.confirmed]
            parts = [f"validation {100 * sel['estimated_drop']:.2f} points{bound}"]
            if conf and conf.get("drop") is not None:
                parts.append(f"confirmation {100 * conf['drop']:.2f}")
            if sel.get("realised_drop") is not None:
                parts.append(f"test {100 * sel['realised_drop']:.2f}")
            lines.append(f"drop vs float: {', '.join(parts)} (budget {100 * sel['max_accuracy_drop']:g}); {note}")
        rej = sel.get("sequential_rejection") or {}
        if rej.get("rejected"):
            lines.append(f"sequential rejection: {rej['rejected']} of {rej['candidates']} candidates stopped early, "
                         f"{100 * rej['images_saved_fraction']:.0f} % of the validation images not scored "
                         f"(~{rej['saved_s']:.1f} s of inference saved)")
        lines.append("energy " + ", ".join(f"{a} {self.reductions.get(a, math.nan):.2f}x" for a in ACCOUNTINGS)
                     + f" lower than all-exact (searched on {self.config.energy_accounting}); "
                     f"{'meets' if self.meets_energy else 'misses'} E_c={self.config.energy_budget}")
        if self.finetune_log and self.finetune_log[-1].get("kept") == "no_retraining":
            lines.append("fine-tuning: " + self.finetune_log[-1]["note"])
        elif self.no_retraining is not None:
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
        ylabel = None if self.config.selection == "conductance" else "relative validation accuracy drop"
        save_layer_importance_plot(self.importance.as_layer_importance(), os.path.join(out_dir, "importance.png"),
                                   title=f"XAI-Gen layer importance ({what})", ylabel=ylabel)
        self.model.save(os.path.join(out_dir, "axdnn.keras"))
