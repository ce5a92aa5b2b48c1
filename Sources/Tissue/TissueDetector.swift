import Foundation
import Imaging

/// Finds tissue, tumour and stroma on low-resolution planes (one value per map pixel):
///
/// - tissue: the total signal (all channels, dark removed: nuclei plus autofluorescence),
///   log-compressed and Gaussian-smoothed, above Otsu's threshold — unless Otsu's lower class
///   is not dark (within 4× of the upper), in which case there is no glass and all is tissue;
///   with `edgeSigmaMicrons`, a pixel must also be above the midpoint between glass and the
///   tissue's own level nearby (see `keepAboveLocalMidpoint`); components smaller than
///   the minimum tissue area dropped; background holes smaller than `fillHolesBelowMicrons2`
///   filled;
/// - tumour: the tumour marker's abundance averaged over tissue by a normalised convolution,
///   G∗(marker·w) / G∗(w) with w = 1 on tissue (so glass, which carries no marker, does not dim
///   nests at the tissue's border), above a threshold (below) over tissue pixels (or a fixed
///   threshold), inside tissue; nests smaller than the minimum tumour area dropped;
///   the automatic threshold is `tumorEdgeFraction` of the nests' plateau (the median of tissue
///   pixels above Otsu's threshold), which puts the edge where the signal falls to that fraction;
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
    public var minTissueAreaMicrons2: Double
    public var fillHolesBelowMicrons2: Double
    public var sigmaTumorMicrons: Double
    public var tumorThreshold: Double?
    public var tumorEdgeFraction: Double
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

    public struct Result: Sendable {
        public var labels: [UInt8]
        /// The smoothed tumour marker over the tumour threshold, × 100 (100 = on the threshold),
        /// capped at 255: where a cell sits relative to the edge, finer than the labels.
        public var tumorScore: [UInt8]
        public var tissueThreshold: Float
        public var tumorThreshold: Float
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
            let t = tissueT
            smooth.bits.withUnsafeBufferPointer { p in
                tissue.bits.withUnsafeMutableBufferPointer { m in
                    let p = p.baseAddress!, m = m.baseAddress!
                    inParts(n) { r in for i in r { m[i] = Half.decode(p[i]) > t } }
                }
            }
            if edgeSigmaMicrons > 0 && !noGlass {
                tissue = keepAboveLocalMidpoint(smooth, tissue, glass: Float(lowSum / lowN), sigma: edgeSigmaMicrons / mapPixelUm)
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
        if let fixed = tumorThreshold {
            tumorT = Float(fixed)
        } else {
            // Automatic: a fraction of the nest plateau (the median above Otsu's threshold), which
            // puts the edge where the smoothed signal falls to that fraction of the nests' level.
            let tally = Self.tally(marker, over: tissue)
            tumorT = tally.quantile(0.5, above: tally.otsu() ?? .infinity) * Float(tumorEdgeFraction)
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
        return Result(labels: labels, tumorScore: score, tissueThreshold: noGlass ? 0 : expm1(tissueT), tumorThreshold: tumorT)
    }

    /// The pixels of `tissue` whose smoothed log signal is above the midpoint between the glass
    /// level and the tissue's own level around them: the mean over tissue pixels weighted by a
    /// Gaussian of `sigma` map pixels, G∗(s·t) / G∗(t). A smoothed step crosses the midpoint of
    /// its two sides at the step, but a slide-wide threshold sits nearer glass than a bright
    /// nest's level, so bright epithelium at the tissue's outline spreads the tissue outward
    /// (on mifq's simulated slides by about 4.5 µm where a nest meets glass, against 0.5 µm in
    /// stroma). Only removes pixels: dim tissue the slide-wide threshold finds stays.
    func keepAboveLocalMidpoint(_ smooth: HalfImage, _ tissue: Mask, glass g: Float, sigma: Double) -> Mask {
        let w = smooth.width, h = smooth.height
        var kept = Mask(width: w, height: h)
        smooth.bits.withUnsafeBufferPointer { p in tissue.bits.withUnsafeBufferPointer { m in kept.bits.withUnsafeMutableBufferPointer { k in
            let p = p.baseAddress!, m = m.baseAddress!, k = k.baseAddress!
            Filters.streamSeparable(width: w, height: h, channels: 2, kernel: Filters.gaussianKernel(sigma: sigma), threads: threads,
                                    load: { y, rows in
                                        let s = p + y * w, t = m + y * w, a = rows[0], b = rows[1]
                                        for x in 0..<w { b[x] = t[x] ? 1 : 0; a[x] = Half.decode(s[x]) * b[x] }
                                    }, store: { y, rows in
                                        // A tissue pixel has weight of its own, so b > 0 wherever t is set.
                                        let s = p + y * w, t = m + y * w, o = k + y * w, a = rows[0], b = rows[1]
                                        for x in 0..<w { o[x] = t[x] && Half.decode(s[x]) > (g + a[x] / b[x]) / 2 }
                                    })
        } } }
        return kept
    }

    /// Runs `body` over consecutive parts of 0..<n, on up to `threads` threads (parts of at
    /// least 2²⁰ elements); for element-wise loops, whose result does not depend on the split.
    func inParts(_ n: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threads, n >> 20))
        if parts == 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: parts) { k in body((k * n / parts)..<((k + 1) * n / parts)) }
    }

    /// The pixels inside a mask, tallied by value (`HalfTally`), without copying them.
    static func tally(_ img: HalfImage, over mask: Mask) -> HalfTally {
        img.bits.withUnsafeBufferPointer { v in mask.bits.withUnsafeBufferPointer { HalfTally(v, inside: $0) } }
    }
}
