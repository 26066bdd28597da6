// bf16_kernel.c — issue 14's comparison: a packed AVX512-BF16 (vdpbf16ps) GEMM of our own against oneDNN's
// matmul (what crma's CBF16 calls), at SmolLM2-135M's shapes, fp32 accumulation, fp32 output.
//
//   cc -O2 -march=native -fopenmp scripts/bench/bf16_kernel.c -ldnnl -o /tmp/bf16_kernel && /tmp/bf16_kernel [threads]
//
// Each shape is Y[m×n] = X[m×k] · Wᵀ with W[n×k] bf16 (the forward pass: the weights as stored) and the
// backward pass's input gradient dX[m×k] = dY[m×n] · W (the same weights, not transposed). X arrives in fp32
// and is rounded to bf16 in each timed call, as in crma. The own kernel reads weights packed once (outside the
// timing) into panels of 48 output columns, pairs of the reduction index interleaved as vdpbf16ps wants
// them; so it needs one packed copy for the forward pass and another for the backward pass, where oneDNN
// reads one plain buffer in both (strides). oneDNN is timed with the weights plain (as crma calls it) and
// in the layout it chooses itself (`any`, reordered once outside the timing). Every result is checked
// against the others. Prints one line per shape and a JSON summary.
#include <immintrin.h>
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MR 8
#define NR 48  // three zmm of 16 fp32 columns

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static void round_rows(const float *x, uint16_t *out, int64_t count) {
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m256bh b = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)b);
    }
    for (; i < count; i++) out[i] = to_bf16(x[i]);
}

// B[k×n] given as element (kk, j) at b[kk * rs + j * cs] → panels of NR columns: for each panel, for each
// pair of reduction rows, NR columns × 2 values (the pair adjacent), 2·NR bf16 = three zmm.
static uint16_t *pack(const uint16_t *b, int64_t k, int64_t n, int64_t rs, int64_t cs) {
    uint16_t *p = aligned_alloc(64, sizeof(uint16_t) * (size_t)(k * n));
    for (int64_t panel = 0; panel < n / NR; panel++)
        for (int64_t kp = 0; kp < k / 2; kp++)
            for (int64_t j = 0; j < NR; j++)
                for (int64_t h = 0; h < 2; h++)
                    p[((panel * (k / 2) + kp) * NR + j) * 2 + h] = b[(2 * kp + h) * rs + (panel * NR + j) * cs];
    return p;
}

// C[MR×NR] = A[MR×k] · B-panel, A bf16 row-major with row stride lda.
static inline void micro(const uint16_t *a, int64_t lda, const uint16_t *panel, int64_t k, float *c, int64_t ldc) {
    __m512 acc[MR][3];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 3; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t kp = 0; kp < k / 2; kp++) {
        const uint16_t *bp = panel + kp * 2 * NR;
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 32),
                 b2 = (__m512bh)_mm512_load_si512(bp + 64);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, a + r * lda + 2 * kp, 4);
            __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], x, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], x, b1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], x, b2);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 3; v++) _mm512_storeu_ps(c + r * ldc + 16 * v, acc[r][v]);
}

// Y[m×n] = round(X)[m×k] · packed B; panels split over the threads. m % MR == 0, n % NR == 0, k even.
static void own_gemm(const float *x, uint16_t *xb, int64_t m, int64_t k, const uint16_t *packed, int64_t n, float *y) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t rows = (m + nt - 1) / nt, r0 = t * rows, r1 = r0 + rows < m ? r0 + rows : m;
        if (r0 < r1) round_rows(x + r0 * k, xb + r0 * k, (r1 - r0) * k);
#pragma omp barrier
        // Blocks of 128 rows of X stay in L2 while every panel of B passes over them.
        for (int64_t i0 = 0; i0 < m; i0 += 128) {
            int64_t i1 = i0 + 128 < m ? i0 + 128 : m;
#pragma omp for schedule(static) nowait
            for (int64_t panel = 0; panel < n / NR; panel++)
                for (int64_t i = i0; i < i1; i += MR)
                    micro(xb + i * k, k, packed + panel * (k / 2) * 2 * NR, k, y + i * n + panel * NR, n);
        }
    }
}

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
} onednn;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

