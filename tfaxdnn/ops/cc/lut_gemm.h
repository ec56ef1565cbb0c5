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
#if defined(__SSE2__) || defined(__AVX2__) || defined(__AVX512F__)
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
  // entry - bias lies in int16 when FitsInt16(); int64: lo + 32768 leaves int32 for lo >= 2^31 - 32768
  int64_t Int16Bias() const { return int64_t(lo) + 32768; }
};

// Per-thread scratch reused across work units.
struct LutScratch {
  std::vector<uint8_t> xt;       // [pb][K] activation indices (position-major)
  std::vector<int32_t> tap;      // [256][kOutBlock] tap table (strategy 2)
  std::vector<int64_t> block;    // int64 block accumulators (strategy 2)
  std::vector<int32_t> block32;  // int32 block accumulators (strategy 2) / a row of sums (strategy 1b)
  std::vector<uint16_t> tables;  // a chunk of tap tables (strategy 3)
  std::vector<uint8_t> xc;       // a chunk of xt's columns (strategy 3)
  std::vector<uint16_t> raw;     // parked 16-bit split sums of a segment (strategy 3)
  std::vector<uint32_t> park;    // parked exact sums of finished segments (strategy 3)
};

template <typename Acc>
std::vector<Acc>& BlockBuffer(LutScratch* s);
template <>
inline std::vector<int32_t>& BlockBuffer<int32_t>(LutScratch* s) { return s->block32; }
template <>
inline std::vector<int64_t>& BlockBuffer<int64_t>(LutScratch* s) { return s->block; }

// Every strategy writes acc[p][o] as Acc: int32 when the caller has proven that all sums fit (the common case),
// int64 otherwise.

// Strategy 1, "gather": acc[p][o] += lut[x * 256 + w]. Best when few positions share each weight (the table
// row of x is L1-resident; the inner loop over o vectorises to gathers).
template <typename Acc>
void LutGemmGather(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O, const int32_t* lut,
                   Acc* acc) {
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xt + p * K;
    Acc* ap = acc + p * O;
    std::fill(ap, ap + O, Acc(0));
    for (int64_t k = 0; k < K; ++k) {
      const int32_t* row = lut + int64_t(xp[k]) * kTableSize;
      const uint8_t* wk = w + k * O;
      int64_t o = 0;
#if defined(__AVX512F__)
      if constexpr (sizeof(Acc) == 4) {  // 16 table entries per hardware gather
        for (; o + 16 <= O; o += 16) {
          const __m512i idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wk + o)));
          const __m512i v = _mm512_i32gather_epi32(idx, row, 4);
          _mm512_storeu_si512(ap + o, _mm512_add_epi32(_mm512_loadu_si512(ap + o), v));
        }
      }
#endif
      for (; o < O; ++o) ap[o] += row[wk[o]];
    }
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

template <typename Acc>
void LutGemmRows16(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O, const int16_t* lut16,
                   int64_t bias, Acc* acc, LutScratch* s) {
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
    const int64_t offset = K * bias;
    for (int64_t o = 0; o < O; ++o) acc[p * O + o] = static_cast<Acc>(ap[o] + offset);
  }
#else
  (void)xt, (void)P, (void)K, (void)w, (void)O, (void)lut16, (void)bias, (void)acc, (void)s;
#endif
}

