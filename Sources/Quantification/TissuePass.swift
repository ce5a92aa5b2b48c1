import CMalloc
import Dispatch
import Foundation
import Imaging
import Phenotyping
import SlideIO
import Tissue
import Unmixing

/// The low-resolution pass: reads the pyramid level closest to (not coarser than) the panel's
/// tissue resolution in strips, unmixes it, box-averages to the target resolution, and finds
/// tissue, tumour and stroma. Memory: two half-precision planes at the map resolution (three
/// with `tumorExcludeMarkers`), smoothed in place, plus masks.
public enum TissuePass {
    public struct Output: Sendable {
        public var map: RegionMap
        public var tissueThreshold: Float
        public var tumorThreshold: Float
        /// `TissueDetector.Result.tumorThresholdRule` and `tumorThresholdUndecided`.
        public var tumorThresholdRule = TissueDetector.ThresholdRule.automatic
        public var tumorThresholdUndecided = false
        public var level: Int
        /// Tissue the panel's tissue edge (`tissueEdgeSigmaMicrons`) took off the map, mm²; nil
        /// when it did not run (off, or a slide without glass).
        public var tissueEdgeRemovedMm2: Double? = nil
    }

    /// Where the map comes from: the pyramid level read, the box factor on it, the map size.
    public struct Plan: Sendable {
        public let level: Int
        public let factor: Int
        public let width: Int, height: Int
        /// Level-0 pixels per map pixel.
        public let scale: Double
        /// Level size.
        let levelWidth: Int, levelHeight: Int
        let tumorComponent: Int
        /// Components summed into the exclusion plane (empty: no such plane).
        let excludeComponents: [Int]

        /// The excluded components summed per pixel over a row of `n` pixels, in component
        /// order (`rows(k)`: component k's row), into `d`.
        func excludedSum(count n: Int, rows: (Int) -> UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>) {
            guard let first = excludeComponents.first else { return }
            d.update(from: rows(first), count: n)
            for c in excludeComponents.dropFirst() {
                let a = rows(c)
                for i in 0..<n { d[i] += a[i] }
            }
        }

        /// A map pixel's mean from its box sum, as the map stores it (half precision, ±65504 at
        /// most: a pixel that bright is far above any threshold): the box is f × f level pixels,
        /// fewer at the right and bottom edges.
        func mean(_ sum: Float, mapX mx: Int, mapY my: Int) -> UInt16 {
            let n = min(factor, levelHeight - my * factor) * min(factor, levelWidth - mx * factor)
            return Half.encode(min(max(sum / Float(n), -65504), 65504))
        }

        /// Map pixel under a level-0 position.
        public func pixel(atX x: Double, y: Double) -> (Int, Int) {
            RegionMap.pixel(atX: x, y: y, width: width, height: height, scale: scale)
        }

        /// Adds a row of `w` level pixels to the sums of the boxes it crosses, `d[m]` for the
        /// box of pixels m·f …, each box's pixels left to right (a last box cut by the row's end
        /// gets what there is). Both ways of making the map (`means`, `blockMeans`) add their
        /// rows here, so their sums are the same numbers.
        func addRow(_ s: UnsafePointer<Float>, count w: Int, into d: UnsafeMutablePointer<Float>) {
            let f = factor
            if f == 1 {
                for x in 0..<w { d[x] += s[x] }
            } else {
                // Offset j of every whole box, then j + 1: each box still adds its pixels left to
                // right, but neighbouring boxes' additions no longer wait for each other.
                let whole = w / f
                for j in 0..<f { for m in 0..<whole { d[m] += s[m &* f &+ j] } }
                for x in (whole * f)..<w { d[whole] += s[x] }
            }
        }
    }

    public static func plan(slide: Slide, panel: Panel, pixelSizeUm px0: Double) -> Plan {
        let target = panel.tissue.resolutionMicrons
        // Coarsest level whose pixels are no larger than the target.
        var level = 0
        for lv in slide.levels where lv.downsample * px0 <= target * 1.001 { level = lv.index }
        let lv = slide.levels[level]
        let f = max(1, Int((target / (px0 * lv.downsample)).rounded()))
        return Plan(level: level, factor: f, width: (lv.width + f - 1) / f, height: (lv.height + f - 1) / f,
                    scale: lv.downsample * Double(f), levelWidth: lv.width, levelHeight: lv.height,
                    tumorComponent: panel.marker(panel.tissue.tumorMarker).flatMap { panel.componentIndex($0.component) } ?? 0,
                    excludeComponents: panel.tissue.tumorExcludeMarkers.compactMap { panel.marker($0).flatMap { panel.componentIndex($0.component) } })
    }

