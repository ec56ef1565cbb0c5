"""Does approximation change what a model attends to? Attribution maps of an exact and an approximate model side by
side (tf-explain's explainers, see ``explain_methods``), with their similarity per image and method.

Similarity of two maps of one image (per-pixel maps, channels summed):

* ``spearman``: rank correlation of the raw (signed) attributions over all pixels (1 = same order);
* ``top_k_iou``: intersection over union of the ``top_k`` fraction of pixels with the largest ``|attribution|``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfaxdnn.xai.explanations import methods as em

METHODS = tuple(em.METHODS)
SCORES = ("spearman", "top_k_iou")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (ties get average ranks); 1.0 for two equal constant maps, NaN if
    only one is constant."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    if np.array_equal(a, b):
        return 1.0
    ca, cb = np.ptp(a) == 0, np.ptp(b) == 0
    if ca or cb:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def top_k_mask(a: np.ndarray, top_k: float) -> np.ndarray:
    """Boolean mask of the ``ceil(top_k * size)`` pixels with the largest ``|a|`` (ties: earlier pixels first)."""
    flat = np.abs(np.ravel(a))
    k = max(1, int(np.ceil(top_k * flat.size)))
    mask = np.zeros(flat.size, bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(a))


def top_k_iou(a: np.ndarray, b: np.ndarray, top_k: float = 0.1) -> float:
    """Intersection over union of the top-``top_k`` ``|attribution|`` pixels of two maps."""
    ma, mb = top_k_mask(a, top_k), top_k_mask(b, top_k)
    return float((ma & mb).sum() / (ma | mb).sum())


@dataclass
class MethodComparison:
    """One method's maps ``[N, H, W]`` for both models and the per-image similarity ``[N]``."""

    exact: np.ndarray
    approx: np.ndarray
    spearman: np.ndarray
    top_k_iou: np.ndarray
    seconds: float = 0.0

    def mean(self) -> Dict[str, float]:
        return {"spearman": float(np.nanmean(self.spearman)) if np.isfinite(self.spearman).any() else float("nan"),
                "top_k_iou": float(np.mean(self.top_k_iou))}


@dataclass
class ExplanationResult:
    """Result of ``explain``: per method a ``MethodComparison``; ``mean()`` averages the similarity per method."""

    images: np.ndarray
    targets: np.ndarray
    exact_pred: np.ndarray
    approx_pred: np.ndarray
    methods: Dict[str, MethodComparison]
    top_k: float
    layer: Optional[str]
    seed: int
    params: Dict = field(default_factory=dict)
    labels: Optional[np.ndarray] = None

    def mean(self) -> Dict[str, Dict[str, float]]:
        """``{method: {"spearman": ..., "top_k_iou": ...}}`` averaged over the images."""
        return {m: c.mean() for m, c in self.methods.items()}

    def to_dict(self, maps: bool = False) -> Dict:
        """JSON-ready summary (per image and mean similarity, targets, predictions); ``maps=True`` adds the maps."""
        d = {"n_images": int(len(self.images)), "top_k": self.top_k, "grad_cam_layer": self.layer, "seed": self.seed,
             "params": dict(self.params), "targets": self.targets.tolist(),
             "labels": None if self.labels is None else self.labels.tolist(),
             "exact_prediction": self.exact_pred.tolist(), "approx_prediction": self.approx_pred.tolist(),
             "mean": self.mean(), "per_image": {}, "seconds": {m: round(c.seconds, 3) for m, c in
                                                                self.methods.items()}}
        for m, c in self.methods.items():
            d["per_image"][m] = {"spearman": [None if np.isnan(v) else float(v) for v in c.spearman],
                                 "top_k_iou": [float(v) for v in c.top_k_iou]}
            if maps:
                d.setdefault("maps", {})[m] = {"exact": c.exact.tolist(), "approx": c.approx.tolist()}
        return d

    def __str__(self) -> str:
        rows = [f"Explanation similarity, exact vs approximate ({len(self.images)} images, top {self.top_k:.0%} "
                f"pixels; predictions agree on {int(np.sum(self.exact_pred == self.approx_pred))}):",
                f"  {'method':<22}{'Spearman':>10}{'top-k IoU':>11}"]
        for m, s in self.mean().items():
            rows.append(f"  {m:<22}{s['spearman']:>10.3f}{s['top_k_iou']:>11.3f}")
        return "\n".join(rows)


def _check_methods(methods) -> List[str]:
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"Unknown explanation method {bad[0] if bad else None!r}; valid methods: {list(METHODS)}")
    return methods


def _check_inputs(exact_model, approx_model, images, labels):
    shape_e, shape_a = em.input_shape_of(exact_model), em.input_shape_of(approx_model)
    if shape_e != shape_a:
        raise ValueError(f"The models take different inputs: exact model '{exact_model.name}' {shape_e}, approximate "
                         f"model '{approx_model.name}' {shape_a}")
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == len(shape_e):
        x = x[None]
    if x.ndim != 4 or any(d is not None and d != s for d, s in zip(shape_e, x.shape[1:])):
        raise ValueError(f"`images` must have shape [N, {', '.join(str(d) for d in shape_e)}] (image models with an "
                         f"[H, W, C] input). Received: images.shape={np.shape(images)}")
    if len(x) == 0:
        raise ValueError("`images` is empty (N = 0).")
    y = None
    if labels is not None:
        y = np.asarray(labels).reshape(-1)
        if len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"`labels` must be {len(x)} integer class indices (one per image). Received: "
                             f"labels of shape {np.shape(labels)} and dtype {y.dtype}")
    return x, y


