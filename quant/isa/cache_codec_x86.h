// AVX2+FMA+F16C kernels of the latent-cache codec (runtime/cache/cache_codec.h); defined in cache_codec_avx2.cpp, only on
// x86-64 builds. Callers check the CPU first. Pure functions, thread-safe.
#pragma once
#include <cstdint>

namespace latte::cc_avx2 {

void decode_f16(const uint16_t* src, int64_t n, float* dst);
void decode_bf16(const uint16_t* src, int64_t n, float* dst);
void decode_q8(const uint8_t* blocks, int64_t nb, float* dst);  // nb blocks of {f16 d; int8 q[32]} -> 32*nb
void decode_q4(const uint8_t* blocks, int64_t nb, float* dst);  // nb blocks of {f16 d; u8 nib[16]} -> 32*nb
// out[i] = Σ_k row[k] · q[i*qstride + k], i < nq.
void dot_multi(const float* row, int64_t n, const float* q, int64_t qstride, int64_t nq, float* out);
// acc[i*acc_stride + k] += coef[i*coef_stride] · x[k], i < nq (coefficients of 0 skipped).
void axpy_multi(const float* x, int64_t n, const float* coef, int64_t coef_stride, int64_t nq, float* acc,
                int64_t acc_stride);

}  // namespace latte::cc_avx2
