#include "CBF16.h"

#include <cpuid.h>
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void omp_set_num_threads(int);

int crma_bf16_cpu_supported(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;  // OSXSAVE
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) return 0;  // XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM saved by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 16))) return 0;  // AVX512F
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5))) return 0;   // AVX512_BF16
    return 1;
}

int crma_bf16_jit_allowed(void) {
    // What oneDNN's JIT does: write code into fresh memory, then make it executable. A seccomp filter such
    // as systemd's MemoryDenyWriteExecute refuses the second step.
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 0;
    int ok = mprotect(p, (size_t)page, PROT_READ | PROT_EXEC) == 0;
    munmap(p, (size_t)page);
    return ok;
}

const char *crma_bf16_isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2: return "avx2";
    default: return "other";
    }
}

void crma_bf16_set_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : 1); }

static void from_f32_scalar(const float *src, uint16_t *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) {
            dst[i] = (uint16_t)((u >> 16) | 0x40);  // a quiet NaN stays NaN
        } else {
            u += 0x7fffu + ((u >> 16) & 1u);
            dst[i] = (uint16_t)(u >> 16);
        }
    }
}

// vcvtneps2bf16: the same rounding (nearest even, NaN kept quiet), 16 at a time — 0.07 ns an element
// against 0.31 for the loop above, which matters because every GEMM converts its activations first
// (25 M floats for one 256-token sequence of SmolLM2-135M: 8 ms of a 230 ms forward pass, on one core).
__attribute__((target("avx512f,avx512bf16,avx512vl"))) static void from_f32_avx512(const float *src, uint16_t *dst,
                                                                                   int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
        _mm256_storeu_si256((__m256i *)(dst + i), (__m256i)b);
    }
    from_f32_scalar(src + i, dst + i, count - i);
}

void crma_bf16_from_f32(const float *src, uint16_t *dst, int64_t count) {
    static int vector = -1;  // benign race: every thread computes the same value
    if (vector < 0) vector = crma_bf16_cpu_supported();
    if (vector) {
        from_f32_avx512(src, dst, count);
    } else {
        from_f32_scalar(src, dst, count);
    }
}

void crma_bf16_to_f32(const uint16_t *src, float *dst, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, 4);
    }
}

// One oneDNN engine and stream per process; primitives cached by shape (oneDNN's primitives may run
// concurrently; the cache itself is guarded).
static dnnl_engine_t engine;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
// Each thread has its own stream and its own buffer for the activations rounded to bf16 (kept and
// grown, never freed: a fresh large buffer per call would page-fault on every GEMM).
static __thread dnnl_stream_t stream;
static __thread uint16_t *scratch;
static __thread int64_t scratchCount;

static void init(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

// How B[k×n] of a GEMM is laid out.
enum layout { W_PLAIN = 0, W_TRANSPOSED = 1, W_BLOCKED = 2 };

typedef struct {
    int64_t m, k, n;
    int layout, accumulate;
    dnnl_primitive_t primitive;
} cached;

static cached *cache;
static int cacheCount, cacheCapacity;

static dnnl_status_t weightsDesc(dnnl_memory_desc_t *md, int64_t k, int64_t n, int layout) {
    dnnl_dims_t dims = {k, n};
    // B[k][n]: oneDNN's blocks of Wᵀ (see crma_bf16_pack_blocked), Wᵀ of W[n×k] (strides 1, k), or W[k×n]
    // itself (strides n, 1).
    if (layout == W_BLOCKED) return dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_bf16, dnnl_BA16a64b2a);
    int transposed = layout == W_TRANSPOSED;
    dnnl_dims_t strides = {transposed ? 1 : n, transposed ? k : 1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dnnl_bf16, strides);
}

