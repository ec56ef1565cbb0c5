"""Affine int8/uint8 quantisation and calibration (SPEC section 2)."""

from tfaxdnn.quant.calibration import METHODS, RangeTracker, batches, calibrate_tensors
from tfaxdnn.quant.params import (CODE_RANGE, QuantParams, activation_params, asymmetric_params, symmetric_params,
                                  weight_params)

__all__ = ["QuantParams", "weight_params", "activation_params", "symmetric_params", "asymmetric_params",
           "RangeTracker", "calibrate_tensors", "batches", "METHODS", "CODE_RANGE"]
