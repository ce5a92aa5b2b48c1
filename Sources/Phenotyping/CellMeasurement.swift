import Imaging
import Segmentation

/// One cell's measurements: centroid (level-0 px), areas (px), and per measured component the
/// mean in each compartment, laid out `[component][Compartment.allCases]`.
public struct CellRecord: Sendable {
    public var x: Double
    public var y: Double
    public var nucleusPixels: Int
    public var cellPixels: Int
    public var means: [Float]

    public init(x: Double, y: Double, nucleusPixels: Int, cellPixels: Int, means: [Float]) {
        self.x = x; self.y = y; self.nucleusPixels = nucleusPixels; self.cellPixels = cellPixels; self.means = means
    }

    public func mean(component k: Int, _ c: Compartment) -> Float {
        means[k * Compartment.allCases.count + Compartment.allCases.firstIndex(of: c)!]
    }
}

/// Per-cell means of every measured component in nucleus, cytoplasm, membrane, whole cell and ring,
/// in one pass over the tile's pixels for up to eight components (the study's panel has six).
public enum CellMeasurement {
    /// Sums kept per cell: nucleus, cytoplasm, membrane, cell, then the cytoplasm's 4 quadrants.
    static let slots = 8

    /// - Parameters:
    ///   - components: indices into `tile.channels` to measure.
    ///   - membraneWidthPx: width of the membrane ring.
    /// - Returns: one record per owned cell, in `tile.owned` order. A compartment with no pixel
    ///   (a cell with no room to grow has no cytoplasm) takes the whole-cell mean. The ring
    ///   (`Compartment.ring`) is the lowest of the four directional quarters of the cytoplasm.
    public static func measure(_ tile: TileSegmentation, components: [Int], membraneWidthPx: Int) -> [CellRecord] {
        let n = Int(tile.cells.maxLabel)
        guard n > 0, !tile.owned.isEmpty else { return [] }
        var isOwned = [Bool](repeating: false, count: n + 1)
        for l in tile.owned { isOwned[Int(l)] = true }
        let membrane = Cells.membrane(tile.cells, width: membraneWidthPx)
        let nc = Compartment.allCases.count      // nucleus, cytoplasm, membrane, cell, ring
        let m = components.count
        // Sums per (cell, slot, component) (`slots`), the components of a slot side by side. A
        // pixel adds to its nucleus or quadrant slot, and to the membrane's; the cytoplasm (the
        // four quadrants) and the whole cell (nucleus and cytoplasm) are added up per cell
        // afterwards, not per pixel.
        let slots = Self.slots, lanes = 8
        let width = max(1, (m + lanes - 1) / lanes) * lanes   // lanes per slot (one group at least: no empty array)
        @inline(__always) func at(_ l: Int, _ slot: Int, _ k: Int) -> Int { (l &* slots &+ slot) &* width &+ k }
        var sums = [Double](repeating: 0, count: (n + 1) * slots * width)
        var counts = [Int](repeating: 0, count: (n + 1) * slots)
        let w = tile.region.width, h = tile.region.height
        // Without components the pass still counts the pixels (over a plane of zeros).
        let measured = m > 0 ? components.map { tile.channels[$0].pixels } : [[Float](repeating: 0, count: w * h)]
        withPointers(measured) { planes in
        tile.cells.labels.withUnsafeBufferPointer { cells in
        tile.nuclei.labels.withUnsafeBufferPointer { nuclei in
        membrane.bits.withUnsafeBufferPointer { inMembrane in
        isOwned.withUnsafeBufferPointer { owned in
        tile.centroids.withUnsafeBufferPointer { centroids in
        counts.withUnsafeMutableBufferPointer { counts in
        sums.withUnsafeMutableBufferPointer { sums in
            let S = sums.baseAddress!, C = counts.baseAddress!
            // Up to `lanes` components per pass over the pixels (`accumulate`).
            for group in stride(from: 0, to: max(m, 1), by: lanes) {
                let g = min(lanes, m - group)
                // Components past the group's count read its last plane; their lanes are never stored.
                let p = (0..<lanes).map { planes[min(group + $0, planes.count - 1)] }
                accumulate(width: w, height: h, origin: (tile.region.x, tile.region.y), cells: cells.baseAddress!, nuclei: nuclei.baseAddress!,
                           inMembrane: inMembrane.baseAddress!, owned: owned.baseAddress!, centroids: centroids.baseAddress!,
                           planes: (p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]), lanes: g,
                           sums: S + group, stride: width, counts: group == 0 ? C : nil)
            }
        }
        }
        }
        }
        }
        }
        }
        }
        // Cytoplasm = the four quadrants, cell = nucleus + cytoplasm, per owned cell.
        for l32 in tile.owned {
            let l = Int(l32)
            let c = l * slots
            counts[c + 1] = counts[c + 4] + counts[c + 5] + counts[c + 6] + counts[c + 7]
            counts[c + 3] = counts[c] + counts[c + 1]
            for k in 0..<m {
                sums[at(l, 1, k)] = sums[at(l, 4, k)] + sums[at(l, 5, k)] + sums[at(l, 6, k)] + sums[at(l, 7, k)]
                sums[at(l, 3, k)] = sums[at(l, 0, k)] + sums[at(l, 1, k)]
            }
        }
        return tile.owned.map { l32 in
            let l = Int(l32)
            var means = [Float](repeating: 0, count: m * nc)
            let cellCount = counts[l * slots + 3]
            for k in 0..<m {
                let cellMean = cellCount > 0 ? sums[at(l, 3, k)] / Double(cellCount) : 0
                for c in 0..<4 {
                    let cnt = counts[l * slots + c]
                    means[k * nc + c] = Float(cnt > 0 ? sums[at(l, c, k)] / Double(cnt) : cellMean)
                }
                // Ring: the dimmest non-empty quadrant (whole-cell mean when the cell has no cytoplasm).
                var ring = Double.infinity
                for q in 0..<4 where counts[l * slots + 4 + q] > 0 {
                    ring = min(ring, sums[at(l, 4 + q, k)] / Double(counts[l * slots + 4 + q]))
                }
                means[k * nc + 4] = Float(ring.isFinite ? ring : cellMean)
            }
            let centroid = tile.centroids[l]
            return CellRecord(x: centroid.x, y: centroid.y, nucleusPixels: counts[l * slots], cellPixels: cellCount, means: means)
        }
    }
}