#define CHECK(x)                                                                   \
    do {                                                                           \
        dnnl_status_t s_ = (x);                                                    \
        if (s_ != dnnl_success) {                                                  \
            fprintf(stderr, "oneDNN error %d at %s:%d\n", (int)s_, __FILE__, __LINE__); \
            exit(1);                                                               \
        }                                                                          \
    } while (0)

// oneDNN matmul of xb[m×k] (bf16) by B[k×n] with element (kk, j) at w[kk * rs + j * cs]; blocked: let oneDNN
// choose the weights' layout and reorder them once.
static onednn onednn_make(uint16_t *xb, int64_t m, int64_t k, uint16_t *w, int64_t n, int64_t rs, int64_t cs, float *y,
                          int blocked) {
    onednn o;
    dnnl_memory_desc_t a, b, bany, c;
    dnnl_dims_t ad = {m, k}, bd = {k, n}, cd = {m, n}, bs = {rs, cs};
    CHECK(dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_strides(&b, 2, bd, dnnl_bf16, bs));
    CHECK(dnnl_memory_desc_init_by_tag(&bany, 2, bd, dnnl_bf16, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a, blocked ? &bany : &b, NULL, &c));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    CHECK(dnnl_primitive_create(&o.prim, pd));
    CHECK(dnnl_memory_create(&o.a, &a, engine, xb));
    CHECK(dnnl_memory_create(&o.c, &c, engine, y));
    dnnl_memory_t plain;
    CHECK(dnnl_memory_create(&plain, &b, engine, w));
    if (blocked) {
        const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        CHECK(dnnl_memory_create(&o.b, chosen, engine, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t rpd;
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, &b, engine, chosen, engine, NULL));
        dnnl_primitive_t r;
        CHECK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, o.b}};
        CHECK(dnnl_primitive_execute(r, stream, 2, args));
        CHECK(dnnl_stream_wait(stream));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(plain);
    } else {
        o.b = plain;
    }
    dnnl_primitive_desc_destroy(pd);
    return o;
}

static void onednn_run(onednn *o, const float *x, uint16_t *xb, int64_t count) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t per = (count + nt - 1) / nt, i0 = t * per, i1 = i0 + per < count ? i0 + per : count;
        if (i0 < i1) round_rows(x + i0, xb + i0, i1 - i0);
    }
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, o->a}, {DNNL_ARG_WEIGHTS, o->b}, {DNNL_ARG_DST, o->c}};
    CHECK(dnnl_primitive_execute(o->prim, stream, 3, args));
    CHECK(dnnl_stream_wait(stream));
}

static double max_rel(const float *a, const float *b, int64_t count) {
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < count; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < count; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    return worst / (scale > 0 ? scale : 1);
}

