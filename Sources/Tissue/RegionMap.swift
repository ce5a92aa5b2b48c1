import Foundation
import Imaging

/// Tissue, tumour and stroma at low resolution: 0 background, 1 stroma, 2 tumour.
public struct RegionMap: Sendable {
    public static let background: UInt8 = 0, stroma: UInt8 = 1, tumor: UInt8 = 2
    public let width: Int
    public let height: Int
    /// Level-0 pixels per map pixel (along each axis).
    public let scale: Double
    /// µm per level-0 pixel.
    public let pixelSizeUm: Double
    public var labels: [UInt8]
    /// `TissueDetector.Result.tumorScore` (100 = the tumour threshold), or empty.
    public var tumorScore: [UInt8]
    /// Level-0 width and height, to weigh the partly covered map pixels at the right and bottom edges.
    let fullWidth: Int, fullHeight: Int

    public init(width: Int, height: Int, scale: Double, pixelSizeUm: Double, labels: [UInt8], tumorScore: [UInt8] = [],
                fullWidth: Int, fullHeight: Int) {
        self.width = width; self.height = height; self.scale = scale; self.pixelSizeUm = pixelSizeUm
        self.labels = labels; self.tumorScore = tumorScore; self.fullWidth = fullWidth; self.fullHeight = fullHeight
    }

    /// The tumour score at a level-0 position (px), interpolated bilinearly between the centres
    /// of the four nearest map pixels (clamped at the map's border).
    public func tumorScore(atX x: Double, y: Double) -> Double {
        let fx = min(max(x / scale - 0.5, 0), Double(width - 1)), fy = min(max(y / scale - 0.5, 0), Double(height - 1))
        let i = min(Int(fx), max(width - 2, 0)), j = min(Int(fy), max(height - 2, 0))
        let i1 = min(i + 1, width - 1), j1 = min(j + 1, height - 1)
        let tx = fx - Double(i), ty = fy - Double(j)
        func s(_ a: Int, _ b: Int) -> Double { Double(tumorScore[b * width + a]) }
        return (s(i, j) * (1 - tx) + s(i1, j) * tx) * (1 - ty) + (s(i, j1) * (1 - tx) + s(i1, j1) * tx) * ty
    }

    /// Region under a level-0 position (px).
    public func region(atX x: Double, y: Double) -> UInt8 {
        let (i, j) = RegionMap.pixel(atX: x, y: y, width: width, height: height, scale: scale)
        return labels[j * width + i]
    }

    /// The map pixel (column, row) under a level-0 position, for a map of this geometry.
    public static func pixel(atX x: Double, y: Double, width: Int, height: Int, scale: Double) -> (Int, Int) {
        (min(width - 1, max(0, Int(x / scale))), min(height - 1, max(0, Int(y / scale))))
    }

    /// The part of a tile's core [x0, x1) × [y0, y1) (level 0) where a cell counted in tissue
    /// can have its rounded centroid: the core clipped to the footprint of the tissue map pixels
    /// under it, widened by one pixel each way (a centroid inside a map pixel rounds to at most
    /// half a pixel outside it); nil when no map pixel there is tissue. The rest of the core is
    /// glass, whose cells are left out anyway, and need not be segmented.
    public func tissueBounds(x0: Int, y0: Int, x1: Int, y1: Int) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        guard x1 > x0, y1 > y0 else { return nil }
        let (i0, j0) = RegionMap.pixel(atX: Double(x0 - 1), y: Double(y0 - 1), width: width, height: height, scale: scale)
        let (i1, j1) = RegionMap.pixel(atX: Double(x1), y: Double(y1), width: width, height: height, scale: scale)
        var iMin = Int.max, iMax = Int.min, jMin = Int.max, jMax = Int.min
        for j in j0...j1 {
            for i in i0...i1 where labels[j * width + i] != RegionMap.background {
                iMin = min(iMin, i); iMax = max(iMax, i); jMin = min(jMin, j); jMax = max(jMax, j)
            }
        }
        guard iMin <= iMax else { return nil }
        let bx0 = max(x0, Int((Double(iMin) * scale).rounded(.down)) - 1), bx1 = min(x1, Int((Double(iMax + 1) * scale).rounded(.up)) + 1)
        let by0 = max(y0, Int((Double(jMin) * scale).rounded(.down)) - 1), by1 = min(y1, Int((Double(jMax + 1) * scale).rounded(.up)) + 1)
        return bx0 < bx1 && by0 < by1 ? (bx0, by0, bx1, by1) : nil
    }

    /// Area of a region in mm², each map pixel weighted by the part of it inside the slide.
    public func areaMm2(_ region: UInt8) -> Double { areasMm2()[Int(region)] }

    /// The areas of background, stroma and tumour (indexed by label) in one pass over the map.
    public func areasMm2() -> [Double] {
        var px0 = [Double](repeating: 0, count: 3)
        let widths = (0..<width).map { i in max(0, min(Double(fullWidth), Double(i + 1) * scale) - Double(i) * scale) }
        for j in 0..<height {
            let h = max(0, min(Double(fullHeight), Double(j + 1) * scale) - Double(j) * scale)
            for i in 0..<width {
                let l = Int(labels[j * width + i])
                if l < 3 { px0[l] += widths[i] * h }
            }
        }
        return px0.map { $0 * pixelSizeUm * pixelSizeUm / 1e6 }
    }
}

