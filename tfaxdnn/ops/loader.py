"""Loads the compiled op library once per process (building it first when missing or stale)."""

from __future__ import annotations

import fcntl
import glob
import os
import threading

import tensorflow as tf

from tfaxdnn.ops import build as _build

_lock = threading.Lock()
_module = None
_bench_module = None


def _installed_library() -> str:
    """The library built by setup.py (suffixed name) or by ``python -m tfaxdnn.ops.build``."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "_tfaxdnn_ops*.so")), key=os.path.getmtime, reverse=True)
    return found[0] if found else _build.default_output()


def _build_if_stale(path: str, bench: bool) -> str:
    if os.environ.get("TFAXDNN_NO_BUILD") != "1" and os.path.isdir(_build.CC_DIR) and _build.is_stale(path, bench):
        path = _build.default_output(bench)
        with open(path + ".lock", "w") as lock_file:  # one builder across processes
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if _build.is_stale(path, bench):
                _build.build(path, bench=bench)
    return path


def load():
    """Return the op module (``TfaxApproxConv2D`` etc. as snake_case functions)."""
    global _module
    with _lock:
        if _module is None:
            path = _build_if_stale(_installed_library(), bench=False)
            if not os.path.isfile(path):
                raise RuntimeError(f"tfaxdnn op library not found at {path}; build it with "
                                   "`python -m tfaxdnn.ops.build` or reinstall the package.")
            _module = tf.load_op_library(path)
    return _module


def load_bench():
    """Return the benchmark op module (``tfax_naive_conv2d``, the naive per-product lookup loop), built from the
    ``cc/bench_*.cc`` sources on first use; it is not part of the installed op library."""
    global _bench_module
    load()
    with _lock:
        if _bench_module is None:
            path = _build_if_stale(_build.default_output(bench=True), bench=True)
            if not os.path.isfile(path):
                raise RuntimeError(f"tfaxdnn benchmark op library not found at {path}; build it with "
                                   "`python -m tfaxdnn.ops.build --bench` (needs the C++ sources).")
            _bench_module = tf.load_op_library(path)
    return _bench_module


def library_path() -> str:
    load()
    return _installed_library()
