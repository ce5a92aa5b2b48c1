import Imaging

/// Nuclear segmentation of one image (a tile with its halo, or a whole field):
///
/// 1. background = grey opening (radius `backgroundRadiusMicrons`) of the lightly smoothed
///    image, subtracted;
/// 2. Gaussian smoothing (`sigmaMicrons`); foreground = above the slide's threshold and above
///    the local mean (`localWindowMicrons`); holes filled; specks below `minAreaMicrons` removed;
/// 3. seeds = peaks, at least `seedMinDistanceMicrons` apart, of a surface that adds the
///    distance to the foreground edge (shape) to a scale-normalised Laplacian of Gaussian
///    (`seedSigmaMicrons`, brightness blobs) — either alone splits touching nuclei poorly;
/// 4. marker-controlled watershed of that surface inside the foreground (Meyer flooding);
/// 5. objects outside [`minAreaMicrons`, `maxAreaMicrons`] removed.
///
/// Every scale is converted from µm with the pixel size, and nothing is normalised by
/// per-image statistics once the threshold is given, so a tile gives the same nuclei as
/// the whole image wherever the halo covers an object's neighbourhood.
public struct NucleusSegmenter: Sendable {
    public let parameters: NucleusParameters
    public let pixelSizeUm: Double

    public init(parameters: NucleusParameters, pixelSizeUm: Double) {
        self.parameters = parameters
        self.pixelSizeUm = pixelSizeUm
    }

    func px(_ um: Double) -> Double { um / pixelSizeUm }
    /// An area in µm² as whole pixels.
    func areaPx(_ um2: Double) -> Int { Int((um2 / (pixelSizeUm * pixelSizeUm)).rounded()) }

    /// Runs one step of the segmentation, its time (under `MIFQ_TIMING`) going to the stage
    /// "segment: `name`".
    func step<T>(_ name: String, _ body: () -> T) -> T { StageTimes.measure("segment: " + name, body) }

    /// Steps 1–2 before thresholding: background-subtracted and smoothed image.
    public func prepare(_ image: Image) -> (subtracted: Image, smoothed: Image) {
        var sub = image
        if parameters.backgroundRadiusMicrons > 0 {
            let r = max(1, Int(px(parameters.backgroundRadiusMicrons).rounded()))
            // The difference is written over the background's own plane (no copy of the image).
            step("background") {
                sub = Filters.opening(Filters.gaussian(image, sigma: 1), radius: r)
                sub.pixels.withUnsafeMutableBufferPointer { d in
                    image.pixels.withUnsafeBufferPointer { s in for i in 0..<d.count { d[i] = s[i] - d[i] } }
                }
            }
        }
        return (sub, step("smoothing") { Filters.gaussian(sub, sigma: px(parameters.sigmaMicrons)) })
    }

    /// How many noise standard deviations (after the smoothing) the foreground threshold must
    /// clear. Otsu's threshold of an image without nuclei falls inside its noise.
    public static let noiseFloorSigmas: Float = 5

    /// Absolute differences of horizontally neighbouring pixels, the raw material of the noise
    /// estimate (robust to objects: their edges are a small share of all pairs).
    public static func neighbourDifferences(_ image: Image) -> [Float] {
        let w = image.width
        guard w > 1 else { return [] }
        var out: [Float] = []
        out.reserveCapacity(image.height * (w - 1))
        image.pixels.withUnsafeBufferPointer { p in
            for y in 0..<image.height {
                let row = y * w
                for x in 0..<(w - 1) { out.append(abs(p[row + x + 1] - p[row + x])) }
            }
        }
        return out
    }

    /// The noise floor for the foreground threshold: `noiseFloorSigmas` × the pixel noise after
    /// the Gaussian smoothing. The noise is 1.4826 × the median neighbour difference / √2 (the
    /// MAD estimate of the SD of white noise); a Gaussian of σ px (≥ 0.5) divides white
    /// noise's SD by 2√π σ. Reorders `differences`.
    public func noiseFloor(differences: inout [Float]) -> Float {
        guard !differences.isEmpty else { return 0 }
        let noise = 1.4826 * Threshold.quantile(consuming: &differences, 0.5) / Float(2.0.squareRoot())
        let s = px(parameters.sigmaMicrons)
        let gain = s >= 0.5 ? Float(1 / (2 * Double.pi.squareRoot() * s)) : 1
        return Self.noiseFloorSigmas * noise * gain
    }

