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
/// least `minCells` cells on each). A cell's background (`position`) is then, over the used
/// markers it is negative for, the mean of (value − tumour level) / (stroma level − tumour
/// level) weighted by each marker's separation squared: 0 on the tumour's level, 1 on the
/// stroma's. On a slide whose sides do not differ no marker is used, and the position is nil.
public struct EdgeBackground: Sendable {
    public static let minSeparation = 2.0
    public static let minCells = 50

    /// One marker's levels on one slide (`marker`: its name).
    public struct Level: Codable, Sendable, Equatable {
        public var marker: String
        public var tumor: Double
        public var stroma: Double
        /// (stroma − tumour) / √((sd_tumour² + sd_stroma²) / 2).
        public var separation: Double
        public var tumorCells: Int
        public var stromaCells: Int
        public var used: Bool
        enum CodingKeys: String, CodingKey {
            case marker, tumor, stroma, separation, tumorCells = "tumor_cells", stromaCells = "stroma_cells", used
        }
    }

    /// Per marker: value slot in a cell's means, and the samples of each side (nil slot: the
    /// tumour marker, not used).
    let slots: [Int?]
    var tumorSamples: [[Float]]
    var stromaSamples: [[Float]]

    /// `slots[k]`: where marker k's background is read in a cell's means (nil to leave it out).
    public init(slots: [Int?]) {
        self.slots = slots
        tumorSamples = Array(repeating: [], count: slots.count)
        stromaSamples = Array(repeating: [], count: slots.count)
    }

    /// Adds a reference cell (`tumorSide`: which side); its values go to the markers it is
    /// negative for.
    public mutating func add(means: [Float], positive: [Bool], tumorSide: Bool) {
        for (k, slot) in slots.enumerated() {
            guard let slot, !positive[k] else { continue }
            let v = means[slot]
            guard v.isFinite else { continue }
            if tumorSide { tumorSamples[k].append(v) } else { stromaSamples[k].append(v) }
        }
    }

    /// The levels of every marker with a slot, in marker order (`names`), freeing the samples.
    public mutating func levels(names: [String]) -> [Level?] {
        var out: [Level?] = []
        for k in slots.indices {
            guard slots[k] != nil else { out.append(nil); continue }
            let nt = tumorSamples[k].count, ns = stromaSamples[k].count
            let (mt, st) = Self.robust(&tumorSamples[k]), (ms, ss) = Self.robust(&stromaSamples[k])
            tumorSamples[k] = []; stromaSamples[k] = []
            let pooled = ((st * st + ss * ss) / 2).squareRoot()
            // (No spread on a side, as on noiseless slides: no separation to speak of, not used.)
            let sep = pooled > 0 ? (ms - mt) / pooled : 0
            let used = nt >= Self.minCells && ns >= Self.minCells && abs(sep) >= Self.minSeparation
            out.append(Level(marker: names[k], tumor: mt, stroma: ms, separation: sep, tumorCells: nt, stromaCells: ns, used: used))
        }
        return out
    }

    /// Median and 1.4826 × median absolute deviation (0, 0 for no values).
    static func robust(_ v: inout [Float]) -> (Double, Double) {
        guard !v.isEmpty else { return (0, 0) }
        let m = Threshold.quantile(consuming: &v, 0.5)
        var dev = v.map { abs($0 - m) }
        return (Double(m), 1.4826 * Double(Threshold.quantile(consuming: &dev, 0.5)))
    }

    /// A cell's background between the tumour's (0) and the stroma's (1) level, over the used
    /// markers it is negative for; nil when there is none.
    public static func position(means: [Float], positive: [Bool], levels: [Level?], slots: [Int?]) -> Double? {
        var sum = 0.0, weight = 0.0
        for (k, level) in levels.enumerated() {
            guard let level, level.used, let slot = slots[k], !positive[k] else { continue }
            let w = level.separation * level.separation
            sum += w * (Double(means[slot]) - level.tumor) / (level.stroma - level.tumor)
            weight += w
        }
        return weight > 0 ? sum / weight : nil
    }
}
