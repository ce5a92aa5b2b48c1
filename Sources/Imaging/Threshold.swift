/// Automatic thresholds.
public enum Threshold {
    /// Otsu's threshold (Otsu 1979, "A threshold selection method from gray-level histograms"),
    /// on a `bins`-bin histogram between the minimum and maximum, returning the bin centre that
    /// maximises between-class variance — as `skimage.filters.threshold_otsu` (256 bins) where
    /// one split is best; where several are (bins left empty between the classes), the middle
    /// of their centres, as MATLAB's `graythresh`.
    /// Non-finite values are ignored; a constant input returns that constant (0 when there is
    /// no finite value).
    public static func otsu(_ values: [Float], bins: Int = 256) -> Float {
        values.withUnsafeBufferPointer { otsu($0, bins: bins) } ?? 0
    }

    /// The same over the values where `inside` is set (all of them without a mask), without
    /// gathering them; nil when there are no values.
    public static func otsu(_ values: UnsafeBufferPointer<Float>, inside: UnsafeBufferPointer<Bool>? = nil, bins: Int = 256) -> Float? {
        precondition(inside == nil || inside!.count == values.count)
        return otsu(bins: bins) { visit in
            for i in 0..<values.count where inside?[i] ?? true { visit(values[i], 1) }
        }
    }

    /// Otsu over values given with a weight each (how many times it occurs) by `forEach`, which
    /// is called twice, visiting the same pairs in the same order: once for the range, once
    /// for the histogram. Nil when it visits nothing.
    static func otsu(bins: Int, _ forEach: ((Float, Int) -> Void) -> Void) -> Float? {
        var lo = Float.infinity, hi = -Float.infinity, any = false
        forEach { v, _ in
            any = true
            if v.isFinite { if v < lo { lo = v }; if v > hi { hi = v } }
        }
        guard any else { return nil }
        guard lo < hi else { return lo.isFinite ? lo : 0 }
        var counts = [Int](repeating: 0, count: bins)
        let bin = Bins(low: lo, high: hi, count: bins)
        forEach { v, weight in if v.isFinite { counts[bin(v)] += weight } }
        return otsu(histogram: counts.map(Double.init), low: Double(lo), high: Double(hi))
    }

    /// The bin of a finite value in `count` equal bins over [low, high] (low < high), the last
    /// closed. A range wider than Float holds (values near ±3.4e38, as a damaged float file has)
    /// is measured in Double; ordinary ranges keep the Float differences (the same bins as ever).
    struct Bins {
        let low: Float, count: Int, wide: Bool, scale: Double
        init(low: Float, high: Float, count: Int) {
            self.low = low; self.count = count
            wide = !(high - low).isFinite
            scale = Double(count) / (wide ? Double(high) - Double(low) : Double(high - low))
        }
        @inline(__always)
        func callAsFunction(_ v: Float) -> Int {
            let d = wide ? Double(v) - Double(low) : Double(v - low)
            return min(count - 1, Int(d * scale))
        }
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
        // Splits on either side of an empty bin part the values the same way and score the
        // same: the best score can hold over a run of splits (an empty valley between two
        // classes). skimage takes the run's first split, the centre of the lower class's top
        // bin, below some of the values that class holds; the middle of the run (MATLAB's
        // `graythresh` averages the tied indices) lies in the valley.
        var best = -1.0, first = 0, last = 0
        for i in 0..<(bins - 1) {
            let d = m1[i] - m2[i + 1]
            let v = w1[i] * w2[i + 1] * d * d
            if v > best { best = v; first = i; last = i } else if v == best && last == i - 1 { last = i }
        }
        return Float(low + (Double(first + last) / 2 + 0.5) * width)
    }

    /// The q-quantile (0…1) by linear interpolation between order statistics (R type 7).
    /// The two order statistics it needs are found by selection or by counting (linear time),
    /// not by sorting: a slide's nucleus threshold pools millions of values.
    public static func quantile(_ values: [Float], _ q: Double) -> Float {
        var v = values
        return quantile(consuming: &v, q)
    }

    /// The same, reordering `v` in place (and dropping non-finite values) instead of copying it.
    /// Beyond 2¹⁶ values the two order statistics come from `orderStatistics` (the same values,
    /// a third of the time for a million).
    public static func quantile(consuming v: inout [Float], _ q: Double) -> Float {
        if v.contains(where: { !$0.isFinite }) { v.removeAll { !$0.isFinite } }
        guard !v.isEmpty else { return 0 }
        if v.count > 1 << 16 { return type7(q, count: v.count) { orderStatistics(v, $0) } }
        return v.withUnsafeMutableBufferPointer { b in
            type7(q, count: b.count) { ks in
                let a = select(b, ks[0])
                guard ks.count > 1 else { return [a] }
                // After selection everything above ks[0] is ≥ a; the next order statistic is their minimum.
                var next = b[ks[1]]
                for i in (ks[1] + 1)..<b.count where b[i] < next { next = b[i] }
                return [a, next]
            }
        }
    }

