"""Where an approximate model's GPU time goes: kernels of ``--passes`` ``predict`` passes, for ``nsys``.

    nsys profile --capture-range=cudaProfilerApi --stats=true -o $OUT/prof \\
        python benchmarks/gpu_profile.py --model .data/gpu/resnet20_approx.keras [--batch 1000] [--passes 3]

Loads the ``.keras`` model (Keras's JAX backend), compiles and warms it up (XLA's autotuning runs then, outside the
captured range), then brackets the timed passes with ``cudaProfilerStart``/``Stop`` so that ``nsys`` reports only
their kernels (convolutions, gathers, fusions) and the time each kind takes. Without ``nsys`` it prints the
images/s of the timed passes only (float models too: the low-rank path does not touch their layers).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _cudart():
    """The CUDA runtime library (for cudaProfilerStart/Stop), or None."""
    import site
    names = ["libcudart.so", "libcudart.so.12", "libcudart.so.13"]
    paths = [p for d in site.getsitepackages() + [site.getusersitepackages()]
             for p in glob.glob(os.path.join(d, "nvidia", "cuda_runtime", "lib", "libcudart.so*"))]
    for n in paths + names + glob.glob("/usr/local/cuda*/lib64/libcudart.so*"):
        try:
            return ctypes.CDLL(n)
        except OSError:
            continue
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--images", default=".data/gpu/test_images.npz")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--passes", type=int, default=3)
    args = p.parse_args(argv)
    import keras

    from tfaxdnn.layers import use_path
    with np.load(args.images) as f:
        x = f["x"][:args.batch].astype("float32") / 255.0
    model = keras.models.load_model(args.model, compile=False)
    with use_path("lowrank"):
        for _ in range(3):
            model.predict(x, batch_size=args.batch, verbose=0)
        rt = _cudart()
        print("cudart:", rt, flush=True)
        if rt is not None:
            rt.cudaProfilerStart()
        t = time.perf_counter()
        for _ in range(args.passes):
            model.predict(x, batch_size=args.batch, verbose=0)
        dt = (time.perf_counter() - t) / args.passes
        if rt is not None:
            rt.cudaProfilerStop()
    print(f"{args.model}: {args.batch / dt:.0f} images/s over {args.passes} passes", flush=True)


if __name__ == "__main__":
    main()
