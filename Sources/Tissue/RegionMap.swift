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

    /// The outlines of `region` (`Contours`: one polygon per 4-connected piece, its outer ring
    /// then its holes) in level-0 pixels, along the map pixels' edges and clipped to the slide
    /// (the last column and row of map pixels can reach past it), so that the polygons' area is
    /// the region's area as `areasMm2` weighs it.
    public func outlines(of region: UInt8) -> [[[(x: Double, y: Double)]]] {
        let mask = Mask(width: width, height: height, bits: labels.map { $0 == region })
        let w = Double(fullWidth), h = Double(fullHeight)
        return Contours.polygons(mask).map { p in
            p.rings.map { ring in ring.map { c in (min(Double(c.x) * scale, w), min(Double(c.y) * scale, h)) } }
        }
    }
}

/// The region a cell takes: the map's label under its centroid, with optional edge rules for
/// cells the smoothed map places poorly at a nest's outline (the areas stay the map's):
/// - a tumour-marker-positive cell in stroma within `snapMicrons` of the tumour map is
///   tumour-region (the smoothing rounds a nest's outline off its outermost tumour cells);
/// - a cell positive for a marker left out of the tumour average (immune cells) within
///   `edgeZoneMicrons` of the other side of the tumour map's edge (its map pixel within that
///   distance of a tumour pixel if stroma, of a stroma pixel if tumour) takes the side whose
///   background it carries, when the caller has that (`background`: 0 the tumour's, 1 the
///   stroma's; `EdgeBackground`): tumour-region below one half, else stroma; a
///   tumour-marker-positive cell in stroma, beyond the snap, is tumour-region when its
///   background is below one half, wherever it is (a nest too small or too thin for the map);
/// - otherwise, such a cell at the tumour map's edge (its map pixel within one pixel of both
///   tumour and non-tumour) is tumour-region where the tumour score interpolated at its
///   centroid is at least `immuneThresholdFactor` × the threshold, else stroma. Away from the
///   edge the label decides, so a filled stroma island in a nest stays tumour for every cell in it.
///
/// The neighbourhoods are looked at around the few cells that need them, not dilated over the
/// whole map (a 32k slide's map is 67 Mpx).
public struct CellRegions: Sendable {
    public let map: RegionMap
    /// Half-widths of the snap disc's rows, dy = −r … r (`Morphology.discRows`, the disc
    /// `Morphology.dilate` draws); empty when snapping is off.
    let snapRows: [Int]
    /// Tumour score an immune cell at the edge needs, or nil.
    let immuneScore: Double?
    /// The edge zone's disc (rows as `snapRows`), and per block of `zoneBlock` × `zoneBlock` map
    /// pixels whether it holds stroma (bit 0) and tumour (bit 1); the block is at least the disc's
    /// radius, so a disc reaches at most the blocks next to its own.
    let zoneRows: [Int]
    let zoneBlock: Int
    let zoneBlocksX: Int
    let zoneBlocks: [UInt8]

    public init(map: RegionMap, snapMicrons: Double, immuneThresholdFactor: Double?, edgeZoneMicrons: Double = 0) {
        self.map = map
        let mapPixelUm = map.pixelSizeUm * map.scale
        snapRows = Morphology.discRows(radius: snapMicrons / mapPixelUm)
        immuneScore = map.tumorScore.isEmpty ? nil : immuneThresholdFactor.map { $0 * 100 }
        let zone = edgeZoneMicrons / mapPixelUm
        zoneRows = Morphology.discRows(radius: zone)
        zoneBlock = zoneRows.isEmpty ? 1 : max(1, Int(zone.rounded(.up)))
        zoneBlocksX = zoneRows.isEmpty ? 0 : (map.width + zoneBlock - 1) / zoneBlock
        var blocks = [UInt8]()
        if !zoneRows.isEmpty {
            let by = (map.height + zoneBlock - 1) / zoneBlock, bx = zoneBlocksX, b = zoneBlock, w = map.width
            blocks = [UInt8](repeating: 0, count: bx * by)
            map.labels.withUnsafeBufferPointer { lb in
                for y in 0..<map.height {
                    let row = (y / b) * bx
                    for i in 0..<bx where blocks[row + i] != 3 {
                        var sides: UInt8 = 0
                        for x in (i * b)..<min(w, (i + 1) * b) {
                            let l = lb[y * w + x]
                            sides |= l == RegionMap.tumor ? 2 : (l == RegionMap.stroma ? 1 : 0)
                        }
                        blocks[row + i] |= sides
                    }
                }
            }
        }
        zoneBlocks = blocks
    }

