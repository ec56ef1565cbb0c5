"""Rewriting a Keras model into an approximate one: float Keras 3 models (`keras_model.approximate`: calibration,
BatchNorm folding, quantised kernels, weight mapping, skipping, reconfigurable modes) and tfmot-quantised tf_keras
models (`tfmot`)."""

from tfaxdnn.rewrite.keras_model import Calibration, approximate, calibrate

__all__ = ["approximate", "calibrate", "Calibration"]
