"""The exact-vs-approximate explanation grid: one row per image; per method the exact map, the approximate map and
their difference; the input first. Also ``explanation_figure`` (explain + grid in one call, for search outputs)."""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tfaxdnn.xai.explanations.compare import ExplanationResult, explain

SHORT = {"integrated_gradients": "Integrated gradients", "grad_cam": "Grad-CAM", "smoothgrad": "SmoothGrad",
         "occlusion": "Occlusion"}


def _scaled(a: np.ndarray) -> np.ndarray:
    top = float(np.max(np.abs(a)))
    return a / top if top > 0 else a


def plot_explanation_grid(result: ExplanationResult, methods: Optional[Sequence[str]] = None,
                          title: Optional[str] = None, max_images: Optional[int] = None):
    """A ``matplotlib.figure.Figure`` of ``result`` (see the module docstring).

    Each map is divided by its largest ``|value|`` (red: evidence for the target class, blue: against, range
    -1..1); the difference is approximate minus exact of the scaled maps (colours saturate at +-1). The input
    cell names the target and both predictions; the difference cell gives that image's Spearman rho and top-k IoU.
    """
    from matplotlib.figure import Figure

    methods = list(result.methods) if methods is None else list(methods)
    n_all = len(result.images)
    n, cols = n_all if max_images is None else max(1, min(n_all, max_images)), 1 + 3 * len(methods)
    cell = 1.45
    fig = Figure(figsize=(cols * cell + 0.6, n * cell + 1.6), layout="constrained")
    grid = fig.add_gridspec(n + 1, cols, height_ratios=[1.0] * n + [0.12])
    means = result.mean()
    fig.suptitle(title or "Where does the model look? exact vs approximate model", fontsize=12, fontweight="bold")
    im_map = im_diff = None
    for r in range(n):
        img = result.images[r]
        ax = fig.add_subplot(grid[r, 0])
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray")
        ok = "" if result.exact_pred[r] == result.approx_pred[r] else "  (differs)"
        ax.set_xlabel(f"target {result.targets[r]}\nexact pred {result.exact_pred[r]}\n"
                      f"approx pred {result.approx_pred[r]}{ok}", fontsize=7.5,
                      color="black" if not ok else "tab:red")
        if r == 0:
            ax.set_title("input", fontsize=9, fontweight="bold")
        ax.set_xticks([]), ax.set_yticks([])
        for j, m in enumerate(methods):
            c = result.methods[m]
            e, a = _scaled(c.exact[r]), _scaled(c.approx[r])
            for k, (data, name) in enumerate(((e, "exact"), (a, "approximate"), (a - e, "approx − exact"))):
                ax = fig.add_subplot(grid[r, 1 + 3 * j + k])
                im = ax.imshow(data, cmap="PuOr_r" if k == 2 else "RdBu_r", vmin=-1.0, vmax=1.0)
                if k == 2:
                    im_diff = im
                    ax.set_xlabel(f"ρ {c.spearman[r]:.2f}   IoU {c.top_k_iou[r]:.2f}", fontsize=8)
                else:
                    im_map = im
                if r == 0:
                    head = (f"{SHORT.get(m, m)}: mean ρ {means[m]['spearman']:.2f}, IoU {means[m]['top_k_iou']:.2f}\n"
                            if k == 0 else "\n")
                    ax.set_title(head + name, fontsize=9, fontweight="bold" if k == 0 else "normal", loc="left"
                                 if k == 0 else "center")
                ax.set_xticks([]), ax.set_yticks([])
    fig.text(0.5, -0.005, f"ρ: Spearman rank correlation of the two models' attributions (1 = same order); IoU: "
             f"overlap of their top {result.top_k:.0%} |attribution| pixels; means over all {n_all} images in the "
             "headers", ha="center", va="top", fontsize=8.5)
    if im_map is not None:
        cax = fig.add_subplot(grid[n, 1:1 + (cols - 1) // 2])
        fig.colorbar(im_map, cax=cax, orientation="horizontal").set_label(
            "attribution / max |attribution| of the map  (red: for the target class, blue: against)", fontsize=8)
        cax = fig.add_subplot(grid[n, 1 + (cols - 1) // 2:])
        fig.colorbar(im_diff, cax=cax, orientation="horizontal").set_label(
            "approximate − exact of the scaled maps (saturates at ±1; orange: approximate model relies more on it)",
            fontsize=8)
    return fig


def save_explanation_grid(result: ExplanationResult, path, methods: Optional[Sequence[str]] = None,
                          title: Optional[str] = None, max_images: Optional[int] = None, dpi: int = 110) -> str:
    """Write ``plot_explanation_grid`` as a PNG to ``path`` (parent folders created); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    fig = plot_explanation_grid(result, methods, title, max_images)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def explanation_figure(exact_model, approx_model, x, y, path, n_images: int = 4, seed: int = 0,
                       title: Optional[str] = None, grid_images: Optional[int] = None, **kwargs) -> ExplanationResult:
    """Explain ``n_images`` images of ``(x, y)`` drawn with ``seed`` (sorted indices, labels as targets), write the
    grid PNG to ``path`` and a JSON summary next to it (``.json``); returns the ``ExplanationResult``.

    ``grid_images`` limits the grid's rows (the similarity covers all ``n_images``); ``kwargs`` go to ``explain``
    (``methods``, ``layer``, ``n_steps``, ...).
    """
    import json

    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("`x` is empty: no images to explain.")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(n_images, len(x)), replace=False))
    labels = None if y is None else np.asarray(y).reshape(-1)[idx]
    result = explain(exact_model, approx_model, x[idx], labels, seed=seed, **kwargs)
    save_explanation_grid(result, path, title=title, max_images=grid_images)
    summary = dict(result.to_dict(), image_indices=idx.tolist())
    with open(os.path.splitext(os.fspath(path))[0] + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    return result