    /// Whether a pixel labelled `label` lies in the disc `rows` around (mx, my).
    func inDisc(_ rows: [Int], _ mx: Int, _ my: Int, label: UInt8) -> Bool {
        let r = rows.count / 2, w = map.width
        for (k, half) in rows.enumerated() {
            let y = my + k - r
            guard y >= 0 && y < map.height else { continue }
            for x in max(0, mx - half)...min(w - 1, mx + half) where map.labels[y * w + x] == label { return true }
        }
        return false
    }

    /// Whether a tumour map pixel lies in the snap disc around (mx, my).
    func nearTumor(_ mx: Int, _ my: Int) -> Bool { inDisc(snapRows, mx, my, label: RegionMap.tumor) }

    public var hasEdgeZone: Bool { !zoneRows.isEmpty }

    /// Whether the tissue map pixel (mx, my) lies within the edge zone: a pixel of the other
    /// side (stroma for tumour, tumour for stroma) within `edgeZoneMicrons`. False when the
    /// zone is off or the pixel is background.
    public func inEdgeZone(_ mx: Int, _ my: Int) -> Bool {
        guard !zoneRows.isEmpty else { return false }
        let label = map.labels[my * map.width + mx]
        guard label != RegionMap.background else { return false }
        let other: UInt8 = label == RegionMap.tumor ? RegionMap.stroma : RegionMap.tumor
        let bit: UInt8 = other == RegionMap.tumor ? 2 : 1
        let bx = mx / zoneBlock, by = my / zoneBlock, rowsOfBlocks = zoneBlocks.count / zoneBlocksX
        let near = (max(0, by - 1)...min(rowsOfBlocks - 1, by + 1)).contains { j in
            (max(0, bx - 1)...min(zoneBlocksX - 1, bx + 1)).contains { zoneBlocks[j * zoneBlocksX + $0] & bit != 0 }
        }
        return near && inDisc(zoneRows, mx, my, label: other)
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

    /// Region of a cell at level-0 position (x, y) px, whose map pixel is (mx, my);
    /// `background`: where the cell's background lies between the tumour's (0) and the
    /// stroma's (1), or nil when not known; evaluated only for the cells a rule needs it for.
    public func region(x: Double, y: Double, mapX mx: Int, mapY my: Int, tumorPositive: Bool, immunePositive: Bool,
                       background: @autoclosure () -> Double? = nil) -> UInt8 {
        let i = my * map.width + mx
        let label = map.labels[i]
        if label == RegionMap.background { return label }
        if immunePositive {
            if inEdgeZone(mx, my), let b = background() { return b < 0.5 ? RegionMap.tumor : RegionMap.stroma }
            if let immuneScore {
                guard atTumorEdge(mx, my) else { return label }
                return map.tumorScore(atX: x, y: y) >= immuneScore ? RegionMap.tumor : RegionMap.stroma
            }
        }
        if label == RegionMap.stroma, tumorPositive, !snapRows.isEmpty, nearTumor(mx, my) { return RegionMap.tumor }
        if label == RegionMap.stroma, tumorPositive, let b = background(), b < 0.5 { return RegionMap.tumor }
        return label
    }
}
