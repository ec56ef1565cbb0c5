// TF-free core of the fast depthwise path. With one weight per (output channel, tap), every product of a tap is a
// function of the activation code alone, so each output channel j and tap k get a 256-entry table of the *corrected*
// product
//
//   T[k][j][a] = lut[a][w(k, j)] - zw[j] * code(a) - za * w(k, j) + za * zw[j]
//
// and an output is sum_k T[k][j][x(k, c(j))] with no epilogue (c(j) = j / M, the input channel). Outputs are computed
// L channels at a time (8 scalar lanes; 16 with one hardware gather per tap on AVX-512), reading the activation codes
// straight from the NHWC input (no im2col); padded taps add the table entry of the zero point's code.
#ifndef TFAXDNN_DEPTHWISE_LUT_H_
#define TFAXDNN_DEPTHWISE_LUT_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "lut_gemm.h"

namespace tfaxdnn {

#if defined(__AVX512F__)
constexpr int kDwLanes = 16;
#else
constexpr int kDwLanes = 8;
#endif
constexpr int64_t kDwMaxTaps = 64;  // larger windows take the generic path
// Distance between successive channel/tap tables (int32 entries): one cache line more than a table, so that the same
// entry of all tables of a block (a common code, e.g. the zero point after a ReLU) falls in different L1 sets, as for
// the tap tables. (Measured neutral on Zen 3, where few distinct codes are ~2x slower than random ones either way.)
constexpr int kDwStride = kTableSize + 16;

// NHWC input [N][H][W][C], filter [KH][KW][C][M], output [N][OH][OW][C * M].
struct DwShape {
  int64_t N, H, W, C, M, KH, KW, OH, OW, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int64_t Outputs() const { return C * M; }
  int64_t Taps() const { return KH * KW; }
  int64_t Blocks() const { return (C * M + kDwLanes - 1) / kDwLanes; }
  int64_t TableEntries() const { return Taps() * kDwLanes * kDwStride; }  // one block's tables
};

// The tables of output channels [b * L, b * L + L): tab[(k * L + l) * kDwStride + a] (zeros for channels past C * M).
// columns: the multiplier table column-major ([w][a]) as int32. Entries fit int32 when the caller's bound holds.
template <typename T>
void DwBuildTables(const DwShape& s, const T* w, const int32_t* columns, int32_t za, const int32_t* zw, int64_t b,
                   int32_t* tab) {
  const int off = IndexOffset<T>();
  const int64_t CM = s.Outputs();
  for (int64_t k = 0; k < s.Taps(); ++k)
    for (int l = 0; l < kDwLanes; ++l) {
      int32_t* t = tab + (k * kDwLanes + l) * kDwStride;
      const int64_t j = b * kDwLanes + l;
      if (j >= CM) {
        std::fill(t, t + kTableSize, 0);
        continue;
      }
      const T wc = w[k * CM + j];
      const int32_t* col = columns + int64_t(TableIndex(wc)) * kTableSize;
      const int32_t z = zw[j], shift = z * off - za * int32_t(wc) + za * z;  // - z * (a - off) - za * w + za * z
#pragma GCC ivdep
      for (int a = 0; a < kTableSize; ++a) t[a] = col[a] - z * a + shift;
    }
}

#if defined(__AVX512F__)
// 16 lanes, one hardware gather per tap (AVX-512 gathers sustain about two elements per cycle).
struct DwLanes {
  static constexpr int L = 16;
  __m512i acc = _mm512_setzero_si512();
  const __m512i lane_off = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                              _mm512_set1_epi32(kDwStride));
  void Add(const int32_t* v) { acc = _mm512_add_epi32(acc, _mm512_loadu_si512(v)); }
  template <typename T>
  void Lookup(const int32_t* base, const uint8_t* bytes) {
    const __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes)),  // -> table indices
                                    _mm_set1_epi8(static_cast<char>(IndexOffset<T>())));
    acc = _mm512_add_epi32(acc, _mm512_i32gather_epi32(_mm512_add_epi32(_mm512_cvtepu8_epi32(b), lane_off), base, 4));
  }
  void Store(int32_t* v) const { _mm512_storeu_si512(v, acc); }
};
#else
// 8 lanes of scalar lookups into registers: about one load per lookup (eight codes come in one load), as fast as
// AVX2 hardware gathers on Zen 3 (measured: ~0.65 ns per lookup either way) and portable to any x86-64.
struct DwLanes {
  static constexpr int L = 8;
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;  // separate: no auto-vectorised gathers
  void Add(const int32_t* v) {
    a0 += v[0], a1 += v[1], a2 += v[2], a3 += v[3], a4 += v[4], a5 += v[5], a6 += v[6], a7 += v[7];
  }
  template <typename T>
  void Lookup(const int32_t* base, const uint8_t* bytes) {
    uint64_t v;
    std::memcpy(&v, bytes, 8);
    v ^= 0x0101010101010101ull * IndexOffset<T>();  // codes -> table indices
    a0 += base[0 * kDwStride + (v & 255)], a1 += base[1 * kDwStride + ((v >> 8) & 255)];
    a2 += base[2 * kDwStride + ((v >> 16) & 255)], a3 += base[3 * kDwStride + ((v >> 24) & 255)];
    a4 += base[4 * kDwStride + ((v >> 32) & 255)], a5 += base[5 * kDwStride + ((v >> 40) & 255)];
    a6 += base[6 * kDwStride + ((v >> 48) & 255)], a7 += base[7 * kDwStride + (v >> 56)];
  }
  void Store(int32_t* v) const {
    v[0] = a0, v[1] = a1, v[2] = a2, v[3] = a3, v[4] = a4, v[5] = a5, v[6] = a6, v[7] = a7;
  }
};
#endif
static_assert(DwLanes::L == kDwLanes, "lane count");

