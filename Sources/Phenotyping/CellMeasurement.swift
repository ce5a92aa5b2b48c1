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
        let slots = 8
        var sums = [Double](repeating: 0, count: (n + 1) * m * slots)
        var counts = [Int](repeating: 0, count: (n + 1) * slots)
        let planes = components.map { tile.channels[$0].pixels }
        let cells = tile.cells.labels, nuclei = tile.nuclei.labels
        let w = tile.region.width
        for p in 0..<cells.count {
            let l = Int(cells[p])
            if l == 0 || !isOwned[l] { continue }
            let inNucleus = nuclei[p] == cells[p]
            let inMembrane = membrane.bits[p]
            var quadrant = -1
            if !inNucleus {
                let dx = Double(tile.region.x + p % w) - tile.centroids[l].x, dy = Double(tile.region.y + p / w) - tile.centroids[l].y
                quadrant = abs(dx) >= abs(dy) ? (dx >= 0 ? 0 : 1) : (dy >= 0 ? 2 : 3)
            }
            let base = l * slots
            counts[base + (inNucleus ? 0 : 1)] += 1
            if inMembrane { counts[base + 2] += 1 }
            counts[base + 3] += 1
            if quadrant >= 0 { counts[base + 4 + quadrant] += 1 }
            for k in 0..<m {
                let v = Double(planes[k][p])
                let s = (l * m + k) * slots
                sums[s + (inNucleus ? 0 : 1)] += v
                if inMembrane { sums[s + 2] += v }
                sums[s + 3] += v
                if quadrant >= 0 { sums[s + 4 + quadrant] += v }
            }
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
