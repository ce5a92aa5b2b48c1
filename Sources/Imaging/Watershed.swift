/// Seeds and marker-controlled watershed.
public enum Watershed {
    /// Regional peaks of `surface` inside `mask`, at least `minDistance` pixels apart
    /// (Chebyshev), strongest first — as `skimage.feature.peak_local_max(min_distance=…,
    /// exclude_border=False)` with a label mask: a pixel is a candidate when it equals the
    /// maximum of its (2·minDistance+1)² window; candidates are accepted greedily by height.
    ///
    /// The window is clipped at the image's edges (a reflected window holds no other values).
    /// A window's maximum is also the maximum of its 3 × 3 centre, so each mask pixel is tested
    /// on its 3 × 3 neighbourhood first (row by row, vectorised), and only the few that pass on
    /// the whole window.
    public static func peaks(_ surface: Image, mask: Mask, minDistance: Int, minHeight: Float = -.infinity) -> [Int] {
        let w = surface.width, h = surface.height
        let md = max(1, minDistance)
        var cand: [Int] = []
        surface.pixels.withUnsafeBufferPointer { s in
        mask.bits.withUnsafeBufferPointer { m in
            /// No pixel of the window of radius r around (x, y) exceeds v.
            @inline(__always) func isMaximum(_ v: Float, _ x: Int, _ y: Int, _ r: Int) -> Bool {
                let x0 = max(0, x - r), x1 = min(w - 1, x + r)
                for yy in max(0, y - r)...min(h - 1, y + r) {
                    let row = yy * w
                    for xx in x0...x1 where s[row + xx] > v { return false }
                }
                return true
            }
            // The 3 × 3 test for a whole row at once, without a branch: the column maxima of
            // rows y − 1 … y + 1 (clipped at the image's edges), then their maxima over x − 1 …
            // x + 1, with each row's end repeated (its own pixel is in the window anyway).
            let column = UnsafeMutablePointer<Float>.allocate(capacity: w + 2)
            let near = UnsafeMutablePointer<Float>.allocate(capacity: w)
            defer { column.deallocate(); near.deallocate() }
            for y in 0..<h {
                let row = s.baseAddress! + y * w
                let above = y > 0 ? row - w : row, below = y < h - 1 ? row + w : row
                for x in 0..<w { column[x + 1] = max(max(above[x], row[x]), below[x]) }
                column[0] = column[1]; column[w + 1] = column[w]
                for x in 0..<w { near[x] = max(max(column[x], column[x + 1]), column[x + 2]) }
                for x in 0..<w where m[y * w + x] {
                    let v = row[x]
                    if v > minHeight && v >= near[x] && isMaximum(v, x, y, md) { cand.append(y * w + x) }
                }
            }
        }
        }
        // Stable order: height descending, then raster order (deterministic on plateaus).
        cand.sort { surface.pixels[$0] != surface.pixels[$1] ? surface.pixels[$0] > surface.pixels[$1] : $0 < $1 }
        var taken = [Bool](repeating: false, count: w * h)  // pixels blocked by an accepted peak
        var accepted: [Int] = []
        for p in cand where !taken[p] {
            accepted.append(p)
            let x = p % w, y = p / w
            for yy in max(0, y - md)...min(h - 1, y + md) {
                for xx in max(0, x - md)...min(w - 1, x + md) { taken[yy * w + xx] = true }
            }
        }
        return accepted
    }

    /// Meyer's flooding (Meyer 1994; `skimage.segmentation.watershed`): every marker grows
    /// into `mask` in order of increasing `surface` (decreasing with `descending`, which is
    /// flooding −surface without making it), pixels of equal height in order of arrival
    /// (8-connected). Pixels of `mask` unreachable from a marker stay 0.
    ///
    /// A flood never leaves the 8-connected component of mask ∪ markers it starts in, and the
    /// order of arrivals inside a component does not depend on any other, so each component is
    /// flooded on its own: the same labels as one queue for the whole image, from a queue that
    /// holds one component's front (tens of pixels, not the whole tile's).
    public static func flood(_ surface: Image, markers: LabelImage, mask: Mask, descending: Bool = false) -> LabelImage {
        var pixels: [Int] = [], labels: [Int32] = []
        markers.labels.withUnsafeBufferPointer { m in
            for i in 0..<m.count where m[i] != 0 { pixels.append(i); labels.append(m[i]) }
        }
        return flood(surface, seeds: pixels, labels: labels, mask: mask, descending: descending)
    }

