"""Compile the LUT op library against the installed TensorFlow (``python -m tfaxdnn.ops.build``).

Used by ``setup.py``'s ``build_ext`` and, when the library is missing or older than its sources, on first use.
Flags come from ``tf.sysconfig``; ``TFAXDNN_CXXFLAGS`` overrides the optimisation flags (default
``-O3 -march=native``: the library is built on the machine that runs it).
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys

CC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cc")
LIB_NAME = "_tfaxdnn_ops.so"
DEFAULT_OPT_FLAGS = "-O3 -march=native -fno-math-errno"


def sources() -> list:
    return sorted(glob.glob(os.path.join(CC_DIR, "*.cc")))


def headers() -> list:
    return sorted(glob.glob(os.path.join(CC_DIR, "*.h")))


def default_output() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), LIB_NAME)


def is_stale(path: str) -> bool:
    """True when the library is missing or older than any C++ source/header."""
    if not os.path.isfile(path):
        return True
    mtime = os.path.getmtime(path)
    return any(os.path.getmtime(f) > mtime for f in sources() + headers())


def build(output: str = None, verbose: bool = True) -> str:
    """Compile and link the op library to ``output`` (atomically); returns its path."""
    import tensorflow as tf

    output = output or default_output()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    cxx = os.environ.get("CXX", "g++")
    opt = shlex.split(os.environ.get("TFAXDNN_CXXFLAGS", DEFAULT_OPT_FLAGS))
    cmd = ([cxx, "-std=c++17", "-shared", "-fPIC", *opt, "-I", CC_DIR, *sources(), "-o", output + ".tmp"]
           + tf.sysconfig.get_compile_flags() + tf.sysconfig.get_link_flags())
    cmd = [c for c in cmd if c != "--std=c++17"]
    if verbose:
        print("tfaxdnn: building LUT op library ->", output, file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("Building the tfaxdnn op library failed:\n" + " ".join(cmd) + "\n" + proc.stderr[-4000:])
    os.replace(output + ".tmp", output)
    return output


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else None))
