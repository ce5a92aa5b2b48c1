import Dispatch
import Foundation

/// Linear and rank filters over `Image`, separable where the mathematics allows.
/// Borders use mirror reflection (`d c b a | a b c d`), scipy.ndimage's default "reflect".
public enum Filters {
    @inline(__always) static func reflect(_ i: Int, _ n: Int) -> Int {
        if n == 1 { return 0 }
        var i = i
        let period = 2 * n
        i %= period
        if i < 0 { i += period }
        return i < n ? i : period - 1 - i
    }

    /// Normalised Gaussian kernel, radius = ⌈truncate·σ⌉ (scipy's `truncate=4.0`).
    public static func gaussianKernel(sigma: Double, truncate: Double = 4.0) -> [Float] {
        let r = max(1, Int((truncate * sigma).rounded(.toNearestOrAwayFromZero)))
        var k = (-r...r).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        return k.map(Float.init)
    }

    /// Convolves rows, then columns, with the same symmetric 1-D kernel. The row pass reads the
    /// input's rows and writes the new plane, so the input is not copied first.
    public static func separable(_ img: Image, kernel: [Float]) -> Image {
        let w = img.width, h = img.height, n = w * h
        guard n > 0 else { return img }
        let pixels = plane(n) { out in
            img.pixels.withUnsafeBufferPointer { separableInPlace(out, width: w, height: h, kernel: kernel, rowsFrom: $0.baseAddress!) }
        }
        return Image(width: w, height: h, pixels: pixels)
    }

    /// Gaussian smoothing with standard deviation `sigma` in pixels (σ ≤ 0 returns the input).
    public static func gaussian(_ img: Image, sigma: Double) -> Image {
        guard sigma > 0 else { return img }
        return separable(img, kernel: gaussianKernel(sigma: sigma))
    }

    /// Gaussian smoothing in place, for whole-slide maps (no second full-size plane), on
    /// `threads` threads (rows, then strips of columns: the same sums whatever the count).
    public static func gaussianInPlace(_ img: inout Image, sigma: Double, threads: Int = 1) {
        let w = img.width, h = img.height
        img.pixels.withUnsafeMutableBufferPointer { gaussianInPlace($0.baseAddress!, width: w, height: h, sigma: sigma, threads: threads) }
    }

    /// The same on a plane the caller owns (`width × height` floats, row-major).
    public static func gaussianInPlace(_ p: UnsafeMutablePointer<Float>, width w: Int, height h: Int, sigma: Double, threads: Int = 1) {
        guard sigma > 0 else { return }
        separableInPlace(p, width: w, height: h, kernel: gaussianKernel(sigma: sigma), threads: threads)
    }

    /// The separable convolution, in place (`streamSeparable` over the plane itself). With
    /// `rowsFrom`, it reads that plane's rows instead (and fills all of `p`).
    static func separableInPlace(_ p: UnsafeMutablePointer<Float>, width w: Int, height h: Int, kernel: [Float], threads: Int = 1,
                                 rowsFrom source: UnsafePointer<Float>? = nil) {
        convolve(width: w, height: h, channels: 1, kernel: kernel, threads: threads, plane: (source ?? UnsafePointer(p), p),
                 load: { _, _ in }, store: { _, _ in })
    }

