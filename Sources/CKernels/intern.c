#include "cvm_kernels.h"
#include <stdlib.h>
#include <string.h>

// The per-file string interner of extract (see cvm_kernels.h for why it is C). Layout and hash are
// those of CVMCore's ByteInterner, so a file's dictionary and hashes merge into a source's one as is.

static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

uint64_t cvm_hash_bytes(const uint8_t *p, int64_t n) {
    const uint64_t m = 0xFF51AFD7ED558CCDULL;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4FULL);
    if (n >= 8) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) { h = (h ^ load64(p + i)) * m; h ^= h >> 32; }
        if (i < n) { h = (h ^ load64(p + n - 8)) * m; h ^= h >> 32; }
    } else if (n > 0) {
        // The bytes as one little-endian word, from overlapping loads (equal bytes OR to themselves).
        uint64_t w;
        if (n >= 4) w = (uint64_t)load32(p) | ((uint64_t)load32(p + n - 4) << (8 * (n - 4)));
        else w = (uint64_t)p[0] | ((uint64_t)p[n / 2] << (8 * (n / 2))) | ((uint64_t)p[n - 1] << (8 * (n - 1)));
        h = (h ^ w) * m;
    }
    h ^= h >> 33;
    h *= m;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

int cvm_valid_utf8(const uint8_t *p, int64_t n) {
    int64_t i = 0;
    while (i < n) {
        if (i + 8 <= n && (load64(p + i) & 0x8080808080808080ULL) == 0) { i += 8; continue; }
        uint8_t c = p[i];
        if (c < 0x80) { i++; continue; }
        int len;
        if ((c & 0xE0) == 0xC0) { len = 2; if (c < 0xC2) return 0; }
        else if ((c & 0xF0) == 0xE0) len = 3;
        else if ((c & 0xF8) == 0xF0) { len = 4; if (c > 0xF4) return 0; }
        else return 0;
        if (i + len > n) return 0;
        for (int k = 1; k < len; k++) if ((p[i + k] & 0xC0) != 0x80) return 0;
        if (len == 3) {
            uint32_t cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) | (uint32_t)(p[i + 2] & 0x3F);
            if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        } else if (len == 4) {
            uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3F) << 12);
            if (cp < 0x10000 || cp > 0x10FFFF) return 0;
        }
        i += len;
    }
    return 1;
}

static inline int same_bytes(const uint8_t *a, const uint8_t *b, int64_t n) {
    if (n >= 8) {
        if (n > 16) return memcmp(a, b, (size_t)n) == 0;
        return load64(a) == load64(b) && load64(a + n - 8) == load64(b + n - 8);
    }
    if (n >= 4) return load32(a) == load32(b) && load32(a + n - 4) == load32(b + n - 4);
    for (int64_t k = 0; k < n; k++) if (a[k] != b[k]) return 0;
    return 1;
}

