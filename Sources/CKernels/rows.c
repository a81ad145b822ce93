#include "cvm_kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Extract's common rows, typed in one pass per line (see cvm_kernels.h). Written in C because this is the hot loop
// of every file: in Swift the same work went through a record's field array, a reader struct per column and an
// array append per value (a uniqueness and capacity check each), and retains of the readers' arrays; that
// bookkeeping, not the parsing, was most of the per-row cost (perf, M's click events). Only what is common is
// typed here; any line with something else is left whole to the general path (CSVScanner, FileExtractor), which
// stays the one definition of every rule. So each case below must give exactly the general path's value.

static inline int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

// FieldParsers.parseInt64 for at most 18 digits (no overflow possible); 0 when it does not parse (or is longer).
static inline int parse_int(const uint8_t *p, int64_t n, int64_t *out) {
    int64_t i = 0;
    int neg = 0;
    if (n == 0) return 0;
    if (p[0] == '-' || p[0] == '+') { neg = p[0] == '-'; i = 1; }
    if (i >= n || n - i > 18) return 0;
    int64_t v = 0;
    for (; i < n; i++) {
        uint8_t d = (uint8_t)(p[i] - '0');
        if (d > 9) return 0;
        v = v * 10 + d;
    }
    *out = neg ? -v : v;
    return 1;
}

// FieldParsers.parseDecimal for at most 18 digits kept (no overflow possible); 0 when it does not parse (or is longer).
static inline int parse_decimal(const uint8_t *p, int64_t n, int32_t scale, int64_t *out) {
    int64_t i = 0, digits = 0, frac = 0;
    int neg = 0, dot = 0;
    if (n == 0) return 0;
    if (p[0] == '-' || p[0] == '+') { neg = p[0] == '-'; i = 1; }
    int64_t v = 0;
    for (; i < n; i++) {
        uint8_t c = p[i];
        if (c == '.') {
            if (dot) return 0;
            dot = 1;
        } else if ((uint8_t)(c - '0') <= 9) {
            if (dot) {
                if (frac >= scale) {
                    if (c != '0') return 0;  // a non-zero digit beyond the scale
                    continue;
                }
                frac++;
            }
            if (++digits > 18) return 0;
            v = v * 10 + (c - '0');
        } else {
            return 0;
        }
    }
    if (digits == 0) return 0;
    for (; frac < scale; frac++) {
        if (__builtin_mul_overflow(v, 10, &v)) return 0;
    }
    *out = neg ? -v : v;
    return 1;
}

// FieldParsers.digits: exactly `count` ASCII digits at `at`.
static inline int digits_at(const uint8_t *b, int64_t n, int64_t at, int count, int *v) {
    if (at + count > n) return 0;
    int x = 0;
    for (int k = 0; k < count; k++) {
        uint8_t c = (uint8_t)(b[at + k] - '0');
        if (c > 9) return 0;
        x = x * 10 + c;
    }
    *v = x;
    return 1;
}