extension CellMeasurement {
    /// The pass of `measure` over one group of up to eight components (`planes`, the first
    /// `lanes` of them measured): each owned pixel's values go to its cell's nucleus or quadrant
    /// slot and, in the membrane, to its membrane slot — `sums[(l · slots + slot) · stride + k]`,
    /// and with `counts`, one pixel to `counts[l · slots + slot]`. A run of pixels of one cell and
    /// slot adds into registers, which hold the slot's sums from the run's first pixel to its
    /// last: the same additions in the same order as into memory, without each waiting for the
    /// one before to be stored. A function of its own, so that the sums stay in registers.
    @inline(never)
    static func accumulate(width w: Int, height h: Int, origin: (x: Int, y: Int), cells: UnsafePointer<Int32>, nuclei: UnsafePointer<Int32>,
                           inMembrane: UnsafePointer<Bool>, owned: UnsafePointer<Bool>, centroids: UnsafePointer<(x: Double, y: Double)>,
                           planes: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                                    UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
                           lanes g: Int, sums: UnsafeMutablePointer<Double>, stride: Int, counts: UnsafeMutablePointer<Int>?) {
        let (p0, p1, p2, p3, p4, p5, p6, p7) = planes
        let slots = Self.slots
        var a = SIMD8<Double>(), b = SIMD8<Double>()   // the run's slot, its cell's membrane
        var aCount = 0, bCount = 0
        var aAt = -1, bAt = -1   // their slot, l · slots + slot (-1: no run)
        for y in 0..<h {
            let gy = Double(origin.y + y)
            for x in 0..<w {
                let p = y &* w &+ x
                let l = Int(cells[p])
                if l == 0 || !owned[l] { continue }
                let slot: Int
                if nuclei[p] == cells[p] {
                    slot = 0
                } else {
                    let dx = Double(origin.x + x) - centroids[l].x, dy = gy - centroids[l].y
                    slot = 4 + (abs(dx) >= abs(dy) ? (dx >= 0 ? 0 : 1) : (dy >= 0 ? 2 : 3))
                }
                let i = l &* slots &+ slot
                if i != aAt { restart(&a, &aAt, &aCount, with: i, lanes: g, sums: sums, stride: stride, counts: counts) }
                let v = SIMD8<Double>(Double(p0[p]), Double(p1[p]), Double(p2[p]), Double(p3[p]),
                                      Double(p4[p]), Double(p5[p]), Double(p6[p]), Double(p7[p]))
                a += v; aCount &+= 1
                if inMembrane[p] {
                    let j = l &* slots &+ 2
                    if j != bAt { restart(&b, &bAt, &bCount, with: j, lanes: g, sums: sums, stride: stride, counts: counts) }
                    b += v; bCount &+= 1
                }
            }
        }
        restart(&a, &aAt, &aCount, with: -1, lanes: g, sums: sums, stride: stride, counts: counts)
        restart(&b, &bAt, &bCount, with: -1, lanes: g, sums: sums, stride: stride, counts: counts)
    }

    /// Ends the run in `acc` at slot `at` (its sums and pixel count to memory; none when `at` is
    /// −1) and begins the run of slot `i` from the sums there (none when `i` is −1).
    @inline(__always)
    static func restart(_ acc: inout SIMD8<Double>, _ at: inout Int, _ count: inout Int, with i: Int, lanes g: Int,
                        sums: UnsafeMutablePointer<Double>, stride: Int, counts: UnsafeMutablePointer<Int>?) {
        if at >= 0 {
            for k in 0..<g { sums[at &* stride &+ k] = acc[k] }
            counts?[at] += count
        }
        guard i >= 0 else { return }
        acc = SIMD8<Double>()
        for k in 0..<g { acc[k] = sums[i &* stride &+ k] }
        at = i; count = 0
    }
}

/// Calls `body` with the base address of every array in `arrays`, each valid for the call.
private func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
    var pointers: [UnsafePointer<Float>] = []
    func nest(_ i: Int) -> R {
        guard i < arrays.count else { return body(pointers) }
        return arrays[i].withUnsafeBufferPointer { b in
            pointers.append(b.baseAddress!)
            return nest(i + 1)
        }
    }
    return nest(0)
}
