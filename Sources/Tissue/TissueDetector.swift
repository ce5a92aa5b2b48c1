import Foundation
import Imaging

/// Finds tissue, tumour and stroma on low-resolution planes (one value per map pixel):
///
/// - tissue: the total signal (all channels, dark removed: nuclei plus autofluorescence),
///   log-compressed and Gaussian-smoothed, above Otsu's threshold — unless Otsu's lower class
///   is not dark (within 4× of the upper), in which case there is no glass and all is tissue —
///   and never below `tissueThresholdMinimum`, which tells glass alone from tissue alone;
///   with `edgeSigmaMicrons`, a pixel near glass must also be above the midpoint between glass
///   and the tissue's own level nearby (see `keepAboveLocalMidpoint`); components smaller than
///   the minimum tissue area dropped; background holes smaller than `fillHolesBelowMicrons2`
///   filled;
/// - tumour: the tumour marker's abundance averaged over tissue by a normalised convolution,
///   G∗(marker·w) / G∗(w) with w = 1 on tissue (so glass, which carries no marker, does not dim
///   nests at the tissue's border), above a threshold (below) over tissue pixels (or a fixed
///   threshold), inside tissue; nests smaller than the minimum tumour area dropped;
///   the automatic threshold is `tumorEdgeFraction` of the nests' plateau (the median of tissue
///   pixels above Otsu's threshold), which puts the edge where the signal falls to that fraction,
///   and never below `tumorThresholdMinimum`, which tells no nests from nests everywhere;
///   stroma islands enclosed by tumour and smaller than `fillTumorHolesBelowMicrons2` are tumour;
/// - with an exclusion plane (the summed abundance of markers of cells that sit inside nests
///   without the tumour marker: T cells, macrophages, DCs), those cells are left out of the
///   average too: pixels above Otsu's threshold of that plane over tissue, widened by
///   `excludeMarginMicrons`, get weight 0. An intraepithelial lymphocyte then no longer dents
///   the nest it sits in;
/// - stroma: tissue minus tumour.
public struct TissueDetector: Sendable {
    public var sigmaTissueMicrons: Double
    public var tissueOtsuFactor: Double
    /// The lowest tissue threshold (`TissueParameters.tissueThresholdMinimum`), or nil.
    public var tissueThresholdMinimum: Double? = nil
    public var minTissueAreaMicrons2: Double
    public var fillHolesBelowMicrons2: Double
    public var sigmaTumorMicrons: Double
    public var tumorThreshold: Double?
    public var tumorEdgeFraction: Double
    /// The lowest automatic tumour threshold (`TissueParameters.tumorThresholdMinimum`), or nil.
    public var tumorThresholdMinimum: Double? = nil
    public var minTumorAreaMicrons2: Double
    public var fillTumorHolesBelowMicrons2: Double
    public var excludeMarginMicrons: Double
    /// σ of the tissue's local level for its edge (0: the slide-wide threshold alone).
    public var edgeSigmaMicrons: Double
    /// Threads for the smoothing of the map planes (the result does not depend on it).
    public var threads = 1
    /// Called when a whole-map plane has been freed: quantify passes `malloc_trim`, as glibc's
    /// allocator, tuned to keep tile-sized memory, would otherwise keep the plane resident
    /// (on a 32k slide, 2 threads: the map phase's peak 737 → 646 MB).
    public var planeFreed: (@Sendable () -> Void)?

    public init(sigmaTissueMicrons: Double, tissueOtsuFactor: Double, minTissueAreaMicrons2: Double,
                fillHolesBelowMicrons2: Double, sigmaTumorMicrons: Double, tumorThreshold: Double?,
                tumorEdgeFraction: Double, minTumorAreaMicrons2: Double, fillTumorHolesBelowMicrons2: Double = 0,
                excludeMarginMicrons: Double = 0, edgeSigmaMicrons: Double = 0) {
        self.sigmaTissueMicrons = sigmaTissueMicrons; self.tissueOtsuFactor = tissueOtsuFactor
        self.minTissueAreaMicrons2 = minTissueAreaMicrons2; self.fillHolesBelowMicrons2 = fillHolesBelowMicrons2
        self.sigmaTumorMicrons = sigmaTumorMicrons; self.tumorThreshold = tumorThreshold
        self.tumorEdgeFraction = tumorEdgeFraction; self.minTumorAreaMicrons2 = minTumorAreaMicrons2
        self.fillTumorHolesBelowMicrons2 = fillTumorHolesBelowMicrons2
        self.excludeMarginMicrons = excludeMarginMicrons
        self.edgeSigmaMicrons = edgeSigmaMicrons
    }