// CivilDate.daysSinceEpoch (days from 1970-01-01, proleptic Gregorian).
static inline int64_t civil_days(int64_t year, int64_t month, int64_t day) {
    int64_t y = month <= 2 ? year - 1 : year;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = month > 2 ? month - 3 : month + 9;
    int64_t doy = (153 * mp + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int days_in(int y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return days[m - 1];
}

// FieldParsers.readOffset: `Z` (any case) or `+HH`, `+HHMM`, `+HH:MM` (at most 18 hours) at `b[i...]`: its seconds
// east of UTC and where it ends. 0 when there is none.
static inline int read_offset(const uint8_t *b, int64_t n, int64_t i, int64_t *offset, int64_t *end) {
    if (i >= n) return 0;
    if (b[i] == 'Z' || b[i] == 'z') { *offset = 0; *end = i + 1; return 1; }
    int oh, om = 0, v;
    if ((b[i] != '+' && b[i] != '-') || !digits_at(b, n, i + 1, 2, &oh) || oh > 18) return 0;
    int64_t j = i + 3;
    if (j < n && b[j] == ':') {
        if (!digits_at(b, n, j + 1, 2, &v) || v >= 60) return 0;
        om = v;
        j += 3;
    } else if (digits_at(b, n, j, 2, &v)) {
        if (v >= 60) return 0;
        om = v;
        j += 2;
    }
    *offset = (int64_t)(oh * 3600 + om * 60) * (b[i] == '-' ? -1 : 1);
    *end = j;
    return 1;
}

// ZoneConverter.offset: the seconds east of UTC of local time `local` (seconds as if the wall clock were UTC) in the
// column's zone. 0 when the general path must resolve it: a zone with daylight saving time and no table, or a local
// time near a change of offset or outside the table (see cvm_zone_table).
static inline int zone_offset(cvm_fast_column *c, int64_t local, int64_t *offset) {
    if (!c || c->zone != CVM_ZONE_NOT_FIXED) { *offset = c ? c->zone : 0; return 1; }
    const cvm_zone_table *z = c->zones;
    if (!z || z->count <= 0 || local < z->starts[0] || local >= z->starts[z->count]) return 0;
    int64_t k = c->zone_segment;
    if (k < 0 || k >= z->count || local < z->starts[k] || local >= z->starts[k + 1]) {
        int64_t lo = 0, hi = z->count;  // starts[lo] <= local < starts[hi]
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (z->starts[mid] <= local) lo = mid; else hi = mid;
        }
        k = lo;
        c->zone_segment = k;
    }
    if (z->offsets[k] == CVM_ZONE_NOT_FIXED) return 0;
    *offset = z->offsets[k];
    return 1;
}

// FieldParsers.parseISOTimestamp: microseconds since the epoch; without an offset in the column's zone (`c` NULL:
// UTC). 1 when it parses, 0 when the general path would not parse it either, -1 when that path must resolve it
// (a local time `zone_offset` leaves).
static inline int parse_iso(const uint8_t *b, int64_t n, cvm_fast_column *c, int64_t *out) {
    int y, m, d;
    if (n < 10 || b[4] != '-' || b[7] != '-' || !digits_at(b, n, 0, 4, &y) || !digits_at(b, n, 5, 2, &m)
        || !digits_at(b, n, 8, 2, &d)) return 0;
    if (m < 1 || m > 12 || d < 1 || d > days_in(y, m)) return 0;
    int64_t secs = 0, micros = 0, i = 10;
    if (i < n && (b[i] == 'T' || b[i] == ' ' || b[i] == 't')) {
        int hh, mi;
        if (!digits_at(b, n, i + 1, 2, &hh) || !(i + 3 < n) || b[i + 3] != ':' || !digits_at(b, n, i + 4, 2, &mi)
            || hh >= 24 || mi >= 60) return 0;
        secs = hh * 3600 + mi * 60;
        i += 6;
        if (i < n && b[i] == ':') {
            int ss;
            if (!digits_at(b, n, i + 1, 2, &ss) || ss >= 61) return 0;
            secs += ss;
            i += 3;
            if (i < n && (b[i] == '.' || b[i] == ',')) {
                i++;
                int64_t scale = 100000, fs = i;
                while (i < n && (uint8_t)(b[i] - '0') <= 9) { micros += (b[i] - '0') * scale; scale /= 10; i++; }
                if (i == fs) return 0;
            }
        }
    }
    const int64_t local = civil_days(y, m, d) * 86400 + secs;
    int64_t offset = 0, end;
    if (i >= n) {
        if (!zone_offset(c, local, &offset)) return -1;
    } else {
        // One space before the offset or ` UTC`, after a time only (Ruby's and Shopify's exports).
        int utc = 0;
        if (b[i] == ' ' && i > 10 && i + 1 < n) {
            i++;
            utc = n - i == 3 && b[i] == 'U' && b[i + 1] == 'T' && b[i + 2] == 'C';
        }
        if (!utc && (!read_offset(b, n, i, &offset, &end) || end != n)) return 0;
    }
    *out = (local - offset) * 1000000 + micros;
    return 1;
}

// FieldParsers.parseDate(.iso8601): `YYYY-MM-DD`, or a timestamp (its date as written, the rest checked as a
// timestamp in UTC is). 1 or 0 (never left to the general path).
static inline int parse_iso_date(const uint8_t *b, int64_t n, int64_t *out) {
    int y, m, d;
    int64_t ignored;
    if (n < 10 || b[4] != '-' || b[7] != '-' || !digits_at(b, n, 0, 4, &y) || !digits_at(b, n, 5, 2, &m)
        || !digits_at(b, n, 8, 2, &d)) return 0;
    if (n > 10 && parse_iso(b, n, NULL, &ignored) != 1) return 0;
    if (m < 1 || m > 12 || d < 1 || d > days_in(y, m)) return 0;
    *out = civil_days(y, m, d);
    return 1;
}

// FieldParsers.parsePattern's fields.
typedef struct pattern_fields { int y, m, d, hh, mi, ss; int64_t micros, offset; int has_offset; } pattern_fields;

static const char *const month_names[12] = {"january", "february", "march", "april", "may", "june", "july", "august",
                                            "september", "october", "november", "december"};
static const char *const weekday_names[7] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};

