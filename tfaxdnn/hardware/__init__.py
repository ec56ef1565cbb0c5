"""Multi-pod approximate systolic-array model: energy, latency and memory of (approximate) DNNs (SPEC section 6).

Example:
    >>> from tfaxdnn import hardware, models
    >>> report = hardware.estimate(models.lenet5(), {"default_multiplier": "mul8s_1L2N"},
    ...                            hardware.Accelerator.paper())
    >>> print(report)  # doctest: +SKIP
    >>> report.reduction("system"), report.reduction("compute"), report.reduction("multiplier")  # doctest: +SKIP
"""

from tfaxdnn.hardware.accelerator import MULTIPLIER_ENERGY_MODELS, Accelerator, is_exact
from tfaxdnn.hardware.assignment import LayerAssignment, assign, effective_plan
from tfaxdnn.hardware.cycles import (paper_busy_pods, paper_cycles, paper_memory_accesses, paper_weight_groups,
                                     ws_layer, ws_tile_cycles)
from tfaxdnn.hardware.energy import mac_energy_j, multiplier_energy_j, multiplier_power_w, paper_pod_power_w
from tfaxdnn.hardware.estimate import CYCLE_MODELS, effective_k, estimate, estimate_layer
from tfaxdnn.hardware.placement import Placement, place
from tfaxdnn.hardware.report import ACCOUNTINGS, HardwareReport, LayerEstimate
from tfaxdnn.hardware.shapes import LayerShape, ModelShapes, layer_shape, layer_shapes, model_shapes, unpriced_layers
from tfaxdnn.hardware.structure import zero_input_channels

__all__ = ["Accelerator", "estimate", "estimate_layer", "HardwareReport", "LayerEstimate", "LayerShape",
           "LayerAssignment", "Placement", "CYCLE_MODELS", "assign", "effective_plan", "place", "layer_shape",
           "model_shapes", "layer_shapes", "ModelShapes", "unpriced_layers", "is_exact", "ws_layer", "ws_tile_cycles", "paper_weight_groups", "paper_busy_pods",
           "paper_cycles",
           "paper_memory_accesses", "mac_energy_j", "multiplier_energy_j", "multiplier_power_w", "paper_pod_power_w",
           "ACCOUNTINGS", "MULTIPLIER_ENERGY_MODELS", "effective_k", "zero_input_channels"]