    /// The whole pass on its own: reads the plan's level in strips, unmixes, box-averages, detects.
    public static func run(slide: Slide, panel: Panel, channelMap: [Int], pixelSizeUm px0: Double, threads: Int = 1) throws -> Output {
        try detect(try means(slide: slide, panel: panel, channelMap: channelMap, pixelSizeUm: px0, threads: threads),
                   slide: slide, panel: panel, pixelSizeUm: px0, threads: threads)
    }

    /// A map's box means in half precision (`Plan.mean`), row-major; `exclude` is empty
    /// without `tumorExcludeMarkers`.
    public struct Means: Sendable {
        public let plan: Plan
        public var signal: [UInt16], marker: [UInt16], exclude: [UInt16]
        public init(plan: Plan, signal: [UInt16], marker: [UInt16], exclude: [UInt16]) {
            self.plan = plan; self.signal = signal; self.marker = marker; self.exclude = exclude
        }

        /// Zero planes for the plan, filled by the tile pass (`set`).
        public init(plan: Plan) {
            let zero = [UInt16](repeating: 0, count: plan.width * plan.height)
            self.init(plan: plan, signal: zero, marker: zero, exclude: plan.excludeComponents.isEmpty ? [] : zero)
        }

        /// Stores a tile's block means (`blockMeans`).
        public mutating func set(_ blocks: [BlockMean]) {
            for b in blocks {
                signal[b.index] = b.signal; marker[b.index] = b.marker
                if !exclude.isEmpty { exclude[b.index] = b.exclude }
            }
        }
    }

