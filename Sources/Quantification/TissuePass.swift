import Dispatch
import Foundation
import Imaging
import Phenotyping
import SlideIO
import Tissue
import Unmixing

/// The low-resolution pass: reads the pyramid level closest to (not coarser than) the panel's
/// tissue resolution in strips, unmixes it, box-averages to the target resolution, and finds
/// tissue, tumour and stroma. Memory: two Float planes at the map resolution (three with
/// `tumorExcludeMarkers`), smoothed in place, plus masks and component labels.
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
            guard let first = excludeComponents.first else { return [] }
            var sum = planes[first].pixels
            sum.withUnsafeMutableBufferPointer { s in
                for c in excludeComponents.dropFirst() {
                    planes[c].pixels.withUnsafeBufferPointer { a in for i in 0..<s.count { s[i] += a[i] } }
                }
            }
            return sum
        }

        /// Map pixel under a level-0 position.
        public func pixel(atX x: Double, y: Double) -> (Int, Int) {
            RegionMap.pixel(atX: x, y: y, width: width, height: height, scale: scale)
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

    /// The whole pass on its own: reads the plan's level in strips, unmixes, box-sums, detects.
    public static func run(slide: Slide, panel: Panel, channelMap: [Int], pixelSizeUm px0: Double, threads: Int = 1) throws -> Output {
        try detect(try sums(slide: slide, panel: panel, channelMap: channelMap, pixelSizeUm: px0, threads: threads),
                   slide: slide, panel: panel, pixelSizeUm: px0, threads: threads)
    }

    /// A map's box sums (see `detect`); `exclude` is empty without `tumorExcludeMarkers`.
    public struct Sums: Sendable {
        public let plan: Plan
        public var signal: [Float], marker: [Float], exclude: [Float]
        public init(plan: Plan, signal: [Float], marker: [Float], exclude: [Float]) {
            self.plan = plan; self.signal = signal; self.marker = marker; self.exclude = exclude
        }
    }

    /// Reads the plan's level in strips on `threads` workers, unmixes, and box-sums.
    public static func sums(slide: Slide, panel: Panel, channelMap: [Int], pixelSizeUm px0: Double, threads: Int = 1) throws -> Sums {
        let p = plan(slide: slide, panel: panel, pixelSizeUm: px0)
        let level = p.level, f = p.factor, mw = p.width
        let lv = slide.levels[level]
        // The same reading, unmixing (OLS) and total light as the tile pass's source.
        var source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: Unmixer(library: panel.library, method: .ols), level: level)
        source.totalLight = true
        let totalIndex = source.unmixer.componentCount
        var signal = [Float](repeating: 0, count: p.width * p.height)
        var marker = [Float](repeating: 0, count: p.width * p.height)
        var exclude = p.excludeComponents.isEmpty ? [] : marker
        // Strips of whole map rows, decoded and unmixed on `threads` workers; each strip writes
        // only its own map rows. A worker takes all the strips that start in one row of the
        // file's blocks, so two workers do not wait for each other's decoding of the same blocks.
        let stripRows = f * max(1, 64 / f)
        let strips = (lv.height + stripRows - 1) / stripRows
        let blockRows = max(1, slide.blockHeight(level: level))
        let groups = Dictionary(grouping: 0..<strips) { ($0 * stripRows) / blockRows }.sorted { $0.key < $1.key }.map(\.value)
        // A strip is thinner than a block: the blocks it shares with the next strips stay cached,
        // one row of them per worker and one more for strips that straddle two.
        source = source.caching(window: lv.width, height: blockRows * max(1, min(threads, groups.count)))
        let errors = FirstError()
        signal.withUnsafeMutableBufferPointer { sig in
        marker.withUnsafeMutableBufferPointer { mk in
        exclude.withUnsafeMutableBufferPointer { ex in
            let next = WorkCounter()
            DispatchQueue.concurrentPerform(iterations: max(1, min(threads, groups.count))) { _ in
                while let g = next.take(below: groups.count) { for s in groups[g] {
                    let y0 = s * stripRows
                    let h = min(stripRows, lv.height - y0)
                    let planes: [Image]
                    do { planes = try source.images(PixelRegion(x: 0, y: y0, width: lv.width, height: h)) } catch { errors.set(error); return }
                    let total = planes[totalIndex].pixels, tumor = planes[p.tumorComponent].pixels
                    let excluded = p.excludedSum(planes)
                    // Each map pixel adds its level pixels row by row, left to right (the
                    // order `blockSums` adds them in), without a division per pixel.
                    func add(_ into: UnsafeMutableBufferPointer<Float>, _ from: [Float]) {
                        from.withUnsafeBufferPointer { src in
                            for y in 0..<h {
                                let s = src.baseAddress! + y * lv.width, d = into.baseAddress! + (y0 + y) / f * mw
                                if f == 1 {
                                    for x in 0..<lv.width { d[x] += s[x] }
                                } else {
                                    for mx in 0..<mw { for x in (mx * f)..<min(mx * f + f, lv.width) { d[mx] += s[x] } }
                                }
                            }
                        }
                    }
                    add(sig, total); add(mk, tumor)
                    if !excluded.isEmpty { add(ex, excluded) }
                } }
            }
        }
        }
        }
        try errors.rethrow()
        return Sums(plan: p, signal: take(&signal), marker: take(&marker), exclude: take(&exclude))
    }

    /// Box sums of one tile's map pixels, for building the map in the tile pass (level 0 only):
    /// every map pixel whose first level-0 pixel lies in the tile's core, summed over its f × f
    /// pixels in raster order (the halo supplies those beyond the core), exactly as `run` sums
    /// them, so the map does not depend on the tiling. `channels` are the tile's unmixed planes,
    /// the total light at `totalIndex`.
    public static func blockSums(plan p: Plan, core: PixelRegion, region: PixelRegion, channels: [Image], totalIndex: Int) -> [BlockSum] {
        precondition(p.level == 0)
        let f = p.factor
        let total = channels[totalIndex], tumor = channels[p.tumorComponent]
        let excluded = p.excludedSum(channels)
        var out: [BlockSum] = []
        let bx0 = (core.x + f - 1) / f, bx1 = (core.x + core.width - 1) / f
        let by0 = (core.y + f - 1) / f, by1 = (core.y + core.height - 1) / f
        guard bx0 <= bx1, by0 <= by1 else { return [] }
        for by in by0...by1 {
            for bx in bx0...bx1 {
                let x1 = min(bx * f + f, p.levelWidth), y1 = min(by * f + f, p.levelHeight)
                precondition(x1 <= region.x + region.width && y1 <= region.y + region.height, "halo narrower than the map's box")
                var sig: Float = 0, mk: Float = 0, ex: Float = 0
                for y in (by * f)..<y1 {
                    let row = (y - region.y) * region.width - region.x
                    for x in (bx * f)..<x1 { sig += total.pixels[row + x]; mk += tumor.pixels[row + x] }
                }
                if !excluded.isEmpty {
                    for y in (by * f)..<y1 {
                        let row = (y - region.y) * region.width - region.x
                        for x in (bx * f)..<x1 { ex += excluded[row + x] }
                    }
                }
                out.append(BlockSum(index: by * p.width + bx, signal: sig, marker: mk, exclude: ex))
            }
        }
        return out
    }

    public struct BlockSum: Sendable {
        public var index: Int
        public var signal: Float, marker: Float, exclude: Float
    }

    /// Moves an array out of a variable (leaving it empty), so the callee holds the only
    /// reference and can work on it in place.
    public static func take(_ a: inout [Float]) -> [Float] {
        let v = a
        a = []
        return v
    }

    /// Means from box sums (each map pixel covers f × f level pixels, fewer at the right and
    /// bottom edges), then tissue, tumour and stroma. The means and the map's smoothing run on
    /// `threads` threads (the same map for any count).
    public static func detect(_ sums: consuming Sums, slide: Slide, panel: Panel, pixelSizeUm px0: Double, threads: Int = 1) throws -> Output {
        var s = sums
        let p = s.plan, f = p.factor, mw = p.width, mh = p.height
        s.signal.withUnsafeMutableBufferPointer { sig in s.marker.withUnsafeMutableBufferPointer { mk in s.exclude.withUnsafeMutableBufferPointer { ex in
            let parts = max(1, min(threads, mh))
            DispatchQueue.concurrentPerform(iterations: parts) { k in
                for my in (k * mh / parts)..<((k + 1) * mh / parts) {
                    let rows = min(f, p.levelHeight - my * f)
                    for mx in 0..<mw {
                        let n = Float(rows * min(f, p.levelWidth - mx * f)), i = my * mw + mx
                        sig[i] /= n; mk[i] /= n
                        if ex.count > 0 { ex[i] /= n }
                    }
                }
            }
        } } }
        let t = panel.tissue
        var detector = TissueDetector(sigmaTissueMicrons: t.tissueSigmaMicrons, tissueOtsuFactor: t.tissueOtsuFactor,
                                      minTissueAreaMicrons2: t.minTissueAreaMicrons2, fillHolesBelowMicrons2: t.fillHolesBelowMicrons2,
                                      sigmaTumorMicrons: t.tumorSigmaMicrons, tumorThreshold: t.tumorThreshold,
                                      tumorEdgeFraction: t.tumorEdgeFraction, minTumorAreaMicrons2: t.minTumorAreaMicrons2,
                                      fillTumorHolesBelowMicrons2: t.fillTumorHolesBelowMicrons2,
                                      excludeMarginMicrons: t.tumorExcludeMarginMicrons)
        detector.threads = threads
        let res = detector.detect(signal: Image(width: mw, height: mh, pixels: take(&s.signal)),
                                  tumorMarker: Image(width: mw, height: mh, pixels: take(&s.marker)),
                                  exclude: s.exclude.isEmpty ? nil : Image(width: mw, height: mh, pixels: take(&s.exclude)),
                                  mapPixelUm: px0 * p.scale)
        let map = RegionMap(width: mw, height: mh, scale: p.scale, pixelSizeUm: px0, labels: res.labels, tumorScore: res.tumorScore,
                            fullWidth: slide.width, fullHeight: slide.height)
        return Output(map: map, tissueThreshold: res.tissueThreshold, tumorThreshold: res.tumorThreshold, level: p.level)
    }
}
