// TF-free core of the fast depthwise path. With one weight per (output channel, tap), every product of a tap is a
// function of the activation code alone, so each output channel j and tap k get a 256-entry table of the *corrected*
// product
//
//   T[k][j][a] = lut[a][w(k, j)] - zw[j] * code(a) - za * w(k, j) + za * zw[j]
//
// and an output is sum_k T[k][j][x(k, c(j))] with no epilogue (c(j) = j / M, the input channel). Outputs are computed
// L channels at a time. Tables are indexed by the raw code byte (no per-lookup sign flip for int8) and stored as
// uint16 minus their smallest entry m(k, j) when every table of the block spans at most 65535 (always for the exact
// product: |a * (w - zw)| spans at most 255 * 255): T16 = T - m, and the per-channel constant sum_k m(k, j) starts
// the sum. Blocks with a wider table keep int32 entries, as AVX-512 builds always do (their gathers read int32).
// Per work unit the blocks' codes of every input pixel the unit reads are copied into planes with the zero point's
// code in the padding: an output is then K uniform lookups at constant offsets, with no bounds checks.
#ifndef TFAXDNN_DEPTHWISE_LUT_H_
#define TFAXDNN_DEPTHWISE_LUT_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "lut_gemm.h"

namespace tfaxdnn {

#if defined(__AVX512F__)
constexpr int kDwLanes = 16;
constexpr bool kDwNarrow = false;  // gathers read int32 entries
#else
constexpr int kDwLanes = 8;
constexpr bool kDwNarrow = true;
#endif
constexpr int64_t kDwMaxTaps = 64;  // larger windows take the generic path
// Distance between successive channel/tap tables (entries): one cache line more than a table, so that the same
// entry of all tables of a block (a common code, e.g. the zero point after a ReLU) falls in different L1 sets.
template <typename E>
constexpr int DwStride() { return kTableSize + 64 / int(sizeof(E)); }

// NHWC input [N][H][W][C], filter [KH][KW][C][M], output [N][OH][OW][C * M].
struct DwShape {
  int64_t N, H, W, C, M, KH, KW, OH, OW, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
  int64_t Outputs() const { return C * M; }
  int64_t Taps() const { return KH * KW; }
  int64_t Blocks() const { return (C * M + kDwLanes - 1) / kDwLanes; }
  // Columns of the padded input that the outputs of a row read.
  int64_t PaddedWidth() const { return (OW - 1) * stride_w + (KW - 1) * dil_w + 1; }
};

// One channel block's tables, tab[(k * L + l) * DwStride<E>() + raw code], and the per-lane constant that starts
// each sum (the narrow tables' subtracted minima; 0 for wide ones).
struct DwTables {
  bool wide = false;
  std::vector<uint16_t> narrow;
  std::vector<int32_t> full;
  alignas(64) int32_t bias[kDwLanes];
};

// The corrected products of tap weight wc for an output channel with weight zero point z, by raw code byte
// (int8: the table's halves swapped); returns their smallest and largest value.
template <typename T>
void DwCorrected(const int32_t* columns, T wc, int32_t za, int32_t z, int32_t* v, int32_t* lo, int32_t* hi) {
  constexpr int off = IndexOffset<T>();
  const int32_t* col = columns + int64_t(TableIndex(wc)) * kTableSize;
  const int32_t shift = z * off - za * int32_t(wc) + za * z;  // - z * (a - off) - za * w + za * z
  int32_t mn = col[0] + shift, mx = mn;
  for (int h = 0; h < kTableSize; h += kTableSize / 2)  // two halves: vectorised
    for (int a = h; a < h + kTableSize / 2; ++a) {
      const int32_t e = col[a] - z * a + shift;
      v[a - h + (h ^ off)] = e;
      mn = std::min(mn, e), mx = std::max(mx, e);
    }
  *lo = mn, *hi = mx;
}

// The tables of output channels [b * L, b * L + L) (zeros for channels past C * M): narrow when every one spans at
// most 65535, else wide. columns: the multiplier table column-major ([w][a]) as int32. Entries and sums fit int32
// when the caller's bound holds.
template <typename T>
void DwBuildTables(const DwShape& s, const T* w, const int32_t* columns, int32_t za, const int32_t* zw, int64_t b,
                   DwTables* tab) {
  constexpr int L = kDwLanes;
  const int64_t CM = s.Outputs(), K = s.Taps();
  alignas(64) int32_t v[kTableSize];
  tab->wide = !kDwNarrow;
  if (!tab->wide) {
    tab->narrow.resize(K * L * DwStride<uint16_t>());
    for (int l = 0; l < L; ++l) tab->bias[l] = 0;
    for (int64_t k = 0; k < K && !tab->wide; ++k)
      for (int l = 0; l < L; ++l) {
        uint16_t* t = tab->narrow.data() + (k * L + l) * DwStride<uint16_t>();
        const int64_t j = b * L + l;
        if (j >= CM) {
          std::fill(t, t + kTableSize, 0);
          continue;
        }
        int32_t lo, hi;
        DwCorrected<T>(columns, w[k * CM + j], za, zw[j], v, &lo, &hi);
        if (int64_t(hi) - lo > 65535) {
          tab->wide = true;
          break;
        }
        for (int a = 0; a < kTableSize; ++a) t[a] = static_cast<uint16_t>(v[a] - lo);
        tab->bias[l] += lo;
      }
    if (!tab->wide) return;
  }
  tab->full.resize(K * L * DwStride<int32_t>());
  for (int l = 0; l < L; ++l) tab->bias[l] = 0;
  int32_t lo, hi;
  for (int64_t k = 0; k < K; ++k)
    for (int l = 0; l < L; ++l) {
      int32_t* t = tab->full.data() + (k * L + l) * DwStride<int32_t>();
      const int64_t j = b * L + l;
      if (j < CM) {
        DwCorrected<T>(columns, w[k * CM + j], za, zw[j], t, &lo, &hi);
      } else {
        std::fill(t, t + kTableSize, 0);
      }
    }
}

#if defined(__AVX512F__)
// 16 lanes, one hardware gather per tap (AVX-512 gathers sustain about two elements per cycle).
template <typename E>
struct DwLanes {
  static_assert(sizeof(E) == 4, "AVX-512 lanes gather int32 entries");
  __m512i acc;
  explicit DwLanes(const int32_t* bias) : acc(_mm512_load_si512(bias)) {}
  void Lookup(const E* t, const uint8_t* codes) {
    const __m512i lane_off = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(DwStride<E>()));
    const __m512i idx = _mm512_add_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes))),
                                         lane_off);
    acc = _mm512_add_epi32(acc, _mm512_i32gather_epi32(idx, t, 4));
  }
  void Store(int32_t* v) const { _mm512_storeu_si512(v, acc); }
};
#elif defined(__AVX2__)
// 8 lanes: the eight entries are inserted into one vector (vpinsrw/vpinsrd from memory, two chains of four) and
// added as a vector: 1.1-1.4x faster than eight scalar accumulators on Zen 3, whose scalar ports the index
// extraction (shift, zero-extend) already keeps busy, and than AVX2 hardware gathers (harness, same process).
template <typename E>
struct DwLanes {
  __m256i acc;
  explicit DwLanes(const int32_t* bias) : acc(_mm256_load_si256(reinterpret_cast<const __m256i*>(bias))) {}
  void Lookup(const E* t, const uint8_t* codes) {
    constexpr int S = DwStride<E>();
    uint64_t v;
    std::memcpy(&v, codes, 8);
    auto e = [&](int l) { return int(t[l * S + ((v >> (8 * l)) & 255)]); };
    __m128i lo = _mm_cvtsi32_si128(e(0)), hi = _mm_cvtsi32_si128(e(4));
    if constexpr (sizeof(E) == 2) {
      lo = _mm_insert_epi16(lo, e(1), 1), hi = _mm_insert_epi16(hi, e(5), 1);
      lo = _mm_insert_epi16(lo, e(2), 2), hi = _mm_insert_epi16(hi, e(6), 2);
      lo = _mm_insert_epi16(lo, e(3), 3), hi = _mm_insert_epi16(hi, e(7), 3);
      acc = _mm256_add_epi32(acc, _mm256_cvtepu16_epi32(_mm_unpacklo_epi64(lo, hi)));
    } else {
      lo = _mm_insert_epi32(lo, e(1), 1), hi = _mm_insert_epi32(hi, e(5), 1);
      lo = _mm_insert_epi32(lo, e(2), 2), hi = _mm_insert_epi32(hi, e(6), 2);
      lo = _mm_insert_epi32(lo, e(3), 3), hi = _mm_insert_epi32(hi, e(7), 3);
      acc = _mm256_add_epi32(acc, _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
    }
  }
  void Store(int32_t* v) const { _mm256_storeu_si256(reinterpret_cast<__m256i*>(v), acc); }
};
#else
// 8 scalar lanes (portable x86-64 builds).
template <typename E>
struct DwLanes {
  int32_t acc[8];
  explicit DwLanes(const int32_t* bias) { std::memcpy(acc, bias, sizeof(acc)); }
  void Lookup(const E* t, const uint8_t* codes) {
    for (int l = 0; l < 8; ++l) acc[l] += t[l * DwStride<E>() + codes[l]];
  }
  void Store(int32_t* v) const { std::memcpy(v, acc, sizeof(acc)); }
};
#endif

// The image segments of output rows [r0, r1) of N * OH: fn(n, oy0, oy1, py0, py1, row) for the output rows [oy0, oy1)
// of image n, which read the padded input rows [py0, py1), stored from row `row` of a code plane. Returns the plane's
// rows.
template <typename Fn>
int64_t DwSegments(const DwShape& s, int64_t r0, int64_t r1, Fn fn) {
  int64_t rows = 0;
  for (int64_t r = r0; r < r1;) {
    const int64_t n = r / s.OH, oy0 = r % s.OH, oy1 = std::min(s.OH, oy0 + (r1 - r));
    const int64_t py0 = oy0 * s.stride_h, py1 = (oy1 - 1) * s.stride_h + (s.KH - 1) * s.dil_h + 1;
    fn(n, oy0, oy1, py0, py1, rows);
    rows += py1 - py0;
    r += oy1 - oy0;
  }
  return rows;
}

// a * b and a + b for non-negative operands, saturating at the int64 maximum (sizes that cannot be allocated).
inline int64_t DwSatMul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}
inline int64_t DwSatAdd(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<int64_t>::max() : r;
}

