// TF-free core of the LUT arithmetic: an integer "GEMM" whose products come from a 256x256 table.
//
//   acc[p][o] = sum_k lut[xt[p][k] * 256 + w[k][o]]
//
// xt holds activation *row indices* (code + 128 for int8, code for uint8) position-major ([P][K]: the im2col
// gather then copies whole channel runs, and a position's taps are contiguous); w holds weight *column indices*
// [K][O]. Every conv/depthwise/matmul kernel reduces to this after an im2col-style gather of its activation
// codes. Zero-point corrections are added by the caller.
#ifndef TFAXDNN_LUT_GEMM_H_
#define TFAXDNN_LUT_GEMM_H_

#include <algorithm>
#if defined(__AVX512F__) || defined(__AVX512BW__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <cstring>
#include <vector>

namespace tfaxdnn {

constexpr int kTableSize = 256;
// Output-channel block of the tap-table strategy (int32 lanes: 2 AVX-512 registers).
constexpr int kOutBlock = 32;
// Positions per work unit (measured: 1024 balances the two threads best on the ResNet-8 shapes).
constexpr int64_t kPosBlock = 1024;

// Code -> table index for the two operand types.
inline uint8_t TableIndex(int8_t v) { return static_cast<uint8_t>(v) ^ 0x80u; }
inline uint8_t TableIndex(uint8_t v) { return v; }
template <typename T>
constexpr int IndexOffset();
template <>
constexpr int IndexOffset<int8_t>() { return 128; }
template <>
constexpr int IndexOffset<uint8_t>() { return 0; }

// Smallest and largest table entry (one pass): decides int32 vs int64 accumulation and whether an int16 copy
// with one bias is exact.
struct TableRange {
  int32_t lo = 0, hi = 0;
  explicit TableRange(const int32_t* lut) : lo(lut[0]), hi(lut[0]) {
    for (int i = 1; i < kTableSize * kTableSize; ++i) lo = std::min(lo, lut[i]), hi = std::max(hi, lut[i]);
  }
  int64_t MaxAbs() const { return std::max(-int64_t(lo), int64_t(hi)); }
  bool FitsInt16() const { return int64_t(hi) - lo <= 65535; }
  int32_t Int16Bias() const { return lo + 32768; }  // entry - bias lies in int16 when FitsInt16()
};

// Per-thread scratch reused across work units.
struct LutScratch {
  std::vector<uint8_t> xt;       // [pb][K] activation indices (position-major)
  std::vector<int32_t> tap;      // [256][kOutBlock] tap table (strategy 2)
  std::vector<int64_t> acc;      // [pb][O] accumulators (int64 holds both widths)
  std::vector<int64_t> block;    // block accumulators when int64 is needed
  std::vector<int32_t> block32;  // int32 block accumulators / parked partial sums / a row of sums
};

template <typename Acc32>
std::vector<Acc32>& BlockBuffer(LutScratch* s);
template <>
inline std::vector<int32_t>& BlockBuffer<int32_t>(LutScratch* s) { return s->block32; }
template <>
inline std::vector<int64_t>& BlockBuffer<int64_t>(LutScratch* s) { return s->block; }

// Strategy 1, "gather": acc[p][o] += lut[x * 256 + w]. Best when few positions share each weight (the table
// row of x is L1-resident; the inner loop over o vectorises to gathers). Acc32 is int32 when K*max|lut| fits.
template <typename Acc32>
void LutGemmGather(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O, const int32_t* lut,
                   int64_t* acc, LutScratch* s) {
  std::vector<Acc32>& a32 = BlockBuffer<Acc32>(s);
  a32.resize(O);
  Acc32* ap = a32.data();
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xt + p * K;
    std::fill(ap, ap + O, Acc32(0));
    for (int64_t k = 0; k < K; ++k) {
      const int32_t* row = lut + int64_t(xp[k]) * kTableSize;
      const uint8_t* wk = w + k * O;
      int64_t o = 0;
#if defined(__AVX512F__)
      if constexpr (sizeof(Acc32) == 4) {  // 16 table entries per hardware gather
        for (; o + 16 <= O; o += 16) {
          const __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wk + o)));
          const __m512i v = _mm512_i32gather_epi32(idx, row, 4);
          _mm512_storeu_si512(ap + o, _mm512_add_epi32(_mm512_loadu_si512(ap + o), v));
        }
      }
#endif
      for (; o < O; ++o) ap[o] += row[wk[o]];
    }
    std::copy(ap, ap + O, acc + p * O);
  }
}

// Strategy 1b, "row permutes" (AVX-512BW): with the table as int16 (minus a bias), the activation's table row is
// 256 int16 = 8 zmm registers, and 32 lookups into it are 4 two-register word permutes (vpermi2w) blended by the
// index's bits 6 and 7. Used for few positions (Dense at small batch), where it beats hardware gathers.
// acc[p][o] = sum_k row16 + K * bias.
inline constexpr bool kHaveRowPermutes =
#if defined(__AVX512BW__)
    true;
#else
    false;
#endif