// FieldParsers.matchName: the first of `names` (in their order) at `p[i...]`, any case (`| 0x20`, as there): its first
// three letters, or all of it when `full`. Its index, or -1; `*used`: the bytes it took.
static inline int match_name(const uint8_t *p, int64_t n, int64_t i, const char *const *names, int count, int full, int64_t *used) {
    for (int k = 0; k < count; k++) {
        const char *name = names[k];
        int64_t len = full ? (int64_t)strlen(name) : 3, j = 0;
        if (i + len > n) continue;
        while (j < len && (uint8_t)(p[i + j] | 0x20) == (uint8_t)name[j]) j++;
        if (j == len) { *used = len; return k; }
    }
    return -1;
}

// FieldParsers.parsePattern of one format's steps: 1 when the whole field matches. Range checks are the callers', as
// there (but for a 12-hour clock's 1-12, checked here as there).
static inline int match_pattern(const cvm_date_op *ops, int32_t count, const uint8_t *p, int64_t n, pattern_fields *f) {
    int64_t i = 0, used;
    int hour12 = -1, pm = 0;
    *f = (pattern_fields){1970, 1, 1, 0, 0, 0, 0, 0, 0};
    for (int32_t k = 0; k < count; k++) {
        const cvm_date_op op = ops[k];
        switch (op.kind) {
        case CVM_DATE_LITERAL:
            if (i >= n || p[i] != (uint8_t)op.min) return 0;
            i++;
            continue;
        case CVM_DATE_FRACTION: {
            // Exactly `min` digits: the first six are the microseconds, the rest only have to be digits.
            int v, rest, kept = op.min < 6 ? op.min : 6;
            if (!digits_at(p, n, i, kept, &v)) return 0;
            if (op.min > 6 && !digits_at(p, n, i + 6, op.min - 6, &rest)) return 0;
            int64_t micros = v;
            for (int32_t s = op.min; s < 6; s++) micros *= 10;
            f->micros = micros;
            i += op.min;
            continue;
        }
        case CVM_DATE_OFFSET: {
            int64_t end;
            if (!read_offset(p, n, i, &f->offset, &end)) return 0;
            f->has_offset = 1;
            i = end;
            continue;
        }
        case CVM_DATE_MONTH_NAME: {
            int k2 = match_name(p, n, i, month_names, 12, op.min, &used);
            if (k2 < 0) return 0;
            f->m = k2 + 1;
            i += used;
            continue;
        }
        case CVM_DATE_WEEKDAY_NAME:
            if (match_name(p, n, i, weekday_names, 7, op.min, &used) < 0) return 0;
            i += used;
            continue;
        case CVM_DATE_MERIDIEM:
            if (!(i + 1 < n) || ((p[i] | 0x20) != 'a' && (p[i] | 0x20) != 'p')) return 0;
            pm = (p[i] | 0x20) == 'p';
            if ((p[i + 1] | 0x20) == 'm') i += 2;
            else if (i + 3 < n && p[i + 1] == '.' && (p[i + 2] | 0x20) == 'm' && p[i + 3] == '.') i += 4;
            else return 0;
            continue;
        default:
            break;
        }
        int v = 0, j = 0;
        while (j < op.max && i + j < n) {
            uint8_t x = (uint8_t)(p[i + j] - '0');
            if (x > 9) break;
            v = v * 10 + x;
            j++;
        }
        if (j < op.min) return 0;
        i += j;
        switch (op.kind) {
        case CVM_DATE_YEAR: f->y = v; break;
        case CVM_DATE_YEAR2: f->y = v < 69 ? 2000 + v : 1900 + v; break;
        case CVM_DATE_MONTH: f->m = v; break;
        case CVM_DATE_DAY: f->d = v; break;
        case CVM_DATE_HOUR: f->hh = v; break;
        case CVM_DATE_HOUR12: if (v < 1 || v > 12) return 0; hour12 = v; break;
        case CVM_DATE_MINUTE: f->mi = v; break;
        default: f->ss = v; break;
        }
    }
    if (hour12 >= 0) f->hh = hour12 % 12 + (pm ? 12 : 0);
    return i == n;
}

