#ifndef CVM_KERNELS_H
#define CVM_KERNELS_H
#include <stdint.h>
#include <stddef.h>

// Hot numeric kernels of the Cluster stage, written in C because Swift cannot compile one
// function for several instruction sets: each kernel is built for AVX-512, AVX2 and the
// baseline and picked at load time (target_clones). Floating-point contraction is off and
// every distance is summed over dimensions in index order, so all three versions return
// bit-identical results on any x86-64 (and on other architectures, through the baseline).

/// Squared Euclidean distances, one point to every centroid.
/// `ct` holds the centroids transposed and padded: ct[j * kp + c] for dimension j and
/// centroid c, with kp = k rounded up to a multiple of 8 (padding columns are ignored).
/// Writes kp values to `out` (the first k are meaningful).
void cvm_km_distances(const double *point, int64_t d, const double *ct, int64_t kp, double *out);

/// Nearest centroid for rows [0, n) of the row-major matrix x (n × d): writes the index of
/// the closest of the first k centroids (ties: the lowest index) and its squared distance.
void cvm_km_nearest(const double *x, int64_t n, int64_t d, const double *ct, int64_t k, int64_t kp,
                    int32_t *labels, double *distances);

/// All squared distances for rows [0, n) of x: out[i * kp + c] (kp values per row).
void cvm_km_all_distances(const double *x, int64_t n, int64_t d, const double *ct, int64_t kp, double *out);

/// Squared distance between two vectors of length d, summed in index order.
double cvm_km_distance(const double *a, const double *b, int64_t d);

/// Asks the CPU to start fetching the cache line at `p` (no effect on any result): a hash-table
/// probe of millions of entries can then overlap its memory miss with the ones before it.
static inline void cvm_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Creates (or truncates) `path` for writing past the page cache (O_DIRECT; F_NOCACHE on Darwin);
/// -1 with errno set (EINVAL where the file system or platform has no such mode). Writes to it
/// must be whole 4096-byte blocks from 4096-aligned memory.
int cvm_open_uncached(const char *path, int mode);

/// glibc's mmap threshold (mallopt M_MMAP_THRESHOLD): allocations below it come from the heap and are
/// reused after free. Returns 1 when set, 0 when refused or not glibc.
int cvm_set_mmap_threshold(size_t bytes);

/// Gives the heap's free pages back to the system (glibc's malloc_trim(0): free pages anywhere in every arena,
/// not only at the top). Memory freed in blocks below the mmap threshold otherwise stays in the process, so a
/// phase that frees many small arrays while it fills big new ones holds both. 1 when memory was released.
int cvm_release_free_memory(void);

/// A string interner for one file's column (extract's hot loop: every field of every string column of
/// every file passes here). Written in C because the Swift version's array bookkeeping (a uniqueness and
/// capacity check on each of three arrays per new value, bounds checks per probe) was most of its cost:
/// interning was a third of M's extract in perf. Same table layout, hash and first-seen code order as
/// CVMCore's ByteInterner, whose merge takes the arena, offsets and hashes as they are.
typedef struct cvm_interner {
    uint64_t *slots;      // 0: empty; else (code + 1) << 32 | the hash's high 32 bits
    uint64_t mask;
    uint8_t *arena;       // the values' bytes back to back
    uint64_t arena_len, arena_cap;
    uint32_t *offsets;    // count + 1 entries: value i is arena[offsets[i] ..< offsets[i + 1]]
    uint64_t *hashes;     // each value's hash
    uint64_t count, values_cap;
    int32_t distinct;     // values expected distinct (a key): appended without a table, see cvm_interner_create
} cvm_interner;

/// A new empty interner; NULL when out of memory. `distinct`: for a column whose values are expected to be
/// distinct (a source's one-column key, such as event ids): every value is appended with its hash and gets the
/// next code, with no table probed or kept, so a value seen twice has two codes. The source's merge
/// (`cvm_merge_probe`) gives equal values one code, so the table is the same either way. On M's click events
/// the ids' table was a third of extract's time for that column, and every probe found nothing.
cvm_interner *cvm_interner_create(int32_t distinct);
void cvm_interner_destroy(cvm_interner *t);

/// The code of `p[0..<n]`, added when new (always, when `distinct`): >= 0; for a new value, -4 when it holds a
/// NUL byte and -1 when it is not valid UTF-8 (nothing added); -2 when the values would pass 4 GiB of text or
/// 2^31 codes; -3 when out of memory.
int32_t cvm_interner_intern(cvm_interner *t, const uint8_t *p, int64_t n);

/// Takes back the value a `distinct` interner added last (the value of a row the C row pass leaves to the general
/// path, which adds it again); does nothing to another interner (the general path finds its value there).
void cvm_interner_drop_last(cvm_interner *t);

