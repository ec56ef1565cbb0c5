"""Compile the LUT op library (one object per source, in parallel) against the installed TensorFlow (``python -m tfaxdnn.ops.build``).

Used by ``setup.py``'s ``build_ext`` and, when the library is missing or older than its sources, on first use.
Sources named ``cc/bench_*.cc`` (the naive benchmark baseline op) are left out of the op library: they form a
separate benchmark library (``python -m tfaxdnn.ops.build --bench``; ``loader.load_bench()`` builds it on demand).
Flags come from ``tf.sysconfig``; ``TFAXDNN_CXXFLAGS`` overrides the optimisation flags (default
``-O3 -march=native -mno-avx512fp16 -mprefer-vector-width=512``: the library is built on the machine that runs
it; Eigen's AVX512-FP16 path does not compile with g++ 12, so that one extension is switched off; 512-bit vectors
double the tap-table kernels' throughput where AVX-512 exists and are ignored elsewhere). If the native build
fails, it is retried once with portable flags (``-O3 -mavx2 -mfma``) after printing the compiler's error.
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys

CC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cc")
LIB_NAME = "_tfaxdnn_ops.so"
BENCH_LIB_NAME = "_tfaxdnn_bench_ops.so"
BENCH_PREFIX = "bench_"
DEFAULT_OPT_FLAGS = "-O3 -march=native -mno-avx512fp16 -mprefer-vector-width=512 -fno-math-errno"
FALLBACK_OPT_FLAGS = "-O3 -mavx2 -mfma -fno-math-errno"


def sources(bench: bool = False) -> list:
    """The op library's sources, or (``bench``) the benchmark library's ``bench_*.cc``."""
    return sorted(f for f in glob.glob(os.path.join(CC_DIR, "*.cc"))
                  if os.path.basename(f).startswith(BENCH_PREFIX) == bench)


def headers() -> list:
    return sorted(glob.glob(os.path.join(CC_DIR, "*.h")))


def default_output(bench: bool = False) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), BENCH_LIB_NAME if bench else LIB_NAME)


def is_stale(path: str, bench: bool = False) -> bool:
    """True when the library is missing or older than any of its C++ sources or the headers."""
    if not os.path.isfile(path):
        return True
    mtime = os.path.getmtime(path)
    return any(os.path.getmtime(f) > mtime for f in sources(bench) + headers())


def _compile_one(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return cmd, proc.returncode, proc.stderr


def build(output: str = None, verbose: bool = True, bench: bool = False) -> str:
    """Compile each source to an object in parallel, then link the op library (``bench``: the benchmark library)
    to ``output`` (atomically)."""
    if "TFAXDNN_CXXFLAGS" in os.environ:
        return _build(output, shlex.split(os.environ["TFAXDNN_CXXFLAGS"]), verbose, bench)
    try:
        return _build(output, shlex.split(DEFAULT_OPT_FLAGS), verbose, bench)
    except RuntimeError as err:
        first = next((ln for ln in str(err).splitlines() if "error" in ln), str(err).splitlines()[0])
        print(f"tfaxdnn: WARNING: the native build failed ({first.strip()}); retrying with the slower portable "
              f"flags {FALLBACK_OPT_FLAGS}", file=sys.stderr)
        return _build(output, shlex.split(FALLBACK_OPT_FLAGS), verbose, bench)


def _build(output, opt, verbose, bench=False):
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    import tensorflow as tf

    output = output or default_output(bench)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    cxx = os.environ.get("CXX", "g++")
    cflags = [c for c in tf.sysconfig.get_compile_flags() if c != "--std=c++17"]
    if verbose:
        print(f"tfaxdnn: building {'benchmark' if bench else 'LUT'} op library ->", output, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="tfaxdnn_build_") as tmp:
        objects, jobs = [], []
        for src in sources(bench):
            obj = os.path.join(tmp, os.path.splitext(os.path.basename(src))[0] + ".o")
            objects.append(obj)
            # an attribute dropped from a vector typedef (e.g. its 2-byte alignment) turns loads into faults
            jobs.append([cxx, "-std=c++17", "-fPIC", *opt, "-Werror=ignored-attributes", "-I", CC_DIR, *cflags,
                         "-c", src, "-o", obj])
        with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
            for cmd, rc, err in pool.map(_compile_one, jobs):
                if rc != 0:
                    raise RuntimeError("Building the tfaxdnn op library failed:\n" + " ".join(cmd) + "\n"
                                       + _first_errors(err))
        link = [cxx, "-shared", "-fPIC", *opt, *objects, "-o", output + ".tmp"] + tf.sysconfig.get_link_flags()
        cmd, rc, err = _compile_one(link)
        if rc != 0:
            raise RuntimeError("Linking the tfaxdnn op library failed:\n" + " ".join(cmd) + "\n" + err[-4000:])
    os.replace(output + ".tmp", output)
    return output


# Every kernel template of the TF-free headers (where all vector-ISA code lives), instantiated for both code types
# and accumulator widths: compiling this under another -march checks code paths this machine cannot run.
_ISA_CHECK_SOURCE = r"""
#include "depthwise_lut.h"
#include "lut_gemm.h"
#include "prepared_table.h"
namespace tfaxdnn {
template <typename Acc>
void Instantiate(LutScratch* s) {
  LutGemm<Acc>(nullptr, 0, 0, nullptr, 0, nullptr, nullptr, s);
  LutGemmTapTable<Acc>(nullptr, 0, 0, nullptr, 0, nullptr, nullptr, s);
  LutGemmRows16<Acc>(nullptr, 0, 0, nullptr, 0, nullptr, 0, nullptr, s);
  LutGemmTapBlock<8, Acc>(nullptr, 0, 0, nullptr, 0, 0, nullptr, 0, nullptr, s);
  LutGemmTapBlock<16, Acc>(nullptr, 0, 0, nullptr, 0, 0, nullptr, 0, nullptr, s);
  LutGemmTapBlock<kTapBlock, Acc>(nullptr, 0, 0, nullptr, 0, 0, nullptr, 0, nullptr, s);
  ActivationCodeSums<Acc>(nullptr, 0, 0, 0, nullptr);
}
template <typename T>
void InstantiateDepthwise(const DwShape& s) {
  DwBuildTables<T>(s, nullptr, nullptr, 0, nullptr, 0, nullptr);
  DwRows<T>(s, nullptr, nullptr, nullptr, 0, 0, 0, 0, nullptr);
}
void InstantiateAll(LutScratch* s, const DwShape& d, uint16_t* t) {
  Instantiate<int32_t>(s);
  Instantiate<int64_t>(s);
  InstantiateDepthwise<int8_t>(d);
  InstantiateDepthwise<uint8_t>(d);
  ColumnTable16(nullptr, 0, t);
  TransposeBytes(nullptr, 0, 0, nullptr);
  CopyIndices(static_cast<const int8_t*>(nullptr), 0, nullptr);
  Prepare(nullptr)->Columns16();
}
}  // namespace tfaxdnn
"""

ISA_LEVELS = ("x86-64", "x86-64-v3", "x86-64-v4")


def compile_check(march: str, cxx: str = None) -> str:
    """Compile the kernels' vector code (the TF-free headers, every template instantiated) for ``-march=march``
    without running it (``-fsyntax-only`` is not enough: templates' intrinsics are checked at instantiation, so
    this compiles to an object in a temporary directory). Returns the compiler's errors, "" when it compiles.
    A few seconds; used by the tests to keep the AVX-512 paths compiling on machines without AVX-512."""
    import tempfile

    cxx = cxx or os.environ.get("CXX", "g++")
    with tempfile.TemporaryDirectory(prefix="tfaxdnn_isa_") as tmp:
        src = os.path.join(tmp, "isa_check.cc")
        with open(src, "w") as f:
            f.write(_ISA_CHECK_SOURCE)
        cmd = [cxx, "-std=c++17", "-O1", f"-march={march}", "-Werror=ignored-attributes", "-Werror=unused-variable",
               "-I", CC_DIR, "-c", src, "-o", os.path.join(tmp, "isa_check.o")]
        _, rc, err = _compile_one(cmd)
    return "" if rc == 0 else " ".join(cmd) + "\n" + err[-4000:]


def _first_errors(stderr: str, limit: int = 20) -> str:
    """The compiler's error lines (not its pages of deprecation warnings)."""
    errors = [ln for ln in stderr.splitlines() if "error" in ln and "warning" not in ln]
    return "\n".join(errors[:limit]) or stderr[-4000:]


if __name__ == "__main__":
    _bench = "--bench" in sys.argv[1:]
    _args = [a for a in sys.argv[1:] if a != "--bench"]
    print(build(_args[0] if _args else None, bench=_bench))
