/// Exact Euclidean distance transform by Felzenszwalb & Huttenlocher (2012, "Distance
/// transforms of sampled functions"): per-column distances by two scans, then per row the 1-D
/// lower envelope of parabolas, O(n) per line. Also returns, for every pixel, the index of its
/// nearest feature pixel — what `scipy.ndimage.distance_transform_edt(return_indices=True)`
/// gives — which cell expansion uses to give each pixel to its nearest nucleus.
///
/// Squared distances are integers and the envelope's breakpoints are compared as exact
/// fractions (cross-multiplied in 64-bit integers), so no rounding decides a tie. Under a small
/// limit — the segmenter's seed distances (at most 32 px) and cell growth (at most 15 px) — a
/// window minimum per row in 8- or 16-bit integers replaces the envelope: the same numbers and
/// the same nearest features, in branch-free loops the compiler vectorises.
public enum DistanceTransform {
    /// Distance from every pixel to the nearest pixel where `feature` is true (0 on features)
    /// and that pixel's linear index. Pixels with no feature (none in the image, or none within
    /// `limit` pixels when a limit is given) get `.infinity` and −1; every pixel within `limit`
    /// gets exactly what it would without the limit, which only saves work.
    public static func nearest(to feature: Mask, limit: Int? = nil) -> (distance: [Float], index: [Int32]) {
        transform(feature, invert: false, limit: limit, indices: true, missing: .infinity)
    }

    /// `labels` with every unlabelled pixel within `distance` of a labelled one given the label
    /// of its nearest labelled pixel (the one `nearest(to:)` finds): the labels are written in
    /// the row pass, with no distance or index planes.
    public static func grow(_ labels: LabelImage, distance: Double) -> LabelImage {
        let cap = max(0, Int(distance.rounded(.up)))
        // The largest squared distance whose root (as `nearest` reports it) is within `distance`.
        // (Started at ⌊distance²⌋ and corrected by the few steps the Float rounding can move it.)
        func inside(_ d2: Int) -> Bool { Float(Double(d2).squareRoot()) <= Float(distance) }
        var within = min(cap * cap, Int(max(0, distance * distance).rounded(.down)))
        while within < cap * cap && inside(within + 1) { within += 1 }
        while within >= 0 && !inside(within) { within -= 1 }
        var out = labels
        guard within > 0 else { return out }
        if cap <= 15 {
            labels.labels.withUnsafeBufferPointer { l in
                out.labels.withUnsafeMutableBufferPointer { o in
                    windowGrow(l.baseAddress!, o.baseAddress!, width: labels.width, height: labels.height, cap: cap, within: within)
                }
            }
            return out
        }
        let feature = Mask(width: labels.width, height: labels.height, bits: labels.labels.map { $0 != 0 })
        labels.labels.withUnsafeBufferPointer { l in
            out.labels.withUnsafeMutableBufferPointer { o in
                _ = transform(feature, invert: false, limit: cap, indices: true, missing: .infinity,
                              grow: (l.baseAddress!, o.baseAddress!, within))
            }
        }
        return out
    }

    /// Distance of every foreground pixel to the nearest background pixel (0 on background),
    /// as `scipy.ndimage.distance_transform_edt(mask)`. With `limit`, distances beyond it are
    /// reported as `width + height` (anything larger than the limit) and cost less to find.
    public static func insideDistance(_ mask: Mask, limit: Int? = nil) -> Image {
        let d = transform(mask, invert: true, limit: limit, indices: false, missing: Float(mask.width + mask.height)).distance
        return Image(width: mask.width, height: mask.height, pixels: d)
    }