    /// R's type-7 q-quantile of `n` values from the order statistics it needs (k = ⌊h⌋ and,
    /// when there is one, k + 1, with h = (n − 1)·q), which `orderStatistics` returns for the
    /// ks it is given, ascending.
    static func type7(_ q: Double, count n: Int, _ orderStatistics: ([Int]) -> [Float]) -> Float {
        let h = Double(n - 1) * min(max(q, 0), 1)
        let lo = Int(h.rounded(.down))
        let o = orderStatistics(lo + 1 < n ? [lo, lo + 1] : [lo])
        return o.count == 1 ? o[0] : o[0] + Float(h - Double(lo)) * (o[1] - o[0])
    }

    /// The k-th smallest value of `v` (k from 0), reordering `v` in place: what `v.sorted()[k]`
    /// gives without sorting.
    public static func kthSmallest(_ v: inout [Float], _ k: Int) -> Float {
        precondition(k >= 0 && k < v.count)
        return v.withUnsafeMutableBufferPointer { select($0, k) }
    }

    /// The k-th smallest of `v` for each k of `ks` (from 0; `v` finite), as
    /// `v.sorted()[k]`, without reordering or copying `v`: one pass counts the values by the
    /// top 16 bits of an order-preserving key of their bits (65 536 counters), a second gathers
    /// the few values sharing each wanted statistic's top bits, and a selection among those
    /// finds it — for a million values, a fraction of a selection over all of them.
    public static func orderStatistics(_ v: [Float], _ ks: [Int]) -> [Float] {
        precondition(ks.allSatisfy { $0 >= 0 && $0 < v.count })
        var counts = [Int](repeating: 0, count: 1 << 16)
        v.withUnsafeBufferPointer { p in counts.withUnsafeMutableBufferPointer { c in for x in p { c[Int(orderedBits(x.bitPattern) >> 16)] += 1 } } }
        return ks.map { k in
            var below = 0, bucket = 0
            while below + counts[bucket] <= k { below += counts[bucket]; bucket += 1 }
            var inBucket: [Float] = []
            inBucket.reserveCapacity(counts[bucket])
            for x in v where Int(orderedBits(x.bitPattern) >> 16) == bucket { inBucket.append(x) }
            return kthSmallest(&inBucket, k - below)
        }
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

/// How many pixels of a half-precision plane (`Half`; inside a mask, when given) hold each of
/// the 65 536 bit patterns, from one pass over it: Otsu's threshold and quantiles of the plane
/// then cost a pass over the patterns that occur, each weighted by its count — the same
/// histogram and the same order statistics as from the pixels, so the same numbers as
/// `Threshold.otsu` and `Threshold.quantile` on the decoded values.
public struct HalfTally {
    /// Pixels per bit pattern.
    public let counts: [Int]
    /// The patterns that occur, ascending.
    let seen: [Int]

    public init(_ h: UnsafeBufferPointer<UInt16>, inside: UnsafeBufferPointer<Bool>? = nil) {
        precondition(inside == nil || inside!.count == h.count)
        var counts = [Int](repeating: 0, count: 1 << 16)
        counts.withUnsafeMutableBufferPointer { t in
            if let inside { for i in 0..<h.count where inside[i] { t[Int(h[i])] += 1 } } else { for v in h { t[Int(v)] += 1 } }
        }
        self.counts = counts
        seen = (0..<counts.count).filter { counts[$0] > 0 }
    }

    /// `Threshold.otsu` of the tallied values; nil when there are none.
    public func otsu(bins: Int = 256) -> Float? {
        Threshold.otsu(bins: bins) { visit in for b in seen { visit(Half.decode(UInt16(b)), counts[b]) } }
    }

    /// `Threshold.quantile` (R type 7) of the tallied finite values above `floor` (and at most
    /// `ceiling`); 0 when there are none.
    public func quantile(_ q: Double, above floor: Float, atMost ceiling: Float = .infinity) -> Float {
        let values = seen.compactMap { b -> (Float, Int)? in
            let v = Half.decode(UInt16(b))
            return v.isFinite && v > floor && v <= ceiling ? (v, counts[b]) : nil
        }.sorted { $0.0 < $1.0 }
        let n = values.reduce(0) { $0 + $1.1 }
        guard n > 0 else { return 0 }
        return Threshold.type7(q, count: n) { ks in
            var out: [Float] = [], below = 0
            for (v, c) in values {
                below += c
                while out.count < ks.count && ks[out.count] < below { out.append(v) }
                if out.count == ks.count { break }
            }
            return out
        }
    }
}

/// A float's bits as an unsigned integer in the floats' order: negative values reversed, below
/// the positive ones (−0 just below +0). For sorting and counting floats by integer compares.
@inline(__always) func orderedBits(_ b: UInt32) -> UInt32 { b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000 }
