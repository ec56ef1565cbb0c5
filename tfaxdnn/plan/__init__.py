"""Approximation plans (SPEC section 4): `Plan` / `LayerPlan` / `QuantizationConfig` and the one resolver
`Plan.match` (`plan`), and the plan an approximate model carries (`carried.plan_of`)."""

from tfaxdnn.plan.carried import plan_of
from tfaxdnn.plan.plan import ACTIVATION_MODES, WEIGHT_MAPPINGS, LayerPlan, Plan, QuantizationConfig, as_plan

__all__ = ["Plan", "LayerPlan", "QuantizationConfig", "WEIGHT_MAPPINGS", "ACTIVATION_MODES", "as_plan", "plan_of"]