// FieldParsers.parseDate or parseTimestamp of one pattern: a valid date (a time in a date's pattern is read, not
// checked); for a timestamp hours below 24, minutes below 60, seconds below 61, and the offset written or else the
// column's zone's. 1 with `*out`, 0 when it does not parse, -1 when the general path must resolve the local time.
static inline int parse_pattern(cvm_fast_column *c, const cvm_date_op *ops, int32_t count, const uint8_t *p, int64_t n,
                                int stamp, int64_t *out) {
    pattern_fields f;
    if (!match_pattern(ops, count, p, n, &f) || f.m < 1 || f.m > 12 || f.d < 1 || f.d > days_in(f.y, f.m)) return 0;
    if (!stamp) {
        *out = civil_days(f.y, f.m, f.d);
        return 1;
    }
    if (f.hh >= 24 || f.mi >= 60 || f.ss >= 61) return 0;
    const int64_t local = civil_days(f.y, f.m, f.d) * 86400 + f.hh * 3600 + f.mi * 60 + f.ss;
    int64_t offset = f.offset;
    if (!f.has_offset && !zone_offset(c, local, &offset)) return -1;
    *out = (local - offset) * 1000000 + f.micros;
    return 1;
}

// FieldParsers.parseDate and parseTimestamp over a column's formats, tried in order as there: the first that parses
// gives the value. 1 with `*out`, 0 when none parses, -1 when the general path must type the field (a local time
// near a change of offset).
// Out of line: inlined into `type_field`, the patterns' code slowed the columns of every other kind (orders with
// ISO 8601 timestamps read 3% slower).
__attribute__((noinline)) static int parse_formats(cvm_fast_column *c, const uint8_t *p, int64_t n, int stamp, int64_t *out) {
    const cvm_date_op *ops = c->date_ops;
    const int32_t count = c->date_op_count;
    for (int32_t k = 0; k < count;) {
        int32_t end = k + 1;
        while (end < count && ops[end].kind != CVM_DATE_FORMAT) end++;
        const int r = !ops[k].min ? parse_pattern(c, ops + k + 1, end - k - 1, p, n, stamp, out)
                    : stamp ? parse_iso(p, n, c, out) : parse_iso_date(p, n, out);
        if (r != 0) return r;
        k = end;
    }
    return 0;
}

// FieldParsers.parseDouble: strtod over the whole field (fewer than 64 bytes), finite. The same libc call on the
// same bytes, so the same value.
static inline int parse_double(const uint8_t *p, int64_t n, int64_t *out) {
    if (n <= 0 || n >= 64) return 0;
    char tmp[65];
    memcpy(tmp, p, (size_t)n);
    tmp[n] = 0;
    char *end = NULL;
    double d = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(d)) return 0;
    memcpy(out, &d, sizeof d);
    return 1;
}

// FieldParsers.parseBool: the words packed into one integer, ASCII lowercased (`| 0x20`, as there).
static inline int parse_bool(const uint8_t *p, int64_t n, int64_t *out) {
    if (n > 5) return 0;
    uint64_t w = 0;
    for (int64_t k = 0; k < n; k++) w = w << 8 | (uint64_t)(p[k] | 0x20);
    switch (w) {
    case 0x74727565ULL: case 0x796573ULL: case 0x31ULL: case 0x74ULL: case 0x79ULL: *out = 1; return 1;
    case 0x66616c7365ULL: case 0x6e6fULL: case 0x30ULL: case 0x66ULL: case 0x6eULL: *out = 0; return 1;
    default: return 0;
    }
}

