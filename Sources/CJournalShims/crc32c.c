#include "CJournalShims.h"
#include <pthread.h>

// CRC32C, reflected, polynomial 0x82F63B78.
// Slicing-by-8 tables for the portable path; the SSE4.2 instruction on x86-64.
//
// The tables are built on first use, once: the first callers of several
// threads must not write them at the same time as one another, or as a
// thread that already reads them. The ready flags keep the cost of a call
// after the first at one load; pthread_once makes the first build single.

static uint32_t table[8][256];
static int table_ready;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t cjournal_crc32c_portable(uint32_t crc, const void *bytes, size_t count) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) pthread_once(&table_once, build_table);
    const uint8_t *p = bytes;
    uint32_t c = ~crc;
    while (count && ((uintptr_t)p & 7)) { c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8); count--; }
    while (count >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        w ^= c;
        c = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
            table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
            table[1][(w >> 48) & 0xff] ^ table[0][(w >> 56) & 0xff];
        p += 8; count -= 8;
    }
    while (count--) c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#if defined(__x86_64__)
// Three independent streams hide the crc32 instruction's 3-cycle latency
// (one instruction per cycle instead of one per three). The streams are
// joined with "shift" tables: the CRC register after `n` more zero bytes is
// a linear function of the register, tabulated per register byte.
#define CRC_LONG 8192
#define CRC_SHORT 256
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
static int shift_ready;
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

// The raw register (no inversions) after feeding `n` zero bytes.
static uint32_t zeros_raw(uint32_t c, size_t n) {
    while (n--) c = table[0][c & 0xff] ^ (c >> 8);
    return c;
}

static void build_shift(uint32_t shift[4][256], size_t n) {
    uint32_t basis[32];
    for (int i = 0; i < 32; i++) basis[i] = zeros_raw(1u << i, n);
    for (int k = 0; k < 4; k++) {
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t x = 0, c = v << (8 * k);
            for (int i = 0; c; i++, c >>= 1) if (c & 1) x ^= basis[i];
            shift[k][v] = x;
        }
    }
}

static void build_shifts(void) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) pthread_once(&table_once, build_table);
    build_shift(shift_long, CRC_LONG);
    build_shift(shift_short, CRC_SHORT);
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint32_t apply_shift(uint32_t shift[4][256], uint32_t c) {
    return shift[0][c & 0xff] ^ shift[1][(c >> 8) & 0xff] ^ shift[2][(c >> 16) & 0xff] ^ shift[3][c >> 24];
}

// Runs the raw register `c` over as many whole groups of three `block`-byte
// streams as `*count` holds, advancing `*p` and `*count`. With `copy`, also
// stores every word it reads at `*d` (advanced too), so that a copy costs no
// second pass over the source. Always inlined with a constant `copy`.
__attribute__((target("sse4.2"), always_inline))
static inline uint64_t three_streams(uint64_t c, const uint8_t **p, uint8_t **d, size_t *count, size_t block,
                                     uint32_t shift[4][256], const int copy) {
    const uint8_t *q = *p;
    uint8_t *o = *d;
    while (*count >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < block; i += 8) {
            uint64_t w0, w1, w2;
            __builtin_memcpy(&w0, q + i, 8);
            __builtin_memcpy(&w1, q + block + i, 8);
            __builtin_memcpy(&w2, q + 2 * block + i, 8);
            c = __builtin_ia32_crc32di(c, w0);
            c1 = __builtin_ia32_crc32di(c1, w1);
            c2 = __builtin_ia32_crc32di(c2, w2);
            if (copy) {
                __builtin_memcpy(o + i, &w0, 8);
                __builtin_memcpy(o + block + i, &w1, 8);
                __builtin_memcpy(o + 2 * block + i, &w2, 8);
            }
        }
        c = apply_shift(shift, (uint32_t)c) ^ (uint32_t)c1;
        c = apply_shift(shift, (uint32_t)c) ^ (uint32_t)c2;
        q += 3 * block;
        if (copy) o += 3 * block;
        *count -= 3 * block;
    }
    *p = q;
    *d = o;
    return c;
}

// The checksum of `count` bytes at `bytes` continuing `crc`; with `copy`,
// the bytes are copied to `dst` on the way. Always inlined with a constant `copy`.
__attribute__((target("sse4.2"), always_inline))
static inline uint32_t crc32c_sse42_body(uint32_t crc, uint8_t *dst, const void *bytes, size_t count, const int copy) {
    const uint8_t *p = bytes;
    uint8_t *o = dst;
    uint64_t c = (uint32_t)~crc;
    while (count && ((uintptr_t)p & 7)) {
        if (copy) *o++ = *p;
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        count--;
    }
    if (count >= 3 * CRC_SHORT && !__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE)) pthread_once(&shift_once, build_shifts);
    if (count >= 3 * CRC_LONG) c = three_streams(c, &p, &o, &count, CRC_LONG, shift_long, copy);
    if (count >= 3 * CRC_SHORT) c = three_streams(c, &p, &o, &count, CRC_SHORT, shift_short, copy);
    while (count >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        if (copy) { __builtin_memcpy(o, &w, 8); o += 8; }
        c = __builtin_ia32_crc32di(c, w);
        p += 8; count -= 8;
    }
    while (count--) {
        if (copy) *o++ = *p;
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return ~(uint32_t)c;
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *bytes, size_t count) {
    return crc32c_sse42_body(crc, 0, bytes, count, 0);
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_copy_sse42(uint32_t crc, void *dst, const void *src, size_t count) {
    return crc32c_sse42_body(crc, dst, src, count, 1);
}
#endif

static int hardware = -1;

int cjournal_crc32c_is_hardware(void) {
    int h = __atomic_load_n(&hardware, __ATOMIC_RELAXED);
    if (h < 0) {
#if defined(__x86_64__)
        __builtin_cpu_init();
        h = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
        h = 0;
#endif
        __atomic_store_n(&hardware, h, __ATOMIC_RELAXED);
    }
    return h;
}

uint32_t cjournal_crc32c(uint32_t crc, const void *bytes, size_t count) {
#if defined(__x86_64__)
    if (cjournal_crc32c_is_hardware()) return crc32c_sse42(crc, bytes, count);
#endif
    return cjournal_crc32c_portable(crc, bytes, count);
}

uint32_t cjournal_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t count) {
#if defined(__x86_64__)
    if (cjournal_crc32c_is_hardware()) return crc32c_copy_sse42(crc, dst, src, count);
#endif
    __builtin_memcpy(dst, src, count);
    return cjournal_crc32c_portable(crc, dst, count);
}