// Outputs of rows [r0, r1) of N * OH (all OW positions) for the channel block b, whose tables are `tab`.
// x_end: one past the input tensor (reads of a block's codes never cross it).
template <typename T>
void DwRows(const DwShape& s, const T* x, const T* x_end, const int32_t* tab, int64_t b, int64_t r0, int64_t r1,
            uint8_t pad_index, int32_t* out) {
  constexpr int L = kDwLanes;
  const int64_t CM = s.Outputs(), K = s.Taps(), j0 = b * L, lanes = std::min<int64_t>(L, CM - j0);
  const int64_t c0 = j0 / s.M;  // input channel of lane 0
  uint8_t sel[L];                // lane l reads input channel c0 + sel[l] (sel[l] <= l)
  for (int l = 0; l < L; ++l) sel[l] = static_cast<uint8_t>(std::min<int64_t>((j0 + l) / s.M, s.C - 1) - c0);
  alignas(64) int32_t pad[kDwMaxTaps * L];  // the padded taps' contributions
  const uint8_t* end = reinterpret_cast<const uint8_t*>(x_end);
  for (int64_t k = 0; k < K; ++k)
    for (int l = 0; l < L; ++l) pad[k * L + l] = tab[(k * L + l) * kDwStride + pad_index];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / s.OH, oy = r % s.OH;
    for (int64_t ox = 0; ox < s.OW; ++ox) {
      DwLanes acc;
      for (int64_t ky = 0; ky < s.KH; ++ky) {
        const int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dil_h;
        for (int64_t kx = 0; kx < s.KW; ++kx) {
          const int64_t k = ky * s.KW + kx, ix = ox * s.stride_w - s.pad_left + kx * s.dil_w;
          if (iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) {
            acc.Add(pad + k * L);
            continue;
          }
          // the L codes at p (lane l reads byte sel[l] when M > 1), through a buffer near the end of the input
          const uint8_t* p = reinterpret_cast<const uint8_t*>(x + ((n * s.H + iy) * s.W + ix) * s.C + c0);
          alignas(16) uint8_t bytes[L];
          if (s.M != 1 || p + L > end) {
            for (int l = 0; l < L; ++l) bytes[l] = p + sel[l] < end ? p[sel[l]] : 0;
            p = bytes;
          }
          acc.Lookup<T>(tab + k * L * kDwStride, p);
        }
      }
      int32_t* dst = out + (r * s.OW + ox) * CM + j0;
      if (lanes == L) {
        acc.Store(dst);
      } else {
        alignas(64) int32_t v[L];
        acc.Store(v);
        std::memcpy(dst, v, lanes * sizeof(int32_t));
      }
    }
  }
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_DEPTHWISE_LUT_H_
