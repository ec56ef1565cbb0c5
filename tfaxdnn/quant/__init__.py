"""Affine int8/uint8 quantisation and calibration (SPEC section 2)."""

from tfaxdnn.quant.calibration import METHODS, RangeTracker, batches, calibrate_tensors
from tfaxdnn.quant.params import (ACTIVATION_SCHEMES, CODE_RANGE, QuantParams, activation_params, activation_scheme,
                                  asymmetric_params, one_sided, symmetric_params, weight_params,
                                  zero_code_exact)

__all__ = ["QuantParams", "weight_params", "activation_params", "symmetric_params", "asymmetric_params",
           "RangeTracker", "calibrate_tensors", "batches", "METHODS", "CODE_RANGE",
           "ACTIVATION_SCHEMES", "activation_scheme", "one_sided", "zero_code_exact"]
