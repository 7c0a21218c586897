/* Plain-C LayerNorm baseline for the out-of-cache kernel target of issue 4.
 *
 * Built and run by scripts/c_norm_baseline.sh at several -march levels. For each hidden size
 * it times, in one process and best of REPS runs, over an x of SIZE_MIB MiB (y the same):
 *   copy        memcpy(y, x)                        (the bench's "copy" baseline)
 *   ln          two passes per row, plain loops     (shifted sum / sum of squares, then
 *                                                    y = (x - mean) * inv * g + b)
 *   ln-noaff    the same without scale and bias     (diagnostic)
 *   ln-g4k      scale and bias read with period 1024 floats when 1024 divides hidden, so
 *               each has a 4 KiB cache footprint instead of 4*hidden bytes (diagnostic:
 *               how much of the loss is their footprint?)
 *   ln-pipe     software-pipelined rows: one loop writes row r and sums row r+1
 *   ln-nt       two passes, output with non-temporal (streaming) vector stores
 * and once per run:
 *   copy+L2     y[i] = x[i] + x[i + 16384]: a copy plus a second read stream that hits in L2
 *               (the cost of one more cache-fill stream next to a DRAM read and write)
 * GB/s = 1e9 * (bytes of x read + bytes of y written) / time, as in benches/jit_norm.rs.
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Mean and 1/sd of one row: sum and sum of squares of x - x[0], one pass. */
static void row_stats(const float *restrict xr, size_t h, float *mean, float *inv) {
    float shift = xr[0], s = 0.0f, q = 0.0f;
    for (size_t i = 0; i < h; i++) {
        float d = xr[i] - shift;
        s += d;
        q += d * d;
    }
    float md = s / (float)h;
    *inv = 1.0f / sqrtf(q / (float)h - md * md + 1e-5f);
    *mean = shift + md;
}

/* One LayerNorm over rows x hidden. Scale and bias repeat with period `period` (hidden for a
 * real LayerNorm; it divides hidden). affine=0 drops them. */
static void layer_norm(const float *restrict x, float *restrict y, const float *restrict g,
                       const float *restrict b, size_t rows, size_t h, size_t period,
                       int affine) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * h;
        float *yr = y + r * h, mean, inv;
        row_stats(xr, h, &mean, &inv);
        if (affine) {
            for (size_t c = 0; c < h; c += period)
                for (size_t i = 0; i < period; i++)
                    yr[c + i] = (xr[c + i] - mean) * inv * g[i] + b[i];
        } else {
            for (size_t i = 0; i < h; i++)
                yr[i] = (xr[i] - mean) * inv;
        }
    }
}

/* Row r's output and row r+1's statistics in one loop. */
static void layer_norm_pipelined(const float *restrict x, float *restrict y,
                                 const float *restrict g, const float *restrict b, size_t rows,
                                 size_t h) {
    float mean, inv;
    row_stats(x, h, &mean, &inv);
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * h, *xn = r + 1 < rows ? xr + h : xr;
        float *yr = y + r * h;
        float shift = xn[0], s = 0.0f, q = 0.0f;
        for (size_t i = 0; i < h; i++) {
            yr[i] = (xr[i] - mean) * inv * g[i] + b[i];
            float d = xn[i] - shift;
            s += d;
            q += d * d;
        }
        float md = s / (float)h;
        inv = 1.0f / sqrtf(q / (float)h - md * md + 1e-5f);
        mean = shift + md;
    }
}

/* y[i] = (x[i] - mean) * inv * g[i] + b[i] with vectors of W floats of type VT, stored with
 * non-temporal (streaming) stores. */
#define STREAM_LOOP(W, VT, LOAD, SUB, MUL, ADD, SET1, STREAM)                                \
    do {                                                                                    \
        VT m = SET1(mean), iv = SET1(inv);                                                  \
        for (size_t i = 0; i < h; i += W) {                                                 \
            VT v = MUL(SUB(LOAD(xr + i), m), iv);                                           \
            STREAM(yr + i, ADD(MUL(v, LOAD(g + i)), LOAD(b + i)));                          \
        }                                                                                   \
    } while (0)

/* Two passes, the output written with streaming stores of the widest vectors compiled for
 * (hidden must be a multiple of 16, rows 64-byte aligned). */
static void layer_norm_streaming(const float *restrict x, float *restrict y,
                                 const float *restrict g, const float *restrict b, size_t rows,
                                 size_t h) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * h;
        float *yr = y + r * h, mean, inv;
        row_stats(xr, h, &mean, &inv);
#if defined(__AVX512F__)
#define STREAM_OUT(W, P) STREAM_LOOP(W, __m512, P##_loadu_ps, P##_sub_ps, P##_mul_ps, P##_add_ps, \
                                     P##_set1_ps, P##_stream_ps)
        STREAM_OUT(16, _mm512);