    /// d[x] = (start ? 0 : d[x]) + k[0]·s(0)[x] + k[1]·s(1)[x] + … for `taps` taps, added left to
    /// right, up to five taps per pass over d. The order of the additions is the tap-by-tap
    /// order, so the sums are the same to the bit; one pass per five taps, not one per tap,
    /// is what saves the loads and stores. (`start` leaves out the leading 0 +, as
    /// d = k0·s0 does.)
    @inlinable @inline(__always)
    public static func addTaps(_ d: UnsafeMutablePointer<Float>, count n: Int, start: Bool, _ k: UnsafePointer<Float>, taps: Int,
                        _ s: (Int) -> UnsafePointer<Float>) {
        var j = 0
        while j < taps {
            let m = min(5, taps - j), first = start && j == 0
            let a = s(j), ka = k[j]
            switch m {
            case 5:
                let b = s(j + 1), c = s(j + 2), e = s(j + 3), f = s(j + 4)
                let kb = k[j + 1], kc = k[j + 2], ke = k[j + 3], kf = k[j + 4]
                if first { for x in 0..<n { d[x] = ka * a[x] + kb * b[x] + kc * c[x] + ke * e[x] + kf * f[x] } }
                else { for x in 0..<n { d[x] = d[x] + ka * a[x] + kb * b[x] + kc * c[x] + ke * e[x] + kf * f[x] } }
            case 4:
                let b = s(j + 1), c = s(j + 2), e = s(j + 3), kb = k[j + 1], kc = k[j + 2], ke = k[j + 3]
                if first { for x in 0..<n { d[x] = ka * a[x] + kb * b[x] + kc * c[x] + ke * e[x] } }
                else { for x in 0..<n { d[x] = d[x] + ka * a[x] + kb * b[x] + kc * c[x] + ke * e[x] } }
            case 3:
                let b = s(j + 1), c = s(j + 2), kb = k[j + 1], kc = k[j + 2]
                if first { for x in 0..<n { d[x] = ka * a[x] + kb * b[x] + kc * c[x] } }
                else { for x in 0..<n { d[x] = d[x] + ka * a[x] + kb * b[x] + kc * c[x] } }
            case 2:
                let b = s(j + 1), kb = k[j + 1]
                if first { for x in 0..<n { d[x] = ka * a[x] + kb * b[x] } }
                else { for x in 0..<n { d[x] = d[x] + ka * a[x] + kb * b[x] } }
            default:
                if first { for x in 0..<n { d[x] = ka * a[x] } }
                else { for x in 0..<n { d[x] = d[x] + ka * a[x] } }
            }
            j += m
        }
    }

    /// Separable convolution of `channels` planes together, streamed row by row: for planes too
    /// large to hold twice (whole-slide maps), or stored as something other than `Float`.
    /// `load(y, rows)` writes row y of each channel into `rows[c]` (`width` floats); `store(y,
    /// rows)` receives the filtered rows. The sums are `separable`'s (rows, then columns, the
    /// taps in the same order), whatever `threads`.
    ///
    /// `store` may write over the plane `load` reads. The rows are split into bands, one per
    /// thread; a band loads each of its rows before storing over it, and keeps the row-filtered
    /// rows its columns still need in a ring of 2r + 1 (r the kernel radius; every row a column
    /// tap reaches lies within r of the output row, reflection included). The rows it needs
    /// from other bands are loaded and row-filtered before any band stores.
    public static func streamSeparable(width w: Int, height h: Int, channels: Int, kernel: [Float], threads: Int = 1,
                                       load: (Int, [UnsafeMutablePointer<Float>]) -> Void,
                                       store: (Int, [UnsafePointer<Float>]) -> Void) {
        convolve(width: w, height: h, channels: channels, kernel: kernel, threads: threads, plane: nil, load: load, store: store)
    }

