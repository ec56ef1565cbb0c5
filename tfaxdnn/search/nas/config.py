"""Settings of an XAI-NAS run: `NASConfig` (the paper's NSGA-II set-up by default), the `OBJECTIVES` it can minimise
and its `MODES` (XAI-NAS, or the ALWANN-style baseline)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from tfaxdnn.search.config import SearchConfig
from tfaxdnn.search.nas.robustness import AttackConfig

__all__ = ["NASConfig", "OBJECTIVES", "MODES", "LATER_DEFAULTS"]

#: objective name -> (record field, how it is minimised)
OBJECTIVES = {"accuracy": "error", "energy": "relative_energy", "latency": "latency_s", "memory": "memory_bytes",
              "robustness": "robust_error"}
MODES = ("xainas", "alwann")
#: Settings added after checkpoints were first written, with their defaults: left out of a run's settings
#: fingerprint while at the default, so that checkpoints written before them resume.
LATER_DEFAULTS = {"xaigen_selection": "conductance", "xaigen_refine": "first", "uniform_seeds": True,
                  "seed_output_exact": True, "tolerance_seeds": 0}


@dataclasses.dataclass(frozen=True)
class NASConfig(SearchConfig):
    """Settings of `run_xainas` (defaults: the paper's NSGA-II setup).

    Args:
        objectives: subset of `OBJECTIVES`, order kept.
        mode: ``"xainas"`` (XAI-Gen seeds, skipping) or ``"alwann"`` (random start, no seeds, no skipping).
        pop_size, n_offsprings, generations: NSGA-II budget (generation 0 = the initial population).
        mutation_prob: per-gene probability of a random reset; crossover_prob: SBX probability per mating.
        n_seeds, seed_t_p_max, seed_t_c: XAI-Gen seeds (see `xaigen_seed_genomes`).
        uniform_seeds: XAI-NAS only: the uniform plans (every gene on one multiplier, for each multiplier;
            `uniform_genomes`) join the initial population after the refined seeds.
        seed_output_exact: the sweep seeds keep the output layer's gene exact (``output_important`` of
            `xaigen_seed_genomes`) instead of ranking it by its conductance.
        tolerance_seeds: XAI-NAS only: before the first generation, every (gene, approximate multiplier) is scored
            alone (`tfaxdnn.search.nas.tolerance`; these evaluations count against ``max_evaluations``) and up to this
            many plans of the additive front of the measured drops join the initial population after the uniform
            plans (source ``"tolerance_seed"``); 0: off.
        multipliers: candidate multipliers (sorted by MAE, exact first, by `GenomeSpace`).
        max_skip, skip_step: skip levels 0, step, ..., max_skip (the output layer never skips).
        genes: ``"layer"`` or ``"block"`` (one gene per residual block).
        weight_mapping: mapping of approximated layers (``"uniform"`` = ALWANN's, ``"data"``, ``"none"``).
        max_accuracy_drop: constraint, fraction (0.02 = 2 points below the float baseline on validation).
        importance_samples, n_steps: conductance for the seeds and the skip order (training images).
        calibration_samples: activation-range images (training split).
        attack: `AttackConfig` of the robustness objective.
        seed: seeds the splits, the initial population and NSGA-II.
        energy_accounting: ``"system"``, ``"compute"`` or ``"multiplier"`` (`tfaxdnn.hardware.ACCOUNTINGS`): the
            energy objective (relative to all-exact); every candidate records all three reductions.
        skip_aware: XAI-NAS only: `SkipAwareMutation`, skip levels of the random initial genomes geometric with
            P(0) = ``skip_p_zero``, and `skip_bound_repair` (``repair_slack`` levels above the feasible archive's
            largest per gene) before each evaluation. False: the plain operators of the baseline.
        xaigen_t_p: XAI-NAS only: skipping thresholds at which full XAI-Gen runs (Algorithm 1 with back-off and
            ``xaigen_refine_passes`` refinement passes, this search's accuracy drop and accounting, on the
            validation split) give refined seeds, placed first in the initial population; their evaluations count
            against ``max_evaluations``.
        xaigen_selection, xaigen_refine: XAIGenConfig ``selection`` and ``refine`` of those runs (defaults: XAI-Gen's
            own, ``"conductance"`` and ``"first"``); set them to a stand-alone XAI-Gen run's flags (e.g.
            ``"sensitivity"``, ``"best"``) to seed that run's answer (on the same images and conductance: the same
            plan) into the initial population.
        max_evaluations: budget of unique evaluations (XAI-NAS: including the XAI-Gen seeding runs'); the search
            stops when it is spent (the last generation is cut to fit) or after ``generations``. None: generations
            only.
    """

    objectives: Sequence[str] = ("accuracy", "energy")
    mode: str = "xainas"
    pop_size: int = 50
    n_offsprings: int = 50
    generations: int = 10
    mutation_prob: float = 0.1
    crossover_prob: float = 0.9
    n_seeds: int = 36
    seed_t_p_max: float = 0.8
    seed_t_c: Sequence[float] = (1.0, 0.75, 0.5, 0.25)
    max_skip: float = 0.5
    genes: str = "layer"
    attack: AttackConfig = AttackConfig()
    skip_aware: bool = True
    skip_p_zero: float = 0.5
    repair_slack: int = 1
    xaigen_t_p: Sequence[float] = ()
    xaigen_refine_passes: int = 2
    max_evaluations: Optional[int] = None
    xaigen_selection: str = "conductance"
    xaigen_refine: str = "first"
    uniform_seeds: bool = True
    seed_output_exact: bool = True
    tolerance_seeds: int = 0

    def __post_init__(self):
        super().__post_init__()
        objs = [self.objectives] if isinstance(self.objectives, str) else list(self.objectives)
        unknown = [o for o in objs if o not in OBJECTIVES]
        if unknown:
            from tfaxdnn.core.errors import unknown_name

            raise unknown_name("objective", unknown[0], OBJECTIVES, f"Valid choices: {list(OBJECTIVES)} "
                                                                     "(comma-separated).")
        if not objs or len(set(objs)) != len(objs):
            raise ValueError(f"Objectives must be a non-empty list without repeats. Received: {objs}")
        object.__setattr__(self, "objectives", tuple(objs))
        object.__setattr__(self, "multipliers", tuple(self.multipliers))
        object.__setattr__(self, "seed_t_c", tuple(float(t) for t in self.seed_t_c))
        if self.mode not in MODES:
            raise ValueError(f"`mode` must be one of {list(MODES)}. Received: {self.mode!r}")
        for name in ("pop_size", "n_offsprings"):
            if int(getattr(self, name)) < 2:
                raise ValueError(f"`{name}` must be >= 2. Received: {getattr(self, name)}")
        if int(self.generations) < 0 or int(self.n_seeds) < 0:
            raise ValueError(f"`generations` and `n_seeds` must be >= 0. Received: {self.generations}, "
                             f"{self.n_seeds}")
        object.__setattr__(self, "xaigen_t_p", tuple(float(t) for t in self.xaigen_t_p))
        n_seeds = int(self.n_seeds) + len(self.xaigen_t_p)
        if self.mode == "xainas" and self.pop_size < n_seeds:
            raise ValueError(f"Population ({self.pop_size}) is smaller than the number of XAI-Gen seeds "
                             f"({self.n_seeds} sweep + {len(self.xaigen_t_p)} refined): raise the population (--pop) "
                             "or lower the seed count (--seeds, --xaigen-t-p).")
        if int(self.tolerance_seeds) < 0:
            raise ValueError(f"`tolerance_seeds` must be >= 0. Received: {self.tolerance_seeds}")
        if not 0.0 < self.skip_p_zero <= 1.0 or int(self.repair_slack) < 0 or int(self.xaigen_refine_passes) < 0:
            raise ValueError(f"Need 0 < skip_p_zero <= 1, repair_slack >= 0 and xaigen_refine_passes >= 0. Received: "
                             f"{self.skip_p_zero}, {self.repair_slack}, {self.xaigen_refine_passes}")
        if any(not 0.0 <= t <= 1.0 for t in self.xaigen_t_p):
            raise ValueError(f"`xaigen_t_p` values must lie in [0, 1]. Received: {list(self.xaigen_t_p)}")
        if self.max_evaluations is not None and int(self.max_evaluations) < 1:
            raise ValueError(f"`max_evaluations` must be >= 1 or None. Received: {self.max_evaluations}")
        for name in ("mutation_prob", "crossover_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]. Received: {getattr(self, name)}")
        if self.genes not in ("layer", "block"):
            raise ValueError(f"`genes` must be 'layer' or 'block'. Received: {self.genes!r}")
        if self.xaigen_selection not in ("conductance", "sensitivity"):
            raise ValueError(f"`xaigen_selection` must be 'conductance' or 'sensitivity'. Received: "
                             f"{self.xaigen_selection!r}")
        if self.xaigen_refine not in ("first", "best"):
            raise ValueError(f"`xaigen_refine` must be 'first' or 'best'. Received: {self.xaigen_refine!r}")

    @property
    def skip_aware_operators(self) -> bool:
        """Whether this run uses XAI-NAS's skip-aware operators (`SkipAwareMutation`, geometric random skip levels,
        `skip_bound_repair`): XAI-NAS mode with ``skip_aware`` on; the baseline never does."""
        return self.mode == "xainas" and self.skip_aware
