"""XAI-Gen: conductance-guided multipliers and neuron skipping, selected on validation images.

Modules, one idea each (the steps are described in `tfaxdnn.search.xaigen.algorithm`):

* `config`: `XAIGenConfig`.
* `importance`: `Importance` (layer and neuron scores; converts to and from `tfaxdnn.xai.LayerImportance`),
  `compute_importance`.
* `rules`: `select_multiplier` (SelectMult) and `skip_fraction`.
* `evaluation`: `XAIGenSearch`, XAI-Gen's view of the `Evaluator` (layer settings -> plan -> metrics per split).
* `algorithm`: Algorithm 1 with back-off (`plan_search`); `refine`: the refinement passes after it.
* `finetuning`: the fine-tuning stage (plans searched with a looser drop, fine-tuned with `tfaxdnn.rewrite.finetune`).
* `run`: `run_xaigen`; `result`: `XAIGenResult`.
* `sweeps`: `sweep` (the paper's t_p trade-off grid) and `energy_cap`; `plots`: the trade-off figure;
  `report`: `save_sweep` and `run_and_save` (the output folder and the printout).
"""

from tfaxdnn.rewrite.finetune import finetune
from tfaxdnn.search.xaigen.config import ACCOUNTINGS, SELECTIONS, XAIGenConfig
from tfaxdnn.search.xaigen.evaluation import XAIGenSearch
from tfaxdnn.search.xaigen.importance import Importance, compute_importance
from tfaxdnn.search.xaigen.report import run_and_save, save_sweep
from tfaxdnn.search.xaigen.result import XAIGenResult
from tfaxdnn.search.xaigen.rules import select_multiplier, skip_fraction
from tfaxdnn.search.xaigen.run import run_xaigen
from tfaxdnn.search.xaigen.sweeps import energy_cap, sweep

__all__ = ["XAIGenConfig", "XAIGenResult", "Importance", "compute_importance", "select_multiplier", "skip_fraction",
           "run_xaigen", "sweep", "save_sweep", "run_and_save", "energy_cap", "finetune", "XAIGenSearch", "SELECTIONS",
           "ACCOUNTINGS"]