    /// What set a slide's tumour threshold: the panel's fixed one, the nests' plateau, or the
    /// panel's minimum (`tumorThresholdMinimum`, above what the plateau gave).
    public enum ThresholdRule: String, Codable, Sendable {
        case fixed, automatic, minimum
    }

    public struct Result: Sendable {
        public var labels: [UInt8]
        /// The smoothed tumour marker over the tumour threshold, × 100 (100 = on the threshold),
        /// capped at 255: where a cell sits relative to the edge, finer than the labels.
        public var tumorScore: [UInt8]
        public var tissueThreshold: Float
        public var tumorThreshold: Float
        /// What set the tumour threshold.
        public var tumorThresholdRule = ThresholdRule.automatic
        /// The automatic threshold, with no minimum set, fell below the median of Otsu's lower
        /// class of the tumour marker over tissue: the tissue's own level, not nests, set it
        /// (a slide without tumour, or all tumour; the map alone cannot tell which).
        public var tumorThresholdUndecided = false
        /// The map pixels the tissue edge's midpoint took out of tissue (`edgeSigmaMicrons`;
        /// before small pieces are dropped and holes filled); nil when the rule did not run.
        public var edgeRemovedPixels: Int? = nil
    }

    /// - Parameters:
    ///   - signal: total light per map pixel; `tumorMarker`: the tumour marker's abundance;
    ///     `exclude`: the summed abundance of the markers left out of the tumour marker's average.
    ///   - mapPixelUm: µm per map pixel.
    /// The planes are half precision and consumed: on a 32k slide at 2 µm a map plane is 67 M
    /// pixels, so each is smoothed row by row over itself (`Filters.streamSeparable`), in
    /// `Float`, and no full-size `Float` plane is made.
    public func detect(signal: consuming HalfImage, tumorMarker: consuming HalfImage, exclude: consuming HalfImage? = nil,
                       mapPixelUm: Double) -> Result {
        let w = signal.width, h = signal.height, n = w * h
        let pxArea = mapPixelUm * mapPixelUm
        var tissue = Mask(width: w, height: h)
        var tissueT: Float = 0
        var noGlass = false
        var edgeRemoved: Int?
        do {
            // log(1 + signal), smoothed, written over the signal's own plane.
            var smooth = consume signal
            // log(1 + max(v, 0)) of every half, once: the same numbers as per pixel, without a
            // log1p for each of a 32k slide's 67 M map pixels.
            let logOf = (0...UInt16.max).map { log1p(max(Half.decode($0), 0)) }
            smooth.bits.withUnsafeMutableBufferPointer { b in logOf.withUnsafeBufferPointer { logOf in
                let b = b.baseAddress!, logOf = logOf.baseAddress!
                let sigma = sigmaTissueMicrons / mapPixelUm
                guard sigma > 0 else {
                    inParts(n) { r in for i in r { b[i] = Half.encode(logOf[Int(b[i])]) } }
                    return
                }
                Filters.streamSeparable(width: w, height: h, channels: 1, kernel: Filters.gaussianKernel(sigma: sigma), threads: threads,
                                        load: { y, rows in
                                            let s = b + y * w, d = rows[0]
                                            for x in 0..<w { d[x] = logOf[Int(s[x])] }
                                        }, store: { y, rows in
                                            let d = b + y * w, s = rows[0]
                                            for x in 0..<w { d[x] = Half.encode(s[x]) }
                                        })
            } }
            let tLog = smooth.bits.withUnsafeBufferPointer { HalfTally($0).otsu() } ?? 0
            // Glass is dark: when Otsu's lower class is within 4× of the upper one, it is dim tissue
            // (a field or slide covered by tissue), and everything is tissue.
            var lowSum = 0.0, lowN = 0.0, highSum = 0.0, highN = 0.0
            smooth.bits.withUnsafeBufferPointer { b in
                for bits in b {
                    let v = Half.decode(bits)
                    if v <= tLog { lowSum += Double(v); lowN += 1 } else { highSum += Double(v); highN += 1 }
                }
            }
            noGlass = lowN == 0 || highN == 0 || (highSum / highN - lowSum / lowN) < log(4.0)
            // The factor applies in linear units: threshold = factor × (e^t − 1), back to log.
            tissueT = noGlass ? -Float.infinity : log1p(Float(tissueOtsuFactor) * (exp(tLog) - 1))
            // Not below the panel's minimum: a field of glass alone, whose noise Otsu split into
            // classes within 4× of each other, is no tissue.
            if let m = tissueThresholdMinimum, !(tissueT >= log1p(Float(m))) { tissueT = log1p(Float(m)) }
            let t = tissueT
            smooth.bits.withUnsafeBufferPointer { p in
                tissue.bits.withUnsafeMutableBufferPointer { m in
                    let p = p.baseAddress!, m = m.baseAddress!
                    inParts(n) { r in for i in r { m[i] = Half.decode(p[i]) > t } }
                }
            }
            if edgeSigmaMicrons > 0 && !noGlass {
                // Within 3 σ of the tissue smoothing of glass: how far the smoothing spreads a nest.
                edgeRemoved = keepAboveLocalMidpoint(smooth, &tissue, glass: Float(lowSum / lowN), sigma: edgeSigmaMicrons / mapPixelUm,
                                                     reach: 3 * sigmaTissueMicrons / mapPixelUm)
            }
        }
        planeFreed?()
        tissue = Labeling.filterComponents(tissue, minArea: max(1, Int(minTissueAreaMicrons2 / pxArea)))
        if fillHolesBelowMicrons2 > 0 { tissue = Labeling.fillHoles(tissue, maxArea: Int(fillHolesBelowMicrons2 / pxArea)) }

        // The tumour marker is averaged over tissue only, leaving out glass (which would dim
        // nests at the tissue's border) and, when given, the excluded markers' cells:
        // G∗(marker·w) / G∗(w), both smoothed in one stream and the ratio written over the
        // marker's plane.
        var marker = consume tumorMarker
        var excluded: Mask?
        if let ex = exclude.take() {
            let t = Self.tally(ex, over: tissue).otsu() ?? .infinity
            var x = Mask(width: w, height: h)
            tissue.bits.withUnsafeBufferPointer { ts in ex.bits.withUnsafeBufferPointer { e in x.bits.withUnsafeMutableBufferPointer { xb in
                let ts = ts.baseAddress!, e = e.baseAddress!, xb = xb.baseAddress!
                inParts(n) { r in for i in r { xb[i] = ts[i] && Half.decode(e[i]) > t } }
            } } }
            excluded = Morphology.dilate(x, radius: excludeMarginMicrons / mapPixelUm)
        }
        // Weight 1 on tissue outside the excluded cells' pixels.
        var weight = tissue
        if let excluded {
            weight.bits.withUnsafeMutableBufferPointer { wt in excluded.bits.withUnsafeBufferPointer { xb in
                let wt = wt.baseAddress!, xb = xb.baseAddress!
                inParts(n) { r in for i in r where xb[i] { wt[i] = false } }
            } }
        }
        excluded = nil
        marker.bits.withUnsafeMutableBufferPointer { mk in weight.bits.withUnsafeBufferPointer { wt in
            let mk = mk.baseAddress!, wt = wt.baseAddress!
            let sigma = sigmaTumorMicrons / mapPixelUm
            func ratio(_ a: Float, _ b: Float) -> UInt16 { Half.encode(b > 1e-3 ? a / b : 0) }
            guard sigma > 0 else {
                inParts(n) { r in for i in r { mk[i] = ratio(wt[i] ? Half.decode(mk[i]) : 0, wt[i] ? 1 : 0) } }
                return
            }
            Filters.streamSeparable(width: w, height: h, channels: 2, kernel: Filters.gaussianKernel(sigma: sigma), threads: threads,
                                    load: { y, rows in
                                        let m = mk + y * w, v = wt + y * w, a = rows[0], b = rows[1]
                                        for x in 0..<w { b[x] = v[x] ? 1 : 0; a[x] = Half.decode(m[x]) * b[x] }
                                    }, store: { y, rows in
                                        let m = mk + y * w, a = rows[0], b = rows[1]
                                        for x in 0..<w { m[x] = ratio(a[x], b[x]) }
                                    })
        } }
        weight = Mask(width: 0, height: 0)
        planeFreed?()
        let tumorT: Float
        var rule = ThresholdRule.automatic, undecided = false
        if let fixed = tumorThreshold {
            tumorT = Float(fixed)
            rule = .fixed
        } else {
            // Automatic: a fraction of the nest plateau (the median above Otsu's threshold), which
            // puts the edge where the smoothed signal falls to that fraction of the nests' level.
            let tally = Self.tally(marker, over: tissue)
            let otsu = tally.otsu() ?? .infinity
            let automatic = tally.quantile(0.5, above: otsu) * Float(tumorEdgeFraction)
            if let m = tumorThresholdMinimum, Double(automatic) < m {
                tumorT = Float(m)
                rule = .minimum
            } else {
                tumorT = automatic
                undecided = tumorThresholdMinimum == nil && otsu.isFinite && automatic < tally.quantile(0.5, above: -.infinity, atMost: otsu)
            }
        }
        var tumor = Mask(width: w, height: h)
        var labels = [UInt8](repeating: 0, count: n)
        // (A fixed threshold of 0 or less: 255 above it, 0 elsewhere.)
        var score = [UInt8](repeating: 0, count: n)
        let toScore = 100 / tumorT
        marker.bits.withUnsafeBufferPointer { mk in tissue.bits.withUnsafeBufferPointer { ts in
        tumor.bits.withUnsafeMutableBufferPointer { tm in score.withUnsafeMutableBufferPointer { sc in
            let mk = mk.baseAddress!, ts = ts.baseAddress!, tm = tm.baseAddress!, sc = sc.baseAddress!
            inParts(n) { r in
                for i in r {
                    let v = Half.decode(mk[i])
                    tm[i] = ts[i] && v > tumorT
                    sc[i] = tumorT > 0 ? UInt8(min(255, max(0, (v * toScore).rounded()))) : v > tumorT ? 255 : 0
                }
            }
        } } } }
        tumor = Labeling.filterComponents(tumor, minArea: max(1, Int(minTumorAreaMicrons2 / pxArea)))
        if fillTumorHolesBelowMicrons2 > 0 {
            tumor = Labeling.fillHoles(tumor, maxArea: Int(fillTumorHolesBelowMicrons2 / pxArea))
        }
        tissue.bits.withUnsafeBufferPointer { ts in tumor.bits.withUnsafeBufferPointer { tm in labels.withUnsafeMutableBufferPointer { lb in
            let ts = ts.baseAddress!, tm = tm.baseAddress!, lb = lb.baseAddress!
            inParts(n) { r in for i in r where ts[i] { lb[i] = tm[i] ? 2 : 1 } }
        } } }
        return Result(labels: labels, tumorScore: score, tissueThreshold: tissueT.isFinite ? expm1(tissueT) : 0, tumorThreshold: tumorT,
                      tumorThresholdRule: rule, tumorThresholdUndecided: undecided, edgeRemovedPixels: edgeRemoved)
    }