static dnnl_status_t primitiveFor(int64_t m, int64_t k, int64_t n, int layout, int accumulate, dnnl_primitive_t *out) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < cacheCount; i++) {
        cached *c = &cache[i];
        if (c->m == m && c->k == k && c->n == n && c->layout == layout && c->accumulate == accumulate) {
            *out = c->primitive;
            pthread_mutex_unlock(&lock);
            return dnnl_success;
        }
    }
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {m, k}, cd = {m, n};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab);
    if (s == dnnl_success) s = weightsDesc(&b, k, n, layout);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t desc;
    if (s == dnnl_success) s = dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c);
    dnnl_primitive_attr_t attr = NULL;
    if (s == dnnl_success && accumulate) {
        dnnl_post_ops_t ops;
        s = dnnl_post_ops_create(&ops);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(ops, 1.0f);
        if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, ops);
        dnnl_post_ops_destroy(ops);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
    dnnl_primitive_t p = NULL;
    if (s == dnnl_success) s = dnnl_primitive_create(&p, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s == dnnl_success) {
        if (cacheCount == cacheCapacity) {
            int capacity = cacheCapacity ? 2 * cacheCapacity : 64;
            cached *grown = realloc(cache, sizeof(cached) * capacity);
            if (!grown) {
                pthread_mutex_unlock(&lock);
                return dnnl_out_of_memory;
            }
            cache = grown;
            cacheCapacity = capacity;
        }
        cache[cacheCount++] = (cached){m, k, n, layout, accumulate, p};
        *out = p;
    }
    pthread_mutex_unlock(&lock);
    return s;
}

static int gemm(const float *x, int64_t m, int64_t k, const uint16_t *w, int64_t n, float *y, int accumulate,
                int layout) {
    pthread_once(&once, init);
    if (!engine) return dnnl_runtime_error;
    if (!stream && dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        stream = NULL;
        return dnnl_runtime_error;
    }
    if (m == 0 || n == 0) return 0;
    if (m * k > scratchCount) {
        uint16_t *grown = realloc(scratch, sizeof(uint16_t) * (size_t)(m * k));
        if (!grown) return dnnl_out_of_memory;
        scratch = grown;
        scratchCount = m * k;
    }
    crma_bf16_from_f32(x, scratch, m * k);
    dnnl_primitive_t p;
    dnnl_status_t s = primitiveFor(m, k, n, layout, accumulate, &p);
    if (s != dnnl_success) return s;
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {m, k}, cd = {m, n};
    dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab);
    weightsDesc(&b, k, n, layout);
    dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab);
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL;
    s = dnnl_memory_create(&am, &a, engine, scratch);
    if (s == dnnl_success) s = dnnl_memory_create(&bm, &b, engine, (void *)w);
    if (s == dnnl_success) s = dnnl_memory_create(&cm, &c, engine, y);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
        s = dnnl_primitive_execute(p, stream, 3, args);
        if (s == dnnl_success) s = dnnl_stream_wait(stream);
    }
    if (am) dnnl_memory_destroy(am);
    if (bm) dnnl_memory_destroy(bm);
    if (cm) dnnl_memory_destroy(cm);
    return s;
}

int crma_bf16_gemm_xwt(const float *x, int64_t m, int64_t k, const uint16_t *w, int64_t n, float *y, int accumulate) {
    return gemm(x, m, k, w, n, y, accumulate, W_TRANSPOSED);
}

int crma_bf16_gemm_xwt_blocked(const float *x, int64_t m, int64_t k, const uint16_t *blocked, int64_t n, float *y,
                               int accumulate) {
    return gemm(x, m, k, blocked, n, y, accumulate, W_BLOCKED);
}

const char *crma_bf16_gemm_implementation(int64_t m, int64_t k, int64_t n, int blocked) {
    pthread_once(&once, init);
    if (!engine) return "no engine";
    dnnl_primitive_t p;
    if (primitiveFor(m, k, n, blocked ? W_BLOCKED : W_TRANSPOSED, 0, &p) != dnnl_success) return "unavailable";
    const_dnnl_primitive_desc_t pd;
    const char *name = NULL;
    if (dnnl_primitive_get_primitive_desc(p, &pd) != dnnl_success ||
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name)
        return "unknown";
    return name;
}