    /// The same flood from markers given as pixel indices in ascending (raster) order and
    /// their labels (nonzero), without a marker image.
    public static func flood(_ surface: Image, seeds markerPixels: [Int], labels seedLabels: [Int32], mask: Mask,
                             descending: Bool = false) -> LabelImage {
        let w = surface.width, h = surface.height
        precondition(zip(markerPixels, markerPixels.dropFirst()).allSatisfy { $0 < $1 }, "seeds in raster order")
        var region = mask   // copied only if a marker lies outside the mask
        for (i, l) in zip(markerPixels, seedLabels) {
            precondition(l != 0, "seed labels are nonzero")
            if !mask.bits[i] { region.bits[i] = true }
        }
        let runs = Labeling.Runs(region, value: true, eightConnected: true)
        // Seeds grouped by component, in raster order within each (a counting sort).
        let component = markerPixels.map { Int(runs.component(atX: $0 % w, y: $0 / w)) }
        var start = [Int](repeating: 0, count: runs.count + 2)
        for c in component { start[c + 1] += 1 }
        for c in 1..<start.count { start[c] += start[c - 1] }
        var seeds = [Int32](repeating: 0, count: start.last!)
        var fill = start
        for (i, c) in zip(markerPixels, component) {
            seeds[fill[c]] = Int32(i); fill[c] += 1
        }
        // The labels are kept on a plane with a one-pixel frame, where the frame and every pixel
        // outside the region hold −1: a neighbour is free exactly when its label is 0, with no
        // test of the image's edges and no division to find a pixel's row. The heap carries
        // each pixel's index on both planes (framed above, plain below).
        let fw = w + 2
        func framedIndex(_ i: Int) -> Int { (i / w + 1) * fw + i % w + 1 }
        var framed = [Int32](repeating: -1, count: fw * (h + 2))
        let heap = FloodQueue()
        surface.pixels.withUnsafeBufferPointer { sp in
        mask.bits.withUnsafeBufferPointer { mp in
        framed.withUnsafeMutableBufferPointer { fp in
            let height = sp.baseAddress!, inMask = mp.baseAddress!, labels = fp.baseAddress!
            for y in 0..<h {
                let src = inMask + y * w, dst = labels + (y + 1) * fw + 1
                for x in 0..<w { dst[x] = src[x] ? 0 : -1 }
            }
            for (i, l) in zip(markerPixels, seedLabels) { labels[framedIndex(i)] = l }
            // Neighbours in the order (dy, dx) = (−1, −1) … (1, 1): arrival order breaks ties.
            for c in 0..<(start.count - 1) where start[c + 1] > start[c] {
                var age = 0
                for s in start[c]..<start[c + 1] {
                    let i = Int(seeds[s])
                    heap.push(height[i], age, framed: framedIndex(i), plain: i, descending: descending); age += 1
                }
                while let (f, p) = heap.pop() {
                    let label = labels[f]
                    @inline(__always) func visit(_ df: Int, _ dp: Int) {
                        let g = f &+ df
                        if labels[g] != 0 { return }
                        labels[g] = label
                        let q = p &+ dp
                        heap.push(height[q], age, framed: g, plain: q, descending: descending); age += 1
                    }
                    visit(-fw - 1, -w - 1); visit(-fw, -w); visit(-fw + 1, -w + 1); visit(-1, -1)
                    visit(1, 1); visit(fw - 1, w - 1); visit(fw, w); visit(fw + 1, w + 1)
                }
            }
        }
        }
        }
        // The frame dropped, −1 (outside the region) back to 0.
        let labels = [Int32](unsafeUninitializedCapacity: w * h) { out, count in
            framed.withUnsafeBufferPointer { fp in
                for y in 0..<h {
                    let src = fp.baseAddress! + (y + 1) * fw + 1, dst = out.baseAddress! + y * w
                    for x in 0..<w { dst[x] = max(src[x], 0) }
                }
            }
            count = w * h
        }
        return LabelImage(width: w, height: h, labels: labels)
    }
}

