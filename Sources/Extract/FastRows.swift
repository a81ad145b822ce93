import CKernels
import CVMCore
import Foundation

/// Extract's common rows typed in C: `cvm_fast_rows` reads plain lines (the expected fields, none quoted but whole
/// and simply) straight from the scanner's buffer and types them into one batch per column, which is then appended to the readers.
///
/// Why: on M's click events the general path (`CSVScanner.next()`, then `FileExtractor.typeRow` per record) spent
/// most of its time on bookkeeping (the record's field array, an array append per value, retains of the readers'
/// arrays), not on parsing. The general path stays the one definition of every rule: the C code takes only lines
/// it types exactly as that path would, and leaves any other line to it whole (other quoting, a comment, a blank
/// line, the header again, the wrong field count, a value that does not parse, new text that is not valid UTF-8).
/// So the table, the rejects and the dictionaries are the same with or without it (`FastRowsTests`).
///
/// Used when every column is of a kind typed here: text (as written, lowercased or uppercased, trimmed or not),
/// int, decimal, double, bool (the built-in words), timestamps in an epoch unit or in ISO 8601 and patterns (one or
/// several, in the source's zone when they write no offset: `ZoneSegments` for a zone with daylight saving time),
/// and dates in ISO 8601 and patterns; `strip` texts, declared bool words and number formats (decimal commas,
/// grouping) too. Excel serials and an epoch among several formats keep the whole source on the general path.
final class FastRows {
    /// Rows typed per call into C: the batches stay in cache between being written and appended.
    static let batchRows = 1024

    /// Off: every record takes the general path (`FastRowsTests` compare the two, whole and in chunks; the results
    /// must be the same). The fuzz target uses `Extractor.extract(_:bytes:name:typesCommonRowsInC:)` instead.
    static var enabled: Bool {
        get { switchLock.withLock { on } }
        set { switchLock.withLock { on = newValue } }
    }
    private static let switchLock = NSLock()
    nonisolated(unsafe) private static var on = true

    private let spec: UnsafeMutablePointer<cvm_fast_spec>
    private let columns: UnsafeMutablePointer<cvm_fast_column>
    private let count: Int
    /// The zone's segments the columns point at (kept for as long as they do).
    private let zones: ZoneSegments?
    /// Everything allocated for the spec, freed at the end.
    private var allocations: [UnsafeMutableRawPointer] = []