#if defined(__AVX512BW__)
// 32 int16 lookups into a 256-entry int16 row held in r[0..7] (idx: 32 x uint16 indices < 256).
__attribute__((always_inline)) inline __m512i Lookup32(const __m512i* r, __m512i idx) {
  const __mmask32 m6 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(64));
  const __mmask32 m7 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(128));
  const __m512i lo = _mm512_mask_blend_epi16(m6, _mm512_permutex2var_epi16(r[0], idx, r[1]),
                                             _mm512_permutex2var_epi16(r[2], idx, r[3]));
  const __m512i hi = _mm512_mask_blend_epi16(m6, _mm512_permutex2var_epi16(r[4], idx, r[5]),
                                             _mm512_permutex2var_epi16(r[6], idx, r[7]));
  return _mm512_mask_blend_epi16(m7, lo, hi);
}

__attribute__((always_inline)) inline void LoadRow16(const int16_t* row, __m512i* r) {
  for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_si512(row + 32 * i);
}
#endif

inline void LutGemmRows16(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O,
                          const int16_t* lut16, int32_t bias, int64_t* acc, LutScratch* s) {
#if defined(__AVX512BW__)
  s->block32.resize(O);
  int32_t* ap = s->block32.data();
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xt + p * K;
    std::fill(ap, ap + O, 0);
    for (int64_t k = 0; k < K; ++k) {
      __m512i r[8];
      LoadRow16(lut16 + int64_t(xp[k]) * kTableSize, r);
      const uint8_t* wk = w + k * O;
      int64_t o = 0;
      for (; o + 32 <= O; o += 32) {
        const __m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + o)));
        const __m512i v = Lookup32(r, idx);
        int32_t* a = ap + o;
        _mm512_storeu_si512(a, _mm512_add_epi32(_mm512_loadu_si512(a),
                                                _mm512_cvtepi16_epi32(_mm512_castsi512_si256(v))));
        _mm512_storeu_si512(a + 16, _mm512_add_epi32(_mm512_loadu_si512(a + 16),
                                                     _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(v, 1))));
      }
      const int16_t* tail = lut16 + int64_t(xp[k]) * kTableSize;
      for (; o < O; ++o) ap[o] += tail[wk[o]];
    }
    const int64_t offset = K * int64_t(bias);
    for (int64_t o = 0; o < O; ++o) acc[p * O + o] = ap[o] + offset;
  }
#else
  (void)xt, (void)P, (void)K, (void)w, (void)O, (void)lut16, (void)bias, (void)acc, (void)s;
#endif
}

// Strategy 2, "tap table": for each tap k and block of outputs build T_k[a][j] = lut[a][w[k][j]] (256 x 32),
// then stream positions with contiguous vector adds acc[p][:] += T_k[x[p][k]][:]. The table build (8192
// entries) is amortised over the P positions of the work unit. Acc32 is int32 when K*max|lut| fits.
template <typename Acc32>
void LutGemmTapTable(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O,
                     const int32_t* lut, int64_t* acc, LutScratch* s) {
  s->tap.resize(kTableSize * kOutBlock);
  int32_t* tap = s->tap.data();
  std::vector<Acc32>& blk = BlockBuffer<Acc32>(s);
  blk.resize(P * kOutBlock);
  for (int64_t ob = 0; ob < O; ob += kOutBlock) {
    const int ow = static_cast<int>(std::min<int64_t>(kOutBlock, O - ob));
    std::fill(blk.begin(), blk.end(), Acc32(0));
    for (int64_t k = 0; k < K; ++k) {
      const uint8_t* wk = w + k * O + ob;
      for (int a = 0; a < kTableSize; ++a) {
        const int32_t* row = lut + a * kTableSize;
        int32_t* t = tap + a * kOutBlock;
        for (int j = 0; j < ow; ++j) t[j] = row[wk[j]];
        for (int j = ow; j < kOutBlock; ++j) t[j] = 0;
      }
      Acc32* b = blk.data();
      for (int64_t p = 0; p < P; ++p) {
        const int32_t* t = tap + int64_t(xt[p * K + k]) * kOutBlock;
        Acc32* bp = b + p * kOutBlock;
#pragma GCC ivdep
        for (int j = 0; j < kOutBlock; ++j) bp[j] += t[j];
      }
    }
    for (int64_t p = 0; p < P; ++p)
      for (int j = 0; j < ow; ++j) acc[p * O + ob + j] = blk[p * kOutBlock + j];
  }
}

// Chooses the strategy: the tap table pays off once enough positions reuse each table.
inline void LutGemm(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O,
                    const int32_t* lut, bool need_int64, int64_t* acc, LutScratch* s) {
  const bool tap_table = P >= 256 && O >= 8;
  if (!tap_table) {
    if (need_int64) {
      LutGemmGather<int64_t>(xt, P, K, w, O, lut, acc, s);
    } else {
      LutGemmGather<int32_t>(xt, P, K, w, O, lut, acc, s);
    }
  } else if (need_int64) {
    LutGemmTapTable<int64_t>(xt, P, K, w, O, lut, acc, s);
  } else {
    LutGemmTapTable<int32_t>(xt, P, K, w, O, lut, acc, s);
  }
}

