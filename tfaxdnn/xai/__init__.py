"""Explainability: conductance of all layers in one GradientTape pass, layer/block importance, plots (SPEC 7)."""

from tfaxdnn.xai._graph import detect_blocks, select_layers
from tfaxdnn.xai.approximation import SUPPORTED_METHODS, approximation_parameters
from tfaxdnn.xai.conductance import LayerConductance, layer_conductance, neuron_conductance
from tfaxdnn.xai.importance import REDUCTIONS, LayerImportance, layer_importance, reduce_neurons
from tfaxdnn.xai.plots import plot_layer_importance, save_layer_importance_plot

__all__ = ["LayerConductance", "layer_conductance", "neuron_conductance", "layer_importance", "LayerImportance",
           "reduce_neurons", "REDUCTIONS", "detect_blocks", "select_layers", "SUPPORTED_METHODS",
           "approximation_parameters", "plot_layer_importance", "save_layer_importance_plot"]