// FileExtractor.stripped: each `strip` text taken off either end while one is there, blanks trimmed after each round.
static inline void strip_field(const cvm_fast_column *c, const uint8_t **pp, int64_t *pn) {
    const uint8_t *p = *pp;
    int64_t n = *pn;
    int changed = 1;
    while (changed) {
        changed = 0;
        for (int32_t k = 0; k < c->strip_count; k++) {
            const uint8_t *t = c->strip_bytes + c->strip_offsets[k];
            const int64_t len = c->strip_offsets[k + 1] - c->strip_offsets[k];
            if (len == 0) continue;
            if (n >= len && memcmp(p, t, (size_t)len) == 0) { p += len; n -= len; changed = 1; }
            if (n >= len && memcmp(p + n - len, t, (size_t)len) == 0) { n -= len; changed = 1; }
        }
        while (n > 0 && is_blank(p[0])) { p++; n--; }
        while (n > 0 && is_blank(p[n - 1])) n--;
    }
    *pp = p;
    *pn = n;
}

// NumberFormat.normalize: the number rewritten plain into `out` (grouping removed where it separates groups of three
// digits before the decimal mark, the mark made a `.`); 0 for a misplaced separator, a `.` that is neither mark, or
// no room (the general path says why, or reads it).
static inline int normalize_number(const cvm_fast_spec *s, const uint8_t *b, int64_t n, uint8_t *out, int64_t cap, int64_t *len) {
    const uint8_t dec = s->decimal;
    const uint8_t *th = s->thousands;
    const int64_t tn = s->thousands_len;
    int64_t i = 0, o = 0;
    int run = 0, grouped = 0, fraction = 0;
    while (i < n) {
        const uint8_t c = b[i];
        if (!fraction && tn > 0 && i + tn <= n && memcmp(b + i, th, (size_t)tn) == 0) {
            if (grouped ? run != 3 : (run < 1 || run > 3)) return 0;
            grouped = 1;
            run = 0;
            i += tn;
            continue;
        }
        if (o >= cap) return 0;
        if (!fraction && c == dec) {
            if (grouped && run != 3) return 0;
            fraction = 1;
            out[o++] = '.';
            i++;
            continue;
        }
        if (c == '.' && dec != c) return 0;
        if (c >= '0' && c <= '9') run++; else if (grouped && !fraction) return 0;
        out[o++] = c;
        i++;
    }
    if (!fraction && grouped && run != 3) return 0;
    *len = o;
    return 1;
}

// The declared bool words (FileExtractor's `among`): the field with A-Z made a-z equal to a word.
static inline int parse_bool_words(const cvm_fast_column *c, const uint8_t *p, int64_t n, int64_t *out) {
    for (int32_t k = 0; k < c->word_count; k++) {
        const uint8_t *w = c->word_bytes + c->word_offsets[k];
        if (c->word_offsets[k + 1] - c->word_offsets[k] != n) continue;
        int64_t j = 0;
        while (j < n && w[j] == ((uint8_t)(p[j] - 'A') <= 25 ? (p[j] | 0x20) : p[j])) j++;
        if (j == n) { *out = k < c->true_words; return 1; }
    }
    return 0;
}

static inline int is_null(const cvm_fast_spec *s, const uint8_t *p, int64_t n) {
    // Most fields have a length no null value has: one bit test.
    if (n < 64 ? !((s->null_lengths >> n) & 1) : !s->long_null) return 0;
    for (int64_t k = 0; k < s->null_count; k++) {
        int64_t a = s->null_offsets[k], b = s->null_offsets[k + 1];
        if (b - a == n && (n == 0 || memcmp(s->null_bytes + a, p, (size_t)n) == 0)) return 1;
    }
    return 0;
}

// A null in row `row` of column `c`: its place in the nulls, and 0 as its value (what the general path appends).
static inline void set_null(cvm_fast_column *c, int64_t row) {
    c->nulls[c->null_count++] = row;
    if (c->codes) c->codes[row] = 0; else c->ints[row] = 0;
}

