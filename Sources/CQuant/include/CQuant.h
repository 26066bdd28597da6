#ifndef CQUANT_H
#define CQUANT_H
/// Dequantization of ggml's tensor blocks (ggml-common.h layouts) to fp32: the one implementation behind
/// loading a GGUF tensor and behind the quantized frozen base's weight panels.
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Writes the `count` elements stored at `src` in ggml type `type` (ggml's numbering: 0 F32, 1 F16,
/// 2 Q4_0, 3 Q4_1, 6 Q5_0, 7 Q5_1, 8 Q8_0, 12 Q4_K, 13 Q5_K, 14 Q6_K, 30 BF16) into `dst` as floats.
/// `count` must be a whole number of the type's blocks and `src` must hold exactly those blocks
/// (unaligned is fine). Returns 0, or -1 for a type it does not know (nothing written).
int crma_dequantize(uint32_t type, const void *src, int64_t count, float *dst);

/// crma_dequantize in plain C for every type (the AVX2 paths of the common types give bit-identical
/// values; tests compare them).
int crma_dequantize_scalar(uint32_t type, const void *src, int64_t count, float *dst);

/// Rows [r0, r1) of y[m×n] (+)= x[m×k] · Wᵀ (x row stride ldx, y row stride ldy) where `w` holds rows of
/// W (k elements each, `row_bytes` bytes of `type` blocks) starting at row r0: each row is dequantized
/// into `scratch` (k floats) and multiplied with every row of x while it is in cache. For the few rows of
/// decoding (m ≤ 4), where a GEMM would wait on memory anyway. Returns 0, or -1 for an unknown type.
int crma_dequantize_dot(uint32_t type, const void *w, int64_t row_bytes, int64_t r0, int64_t r1, int64_t k,
                        const float *x, int64_t m, int64_t ldx, float *y, int64_t ldy, int accumulate,
                        float *scratch);

#ifdef __cplusplus
}
#endif
#endif