    /// `streamSeparable`, or with `plane` (one channel) its rows read from `plane.source` and
    /// the output rows written into `plane.destination` (which may be the source) where the
    /// row and column filters put them, instead of `load` and `store` copying each row through
    /// a buffer: the same taps in the same order, so the same sums.
    static func convolve(width w: Int, height h: Int, channels: Int, kernel: [Float], threads: Int,
                         plane: (source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>)?,
                         load: (Int, [UnsafeMutablePointer<Float>]) -> Void,
                         store: (Int, [UnsafePointer<Float>]) -> Void) {
        guard w > 0, h > 0, channels > 0 else { return }
        precondition(plane == nil || channels == 1)
        let r = kernel.count / 2, taps = kernel.count
        // Bands of at least 64 rows, so small planes stay on one thread.
        let parts = max(1, min(threads, h / 64))
        let bands = (0..<parts).map { ($0 * h / parts, ($0 + 1) * h / parts) }
        // Rows each band needs from outside itself: only its first and last r outputs reach
        // beyond it (a row farther in has all its taps inside the band and the plane).
        let outside: [[Int]] = bands.map { y0, y1 in
            var rows = Set<Int>()
            for y in Array(y0..<min(y1, y0 + r)) + Array(max(y0, y1 - r)..<y1) {
                for j in 0..<taps { let s = reflect(y + j - r, h); if s < y0 || s >= y1 { rows.insert(s) } }
            }
            return rows.sorted()
        }
        let side = outside.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.count * channels * w)) }
        defer { side.forEach { $0.deallocate() } }
        kernel.withUnsafeBufferPointer { kb in
            let k = kb.baseAddress!
            /// Loads row y into the middle of each channel's padded line, pads it by reflection,
            /// and row-filters channel c into `into(c)`.
            func loadFiltered(_ y: Int, _ lines: [UnsafeMutablePointer<Float>], _ middles: [UnsafeMutablePointer<Float>],
                              into: (Int) -> UnsafeMutablePointer<Float>) {
                if let plane, w >= 2 * r {
                    // Straight from the plane's row; only the r outputs at each end, whose taps
                    // reach past it, read a reflected copy of the 3r pixels around them.
                    let s = plane.source + y * w, d = into(0), e = lines[0], f = lines[0] + 3 * r
                    for i in 0..<(3 * r) { e[i] = s[reflect(i - r, w)]; f[i] = s[reflect(w - 2 * r + i, w)] }
                    addTaps(d, count: r, start: true, k, taps: taps) { UnsafePointer(e + $0) }
                    addTaps(d + r, count: w - 2 * r, start: true, k, taps: taps) { s + $0 }
                    addTaps(d + w - r, count: r, start: true, k, taps: taps) { UnsafePointer(f + $0) }
                    return
                }
                if let plane { middles[0].update(from: plane.source + y * w, count: w) } else { load(y, middles) }
                for c in 0..<channels {
                    let line = lines[c]
                    if w > r {
                        for i in 0..<r { line[i] = line[2 * r - 1 - i]; line[r + w + i] = line[r + w - 1 - i] }
                    } else {
                        for i in 0..<r { line[i] = line[r + reflect(i - r, w)]; line[r + w + i] = line[r + reflect(w + i, w)] }
                    }
                    addTaps(into(c), count: w, start: true, k, taps: taps) { UnsafePointer(line + $0) }
                }
            }
            func lines() -> [UnsafeMutablePointer<Float>] { (0..<channels).map { _ in .allocate(capacity: max(w + 2 * r, 6 * r)) } }
            // Every band's rows from other bands, before any band stores.
            DispatchQueue.concurrentPerform(iterations: parts) { b in
                let line = lines(), middle = line.map { $0 + r }
                defer { line.forEach { $0.deallocate() } }
                for (i, y) in outside[b].enumerated() { loadFiltered(y, line, middle) { side[b] + (i * channels + $0) * w } }
            }
            DispatchQueue.concurrentPerform(iterations: parts) { b in
                let (y0, y1) = bands[b]
                let ringRows = min(2 * r + 1, y1 - y0)
                let ring = UnsafeMutablePointer<Float>.allocate(capacity: ringRows * channels * w)
                var held = [Int](repeating: -1, count: ringRows)
                let out = (0..<channels).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: w) }
                let stored = out.map { UnsafePointer($0) }
                let line = lines(), middle = line.map { $0 + r }
                let rowsOf = UnsafeMutablePointer<UnsafePointer<Float>>.allocate(capacity: taps * channels)
                defer { ring.deallocate(); rowsOf.deallocate(); out.forEach { $0.deallocate() }; line.forEach { $0.deallocate() } }
                for y in y0..<y1 {
                    if y - r >= y0 && y + r < y1 {
                        // Inside the band, away from the plane's edges: one new row enters the
                        // ring, and the taps are the ring's rows in order from y − r.
                        let slot = (y + r - y0) % ringRows
                        if held[slot] != y + r {
                            loadFiltered(y + r, line, middle) { ring + ($0 * ringRows + slot) * w }
                            held[slot] = y + r
                        }
                        var t = (y - r - y0) % ringRows
                        for j in 0..<taps {
                            for c in 0..<channels { rowsOf[c * taps + j] = UnsafePointer(ring + (c * ringRows + t) * w) }
                            t = t + 1 == ringRows ? 0 : t + 1
                        }
                    } else {
                        for j in 0..<taps {
                            let s = reflect(y + j - r, h)
                            if s >= y0 && s < y1 {
                                // The rows one output reaches are within r of it: distinct slots.
                                let slot = (s - y0) % ringRows
                                if held[slot] != s {
                                    loadFiltered(s, line, middle) { ring + ($0 * ringRows + slot) * w }
                                    held[slot] = s
                                }
                                for c in 0..<channels { rowsOf[c * taps + j] = UnsafePointer(ring + (c * ringRows + slot) * w) }
                            } else {
                                let i = outside[b].firstIndex(of: s)!
                                for c in 0..<channels { rowsOf[c * taps + j] = UnsafePointer(side[b] + (i * channels + c) * w) }
                            }
                        }
                    }
                    if let plane {
                        addTaps(plane.destination + y * w, count: w, start: true, k, taps: taps) { rowsOf[$0] }
                        continue
                    }
                    for c in 0..<channels {
                        addTaps(out[c], count: w, start: true, k, taps: taps) { rowsOf[c * taps + $0] }
                    }
                    store(y, stored)
                }
            }
        }
    }

    /// Mean over a (2r+1)² square window, O(1) per pixel (running sums in Double). The row
    /// sums are column sums of the transposed image: the same additions in the same order,
    /// vectorised across the rows instead of one row after another.
    public static func boxMean(_ img: Image, radius r: Int) -> Image {
        guard r > 0 else { return img }
        let n = Float(2 * r + 1)
        let rows = transposed(columnSums(transposed(img), radius: r, times: 1))
        return columnSums(rows, radius: r, times: 1 / (n * n))
    }

    /// A copy with rows and columns exchanged.
    static func transposed(_ img: Image) -> Image {
        let out = plane(img.count) { o in
            img.pixels.withUnsafeBufferPointer { transpose($0.baseAddress!, width: img.width, height: img.height, into: o) }
        }
        return Image(width: img.height, height: img.width, pixels: out)
    }

    /// A new plane of `n` floats, every one of them written by `fill` (so none is zeroed first:
    /// zeroing was 2% of the profile of a slide's quantification).
    static func plane(_ n: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        [Float](unsafeUninitializedCapacity: n) { b, count in
            if n > 0 { fill(b.baseAddress!) }
            count = n
        }
    }

    /// Sum over the 2r + 1 rows around each row (reflected edges), all columns at once: a row of
    /// running sums updated row by row, memory walked contiguously; each sum (rounded to Float)
    /// is multiplied by `times` as it is written.
    private static func columnSums(_ img: Image, radius r: Int, times: Float) -> Image {
        let w = img.width, h = img.height
        var sum = [Double](repeating: 0, count: w)
        let out = plane(img.count) { D in
        img.pixels.withUnsafeBufferPointer { src in
        sum.withUnsafeMutableBufferPointer { sb in
            let S = sb.baseAddress!, P = src.baseAddress!
            for j in 0...(2 * r) {
                let row = P + reflect(j - r, h) * w
                for x in 0..<w { S[x] += Double(row[x]) }
            }
            for y in 0..<h {
                let o = D + y * w
                for x in 0..<w { o[x] = Float(S[x]) * times }
                let add = P + reflect(y + r + 1, h) * w, sub = P + reflect(y - r, h) * w
                for x in 0..<w { S[x] += Double(add[x]) - Double(sub[x]) }
            }
        }
        }
        }
        return Image(width: w, height: h, pixels: out)
    }

    /// Minimum (erosion) or maximum (dilation) over a (2r+1)² square, by the van Herk /
    /// Gil–Werman algorithm: three comparisons per pixel whatever the window size. Both passes
    /// run down columns, on whole rows at a time (memory walked contiguously, comparisons
    /// vectorised): the row pass is a column pass of the transposed image. Minimum and maximum
    /// are exact, so the order of the passes does not change a value.
    public static func rank(_ img: Image, radius r: Int, maximum: Bool) -> Image {
        guard r > 0 else { return img }
        return maximum ? squareRank(img, r, MaxOp.self, then: MaxOp.self, twice: false)
            : squareRank(img, r, MinOp.self, then: MinOp.self, twice: false)
    }

    /// Grey-level opening (erosion then dilation) with a (2r+1)² square: removes bright
    /// structures narrower than the window, leaving the background (rolling-ball-like).
    /// Columns-min, transpose, rows-min, rows-max, transpose, columns-max: one transpose pair
    /// for both filters.
    public static func opening(_ img: Image, radius r: Int) -> Image {
        guard r > 0 else { return img }
        return squareRank(img, r, MinOp.self, then: MaxOp.self, twice: true)
    }

    /// `First` over the square, then (if `twice`) `Second` over the same square.
    private static func squareRank<First: RankOp, Second: RankOp>(_ img: Image, _ r: Int, _: First.Type, then _: Second.Type,
                                                                  twice: Bool) -> Image {
        let w = img.width, h = img.height
        guard w > 0, h > 0 else { return img }
        // Every pass writes all of its output plane; A is scratch, B the result.
        let A = UnsafeMutablePointer<Float>.allocate(capacity: img.count)
        defer { A.deallocate() }
        let b = plane(img.count) { B in
        img.pixels.withUnsafeBufferPointer { src in
            rankColumns(src.baseAddress!, width: w, height: h, r, First.self, into: A)
            transpose(A, width: w, height: h, into: B)                  // h × w
            rankColumns(B, width: h, height: w, r, First.self, into: A)
            if twice {
                rankColumns(A, width: h, height: w, r, Second.self, into: B)
                transpose(B, width: h, height: w, into: A)              // w × h
                rankColumns(A, width: w, height: h, r, Second.self, into: B)
            } else {
                transpose(A, width: h, height: w, into: B)
            }
        }
        }
        return Image(width: w, height: h, pixels: b)
    }

    /// dst (h × w) = transpose of src (w × h): eight source rows at a time, so each column
    /// of them goes out as one 8-wide store.
    static func transpose(_ src: UnsafePointer<Float>, width w: Int, height h: Int, into dst: UnsafeMutablePointer<Float>) {
        var y = 0
        while y + 8 <= h {
            let s = src + y &* w
            let raw = UnsafeMutableRawPointer(dst + y)
            for x in 0..<w {
                let v = SIMD8<Float>(s[x], s[x &+ w], s[x &+ 2 &* w], s[x &+ 3 &* w],
                                     s[x &+ 4 &* w], s[x &+ 5 &* w], s[x &+ 6 &* w], s[x &+ 7 &* w])
                raw.storeBytes(of: v, toByteOffset: x &* h &* 4, as: SIMD8<Float>.self)
            }
            y += 8
        }
        while y < h {
            let s = src + y &* w
            for x in 0..<w { dst[x &* h &+ y] = s[x] }
            y += 1
        }
    }

    /// The van Herk / Gil–Werman pass down the columns of a w × h image (reflected edges).
    /// The padded column is cut into blocks of one window; G runs the operation forward within
    /// a block, H backward, and output row y is pick(H[y], G[y + win − 1]). Those two rows lie
    /// in one block or two neighbouring ones, so G and H are kept for two blocks only (a ring
    /// that stays in cache), and rows are written as soon as their blocks are done.
    private static func rankColumns<Op: RankOp>(_ S: UnsafePointer<Float>, width w: Int, height h: Int, _ r: Int, _: Op.Type,
                                                into out: UnsafeMutablePointer<Float>) {
        let win = 2 * r + 1
        let padded = h + 2 * r
        let blocks = (padded + win - 1) / win
        let G = UnsafeMutablePointer<Float>.allocate(capacity: 2 * win * w), Hh = UnsafeMutablePointer<Float>.allocate(capacity: 2 * win * w)
        defer { G.deallocate(); Hh.deallocate() }
        func rowPtr(_ i: Int) -> UnsafePointer<Float>? { i < padded ? S + reflect(i - r, h) * w : nil }
        // Padded row i's slot in the two-block ring.
        func slot(_ i: Int) -> Int { ((i / win) % 2 * win + i % win) * w }
        for k in 0..<blocks {
            let b = k * win
            for i in b..<(b + win) {
                let gi = G + slot(i)
                if let s = rowPtr(i) {
                    if i == b { gi.update(from: s, count: w) } else { let gp = G + slot(i - 1); for x in 0..<w { gi[x] = Op.pick(gp[x], s[x]) } }
                } else {
                    if i == b { gi.update(repeating: Op.identity, count: w) } else { gi.update(from: G + slot(i - 1), count: w) }
                }
            }
            var i = b + win - 1
            while i >= b {
                let hi = Hh + slot(i)
                if let s = rowPtr(i) {
                    if i == b + win - 1 { hi.update(from: s, count: w) } else { let hn = Hh + slot(i + 1); for x in 0..<w { hi[x] = Op.pick(hn[x], s[x]) } }
                } else {
                    if i == b + win - 1 { hi.update(repeating: Op.identity, count: w) } else { hi.update(from: Hh + slot(i + 1), count: w) }
                }
                i -= 1
            }
            // Rows whose G row (y + win − 1) lies in this block: their H row is in this block
            // or the one before.
            let yEnd = min(h - 1, b)
            var y = max(0, b - win + 1)
            while y <= yEnd {
                let o = out + y * w, a = Hh + slot(y), c = G + slot(y + win - 1)
                for x in 0..<w { o[x] = Op.pick(a[x], c[x]) }
                y += 1
            }
        }
    }

    /// Laplacian of Gaussian, scale-normalised and negated (−σ²∇²G∗I): bright blobs of radius
    /// ≈ σ√2 give positive peaks. ∇² by the 5-point stencil on the smoothed image.
    public static func negativeLoG(_ img: Image, sigma: Double) -> Image {
        // A blob detector, not a reference filter: the kernel is cut at 3σ (99.7% of its mass).
        let g = sigma > 0 ? separable(img, kernel: gaussianKernel(sigma: sigma, truncate: 3)) : img
        let w = g.width, h = g.height
        let s2 = Float(sigma * sigma)
        let out = plane(g.count) { out in
        g.pixels.withUnsafeBufferPointer { p in
            let p = p.baseAddress!
            for y in 0..<h {
                let up = p + reflect(y - 1, h) * w, row = p + y * w, down = p + reflect(y + 1, h) * w, o = out + y * w
                @inline(__always) func at(_ x: Int, _ xm: Int, _ xp: Int) {
                    let lap = row[xm] + row[xp] + up[x] + down[x] - 4 * row[x]
                    o[x] = -s2 * lap
                }
                at(0, reflect(-1, w), reflect(1, w))
                if w > 2 {
                    // The neighbours as shifted rows, so the loop has no index arithmetic and vectorises.
                    let left = row - 1, right = row + 1
                    for x in 1..<(w - 1) { o[x] = -s2 * (left[x] + right[x] + up[x] + down[x] - 4 * row[x]) }
                }
                if w > 1 { at(w - 1, reflect(w - 2, w), reflect(w, w)) }
            }
        }
        }
        return Image(width: w, height: h, pixels: out)
    }
}

protocol RankOp {
    static func pick(_ a: Float, _ b: Float) -> Float
    static var identity: Float { get }
}
enum MinOp: RankOp {
    @inline(__always) static func pick(_ a: Float, _ b: Float) -> Float { a < b ? a : b }
    static var identity: Float { .infinity }
}
enum MaxOp: RankOp {
    @inline(__always) static func pick(_ a: Float, _ b: Float) -> Float { a > b ? a : b }
    static var identity: Float { -.infinity }
}