    /// Nil when some column or the source's format needs the general path.
    init?(_ fx: FileExtractor, readers: [ColumnReader], layout: FileExtractor.Layout) {
        let source = fx.source, nullValues = fx.nullValues
        let zone: Int64
        switch fx.zone.kind {
        case .fixed(let seconds): (zone, zones) = (seconds, nil)
        case .iana(let tz):
            (zone, zones) = (CVM_ZONE_NOT_FIXED, readers.contains { $0.type == .timestamp } ? ZoneSegments.shared(tz) : nil)
        }
        // The scanner's own delimiter and dialect, so both paths split and quote alike.
        let dialect = FileExtractor.dialect(source)
        guard FastRows.enabled, case .byte(let delimiter) = FileExtractor.delimiter(source) else { return nil }
        var kinds: [(kind: Int32, scale: Int32, multiplier: Int64)] = []
        var dateOps: [[cvm_date_op]] = []
        for r in readers {
            dateOps.append([])
            switch r.type {
            case .string, .enum:
                switch r.caseRange {
                case nil: kinds.append((Int32(CVM_FAST_STRING), 0, 0))
                case 65...90: kinds.append((Int32(CVM_FAST_STRING_LOWER), 0, 0))
                case 97...122: kinds.append((Int32(CVM_FAST_STRING_UPPER), 0, 0))
                default: return nil
                }
            case .int:
                kinds.append((Int32(CVM_FAST_INT), 0, 0))
            case .decimal:
                let places = r.scale - r.divideDigits
                guard places >= 0, places <= 18 else { return nil }
                kinds.append((Int32(CVM_FAST_DECIMAL), Int32(places), 0))
            case .timestamp:
                switch r.format {
                case .epochSeconds where r.otherFormats.isEmpty: kinds.append((Int32(CVM_FAST_EPOCH), 0, 1_000_000))
                case .epochMillis where r.otherFormats.isEmpty: kinds.append((Int32(CVM_FAST_EPOCH), 0, 1000))
                case .epochMicros where r.otherFormats.isEmpty: kinds.append((Int32(CVM_FAST_EPOCH), 0, 1))
                case .epochNanos where r.otherFormats.isEmpty: kinds.append((Int32(CVM_FAST_EPOCH_NS), 0, 0))
                default:
                    // ISO 8601 and patterns, one or several. In a zone with daylight saving time, local times near a
                    // change of offset take the general path row by row (`ZoneSegments`).
                    guard let ops = FastRows.dateOps([r.format] + r.otherFormats) else { return nil }
                    kinds.append((Int32(CVM_FAST_STAMP), 0, 0))
                    dateOps[dateOps.count - 1] = ops
                }
            case .double:
                kinds.append((Int32(CVM_FAST_DOUBLE), 0, 0))
            case .bool:
                kinds.append((Int32(CVM_FAST_BOOL), 0, 0))
            case .date:
                guard let ops = FastRows.dateOps([r.format] + r.otherFormats) else { return nil }
                kinds.append((Int32(CVM_FAST_DATE), 0, 0))
                dateOps[dateOps.count - 1] = ops
            }
        }
        count = readers.count
        spec = .allocate(capacity: 1)
        columns = .allocate(capacity: max(1, count))
        func alloc<T>(_ type: T.Type, _ n: Int) -> UnsafeMutablePointer<T> {
            let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, n))
            allocations.append(UnsafeMutableRawPointer(p))
            return p
        }
        func copy(_ bytes: [UInt8]) -> UnsafeMutablePointer<UInt8> {
            let p = alloc(UInt8.self, bytes.count)
            if !bytes.isEmpty { p.update(from: bytes, count: bytes.count) }
            return p
        }
        let batch = FastRows.batchRows
        /// Texts back to back and their offsets (count + 1).
        func texts(_ list: [[UInt8]]) -> (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Int64>) {
            let offsets = alloc(Int64.self, list.count + 1)
            offsets[0] = 0
            for (k, t) in list.enumerated() { offsets[k + 1] = offsets[k] + Int64(t.count) }
            return (copy(list.flatMap { $0 }), offsets)
        }
        for (c, r) in readers.enumerated() {
            let string = kinds[c].kind <= Int32(CVM_FAST_STRING_UPPER)
            let ops = alloc(cvm_date_op.self, dateOps[c].count)
            for (k, op) in dateOps[c].enumerated() { ops[k] = op }
            let trueWords = r.boolWords?.true ?? [], falseWords = r.boolWords?.false ?? []
            let strip = texts(r.strip), words = texts(trueWords + falseWords)
            columns[c] = cvm_fast_column(
                kind: kinds[c].kind, field: Int32(layout.fieldIndex[c]), trim: r.trim ? 1 : 0, scale: kinds[c].scale,
                multiplier: kinds[c].multiplier, zone: zone, zones: zones.map { UnsafePointer($0.table) }, zone_segment: 0,
                date_ops: ops, date_op_count: Int32(dateOps[c].count),
                strip_bytes: strip.0, strip_offsets: strip.1, strip_count: Int32(r.strip.count),
                word_bytes: words.0, word_offsets: words.1, word_count: Int32(trueWords.count + falseWords.count),
                true_words: Int32(trueWords.count),
                interner: string ? r.interner.cTable : nil,
                ints: string ? nil : alloc(Int64.self, batch), codes: string ? alloc(Int32.self, batch) : nil,
                nulls: alloc(Int64.self, batch), null_count: 0)
        }
        let nullBytes = copy(nullValues.flatMap { $0 })
        let nullOffsets = alloc(Int64.self, nullValues.count + 1)
        var at: Int64 = 0
        nullOffsets[0] = 0
        for (k, v) in nullValues.enumerated() { at += Int64(v.count); nullOffsets[k + 1] = at }
        let fieldRoom = max(1, layout.expectedFields >= 0 ? layout.expectedFields : layout.maxIndex + 1)
        let scratch = 4096
        spec.initialize(to: cvm_fast_spec(
            delimiter: delimiter, quote: dialect.quote.map(Int32.init) ?? -1, escape: dialect.escape.map(Int32.init) ?? -1,
            comment_first: dialect.comment?.first.map(Int32.init) ?? -1,
            max_record_bytes: Int64(source.maxLineBytes), max_field_bytes: Int64(source.maxFieldBytes),
            expected_fields: Int64(layout.expectedFields), max_index: Int64(layout.maxIndex),
            header_first: copy(layout.headerFirst), header_first_len: Int64(layout.headerFirst.count),
            null_bytes: nullBytes, null_offsets: nullOffsets, null_count: Int64(nullValues.count),
            null_lengths: nullValues.reduce(0) { $1.count < 64 ? $0 | 1 << UInt64($1.count) : $0 },
            long_null: nullValues.contains { $0.count >= 64 } ? 1 : 0,
            ncols: Int64(count), cols: columns,
            field_start: alloc(Int64.self, fieldRoom), field_end: alloc(Int64.self, fieldRoom),
            scratch: alloc(UInt8.self, scratch), scratch_len: Int64(scratch),
            rewrites_numbers: fx.numberFormat == nil ? 0 : 1, decimal: fx.numberFormat?.decimal ?? UInt8(ascii: "."),
            thousands: copy(fx.numberFormat?.thousands ?? []), thousands_len: Int64(fx.numberFormat?.thousands.count ?? 0)))
    }

    /// A column's date or timestamp formats as `cvm_fast_rows` steps, in the order the general path tries them: each
    /// opens with `CVM_DATE_FORMAT` (ISO 8601, or a pattern whose parts follow). Nil when one is neither (epochs,
    /// Excel serials) or has a number of more than 4 digits.
    static func dateOps(_ formats: [TimeFormat]) -> [cvm_date_op]? {
        var ops: [cvm_date_op] = []
        for format in formats {
            switch format {
            case .iso8601:
                ops.append(cvm_date_op(kind: Int32(CVM_DATE_FORMAT), min: 1, max: 0))
            case .pattern(let parts):
                ops.append(cvm_date_op(kind: Int32(CVM_DATE_FORMAT), min: 0, max: 0))
                for part in parts {
                    guard let op = op(part) else { return nil }
                    ops.append(op)
                }
            default:
                return nil
            }
        }
        return ops
    }

    /// One part of a pattern as a step.
    private static func op(_ part: TimeFormat.PatternPart) -> cvm_date_op? {
        func step(_ kind: Int32, _ min: Int = 0, _ max: Int = 0) -> cvm_date_op { cvm_date_op(kind: kind, min: Int32(min), max: Int32(max)) }
        switch part {
        case .literal(let b): return step(Int32(CVM_DATE_LITERAL), Int(b))
        case .number(let field, let lo, let hi):
            guard hi <= 4 else { return nil }
            let kind: Int32 = switch field {
            case .year: Int32(CVM_DATE_YEAR)
            case .year2: Int32(CVM_DATE_YEAR2)
            case .month: Int32(CVM_DATE_MONTH)
            case .day: Int32(CVM_DATE_DAY)
            case .hour: Int32(CVM_DATE_HOUR)
            case .hour12: Int32(CVM_DATE_HOUR12)
            case .minute: Int32(CVM_DATE_MINUTE)
            case .second: Int32(CVM_DATE_SECOND)
            }
            return step(kind, lo, hi)
        case .fraction(let digits):
            guard (1...9).contains(digits) else { return nil }
            return step(Int32(CVM_DATE_FRACTION), digits, digits)
        case .offset: return step(Int32(CVM_DATE_OFFSET))
        case .meridiem: return step(Int32(CVM_DATE_MERIDIEM))
        case .monthName(let full): return step(Int32(CVM_DATE_MONTH_NAME), full ? 1 : 0)
        case .weekdayName(let full): return step(Int32(CVM_DATE_WEEKDAY_NAME), full ? 1 : 0)
        }
    }

    deinit {
        for p in allocations { p.deallocate() }
        columns.deallocate()
        spec.deallocate()
    }

    /// Types the plain lines at the scanner's position (at most `limit`) into `readers` and `lines`; the rows taken
    /// (0 when the next line needs the general path, or is not buffered whole yet).
    func run(_ scanner: CSVScanner, _ readers: inout [ColumnReader], _ lines: inout [Int64], limit: Int) -> Int {
        var total = 0
        while total < limit {
            let want = min(FastRows.batchRows, limit - total)
            guard let took = scanner.takeLines({ b in
                var consumed: Int64 = 0
                let rows = cvm_fast_rows(spec, b.baseAddress!, Int64(b.count), Int64(want), &consumed)
                return (Int(rows), Int(consumed))
            }), took.lines > 0 else { break }
            let n = took.lines
            for c in 0..<count {
                let col = columns[c]
                let before = readers[c].count
                if let codes = col.codes {
                    readers[c].codes.append(contentsOf: UnsafeBufferPointer(start: codes, count: n))
                } else if col.kind == Int32(CVM_FAST_DOUBLE) {
                    // The doubles' bits, divided as the general path divides them (`divide_by`).
                    let digits = readers[c].divideDigits
                    for k in 0..<n {
                        let v = Double(bitPattern: UInt64(bitPattern: col.ints[k]))
                        readers[c].doubles.append(digits > 0 ? v / pow(10, Double(digits)) : v)
                    }
                } else {
                    readers[c].ints.append(contentsOf: UnsafeBufferPointer(start: col.ints, count: n))
                }
                for k in 0..<Int(col.null_count) { readers[c].nulls.append(before + Int(col.nulls[k])) }
            }
            let first = Int64(took.firstLine)
            lines.append(contentsOf: first..<(first + Int64(n)))
            total += n
            if n < want { break }
        }
        return total
    }
}