// Strategy 2, "tap table": for each tap k and block of outputs build T_k[a][j] = lut[a][w[k][j]] (256 x 32),
// then stream positions with contiguous vector adds acc[p][:] += T_k[x[p][k]][:]. The table build (8192
// entries) is amortised over the P positions of the work unit. For tables whose range exceeds 16 bits.
template <typename Acc>
void LutGemmTapTable(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O,
                     const int32_t* lut, Acc* acc, LutScratch* s) {
  s->tap.resize(kTableSize * kOutBlock);
  int32_t* tap = s->tap.data();
  std::vector<Acc>& blk = BlockBuffer<Acc>(s);
  blk.resize(P * kOutBlock);
  for (int64_t ob = 0; ob < O; ob += kOutBlock) {
    const int ow = static_cast<int>(std::min<int64_t>(kOutBlock, O - ob));
    std::fill(blk.begin(), blk.end(), Acc(0));
    for (int64_t k = 0; k < K; ++k) {
      const uint8_t* wk = w + k * O + ob;
      for (int a = 0; a < kTableSize; ++a) {
        const int32_t* row = lut + a * kTableSize;
        int32_t* t = tap + a * kOutBlock;
        for (int j = 0; j < ow; ++j) t[j] = row[wk[j]];
        for (int j = ow; j < kOutBlock; ++j) t[j] = 0;
      }
      Acc* b = blk.data();
      for (int64_t p = 0; p < P; ++p) {
        const int32_t* t = tap + int64_t(xt[p * K + k]) * kOutBlock;
        Acc* bp = b + p * kOutBlock;
#pragma GCC ivdep
        for (int j = 0; j < kOutBlock; ++j) bp[j] += t[j];
      }
    }
    for (int64_t p = 0; p < P; ++p)
      for (int j = 0; j < ow; ++j) acc[p * O + ob + j] = blk[p * kOutBlock + j];
  }
}

// The strategies for tables of any range: the tap table pays off once enough positions reuse each table.
template <typename Acc>
void LutGemm(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t O, const int32_t* lut, Acc* acc,
             LutScratch* s) {
  if (P >= 256 && O >= 8) {
    LutGemmTapTable<Acc>(xt, P, K, w, O, lut, acc, s);
  } else {
    LutGemmGather<Acc>(xt, P, K, w, O, lut, acc);
  }
}

// Strategy 3, "16-bit tap tables with split sums", for a block of B outputs: per chunk of taps build
// T[k][a][j] = lut[a][w[k][j]] - lo (lo: the table's smallest entry, so entries are uint16) in the thread's
// cache, then stream the positions with the block's sums in registers, in 16-bit lanes: `words` wraps modulo 2^16
// while `highs` sums the entries' high bytes exactly; over at most 257 taps the low bytes' sum is below 2^16, so
// the exact sum is 256 * highs + ((words - 256 * highs) mod 2^16) (SplitSum). A tap is then three 16-bit vector
// operations per 16 outputs (add, shift, add), with no widening in the inner loop. Sums of successive
// segments are parked as uint32 (exact: K * 65535 < 2^32 for the K < 65536 the caller allows). acc = sum + K * lo.
//
// The tables are built from the column-major table (ColumnTable16) by 16x16 transposes: each table costs about
// as much as streaming a few hundred positions through it, so the caller gives each block thousands.
constexpr int kTapBlock = 32;     // outputs per table row (one 64-byte line of uint16); 16 or 8 for fewer
// Tables built per chunk of taps: L2-resident together with the unit's parked sums. 128 KiB (8 taps of 32 outputs)
// measured 1.2x faster than 256 KiB and 64 KiB on 3x3 layers (4,096 positions, Zen 3 with 512 KiB of L2).
constexpr int64_t kTapChunkBytes = 128 << 10;

// dst[c][r] = convert(src[r][c]) for an R x C matrix, in tiles that keep the rows read and written cache-resident.
template <typename Src, typename Dst, typename Convert>
void TransposeTiled(const Src* src, int64_t R, int64_t C, Dst* dst, Convert convert) {
  constexpr int64_t kTile = 16;
  for (int64_t r0 = 0; r0 < R; r0 += kTile)
    for (int64_t c0 = 0; c0 < C; c0 += kTile)
      for (int64_t c = c0; c < std::min(C, c0 + kTile); ++c)
        for (int64_t r = r0; r < std::min(R, r0 + kTile); ++r) dst[c * R + r] = convert(src[r * C + c]);
}

// dst[j] = table index of src[j], j < n (a copy for uint8 codes, a sign-bit flip for int8; vectorised).
inline void CopyIndices(const uint8_t* src, int64_t n, uint8_t* dst) { std::memcpy(dst, src, n); }
inline void CopyIndices(const int8_t* __restrict src, int64_t n, uint8_t* __restrict dst) {
  for (int64_t j = 0; j < n; ++j) dst[j] = static_cast<uint8_t>(src[j]) ^ 0x80u;
}