    /// Keeps the pixels of `tissue` that are far from glass, or above the midpoint between the
    /// glass level `g` and the tissue's own level around them; returns how many it took out.
    /// A smoothed step crosses the midpoint of its two sides at the step, but a slide-wide
    /// threshold sits nearer glass than a bright nest's level, so bright epithelium at the
    /// tissue's outline spreads the tissue outward (on mifq's simulated slides by 4–5 µm past the
    /// outline where a nest meets glass, against 0.5 µm in stroma, measured before the truth
    /// counted the nests' edge cells reaching past the outline as tissue). Only removes pixels:
    /// dim tissue the slide-wide threshold finds stays.
    ///
    /// The tissue's level is G∗(s·t) / G∗(t) (`sigma` map pixels) over tissue pixels, taken on
    /// a grid of f × f blocks, f = round(σ / 2): each block's sums of s over its tissue pixels
    /// and of its tissue pixels, both smoothed by a Gaussian of σ / f blocks (reflected at the
    /// borders), interpolated bilinearly at the pixel (clamped at the borders) and divided. The
    /// level is smooth at that scale, and the grid costs a 25th of a full-resolution Gaussian.
    /// Only pixels within `reach` map pixels of glass are tested (a block within ⌈reach / f⌉
    /// blocks of one holding a non-tissue pixel): the rule is for the outline, and inside tissue
    /// a dim strip of stroma between bright nests can lie below such a midpoint.
    func keepAboveLocalMidpoint(_ smooth: HalfImage, _ tissue: inout Mask, glass g: Float, sigma: Double, reach: Double) -> Int {
        let w = smooth.width, h = smooth.height
        let f = max(1, Int((sigma / 2).rounded())), bw = (w + f - 1) / f, bh = (h + f - 1) / f
        var sums = Image(width: bw, height: bh), counts = Image(width: bw, height: bh)
        var glassBlock = [Bool](repeating: false, count: bw * bh)
        smooth.bits.withUnsafeBufferPointer { p in tissue.bits.withUnsafeBufferPointer { m in
        sums.pixels.withUnsafeMutableBufferPointer { a in counts.pixels.withUnsafeMutableBufferPointer { b in
        glassBlock.withUnsafeMutableBufferPointer { gb in
            let p = p.baseAddress!, m = m.baseAddress!, a = a.baseAddress!, b = b.baseAddress!, gb = gb.baseAddress!
            // Each block row is summed by one thread, pixels in raster order: the same sums for
            // any thread count.
            inParts(bh, least: 64) { blockRows in
                for y in (blockRows.lowerBound * f)..<min(h, blockRows.upperBound * f) {
                    let s = p + y * w, t = m + y * w, o = (y / f) * bw
                    for bx in 0..<bw {
                        for x in (bx * f)..<min(w, bx * f + f) {
                            if t[x] { a[o + bx] += Half.decode(s[x]); b[o + bx] += 1 } else { gb[o + bx] = true }
                        }
                    }
                }
            }
        } } } } }
        let kernel = Filters.gaussianKernel(sigma: sigma / Double(f))
        sums = Filters.separable(sums, kernel: kernel)
        counts = Filters.separable(counts, kernel: kernel)
        // Blocks within k of a block holding glass (Chebyshev distance), rows then columns.
        let k = Int((max(0, reach) / Double(f)).rounded(.up))
        var rowNear = glassBlock, near = [Bool](repeating: false, count: bw * bh)
        for by in 0..<bh {
            for bx in 0..<bw where glassBlock[by * bw + bx] {
                for x in max(0, bx - k)...min(bw - 1, bx + k) { rowNear[by * bw + x] = true }
            }
        }
        for by in 0..<bh {
            for bx in 0..<bw where rowNear[by * bw + bx] {
                for y in max(0, by - k)...min(bh - 1, by + k) { near[y * bw + bx] = true }
            }
        }
        // Pixels taken out, per row (each row's count written by the thread that tests it).
        var removed = [Int](repeating: 0, count: h)
        removed.withUnsafeMutableBufferPointer { removed in
        let removed = removed.baseAddress!
        smooth.bits.withUnsafeBufferPointer { p in tissue.bits.withUnsafeMutableBufferPointer { kb in
        sums.pixels.withUnsafeBufferPointer { a in counts.pixels.withUnsafeBufferPointer { b in near.withUnsafeBufferPointer { nr in
            let p = p.baseAddress!, kb = kb.baseAddress!, a = a.baseAddress!, b = b.baseAddress!, nr = nr.baseAddress!
            let scale = 1 / Float(f)
            // Bilinear weights along one axis: the two grid cells around pixel coordinate v.
            func axis(_ v: Int, _ count: Int) -> (Int, Int, Float) {
                let c = min(max((Float(v) + 0.5) * scale - 0.5, 0), Float(count - 1))
                let i0 = Int(c)
                return (i0, min(i0 + 1, count - 1), c - Float(i0))
            }
            inParts(h, least: 64) { rows in for y in rows {
                let (y0, y1, fy) = axis(y, bh)
                let row = y * w, nearRow = (y / f) * bw
                for bx in 0..<bw where nr[nearRow + bx] {
                    for x in (bx * f)..<min(w, bx * f + f) where kb[row + x] {
                        let (x0, x1, fx) = axis(x, bw)
                        func lerp(_ q: UnsafePointer<Float>) -> Float {
                            let top = q[y0 * bw + x0] + fx * (q[y0 * bw + x1] - q[y0 * bw + x0])
                            let bottom = q[y1 * bw + x0] + fx * (q[y1 * bw + x1] - q[y1 * bw + x0])
                            return top + fy * (bottom - top)
                        }
                        // A tissue pixel's own block carries weight, so the count is above 0.
                        if Half.decode(p[row + x]) <= (g + lerp(a) / lerp(b)) / 2 { kb[row + x] = false; removed[y] += 1 }
                    }
                }
            } }
        } } } } }
        }
        return removed.reduce(0, +)
    }

    /// Runs `body` over consecutive parts of 0..<n, on up to `threads` threads (parts of at
    /// least `least` elements: 2²⁰ pixels, or rows); for element-wise or row-wise loops, whose
    /// result does not depend on the split.
    func inParts(_ n: Int, least: Int = 1 << 20, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threads, n / least))
        if parts == 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: parts) { k in body((k * n / parts)..<((k + 1) * n / parts)) }
    }

    /// The pixels inside a mask, tallied by value (`HalfTally`), without copying them.
    static func tally(_ img: HalfImage, over mask: Mask) -> HalfTally {
        img.bits.withUnsafeBufferPointer { v in mask.bits.withUnsafeBufferPointer { HalfTally(v, inside: $0) } }
    }
}
