/// Automatic thresholds.
public enum Threshold {
    /// Otsu's threshold (Otsu 1979, "A threshold selection method from gray-level histograms"),
    /// on a `bins`-bin histogram between the minimum and maximum, returning the bin centre that
    /// maximises between-class variance — as `skimage.filters.threshold_otsu` (256 bins).
    /// Non-finite values are ignored; a constant input returns that constant.
    public static func otsu<C: Collection>(_ values: C, bins: Int = 256) -> Float where C.Element == Float {
        var lo = Float.infinity, hi = -Float.infinity
        for v in values where v.isFinite { if v < lo { lo = v }; if v > hi { hi = v } }
        guard lo < hi else { return lo.isFinite ? lo : 0 }
        var hist = [Double](repeating: 0, count: bins)
        let scale = Double(bins) / Double(hi - lo)
        for v in values where v.isFinite {
            let b = min(bins - 1, Int(Double(v - lo) * scale))
            hist[b] += 1
        }
        return otsu(histogram: hist, low: Double(lo), high: Double(hi))
    }

    /// Otsu on a histogram whose bins evenly cover [low, high].
    public static func otsu(histogram hist: [Double], low: Double, high: Double) -> Float {
        let bins = hist.count
        let width = (high - low) / Double(bins)
        let centres = (0..<bins).map { low + (Double($0) + 0.5) * width }
        // skimage: weight1 = cumsum(hist), weight2 = reverse cumsum; variance12 over bins[:-1]
        var w1 = [Double](repeating: 0, count: bins), m1 = [Double](repeating: 0, count: bins)
        var acc = 0.0, accm = 0.0
        for i in 0..<bins { acc += hist[i]; accm += hist[i] * centres[i]; w1[i] = acc; m1[i] = acc > 0 ? accm / acc : 0 }
        var w2 = [Double](repeating: 0, count: bins), m2 = [Double](repeating: 0, count: bins)
        acc = 0; accm = 0
        for i in stride(from: bins - 1, through: 0, by: -1) {
            acc += hist[i]; accm += hist[i] * centres[i]; w2[i] = acc; m2[i] = acc > 0 ? accm / acc : 0
        }
        var best = -1.0, idx = 0
        for i in 0..<(bins - 1) {
            let d = m1[i] - m2[i + 1]
            let v = w1[i] * w2[i + 1] * d * d
            if v > best { best = v; idx = i }
        }
        return Float(centres[idx])
    }

    /// The q-quantile (0…1) by linear interpolation between order statistics (R type 7).
    public static func quantile(_ values: [Float], _ q: Double) -> Float {
        let v = values.filter { $0.isFinite }.sorted()
        guard !v.isEmpty else { return 0 }
        let h = Double(v.count - 1) * min(max(q, 0), 1)
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, v.count - 1)
        return v[lo] + Float(h - Double(lo)) * (v[hi] - v[lo])
    }
}