// Types one field into row `row` of column `c`'s batch; 0 when the general path must type the row.
static inline int type_field(cvm_fast_spec *s, cvm_fast_column *c, const uint8_t *p, int64_t n, int64_t row) {
    if (c->trim) {
        while (n > 0 && is_blank(p[0])) { p++; n--; }
        while (n > 0 && is_blank(p[n - 1])) n--;
    }
    if (c->strip_count > 0) strip_field(c, &p, &n);
    if (is_null(s, p, n)) {
        set_null(c, row);
        return 1;
    }
    int64_t v = 0;
    if (s->rewrites_numbers && (c->kind == CVM_FAST_INT || c->kind == CVM_FAST_DECIMAL || c->kind == CVM_FAST_DOUBLE)) {
        int64_t len;
        if (!normalize_number(s, p, n, s->scratch, s->scratch_len, &len)) return 0;
        p = s->scratch;
        n = len;
    }
    switch (c->kind) {
    case CVM_FAST_STRING: {
        int32_t code = cvm_interner_intern(c->interner, p ? p : (const uint8_t *)"", n);
        if (code < 0) return 0;
        c->codes[row] = code;
        return 1;
    }
    case CVM_FAST_STRING_LOWER:
    case CVM_FAST_STRING_UPPER: {
        if (n > s->scratch_len) return 0;
        uint8_t lo = c->kind == CVM_FAST_STRING_LOWER ? 'A' : 'a';
        for (int64_t k = 0; k < n; k++) {
            uint8_t b = p[k];
            s->scratch[k] = (uint8_t)(b - lo) <= 25 ? (b ^ 0x20) : b;
        }
        int32_t code = cvm_interner_intern(c->interner, s->scratch, n);
        if (code < 0) return 0;
        c->codes[row] = code;
        return 1;
    }
    case CVM_FAST_INT:
        if (!parse_int(p, n, &v)) return 0;
        break;
    case CVM_FAST_DECIMAL:
        if (!parse_decimal(p, n, c->scale, &v)) return 0;
        break;
    case CVM_FAST_EPOCH:
        if (!parse_int(p, n, &v) || __builtin_mul_overflow(v, c->multiplier, &v)) return 0;
        break;
    case CVM_FAST_STAMP:
    case CVM_FAST_DATE:
        // ISO 8601 alone (the default format; a pattern has steps after its opening) inline; the rest out of line.
        if (c->date_op_count == 1 && c->date_ops[0].min) {
            if ((c->kind == CVM_FAST_STAMP ? parse_iso(p, n, c, &v) : parse_iso_date(p, n, &v)) != 1) return 0;
        } else if (parse_formats(c, p, n, c->kind == CVM_FAST_STAMP, &v) != 1) {
            return 0;
        }
        break;
    case CVM_FAST_DOUBLE:
        if (!parse_double(p, n, &v)) return 0;
        break;
    case CVM_FAST_BOOL:
        if (!(c->word_count > 0 ? parse_bool_words(c, p, n, &v) : parse_bool(p, n, &v))) return 0;
        break;
    case CVM_FAST_EPOCH_NS:
        if (!parse_int(p, n, &v)) return 0;
        v = v >= 0 ? v / 1000 : (v + 1) / 1000 - 1;
        break;
    default:
        return 0;
    }
    // Timestamps lie within 0001-01-01 ..< 10000-01-01 UTC (CVMCore's timestampMicrosRange); outside, the general
    // path rejects the row with its reason.
    if ((c->kind == CVM_FAST_EPOCH || c->kind == CVM_FAST_EPOCH_NS || c->kind == CVM_FAST_STAMP)
        && (v < -62135596800000000LL || v >= 253402300800000000LL)) return 0;
    c->ints[row] = v;
    return 1;
}

int64_t cvm_fast_rows(cvm_fast_spec *s, const uint8_t *buf, int64_t len, int64_t max_rows, int64_t *consumed) {
    const uint8_t d = s->delimiter;
    const int64_t cap = s->expected_fields >= 0 ? s->expected_fields : s->max_index + 1;
    int64_t pos = 0, rows = 0;
    for (int64_t k = 0; k < s->ncols; k++) s->cols[k].null_count = 0;
    while (rows < max_rows && pos < len) {
        const uint8_t *line = buf + pos;
        const uint8_t *lf = memchr(line, '\n', (size_t)(len - pos));
        if (!lf) break;
        int64_t n = lf - line;
        if (n + 1 > s->max_record_bytes) break;
        if (n > 0 && line[n - 1] == '\r') n--;  // CRLF: the CR ends the last field
        if (n == 0) break;                      // a blank line (skipped by the general path)
        if (s->comment_first >= 0 && line[0] == (uint8_t)s->comment_first) break;
        // Split at the delimiter (fields past `cap` are only counted): 16 bytes at a time where SSE2 is there (every
        // x86-64) until a block holds the quote byte, then a byte at a time. A field that opens with the quote and
        // closes it right before a delimiter or the line's end, with no doubled quote or escape byte inside, is its
        // bytes between the quotes, as in the general path (a tenth of M's rows quote a category). Any other quoting
        // (a doubled quote, an escape, text after the closing quote, a quote left open to the next line) leaves the
        // line to the general path. A quote byte inside an unquoted field is text there too.
        int64_t nf = 0, start = 0, i = 0;
        int bail = 0, ended = 0;
        const int32_t q = s->quote;
#define CVM_FIELD(a, b) do { if (nf < cap) { s->field_start[nf] = (a); s->field_end[nf] = (b); } nf++; } while (0)
#if defined(__SSE2__)
        const __m128i vd = _mm_set1_epi8((char)d), vq = _mm_set1_epi8((char)(q >= 0 ? q : d));
        for (; i + 16 <= n; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(line + i));
            unsigned md = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, vd));
            if (q >= 0 && _mm_movemask_epi8(_mm_cmpeq_epi8(x, vq))) break;
            while (md) {
                int64_t at = i + __builtin_ctz(md);
                md &= md - 1;
                CVM_FIELD(start, at);
                start = at + 1;
            }
        }