/// ByteInterner.hash: 8 bytes at a time, then murmur3's finaliser (the same value for the same bytes).
uint64_t cvm_hash_bytes(const uint8_t *p, int64_t n);

/// 1 when `p[0..<n]` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), else 0.
int cvm_valid_utf8(const uint8_t *p, int64_t n);

/// How many bytes of `p[0..<n]` equal `c` (a file chunk's line breaks: the line its successor starts on).
/// In C so that the compiler vectorises it in every build (a Swift loop is scalar in debug builds).
int64_t cvm_count_byte(const uint8_t *p, int64_t n, uint8_t c);

/// How one declared column is typed by `cvm_fast_rows` (extract's common rows, see below).
enum {
    CVM_FAST_STRING = 1,       // text interned as written
    CVM_FAST_STRING_LOWER = 2, // text with A-Z made a-z, interned
    CVM_FAST_STRING_UPPER = 3, // text with a-z made A-Z, interned
    CVM_FAST_INT = 4,          // an integer: optional sign and up to 18 digits
    CVM_FAST_DECIMAL = 5,      // fixed point with `scale` places
    CVM_FAST_EPOCH = 6,        // an integer times `multiplier` (epoch seconds, milliseconds, microseconds)
    CVM_FAST_EPOCH_NS = 7,     // epoch nanoseconds to microseconds, floored
    CVM_FAST_STAMP = 8,        // a timestamp in the formats of `date_ops`, tried in order (ISO 8601, or patterns of
                               // digits, names, fractions, offsets and literal bytes: yyyy-MM-dd HH:mm:ss,
                               // dd MMM yyyy h:mm a ...), in the source's zone when it writes no offset
    CVM_FAST_DATE = 9,         // a date (days since 1970-01-01) in the formats of `date_ops`, tried in order
    CVM_FAST_DOUBLE = 10,      // strtod of the whole field (under 64 bytes, finite), its bits in `ints`
    CVM_FAST_BOOL = 11,        // true/yes/1/t/y or false/no/0/f/n, any case, or the declared words: 1 or 0
};

/// One step of a CVM_FAST_DATE or CVM_FAST_STAMP column's formats (TimeFormat's parts, matched the same way). Each
/// format opens with CVM_DATE_FORMAT; the general path's order of formats is kept.
enum {
    CVM_DATE_LITERAL = 0,      // the byte `min`
    CVM_DATE_YEAR = 1,         // min to max digits (greedy)
    CVM_DATE_YEAR2 = 2,        // two digits: 00-68 are 2000-2068, 69-99 are 1969-1999
    CVM_DATE_MONTH = 3,
    CVM_DATE_DAY = 4,
    CVM_DATE_HOUR = 5,         // min to max digits, as the numbers above
    CVM_DATE_MINUTE = 6,
    CVM_DATE_SECOND = 7,
    CVM_DATE_FRACTION = 8,     // exactly `min` digits of a second's fraction (those past the 6th read and dropped)
    CVM_DATE_OFFSET = 9,       // `Z` or an offset `+HH`, `+HHMM`, `+HH:MM` (at most 18 hours)
    CVM_DATE_HOUR12 = 10,      // min to max digits, 1 to 12 (with CVM_DATE_MERIDIEM)
    CVM_DATE_MERIDIEM = 11,    // AM or PM, any case, `a.m.`/`p.m.` too
    CVM_DATE_MONTH_NAME = 12,  // an English month name, any case: its first three letters, or all of it when `min`
    CVM_DATE_WEEKDAY_NAME = 13,// an English weekday name, likewise (read, not checked against the date)
    CVM_DATE_FORMAT = 14,      // the start of a format: ISO 8601 when `min` (no steps follow), else a pattern
};
typedef struct cvm_date_op { int32_t kind, min, max; } cvm_date_op;

/// `cvm_fast_column.zone` of a zone with daylight saving time (its offset depends on the date).
#define CVM_ZONE_NOT_FIXED (-4611686018427387904LL)

/// A zone with daylight saving time as segments of local time (seconds since 1970-01-01 as if the wall clock were
/// UTC): segment k is [starts[k], starts[k + 1]) with its UTC offset offsets[k] (seconds east), or
/// CVM_ZONE_NOT_FIXED around a change of offset, whose local times are left to the general path (as are those
/// before starts[0] and from starts[count] on). Built by Extract's ZoneSegments from the system's zone data.
typedef struct cvm_zone_table {
    const int64_t *starts;     // count + 1 entries, ascending
    const int64_t *offsets;    // count entries
    int64_t count;
} cvm_zone_table;

