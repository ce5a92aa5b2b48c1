/// Automatic thresholds.
public enum Threshold {
    /// Otsu's threshold (Otsu 1979, "A threshold selection method from gray-level histograms"),
    /// on a `bins`-bin histogram between the minimum and maximum, returning the bin centre that
    /// maximises between-class variance — as `skimage.filters.threshold_otsu` (256 bins).
    /// Non-finite values are ignored; a constant input returns that constant (0 when there is
    /// no finite value).
    public static func otsu(_ values: [Float], bins: Int = 256) -> Float {
        values.withUnsafeBufferPointer { otsu($0, bins: bins) } ?? 0
    }

    /// The same over the values where `inside` is set (all of them without a mask), without
    /// gathering them; nil when there are no values.
    public static func otsu(_ values: UnsafeBufferPointer<Float>, inside: UnsafeBufferPointer<Bool>? = nil, bins: Int = 256) -> Float? {
        otsu(count: values.count, inside: inside, bins: bins) { values[$0] }
    }

    /// The same over `count` values read by `value` (a plane stored otherwise, in halves say).
    @inlinable
    public static func otsu(count: Int, inside: UnsafeBufferPointer<Bool>? = nil, bins: Int = 256, _ value: (Int) -> Float) -> Float? {
        precondition(inside == nil || inside!.count == count)
        var lo = Float.infinity, hi = -Float.infinity, any = false
        for i in 0..<count where inside?[i] ?? true {
            any = true
            let v = value(i)
            if v.isFinite { if v < lo { lo = v }; if v > hi { hi = v } }
        }
        guard any else { return nil }
        guard lo < hi else { return lo.isFinite ? lo : 0 }
        var counts = [Int](repeating: 0, count: bins)
        // A range wider than Float holds (values near ±3.4e38, as a damaged float file has) is
        // measured in Double; ordinary ranges keep the Float differences (the same bins as ever).
        let wide = !(hi - lo).isFinite
        let scale = Double(bins) / (wide ? Double(hi) - Double(lo) : Double(hi - lo))
        for i in 0..<count where inside?[i] ?? true {
            let v = value(i)
            guard v.isFinite else { continue }
            let d = wide ? Double(v) - Double(lo) : Double(v - lo)
            counts[min(bins - 1, Int(d * scale))] += 1
        }
        return otsu(histogram: counts.map(Double.init), low: Double(lo), high: Double(hi))
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
    /// The two order statistics it needs are found by selection (expected linear time), not by
    /// sorting: a tissue map on a 32k slide has tens of millions of values.
    public static func quantile(_ values: [Float], _ q: Double) -> Float {
        var v = values
        return quantile(consuming: &v, q)
    }

    /// The same, reordering `v` in place (and dropping non-finite values) instead of copying it.
    public static func quantile(consuming v: inout [Float], _ q: Double) -> Float {
        if v.contains(where: { !$0.isFinite }) { v.removeAll { !$0.isFinite } }
        guard !v.isEmpty else { return 0 }
        let h = Double(v.count - 1) * min(max(q, 0), 1)
        let lo = Int(h.rounded(.down))
        return v.withUnsafeMutableBufferPointer { b in
            let a = select(b, lo)
            guard lo + 1 < b.count else { return a }
            // After selection everything above `lo` is ≥ a; the next order statistic is their minimum.
            var next = b[lo + 1]
            for i in (lo + 2)..<b.count where b[i] < next { next = b[i] }
            return a + Float(h - Double(lo)) * (next - a)
        }
    }

    /// The k-th smallest value of `v` (k from 0), reordering `v` in place: what `v.sorted()[k]`
    /// gives without sorting.
    public static func kthSmallest(_ v: inout [Float], _ k: Int) -> Float {
        precondition(k >= 0 && k < v.count)
        return v.withUnsafeMutableBufferPointer { select($0, k) }
    }

    /// Rearranges `b` so that b[k] is its k-th smallest value, smaller or equal values before it
    /// and greater or equal after (quickselect, Hoare partition, median-of-three pivots).
    static func select(_ b: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
        var lo = 0, hi = b.count - 1
        while hi > lo {
            let mid = lo + (hi - lo) / 2
            if b[mid] < b[lo] { b.swapAt(mid, lo) }
            if b[hi] < b[lo] { b.swapAt(hi, lo) }
            if b[hi] < b[mid] { b.swapAt(hi, mid) }
            let pivot = b[mid]
            var i = lo, j = hi
            while i <= j {
                while b[i] < pivot { i += 1 }
                while b[j] > pivot { j -= 1 }
                if i <= j { b.swapAt(i, j); i += 1; j -= 1 }
            }
            // Now b[lo...j] ≤ pivot ≤ b[i...hi], and anything between equals the pivot.
            if k <= j { hi = j } else if k >= i { lo = i } else { return b[k] }
        }
        return b[k]
    }
}