    /// The transform to the pixels where `mask` is `!invert`; pixels without a feature (within
    /// `limit`) get `missing` and −1; nearest-feature indices only when `indices`. With `grow`
    /// (and `indices`), nothing is returned: each pixel whose squared distance is 1…`within`
    /// gets, in `out`, the label of its nearest feature pixel in `labels`.
    private static func transform(_ feature: Mask, invert: Bool, limit: Int?, indices: Bool, missing: Float,
                                  grow: (labels: UnsafePointer<Int32>, out: UnsafeMutablePointer<Int32>, within: Int)? = nil)
        -> (distance: [Float], index: [Int32]) {
        precondition(grow == nil || indices, "growing labels needs the feature rows")
        let w = feature.width, h = feature.height
        guard w > 0 && h > 0 else { return ([], []) }
        let cap = min(max(limit ?? (w + h), 0), w + h)
        if !indices && cap <= 11 { return (windowTransform(feature, invert: invert, cap: cap, missing: missing, as: UInt8.self), []) }
        if !indices && cap <= 32 { return (windowTransform(feature, invert: invert, cap: cap, missing: missing, as: Int16.self), []) }
        let none = Int32.max
        // Pass 1, columns: the distance to the nearest feature in the same column is the smaller
        // of a downward and an upward scan, done row by row so memory is walked contiguously.
        // Keeps the squared distance (`none` beyond `cap`) and the feature's row, for indices.
        // (Distances under a small limit, the segmenter's case, went to `windowTransform`.)
        var g = [Int32](repeating: none, count: w * h)
        var rowOf = [Int32](repeating: -1, count: w * h)
        let far = Int32(w + h + 1)
        do {
            var up = [Int32](repeating: -1, count: w)
            feature.bits.withUnsafeBufferPointer { fbb in
            rowOf.withUnsafeMutableBufferPointer { rbb in
            g.withUnsafeMutableBufferPointer { gbb in
            up.withUnsafeMutableBufferPointer { ubb in
                let fb = fbb.baseAddress!, rows = rbb.baseAddress!, gp = gbb.baseAddress!, up = ubb.baseAddress!
                for x in 0..<w where fb[x] != invert { rows[x] = 0 }
                for y in 1..<h {
                    let o = y * w
                    for x in 0..<w { rows[o + x] = fb[o + x] != invert ? Int32(y) : rows[o - w + x] }
                }
                for y in stride(from: h - 1, through: 0, by: -1) {
                    let o = y * w, yy = Int32(y)
                    for x in 0..<w {
                        if fb[o + x] != invert { up[x] = yy }
                        let d = rows[o + x], u = up[x]
                        let dd = d >= 0 ? yy - d : far, du = u >= 0 ? u - yy : far
                        if du < dd { rows[o + x] = u }
                        let best = min(dd, du)
                        if best <= cap { gp[o + x] = best * best }
                    }
                }
            }
            }
            }
            }
        }
        let cap2 = cap * cap
        // Square roots of the squared distances, looked up when they are few (a limit): the
        // root's latency was the row pass's bottleneck.
        let roots = cap2 < 1 << 16 ? (0...cap2).map { Float(Double($0).squareRoot()) } : []
        // Pass 2, rows: lower envelope of the parabolas (q − p)² + g[p].
        let n = w
        let v = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
        let zn = UnsafeMutablePointer<Int>.allocate(capacity: n + 1), zd = UnsafeMutablePointer<Int>.allocate(capacity: n + 1)
        defer { v.deallocate(); zn.deallocate(); zd.deallocate() }
        var dist = [Float](repeating: missing, count: grow == nil ? w * h : 0)
        var index = [Int32](repeating: -1, count: indices && grow == nil ? w * h : 0)
        g.withUnsafeBufferPointer { gb in
        rowOf.withUnsafeBufferPointer { rb in
        dist.withUnsafeMutableBufferPointer { db in
        index.withUnsafeMutableBufferPointer { ib in
            for y in 0..<h {
                let o = y * w
                let f = gb.baseAddress! + o
                // Breakpoint k is the fraction zn[k] / zd[k]; zd = 0 stands for −∞ (k = 0) or +∞.
                var k = -1
                for q in 0..<n where f[q] != none {
                    let fq = Int(f[q]) + q * q
                    if k < 0 { k = 0; v[0] = q; zn[0] = -1; zd[0] = 0; zn[1] = 1; zd[1] = 0; continue }
                    var sn = 0, sd = 1
                    while true {
                        let p = v[k]
                        sn = fq - (Int(f[p]) + p * p); sd = 2 * (q - p)
                        // s ≤ z[k], with z[0] = −∞ never reached.
                        if zd[k] != 0 && sn * zd[k] <= zn[k] * sd { k -= 1 } else { break }
                    }
                    k += 1
                    v[k] = q; zn[k] = sn; zd[k] = sd; zn[k + 1] = 1; zd[k + 1] = 0
                }
                guard k >= 0 else { continue }
                var j = 0
                for q in 0..<n {
                    // Advance while z[j + 1] < q (a finite breakpoint below q).
                    while zd[j + 1] != 0 && zn[j + 1] < q * zd[j + 1] { j += 1 }
                    let p = v[j], dq = q - p
                    let d2 = dq * dq + Int(f[p])
                    if let grow {
                        if d2 > 0 && d2 <= grow.within { grow.out[o + q] = grow.labels[Int(rb[o + p]) * w + p] }
                    } else if d2 <= cap2 {
                        db[o + q] = roots.isEmpty ? Float(Double(d2).squareRoot()) : roots[d2]
                        if indices { ib[o + q] = rb[o + p] * Int32(w) + Int32(p) }
                    }
                }
            }
        }
        }
        }
        }
        return (dist, index)
    }

