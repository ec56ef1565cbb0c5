"""Explainability: conductance of all layers in one GradientTape pass, layer/block importance, plots (SPEC 7);
exact-vs-approximate explanation maps with tf-explain (explain, save_explanation_grid)."""

from tfaxdnn.xai._graph import detect_blocks, select_layers
from tfaxdnn.xai.conductance import LayerConductance, layer_conductance, neuron_conductance
from tfaxdnn.xai.explanations.callback import ExplanationCallback
from tfaxdnn.xai.explanations.compare import METHODS as EXPLAIN_METHODS
from tfaxdnn.xai.explanations.compare import ExplanationResult, MethodComparison, explain, spearman, top_k_iou
from tfaxdnn.xai.explanations.methods import conductance_integrated_gradients
from tfaxdnn.xai.explanations.plots import explanation_figure, plot_explanation_grid, save_explanation_grid
from tfaxdnn.xai.importance import REDUCTIONS, LayerImportance, layer_importance, reduce_neurons
from tfaxdnn.xai.importance_plots import plot_layer_importance, save_layer_importance_plot
from tfaxdnn.xai.integration import SUPPORTED_METHODS, approximation_parameters

__all__ = ["LayerConductance", "layer_conductance", "neuron_conductance", "layer_importance", "LayerImportance",
           "reduce_neurons", "REDUCTIONS", "detect_blocks", "select_layers", "SUPPORTED_METHODS",
           "approximation_parameters", "plot_layer_importance", "save_layer_importance_plot", "explain",
           "ExplanationResult", "MethodComparison", "EXPLAIN_METHODS", "spearman", "top_k_iou",
           "conductance_integrated_gradients", "explanation_figure", "ExplanationCallback", "plot_explanation_grid",
           "save_explanation_grid"]