#elif defined(__AVX__)
#define STREAM_OUT(W, P) STREAM_LOOP(W, __m256, P##_loadu_ps, P##_sub_ps, P##_mul_ps, P##_add_ps, \
                                     P##_set1_ps, P##_stream_ps)
        STREAM_OUT(8, _mm256);
#else
#define STREAM_OUT(W, P) STREAM_LOOP(W, __m128, P##_loadu_ps, P##_sub_ps, P##_mul_ps, P##_add_ps, \
                                     P##_set1_ps, P##_stream_ps)
        STREAM_OUT(4, _mm);
#endif
    }
    _mm_sfence();
}

typedef struct {
    const float *x;
    float *y;
    const float *g, *b;
    size_t n, rows, h, period;
    int affine, copy; /* copy: 1 memcpy, 2 copy + L2 stream; affine 2: pipelined, 3: streaming */
} Job;

/* Distance of copy+L2's second read stream, in floats (64 KiB: out of L1, in L2). */
#define L2_LAG 16384

static void copy_plus_l2(const float *restrict x, float *restrict y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] + x[i + L2_LAG];
}

static double best_gbs(const Job *j, int reps) {
    double best = 1e30;
    for (int k = 0; k < reps; k++) {
        double t = seconds();
        if (j->copy == 1)
            memcpy(j->y, j->x, j->n * sizeof(float));
        else if (j->copy == 2)
            copy_plus_l2(j->x, j->y, j->n);
        else if (j->affine == 2)
            layer_norm_pipelined(j->x, j->y, j->g, j->b, j->rows, j->h);
        else if (j->affine == 3)
            layer_norm_streaming(j->x, j->y, j->g, j->b, j->rows, j->h);
        else
            layer_norm(j->x, j->y, j->g, j->b, j->rows, j->h, j->period, j->affine);
        t = seconds() - t;
        if (t < best)
            best = t;
    }
    size_t elems = j->copy ? j->n : j->rows * j->h;
    return 8.0 * (double)elems / best / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s LABEL SIZE_MIB REPS [HIDDEN...]\n", argv[0]);
        return 2;
    }
    const char *label = argv[1];
    size_t n = (size_t)atol(argv[2]) << 18; /* MiB of f32 */
    int reps = atoi(argv[3]);
    float *x = aligned_alloc(4096, (n + L2_LAG) * sizeof(float));
    float *y = aligned_alloc(4096, n * sizeof(float));
    if (!x || !y) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n + L2_LAG; i++)
        x[i] = 0.01f * (float)(i % 97) - 0.3f;
    memset(y, 0, n * sizeof(float));
    Job copy = {x, y, NULL, NULL, n, 0, 0, 0, 0, 1};
    double c = best_gbs(&copy, reps);
    Job copy_l2 = {x, y, NULL, NULL, n, 0, 0, 0, 0, 2};
    double c2 = best_gbs(&copy_l2, reps);
    printf("%-10s copy %5.1f  copy+L2 %5.1f (%.2f)\n", label, c, c2, c2 / c);
    for (int a = 4; a < argc; a++) {
        size_t h = (size_t)atol(argv[a]);
        if (h == 0 || h > n || h % 16 != 0) {
            fprintf(stderr, "hidden %s: need a multiple of 16 in 16..=%zu\n", argv[a], n);
            return 2;
        }
        float *g = aligned_alloc(64, h * sizeof(float) + 64);
        float *b = aligned_alloc(64, h * sizeof(float) + 64);
        for (size_t i = 0; i < h; i++) {
            g[i] = 1.0f + 1e-3f * (float)i;
            b[i] = 1e-3f * (float)i;
        }
        size_t rows = n / h, small = h % 1024 == 0 ? 1024 : h;
        Job ln = {x, y, g, b, n, rows, h, h, 1, 0};
        Job noaff = {x, y, g, b, n, rows, h, h, 0, 0};
        Job g4k = {x, y, g, b, n, rows, h, small, 1, 0};
        Job pipe = {x, y, g, b, n, rows, h, h, 2, 0};
        Job nt = {x, y, g, b, n, rows, h, h, 3, 0};
        double l = best_gbs(&ln, reps), na = best_gbs(&noaff, reps), g4 = best_gbs(&g4k, reps);
        double pi = best_gbs(&pipe, reps), st = best_gbs(&nt, reps);
        printf("%-10s h%-5zu copy %5.1f  ln %5.1f (%.2f)  ln-noaff %5.1f (%.2f)  ln-g4k %5.1f (%.2f)"
               "  ln-pipe %5.1f (%.2f)  ln-nt %5.1f (%.2f)  y[1]=%g\n",
               label, h, c, l, l / c, na, na / c, g4, g4 / c, pi, pi / c, st, st / c, (double)y[1]);
        free(g);
        free(b);
    }
    free(x);
    free(y);
    return 0;
}
