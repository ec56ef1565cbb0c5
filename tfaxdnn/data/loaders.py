"""Loaders for npz datasets with keys ``x_train, y_train, x_test, y_test``."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

#: A few thousand real MNIST digits (4,000 train / 1,000 test, seeded random selection, original order kept;
#: indices into the original arrays stored as ``train_index``/``test_index``). MNIST is (c) Yann LeCun and
#: Corinna Cortes, made available under the Creative Commons Attribution-Share Alike 3.0 licence; see
#: ``tfaxdnn/data/README.md``.
BUNDLED_MNIST = os.path.join(os.path.dirname(__file__), "mnist_subset.npz")
BUNDLED_CIFAR10 = os.path.join(os.path.dirname(__file__), "cifar10_subset.npz")
KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz(path, keys=KEYS, uses: Optional[dict] = None, what: str = "Dataset") -> tuple:
    """Return ``(x_train, y_train), (x_test, y_test)`` from an npz file; labels flattened to 1-D.

    Only ``keys`` are read and required (the others are None); ``uses`` (``{key: what it is for}``) and ``what``
    (the file's role) word the error for a missing one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Dataset file not found: {path}")
    try:
        f = np.load(path)
    except Exception as exc:  # corrupt zip, pickle, truncated file
        raise ValueError(f"'{path}' is not a readable npz dataset: {exc}") from exc
    if not hasattr(f, "files"):
        raise ValueError(f"'{path}' is a single .npy array, not an npz dataset with keys {list(KEYS)}.")
    with f:
        missing = [k for k in keys if k not in f.files]
        if missing:
            named = ", ".join(f"{k} ({uses[k]})" if uses and k in uses else k for k in missing)
            raise ValueError(f"{what} '{path}' lacks {named}; expected {list(keys)}, it holds {sorted(f.files)}.")
        arrays = {k: f[k] if k.startswith("x") else f[k].reshape(-1) for k in keys}
    return tuple((arrays.get(f"x_{s}"), arrays.get(f"y_{s}")) for s in ("train", "test"))


def find_dataset(name: str, path: Optional[str] = None) -> Optional[str]:
    """``path`` if given (a FileNotFoundError if it is not a file: a path the user named never falls back to another
    copy), else the first existing file among ``~/.keras/datasets/<name>.npz`` and ``../shared/data/datasets``."""
    if path:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Dataset file not found: {path}")
        return path
    candidates = [os.path.expanduser(f"~/.keras/datasets/{name}.npz")]
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data", "datasets",
                                                    f"{name}.npz")))
    for c in candidates:
        if os.path.isfile(c):
            return c
    return None


def load_mnist(path: Optional[str] = None, full: bool = True, verbose: bool = False):
    """MNIST as ``((x_train, y_train), (x_test, y_test), source)``; falls back to the bundled subset.

    ``full=False`` always uses the bundled subset. ``source`` names the file used.
    """
    src = find_dataset("mnist", path) if (full or path) else None
    src = src or BUNDLED_MNIST
    if verbose:
        print(f"MNIST: using {'bundled subset ' if src == BUNDLED_MNIST else ''}{src}")
    return (*load_npz(src), src)


def load_cifar10(path: Optional[str] = None, seed: int = 0, full: bool = True, verbose: bool = False):
    """CIFAR-10 as ``((x_train, y_train), (x_test, y_test), source)``, shuffled with ``seed`` (the shared copy is
    sorted by class); falls back to the bundled 1,000/200-image subset (``full=False`` always uses it)."""
    src = find_dataset("cifar10", path) if (full or path) else None
    src = src or BUNDLED_CIFAR10
    if verbose:
        print(f"CIFAR-10: using {'bundled subset ' if src == BUNDLED_CIFAR10 else ''}{src}")
    (xtr, ytr), (xte, yte) = load_npz(src)
    rng = np.random.default_rng(seed)
    p, q = rng.permutation(len(xtr)), rng.permutation(len(xte))
    return (xtr[p], ytr[p]), (xte[q], yte[q]), src


def preprocess_mnist(x: np.ndarray) -> np.ndarray:
    """uint8 [N,28,28] -> float32 [N,28,28,1] in [0, 1]."""
    return (x.astype("float32") / 255.0)[..., None]


def preprocess_cifar10(x: np.ndarray) -> np.ndarray:
    """uint8 [N,32,32,3] -> float32 in [0, 1]."""
    return x.astype("float32") / 255.0


def prepare_images(x: np.ndarray, input_shape, what: str = "input", scale: Optional[float] = None) -> np.ndarray:
    """Images for a model input of ``input_shape`` (batch first, None for unknown dims): divided by ``scale``
    (default: 255 for integer pixels, 1 for float data and for integers already in [0, 1], such as binary images),
    as float32; a missing trailing channel axis of size 1 is added, and the shape is checked."""
    x = np.asarray(x)
    if scale is None:
        scale = 255.0 if np.issubdtype(x.dtype, np.integer) and x.size and x.max() > 1 else 1.0
    if not float(scale) > 0:
        raise ValueError(f"`scale` must be a positive number. Received: scale={scale!r}")
    x = x.astype("float32") / np.float32(scale)
    want = tuple(input_shape[1:])
    if x.ndim == len(want) and want and want[-1] == 1:
        x = x[..., None]
    if len(x.shape[1:]) != len(want) or any(d is not None and d != s for d, s in zip(want, x.shape[1:])):
        raise ValueError(f"{what} images have shape {tuple(x.shape[1:])} but the model expects {want}.")
    return x
