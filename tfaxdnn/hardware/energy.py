"""Energy of MAC operations and memory traffic (joules).

Convention: a multiplier's published PDK45 power ``P`` (mW) is its power when it multiplies once per clock cycle, so
one multiplication costs ``P * T``. This is the paper's own convention (``c_l T P_pod``). Each MAC operation also
pays ``Accelerator.accumulator_energy_j`` for its int32 accumulation.
"""

from __future__ import annotations

from tfaxdnn import multipliers as _mults
from tfaxdnn.hardware.accelerator import Accelerator


def multiplier_power_w(multiplier, layer_name: str = "?") -> float:
    """PDK45 power of ``multiplier`` in watts; clear error when the multiplier carries none."""
    m = _mults.get(multiplier) if isinstance(multiplier, str) else multiplier
    if m.power_mw is None:
        raise ValueError(f"Layer '{layer_name}': multiplier '{m.name}' has no power figure (power_mw=None), so its "
                         "energy cannot be estimated. Give the Multiplier a power_mw value.")
    return float(m.power_mw) * 1e-3


def mac_energy_j(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """Energy of one MAC operation: ``P_mult * T + E_acc`` (``multiplier`` None = the accelerator's exact one)."""
    mult = acc.exact_multiplier if multiplier is None else multiplier
    return multiplier_power_w(mult, layer_name) * acc.clock_period_s + acc.accumulator_energy_j


def mac_power_w(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """Power of one busy MAC unit: ``P_mult + E_acc / T`` (the paper's ``P_mac`` / ``P_xmac``)."""
    return mac_energy_j(multiplier, acc, layer_name) / acc.clock_period_s


def paper_pod_power_w(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """``P_pod = (m/2) P_mac + (m/2) P_xmac`` with ``P_xmac`` the layer's multiplier (exact layer: exact)."""
    half = acc.macs_per_pod / 2
    return half * mac_power_w(None, acc, layer_name) + half * mac_power_w(multiplier, acc, layer_name)


def memory_energy_j(n_bytes: float, acc: Accelerator) -> float:
    """On-chip buffer traffic energy ``bytes * E_M``."""
    return float(n_bytes) * acc.memory_energy_j_per_byte
