#ifndef CBF16_H
#define CBF16_H
/// bf16 GEMMs with fp32 accumulation for the frozen base model (oneDNN's matmul), on CPUs with
/// AVX512-BF16. Matrices are row-major; a weight matrix is converted to bf16 once, and activations are
/// rounded to bf16 (round to nearest even) per call.
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU has AVX512F and AVX512-BF16 (cpuid) and the OS saves ZMM state (xgetbv), else 0.
int crma_bf16_cpu_supported(void);

/// 1 when this process may make freshly written memory executable (oneDNN generates its kernels at run
/// time); 0 under a W^X policy such as systemd's MemoryDenyWriteExecute=yes.
int crma_bf16_jit_allowed(void);

/// oneDNN's name for the instruction set it will use (e.g. "avx512_core_bf16").
const char *crma_bf16_isa_name(void);

/// Threads oneDNN's OpenMP runtime uses.
void crma_bf16_set_threads(int threads);

/// Rounds `count` floats to bf16 (round to nearest even; NaN stays NaN).
void crma_bf16_from_f32(const float *src, uint16_t *dst, int64_t count);

/// Widens `count` bf16 values to floats (exact).
void crma_bf16_to_f32(const uint16_t *src, float *dst, int64_t count);

/// y[m×n] (+)= x[m×k] · Wᵀ with W[n×k] in bf16 (a linear layer's forward pass); x is rounded to bf16
/// in a per-thread buffer. Returns 0, or a oneDNN status on failure.
int crma_bf16_gemm_xwt(const float *x, int64_t m, int64_t k, const uint16_t *w, int64_t n, float *y, int accumulate);

/// y[m×n] (+)= x[m×k] · W with W[k×n] in bf16 (a linear layer's input gradient); x is rounded to bf16
/// in a per-thread buffer. Returns 0, or a oneDNN status on failure.
int crma_bf16_gemm_xw(const float *x, int64_t m, int64_t k, const uint16_t *w, int64_t n, float *y, int accumulate);

/// Elements of W[n×k] in oneDNN's blocked layout BA16a64b2a of Wᵀ: n rounded up to 64, k to 32.
int64_t crma_bf16_blocked_count(int64_t n, int64_t k);

/// k rounded up as the blocked layout pads it (to 32).
int64_t crma_bf16_blocked_padded_k(int64_t k);

/// Copies W[n×k] (bf16, row-major) into `blocked` (crma_bf16_blocked_count elements; padding zeroed).
void crma_bf16_pack_blocked(const uint16_t *w, int64_t n, int64_t k, uint16_t *blocked);

/// The inverse of crma_bf16_pack_blocked: W[n×k] row-major from its blocked layout.
void crma_bf16_unpack_blocked(const uint16_t *blocked, int64_t n, int64_t k, uint16_t *w);

/// Row `row` of W[n×k] widened to floats (exact) from its blocked layout.
void crma_bf16_blocked_row_to_f32(const uint16_t *blocked, int64_t k, int64_t row, float *out);

/// crma_bf16_gemm_xwt with W in its blocked layout, which oneDNN reads without copying it into blocks
/// first. Returns 0, or a oneDNN status on failure.
int crma_bf16_gemm_xwt_blocked(const float *x, int64_t m, int64_t k, const uint16_t *blocked, int64_t n, float *y,
                               int accumulate);

/// oneDNN's name for the implementation it runs for x[m×k] · Wᵀ (W[n×k] plain or blocked), e.g.
/// "brg:avx512_core_bf16"; "ref:any" would be its slow reference code.
const char *crma_bf16_gemm_implementation(int64_t m, int64_t k, int64_t n, int blocked);

/// Panels [p0, p1) (64 rows of W each) of y[m×n] (+)= xb[m×k] · Wᵀ (row stride ldy) with W in its
/// blocked layout, for m ≤ 4 rows of x already in bf16, each padded with zeros to crma_bf16_blocked_padded_k(k).
/// Needs AVX512-BF16.
void crma_bf16_gemv_xwt_blocked(const uint16_t *xb, int64_t m, int64_t k, const uint16_t *blocked, int64_t n,
                                int64_t p0, int64_t p1, float *y, int64_t ldy, int accumulate);

/// Rows [n0, n1) of y[m×n] (+)= xb[m×k] · Wᵀ (row stride ldy) for m ≤ 4 rows of x already in bf16, with
/// W[n×k] in bf16: the matrix-vector products of decoding, bounded by memory bandwidth. Needs AVX512-BF16.
void crma_bf16_gemv_xwt(const uint16_t *xb, int64_t m, int64_t k, const uint16_t *w, int64_t n0, int64_t n1, float *y,
                        int64_t ldy, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
