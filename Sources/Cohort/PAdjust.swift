import Foundation

/// Multiple-testing adjustment of a family of p-values, as R's `p.adjust`: missing p-values
/// (nil) stay missing and do not count in the family's size.
public enum PAdjust: String, Sendable, CaseIterable {
    /// No adjustment: the tables keep the columns of the command-line contract.
    case none
    /// Bonferroni: min(1, n·p).
    case bonferroni
    /// Holm's step-down (family-wise error rate).
    case holm
    /// Hochberg's step-up (family-wise error rate, independent or positively dependent tests).
    case hochberg
    /// Benjamini–Hochberg (false discovery rate); R's "BH" / "fdr".
    case bh
    /// Benjamini–Yekutieli (false discovery rate under any dependence); R's "BY".
    case by

    /// R's name for the method, for notes and reports.
    public var rName: String {
        switch self {
        case .bh: return "BH"
        case .by: return "BY"
        default: return rawValue
        }
    }

    /// The adjusted p-values, in the order given.
    public func adjust(_ p: [Double?]) -> [Double?] {
        let present = p.indices.filter { p[$0] != nil }
        let n = present.count
        guard n > 0, self != .none else { return p }
        let values = present.map { p[$0]! }
        let adjusted: [Double]
        switch self {
        case .none:
            adjusted = values
        case .bonferroni:
            adjusted = values.map { min(1, Double(n) * $0) }
        case .holm:
            // Ascending p; the k-th smallest (k from 1) times n − k + 1, running maximum.
            let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
            var out = [Double](repeating: 0, count: n)
            var running = -Double.infinity
            for (k, i) in order.enumerated() {
                running = max(running, Double(n - k) * values[i])
                out[i] = min(1, running)
            }
            adjusted = out
        case .hochberg, .bh, .by:
            // Descending p; the i-th largest has rank r = n − i from the bottom, running minimum.
            let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
            let q = self == .by ? (1...n).reduce(0.0) { $0 + 1 / Double($1) } : 1
            var out = [Double](repeating: 0, count: n)
            var running = Double.infinity
            for (k, i) in order.enumerated() {
                let rank = Double(n - k)
                let factor = self == .hochberg ? Double(k + 1) : q * Double(n) / rank
                running = min(running, factor * values[i])
                out[i] = min(1, running)
            }
            adjusted = out
        }
        var result = p
        for (j, i) in present.enumerated() { result[i] = adjusted[j] }
        return result
    }
}
