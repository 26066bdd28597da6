#include "CQuant.h"
#include "dequantize_internal.h"

// Each block stores one or two fp16 scales and packed integer codes. The loops over a block's elements
// are written so the compiler vectorises them; the per-block scale arithmetic is scalar.

static void f32(const uint8_t *src, int64_t n, float *y) { memcpy(y, src, (size_t)n * 4); }

static void f16(const uint8_t *src, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = crma_half_at(src + 2 * i);
}

static void bf16(const uint8_t *src, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = crma_bits_to_float((uint32_t)crma_load_u16(src + 2 * i) << 16);
}

static void q8_0(const uint8_t *src, int64_t blocks, float *y) {
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * 34;
        float d = crma_half_at(blk), *out = y + b * 32;
        const int8_t *q = (const int8_t *)(blk + 2);
        for (int j = 0; j < 32; j++) out[j] = d * (float)q[j];
    }
}

/// Q4_0 (has_min 0: value = d·q − 8d) and Q4_1 (value = d·q + m).
static void q4_01(const uint8_t *src, int64_t blocks, float *y, int has_min) {
    int stride = has_min ? 20 : 18, qs_at = has_min ? 4 : 2;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * stride, *qs = blk + qs_at;
        float d = crma_half_at(blk), m = has_min ? crma_half_at(blk + 2) : -8 * d, *out = y + b * 32;
        for (int j = 0; j < 16; j++) {
            out[j] = d * (float)(qs[j] & 0xF) + m;
            out[j + 16] = d * (float)(qs[j] >> 4) + m;
        }
    }
}

/// Q5_0 (value = d·q − 16d) and Q5_1 (value = d·q + m); the fifth bits sit in a 32-bit word.
static void q5_01(const uint8_t *src, int64_t blocks, float *y, int has_min) {
    int stride = has_min ? 24 : 22, qh_at = has_min ? 4 : 2;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * stride, *qs = blk + qh_at + 4;
        float d = crma_half_at(blk), m = has_min ? crma_half_at(blk + 2) : -16 * d, *out = y + b * 32;
        uint32_t qh = crma_load_u32(blk + qh_at);
        for (int j = 0; j < 16; j++) {
            int h0 = (int)((qh >> j) & 1u) << 4, h1 = (int)((qh >> (j + 16)) & 1u) << 4;
            out[j] = d * (float)((qs[j] & 0xF) | h0) + m;
            out[j + 16] = d * (float)((qs[j] >> 4) | h1) + m;
        }
    }
}

/// Q4_K and Q5_K: 256 elements in 8 sub-blocks of 32, each with a 6-bit scale and min.
static void qk_45(const uint8_t *src, int64_t blocks, float *y, int is_q5) {
    int stride = is_q5 ? 176 : 144;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * stride, *scales = blk + 4, *qh = blk + 16, *qs = blk + (is_q5 ? 48 : 16);
        float d = crma_half_at(blk), dmin = crma_half_at(blk + 2), *out = y + b * 256;
        for (int group = 0; group < 4; group++) {  // 64 elements: low nibbles, then high nibbles of 32 bytes
            for (int half = 0; half < 2; half++) {
                int sub = 2 * group + half;
                uint8_t sc, mn;
                crma_scale_min_k4(sub, scales, &sc, &mn);
                float dl = d * (float)sc, ml = dmin * (float)mn;
                const uint8_t *q = qs + 32 * group;
                float *o = out + 64 * group + 32 * half;
                for (int l = 0; l < 32; l++) {
                    int v = half ? q[l] >> 4 : q[l] & 0xF;
                    if (is_q5) v |= ((qh[l] >> sub) & 1) << 4;
                    o[l] = dl * (float)v - ml;
                }
            }
        }
    }
}

/// Q6_K: 256 elements, 4 low bits in ql, 2 high bits in qh, 16 signed 8-bit scales, one fp16 d.
static void q6_k(const uint8_t *src, int64_t blocks, float *y) {
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *blk = src + b * 210;
        float d = crma_half_at(blk + 208), *out = y + b * 256;
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = blk + 64 * n, *qh = blk + 128 + 32 * n;
            const int8_t *sc = (const int8_t *)(blk + 192 + 8 * n);
            float *o = out + 128 * n;
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                o[l] = d * (float)sc[s] * (float)q1;
                o[l + 32] = d * (float)sc[s + 2] * (float)q2;
                o[l + 64] = d * (float)sc[s + 4] * (float)q3;
                o[l + 96] = d * (float)sc[s + 6] * (float)q4;
            }
        }
    }
}

int crma_dequantize_scalar(uint32_t type, const void *src, int64_t count, float *dst) {
    const uint8_t *s = (const uint8_t *)src;
    switch (type) {
    case 0: f32(s, count, dst); return 0;
    case 1: f16(s, count, dst); return 0;
    case 30: bf16(s, count, dst); return 0;
    case 2: q4_01(s, count / 32, dst, 0); return 0;
    case 3: q4_01(s, count / 32, dst, 1); return 0;
    case 6: q5_01(s, count / 32, dst, 0); return 0;
    case 7: q5_01(s, count / 32, dst, 1); return 0;
    case 8: q8_0(s, count / 32, dst); return 0;
    case 12: qk_45(s, count / 256, dst, 0); return 0;
    case 13: qk_45(s, count / 256, dst, 1); return 0;
    case 14: q6_k(s, count / 256, dst); return 0;
    default: return -1;
    }
}

int crma_dequantize(uint32_t type, const void *src, int64_t count, float *dst) {
    const uint8_t *s = (const uint8_t *)src;
    switch (type) {
    case 2: crma_q4_01_avx2(s, count / 32, dst, 0); return 0;
    case 3: crma_q4_01_avx2(s, count / 32, dst, 1); return 0;
    case 6: crma_q5_0_avx2(s, count / 32, dst); return 0;
    case 8: crma_q8_0_avx2(s, count / 32, dst); return 0;
    case 12: crma_qk_45_avx2(s, count / 256, dst, 0); return 0;
    case 13: crma_qk_45_avx2(s, count / 256, dst, 1); return 0;
    case 14: crma_q6_k_avx2(s, count / 256, dst); return 0;
    default: return crma_dequantize_scalar(type, src, count, dst);
    }
}

/// Σ a[i]·b[i] in 16 interleaved partial sums (vectorised), then the tail.
static float dot(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

int crma_dequantize_dot(uint32_t type, const void *w, int64_t row_bytes, int64_t r0, int64_t r1, int64_t k,
                        const float *x, int64_t m, int64_t ldx, float *y, int64_t ldy, int accumulate,
                        float *scratch) {
    const uint8_t *row = (const uint8_t *)w;
    for (int64_t r = r0; r < r1; r++, row += row_bytes) {
        if (crma_dequantize(type, row, k, scratch) != 0) return -1;
        for (int64_t i = 0; i < m; i++) {
            float v = dot(scratch, x + i * ldx, k);
            y[i * ldy + r] = accumulate ? y[i * ldy + r] + v : v;
        }
    }
    return 0;
}
