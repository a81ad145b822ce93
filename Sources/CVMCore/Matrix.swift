/// A dense row-major matrix of Doubles (`rows` × `cols`), the exchange type for
/// numeric work (scaling, k-means). Flat storage, never `[[Double]]`.
public struct Matrix: Sendable, Equatable {
    public var rows: Int
    public var cols: Int
    public var values: [Double]

    public init(rows: Int, cols: Int, values: [Double]) {
        precondition(values.count == rows * cols, "matrix: \(values.count) values for \(rows)x\(cols)")
        (self.rows, self.cols, self.values) = (rows, cols, values)
    }

    public init(rows: Int, cols: Int, repeating v: Double = 0) {
        self.init(rows: rows, cols: cols, values: [Double](repeating: v, count: rows * cols))
    }

    @inlinable public subscript(r: Int, c: Int) -> Double {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    public func row(_ r: Int) -> ArraySlice<Double> { values[(r * cols)..<((r + 1) * cols)] }
}
