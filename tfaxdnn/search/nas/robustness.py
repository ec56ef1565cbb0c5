"""Adversarial robustness of approximate models: FGSM / PGD (L∞) with an own ``tf.GradientTape`` attack.

Why an own attack rather than a library (CleverHans, ART, Foolbox): these need either TF1/TF-Keras-2 model
wrappers or their own framework adapters; Keras 3 models with custom ops are not covered by the pinned versions,
and the attack is twenty lines. White-box attacks on the *approximate* model are possible because every
approximate layer carries a straight-through gradient (the gradient of the exact quantised product,
`tfaxdnn.layers.base`): the LUT and the rounding have no useful gradient of their own. That gradient is a
surrogate, so a high white-box accuracy may be **gradient masking** rather than robustness; hence
`robustness_metrics` also reports a **transfer** attack: adversarial examples crafted on the float model and fed to
the approximate one. A model is only credibly robust when both accuracies are high.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["AttackConfig", "attack", "robustness_metrics"]


@dataclasses.dataclass(frozen=True)
class AttackConfig:
    """``method``: ``"fgsm"`` or ``"pgd"``; ``epsilon``: L∞ radius in input units; ``steps``/``step_size`` (PGD;
    default step ``2.5·ε/steps``), random start in the ε-ball (PGD); ``samples``: images attacked (first of the
    split); ``clip``: valid input range; ``seed``: random start."""

    method: str = "pgd"
    epsilon: float = 0.1
    steps: int = 10
    step_size: float = 0.0
    samples: int = 200
    clip: tuple = (0.0, 1.0)
    seed: int = 0

    def __post_init__(self):
        if self.method not in ("fgsm", "pgd"):
            raise ValueError(f"Attack `method` must be 'fgsm' or 'pgd'. Received: {self.method!r}")
        if not self.epsilon > 0 or int(self.steps) < 1 or int(self.samples) < 1:
            raise ValueError(f"Need epsilon > 0, steps >= 1, samples >= 1. Received: epsilon={self.epsilon}, "
                             f"steps={self.steps}, samples={self.samples}")


def _from_logits(model) -> bool:
    act = getattr(model.layers[-1], "activation", None)
    return getattr(act, "__name__", "") != "softmax"


def attack(model, x, y, config: AttackConfig, batch_size: int = 100) -> np.ndarray:
    """Adversarial versions of ``x`` (numpy, same shape) against ``model`` (sparse cross-entropy on labels ``y``)."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=_from_logits(model))
    eps, lo, hi = float(config.epsilon), float(config.clip[0]), float(config.clip[1])
    steps = 1 if config.method == "fgsm" else int(config.steps)
    alpha = eps if config.method == "fgsm" else (config.step_size or 2.5 * eps / steps)
    rng = np.random.default_rng(config.seed)
    out = []
    for start in range(0, len(x), batch_size):
        x0 = tf.constant(np.asarray(x[start:start + batch_size], dtype=np.float32))
        yb = tf.constant(np.asarray(y[start:start + batch_size]).reshape(-1))
        xa = x0
        if config.method == "pgd":
            xa = tf.clip_by_value(x0 + rng.uniform(-eps, eps, x0.shape).astype(np.float32), lo, hi)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                tape.watch(xa)
                loss = loss_fn(yb, model(xa, training=False))
            grad = tape.gradient(loss, xa)
            if grad is None:
                raise ValueError(f"Model {model.name!r} gives no input gradient; cannot attack it.")
            xa = tf.clip_by_value(xa + alpha * tf.sign(grad), x0 - eps, x0 + eps)
            xa = tf.clip_by_value(xa, lo, hi)
        out.append(xa.numpy())
    return np.concatenate(out)


def _accuracy(model, x, y) -> float:
    from tfaxdnn.core.evaluation import evaluate

    return evaluate(model, x, y, check_inputs=False).accuracy   # inputs the search made itself


def robustness_metrics(approx_model, x, y, config: AttackConfig, x_transfer=None) -> dict:
    """``robust_accuracy`` (white-box attack on ``approx_model``) and, when ``x_transfer`` (adversarial examples
    crafted on the float model, see `attack`) is given, ``transfer_accuracy``."""
    n = min(int(config.samples), len(x))
    x, y = np.asarray(x[:n]), np.asarray(y[:n]).reshape(-1)
    out = {"robust_accuracy": _accuracy(approx_model, attack(approx_model, x, y, config), y)}
    if x_transfer is not None:
        out["transfer_accuracy"] = _accuracy(approx_model, np.asarray(x_transfer[:n]), y)
    return out
