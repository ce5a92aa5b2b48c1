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
        public var level: Int
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

        /// The excluded components summed per pixel (in component order, so the tile pass and
        /// the separate pass add the same numbers), or empty.
        func excludedSum(_ planes: [Image]) -> [Float] {
            guard !excludeComponents.isEmpty, let n = planes.first?.count else { return [] }
            return [Float](unsafeUninitializedCapacity: n) { d, count in
                excludedSum(planes, from: 0, count: n, into: d.baseAddress!)
                count = n
            }
        }

        /// The same for `count` pixels of the planes from index `start`, into `d` (a row of a
        /// tile's core, without summing the whole tile and its halo).
        func excludedSum(_ planes: [Image], from start: Int, count n: Int, into d: UnsafeMutablePointer<Float>) {
            guard let first = excludeComponents.first else { return }
            planes[first].pixels.withUnsafeBufferPointer { d.update(from: $0.baseAddress! + start, count: n) }
            for c in excludeComponents.dropFirst() {
                planes[c].pixels.withUnsafeBufferPointer { a in
                    let a = a.baseAddress! + start
                    for i in 0..<n { d[i] += a[i] }
                }
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
        // The same reading, unmixing (OLS) and total light as the tile pass's source.
        var source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: Unmixer(library: panel.library, method: .ols), level: level)
        source.totalLight = true
        let totalIndex = source.unmixer.componentCount
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
                    let total = channels[totalIndex].pixels, tumor = channels[p.tumorComponent].pixels
                    let excluded = p.excludedSum(channels)
                    // The region holds whole map pixels: each adds its level pixels row by row,
                    // left to right (the order `blockMeans` adds them in), then its mean is stored.
                    let mx0 = x0 / f, my0 = y0 / f, cols = (w + f - 1) / f, rows = (h + f - 1) / f
                    func add(_ into: UnsafeMutableBufferPointer<UInt16>, _ from: [Float]) {
                        var sums = [Float](repeating: 0, count: rows * cols)
                        sums.withUnsafeMutableBufferPointer { d in from.withUnsafeBufferPointer { src in
                            for y in 0..<h { p.addRow(src.baseAddress! + y * w, count: w, into: d.baseAddress! + y / f * cols) }
                        } }
                        for my in 0..<rows {
                            for mx in 0..<cols { into[(my0 + my) * mw + mx0 + mx] = p.mean(sums[my * cols + mx], mapX: mx0 + mx, mapY: my0 + my) }
                        }
                    }
                    add(sig, total); add(mk, tumor)
                    if !excluded.isEmpty { add(ex, excluded) }
                } } }
            }
        }
        }
        }
        try errors.rethrow()
        return planes
    }

    /// Box means of one tile's map pixels, for building the map in the tile pass (level 0
    /// only): every map pixel whose first level-0 pixel lies in the tile's core, summed over its
    /// f × f pixels in raster order (the halo supplies those beyond the core), exactly as `means`
    /// sums them, so the map does not depend on the tiling. `channels` are the tile's unmixed
    /// planes, the total light at `totalIndex`.
    public static func blockMeans(plan p: Plan, core: PixelRegion, region: PixelRegion, channels: [Image], totalIndex: Int) -> [BlockMean] {
        precondition(p.level == 0)
        let f = p.factor
        let total = channels[totalIndex], tumor = channels[p.tumorComponent]
        var out: [BlockMean] = []
        let bx0 = (core.x + f - 1) / f, bx1 = (core.x + core.width - 1) / f
        let by0 = (core.y + f - 1) / f, by1 = (core.y + core.height - 1) / f
        guard bx0 <= bx1, by0 <= by1 else { return [] }
        // A row of boxes at a time, its level rows added in order (`Plan.addRow`).
        let x0 = bx0 * f, x1 = min(bx1 * f + f, p.levelWidth), cols = bx1 - bx0 + 1
        precondition(x0 >= region.x && x1 <= region.x + region.width, "halo narrower than the map's box")
        var sig = [Float](repeating: 0, count: cols), mk = sig, ex = sig
        // A row's excluded sum, made for the row (not for the whole tile with its halo).
        var excludedRow = [Float](repeating: 0, count: p.excludeComponents.isEmpty ? 0 : x1 - x0)
        for by in by0...by1 {
            let y1 = min(by * f + f, p.levelHeight)
            precondition(y1 <= region.y + region.height, "halo narrower than the map's box")
            for c in 0..<cols { sig[c] = 0; mk[c] = 0; ex[c] = 0 }
            for y in (by * f)..<y1 {
                let row = (y - region.y) * region.width + x0 - region.x
                total.pixels.withUnsafeBufferPointer { p.addRow($0.baseAddress! + row, count: x1 - x0, into: &sig) }
                tumor.pixels.withUnsafeBufferPointer { p.addRow($0.baseAddress! + row, count: x1 - x0, into: &mk) }
                if !excludedRow.isEmpty {
                    excludedRow.withUnsafeMutableBufferPointer { e in
                        p.excludedSum(channels, from: row, count: x1 - x0, into: e.baseAddress!)
                        p.addRow(e.baseAddress!, count: x1 - x0, into: &ex)
                    }
                }
            }
            for c in 0..<cols {
                let bx = bx0 + c
                out.append(BlockMean(index: by * p.width + bx, signal: p.mean(sig[c], mapX: bx, mapY: by), marker: p.mean(mk[c], mapX: bx, mapY: by),
                                     exclude: p.mean(ex[c], mapX: bx, mapY: by)))
            }
        }
        return out
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
                                      excludeMarginMicrons: t.tumorExcludeMarginMicrons)
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
        return Output(map: map, tissueThreshold: res.tissueThreshold, tumorThreshold: res.tumorThreshold, level: p.level)
    }
}