int crma_bf16_gemm_xw(const float *x, int64_t m, int64_t k, const uint16_t *w, int64_t n, float *y, int accumulate) {
    return gemm(x, m, k, w, n, y, accumulate, W_PLAIN);
}

// oneDNN's BA16a64b2a for B = Wᵀ (B[k×n], W[n×k]): columns of B (rows of W) in panels of 64, each panel
// holding all of k as [k/2][64 columns][2], the pairs of the reduction index interleaved as vdpbf16ps reads
// them. The tag's blocks fix the padding: n to 64, k to 32 (its inner blocks on k are 16 and 2). The matmul
// reads it as it is, where a plain B is copied into these blocks on every call (about 7% of a GEMM at our
// shapes). The tests check that the GEMM gives the same results on both layouts, tails included.
static inline int64_t paddedK(int64_t k) { return (k + 31) / 32 * 32; }
static inline int64_t paddedN(int64_t n) { return (n + 63) / 64 * 64; }
static inline int64_t blockedIndex(int64_t j, int64_t kk, int64_t kp) {
    return (j / 64) * kp * 64 + (kk / 2) * 128 + (j % 64) * 2 + (kk % 2);
}

int64_t crma_bf16_blocked_padded_k(int64_t k) { return paddedK(k); }

int64_t crma_bf16_blocked_count(int64_t n, int64_t k) { return paddedN(n) * paddedK(k); }

void crma_bf16_pack_blocked(const uint16_t *w, int64_t n, int64_t k, uint16_t *blocked) {
    const int64_t kp = paddedK(k);
    memset(blocked, 0, sizeof(uint16_t) * (size_t)crma_bf16_blocked_count(n, k));
    for (int64_t j = 0; j < n; j++)
        for (int64_t kk = 0; kk < k; kk++) blocked[blockedIndex(j, kk, kp)] = w[j * k + kk];
}

void crma_bf16_unpack_blocked(const uint16_t *blocked, int64_t n, int64_t k, uint16_t *w) {
    const int64_t kp = paddedK(k);
    for (int64_t j = 0; j < n; j++)
        for (int64_t kk = 0; kk < k; kk++) w[j * k + kk] = blocked[blockedIndex(j, kk, kp)];
}

void crma_bf16_blocked_row_to_f32(const uint16_t *blocked, int64_t k, int64_t row, float *out) {
    const int64_t kp = paddedK(k);
    for (int64_t kk = 0; kk < k; kk++) {
        uint32_t u = (uint32_t)blocked[blockedIndex(row, kk, kp)] << 16;
        memcpy(&out[kk], &u, 4);
    }
}

// Decoding multiplies one activation row (or a few) by every weight matrix: a matrix-vector product that
// only streams the weights from memory. oneDNN's matmul reaches about 13 GB/s of weights there; this loop
// — each weight row read once, 32 bf16 products per vdpbf16ps into fp32 accumulators — is bounded by the
// memory bus alone. Rows j in [n0, n1) of y[m×n] (row stride ldy), m ≤ 4 rows of x already in bf16.
__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw"))) static void gemv_rows(
    const uint16_t *xb, int64_t m, int64_t k, const uint16_t *w, int64_t n0, int64_t n1, float *y, int64_t ldy,
    int accumulate) {
    const int64_t full = k / 32 * 32;
    const __mmask32 tail = (__mmask32)((1ull << (k - full)) - 1);
    for (int64_t j = n0; j < n1; j++) {
        const uint16_t *row = w + j * k;
        __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        __m512 acc2[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        int64_t i = 0;
        for (; i + 64 <= full; i += 64) {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(row + i), w1 = (__m512bh)_mm512_loadu_si512(row + i + 32);
            for (int64_t r = 0; r < m; r++) {
                acc[r] = _mm512_dpbf16_ps(acc[r], w0, (__m512bh)_mm512_loadu_si512(xb + r * k + i));
                acc2[r] = _mm512_dpbf16_ps(acc2[r], w1, (__m512bh)_mm512_loadu_si512(xb + r * k + i + 32));
            }
        }
        for (; i < full; i += 32) {
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(row + i);
            for (int64_t r = 0; r < m; r++)
                acc[r] = _mm512_dpbf16_ps(acc[r], w0, (__m512bh)_mm512_loadu_si512(xb + r * k + i));
        }
        if (tail) {
            __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16(tail, row + full);
            for (int64_t r = 0; r < m; r++)
                acc[r] = _mm512_dpbf16_ps(acc[r], w0, (__m512bh)_mm512_maskz_loadu_epi16(tail, xb + r * k + full));
        }
        for (int64_t r = 0; r < m; r++) {
            float v = _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));
            y[r * ldy + j] = accumulate ? y[r * ldy + j] + v : v;
        }
    }
}

