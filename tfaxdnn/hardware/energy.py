"""Energy of MAC operations and memory traffic (joules).

Multiplier energy per operation comes from the circuit's published PDK45 power ``P`` and the period at which that
power is taken to be characterised (`Accelerator.multiplier_energy`), never from the accelerator clock unless asked
(``"clock"``, the paper's convention): the clock sets latency only. EvoApproxLib publishes ``PDK45_PWR`` and
``PDK45_DELAY`` per circuit but not the input rate of the power measurement, so the default assumes one common
characterisation period for every circuit (``characterisation_period_s``, the exact multiplier's 1.48 ns delay):
energy ratios between circuits then equal their power ratios. Each MAC also pays ``accumulator_energy_j``.
"""

from __future__ import annotations

from tfaxdnn import multipliers as _mults
from tfaxdnn.hardware.accelerator import Accelerator


def _multiplier(multiplier, acc: Accelerator):
    mult = acc.exact_multiplier if multiplier is None else multiplier
    return _mults.get(mult) if isinstance(mult, str) else mult


def multiplier_power_w(multiplier, layer_name: str = "?") -> float:
    """PDK45 power of ``multiplier`` in watts; clear error when the multiplier carries none."""
    m = _mults.get(multiplier) if isinstance(multiplier, str) else multiplier
    if m.power_mw is None:
        raise ValueError(f"Layer '{layer_name}': multiplier '{m.name}' has no power figure (power_mw=None), so its "
                         "energy cannot be estimated. Give the Multiplier a power_mw value.")
    return float(m.power_mw) * 1e-3


def characterisation_period_s(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """The period ``t`` with energy per multiplication ``= P * t`` under ``acc.multiplier_energy``."""
    if acc.multiplier_energy == "clock":
        return acc.clock_period_s
    if acc.multiplier_energy == "fixed_period":
        return acc.characterisation_period_s
    m = _multiplier(multiplier, acc)
    if m.delay_ns is None:
        raise ValueError(f"Layer '{layer_name}': multiplier '{m.name}' has no delay figure (delay_ns=None), which "
                         "Accelerator(multiplier_energy='delay') needs. Give the Multiplier a delay_ns value or use "
                         "multiplier_energy='fixed_period'.")
    return float(m.delay_ns) * 1e-9


def multiplier_energy_j(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """Energy of one multiplication, joules (``multiplier`` None = the accelerator's exact one)."""
    m = _multiplier(multiplier, acc)
    return multiplier_power_w(m, layer_name) * characterisation_period_s(m, acc, layer_name)


def mac_energy_j(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """Energy of one MAC operation: multiplication + ``E_acc``."""
    return multiplier_energy_j(multiplier, acc, layer_name) + acc.accumulator_energy_j


def mac_power_w(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """Power of one MAC unit busy every cycle: ``P_mult + E_acc / T`` (the paper's ``P_mac`` / ``P_xmac``)."""
    return multiplier_power_w(_multiplier(multiplier, acc), layer_name) + acc.accumulator_energy_j / acc.clock_period_s


def paper_pod_power_w(multiplier, acc: Accelerator, layer_name: str = "?") -> float:
    """``P_pod = (m/2) P_mac + (m/2) P_xmac`` with ``P_xmac`` the layer's multiplier (exact layer: exact)."""
    half = acc.macs_per_pod / 2
    return half * mac_power_w(None, acc, layer_name) + half * mac_power_w(multiplier, acc, layer_name)


def memory_energy_j(n_bytes: float, acc: Accelerator) -> float:
    """On-chip buffer traffic energy ``bytes * E_M``."""
    return float(n_bytes) * acc.memory_energy_j_per_byte


def describe(acc: Accelerator) -> str:
    """One line stating how multiplier energy is obtained (for report headers)."""
    exact = _multiplier(None, acc)
    e_exact = multiplier_energy_j(None, acc) * 1e12
    if acc.multiplier_energy == "fixed_period":
        how = (f"PDK45 power x {acc.characterisation_period_s * 1e9:.3g} ns assumed characterisation period "
               "(EvoApproxLib does not publish it; energy ratios = power ratios)")
    elif acc.multiplier_energy == "delay":
        how = "PDK45 power x the circuit's own PDK45 delay (power-delay product)"
    else:
        how = f"PDK45 power x clock T = {acc.clock_period_s * 1e9:.3g} ns (paper's convention)"
    return f"E_mult = {how}; exact {exact.name}: {e_exact:.3g} pJ"
