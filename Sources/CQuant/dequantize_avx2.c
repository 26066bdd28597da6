// AVX2 versions of the block types the fetched models use (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K): the
// same operations in the same order as the scalar code in dequantize.c (one multiply, then one add or
// subtract, no fused multiply-add), so the values are bit-identical to it (DequantizeKernelTests checks this).
#include "dequantize_internal.h"

#include <immintrin.h>

/// 32 bytes holding small unsigned integers → 32 floats `a·q + b` (b may be negative), in 4 stores.
static inline void affine_u8x32(__m256i q, float a, float b, float *out) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int i = 0; i < 4; i++) {
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[i]));
        _mm256_storeu_ps(out + 8 * i, _mm256_add_ps(_mm256_mul_ps(va, f), vb));
    }
}

/// Byte i of the result is 0xFF where bit i of x is set, else 0.
static inline __m256i bits_to_bytes(uint32_t x) {
    __m256i v = _mm256_set1_epi32((int)x);
    // Byte i takes byte i/8 of x ...
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL);
    v = _mm256_shuffle_epi8(v, spread);
    // ... then every bit but bit i%8 is set: the byte is all ones exactly where that bit was.
    const __m256i others = _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL);
    return _mm256_cmpeq_epi8(_mm256_or_si256(v, others), _mm256_set1_epi64x(-1));
}

/// The 16 bytes of a 32-element block's nibbles as 32 bytes: low nibbles (elements 0..15), then high.
static inline __m256i nibbles_32(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

void crma_q4_01_avx2(const uint8_t *src, int64_t blocks, float *y, int has_min) {
    int stride = has_min ? 20 : 18, qs_at = has_min ? 4 : 2;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * stride;
        float d = crma_half_at(blk), m = has_min ? crma_half_at(blk + 2) : -8 * d;
        affine_u8x32(nibbles_32(blk + qs_at), d, m, y + b * 32);
    }
}

void crma_q5_0_avx2(const uint8_t *src, int64_t blocks, float *y) {
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * 22;
        float d = crma_half_at(blk), m = -16 * d;
        __m256i high = _mm256_and_si256(bits_to_bytes(crma_load_u32(blk + 2)), bit4);
        affine_u8x32(_mm256_or_si256(nibbles_32(blk + 6), high), d, m, y + b * 32);
    }
}

void crma_q8_0_avx2(const uint8_t *src, int64_t blocks, float *y) {
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * 34;
        const __m256 vd = _mm256_set1_ps(crma_half_at(blk));
        __m128i lo = _mm_loadu_si128((const __m128i *)(blk + 2)), hi = _mm_loadu_si128((const __m128i *)(blk + 18));
        __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int i = 0; i < 4; i++) {
            __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[i]));
            _mm256_storeu_ps(y + b * 32 + 8 * i, _mm256_mul_ps(vd, f));
        }
    }
}

void crma_qk_45_avx2(const uint8_t *src, int64_t blocks, float *y, int is_q5) {
    int stride = is_q5 ? 176 : 144;
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * stride, *scales = blk + 4, *qs = blk + (is_q5 ? 48 : 16);
        float d = crma_half_at(blk), dmin = crma_half_at(blk + 2), *out = y + b * 256;
        __m256i qh = is_q5 ? _mm256_loadu_si256((const __m256i *)(blk + 16)) : _mm256_setzero_si256();
        for (int group = 0; group < 4; group++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * group));
            for (int half = 0; half < 2; half++) {
                int sub = 2 * group + half;
                uint8_t sc, mn;
                crma_scale_min_k4(sub, scales, &sc, &mn);
                float dl = d * (float)sc, ml = dmin * (float)mn;
                __m256i q = half ? _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4) : _mm256_and_si256(bytes, low4);
                if (is_q5) {
                    // Bit `sub` of each qh byte becomes bit 4 (16-bit shifts: only bit 0 of each byte is kept).
                    __m256i bit = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(sub)), one);
                    q = _mm256_or_si256(q, _mm256_slli_epi16(bit, 4));
                }
                affine_u8x32(q, dl, -ml, out + 64 * group + 32 * half);
            }
        }
    }
}

/// 32 bytes of 6-bit codes → 32 floats (d·sc)·(q − 32), the first 16 with scale s0, the rest with s1.
static inline void q6_32(__m256i q, float a0, float a1, float *out) {
    const __m256i offset = _mm256_set1_epi32(32);
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int i = 0; i < 4; i++) {
        __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[i]), offset));
        _mm256_storeu_ps(out + 8 * i, _mm256_mul_ps(_mm256_set1_ps(i < 2 ? a0 : a1), f));
    }
}

void crma_q6_k_avx2(const uint8_t *src, int64_t blocks, float *y) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * 210;
        float d = crma_half_at(blk + 208), *out = y + b * 256;
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = blk + 64 * n, *qhp = blk + 128 + 32 * n;
            const int8_t *sc = (const int8_t *)(blk + 192 + 8 * n);
            float *o = out + 128 * n;
            __m256i a = _mm256_loadu_si256((const __m256i *)ql), c = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)qhp);
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(h, low2), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), low2), 4);
            __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), low2), 4);
            __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), low2), 4);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(a, low4), h0);
            __m256i q2 = _mm256_or_si256(_mm256_and_si256(c, low4), h1);
            __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), low4), h2);
            __m256i q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), low4), h3);
            q6_32(q1, d * (float)sc[0], d * (float)sc[1], o);
            q6_32(q2, d * (float)sc[2], d * (float)sc[3], o + 32);
            q6_32(q3, d * (float)sc[4], d * (float)sc[5], o + 64);
            q6_32(q4, d * (float)sc[6], d * (float)sc[7], o + 96);
        }
    }
}