// The scratch bytes of a unit of `rows` consecutive output rows of N * OH (rows >= 1, OW >= 1) and `blocks` channel
// blocks (DwCopyCodes: per block a plane of padded rows x PaddedWidth() x L codes; the lanes' channel map), at most,
// overflow-checked (saturating at the int64 maximum). The rows form k <= `images` segments of one image each, which
// read (rows - k) * stride_h + k * eff_h padded rows in all (DwSegments): linear in k, so the most at k = 1 or
// k = images. Huge dilations make this large for a single output (the padded window is copied whole), as does a
// wide row with few channels (every pixel takes L lanes).
inline int64_t DwUnitScratchBytes(const DwShape& s, int64_t rows, int64_t blocks) {
  const int64_t eff_h = DwSatAdd(DwSatMul(s.KH - 1, s.dil_h), 1), eff_w = DwSatAdd(DwSatMul(s.KW - 1, s.dil_w), 1);
  const int64_t width = DwSatAdd(DwSatMul(s.OW - 1, s.stride_w), eff_w);  // PaddedWidth()
  const int64_t images = std::max<int64_t>(1, std::min({rows, s.N, (rows + 2 * s.OH - 2) / s.OH}));
  const int64_t padded = std::max(DwSatAdd(DwSatMul(rows - 1, s.stride_h), eff_h),
                                  DwSatAdd(DwSatMul(rows - images, s.stride_h), DwSatMul(images, eff_h)));
  const int64_t plane = DwSatMul(DwSatMul(padded, width), kDwLanes);
  return DwSatMul(DwSatAdd(plane, kDwLanes * int64_t(sizeof(int64_t))), blocks);
}