// dst[c][r] = src[r][c] for an R x C byte matrix: 16x16 tiles by byte/word/dword/qword unpacks (scalar at the
// edges). A dense layer's weights (1024 x 256) took 0.17 ms with scalar tiles, 6 % of the layer.
inline void TransposeBytes(const uint8_t* src, int64_t R, int64_t C, uint8_t* dst) {
  int64_t r0 = 0;
#if defined(__SSE2__)
  for (; r0 + 16 <= R; r0 += 16) {
    int64_t c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) {
      __m128i r[16], a[8], b[8], q[4][4], g[2][8];
      for (int i = 0; i < 16; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + (r0 + i) * C + c0));
      for (int i = 0; i < 8; ++i) {  // columns 0-7 | 8-15 of rows 2i, 2i+1
        a[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        b[i] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
      }
      for (int i = 0; i < 4; ++i) {  // columns 0-3, 4-7, 8-11, 12-15 of rows 4i..4i+3
        q[0][i] = _mm_unpacklo_epi16(a[2 * i], a[2 * i + 1]);
        q[1][i] = _mm_unpackhi_epi16(a[2 * i], a[2 * i + 1]);
        q[2][i] = _mm_unpacklo_epi16(b[2 * i], b[2 * i + 1]);
        q[3][i] = _mm_unpackhi_epi16(b[2 * i], b[2 * i + 1]);
      }
      for (int i = 0; i < 2; ++i)  // column pairs (2m, 2m+1) of rows 8i..8i+7
        for (int j = 0; j < 4; ++j) {
          g[i][2 * j] = _mm_unpacklo_epi32(q[j][2 * i], q[j][2 * i + 1]);
          g[i][2 * j + 1] = _mm_unpackhi_epi32(q[j][2 * i], q[j][2 * i + 1]);
        }
      for (int m = 0; m < 8; ++m) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (c0 + 2 * m) * R + r0), _mm_unpacklo_epi64(g[0][m], g[1][m]));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + (c0 + 2 * m + 1) * R + r0),
                         _mm_unpackhi_epi64(g[0][m], g[1][m]));
      }
    }
    for (int64_t c = c0; c < C; ++c)
      for (int64_t r = r0; r < r0 + 16; ++r) dst[c * R + r] = src[r * C + c];
  }
#endif
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = r0; r < R; ++r) dst[c * R + r] = src[r * C + c];
}

// lut[a][w] - lo as uint16, column-major ([w][a]: a weight code's column is contiguous). Needs hi - lo <= 65535.
inline void ColumnTable16(const int32_t* lut, int32_t lo, uint16_t* columns) {
  TransposeTiled(lut, kTableSize, kTableSize, columns, [lo](int32_t v) { return static_cast<uint16_t>(v - lo); });
}

