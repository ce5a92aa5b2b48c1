import Foundation
import Imaging

/// Which side of a nest's edge a cell is on, read from the background it carries: tissue's own
/// autofluorescence differs between epithelium and stroma (collagen is brighter, most in the
/// blue–green channels), and after unmixing it stays in the components, so a cell negative for
/// a marker shows, in that marker's component over its nucleus, the background of the tissue
/// at its centroid.
///
/// Per slide and per marker (the tumour marker aside), the levels are learnt from cells outside
/// the edge zone (`CellRegions.inEdgeZone`) that are negative for the marker: cells positive for
/// the tumour marker in tumour (the tumour side) and cells negative for it in stroma (the
/// stroma side). A marker is used when the two sides are at least `minSeparation` pooled robust
/// standard deviations apart (median and 1.4826 × median absolute deviation of each side, at
/// least `minCells` cells on each). As the background drifts across a slide (section thickness,
/// fixation), the levels are also learnt locally: the slide is cut into blocks of
/// `blockMicrons`, and each block's levels are those of the cells in it and the eight around
/// it, where they pass the same test. The levels belong to the blocks' centres: a cell takes
/// the bilinear blend of those of the four blocks whose centres surround it (the ones that have
/// levels), so a drift is followed smoothly rather than in steps of a block; else the slide's.
/// A cell's background (`position`) is then, over the used markers it is negative for, the
/// mean of (value − tumour level) / (stroma level − tumour level) weighted by each marker's
/// separation squared: 0 on the tumour's level, 1 on the stroma's. On a slide whose sides do
/// not differ no marker is used, and the position is nil.
public struct EdgeBackground: Sendable {
    public static let minSeparation = 2.0
    public static let minCells = 50
    public static let blockMicrons = 250.0

    /// One marker's levels on one slide (`marker`: its name), and in how many of the slide's
    /// blocks holding reference cells the block's own levels were used.
    public struct Level: Codable, Sendable, Equatable {
        public var marker: String
        public var tumor: Double
        public var stroma: Double
        /// (stroma − tumour) / √((sd_tumour² + sd_stroma²) / 2).
        public var separation: Double
        public var tumorCells: Int
        public var stromaCells: Int
        public var used: Bool
        public var localBlocks: Int = 0
        public var blocks: Int = 0
        enum CodingKeys: String, CodingKey {
            case marker, tumor, stroma, separation, tumorCells = "tumor_cells", stromaCells = "stroma_cells", used
            case localBlocks = "local_blocks", blocks
        }
    }

    /// Per marker: value slot in a cell's means (nil: the tumour marker, not used).
    let slots: [Int?]
    /// Blocks across and down, and level-0 pixels per block side.
    let blocksX: Int, blocksY: Int
    let blockPx: Double
    /// Samples per block, per marker, per side (0 tumour, 1 stroma).
    var samples: [[[[Float]]]]
    /// After `learn`: the slide's levels per marker, and each block's (nil where not used).
    public internal(set) var slide: [Level?] = []
    var local: [[Level?]] = []

    /// `slots[k]`: where marker k's background is read in a cell's means (nil to leave it out);
    /// the slide's level-0 size and pixel size place cells in blocks.
    public init(slots: [Int?], width: Int, height: Int, pixelSizeUm: Double) {
        self.slots = slots
        blockPx = max(1, EdgeBackground.blockMicrons / pixelSizeUm)
        blocksX = max(1, Int((Double(width) / blockPx).rounded(.up)))
        blocksY = max(1, Int((Double(height) / blockPx).rounded(.up)))
        samples = Array(repeating: Array(repeating: [[], []], count: slots.count), count: blocksX * blocksY)
    }

    func block(x: Double, y: Double) -> Int {
        min(blocksY - 1, max(0, Int(y / blockPx))) * blocksX + min(blocksX - 1, max(0, Int(x / blockPx)))
    }

    /// Adds a reference cell at level-0 (x, y) (`tumorSide`: which side); its values go to the
    /// markers it is negative for.
    public mutating func add(means: [Float], positive: [Bool], tumorSide: Bool, x: Double, y: Double) {
        let b = block(x: x, y: y), side = tumorSide ? 0 : 1
        for (k, slot) in slots.enumerated() {
            guard let slot, !positive[k] else { continue }
            let v = means[slot]
            guard v.isFinite else { continue }
            samples[b][k][side].append(v)
        }
    }

