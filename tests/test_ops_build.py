"""The kernels' vector code compiles for every x86-64 level, including AVX-512 paths this machine may not run."""

import os
import platform
import shutil

import pytest

from tfaxdnn.ops import build


@pytest.mark.parametrize("march", build.ISA_LEVELS)
def test_kernel_vector_code_compiles_for_each_isa_level(march):
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        pytest.skip(f"no C++ compiler ({cxx}) to compile the kernels with")
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"-march={march} needs an x86-64 compiler; this machine is {platform.machine()}")
    errors = build.compile_check(march, cxx)
    assert errors == "", errors
