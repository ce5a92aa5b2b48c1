import Foundation

/// Tail probabilities computed without cancellation: upper tails come from `erfc`, never
/// 1 − cdf, so p-values far below 1e-50 keep their relative accuracy.
public enum Distributions {
    /// P(Z ≤ z) for a standard normal (R's `pnorm(z)`).
    public static func normalCDF(_ z: Double) -> Double { 0.5 * erfc(-z / 2.0.squareRoot()) }
    /// P(Z > z) (R's `pnorm(z, lower.tail = FALSE)`).
    public static func normalUpper(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }
    /// P(X > x) for chi-square with 1 degree of freedom (R's `pchisq(x, 1, lower.tail = FALSE)`).
    public static func chiSquare1Upper(_ x: Double) -> Double { x <= 0 ? 1 : erfc((x / 2).squareRoot()) }
    /// The standard normal quantile at 1 − α/2 for α = 0.05 (R's `qnorm(0.975)`).
    public static let z975 = 1.959963984540054
}

/// Quantiles as R's `quantile(x, type = 7)`: linear interpolation between order statistics.
public enum Quantile {
    public static func type7(_ values: [Double], _ p: Double) -> Double {
        let v = values.sorted()
        precondition(!v.isEmpty)
        let h = Double(v.count - 1) * p
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, v.count - 1)
        return v[lo] + (h - Double(lo)) * (v[hi] - v[lo])
    }

    /// R's `median`.
    public static func median(_ values: [Double]) -> Double {
        let v = values.sorted()
        let n = v.count
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
    }
}