    /// Reads the plan's level in strips on `threads` workers, unmixes, and box-averages.
    public static func means(slide: Slide, panel: Panel, channelMap: [Int], pixelSizeUm px0: Double, threads: Int = 1) throws -> Means {
        let p = plan(slide: slide, panel: panel, pixelSizeUm: px0)
        let level = p.level, f = p.factor, mw = p.width
        let lv = slide.levels[level]
        // The same reading, unmixing (OLS) and box sums as the tile pass's source.
        var source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: Unmixer(library: panel.library, method: .ols), level: level)
        source.mapBoxes = p
        var planes = Means(plan: p)
        // Regions of whole map pixels, decoded and unmixed on `threads` workers; each writes only
        // its own map pixels. A worker takes the regions of one row of the file's blocks (so two
        // workers do not wait for each other's decoding of the same blocks), in chunks of about
        // 1024 columns, and each chunk in strips of about 64 rows.
        let stripRows = f * max(1, 64 / f), chunkWidth = f * max(1, 1024 / f)
        let strips = (lv.height + stripRows - 1) / stripRows, chunks = (lv.width + chunkWidth - 1) / chunkWidth
        let blockRows = max(1, slide.blockHeight(level: level))
        let groups = Dictionary(grouping: 0..<strips) { ($0 * stripRows) / blockRows }.sorted { $0.key < $1.key }.map(\.value)
        let workers = max(1, min(threads, groups.count))
        // A strip is thinner than a block: the blocks a chunk's strips share stay cached, a
        // chunk's worth per worker (with the blocks on its edges and below it), not whole rows of
        // blocks: on a 32k slide's 8192-px level at 2 threads, 44 MB instead of 176 MB.
        source = source.caching(window: chunkWidth, height: blockRows * workers)
        let errors = FirstError()
        planes.signal.withUnsafeMutableBufferPointer { sig in
        planes.marker.withUnsafeMutableBufferPointer { mk in
        planes.exclude.withUnsafeMutableBufferPointer { ex in
            let next = WorkCounter()
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                while let g = next.take(below: groups.count) { for c in 0..<chunks { for s in groups[g] {
                    let x0 = c * chunkWidth, y0 = s * stripRows
                    let w = min(chunkWidth, lv.width - x0), h = min(stripRows, lv.height - y0)
                    let channels: [Image]
                    do { channels = try source.images(PixelRegion(x: x0, y: y0, width: w, height: h)) } catch { errors.set(error); return }
                    // The region holds whole map pixels, summed as `blockMeans` sums them
                    // (`BoxSums`); each mean is stored.
                    let sums = channels.suffix(3).map(\.pixels)
                    let mx0 = x0 / f, my0 = y0 / f, cols = (w + f - 1) / f, rows = (h + f - 1) / f
                    for my in 0..<rows {
                        for mx in 0..<cols {
                            let i = my * cols + mx, m = (my0 + my) * mw + mx0 + mx
                            sig[m] = p.mean(sums[0][i], mapX: mx0 + mx, mapY: my0 + my)
                            mk[m] = p.mean(sums[1][i], mapX: mx0 + mx, mapY: my0 + my)
                            if !ex.isEmpty { ex[m] = p.mean(sums[2][i], mapX: mx0 + mx, mapY: my0 + my) }
                        }
                    }
                } } }
            }
        }
        }
        }
        try errors.rethrow()
        return planes
    }

    /// Box means of one tile's map pixels, for building the map in the tile pass (level 0
    /// only): every map pixel whose first level-0 pixel lies in the tile's core, from the box
    /// sums its source made over the region (`UnmixedSource.mapBoxes`, the last three planes of
    /// `channels`: the halo supplies the pixels beyond the core), exactly as `means` sums
    /// them, so the map does not depend on the tiling.
    public static func blockMeans(plan p: Plan, core: PixelRegion, region: PixelRegion, channels: [Image]) -> [BlockMean] {
        precondition(p.level == 0)
        let f = p.factor
        let grid = BoxSums.Grid(plan: p, region: region)
        let sums = channels.suffix(3)
        precondition(sums.allSatisfy { $0.width == grid.cols && $0.height == grid.rows }, "the source made no box sums for this region")
        let bx0 = (core.x + f - 1) / f, bx1 = (core.x + core.width - 1) / f
        let by0 = (core.y + f - 1) / f, by1 = (core.y + core.height - 1) / f
        guard bx0 <= bx1, by0 <= by1 else { return [] }
        precondition(bx0 >= grid.bx0 && bx1 < grid.bx0 + grid.cols && by0 >= grid.by0 && by1 < grid.by0 + grid.rows,
                     "halo narrower than the map's box")
        let (sig, mk, ex) = (sums[sums.startIndex].pixels, sums[sums.startIndex + 1].pixels, sums[sums.startIndex + 2].pixels)
        var out: [BlockMean] = []
        out.reserveCapacity((by1 - by0 + 1) * (bx1 - bx0 + 1))
        for by in by0...by1 {
            for bx in bx0...bx1 {
                let i = (by - grid.by0) * grid.cols + bx - grid.bx0
                out.append(BlockMean(index: by * p.width + bx, signal: p.mean(sig[i], mapX: bx, mapY: by), marker: p.mean(mk[i], mapX: bx, mapY: by),
                                     exclude: p.mean(ex[i], mapX: bx, mapY: by)))
            }
        }
        return out
    }

    /// A region's box sums for the tissue map, made row by row as its source produces the rows
    /// (`UnmixedSource.mapBoxes`): total light (Σ channels − dark offset, plane by plane in
    /// order), the tumour marker and the excluded markers (summed in component order), each
    /// added to its boxes left to right (`Plan.addRow`). Every box whose pixels (f × f, fewer at
    /// the level's right and bottom edges) lie in the region is summed.
    struct BoxSums {
        /// The region's whole boxes: columns bx0 ..< bx0 + cols, rows by0 ..< by0 + rows.
        struct Grid {
            let bx0: Int, by0: Int, cols: Int, rows: Int
            init(plan p: Plan, region r: PixelRegion) {
                let f = p.factor
                func span(_ start: Int, _ end: Int, _ side: Int) -> (Int, Int) {
                    let first = (start + f - 1) / f
                    let last = end >= side ? (side + f - 1) / f : end / f
                    return (first, max(0, last - first))
                }
                (bx0, cols) = span(r.x, r.x + r.width, p.levelWidth)
                (by0, rows) = span(r.y, r.y + r.height, p.levelHeight)
            }
        }
        let plan: Plan
        let grid: Grid
        let regionX: Int
        var signal: [Float], marker: [Float], exclude: [Float]
        /// A row's total light or excluded sum.
        private var row: [Float]

        init(plan: Plan, region r: PixelRegion) {
            self.plan = plan
            grid = Grid(plan: plan, region: r)
            regionX = r.x
            signal = [Float](repeating: 0, count: grid.cols * grid.rows)
            marker = signal; exclude = signal
            row = [Float](repeating: 0, count: min(grid.cols * plan.factor, r.width))
        }

        /// Adds level row `y` of the region. `channels(c)`: channel c's row from the region's
        /// left edge (c < `channelCount`), `dark` taken off each; `components(k)`: component k's.
        mutating func add(y: Int, channelCount: Int, channels: (Int) -> UnsafePointer<Float>, dark: Float,
                          components: (Int) -> UnsafePointer<Float>) {
            let f = plan.factor
            let by = y / f - grid.by0
            guard y >= grid.by0 * f, by < grid.rows, grid.cols > 0 else { return }
            let x0 = grid.bx0 * f - regionX, n = min((grid.bx0 + grid.cols) * f, plan.levelWidth) - grid.bx0 * f
            let at = by * grid.cols
            let p = plan
            row.withUnsafeMutableBufferPointer { rb in
                let t = rb.baseAddress!
                t.update(repeating: 0, count: n)
                for c in 0..<channelCount {
                    let o = channels(c) + x0
                    for i in 0..<n { t[i] += o[i] - dark }
                }
                signal.withUnsafeMutableBufferPointer { p.addRow(t, count: n, into: $0.baseAddress! + at) }
                marker.withUnsafeMutableBufferPointer { p.addRow(components(p.tumorComponent) + x0, count: n, into: $0.baseAddress! + at) }
                if !p.excludeComponents.isEmpty {
                    p.excludedSum(count: n, rows: { components($0) + x0 }, into: t)
                    exclude.withUnsafeMutableBufferPointer { p.addRow(t, count: n, into: $0.baseAddress! + at) }
                }
            }
        }

        /// The three planes, as images of the grid's size (after the source's components).
        var images: [Image] {
            [signal, marker, exclude].map { Image(width: grid.cols, height: grid.rows, pixels: $0) }
        }
    }

    /// A map pixel's means, as `Means` stores them.
    public struct BlockMean: Sendable {
        public var index: Int
        public var signal: UInt16, marker: UInt16, exclude: UInt16
    }

    /// Moves an array out of a variable (leaving it empty), so the callee holds the only
    /// reference and can work on it in place.
    static func take<T>(_ a: inout [T]) -> [T] {
        let v = a
        a = []
        return v
    }

    /// Tissue, tumour and stroma from a map's means; the map's smoothing runs on `threads`
    /// threads (the same map for any count).
    public static func detect(_ means: consuming Means, slide: Slide, panel: Panel, pixelSizeUm px0: Double, threads: Int = 1,
                              giveMemoryBack: Bool = true) throws -> Output {
        var s = means
        let p = s.plan, mw = p.width, mh = p.height
        let t = panel.tissue
        var detector = TissueDetector(sigmaTissueMicrons: t.tissueSigmaMicrons, tissueOtsuFactor: t.tissueOtsuFactor,
                                      minTissueAreaMicrons2: t.minTissueAreaMicrons2, fillHolesBelowMicrons2: t.fillHolesBelowMicrons2,
                                      sigmaTumorMicrons: t.tumorSigmaMicrons, tumorThreshold: t.tumorThreshold,
                                      tumorEdgeFraction: t.tumorEdgeFraction, minTumorAreaMicrons2: t.minTumorAreaMicrons2,
                                      fillTumorHolesBelowMicrons2: t.fillTumorHolesBelowMicrons2,
                                      excludeMarginMicrons: t.tumorExcludeMarginMicrons, edgeSigmaMicrons: t.tissueEdgeSigmaMicrons)
        detector.tumorThresholdMinimum = t.tumorThresholdMinimum
        detector.tissueThresholdMinimum = t.tissueThresholdMinimum
        detector.threads = threads
        #if canImport(Glibc)
        if giveMemoryBack { detector.planeFreed = { malloc_trim(0) } }
        #endif
        let res = detector.detect(signal: HalfImage(width: mw, height: mh, bits: take(&s.signal)),
                                  tumorMarker: HalfImage(width: mw, height: mh, bits: take(&s.marker)),
                                  exclude: s.exclude.isEmpty ? nil : HalfImage(width: mw, height: mh, bits: take(&s.exclude)),
                                  mapPixelUm: px0 * p.scale)
        let map = RegionMap(width: mw, height: mh, scale: p.scale, pixelSizeUm: px0, labels: res.labels, tumorScore: res.tumorScore,
                            fullWidth: slide.width, fullHeight: slide.height)
        let mapPixelMm2 = (px0 * p.scale) * (px0 * p.scale) / 1e6
        return Output(map: map, tissueThreshold: res.tissueThreshold, tumorThreshold: res.tumorThreshold,
                      tumorThresholdRule: res.tumorThresholdRule, tumorThresholdUndecided: res.tumorThresholdUndecided, level: p.level,
                      tissueEdgeRemovedMm2: res.edgeRemovedPixels.map { Double($0) * mapPixelMm2 })
    }
}