def explain(exact_model, approx_model, images, labels=None, methods: Sequence[str] = METHODS,
            layer: Optional[str] = None, seed: int = 0, top_k: float = 0.1, n_steps: int = 20,
            smoothgrad_samples: int = 20, smoothgrad_noise: float = 0.15, patch_size: Optional[int] = None,
            occlusion_value: Optional[float] = None, guided_grad_cam: bool = True) -> ExplanationResult:
    """Attribution maps of ``exact_model`` and ``approx_model`` for the same images and target classes, and their
    similarity (``spearman``, ``top_k_iou``) per image and method.

    Args:
        exact_model, approx_model (keras.Model): Keras 3 image classifiers with the same input shape (Sequential or
            Functional; logits or probabilities). The approximate model's gradients are straight-through ones.
        images (array [N, H, W, C]): the images to explain.
        labels (int array [N], optional): target classes; default: the exact model's predictions.
        methods: any of ``"integrated_gradients"``, ``"grad_cam"``, ``"smoothgrad"``, ``"occlusion"``.
        layer (str, optional): Grad-CAM layer (same name in both models); default: the last layer with a 4-D output
            larger than 1x1 (``explain_methods.infer_grad_cam_layer``).
        seed (int): SmoothGrad noise (the same noise for both models).
        top_k (float): fraction of pixels in ``top_k_iou``.
        n_steps (int): integrated-gradients path points (tf-explain: both ends included, zero baseline).
        smoothgrad_samples, smoothgrad_noise: noisy copies per image; noise std as a fraction of the value range.
        patch_size (int, optional): occlusion patch side (default ``H // 7``).
        occlusion_value (float, optional): occlusion patch value; default the middle of the images' value range
            (tf-explain's grey). The same for both models.
        guided_grad_cam (bool): tf-explain's guided gradients for Grad-CAM (its default).
    """
    methods = _check_methods(methods)
    if not 0.0 < top_k <= 1.0:
        raise ValueError(f"`top_k` must lie in (0, 1]. Received: top_k={top_k!r}")
    x, y = _check_inputs(exact_model, approx_model, images, labels)
    import tensorflow as tf

    pe = np.asarray(exact_model(tf.constant(x), training=False))
    pa = np.asarray(approx_model(tf.constant(x), training=False))
    if pe.shape != pa.shape:
        raise ValueError(f"The models have different outputs: exact {pe.shape[1:]}, approximate {pa.shape[1:]}")
    targets = (y if y is not None else pe.argmax(axis=-1)).astype(np.int64)
    if targets.min() < 0 or targets.max() >= pe.shape[-1]:
        raise ValueError(f"`labels` must lie in [0, {pe.shape[-1]}). Received: labels containing "
                         f"{int(targets[(targets < 0) | (targets >= pe.shape[-1])][0])}")
    if "grad_cam" in methods:
        layer = em.infer_grad_cam_layer(exact_model) if layer is None else layer
        em.check_layer(exact_model, layer)
        em.check_layer(approx_model, layer)
    probs = {id(m): em.outputs_probabilities(m, x) for m in (exact_model, approx_model)}

    def run(method, model):
        if method == "integrated_gradients":
            return em.integrated_gradients(model, x, targets, n_steps=n_steps)
        if method == "grad_cam":
            return em.grad_cam(model, x, targets, layer, guided=guided_grad_cam)
        if method == "smoothgrad":
            return em.smoothgrad(model, x, targets, smoothgrad_samples, smoothgrad_noise, seed, probs[id(model)])
        return em.occlusion(model, x, targets, patch_size, occlusion_value, probs[id(model)])

    out = {}
    for method in methods:
        t0 = time.perf_counter()
        me, ma = (np.asarray(em._channels_sum(run(method, m)), np.float32) for m in (exact_model, approx_model))
        out[method] = MethodComparison(
            me, ma, np.array([spearman(a, b) for a, b in zip(me, ma)]),
            np.array([top_k_iou(a, b, top_k) for a, b in zip(me, ma)]), time.perf_counter() - t0)
    mid = (float(x.min()) + float(x.max())) / 2
    params = {"n_steps": n_steps, "smoothgrad_samples": smoothgrad_samples, "smoothgrad_noise": smoothgrad_noise,
              "patch_size": patch_size if patch_size is not None else max(1, x.shape[1] // 7),
              "occlusion_value": mid if occlusion_value is None else occlusion_value,
              "guided_grad_cam": guided_grad_cam}
    return ExplanationResult(x, targets, pe.argmax(-1), pa.argmax(-1), out, top_k,
                             layer if "grad_cam" in methods else None, seed, params, y)