    /// The foreground threshold from prepared (smoothed) pixels and raw neighbour differences:
    /// fixed, or Otsu × factor but never below the noise floor (so a field without nuclei, an
    /// empty scan of glass, does not turn its noise into objects). Reorders `differences`.
    public func threshold(smoothed: [Float], differences: inout [Float]) -> Float {
        if let t = parameters.threshold { return Float(t) }
        return max(Threshold.otsu(smoothed) * Float(parameters.otsuFactor), noiseFloor(differences: &differences))
    }

    /// The foreground threshold for images like `image`.
    public func threshold(for image: Image) -> Float {
        var d = Self.neighbourDifferences(image)
        return threshold(smoothed: prepare(image).smoothed.pixels, differences: &d)
    }

    /// Labels the nuclei of `image` given the foreground threshold. Under `MIFQ_TIMING` each
    /// step's time goes to a stage of its own ("segment: …").
    public func segment(_ image: Image, threshold t: Float) -> LabelImage {
        let (sub, smooth) = prepare(image)
        let minArea = max(1, areaPx(parameters.minAreaMicrons))
        let fg = step("foreground") { foreground(smooth, threshold: t, minArea: minArea) }
        let surface = step("seed surface") { seedSurface(sub, foreground: fg, threshold: t) }
        let seeds = step("seeds") {
            Watershed.peaks(surface, mask: fg, minDistance: max(1, Int(px(parameters.seedMinDistanceMicrons).rounded())))
        }
        // Seed k (in order of height) is label k + 1; the flood takes its seeds in raster order.
        var flooded = step("flood") {
            let order = seeds.indices.sorted { seeds[$0] < seeds[$1] }
            return Watershed.flood(surface, seeds: order.map { seeds[$0] }, labels: order.map { Int32($0 + 1) }, mask: fg, descending: true)
        }
        step("size filter") { Labeling.filterObjects(&flooded, minArea: minArea, maxArea: areaPx(parameters.maxAreaMicrons)) }
        return flooded
    }

    /// Foreground: above the threshold and, with a local window, above the local mean; holes
    /// filled, specks below `minArea` px removed.
    func foreground(_ smooth: Image, threshold t: Float, minArea: Int) -> Mask {
        var fg = Mask(width: smooth.width, height: smooth.height)
        let local = parameters.localWindowMicrons > 0
            ? Filters.boxMean(smooth, radius: max(1, Int(px(parameters.localWindowMicrons / 2).rounded()))) : nil
        fg.bits.withUnsafeMutableBufferPointer { b in
        smooth.pixels.withUnsafeBufferPointer { s in
            if let local {
                local.pixels.withUnsafeBufferPointer { m in for i in 0..<b.count { b[i] = s[i] > t && s[i] > m[i] } }
            } else {
                for i in 0..<b.count { b[i] = s[i] > t }
            }
        }
        }
        return Labeling.filterComponents(Labeling.fillHoles(fg), minArea: minArea)
    }

    /// The seed surface: the distance to the foreground's edge (in seed radii, capped at 1.5)
    /// weighted against the scale-normalised LoG over the threshold, smoothed (σ 1 px).
    func seedSurface(_ sub: Image, foreground fg: Mask, threshold t: Float) -> Image {
        let radius = Float(px(parameters.seedSigmaMicrons) * 2.0.squareRoot())
        // The surface caps the distance at 1.5 radii, so farther distances need not be exact.
        let dist = DistanceTransform.insideDistance(fg, limit: Int((1.5 * radius).rounded(.up)))
        // The surface is written over the blob plane and smoothed in place.
        var surface = Filters.negativeLoG(sub, sigma: px(parameters.seedSigmaMicrons))
        let alpha = Float(parameters.distanceWeight)
        let scale = max(abs(t), 1e-6)
        surface.pixels.withUnsafeMutableBufferPointer { o in
            dist.pixels.withUnsafeBufferPointer { d in for i in 0..<o.count { o[i] = alpha * min(d[i] / radius, 1.5) + o[i] / scale } }
        }
        Filters.gaussianInPlace(&surface, sigma: 1)
        return surface
    }
}