#if defined(__AVX2__)
// Transposes 16 rows of 16 uint16 in place (r[i] = row i on entry, column i on return).
inline void Transpose16x16(__m256i* r) {
  __m256i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {  // pairs of rows: columns 0-3 | 8-11 and 4-7 | 12-15
    t[i] = _mm256_unpacklo_epi16(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi16(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // quads of rows: column pairs (0,1 | 8,9), (2,3 | 10,11), ...
    u[i] = _mm256_unpacklo_epi32(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi32(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi32(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi32(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 8; ++i) {  // octets of rows: single columns (c | c + 8) of rows 0-7 and 8-15
    const int c = i % 4, h = i / 4;
    t[2 * i] = _mm256_unpacklo_epi64(u[8 * h + c], u[8 * h + 4 + c]);
    t[2 * i + 1] = _mm256_unpackhi_epi64(u[8 * h + c], u[8 * h + 4 + c]);
  }
  for (int c = 0; c < 8; ++c) {  // join the two row octets of each column
    r[c] = _mm256_permute2x128_si256(t[c], t[8 + c], 0x20);
    r[c + 8] = _mm256_permute2x128_si256(t[c], t[8 + c], 0x31);
  }
}
#endif

// Builds one tap's table T[a][j] = columns[wk[j]][a] for the rows a in [a_begin, a_end) (multiples of 16; rows
// outside are left unwritten: no index reaches them), 0 for j >= ow, B (8, 16 or 32) outputs per row, 16 columns at
// a time (the last group of an 8-wide table keeps half of each transposed row).
inline void BuildTapTable16(const uint16_t* columns, const uint8_t* wk, int ow, int B, uint16_t* t, int a_begin = 0,
                            int a_end = kTableSize) {
  static const uint16_t kZeros[kTableSize] = {0};
  for (int j0 = 0; j0 < B; j0 += 16) {
    const int width = std::min(16, B - j0);
    const uint16_t* col[16];
    for (int j = 0; j < 16; ++j) col[j] = j < width && j0 + j < ow ? columns + wk[j0 + j] * kTableSize : kZeros;
#if defined(__AVX2__)
    for (int a0 = a_begin; a0 < a_end; a0 += 16) {
      __m256i r[16];
      for (int j = 0; j < 16; ++j) r[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(col[j] + a0));
      Transpose16x16(r);
      for (int i = 0; i < 16; ++i) {
        uint16_t* row = t + (a0 + i) * B + j0;
        if (width == 16) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(row), r[i]);
        } else {
          _mm_storeu_si128(reinterpret_cast<__m128i*>(row), _mm256_castsi256_si128(r[i]));
        }
      }
    }
#else
    for (int a = a_begin; a < a_end; ++a)
      for (int j = 0; j < width; ++j) t[a * B + j0 + j] = col[j][a];
#endif
  }
}

// Distance between the tables of successive taps (uint16 entries): one cache line more than a table, so that the
// same row of successive tables (a common activation code, e.g. the zero point after a ReLU) falls in different
// L1 sets; a 16 KiB stride would put them all in one set and evict each other.
constexpr int64_t TapTableStride(int B) { return int64_t(kTableSize) * B + 32; }

// 16-bit sums and their 32-bit results, as GCC/Clang vector extensions (ymm/xmm on AVX2, halves elsewhere).
typedef uint16_t U16x16 __attribute__((vector_size(32), aligned(2)));
typedef uint16_t U16x8 __attribute__((vector_size(16), aligned(2)));
typedef uint32_t U32x8 __attribute__((vector_size(32), aligned(4)));

// The exact sum of <= 257 uint16 entries from their wrapped sum and their high bytes' sum (8 lanes).
inline U32x8 SplitSum(U16x8 words, U16x8 highs) {
  const U32x8 h = __builtin_convertvector(highs, U32x8) << 8;
  return h + ((__builtin_convertvector(words, U32x8) - h) & 0xFFFFu);
}
inline U16x8 LowHalf(U16x16 v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7); }
inline U16x8 HighHalf(U16x16 v) { return __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15); }

// The exact sums of a vector of lanes into out[] (8 lanes per U32x8); returns the number of U32x8 written.
inline int SplitSums(U16x8 words, U16x8 highs, U32x8* out) {
  out[0] = SplitSum(words, highs);
  return 1;
}
inline int SplitSums(U16x16 words, U16x16 highs, U32x8* out) {
  out[0] = SplitSum(LowHalf(words), LowHalf(highs));
  out[1] = SplitSum(HighHalf(words), HighHalf(highs));
  return 2;
}

// The vector holding a tap-table row's lanes: 8 lanes (xmm) for 8-wide blocks, 16 (ymm) otherwise. Declared
// here rather than picked with std::conditional, which drops the aligned(2) attribute (rows are only 2-byte
// aligned; an aligned load of them faults).
template <int B>
struct TapVector {
  typedef uint16_t type __attribute__((vector_size(B == 8 ? 16 : 32), aligned(2)));
};

// Split sums carry across chunks: a chunk's stream starts from the 16-bit sums the previous chunk parked ("raw":
// per position B words, then B highs) and parks them again, and the lanes are widened to exact 32-bit sums only
// once per segment of kSegmentTaps taps (FinishSegment). Widening and adding 32-bit parked sums after every chunk
// of 16 taps cost ~15 % of the stream (single-threaded harness, 3x3x32 and 3x3x64 layers).
constexpr int64_t kSegmentTaps = 256;  // <= 257: the split sums stay exact

// kOnly: the chunk is the whole problem, its sums are written to acc; kFirst / kNext: a segment's first chunk
// starts from zero, later ones from the raw sums; both park raw sums.
enum class ChunkRole { kOnly, kFirst, kNext };

// The finished sums of one position: sums[j] (exact, as uint32) + offset into acc[0..ow).
template <int B, typename Acc>
inline void WriteSums(const uint32_t* sums, int ow, int64_t offset, Acc* acc) {
  if constexpr (sizeof(Acc) == 4) {  // the caller proved the result fits int32: wrap-around arithmetic is exact
    const uint32_t off = static_cast<uint32_t>(offset);
    if (ow == B) {
      for (int j = 0; j < B; ++j) acc[j] = static_cast<int32_t>(sums[j] + off);
      return;
    }
    for (int j = 0; j < ow; ++j) acc[j] = static_cast<int32_t>(sums[j] + off);
  } else {
    for (int j = 0; j < ow; ++j) acc[j] = int64_t(sums[j]) + offset;
  }
}

// Streams positions through one chunk of nk tables. xc holds the chunk's activation indices, [P][nk].
template <int B, ChunkRole kRole, typename Acc>
void StreamTapChunk(const uint8_t* xc, int64_t P, int64_t nk, const uint16_t* tables, uint16_t* raw, int ow,
                    int64_t offset, Acc* acc) {
  using Vec = typename TapVector<B>::type;
  constexpr int V = B / (sizeof(Vec) / 2);  // vectors per block
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xc + p * nk;
    Vec* rp = reinterpret_cast<Vec*>(raw + p * 2 * B);
    Vec words[V], highs[V];
    for (int v = 0; v < V; ++v) {
      if constexpr (kRole == ChunkRole::kNext) {
        words[v] = rp[v], highs[v] = rp[V + v];
      } else {
        words[v] = Vec{}, highs[v] = Vec{};
      }
    }
    for (int64_t k = 0; k < nk; ++k) {
      const Vec* t = reinterpret_cast<const Vec*>(tables + k * TapTableStride(B) + xp[k] * B);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const Vec e = t[v];
        words[v] += e;
        highs[v] += e >> 8;
      }
    }
    if constexpr (kRole == ChunkRole::kOnly) {
      U32x8 sums[B / 8];
      for (int v = 0, n = 0; v < V; ++v) n += SplitSums(words[v], highs[v], sums + n);
      WriteSums<B, Acc>(reinterpret_cast<const uint32_t*>(sums), ow, offset, acc + p * ow);
    } else {
      for (int v = 0; v < V; ++v) rp[v] = words[v], rp[V + v] = highs[v];
    }
  }
}