// The codes that output rows [r0, r1) of channel blocks [b0, b1) read, one plane per block: plane[row][px][l] (rows
// as DwSegments, px < PaddedWidth()), lane l of block b reading input channel min((b * L + l) / M, C - 1), `pad` (the
// zero point's code) outside the input. The input is read once for all the blocks, pixel by pixel: copying it block
// by block re-read every pixel's cache lines once per block, from L3 when a unit's input exceeds L2 (a quarter of
// the time at stride 2). Returns the plane size. The caller bounds the unit (DwUnitScratchBytes): the sizes below
// then fit int64.
inline int64_t DwCopyCodes(const DwShape& s, const uint8_t* x, int64_t r0, int64_t r1, int64_t b0, int64_t b1,
                           uint8_t pad, std::vector<uint8_t>* buf) {
  constexpr int L = kDwLanes;
  const int64_t Wp = s.PaddedWidth(), C = s.C, row_bytes = Wp * L;
  const int64_t plane = DwSegments(s, r0, r1, [](int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {}) * row_bytes;
  buf->resize((b1 - b0) * plane);
  // blocks [b0, bc) take L contiguous channels (multiplier 1); the others one channel per lane
  const int64_t bc = s.M == 1 ? std::max(b0, std::min(b1, C / L)) : b0;
  std::vector<int64_t> chan((b1 - bc) * L);
  for (size_t i = 0; i < chan.size(); ++i) chan[i] = std::min<int64_t>((bc * L + int64_t(i)) / s.M, C - 1);
  const int64_t left = std::min(Wp, s.pad_left), right = std::max(left, std::min(Wp, s.pad_left + s.W));
  DwSegments(s, r0, r1, [&](int64_t n, int64_t, int64_t, int64_t py0, int64_t py1, int64_t row) {
    for (int64_t py = py0; py < py1; ++py) {
      const int64_t iy = py - s.pad_top;
      uint8_t* dst = buf->data() + (row + py - py0) * row_bytes;
      const bool inside = iy >= 0 && iy < s.H;
      for (int64_t b = b0; b < b1; ++b) {
        uint8_t* d = dst + (b - b0) * plane;
        if (!inside) {
          std::memset(d, pad, row_bytes);
          continue;
        }
        std::memset(d, pad, left * L);
        std::memset(d + right * L, pad, (Wp - right) * L);
      }
      if (!inside) continue;
      const uint8_t* src = x + ((n * s.H + iy) * s.W + left - s.pad_left) * C;
      for (int64_t px = left; px < right; ++px, src += C) {
        uint8_t* d = dst + px * L;
        for (int64_t b = b0; b < bc; ++b) std::memcpy(d + (b - b0) * plane, src + b * L, L);
        for (int64_t b = bc; b < b1; ++b)
          for (int l = 0; l < L; ++l) d[(b - b0) * plane + l] = src[chan[(b - bc) * L + l]];
      }
    }
  });
  return plane;
}

// Outputs of rows [r0, r1) of N * OH (all OW positions) for channel block b with tables t (kK taps; 0: s.Taps()),
// from the block's code plane.
template <typename E, int kK>
void DwRowsOf(const DwShape& s, const uint8_t* plane, const E* t, const int32_t* bias, int64_t b, int64_t r0,
              int64_t r1, int32_t* out) {
  constexpr int L = kDwLanes;
  const int64_t CM = s.Outputs(), K = kK ? kK : s.Taps(), j0 = b * L, lanes = std::min<int64_t>(L, CM - j0);
  const int64_t row_bytes = s.PaddedWidth() * L;
  int64_t off[kDwMaxTaps];  // code offsets of the taps from the window's corner
  for (int64_t ky = 0; ky < s.KH; ++ky)
    for (int64_t kx = 0; kx < s.KW; ++kx) off[ky * s.KW + kx] = ky * s.dil_h * row_bytes + kx * s.dil_w * L;
  DwSegments(s, r0, r1, [&](int64_t n, int64_t oy0, int64_t oy1, int64_t, int64_t, int64_t row) {
    for (int64_t oy = oy0; oy < oy1; ++oy) {
      const uint8_t* codes = plane + (row + (oy - oy0) * s.stride_h) * row_bytes;
      int32_t* dst = out + (n * s.OH + oy) * s.OW * CM + j0;
      for (int64_t ox = 0; ox < s.OW; ++ox, dst += CM) {
        const uint8_t* p = codes + ox * s.stride_w * L;
        DwLanes<E> acc(bias);
#pragma GCC unroll 16
        for (int64_t k = 0; k < K; ++k) acc.Lookup(t + k * L * DwStride<E>(), p + off[k]);
        if (lanes == L) {
          acc.Store(dst);
        } else {
          alignas(64) int32_t v[L];
          acc.Store(v);
          std::memcpy(dst, v, lanes * sizeof(int32_t));
        }
      }
    }
  });
}

// What the tables are built from: the filter [KH][KW][C][M], the multiplier table column-major ([w][a]) as int32,
// and the zero points.
template <typename T>
struct DwWeights {
  const T* w;
  const int32_t* columns;
  int32_t za;
  const int32_t* zw;
};

// Per-thread scratch: the tables of one block and a unit's code planes.
struct DwScratch {
  DwTables tables;
  std::vector<uint8_t> codes;
};

// Outputs of rows [r0, r1) of N * OH for channel blocks [b0, b1): their codes copied once, then block by block the
// tables built and the rows streamed through them.
template <typename T>
void DwRows(const DwShape& s, const T* x, const DwWeights<T>* wt, DwScratch* scratch, int64_t b0, int64_t b1,
            int64_t r0, int64_t r1, int32_t* out) {
  const uint8_t pad = static_cast<uint8_t>(static_cast<T>(wt->za));  // the zero point's code byte
  const int64_t plane = DwCopyCodes(s, reinterpret_cast<const uint8_t*>(x), r0, r1, b0, b1, pad, &scratch->codes);
  const bool nine = s.Taps() == 9;  // 3x3: the taps unrolled
  const DwTables& tab = scratch->tables;
  for (int64_t b = b0; b < b1; ++b) {
    DwBuildTables<T>(s, wt->w, wt->columns, wt->za, wt->zw, b, &scratch->tables);
    const uint8_t* codes = scratch->codes.data() + (b - b0) * plane;
    if constexpr (kDwNarrow) {
      if (!tab.wide) {
        const uint16_t* t = tab.narrow.data();
        nine ? DwRowsOf<uint16_t, 9>(s, codes, t, tab.bias, b, r0, r1, out)
             : DwRowsOf<uint16_t, 0>(s, codes, t, tab.bias, b, r0, r1, out);
        continue;
      }
    }
    const int32_t* t = tab.full.data();
    nine ? DwRowsOf<int32_t, 9>(s, codes, t, tab.bias, b, r0, r1, out)
         : DwRowsOf<int32_t, 0>(s, codes, t, tab.bias, b, r0, r1, out);
  }
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_DEPTHWISE_LUT_H_