static int grow_slots(cvm_interner *t, uint64_t size) {
    uint64_t *slots = calloc(size, sizeof(uint64_t));
    if (!slots) return 0;
    uint64_t m = size - 1;
    for (uint64_t code = 0; code < t->count; code++) {
        uint64_t h = t->hashes[code], s = h & m;
        while (slots[s]) s = (s + 1) & m;
        slots[s] = (code + 1) << 32 | h >> 32;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = m;
    return 1;
}

cvm_interner *cvm_interner_create(int32_t distinct) {
    cvm_interner *t = calloc(1, sizeof(cvm_interner));
    if (!t) return NULL;
    t->distinct = distinct;
    t->slots = calloc(1024, sizeof(uint64_t));
    t->mask = 1023;
    t->offsets = malloc(sizeof(uint32_t) * 256);
    t->hashes = malloc(sizeof(uint64_t) * 256);
    t->arena = malloc(4096);
    if (!t->slots || !t->offsets || !t->hashes || !t->arena) { cvm_interner_destroy(t); return NULL; }
    t->values_cap = 255;
    t->arena_cap = 4096;
    t->offsets[0] = 0;
    return t;
}

void cvm_interner_destroy(cvm_interner *t) {
    if (!t) return;
    free(t->slots);
    free(t->arena);
    free(t->offsets);
    free(t->hashes);
    free(t);
}

int32_t cvm_interner_intern(cvm_interner *t, const uint8_t *p, int64_t n) {
    uint64_t h = cvm_hash_bytes(p, n);
    uint64_t tag = h >> 32, m = t->mask, s = h & m;
    const uint64_t *slots = t->slots;
    for (;;) {
        if (t->distinct) break;
        uint64_t slot = slots[s];
        if (slot == 0) break;
        if ((slot & 0xFFFFFFFFULL) == tag) {
            uint64_t code = (slot >> 32) - 1;
            uint32_t start = t->offsets[code], end = t->offsets[code + 1];
            if ((int64_t)(end - start) == n && same_bytes(t->arena + start, p, n)) return (int32_t)code;
        }
        s = (s + 1) & m;
    }
    if (n > 0 && memchr(p, 0, (size_t)n)) return -4;
    if (!cvm_valid_utf8(p, n)) return -1;
    if ((uint64_t)t->arena_len + (uint64_t)n > 0xFFFFFFFFULL || t->count >= 0x7FFFFFFEULL) return -2;
    if (t->arena_len + (uint64_t)n > t->arena_cap) {
        uint64_t cap = t->arena_cap * 2;
        while (cap < t->arena_len + (uint64_t)n) cap *= 2;
        uint8_t *a = realloc(t->arena, cap);
        if (!a) return -3;
        t->arena = a;
        t->arena_cap = cap;
    }
    if (t->count == t->values_cap) {
        uint64_t cap = t->values_cap * 2 + 1;
        uint32_t *o = realloc(t->offsets, sizeof(uint32_t) * (cap + 1));
        if (!o) return -3;
        t->offsets = o;
        uint64_t *hs = realloc(t->hashes, sizeof(uint64_t) * cap);
        if (!hs) return -3;
        t->hashes = hs;
        t->values_cap = cap;
    }
    uint64_t code = t->count;
    if (n > 0) memcpy(t->arena + t->arena_len, p, (size_t)n);
    t->arena_len += (uint64_t)n;
    t->offsets[code + 1] = (uint32_t)t->arena_len;
    t->hashes[code] = h;
    t->count = code + 1;
    if (t->distinct) return (int32_t)code;
    t->slots[s] = (code + 1) << 32 | tag;
    if (t->count * 10 > (t->mask + 1) * 7 && !grow_slots(t, (t->mask + 1) * 2)) return -3;
    return (int32_t)code;
}

void cvm_interner_drop_last(cvm_interner *t) {
    if (!t->distinct || t->count == 0) return;  // a table's value would also need its slot cleared
    t->count--;
    t->arena_len = t->offsets[t->count];
}


int64_t cvm_merge_probe(uint64_t *slots, uint64_t mask, const uint8_t *arena, const uint32_t *offsets, int64_t base,
                        const uint8_t *src, const uint32_t *src_offsets, const uint64_t *hashes, int64_t n,
                        int32_t *out, int32_t *fresh) {
    // A table of millions of slots misses cache on every probe: each value's slot is fetched `ahead` values early,
    // so the misses overlap instead of queueing.
    const int64_t ahead = 16;
    int64_t added = 0;
    for (int64_t i = 0; i < n && i < ahead; i++) __builtin_prefetch(slots + (hashes[i] & mask), 0, 3);
    for (int64_t i = 0; i < n; i++) {
        if (i + ahead < n) __builtin_prefetch(slots + (hashes[i + ahead] & mask), 0, 3);
        const uint64_t h = hashes[i], tag = h >> 32;
        const uint8_t *p = src + src_offsets[i];
        const int64_t len = (int64_t)(src_offsets[i + 1] - src_offsets[i]);
        uint64_t s = h & mask;
        int64_t found = -1;
        for (;;) {
            uint64_t slot = slots[s];
            if (slot == 0) break;
            if ((slot & 0xFFFFFFFFULL) == tag) {
                int64_t code = (int64_t)(slot >> 32) - 1;
                // A value added by this merge is an earlier value of `src` (whose bytes are not in the arena yet).
                const uint8_t *q;
                int64_t qlen;
                if (code < base) {
                    q = arena + offsets[code];
                    qlen = (int64_t)(offsets[code + 1] - offsets[code]);
                } else {
                    int32_t k = fresh[code - base];
                    q = src + src_offsets[k];
                    qlen = (int64_t)(src_offsets[k + 1] - src_offsets[k]);
                }
                if (qlen == len && same_bytes(q, p, len)) { found = code; break; }
            }
            s = (s + 1) & mask;
        }
        if (found >= 0) {
            out[i] = (int32_t)found;
        } else {
            int64_t code = base + added;
            fresh[added++] = (int32_t)i;
            slots[s] = (uint64_t)(code + 1) << 32 | tag;
            out[i] = (int32_t)code;
        }
    }
    return added;
}
