"""The fast depthwise path (per-channel tables, depthwise_lut.h) against the NumPy int64 reference, exactly: its
16-bit tables and their int32 fallback, the padded code buffer (strides, dilations, both paddings, units spanning
several images), multipliers, and zero points of both code types."""

import numpy as np
import pytest
import tensorflow as tf

from tfaxdnn import multipliers as M
from tfaxdnn.ops import nn
from tfaxdnn.ops import reference as ref


def _codes(rng, shape, signed):
    lo, hi = (-128, 128) if signed else (0, 256)
    return rng.integers(lo, hi, shape).astype(np.int8 if signed else np.uint8)


def _check(x, f, table, s, padding, d, za, zw):
    got = nn.approx_depthwise_conv2d(x, f, table, s, padding, d, za, zw).numpy()
    exp = ref.depthwise_conv2d(x, f, table.table if hasattr(table, "table") else table, s, padding, d, za, zw)
    np.testing.assert_array_equal(got, exp, err_msg=str((x.shape, f.shape, s, d, padding, za)))


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8u_17C8"])
def test_16bit_tables_randomised(name):
    """Nonzero activation and per-channel weight zero points; multipliers 1-3 (lanes reading repeated channels),
    strides and dilations 1-2 per axis, partial channel blocks, tiny images (units spanning several images)."""
    m, rng = M.get(name), np.random.default_rng(21)
    lo, hi = (-128, 128) if m.signed else (0, 256)
    for _ in range(8):
        n, h, w = int(rng.integers(1, 12)), int(rng.integers(3, 12)), int(rng.integers(3, 12))
        c, mult = int(rng.choice([1, 3, 8, 13, 24])), int(rng.integers(1, 4))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = "SAME" if (kh - 1) * d[0] >= h or (kw - 1) * d[1] >= w else str(rng.choice(["SAME", "VALID"]))
        x, f = _codes(rng, (n, h, w, c), m.signed), _codes(rng, (kh, kw, c, mult), m.signed)
        za, zw = int(rng.integers(lo, hi)), rng.integers(lo, hi, c * mult)
        _check(x, f, m, s, padding, d, za, zw)


@pytest.mark.parametrize("signed", [True, False])
def test_16bit_range_limit_and_int32_fallback_in_one_layer(signed):
    """A table whose corrected products span exactly 65535 for one weight code (16-bit tables) and 65536 for another
    (int32 tables): the channel holding the wider one sits in a block of its own (channel 20 of 24, past the first 16),
    so one call runs both kinds of block. Weights are otherwise the narrow code; codes reach the extremes."""
    rng = np.random.default_rng(5)
    off = 128 if signed else 0
    narrow, wide = 7, 9  # weight codes
    table = np.zeros((256, 256), np.int32)
    table[255, narrow + off] = 65535  # zero points 0: the corrected products are the table's own entries
    table[255, wide + off] = 65536
    table[0, wide + off] = 0
    c = 24
    x = _codes(rng, (2, 9, 9, c), signed)
    x[0, 4, 4, :] = 127 if signed else 255  # the largest code in every channel's window
    f = np.full((3, 3, c, 1), narrow, np.int8 if signed else np.uint8)
    f[:, :, 20, 0] = wide
    _check(x, f, tf.constant(table), 1, "SAME", 1, 0, 0)
    f[1, 1, 20, 0] = narrow  # the wide code in 8 taps only, one channel; a multiplier of 2
    _check(x, np.repeat(f, 2, axis=3), tf.constant(table), 2, "VALID", 1, 0, 0)


def test_int32_fallback_with_zero_points():
    """Tables spanning more than 16 bits (a scaled exact product) under nonzero zero points: every block int32."""
    rng = np.random.default_rng(8)
    a, w = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij")
    table = (3 * a * w).astype(np.int32)  # |3 * a * w| spans up to 3 * 255 * 128 > 65535
    x, f = _codes(rng, (3, 10, 7, 11), True), _codes(rng, (3, 3, 11, 2), True)
    _check(x, f, tf.constant(table), (2, 1), "SAME", (1, 2), -9, rng.integers(-128, 128, 22))


@pytest.mark.parametrize("name", ["mul8s_1L2N", "mul8u_17C8"])
def test_relu_codes_and_larger_windows(name):
    """Most codes equal to the zero point (after a ReLU), 5x5 and 2x2 windows (taps not unrolled), stride 2."""
    m, rng = M.get(name), np.random.default_rng(9)
    za = -128 if m.signed else 0
    x = _codes(rng, (2, 13, 12, 17), m.signed)
    x[rng.random(x.shape) < 0.6] = za
    for kh, kw, s in [(5, 5, 1), (2, 2, 2)]:
        f = _codes(rng, (kh, kw, 17, 1), m.signed)
        _check(x, f, m, s, "SAME", 1, za, int(rng.integers(-128, 128) if m.signed else rng.integers(0, 256)))
