import Foundation

/// The two-sample Wilcoxon rank-sum (Mann–Whitney) test exactly as R's `wilcox.test(x, y)`
/// (two-sided, `correct = TRUE`): the statistic W is the rank sum of x minus n_x(n_x+1)/2;
/// the p-value is exact (the distribution of W by counting, R's `pwilcox`) when both groups
/// have fewer than 50 values and there are no ties, otherwise the normal approximation with
/// the tie correction of the variance and a continuity correction of 0.5.
public struct MannWhitney: Sendable {
    public enum Method: String, Sendable { case exact, normal }
    public let w: Double
    public let p: Double
    public let method: Method

    public init?(_ x: [Double], _ y: [Double]) {
        let nx = x.count, ny = y.count
        guard nx > 0, ny > 0 else { return nil }
        let all = (x.map { ($0, 0) } + y.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        // Mid-ranks.
        var ranks = [Double](repeating: 0, count: all.count)
        var tieSizes: [Int] = []
        var i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let r = Double(i + j + 2) / 2
            for k in i...j { ranks[k] = r }
            if j > i { tieSizes.append(j - i + 1) }
            i = j + 1
        }
        var rx = 0.0
        for (k, e) in all.enumerated() where e.1 == 0 { rx += ranks[k] }
        let w = rx - Double(nx * (nx + 1)) / 2
        self.w = w
        if nx < 50 && ny < 50 && tieSizes.isEmpty {
            method = .exact
            let counts = MannWhitney.distribution(nx, ny)
            let total = counts.reduce(0, +)
            // R: p <- if (W > nx*ny/2) pwilcox(W - 1, upper) else pwilcox(W); min(2p, 1)
            let q = Int(w.rounded())
            let half = Double(nx * ny) / 2
            var tail = 0.0
            if w > half {
                for u in q..<counts.count { tail += counts[u] }
            } else {
                for u in 0...max(0, min(q, counts.count - 1)) { tail += counts[u] }
            }
            p = min(1, 2 * tail / total)
        } else {
            method = .normal
            let n = Double(nx + ny)
            let ties = tieSizes.reduce(0.0) { $0 + Double($1 * $1 * $1 - $1) }
            let sigma = (Double(nx * ny) / 12 * ((n + 1) - ties / (n * (n - 1)))).squareRoot()
            var z = w - Double(nx * ny) / 2
            let correction = z > 0 ? 0.5 : (z < 0 ? -0.5 : 0)
            z = (z - correction) / sigma
            p = sigma > 0 ? min(1, 2 * min(Distributions.normalCDF(z), Distributions.normalUpper(z))) : 1
        }
    }

    /// Number of orderings of m x's and n y's giving each U = 0…m·n: the recursion behind R's
    /// `cwilcox`, c(u; m, n) = c(u − n; m − 1, n) + c(u; m, n − 1) (the last value is an x above
    /// all n y's, or a y), with additions only.
    static func distribution(_ m: Int, _ n: Int) -> [Double] {
        // prev[k] = c(·; j − 1, k), cur[k] = c(·; j, k), each of length (j·k + 1).
        var prev = (0...n).map { _ in [1.0] }
        for j in 1...max(m, 1) where m > 0 {
            var cur: [[Double]] = [[1.0]]
            for k in 1...max(n, 1) where n > 0 {
                var c = [Double](repeating: 0, count: j * k + 1)
                let left = cur[k - 1]
                for u in 0..<left.count { c[u] += left[u] }
                let down = prev[k]
                for u in 0..<down.count where u + k < c.count { c[u + k] += down[u] }
                cur.append(c)
            }
            prev = cur
        }
        return prev[n]
    }
}