/// One column of `cvm_fast_rows`: where its field is, how it is typed, and the batch it writes.
typedef struct cvm_fast_column {
    int32_t kind;             // CVM_FAST_*
    int32_t field;            // the field it reads (-1: not in the file, every value null)
    int32_t trim;             // spaces and tabs trimmed at both ends first
    int32_t scale;            // CVM_FAST_DECIMAL: places
    int64_t multiplier;       // CVM_FAST_EPOCH: microseconds per unit
    int64_t zone;             // CVM_FAST_STAMP: the source's zone in seconds east of UTC, or CVM_ZONE_NOT_FIXED
    const cvm_zone_table *zones;  // CVM_ZONE_NOT_FIXED: the zone's offsets (NULL: every time without an offset is left)
    int64_t zone_segment;     // the segment of `zones` the last lookup found (rows run in time order mostly)
    const cvm_date_op *date_ops; int32_t date_op_count;  // CVM_FAST_DATE, CVM_FAST_STAMP: the formats, each number at
                                                         // most 4 digits, a fraction at most 9
    const uint8_t *strip_bytes; const int64_t *strip_offsets; int32_t strip_count;  // `strip`: texts removed from
                              // both ends (repeatedly, with the spaces next to them) after trimming
    const uint8_t *word_bytes; const int64_t *word_offsets; int32_t word_count, true_words;  // CVM_FAST_BOOL with
                              // declared words (lowercase): the first `true_words` are true, the rest false
    cvm_interner *interner;   // the string kinds: the file's dictionary
    int64_t *ints;            // out (the other kinds): one value per row of the batch (a double's bits), 0 under a null
    int32_t *codes;           // out (string kinds): one code per row, 0 under a null
    int64_t *nulls;           // out: the batch rows where the value is null, ascending
    int64_t null_count;       // out
} cvm_fast_column;

/// What a source's rows look like to `cvm_fast_rows`.
typedef struct cvm_fast_spec {
    uint8_t delimiter;
    int32_t quote;              // the quote byte, -1 when quoting is off
    int32_t escape;             // the escape byte inside quoted fields, -1 when none
    int32_t comment_first;      // the comment prefix's first byte, -1 when none
    int64_t max_record_bytes;   // a line longer than this (with its line end) is not typed here
    int64_t max_field_bytes;
    int64_t expected_fields;    // -1: no header (any count above the highest field read)
    int64_t max_index;          // the highest field read
    const uint8_t *header_first; int64_t header_first_len;  // the header's first name (len 0: none)
    const uint8_t *null_bytes; const int64_t *null_offsets; int64_t null_count;  // the null values
    uint64_t null_lengths;      // bit k set when some null value is k bytes long
    int32_t long_null;          // some null value is 64 bytes or longer
    int64_t ncols;
    cvm_fast_column *cols;
    int64_t *field_start, *field_end;  // scratch: room for max(expected_fields, max_index + 1) fields
    uint8_t *scratch; int64_t scratch_len;  // room for case-mapped text and numbers rewritten plain
    int32_t rewrites_numbers;   // ints, decimals and doubles are written with `decimal` and `thousands`
    uint8_t decimal;            // the decimal mark
    const uint8_t *thousands; int64_t thousands_len;  // the digit grouping (len 0: none allowed)
} cvm_fast_spec;

/// Types whole lines of `buf[0..<len]` from its start into the columns' batches (at most `max_rows`), one line a
/// row, and stops before the first line it does not type: one without a line end in `buf`, or one that needs the
/// general parser or typing (quoting other than a whole field without doubled quotes or escapes, a comment's first byte, a blank line, an overlong line or field, the wrong field
/// count, the header again, a value that does not parse, new text that is not valid UTF-8 or holds a NUL byte).
/// A row is typed here exactly as the general path (CSVScanner and FileExtractor) types it; every other line is left
/// to that path. Returns the rows typed; `*consumed`: the bytes of their lines.
/// A string value interned for a row that is then left to the general path is interned there again first, in the
/// same column order, so the dictionary's order is the general path's.
int64_t cvm_fast_rows(cvm_fast_spec *spec, const uint8_t *buf, int64_t len, int64_t max_rows, int64_t *consumed);

/// The probe half of a merge of one file's dictionary (`src`, `src_offsets`, `hashes`: `n` values, equal ones possible
/// when the file's interner was `distinct`) into a source's (`slots`/`mask`: ByteInterner's table; `arena`/`offsets`:
/// its `base` values). Writes each value's code to `out`: an existing value's (or that of an equal value earlier in
/// `src`), or `base + k` for the k-th new one, whose index in `src` goes to `fresh[k]` and whose slot is filled;
/// returns how many are new (the caller appends their bytes in that order). The table must have room
/// for `n` more values. Written in C for the same reason as the interner: the Swift loop's bookkeeping per value
/// (a table of millions of ids, one value at a time) was a ninth of M's extract in perf.
int64_t cvm_merge_probe(uint64_t *slots, uint64_t mask, const uint8_t *arena, const uint32_t *offsets, int64_t base,
                        const uint8_t *src, const uint32_t *src_offsets, const uint64_t *hashes, int64_t n,
                        int32_t *out, int32_t *fresh);

#endif
