// TfaxQuantize kernel: float values -> codes (optionally through a code map) in one pass. An approximate layer
// quantised its input and kernel with ~20 small TF ops (divide, round, add, clip, cast, gather); at batch 1 their
// dispatch cost more than the layer's LUT op. (The dequantised values are only needed by the straight-through
// gradient, which computes them itself.)
#include <cmath>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernel_utils.h"

namespace tfaxdnn {
using namespace tensorflow;  // NOLINT

// Codes of the elements [0, len) with scale s[j * kStep] and zero point z[j * kStep] (kStep 0: per tensor, 1: per
// channel); `code_map` (or null) maps the clipped code's table index to the code used.
template <typename T, int kStep>
void QuantizeRun(const float* v, const float* s, const int32_t* z, int64_t len, float lo, float hi,
                 const int32_t* code_map, T* codes) {
  constexpr int off = IndexOffset<T>();
  int64_t j = 0;
#if defined(__AVX2__)
  // 8 at a time: the same IEEE divide and half-to-even rounding as the scalar loop (GCC does not vectorise it)
  const __m256 lo8 = _mm256_set1_ps(lo), hi8 = _mm256_set1_ps(hi);
  for (; j + 8 <= len; j += 8) {
    const __m256 s8 = kStep ? _mm256_loadu_ps(s + j) : _mm256_set1_ps(s[0]);
    const __m256 z8 = kStep ? _mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + j)))
                            : _mm256_set1_ps(static_cast<float>(z[0]));
    const __m256 ratio = _mm256_div_ps(_mm256_loadu_ps(v + j), s8);
    __m256 r = _mm256_add_ps(_mm256_round_ps(ratio, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), z8);
    r = _mm256_blendv_ps(r, z8, _mm256_cmp_ps(r, r, _CMP_UNORD_Q));  // NaN: the zero point
    __m256i q = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo8), hi8));  // integral: exact
    if (code_map) q = _mm256_i32gather_epi32(code_map, _mm256_add_epi32(q, _mm256_set1_epi32(off)), 4);
    const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i bytes = off ? _mm_packs_epi16(words, words) : _mm_packus_epi16(words, words);  // codes: exact
    _mm_storel_epi64(reinterpret_cast<__m128i*>(codes + j), bytes);
  }
#endif
  for (; j < len; ++j) {
    const float zj = static_cast<float>(z[j * kStep]);
    float r = __builtin_roundevenf(v[j] / s[j * kStep]) + zj;  // TF's Round: half to even
    r = r != r ? zj : r;
    const int32_t q = static_cast<int32_t>(std::min(std::max(r, lo), hi));
    codes[j] = static_cast<T>(code_map ? code_map[q + off] : q);
  }
}

template <typename T>
class QuantizeOp : public OpKernel {
 public:
  explicit QuantizeOp(OpKernelConstruction* c) : OpKernel(c) {
    int64_t lo, hi;
    OP_REQUIRES_OK(c, c->GetAttr("clip_min", &lo));
    OP_REQUIRES_OK(c, c->GetAttr("clip_max", &hi));
    constexpr int64_t tmin = std::numeric_limits<T>::min(), tmax = std::numeric_limits<T>::max();
    OP_REQUIRES(c, tmin <= lo && lo <= hi && hi <= tmax,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": clip range [", lo, ", ", hi, "] must lie in [", tmin,
                                                        ", ", tmax, "] (the code type)")));
    lo_ = static_cast<float>(lo), hi_ = static_cast<float>(hi);
  }

  void Compute(OpKernelContext* ctx) override { GuardAllocations(ctx, kOp, [&] { Run(ctx); }); }

 private:
  void Run(OpKernelContext* ctx) {
    const Tensor& values = ctx->input(0);
    const Tensor& scale = ctx->input(1);
    const Tensor& zero_point = ctx->input(2);
    const Tensor& code_map = ctx->input(3);
    const int64_t n = scale.NumElements(), size = values.NumElements();
    OP_REQUIRES(ctx, scale.dims() <= 1 && n >= 1,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": scale must be a scalar or a non-empty vector, got "
                                                        "shape ", ShapeStr(scale))));
    OP_REQUIRES(ctx, zero_point.dims() <= 1 && zero_point.NumElements() == n,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": zero_point must have the scale's ", n,
                                                        " elements, got shape ", ShapeStr(zero_point))));
    OP_REQUIRES(ctx, size % n == 0,
                absl::InvalidArgumentError(absl::StrCat(kOp, ": ", n, " per-channel scales do not divide values of "
                                                        "shape ", ShapeStr(values))));
    OP_REQUIRES(ctx, code_map.dims() == 1 && (code_map.NumElements() == 0 || code_map.NumElements() == kTableSize),
                absl::InvalidArgumentError(absl::StrCat(kOp, ": code_map must have shape [256] or [0], got ",
                                                        ShapeStr(code_map))));
    const int32_t* map = code_map.NumElements() ? code_map.flat<int32_t>().data() : nullptr;
    if (map) {
      for (int i = 0; i < kTableSize; ++i)
        OP_REQUIRES(ctx, map[i] >= std::numeric_limits<T>::min() && map[i] <= std::numeric_limits<T>::max(),
                    absl::InvalidArgumentError(absl::StrCat(kOp, ": code_map[", i, "] = ", map[i],
                                                            " is not a code of the output type")));
    }
    Tensor* codes = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, values.shape(), &codes));
    const float* v = values.flat<float>().data();
    const float* s = scale.flat<float>().data();
    const int32_t* z = zero_point.flat<int32_t>().data();
    T* c = codes->flat<T>().data();
    const float lo = lo_, hi = hi_;
    // shards of whole channel rows (per channel) or of any elements (per tensor)
    const int64_t rows = size / n, row_cost = 8 * n;
    auto work = [&](int64_t begin, int64_t end) {
      if (n == 1) {
        QuantizeRun<T, 0>(v + begin, s, z, end - begin, lo, hi, map, c + begin);
        return;
      }
      for (int64_t r = begin; r < end; ++r)
        QuantizeRun<T, 1>(v + r * n, s, z, n, lo, hi, map, c + r * n);
    };
    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    pool->ParallelFor(rows, row_cost, work);
  }

  static constexpr const char* kOp = "TfaxQuantize";
  float lo_ = 0, hi_ = 0;
};

TFAX_REGISTER_CODE_KERNELS("TfaxQuantize", QuantizeOp);

}  // namespace tfaxdnn