    /// Distances alone under a small limit (at most 32 px) in small integers — bytes up to
    /// 11 px, 16 bits above — which the vector unit takes 16 or 8 at a time, compared in one
    /// instruction each (32-bit minima take four without SSE4.1): per column, running counts
    /// down then up, saturated just past the limit, with no branch on the mask; per row, each
    /// pixel's squared distance is the smallest (dx)² + g[x + dx] over |dx| ≤ cap, which is
    /// the lower envelope's value whenever that is within the limit (any farther column adds
    /// more than cap²) and beyond the limit otherwise, so the output is the envelope's.
    private static func windowTransform<T: FixedWidthInteger>(_ feature: Mask, invert: Bool, cap: Int, missing: Float, as _: T.Type) -> [Float] {
        let w = feature.width, h = feature.height
        // Counts stop at cap + 1 and squares at cap² + 1 ("beyond"); sums stay below 2 · 32² + 1.
        let over = T(cap + 1), cap2 = T(cap * cap), beyond = cap2 + 1
        let roots = (0...Int(cap2)).map { Float(Double($0).squareRoot()) }
        var g = [T](repeating: 0, count: w * h)
        var dist = [Float](repeating: missing, count: w * h)
        let run = UnsafeMutablePointer<T>.allocate(capacity: w)
        let pad = UnsafeMutablePointer<T>.allocate(capacity: w + 2 * cap)
        let best = UnsafeMutablePointer<T>.allocate(capacity: w)
        defer { run.deallocate(); pad.deallocate(); best.deallocate() }
        feature.bits.withUnsafeBufferPointer { fbb in
        g.withUnsafeMutableBufferPointer { gbb in
        dist.withUnsafeMutableBufferPointer { db in
            // Bool is one byte, 0 or 1: `keep` is all ones off the features and 0 on them.
            let fb = UnsafeRawPointer(fbb.baseAddress!).assumingMemoryBound(to: UInt8.self), gp = gbb.baseAddress!
            let inv: UInt8 = invert ? 1 : 0
            run.update(repeating: over, count: w)
            for y in 0..<h {
                let f = fb + y * w, o = gp + y * w
                for x in 0..<w {
                    let keep = T(truncatingIfNeeded: f[x] ^ inv) &- 1
                    let d = min(run[x] &+ 1, over) & keep
                    run[x] = d; o[x] = d
                }
            }
            run.update(repeating: over, count: w)
            for y in stride(from: h - 1, through: 0, by: -1) {
                let f = fb + y * w, o = gp + y * w
                for x in 0..<w {
                    let keep = T(truncatingIfNeeded: f[x] ^ inv) &- 1
                    let u = min(run[x] &+ 1, over) & keep
                    run[x] = u
                    let d = min(o[x], u)
                    o[x] = d < over ? d &* d : beyond
                }
            }
            pad.update(repeating: beyond, count: w + 2 * cap)
            for y in 0..<h {
                (pad + cap).update(from: gp + y * w, count: w)
                best.update(repeating: beyond, count: w)
                for dx in -cap...cap {
                    let c = T(dx * dx), src = pad + cap + dx
                    for q in 0..<w { best[q] = min(best[q], src[q] &+ c) }
                }
                let out = db.baseAddress! + y * w
                for q in 0..<w where best[q] <= cap2 { out[q] = roots[Int(best[q])] }
            }
        }
        }
        }
        return dist
    }