void crma_bf16_gemv_xwt(const uint16_t *xb, int64_t m, int64_t k, const uint16_t *w, int64_t n0, int64_t n1, float *y,
                        int64_t ldy, int accumulate) {
    gemv_rows(xb, m, k, w, n0, n1, y, ldy, accumulate);
}

// Decoding on the blocked layout: per panel of 64 weight rows, one pass over its [k/2][64][2] pairs — four
// zmm of weights per pair, each multiplied by the activation pair broadcast — so every weight is read once,
// in order, and nothing needs a horizontal sum. Panels [p0, p1) of y[m×n] (row stride ldy), m ≤ 4 rows of x
// in bf16, each padded with zeros to crma_bf16_blocked_padded_k(k).
__attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw"))) static void gemv_panels(
    const uint16_t *xb, int64_t m, int64_t k, const uint16_t *blocked, int64_t n, int64_t p0, int64_t p1, float *y,
    int64_t ldy, int accumulate) {
    const int64_t kp = paddedK(k), pairs = kp / 2;
    for (int64_t p = p0; p < p1; p++) {
        const uint16_t *panel = blocked + p * kp * 64;
        __m512 acc[4][4];
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) acc[r][q] = _mm512_setzero_ps();
        for (int64_t i = 0; i < pairs; i++) {
            const uint16_t *wp = panel + i * 128;
            __m512bh w0 = (__m512bh)_mm512_loadu_si512(wp), w1 = (__m512bh)_mm512_loadu_si512(wp + 32);
            __m512bh w2 = (__m512bh)_mm512_loadu_si512(wp + 64), w3 = (__m512bh)_mm512_loadu_si512(wp + 96);
            for (int64_t r = 0; r < m; r++) {
                uint32_t pair;
                memcpy(&pair, xb + r * kp + 2 * i, 4);
                __m512bh x = (__m512bh)_mm512_set1_epi32((int)pair);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], w0, x);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], w1, x);
                acc[r][2] = _mm512_dpbf16_ps(acc[r][2], w2, x);
                acc[r][3] = _mm512_dpbf16_ps(acc[r][3], w3, x);
            }
        }
        for (int64_t r = 0; r < m; r++)
            for (int q = 0; q < 4; q++) {
                int64_t j0 = p * 64 + q * 16;
                if (j0 >= n) break;
                __mmask16 mask = (__mmask16)(n - j0 >= 16 ? 0xffff : (1u << (n - j0)) - 1);
                float *out = y + r * ldy + j0;
                __m512 v = acc[r][q];
                if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, out));
                _mm512_mask_storeu_ps(out, mask, v);
            }
    }
}

void crma_bf16_gemv_xwt_blocked(const uint16_t *xb, int64_t m, int64_t k, const uint16_t *blocked, int64_t n,
                                int64_t p0, int64_t p1, float *y, int64_t ldy, int accumulate) {
    gemv_panels(xb, m, k, blocked, n, p0, p1, y, ldy, accumulate);
}
