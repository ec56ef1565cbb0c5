"""XAI-NAS (XAI-Gen paper Section IV-C; SPEC section 9): NSGA-II (pymoo) over per-layer multipliers and neuron
skipping, every candidate scored by the `Evaluator`.

* Genome (`genome`): per approximable layer (or residual block, ``genes="block"``) a multiplier index into the
  MAE-ordered list (exact first) and a skip level (0, 5 %, ... ``max_skip``).
* Objectives (`config.OBJECTIVES`, minimised): ``accuracy`` -> error ``1 − accuracy``, ``energy`` -> energy relative
  to the all-exact 8-bit model, ``latency`` (s), ``memory`` (bytes), ``robustness`` -> ``1 −`` accuracy under a
  white-box FGSM/PGD attack on the approximate model (`robustness`; a transfer attack from the float model is
  recorded beside it). Constraint: validation accuracy ≥ float baseline − ``max_accuracy_drop``.
* Initial population (`seeding`): XAI-Gen configurations at ``n_seeds`` skipping thresholds (and refined seeds of full
  XAI-Gen runs at ``xaigen_t_p``), the rest random. The ALWANN-style baseline (``mode="alwann"``): random initial
  population, no seeding, no skipping, same budget (`compare`).
* Operators (`operators`, set up in `problem.make_algorithm`): tournament selection, SBX crossover rounded to
  integers, per-gene mutation with probability ``mutation_prob`` (baseline: random reset; XAI-NAS:
  `SkipAwareMutation` plus `skip_bound_repair` and geometric random skip levels); duplicates eliminated.
* Evaluation (`problem.XAINASProblem`): identical genomes are evaluated once (`archive`, kept in the checkpoint, so
  also across a resume); the others go through a runner (`tfaxdnn.search.runners`: in-process or Dask) to
  `worker.evaluate_candidate`. ``max_evaluations`` caps the unique evaluations (XAI-NAS: its XAI-Gen seeding runs'
  included), the budget both modes share in `compare_with_alwann`.
* Every generation is checkpointed (`tfaxdnn.search.checkpoint`: NSGA-II state incl. its RNG, every evaluation,
  hypervolume history); ``resume=True`` continues from the last completed generation (`search`).
* Selection uses the validation split only; the final front (`fronts`) is re-evaluated on the held-out test split
  (`holdout`) and written out (`report`, `plots`).

Budget: ``pop_size + generations · n_offsprings`` candidates (generation 0 is the initial population).

Every class a checkpoint pickles is importable from this package, also under the module names of earlier layouts
(`tfaxdnn.search.checkpoint.MOVED_MODULES`).
"""

from tfaxdnn.search.checkpoint import CheckpointError
from tfaxdnn.search.nas.archive import Archive
from tfaxdnn.search.nas.compare import compare_with_alwann
from tfaxdnn.search.nas.config import MODES, OBJECTIVES, NASConfig
from tfaxdnn.search.nas.fronts import hypervolume, pareto_front
from tfaxdnn.search.nas.genome import GenomeSpace
from tfaxdnn.search.nas.operators import IntegerResetMutation, SkipAwareMutation
from tfaxdnn.search.nas.problem import XAINASProblem, make_algorithm
from tfaxdnn.search.nas.result import NASResult, comparison_summary
from tfaxdnn.search.nas.robustness import AttackConfig
from tfaxdnn.search.nas.search import NASSearch, run_xainas
from tfaxdnn.search.nas.worker import CandidateTask, evaluate_candidate

__all__ = ["NASConfig", "NASResult", "OBJECTIVES", "MODES", "run_xainas", "compare_with_alwann", "comparison_summary",
           "NASSearch", "XAINASProblem", "make_algorithm", "Archive", "GenomeSpace", "IntegerResetMutation",
           "SkipAwareMutation", "AttackConfig", "CandidateTask", "evaluate_candidate", "pareto_front", "hypervolume",
           "CheckpointError"]