#endif
        for (; i < n; i++) {
            uint8_t c = line[i];
            if (c == d) {
                CVM_FIELD(start, i);
                start = i + 1;
            } else if (q >= 0 && c == (uint8_t)q && i == start) {
                const uint8_t *close = i + 1 < n ? memchr(line + i + 1, q, (size_t)(n - i - 1)) : NULL;
                if (!close) { bail = 1; break; }
                int64_t j = close - line;
                if (j + 1 < n && line[j + 1] != d) { bail = 1; break; }  // a doubled quote, or text after it
                if (s->escape >= 0 && j > i + 1 && memchr(line + i + 1, s->escape, (size_t)(j - i - 1))) { bail = 1; break; }
                CVM_FIELD(i + 1, j);
                if (j + 1 == n) { ended = 1; break; }
                start = j + 2;
                i = j + 1;  // the delimiter; the loop steps past it
            }
        }
        if (bail) break;
        if (!ended) CVM_FIELD(start, n);
#undef CVM_FIELD
        if (s->expected_fields >= 0 ? nf != s->expected_fields : nf <= s->max_index) break;
        if (nf > 1) {
            // Every field empty or blanks (a spreadsheet's filler row, ",,,"): the general path skips it as a blank line
            // (past `cap` the fields are not recorded: the general path then decides).
            const int64_t m = nf < cap ? nf : cap;
            int64_t k = 0;
            for (; k < m; k++) {
                int64_t a = s->field_start[k], b = s->field_end[k];
                while (a < b && is_blank(line[a])) a++;
                if (a < b) break;
            }
            if (k == m) break;
        }
        if (s->header_first_len > 0) {
            const uint8_t *p = line + s->field_start[0];
            int64_t m = s->field_end[0] - s->field_start[0];
            // A byte-order mark before it: the header of a second file that was concatenated to the first.
            if (m >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) { p += 3; m -= 3; }
            while (m > 0 && is_blank(p[0])) { p++; m--; }
            while (m > 0 && is_blank(p[m - 1])) m--;
            if (m == s->header_first_len && memcmp(p, s->header_first, (size_t)m) == 0) break;
        }
        int ok = 1;
        int64_t typed = 0;  // the columns typed before a failure (the failing one added nothing)
        for (; typed < s->ncols; typed++) {
            cvm_fast_column *c = &s->cols[typed];
            if (c->field < 0) {
                set_null(c, rows);
                continue;
            }
            int64_t a = s->field_start[c->field], b = s->field_end[c->field];
            if (b - a > s->max_field_bytes || !type_field(s, c, line + a, b - a, rows)) { ok = 0; break; }
        }
        if (!ok) {
            // Take back this row's values from `distinct` interners (the general path adds them again) and its
            // nulls; its other values are overwritten by the next row typed here.
            for (int64_t k = 0; k < s->ncols; k++) {
                cvm_fast_column *c = &s->cols[k];
                int null_here = c->null_count > 0 && c->nulls[c->null_count - 1] == rows;
                if (k < typed && c->interner && c->interner->distinct && !null_here) cvm_interner_drop_last(c->interner);
                while (c->null_count > 0 && c->nulls[c->null_count - 1] == rows) c->null_count--;
            }
            break;
        }
        rows++;
        pos = (lf - buf) + 1;
    }
    *consumed = pos;
    return rows;
}