// The end of a segment: its raw sums widened, added to the segments before (park), and parked again or, after the
// last segment, written (+ offset) to acc.
template <int B, typename Acc>
void FinishSegment(const uint16_t* raw, int64_t P, bool first, bool last, uint32_t* park, int ow, int64_t offset,
                   Acc* acc) {
  using Vec = typename TapVector<B>::type;
  constexpr int V = B / (sizeof(Vec) / 2);
  for (int64_t p = 0; p < P; ++p) {
    const Vec* rp = reinterpret_cast<const Vec*>(raw + p * 2 * B);
    U32x8* pp = reinterpret_cast<U32x8*>(park + p * B);
    U32x8 sums[B / 8];
    for (int v = 0, n = 0; v < V; ++v) n += SplitSums(rp[v], rp[V + v], sums + n);
    if (!first)
      for (int v = 0; v < B / 8; ++v) sums[v] += pp[v];
    if (last) {
      WriteSums<B, Acc>(reinterpret_cast<const uint32_t*>(sums), ow, offset, acc + p * ow);
    } else {
      for (int v = 0; v < B / 8; ++v) pp[v] = sums[v];
    }
  }
}

// The rows [begin, end) of the tap tables that the indices xt[0 .. n) reach, rounded out to multiples of 16.
// Activations after a ReLU under the symmetric int8 scheme never take negative codes: half of every table build
// (the rows 0-127) is then skipped.
inline void UsedRows(const uint8_t* xt, int64_t n, int* begin, int* end) {
  uint8_t lo = 255, hi = 0;
  for (int64_t i = 0; i < n; ++i) lo = std::min(lo, xt[i]), hi = std::max(hi, xt[i]);  // vectorised
  *begin = n ? lo & ~15 : 0;
  *end = n ? (hi | 15) + 1 : 0;
}

