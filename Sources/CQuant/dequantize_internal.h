#ifndef CQUANT_INTERNAL_H
#define CQUANT_INTERNAL_H
// What the scalar and AVX2 dequantizers share: unaligned loads, fp16 scales, Q4_K/Q5_K's packed scales.
#include <stdint.h>
#include <string.h>

static inline uint16_t crma_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t crma_load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline float crma_bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// IEEE half to float, exact for every value (subnormals, infinities, NaN).
static inline float crma_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    if (exponent == 0) {
        float magnitude = (float)mantissa * 5.9604644775390625e-08f;  // mantissa · 2^-24, exact
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 31) return crma_bits_to_float(sign | 0x7f800000u | (mantissa << 13));
    return crma_bits_to_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

static inline float crma_half_at(const uint8_t *p) { return crma_half_to_float(crma_load_u16(p)); }

/// The 6-bit scale and min of sub-block j (0..<8) in the 12 packed bytes of a Q4_K/Q5_K block.
static inline void crma_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void crma_q4_01_avx2(const uint8_t *src, int64_t blocks, float *y, int has_min);
void crma_q5_0_avx2(const uint8_t *src, int64_t blocks, float *y);
void crma_q8_0_avx2(const uint8_t *src, int64_t blocks, float *y);
void crma_qk_45_avx2(const uint8_t *src, int64_t blocks, float *y, int is_q5);
void crma_q6_k_avx2(const uint8_t *src, int64_t blocks, float *y);

#endif