// Median seconds of `reps` timed calls after two warm-up calls; the three candidates alternate.
typedef struct {
    double own, plain, blocked;
} times;

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    omp_set_num_threads(threads);
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    // m: 256 (one scored sequence) and 1024 (a 4 × 256 training batch); (n, k) of SmolLM2-135M's layers.
    struct {
        const char *name;
        int64_t n, k;
    } layers[] = {{"q,o", 576, 576}, {"k,v", 192, 576}, {"gate,up", 1536, 576}, {"down", 576, 1536}, {"head", 49152, 576}};
    int64_t ms[] = {256, 1024};
    printf("{\"threads\": %d, \"isa\": %d, \"rows\": [\n", threads, (int)dnnl_get_effective_cpu_isa());
    int first = 1;
    double sum_flops[2][2] = {{0}}, sum_own[2][2] = {{0}}, sum_plain[2][2] = {{0}}, sum_blocked[2][2] = {{0}};
    for (int mi = 0; mi < 2; mi++)
        for (int li = 0; li < 5; li++)
            for (int backward = 0; backward < 2; backward++) {
                int64_t m = ms[mi], n = layers[li].n, k = layers[li].k;
                if (backward && li == 4 && m == 256) continue;
                // Forward: Y[m×n] = X[m×k]·Wᵀ, B(kk, j) = W[j][kk]. Backward: dX[m×k] = dY[m×n]·W, B(jj, kk) = W[jj][kk].
                int64_t rk = backward ? n : k, rn = backward ? k : n;
                uint16_t *w = aligned_alloc(64, sizeof(uint16_t) * (size_t)(n * k));
                srand(7);
                for (int64_t i = 0; i < n * k; i++) w[i] = to_bf16((float)rand() / RAND_MAX - 0.5f);
                float *x = aligned_alloc(64, sizeof(float) * (size_t)(m * rk));
                for (int64_t i = 0; i < m * rk; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
                uint16_t *xb = aligned_alloc(64, sizeof(uint16_t) * (size_t)(m * rk));
                float *y1 = aligned_alloc(64, sizeof(float) * (size_t)(m * rn)), *y2 = aligned_alloc(64, sizeof(float) * (size_t)(m * rn)),
                      *y3 = aligned_alloc(64, sizeof(float) * (size_t)(m * rn));
                int64_t rs = backward ? k : 1, cs = backward ? 1 : k;
                uint16_t *packed = pack(w, rk, rn, rs, cs);
                onednn plain = onednn_make(xb, m, rk, w, rn, rs, cs, y2, 0);
                onednn blocked = onednn_make(xb, m, rk, w, rn, rs, cs, y3, 1);
                int reps = (int)fmax(5, fmin(60, 2e10 / (2.0 * m * n * k)));
                double t_own[64], t_plain[64], t_blocked[64];
                for (int r = -2; r < reps; r++) {
                    double t0 = now();
                    own_gemm(x, xb, m, rk, packed, rn, y1);
                    double t1 = now();
                    onednn_run(&plain, x, xb, m * rk);
                    double t2 = now();
                    onednn_run(&blocked, x, xb, m * rk);
                    double t3 = now();
                    if (r >= 0) {
                        t_own[r] = t1 - t0;
                        t_plain[r] = t2 - t1;
                        t_blocked[r] = t3 - t2;
                    }
                }
                qsort(t_own, reps, sizeof(double), cmp);
                qsort(t_plain, reps, sizeof(double), cmp);
                qsort(t_blocked, reps, sizeof(double), cmp);
                double flops = 2.0 * m * n * k, own = t_own[reps / 2], pl = t_plain[reps / 2], bl = t_blocked[reps / 2];
                double e1 = max_rel(y1, y2, m * rn), e2 = max_rel(y3, y2, m * rn);
                printf("%s  {\"m\": %ld, \"layer\": \"%s\", \"pass\": \"%s\", \"n\": %ld, \"k\": %ld, \"own_gflops\": %.1f, "
                       "\"onednn_plain_gflops\": %.1f, \"onednn_blocked_gflops\": %.1f, \"own_vs_plain_max_rel\": %.2e, "
                       "\"blocked_vs_plain_max_rel\": %.2e}",
                       first ? "" : ",\n", (long)m, layers[li].name, backward ? "input-gradient" : "forward", (long)rn, (long)rk,
                       flops / own * 1e-9, flops / pl * 1e-9, flops / bl * 1e-9, e1, e2);
                fflush(stdout);
                first = 0;
                // Per-pass totals weighted as in a model: time = Σ flops / rate, every layer once.
                int mult = li == 0 || li == 1 || li == 2 ? 2 : 1;
                if (li != 4) {
                    sum_flops[mi][backward] += mult * flops;
                    sum_own[mi][backward] += mult * own;
                    sum_plain[mi][backward] += mult * pl;
                    sum_blocked[mi][backward] += mult * bl;
                }
                free(w), free(x), free(xb), free(y1), free(y2), free(y3), free(packed);
            }
    printf("\n], \"layer_totals\": [\n");
    for (int mi = 0; mi < 2; mi++)
        for (int b = 0; b < 2; b++)
            printf("  {\"m\": %ld, \"pass\": \"%s\", \"own_gflops\": %.1f, \"onednn_plain_gflops\": %.1f, \"onednn_blocked_gflops\": %.1f}%s\n",
                   (long)ms[mi], b ? "input-gradient" : "forward", sum_flops[mi][b] / sum_own[mi][b] * 1e-9,
                   sum_flops[mi][b] / sum_plain[mi][b] * 1e-9, sum_flops[mi][b] / sum_blocked[mi][b] * 1e-9,
                   mi == 1 && b == 1 ? "" : ",");
    printf("]}\n");
    return 0;
}
