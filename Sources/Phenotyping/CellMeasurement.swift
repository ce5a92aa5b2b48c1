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
/// for all components in one pass over the tile's pixels.
public enum CellMeasurement {
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
        // Sums per (cell, component): nucleus, cytoplasm, membrane, cell, then 4 cytoplasm quadrants.
        // A pixel adds to its nucleus or quadrant slot, and to the membrane's; the cytoplasm
        // (the four quadrants) and the whole cell (nucleus and cytoplasm) are added up per cell
        // afterwards, not per pixel.
        let slots = 8
        var sums = [Double](repeating: 0, count: (n + 1) * m * slots)
        var counts = [Int](repeating: 0, count: (n + 1) * slots)
        let w = tile.region.width, h = tile.region.height
        withPointers(components.map { tile.channels[$0].pixels }) { planes in
        tile.cells.labels.withUnsafeBufferPointer { cells in
        tile.nuclei.labels.withUnsafeBufferPointer { nuclei in
        membrane.bits.withUnsafeBufferPointer { inMembrane in
        isOwned.withUnsafeBufferPointer { owned in
        tile.centroids.withUnsafeBufferPointer { centroids in
        counts.withUnsafeMutableBufferPointer { counts in
        sums.withUnsafeMutableBufferPointer { sums in
            for y in 0..<h {
                let gy = Double(tile.region.y + y)
                for x in 0..<w {
                    let p = y * w + x
                    let l = Int(cells[p])
                    if l == 0 || !owned[l] { continue }
                    let slot: Int
                    if nuclei[p] == cells[p] {
                        slot = 0
                    } else {
                        let dx = Double(tile.region.x + x) - centroids[l].x, dy = gy - centroids[l].y
                        slot = 4 + (abs(dx) >= abs(dy) ? (dx >= 0 ? 0 : 1) : (dy >= 0 ? 2 : 3))
                    }
                    counts[l * slots + slot] += 1
                    let cell = l * m * slots
                    if inMembrane[p] {
                        counts[l * slots + 2] += 1
                        for k in 0..<m {
                            let v = Double(planes[k][p]), s = cell + k * slots
                            sums[s + slot] += v; sums[s + 2] += v
                        }
                    } else {
                        for k in 0..<m { sums[cell + k * slots + slot] += Double(planes[k][p]) }
                    }
                }
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
        func addUp<T: AdditiveArithmetic>(_ a: inout [T], _ b: Int) {
            a[b + 1] = a[b + 4] + a[b + 5] + a[b + 6] + a[b + 7]
            a[b + 3] = a[b] + a[b + 1]
        }
        for l32 in tile.owned {
            let l = Int(l32)
            addUp(&counts, l * slots)
            for k in 0..<m { addUp(&sums, (l * m + k) * slots) }
        }
        return tile.owned.map { l32 in
            let l = Int(l32)
            var means = [Float](repeating: 0, count: m * nc)
            let cellCount = counts[l * slots + 3]
            for k in 0..<m {
                let s = (l * m + k) * slots
                let cellMean = cellCount > 0 ? sums[s + 3] / Double(cellCount) : 0
                for c in 0..<4 {
                    let cnt = counts[l * slots + c]
                    means[k * nc + c] = Float(cnt > 0 ? sums[s + c] / Double(cnt) : cellMean)
                }
                // Ring: the dimmest non-empty quadrant (whole-cell mean when the cell has no cytoplasm).
                var ring = Double.infinity
                for q in 0..<4 where counts[l * slots + 4 + q] > 0 {
                    ring = min(ring, sums[s + 4 + q] / Double(counts[l * slots + 4 + q]))
                }
                means[k * nc + 4] = Float(ring.isFinite ? ring : cellMean)
            }
            let centroid = tile.centroids[l]
            return CellRecord(x: centroid.x, y: centroid.y, nucleusPixels: counts[l * slots], cellPixels: cellCount, means: means)
        }
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