// Strategy 3, "shared int16 tap tables": tables T[k][a][j] = lut[a][w[k][ob + j]] - bias for every tap k and
// output block ob, built once per op call and shared by all threads (BuildTapTable16), int16 so that twice
// as many outputs fit a cache line. Positions are streamed with the block's accumulators in registers; taps are
// taken in chunks of kTapChunk so the chunk's tables stay cache-resident, with the partial sums parked in `park`.
// acc[p][o] = sum_k T + K * bias. Requires K * 32768 < 2^31 (checked by the caller).
constexpr int kTap16Block = 32;   // outputs per table row (one 64-byte line of int16); 16 when O <= 16
constexpr int64_t kTapChunk = 32;  // taps per chunk: 32 x 16 KiB = 512 KiB of tables

struct TapTables16 {
  int64_t K = 0, O = 0, blocks = 0;
  int width = kTap16Block;    // outputs per block: 32, or 16 when O <= 16
  int32_t bias = 0;
  std::vector<int16_t> data;  // [groups][blocks][K][256][width]
  const int16_t* Group(int64_t g) const { return data.data() + g * blocks * K * kTableSize * width; }
};

// Builds the tables of one (group, block, tap): T[a][j] for a in 0..255.
inline void BuildTapTable16(const int32_t* lut, const int16_t* lut16, int32_t bias, const uint8_t* wk, int ow,
                            int width, int16_t* t) {
#if defined(__AVX512BW__)
  if (lut16 != nullptr) {  // a table row per activation code: 32 lookups by word permutes
    uint8_t w32[32] = {0};
    std::copy(wk, wk + ow, w32);
    const __m512i idx = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w32)));
    const __mmask32 keep = ow >= 32 ? ~__mmask32(0) : ((__mmask32(1) << ow) - 1);
    for (int a = 0; a < kTableSize; ++a) {
      __m512i r[8];
      LoadRow16(lut16 + a * kTableSize, r);
      const __m512i v = _mm512_maskz_mov_epi16(keep, Lookup32(r, idx));
      if (width == 32) {
        _mm512_storeu_si512(t + a * width, v);
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(t + a * width), _mm512_castsi512_si256(v));
      }
    }
    return;
  }
#endif
  (void)lut16;
  for (int a = 0; a < kTableSize; ++a) {
    const int32_t* row = lut + a * kTableSize;
    int16_t* ta = t + a * width;
    for (int j = 0; j < ow; ++j) ta[j] = static_cast<int16_t>(row[wk[j]] - bias);
    for (int j = ow; j < width; ++j) ta[j] = 0;
  }
}

template <int B>
void LutGemmTap16Blocks(const uint8_t* xt, int64_t P, const TapTables16& tt, const int16_t* tables,
                        int64_t* acc, std::vector<int32_t>* park) {
  const int64_t K = tt.K, O = tt.O;
  park->resize(P * B);
  int32_t* pk = park->data();
  for (int64_t b = 0; b < tt.blocks; ++b) {
    const int64_t ob = b * B;
    const int ow = static_cast<int>(std::min<int64_t>(B, O - ob));
    const int16_t* tb = tables + b * K * kTableSize * B;
    for (int64_t k0 = 0; k0 < K; k0 += kTapChunk) {
      const int64_t k1 = std::min(K, k0 + kTapChunk);
      for (int64_t p = 0; p < P; ++p) {
        int32_t r[B];
        int32_t* pp = pk + p * B;
        const uint8_t* xp = xt + p * K;
#pragma GCC unroll 32
        for (int j = 0; j < B; ++j) r[j] = k0 == 0 ? 0 : pp[j];
        for (int64_t k = k0; k < k1; ++k) {
          const int16_t* t = tb + (k * kTableSize + xp[k]) * B;
#pragma GCC unroll 32
          for (int j = 0; j < B; ++j) r[j] += t[j];
        }
#pragma GCC unroll 32
        for (int j = 0; j < B; ++j) pp[j] = r[j];
      }
    }
    const int64_t offset = K * int64_t(tt.bias);
    for (int64_t p = 0; p < P; ++p)
      for (int j = 0; j < ow; ++j) acc[p * O + ob + j] = pk[p * B + j] + offset;
  }
}

inline void LutGemmTap16(const uint8_t* xt, int64_t P, const TapTables16& tt, const int16_t* tables,
                         int64_t* acc, std::vector<int32_t>* park) {
  if (tt.width == 16) {
    LutGemmTap16Blocks<16>(xt, P, tt, tables, acc, park);
  } else {
    LutGemmTap16Blocks<kTap16Block>(xt, P, tt, tables, acc, park);
  }
}

// Sum over taps of the activation codes of each position (for the weight zero-point correction).
inline void ActivationCodeSums(const uint8_t* xt, int64_t P, int64_t K, int offset, int64_t* sums) {
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xt + p * K;
    int64_t sum = -int64_t(K) * offset;
    for (int64_t k = 0; k < K; ++k) sum += xp[k];
    sums[p] = sum;
  }
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_LUT_GEMM_H_