    /// Cell growth up to 15 px, in 16-bit integers (eight per vector instruction). Per column,
    /// the distance to the nearest label above and below (saturated just past `cap`), the nearer
    /// kept, the upper one on a tie, as the envelope's column pass does, with its row offset.
    /// Per row, each pixel's key is the smallest ((dx)² + g[x + dx]) · 64 + (dx + cap) over
    /// |dx| ≤ cap: the nearest squared distance, and among equal ones the leftmost column,
    /// which is the feature the envelope picks (on a tie it keeps the left parabola). Keys stay
    /// below (2 · 15² + 1) · 64 + 30 < 2¹⁵.
    private static func windowGrow(_ labels: UnsafePointer<Int32>, _ out: UnsafeMutablePointer<Int32>,
                                   width w: Int, height h: Int, cap: Int, within: Int) {
        precondition(cap >= 1 && cap <= 15)
        guard w > 0 && h > 0 else { return }
        let over = Int16(cap + 1), beyond = Int16(cap * cap + 1)
        let g = UnsafeMutablePointer<Int16>.allocate(capacity: w * h)
        let dy = UnsafeMutablePointer<Int8>.allocate(capacity: w * h)
        let run = UnsafeMutablePointer<Int16>.allocate(capacity: w)
        let pad = UnsafeMutablePointer<Int16>.allocate(capacity: w + 2 * cap)
        let best = UnsafeMutablePointer<Int16>.allocate(capacity: w)
        defer { g.deallocate(); dy.deallocate(); run.deallocate(); pad.deallocate(); best.deallocate() }
        // Down: distance to the nearest label at or above, kept in g for the way up.
        run.update(repeating: over, count: w)
        for y in 0..<h {
            let l = labels + y * w, o = g + y * w
            for x in 0..<w {
                let keep: Int16 = l[x] == 0 ? -1 : 0
                let a = min(run[x] &+ 1, over) & keep
                run[x] = a; o[x] = a
            }
        }
        // Up: the nearer of the two (below only if strictly nearer), squared, and its row offset.
        run.update(repeating: over, count: w)
        for y in stride(from: h - 1, through: 0, by: -1) {
            let l = labels + y * w, o = g + y * w, r = dy + y * w
            for x in 0..<w {
                let keep: Int16 = l[x] == 0 ? -1 : 0
                let b = min(run[x] &+ 1, over) & keep
                run[x] = b
                let a = o[x]
                let below = b < a
                let d = below ? b : a
                r[x] = Int8(truncatingIfNeeded: below ? b : 0 &- a)
                o[x] = d < over ? d &* d : beyond
            }
        }
        pad.update(repeating: beyond << 6, count: w + 2 * cap)
        let within16 = Int16(within)
        for y in 0..<h {
            let o = g + y * w
            for x in 0..<w { pad[cap + x] = o[x] << 6 }
            best.update(repeating: Int16.max, count: w)
            for dx in -cap...cap {
                let c = Int16(dx * dx) << 6 | Int16(dx + cap), src = pad + cap + dx
                for q in 0..<w { best[q] = min(best[q], src[q] &+ c) }
            }
            let dst = out + y * w, rows = dy + y * w
            for q in 0..<w {
                let k = best[q], d2 = k >> 6
                guard d2 > 0 && d2 <= within16 else { continue }
                let p = q + Int(k & 63) - cap
                dst[q] = labels[(y + Int(rows[p])) * w + p]
            }
        }
    }
}
