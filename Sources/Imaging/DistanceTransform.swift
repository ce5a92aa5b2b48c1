/// Exact Euclidean distance transform by Felzenszwalb & Huttenlocher (2012, "Distance
/// transforms of sampled functions"): per-column distances by two scans, then per row the 1-D
/// lower envelope of parabolas, O(n) per line. Also returns, for every pixel, the index of its nearest feature pixel —
/// what `scipy.ndimage.distance_transform_edt(return_indices=True)` gives — which cell
/// expansion uses to give each pixel to its nearest nucleus.
public enum DistanceTransform {
    /// Distance from every pixel to the nearest pixel where `feature` is true (0 on features;
    /// `.infinity` everywhere if there is no feature) and that pixel's linear index (−1 if none).
    public static func nearest(to feature: Mask) -> (distance: [Float], index: [Int32]) {
        let w = feature.width, h = feature.height
        let inf = Double.greatestFiniteMagnitude / 4
        // Pass 1, columns: the 1-D distance to the nearest feature in the same column is the
        // smaller of a downward and an upward scan; done row by row, so memory is walked
        // contiguously. Keeps the squared distance and the feature's row.
        var g = [Double](repeating: inf, count: w * h)
        var rowOf = [Int32](repeating: -1, count: w * h)
        var up = [Int32](repeating: -1, count: w)
        feature.bits.withUnsafeBufferPointer { fbb in
        rowOf.withUnsafeMutableBufferPointer { rbb in
        g.withUnsafeMutableBufferPointer { gbb in
        up.withUnsafeMutableBufferPointer { ubb in
            let fb = fbb.baseAddress!, rows = rbb.baseAddress!, gp = gbb.baseAddress!, up = ubb.baseAddress!
            for y in 0..<h {
                let o = y * w
                for x in 0..<w {
                    if fb[o + x] { rows[o + x] = Int32(y) } else if y > 0 { rows[o + x] = rows[o - w + x] }
                }
            }
            for y in stride(from: h - 1, through: 0, by: -1) {
                let o = y * w
                for x in 0..<w {
                    if fb[o + x] { up[x] = Int32(y) }
                    let d = rows[o + x], u = up[x]
                    let dd = d >= 0 ? y - Int(d) : Int.max, du = u >= 0 ? Int(u) - y : Int.max
                    if du < dd { rows[o + x] = u }
                    let best = min(dd, du)
                    if best != Int.max { gp[o + x] = Double(best * best) }
                }
            }
        }
        }
        }
        }
        let n = max(w, h)
        let f = UnsafeMutablePointer<Double>.allocate(capacity: n), d = UnsafeMutablePointer<Double>.allocate(capacity: n)
        let z = UnsafeMutablePointer<Double>.allocate(capacity: n + 1)
        let arg = UnsafeMutablePointer<Int>.allocate(capacity: n), v = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { f.deallocate(); d.deallocate(); z.deallocate(); arg.deallocate(); v.deallocate() }
        // Pass 2, rows: add squared horizontal distance.
        var dist = [Float](repeating: .infinity, count: w * h)
        var index = [Int32](repeating: -1, count: w * h)
        g.withUnsafeBufferPointer { gb in
        rowOf.withUnsafeBufferPointer { rb in
        dist.withUnsafeMutableBufferPointer { db in
        index.withUnsafeMutableBufferPointer { ib in
            for y in 0..<h {
                let o = y * w
                f.update(from: gb.baseAddress! + o, count: w)
                envelope(f, n: w, d: d, arg: arg, v: v, z: z)
                for x in 0..<w where d[x] < inf / 2 {
                    db[o + x] = Float(d[x].squareRoot())
                    let sx = arg[x]
                    ib[o + x] = rb[o + sx] * Int32(w) + Int32(sx)
                }
            }
        }
        }
        }
        }
        return (dist, index)
    }

    /// Distance of every foreground pixel to the nearest background pixel (0 on background),
    /// as `scipy.ndimage.distance_transform_edt(mask)`.
    public static func insideDistance(_ mask: Mask) -> Image {
        let bg = Mask(width: mask.width, height: mask.height, bits: mask.bits.map { !$0 })
        let (d, _) = nearest(to: bg)
        return Image(width: mask.width, height: mask.height, pixels: d.map { $0.isFinite ? $0 : Float(mask.width + mask.height) })
    }

    /// 1-D squared distance transform of sampled function f (lower envelope of parabolas).
    private static func envelope(_ f: UnsafeMutablePointer<Double>, n: Int, d: UnsafeMutablePointer<Double>,
                                 arg: UnsafeMutablePointer<Int>, v: UnsafeMutablePointer<Int>, z: UnsafeMutablePointer<Double>) {
        let inf = Double.greatestFiniteMagnitude / 4
        var k = -1
        for q in 0..<n where f[q] < inf / 2 {
            if k < 0 { k = 0; v[0] = q; z[0] = -.infinity; z[1] = .infinity; continue }
            var s = 0.0
            while true {
                let p = v[k]
                s = ((f[q] + Double(q * q)) - (f[p] + Double(p * p))) / Double(2 * (q - p))
                if s <= z[k] { k -= 1; if k < 0 { break } } else { break }
            }
            k += 1
            v[k] = q; z[k] = k == 0 ? -.infinity : s; z[k + 1] = .infinity
        }
        if k < 0 { for q in 0..<n { d[q] = inf; arg[q] = -1 }; return }
        var j = 0
        for q in 0..<n {
            while z[j + 1] < Double(q) { j += 1 }
            let dq = Double(q - v[j])
            d[q] = dq * dq + f[v[j]]
            arg[q] = v[j]
        }
    }
}