/// The region a cell takes: the map's label under its centroid, with two optional edge rules
/// for cells the smoothed map places poorly at a nest's outline (the areas stay the map's):
/// - a tumour-marker-positive cell in stroma within `snapMicrons` of the tumour map is
///   tumour-region (the smoothing rounds a nest's outline off its outermost tumour cells);
/// - a cell positive for a marker left out of the tumour average (immune cells) at the tumour
///   map's edge (its map pixel within one pixel of both tumour and non-tumour) is tumour-region
///   where the tumour score interpolated at its centroid is at least `immuneThresholdFactor` ×
///   the threshold, else stroma. Away from the edge the label decides, so a filled stroma island
///   in a nest stays tumour for every cell in it.
///
/// Both neighbourhoods are looked at around the few cells that need them, not dilated over the
/// whole map (a 32k slide's map is 67 Mpx).
public struct CellRegions: Sendable {
    public let map: RegionMap
    /// Half-widths of the snap disc's rows, dy = −r … r (as `Morphology.dilate` draws a disc);
    /// empty when snapping is off.
    let snapRows: [Int]
    /// Tumour score an immune cell at the edge needs, or nil.
    let immuneScore: Double?

    public init(map: RegionMap, snapMicrons: Double, immuneThresholdFactor: Double?) {
        self.map = map
        let snap = snapMicrons / (map.pixelSizeUm * map.scale)
        let r = snap >= 1 ? Int(snap.rounded(.down)) : -1
        snapRows = r < 0 ? [] : (-r...r).map { dy in Int((snap * snap - Double(dy * dy)).squareRoot().rounded(.down)) }
        immuneScore = map.tumorScore.isEmpty ? nil : immuneThresholdFactor.map { $0 * 100 }
    }

    /// Whether a tumour map pixel lies in the snap disc around (mx, my).
    func nearTumor(_ mx: Int, _ my: Int) -> Bool {
        let r = snapRows.count / 2, w = map.width
        for (k, half) in snapRows.enumerated() {
            let y = my + k - r
            guard y >= 0 && y < map.height else { continue }
            for x in max(0, mx - half)...min(w - 1, mx + half) where map.labels[y * w + x] == RegionMap.tumor { return true }
        }
        return false
    }

    /// Whether the 3 × 3 neighbourhood of (mx, my) (inside the map) holds both tumour and
    /// non-tumour pixels.
    func atTumorEdge(_ mx: Int, _ my: Int) -> Bool {
        var tumor = false, other = false
        for y in max(0, my - 1)...min(map.height - 1, my + 1) {
            for x in max(0, mx - 1)...min(map.width - 1, mx + 1) {
                if map.labels[y * map.width + x] == RegionMap.tumor { tumor = true } else { other = true }
            }
        }
        return tumor && other
    }

    /// Region of a cell at level-0 position (x, y) px, whose map pixel is (mx, my).
    public func region(x: Double, y: Double, mapX mx: Int, mapY my: Int, tumorPositive: Bool, immunePositive: Bool) -> UInt8 {
        let i = my * map.width + mx
        let label = map.labels[i]
        if label == RegionMap.background { return label }
        if immunePositive, let immuneScore {
            guard atTumorEdge(mx, my) else { return label }
            return map.tumorScore(atX: x, y: y) >= immuneScore ? RegionMap.tumor : RegionMap.stroma
        }
        if label == RegionMap.stroma, tumorPositive, !snapRows.isEmpty, nearTumor(mx, my) { return RegionMap.tumor }
        return label
    }
}
