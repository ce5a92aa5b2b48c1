import Foundation
import Imaging

/// Finds tissue, tumour and stroma on low-resolution planes (one value per map pixel):
///
/// - tissue: the total signal (all channels, dark removed: nuclei plus autofluorescence),
///   log-compressed and Gaussian-smoothed, above Otsu's threshold — unless Otsu's lower class
///   is not dark (within 4× of the upper), in which case there is no glass and all is tissue;
///   components smaller than
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
    /// Threads for the smoothing of the map planes (the result does not depend on it).
    public var threads = 1

    public init(sigmaTissueMicrons: Double, tissueOtsuFactor: Double, minTissueAreaMicrons2: Double,
                fillHolesBelowMicrons2: Double, sigmaTumorMicrons: Double, tumorThreshold: Double?,
                tumorEdgeFraction: Double, minTumorAreaMicrons2: Double, fillTumorHolesBelowMicrons2: Double = 0,
                excludeMarginMicrons: Double = 0) {
        self.sigmaTissueMicrons = sigmaTissueMicrons; self.tissueOtsuFactor = tissueOtsuFactor
        self.minTissueAreaMicrons2 = minTissueAreaMicrons2; self.fillHolesBelowMicrons2 = fillHolesBelowMicrons2
        self.sigmaTumorMicrons = sigmaTumorMicrons; self.tumorThreshold = tumorThreshold
        self.tumorEdgeFraction = tumorEdgeFraction; self.minTumorAreaMicrons2 = minTumorAreaMicrons2
        self.fillTumorHolesBelowMicrons2 = fillTumorHolesBelowMicrons2
        self.excludeMarginMicrons = excludeMarginMicrons
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
    /// The planes are consumed and smoothed in place: on a 32k slide at 2 µm a map plane is
    /// 268 MB, so no full-size copy is made that is not needed.
    public func detect(signal: consuming Image, tumorMarker: consuming Image, exclude: consuming Image? = nil, mapPixelUm: Double) -> Result {
        let w = signal.width, h = signal.height
        let pxArea = mapPixelUm * mapPixelUm
        var tissue: Mask
        var tissueT: Float = 0
        var noGlass = false
        do {
            // Smoothed in the signal's own plane, freed before the components are labelled.
            var smooth = consume signal
            let n = w * h, parts = max(1, min(threads, n >> 20))
            smooth.pixels.withUnsafeMutableBufferPointer { s in
                let s = s.baseAddress!
                DispatchQueue.concurrentPerform(iterations: parts) { k in
                    for i in (k * n / parts)..<((k + 1) * n / parts) { s[i] = log1p(max(s[i], 0)) }
                }
            }
            Filters.gaussianInPlace(&smooth, sigma: sigmaTissueMicrons / mapPixelUm, threads: threads)
            let tLog = Threshold.otsu(smooth.pixels)
            // Glass is dark: when Otsu's lower class is within 4× of the upper one, it is dim tissue
            // (a field or slide covered by tissue), and everything is tissue.
            var lowSum = 0.0, lowN = 0.0, highSum = 0.0, highN = 0.0
            for v in smooth.pixels { if v <= tLog { lowSum += Double(v); lowN += 1 } else { highSum += Double(v); highN += 1 } }
            noGlass = lowN == 0 || highN == 0 || (highSum / highN - lowSum / lowN) < log(4.0)
            // The factor applies in linear units: threshold = factor × (e^t − 1), back to log.
            tissueT = noGlass ? -Float.infinity : log1p(Float(tissueOtsuFactor) * (exp(tLog) - 1))
            let t = tissueT
            tissue = Mask(width: w, height: h, bits: smooth.pixels.map { $0 > t })
        }
        tissue = Labeling.filterComponents(tissue, minArea: max(1, Int(minTissueAreaMicrons2 / pxArea)))
        if fillHolesBelowMicrons2 > 0 { tissue = Labeling.fillHoles(tissue, maxArea: Int(fillHolesBelowMicrons2 / pxArea)) }

        // The tumour marker is averaged over tissue only, leaving out glass (which would dim
        // nests at the tissue's border) and, when given, the excluded markers' cells.
        var marker = tumorMarker
        let sigma = sigmaTumorMicrons / mapPixelUm
        var weight = Image(width: w, height: h)
        if let ex = exclude.take() {
            let t = Self.otsu(ex, over: tissue)
            var excluded = Mask(width: w, height: h, bits: (0..<(w * h)).map { tissue.bits[$0] && ex.pixels[$0] > t })
            excluded = Morphology.dilate(excluded, radius: excludeMarginMicrons / mapPixelUm)
            for i in 0..<(w * h) { weight.pixels[i] = tissue.bits[i] && !excluded.bits[i] ? 1 : 0 }
        } else {
            for i in 0..<(w * h) { weight.pixels[i] = tissue.bits[i] ? 1 : 0 }
        }
        for i in 0..<(w * h) { marker.pixels[i] *= weight.pixels[i] }
        Filters.gaussianInPlace(&marker, sigma: sigma, threads: threads)
        Filters.gaussianInPlace(&weight, sigma: sigma, threads: threads)
        for i in 0..<(w * h) { marker.pixels[i] = weight.pixels[i] > 1e-3 ? marker.pixels[i] / weight.pixels[i] : 0 }
        weight.pixels = []
        let tumorT: Float
        if let fixed = tumorThreshold {
            tumorT = Float(fixed)
        } else {
            // Automatic: a fraction of the nest plateau (the median above Otsu's threshold), which
            // puts the edge where the smoothed signal falls to that fraction of the nests' level.
            let otsu = Self.otsu(marker, over: tissue)
            var nests: [Float] = []
            for i in 0..<(w * h) where tissue.bits[i] && marker.pixels[i] > otsu { nests.append(marker.pixels[i]) }
            tumorT = Threshold.quantile(consuming: &nests, 0.5) * Float(tumorEdgeFraction)
        }
        var tumor = Mask(width: w, height: h, bits: (0..<(w * h)).map { tissue.bits[$0] && marker.pixels[$0] > tumorT })
        tumor = Labeling.filterComponents(tumor, minArea: max(1, Int(minTumorAreaMicrons2 / pxArea)))
        if fillTumorHolesBelowMicrons2 > 0 {
            tumor = Labeling.fillHoles(tumor, maxArea: Int(fillTumorHolesBelowMicrons2 / pxArea))
            for i in 0..<(w * h) where !tissue.bits[i] { tumor.bits[i] = false }
        }
        var labels = [UInt8](repeating: 0, count: w * h)
        for i in 0..<(w * h) where tissue.bits[i] { labels[i] = tumor.bits[i] ? 2 : 1 }
        // (A fixed threshold of 0 or less: 255 above it, 0 elsewhere.)
        let toScore = 100 / tumorT
        let score = tumorT > 0 ? marker.pixels.map { UInt8(min(255, max(0, ($0 * toScore).rounded()))) }
                               : marker.pixels.map { $0 > tumorT ? 255 : 0 }
        return Result(labels: labels, tumorScore: score, tissueThreshold: noGlass ? 0 : expm1(tissueT), tumorThreshold: tumorT)
    }

    /// Otsu's threshold of the pixels inside a mask (+∞ when it is empty), without copying them.
    static func otsu(_ img: Image, over mask: Mask) -> Float {
        let values = img.pixels, bits = mask.bits
        let inside = values.indices.lazy.filter { bits[$0] }.map { values[$0] }
        return inside.isEmpty ? .infinity : Threshold.otsu(inside)
    }
}