/// Four-ary min-heap keyed by (height, age), both packed in one UInt64 so that a comparison is
/// one integer compare: the height's bits mapped to an order-preserving unsigned integer
/// (−0 taken as +0, as Float comparison does) above the arrival number. Keys are unique (the
/// ages are), so any correct heap pops the same sequence; four children per node halve the
/// levels a binary heap walks and keep siblings on one cache line. Keys and pixels sit in
/// buffers of its own, grown by doubling (no array's uniqueness and capacity checks per push).
final class FloodQueue {
    private var keys: UnsafeMutablePointer<UInt64>
    /// The pixel's framed index above its plain index.
    private var pixels: UnsafeMutablePointer<UInt64>
    private var count = 0, capacity: Int

    init(capacity: Int = 16) {
        self.capacity = max(1, capacity)
        keys = .allocate(capacity: self.capacity); pixels = .allocate(capacity: self.capacity)
    }
    deinit { keys.deallocate(); pixels.deallocate() }

    /// `descending`: the key of −v (the same bits as negating first; −0 taken as +0).
    @inline(__always) static func key(_ v: Float, _ age: Int, descending: Bool = false) -> UInt64 {
        precondition(age < 1 << 32)
        let plus = (v + 0).bitPattern
        let b = descending && plus != 0 ? plus ^ 0x8000_0000 : plus
        return UInt64(orderedBits(b)) << 32 | UInt64(age)
    }

    private func grow() {
        let bigger = capacity * 2
        let k = UnsafeMutablePointer<UInt64>.allocate(capacity: bigger), p = UnsafeMutablePointer<UInt64>.allocate(capacity: bigger)
        k.moveInitialize(from: keys, count: count); p.moveInitialize(from: pixels, count: count)
        keys.deallocate(); pixels.deallocate()
        keys = k; pixels = p; capacity = bigger
    }

    func push(_ v: Float, _ age: Int, framed f: Int, plain p: Int, descending: Bool = false) {
        let k = FloodQueue.key(v, age, descending: descending)
        let payload = UInt64(f) << 32 | UInt64(p)
        if count == capacity { grow() }
        // Sift up with a hole: parents move down until the new key's place is found.
        var i = count
        count += 1
        while i > 0 {
            let parent = (i &- 1) >> 2
            if k < keys[parent] { keys[i] = keys[parent]; pixels[i] = pixels[parent]; i = parent } else { break }
        }
        keys[i] = k; pixels[i] = payload
    }

    /// The pixel with the lowest (height, age), framed and plain index, or nil when empty.
    func pop() -> (framed: Int, plain: Int)? {
        guard count > 0 else { return nil }
        let top = pixels[0]
        count -= 1
        let n = count
        if n > 0 {
            let lastKey = keys[n], lastPixel = pixels[n]
            // Sift the last item down from the root with a hole.
            var i = 0
            while true {
                let first = 4 &* i &+ 1
                if first >= n { break }
                var m = first, mk = keys[first]
                let end = min(first &+ 4, n)
                var c = first &+ 1
                while c < end { if keys[c] < mk { m = c; mk = keys[c] }; c &+= 1 }
                if mk < lastKey { keys[i] = mk; pixels[i] = pixels[m]; i = m } else { break }
            }
            keys[i] = lastKey; pixels[i] = lastPixel
        }
        return (Int(top >> 32), Int(top & 0xFFFF_FFFF))
    }
}