    /// Learns the slide's and the blocks' levels (marker names `names`), freeing the samples;
    /// the blocks on up to `threads` threads (each block's levels are its own).
    public mutating func learn(names: [String], threads: Int = 1) {
        slide = slots.indices.map { k in
            guard slots[k] != nil else { return nil }
            return Self.level(names[k], samples.flatMap { $0[k][0] }, samples.flatMap { $0[k][1] })
        }
        let (all, sl, bw, bh) = (samples, slots, blocksX, blocksY)
        let n = bw * bh, parts = max(1, min(threads, n))
        var levels = [[Level?]](repeating: [], count: n)
        levels.withUnsafeMutableBufferPointer { out in
            let out = out
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                for b in (part * n / parts)..<((part + 1) * n / parts) {
                    let bx = b % bw, by = b / bw
                    let around = (max(0, by - 1)...min(bh - 1, by + 1)).flatMap { j in (max(0, bx - 1)...min(bw - 1, bx + 1)).map { j * bw + $0 } }
                    out[b] = sl.indices.map { k in
                        guard sl[k] != nil, !all[b][k][0].isEmpty || !all[b][k][1].isEmpty else { return nil }
                        let l = Self.level(names[k], around.flatMap { all[$0][k][0] }, around.flatMap { all[$0][k][1] })
                        return l.used ? l : nil
                    }
                }
            }
        }
        local = levels
        for k in slide.indices where slide[k] != nil {
            slide[k]!.blocks = samples.filter { !$0[k][0].isEmpty || !$0[k][1].isEmpty }.count
            slide[k]!.localBlocks = local.filter { $0[k] != nil }.count
        }
        samples = []
    }

    /// One marker's levels from the two sides' values.
    static func level(_ name: String, _ tumor: [Float], _ stroma: [Float]) -> Level {
        var t = tumor, s = stroma
        let (mt, st) = robust(&t), (ms, ss) = robust(&s)
        let pooled = ((st * st + ss * ss) / 2).squareRoot()
        // (No spread on a side, as on noiseless slides: no separation to speak of, not used.)
        let sep = pooled > 0 ? (ms - mt) / pooled : 0
        let used = tumor.count >= minCells && stroma.count >= minCells && abs(sep) >= minSeparation
        return Level(marker: name, tumor: mt, stroma: ms, separation: sep, tumorCells: tumor.count, stromaCells: stroma.count, used: used)
    }

    /// Median and 1.4826 × median absolute deviation (0, 0 for no values).
    static func robust(_ v: inout [Float]) -> (Double, Double) {
        guard !v.isEmpty else { return (0, 0) }
        let m = Threshold.quantile(consuming: &v, 0.5)
        var dev = v.map { abs($0 - m) }
        return (Double(m), 1.4826 * Double(Threshold.quantile(consuming: &dev, 0.5)))
    }

    /// Whether any marker's levels are used, in a block or on the whole slide.
    public var anyUsed: Bool { slide.contains { $0?.used == true } || local.contains { $0.contains { $0 != nil } } }

    /// The blocks whose centres surround level-0 (x, y), with their bilinear weights (a block
    /// twice at the slide's border, where the position lies beyond the outer centres).
    func surrounding(x: Double, y: Double) -> [(block: Int, weight: Double)] {
        let fx = x / blockPx - 0.5, fy = y / blockPx - 0.5
        let ix = Int(fx.rounded(.down)), iy = Int(fy.rounded(.down))
        let tx = fx - Double(ix), ty = fy - Double(iy)
        func at(_ i: Int, _ j: Int) -> Int { min(blocksY - 1, max(0, j)) * blocksX + min(blocksX - 1, max(0, i)) }
        return [(at(ix, iy), (1 - tx) * (1 - ty)), (at(ix + 1, iy), tx * (1 - ty)),
                (at(ix, iy + 1), (1 - tx) * ty), (at(ix + 1, iy + 1), tx * ty)]
    }

    /// Marker k's levels at level-0 (x, y): the blend of the surrounding blocks' (`surrounding`,
    /// the weights of those with levels rescaled to 1), where their sides lie the same way round
    /// (blocks that disagree would blend into levels that separate nothing); else the slide's,
    /// where used.
    func levels(_ k: Int, around corners: [(block: Int, weight: Double)]) -> (tumor: Double, stroma: Double, separation: Double)? {
        var w = 0.0, tumor = 0.0, stroma = 0.0, separation = 0.0
        var above = false, below = false
        for (b, f) in corners where f > 0 {
            guard let l = local[b][k] else { continue }
            w += f; tumor += f * l.tumor; stroma += f * l.stroma; separation += f * l.separation
            if l.separation > 0 { above = true } else { below = true }
        }
        if w > 0, above != below { return (tumor / w, stroma / w, separation / w) }
        guard let l = slide[k], l.used else { return nil }
        return (l.tumor, l.stroma, l.separation)
    }

    /// A cell's background at level-0 (x, y) between the tumour's (0) and the stroma's (1)
    /// level, over the markers it is negative for whose levels are used there (`levels`); nil
    /// when there is none.
    public func position(means: [Float], positive: [Bool], x: Double, y: Double) -> Double? {
        let corners = local.isEmpty ? [] : surrounding(x: x, y: y)
        var sum = 0.0, weight = 0.0
        for k in slots.indices {
            guard let slot = slots[k], !positive[k], let l = levels(k, around: corners) else { continue }
            let w = l.separation * l.separation
            sum += w * (Double(means[slot]) - l.tumor) / (l.stroma - l.tumor)
            weight += w
        }
        return weight > 0 ? sum / weight : nil
    }
}
