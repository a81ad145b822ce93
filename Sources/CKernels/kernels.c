#define _GNU_SOURCE 1  // O_DIRECT
#include "cvm_kernels.h"
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// Contraction to FMA would make the AVX2/AVX-512 clones round differently from the baseline.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define CVM_SANITIZED 1
#endif
#endif

// The clones are picked by an ifunc resolver that the dynamic loader runs before any sanitizer
// runtime is initialised; an instrumented resolver crashes at startup (seen with ThreadSanitizer:
// SIGSEGV in __tsan_func_entry from cvm_km_distances[resolver]), so sanitized builds use the baseline.
#if defined(__x86_64__) && defined(__linux__) && !defined(CVM_SANITIZED)
#define CVM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CVM_CLONES
#endif

typedef double v8d __attribute__((ext_vector_type(8)));

// Macros, not functions: passing 512-bit vectors by value would change the ABI per clone.
#define LOAD8(dst, p) do { memcpy(&(dst), (p), sizeof(v8d)); } while (0)
#define STORE8(p, v) do { v8d tmp_ = (v); memcpy((p), &tmp_, sizeof(v8d)); } while (0)

CVM_CLONES
void cvm_km_distances(const double *point, int64_t d, const double *ct, int64_t kp, double *out) {
    for (int64_t t = 0; t < kp; t += 8) {
        v8d acc = 0;
        for (int64_t j = 0; j < d; j++) {
            v8d c;
            LOAD8(c, ct + j * kp + t);
            v8d e = point[j] - c;
            acc += e * e;
        }
        STORE8(out + t, acc);
    }
}

static inline void argmin(const double *dist, int64_t k, int32_t *label, double *best) {
    int32_t b = 0;
    double bd = dist[0];
    for (int64_t c = 1; c < k; c++) {
        if (dist[c] < bd) { bd = dist[c]; b = (int32_t)c; }
    }
    *label = b;
    *best = bd;
}

// Four rows at a time share each load of a centroid tile; four independent accumulators
// hide the add latency. Each lane still sums its own dimensions in index order. Always inlined,
// so it is compiled for each caller's instruction set.
static inline __attribute__((always_inline))
void rows4(const double *x0, int64_t d, const double *ct, int64_t kp, double *o0, double *o1, double *o2, double *o3) {
    const double *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;
    for (int64_t t = 0; t < kp; t += 8) {
        v8d a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int64_t j = 0; j < d; j++) {
            v8d c;
            LOAD8(c, ct + j * kp + t);
            v8d e0 = x0[j] - c, e1 = x1[j] - c, e2 = x2[j] - c, e3 = x3[j] - c;
            a0 += e0 * e0; a1 += e1 * e1; a2 += e2 * e2; a3 += e3 * e3;
        }
        STORE8(o0 + t, a0); STORE8(o1 + t, a1); STORE8(o2 + t, a2); STORE8(o3 + t, a3);
    }
}

CVM_CLONES
void cvm_km_nearest(const double *x, int64_t n, int64_t d, const double *ct, int64_t k, int64_t kp,
                    int32_t *labels, double *distances) {
    double dist[4][kp];
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        rows4(x + i * d, d, ct, kp, dist[0], dist[1], dist[2], dist[3]);
        for (int r = 0; r < 4; r++) argmin(dist[r], k, labels + i + r, distances + i + r);
    }
    for (; i < n; i++) {
        cvm_km_distances(x + i * d, d, ct, kp, dist[0]);
        argmin(dist[0], k, labels + i, distances + i);
    }
}

CVM_CLONES
void cvm_km_all_distances(const double *x, int64_t n, int64_t d, const double *ct, int64_t kp, double *out) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        rows4(x + i * d, d, ct, kp, out + i * kp, out + (i + 1) * kp, out + (i + 2) * kp, out + (i + 3) * kp);
    }
    for (; i < n; i++) cvm_km_distances(x + i * d, d, ct, kp, out + i * kp);
}

CVM_CLONES
double cvm_km_distance(const double *a, const double *b, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

int cvm_open_uncached(const char *path, int mode) {
#if defined(O_DIRECT)
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, mode);
#elif defined(F_NOCACHE)
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd >= 0 && fcntl(fd, F_NOCACHE, 1) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
#else
    errno = EINVAL;
    return -1;
#endif
}

int cvm_set_mmap_threshold(size_t bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, (int)bytes);
#else
    (void)bytes;
    return 0;
#endif
}

int cvm_release_free_memory(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int64_t cvm_count_byte(const uint8_t *p, int64_t n, uint8_t c) {
    int64_t total = 0;
    // In blocks of 255 so the per-lane byte counters cannot overflow once vectorised.
    while (n > 0) {
        int64_t m = n < 255 ? n : 255;
        uint8_t run = 0;
        for (int64_t i = 0; i < m; i++) run += p[i] == c;
        total += run;
        p += m;
        n -= m;
    }
    return total;
}
