"""The bundled EvoApprox8b library and user-defined multipliers."""

import os
import shutil

import numpy as np
import pytest

from tfaxdnn import multipliers as M
from tfaxdnn.multipliers import Multiplier


def test_library_has_all_103_tables_with_matching_hashes():
    names = M.names()
    assert len(names) == 103 and len(M.names(signed=True)) == 26 and len(M.names(signed=False)) == 77
    for name in names:
        m = M.get(name)
        assert m.table.shape == (256, 256)
        assert m.hash == m.metadata["table_sha256_16"], name


def test_exact_references_and_signed_indexing():
    s, u = M.get("mul8s_1KV6"), M.get("mul8u_1JJQ")
    assert s.is_exact and u.is_exact and s.signed and not u.signed
    assert s(-128, -128) == 16384 and s(127, -3) == -381 and s.table[0, 255] == -128 * 127
    assert u(255, 255) == 65025
    assert M.exact(True) is s and M.exact(False) is u


def test_v2022_names_and_lite2020_suffix_are_different_circuits():
    new, old = M.get("mul8s_1KV8"), M.get("mul8s_1KV8__lite2020")
    assert not new.is_exact and old.is_exact
    assert new.power_mw == pytest.approx(0.422) and new.mae_percent == pytest.approx(0.0018)


def test_paper_multipliers_are_ordered_by_error_and_power():
    ms = [M.get(n) for n in M.PAPER_MULTIPLIERS]
    maes = [m.mae_percent for m in ms]
    assert maes == sorted(maes) and ms[0].is_exact
    assert ms[-1].power_mw < ms[0].power_mw


def test_unknown_name_lists_close_matches():
    with pytest.raises(KeyError, match="Did you mean: 'mul8s_1L2N'"):
        M.get("mul8s_1L2M")
    with pytest.raises(TypeError, match="must be a string"):
        M.get(3)


def test_from_function_and_bin_round_trip(tmp_path):
    m = Multiplier.from_function(lambda a, w: a * w - (a * w) % 4, signed=False, name="trunc2")
    assert m.table[255, 255] == 65025 - 65025 % 4 and not m.is_exact and m.mae_percent > 0
    path = tmp_path / "trunc2.bin"
    m.to_bin(path)
    assert os.path.getsize(path) == 131072
    back = Multiplier.from_bin(path)
    np.testing.assert_array_equal(back.table, m.table)
    assert back.name == "trunc2"


def test_signed_bin_uses_twos_complement_byte_index(tmp_path):
    m = M.get("mul8s_1L2N")
    path = tmp_path / "s.bin"
    m.to_bin(path)
    raw = np.fromfile(path, dtype="<u2")
    a, w = -3, 100
    assert np.int16(raw[((a & 0xFF) << 8) | (w & 0xFF)]) == m(a, w)
    np.testing.assert_array_equal(Multiplier.from_bin(path, signed=True).table, m.table)


def test_from_function_scalar_fallback():
    def scalar_only(a, w):
        return int(a) * int(w)
    m = Multiplier.from_function(scalar_only, signed=True, name="exact_py")
    assert m.is_exact


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler on PATH")
def test_from_c_source_compiles_evoapprox_style_function(tmp_path):
    src = tmp_path / "mul8u_trunc.c"
    src.write_text("#include <stdint.h>\nuint64_t mul8u_trunc(uint64_t B, uint64_t A) {\n"
                   "  return ((A & 0xFE) * B);\n}\n")
    m = Multiplier.from_c_source(src, "mul8u_trunc", signed=False)
    assert m.name == "mul8u_trunc" and m(7, 5) == 7 * 4 and m(3, 255) == 3 * 254
    signed_src = tmp_path / "mul8s_ex.c"
    signed_src.write_text("#include <stdint.h>\nint64_t mul8s_ex(int64_t A, int64_t B) { return A * B; }\n")
    assert Multiplier.from_c_source(signed_src, "mul8s_ex", signed=True).is_exact


def test_malformed_inputs_get_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"shape \[256, 256\], got \[256, 255\]"):
        Multiplier("bad", False, np.zeros((256, 255), np.int32))
    with pytest.raises(ValueError, match="must hold integers"):
        Multiplier("bad", False, np.full((256, 256), 0.5))
    with pytest.raises(ValueError, match=r"unsigned \(uint16\) table values must lie in \[0, 65535\]"):
        Multiplier("bad", False, np.full((256, 256), -1))
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 100)
    with pytest.raises(ValueError, match="expected 131072 bytes"):
        Multiplier.from_bin(short)
    src = tmp_path / "f.c"
    src.write_text("int other(int a, int b) { return a * b; }\n")
    with pytest.raises(ValueError, match="Could not compile"):
        Multiplier.from_c_source(src, "missing_fn", signed=False)
    with pytest.raises(FileNotFoundError):
        Multiplier.from_c_source(tmp_path / "nope.c", "f", signed=False)


def test_table_is_read_only_and_describe_records_hash():
    m = M.get("mul8s_1L2J")
    with pytest.raises(ValueError):
        m.table[0, 0] = 1
    d = m.describe()
    assert d["name"] == "mul8s_1L2J" and d["hash"] == m.hash and d["signed"] is True
