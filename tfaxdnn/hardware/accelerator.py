"""`Accelerator`: parameters of a multi-pod approximate systolic-array accelerator (SPEC section 6).

Every pod is an ``rows x cols`` weight-stationary systolic array of ``m = rows * cols`` MAC units. A pod listed
with a multiplier name has its **upper half** (the first ``rows/2`` rows) exact and its **lower half** (the last
``rows/2`` rows) built from that approximate multiplier, as in the XAI-Gen paper (Section III, Fig. 2). A pod
listed as ``None`` is exact throughout. Units are explicit in every field name: seconds, watts, joules, bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

from tfaxdnn import multipliers as _mults

#: int32 add in 45 nm: 0.1 pJ (M. Horowitz, "Computing's energy problem", ISSCC 2014, Fig. 1.1.9). Used as the
#: per-MAC accumulator overhead added to the multiplier's energy; pipeline registers are not modelled separately.
HOROWITZ_INT32_ADD_J = 0.1e-12
#: SRAM energy per byte used by the XAI-Gen paper (CACTI-P).
PAPER_MEMORY_J_PER_BYTE = 2.7e-12
#: Off-chip DRAM energy per byte: 640 pJ per 32-bit DRAM access in 45 nm (M. Horowitz, ISSCC 2014, as tabulated by
#: S. Han et al., "Learning both weights and connections for efficient neural networks", NeurIPS 2015, Table 1).
HOROWITZ_DRAM_J_PER_BYTE = 640e-12 / 4
#: PDK45 critical-path delay of the exact signed 8x8 multiplier ``mul8s_1KV6`` (EvoApproxLib header
#: ``PDK45_DELAY = 1.48 ns``): the common characterisation period assumed for every multiplier's published power.
EXACT_MULTIPLIER_DELAY_S = 1.48e-9
#: How a multiplier's published PDK45 power P becomes energy per multiplication (see `energy.multiplier_energy_j`).
MULTIPLIER_ENERGY_MODELS = ("fixed_period", "delay", "clock")


@dataclasses.dataclass(frozen=True)
class Accelerator:
    """A multi-pod weight-stationary systolic-array accelerator.

    Args:
        pods: int, number of systolic-array pods ``p``.
        rows: int, MAC rows per pod ``r`` (the weight matrix's K dimension is laid along the rows). Even.
        cols: int, MAC columns per pod ``c`` (the output channels are laid along the columns).
        pod_multipliers: tuple of length ``pods``; entry ``i`` is the name of the approximate multiplier in the
            lower half of pod ``i``, or None for an all-exact pod. Empty tuple = all pods exact.
        clock_period_s: float, clock period ``T`` in seconds.
        exact_multiplier: str, the exact multiplier of the exact MACs (its PDK45 power is used).
        accumulator_energy_j: float, energy per MAC operation of the int32 accumulator, joules.
        memory_energy_j_per_byte: float, on-chip SRAM energy per byte accessed ``E_M``, joules.
        multiplier_energy: str, how a multiplier's PDK45 power ``P`` becomes energy per multiplication:
            ``"fixed_period"`` (default) ``P * characterisation_period_s`` for every circuit (energy ratios = power
            ratios); ``"delay"`` ``P * delay_ns`` of the circuit itself (power-delay product); ``"clock"``
            ``P * clock_period_s`` (the paper's ``c_l T P_pod`` convention; makes MAC energy depend on the clock).
        characterisation_period_s: float, the period at which the published powers are assumed to be characterised
            (``"fixed_period"``); default 1.48 ns, the exact multiplier's PDK45 delay. EvoApproxLib does not publish it.
        dram_energy_j_per_byte: float, off-chip DRAM energy per byte, joules (default 160 pJ, Horowitz ISSCC 2014).
        include_dram: bool, add DRAM traffic (unique tensor bytes per layer) to the system energy ``energy_j``.
        bank_rows: int, rows per memory bank ``R`` (only used by the paper's Eq. (2)).
        weight_buffer_bytes, activation_buffer_bytes: int, on-chip buffer capacities in bytes; a layer whose
            weights or activations exceed them is flagged ``fits_on_chip=False`` (off-chip traffic not modelled).
        name: str, label for reports.
    """

    pods: int = 8
    rows: int = 256
    cols: int = 256
    pod_multipliers: Tuple[Optional[str], ...] = ()
    clock_period_s: float = 2e-9
    exact_multiplier: str = _mults.EXACT_SIGNED
    accumulator_energy_j: float = HOROWITZ_INT32_ADD_J
    memory_energy_j_per_byte: float = PAPER_MEMORY_J_PER_BYTE
    bank_rows: int = 128
    multiplier_energy: str = "fixed_period"
    characterisation_period_s: float = EXACT_MULTIPLIER_DELAY_S
    dram_energy_j_per_byte: float = HOROWITZ_DRAM_J_PER_BYTE
    include_dram: bool = False
    weight_buffer_bytes: int = 16 * 2 ** 20
    activation_buffer_bytes: int = 16 * 2 ** 20
    name: str = "custom"

    def __post_init__(self):
        for field in ("pods", "rows", "cols", "bank_rows", "weight_buffer_bytes", "activation_buffer_bytes"):
            value = getattr(self, field)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Accelerator: `{field}` must be a positive int. Received: {field}={value!r}")
        if self.rows % 2:
            raise ValueError(f"Accelerator: `rows` must be even (a pod is split into two halves of rows/2 rows). "
                             f"Received: rows={self.rows}")
        for field in ("clock_period_s", "accumulator_energy_j", "memory_energy_j_per_byte",
                      "characterisation_period_s", "dram_energy_j_per_byte"):
            value = getattr(self, field)
            positive = field in ("clock_period_s", "characterisation_period_s")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (positive and value == 0):
                raise ValueError(f"Accelerator: `{field}` must be a non-negative number (positive for periods). "
                                 f"Received: {field}={value!r}")
        if self.multiplier_energy not in MULTIPLIER_ENERGY_MODELS:
            raise ValueError(f"Accelerator: `multiplier_energy` must be one of {MULTIPLIER_ENERGY_MODELS}. "
                             f"Received: multiplier_energy={self.multiplier_energy!r}")
        pm = tuple(self.pod_multipliers) if self.pod_multipliers else (None,) * self.pods
        if len(pm) != self.pods:
            raise ValueError(f"Accelerator: `pod_multipliers` needs one entry per pod ({self.pods}), "
                             f"got {len(pm)}: {pm!r}")
        exact = _known_multiplier(self.exact_multiplier, "exact_multiplier")
        if not is_exact(exact):
            raise ValueError(f"Accelerator: `exact_multiplier` '{exact.name}' is not an exact multiplier (its table "
                             "differs from the exact product).")
        names = []
        for pod, entry in enumerate(pm):
            if entry is None:
                names.append(None)
                continue
            if not isinstance(entry, (str, _mults.Multiplier)):
                raise TypeError(f"Accelerator: `pod_multipliers` entries must be multiplier names, Multipliers or "
                                f"None. Received: pod_multipliers[{pod}]={entry!r}")
            mult = _known_multiplier(entry, f"pod_multipliers[{pod}]")
            if mult.signed != exact.signed:
                chip, other = ("signed", "unsigned") if exact.signed else ("unsigned", "signed")
                exact_other = _mults.EXACT_SIGNED if mult.signed else _mults.EXACT_UNSIGNED
                raise ValueError(
                    f"Accelerator: pod {pod} carries {other} multiplier '{mult.name}', but the chip is {chip} (exact "
                    f"multiplier '{exact.name}'); all MACs of a chip share one operand format. Use {chip} circuits, "
                    f"or exact_multiplier='{exact_other}' for a chip of {other} circuits.")
            names.append(mult.name)
        object.__setattr__(self, "pod_multipliers", tuple(names))

    # ------------------------------------------------------------------ derived quantities
    @property
    def macs_per_pod(self) -> int:
        """``m = r * c``."""
        return self.rows * self.cols

    @property
    def total_macs(self) -> int:
        """``m * p``."""
        return self.macs_per_pod * self.pods

    @property
    def half_rows(self) -> int:
        return self.rows // 2

    @property
    def approximate_pods(self) -> Tuple[int, ...]:
        """Indices of pods whose lower half is approximate."""
        return tuple(i for i, name in enumerate(self.pod_multipliers) if name is not None)

    @property
    def clock_hz(self) -> float:
        return 1.0 / self.clock_period_s

    def replace(self, **changes) -> "Accelerator":
        """A copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def configured_for(self, multiplier_names) -> "Accelerator":
        """A copy whose approximate pods carry ``multiplier_names`` (distinct, in order, cycled over the pods).

        Models design-time specialisation: the approximate variant of the chip is built for the plan's multipliers.
        Exact multipliers in ``multiplier_names`` are ignored. Raises ValueError if there are more distinct
        multipliers than approximate pods (or than pods, when the accelerator has no approximate pod).
        """
        wanted = [n for n in dict.fromkeys(multiplier_names) if n is not None and not is_exact(n)]
        slots = list(self.approximate_pods) or list(range(self.pods))
        if not wanted:
            return self
        if len(wanted) > len(slots):
            raise ValueError(f"Accelerator '{self.name}': {len(wanted)} distinct approximate multipliers "
                             f"({', '.join(wanted)}) do not fit on {len(slots)} approximate pods.")
        pm = list(self.pod_multipliers)
        for k, pod in enumerate(slots):
            pm[pod] = wanted[k % len(wanted)]
        return self.replace(pod_multipliers=tuple(pm))

    # ------------------------------------------------------------------ presets
    @classmethod
    def paper(cls) -> "Accelerator":
        """The XAI-Gen setup: eight 256x256 pods, E_M = 2.7 pJ/byte, R = 128 rows per bank.

        The paper does not list which multiplier sits in which pod. This preset gives pods 0-5 the paper's six
        approximate multipliers M2-M7 (``mul8s_1KV8 ... mul8s_1L2N``) and keeps pods 6-7 exact. The paper gives
        no clock either: 2 ns (500 MHz) is used because the PDK45 exact multiplier alone has a 1.48 ns delay.
        Buffers: 16 MiB each for weights and activations (TPU-v4-class on-chip memory; only used for the
        ``fits_on_chip`` flag).
        """
        return cls(pods=8, rows=256, cols=256, pod_multipliers=tuple(_mults.PAPER_MULTIPLIERS[1:]) + (None, None),
                   clock_period_s=2e-9, name="xai-gen-paper")

    @classmethod
    def tpu_v4_like(cls) -> "Accelerator":
        """A TPU-v4-TensorCore-like chip: four 128x128 MXU pods at 1050 MHz, each lower half approximate.

        Pods carry the paper's four least-power multipliers (``mul8s_1KVP, 1L2J, 1L2L, 1L2N``); the paper says an
        approximate TPU v4 "can have up to four distinct approximate systolic array pods". Energies still use the
        PDK45 figures of the multipliers (no technology scaling). 32 MiB vector memory split evenly.
        """
        return cls(pods=4, rows=128, cols=128, pod_multipliers=tuple(_mults.PAPER_MULTIPLIERS[3:]),
                   clock_period_s=1.0 / 1.05e9, weight_buffer_bytes=16 * 2 ** 20,
                   activation_buffer_bytes=16 * 2 ** 20, name="tpu-v4-like")

    @classmethod
    def single_array(cls, rows: int, cols: int, **kw) -> "Accelerator":
        """One all-exact ``rows x cols`` weight-stationary array (the SCALE-Sim comparison setting)."""
        return cls(pods=1, rows=rows, cols=cols, pod_multipliers=(None,), name=kw.pop("name", f"ws-{rows}x{cols}"),
                   **kw)


_EXACT_CACHE: dict = {}


def _known_multiplier(entry, what: str):
    """The `Multiplier` named (or given, then registered) by ``entry``; unknown names are a ValueError naming the
    field."""
    if isinstance(entry, _mults.Multiplier):
        return _mults.lookup(entry)
    if not isinstance(entry, str):
        raise TypeError(f"Accelerator: `{what}` must be a multiplier name or a Multiplier. Received: {entry!r}")
    try:
        return _mults.get(entry)
    except KeyError as err:
        raise ValueError(f"Accelerator: `{what}`: {err.args[0]}") from None


def is_exact(multiplier) -> bool:
    """True when the multiplier's table is the exact product (by table, so renamed exact circuits count)."""
    if multiplier is None:
        return True
    if isinstance(multiplier, str):
        if multiplier not in _EXACT_CACHE:
            _EXACT_CACHE[multiplier] = _table_is_exact(_mults.get(multiplier))
        return _EXACT_CACHE[multiplier]
    try:
        if _mults.get(multiplier.name) is multiplier:  # bundled object: use the cache
            return is_exact(multiplier.name)
    except KeyError:
        pass
    return _table_is_exact(multiplier)


def _table_is_exact(m) -> bool:
    return bool(np.array_equal(m.table, _mults.exact_table(m.signed)))