// acc[p][j] (p < P, j < ow <= B) = sum_k lut[xt[p][k]][w[k * ldw + j]], from the column-major table.
template <int B, typename Acc>
void LutGemmTapBlock(const uint8_t* xt, int64_t P, int64_t K, const uint8_t* w, int64_t ldw, int ow,
                     const uint16_t* columns, int32_t lo, Acc* acc, LutScratch* s) {
  constexpr int64_t chunk = kTapChunkBytes / (int64_t(kTableSize) * B * 2);
  static_assert(kSegmentTaps % chunk == 0, "segments end at chunk boundaries");
  // up to two chunks' taps in one (no parked sums at all: 1x1 and small layers ran 1.2x slower in two chunks)
  const int64_t chunk_taps = K <= 2 * chunk ? K : chunk;
  s->tables.resize(chunk_taps * TapTableStride(B));
  if (K > chunk_taps) s->raw.resize(P * 2 * B), s->xc.resize(P * chunk);
  if (K > kSegmentTaps) s->park.resize(P * B);
  uint16_t* tables = s->tables.data();
  uint8_t* xc = s->xc.data();
  const int64_t offset = K * int64_t(lo);
  int a_begin, a_end;
  UsedRows(xt, P * K, &a_begin, &a_end);
  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
    const int64_t nk = std::min(K - k0, chunk_taps);
    for (int64_t k = 0; k < nk; ++k)
      BuildTapTable16(columns, w + (k0 + k) * ldw, ow, B, tables + k * TapTableStride(B), a_begin, a_end);
    if (nk == K) {
      StreamTapChunk<B, ChunkRole::kOnly>(xt, P, nk, tables, nullptr, ow, offset, acc);
      return;
    }
    // the chunk's columns of xt, contiguous (a strided walk over xt misses the cache); full chunks are copied with
    // a constant size (vector moves instead of a memcpy call per position)
    if (nk == chunk) {
      for (int64_t p = 0; p < P; ++p) std::memcpy(xc + p * chunk, xt + p * K + k0, chunk);
    } else {
      for (int64_t p = 0; p < P; ++p) std::memcpy(xc + p * nk, xt + p * K + k0, nk);
    }
    if (k0 % kSegmentTaps == 0) {
      StreamTapChunk<B, ChunkRole::kFirst>(xc, P, nk, tables, s->raw.data(), ow, offset, acc);
    } else {
      StreamTapChunk<B, ChunkRole::kNext>(xc, P, nk, tables, s->raw.data(), ow, offset, acc);
    }
    if ((k0 + nk) % kSegmentTaps == 0 || k0 + nk == K)
      FinishSegment<B, Acc>(s->raw.data(), P, k0 < kSegmentTaps, k0 + nk == K, s->park.data(), ow, offset, acc);
  }
}

// Sum over taps of the activation codes of each position (for the weight zero-point correction): byte sums by
// SAD against zero where AVX2 exists.
template <typename Acc>
void ActivationCodeSums(const uint8_t* xt, int64_t P, int64_t K, int offset, Acc* sums) {
  for (int64_t p = 0; p < P; ++p) {
    const uint8_t* xp = xt + p * K;
    int64_t sum = -int64_t(K) * offset, k = 0;
#if defined(__AVX2__)
    __m256i s4 = _mm256_setzero_si256();
    for (; k + 32 <= K; k += 32)
      s4 = _mm256_add_epi64(s4, _mm256_sad_epu8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp + k)),
                                                _mm256_setzero_si256()));
    __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(s4), _mm256_extracti128_si256(s4, 1));
    for (; k + 16 <= K; k += 16)
      s2 = _mm_add_epi64(s2, _mm_sad_epu8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xp + k)), _mm_setzero_si128()));
    sum += _mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1);
#endif
    for (; k < K; ++k) sum += xp[k];
    sums[p] = static_cast<Acc>(sum);
  }
}

}  // namespace tfaxdnn

#endif  // TFAXDNN_LUT_GEMM_H_
