import SlideIO

/// Nuclear detection settings, every length in µm and area in µm², so one panel serves
/// scanners of any resolution (QuPath's convention). Defaults work at 0.25–1 µm per pixel
/// on DAPI of fixed tissue; they were chosen on real fluorescence nuclei (testdata/real-nuclei)
/// and simulated slides.
public struct NucleusParameters: Codable, Equatable, Sendable {
    /// The pixel size cells are found and measured at (QuPath's `requestedPixelSizeMicrons`):
    /// a slide with pixels at most half this size is analysed with its pixels averaged in
    /// blocks of n × n, n the largest whole number with n × its pixel size ≤ this. nil: at the
    /// slide's own pixel size. A 0.25 µm (40×) scan analysed at 0.5 µm costs a quarter of
    /// the segmentation and measurement.
    public var requestedPixelSizeMicrons: Double? = nil
    /// Radius of the grey opening that estimates the background; 0 disables subtraction.
    public var backgroundRadiusMicrons: Double = 8
    /// Gaussian smoothing before thresholding.
    public var sigmaMicrons: Double = 0.5
    /// Foreground threshold: `nil` = Otsu on the smoothed, background-subtracted image
    /// (estimated once per slide) times `otsuFactor`; a number = that fixed intensity.
    public var threshold: Double? = nil
    public var otsuFactor: Double = 0.6
    /// A pixel must also exceed the mean of this window (local contrast), which splits
    /// nuclei whose dim borders touch; 0 disables the local test.
    public var localWindowMicrons: Double = 10
    /// Scale of the Laplacian-of-Gaussian used to place one seed per nucleus.
    public var seedSigmaMicrons: Double = 2
    /// Seeds closer than this merge (one nucleus).
    public var seedMinDistanceMicrons: Double = 2.5
    /// Weight of the distance-to-edge term against the blob (LoG) term in the seed surface.
    public var distanceWeight: Double = 0.75
    public var minAreaMicrons: Double = 10
    public var maxAreaMicrons: Double = 400
    /// Cell = nucleus grown by this distance without overlapping neighbours.
    public var cellExpansionMicrons: Double = 4
    /// Membrane = the outer ring of the cell this wide.
    public var membraneWidthMicrons: Double = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        case requestedPixelSizeMicrons, backgroundRadiusMicrons, sigmaMicrons, threshold, otsuFactor, localWindowMicrons, seedSigmaMicrons,
             seedMinDistanceMicrons, distanceWeight, minAreaMicrons, maxAreaMicrons, cellExpansionMicrons,
             membraneWidthMicrons
    }

    /// Decodes with every key optional (missing keys keep their defaults).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NucleusParameters()
        requestedPixelSizeMicrons = try c.decodeIfPresent(Double.self, forKey: .requestedPixelSizeMicrons)
        func v(_ k: CodingKeys, _ def: Double) throws -> Double { try c.decodeIfPresent(Double.self, forKey: k) ?? def }
        backgroundRadiusMicrons = try v(.backgroundRadiusMicrons, d.backgroundRadiusMicrons)
        sigmaMicrons = try v(.sigmaMicrons, d.sigmaMicrons)
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold)
        otsuFactor = try v(.otsuFactor, d.otsuFactor)
        localWindowMicrons = try v(.localWindowMicrons, d.localWindowMicrons)
        seedSigmaMicrons = try v(.seedSigmaMicrons, d.seedSigmaMicrons)
        seedMinDistanceMicrons = try v(.seedMinDistanceMicrons, d.seedMinDistanceMicrons)
        distanceWeight = try v(.distanceWeight, d.distanceWeight)
        minAreaMicrons = try v(.minAreaMicrons, d.minAreaMicrons)
        maxAreaMicrons = try v(.maxAreaMicrons, d.maxAreaMicrons)
        cellExpansionMicrons = try v(.cellExpansionMicrons, d.cellExpansionMicrons)
        membraneWidthMicrons = try v(.membraneWidthMicrons, d.membraneWidthMicrons)
    }

    /// Values no segmentation can use, one message each (empty when all are usable).
    public func problems(prefix: String = "") -> [String] {
        var checks = ParameterChecks(prefix: prefix)
        if let r = requestedPixelSizeMicrons { checks.need(r, in: 0.05...20, "requestedPixelSizeMicrons", "µm") }
        // Sizes are bounded by what a nucleus and its neighbourhood can be: far beyond, a value is
        // a unit mix-up, and the tiles' halos (or the kernels) would need gigabytes.
        checks.need(backgroundRadiusMicrons, in: 0...100, "backgroundRadiusMicrons", "µm")
        checks.need(sigmaMicrons, in: 0...10, "sigmaMicrons", "µm")
        if let t = threshold { checks.need(t.isFinite, "threshold", "a number") }
        checks.need(otsuFactor > 0 && otsuFactor.isFinite, "otsuFactor", "above 0")
        checks.need(localWindowMicrons, in: 0...200, "localWindowMicrons", "µm")
        checks.need(seedSigmaMicrons > 0 && seedSigmaMicrons <= 20, "seedSigmaMicrons", "above 0 and at most 20 µm")
        checks.need(seedMinDistanceMicrons, in: 0...50, "seedMinDistanceMicrons", "µm")
        checks.need(distanceWeight >= 0 && distanceWeight.isFinite, "distanceWeight", "0 or more")
        checks.need(minAreaMicrons, in: 0...10_000, "minAreaMicrons", "µm²")
        checks.need(maxAreaMicrons > minAreaMicrons && maxAreaMicrons <= 10_000, "maxAreaMicrons", "above minAreaMicrons and at most 10000 µm²")
        checks.need(cellExpansionMicrons, in: 0...50, "cellExpansionMicrons", "µm")
        checks.need(membraneWidthMicrons, in: 0...10, "membraneWidthMicrons", "µm")
        return checks.messages
    }

    /// How many of a slide's pixels (along each axis) make one analysis pixel at
    /// `requestedPixelSizeMicrons`, for a slide of `pixelSizeUm`.
    public func binning(pixelSizeUm: Double) -> Int {
        guard let r = requestedPixelSizeMicrons, pixelSizeUm > 0 else { return 1 }
        return max(1, Int((r / pixelSizeUm * (1 + 1e-9)).rounded(.down)))
    }

    /// `file` as cells are found on it: binned to `requestedPixelSizeMicrons` (`Slide.binned`);
    /// the file's pixel size must be usable.
    public func analysisSlide(_ file: Slide) throws -> Slide {
        file.binned(binning(pixelSizeUm: try file.requirePixelSize()))
    }

    /// The coarsest pixel (µm) nuclei can be found at: a lymphocyte's nucleus, about 6 µm across,
    /// then spans 3 pixels. Coarser pixels (a 5× scan, a pyramid level or a thumbnail given as
    /// the slide, a pixel size in the wrong unit) give counts not to be trusted.
    public static let coarsestPixelMicrons = 2.0

    /// Why pixels of `pixelSizeUm` are too coarse to find nuclei on; nil when they are not.
    public static func tooCoarse(pixelSizeUm px: Double) -> String? {
        guard px > coarsestPixelMicrons else { return nil }
        return "pixels of \(String(format: "%g", px)) µm are too coarse to find nuclei: a lymphocyte's nucleus (about 6 µm across) "
            + "spans under 3 of them (a low-resolution level or a thumbnail, or a wrong pixel size?)"
    }

    /// The halo a tile needs so that every object whose centroid lies in its core is seen
    /// whole, with its neighbourhood (µm): background window, largest nucleus, expansion.
    public var haloMicrons: Double {
        let nucleusDiameter = 2 * (maxAreaMicrons / Double.pi).squareRoot()
        return max(backgroundRadiusMicrons, localWindowMicrons / 2, 4 * seedSigmaMicrons) + nucleusDiameter + cellExpansionMicrons + 2
    }
}

/// Collects "PREFIX.name must be …" messages for the parameters a check finds unusable (a NaN
/// fails every check).
public struct ParameterChecks {
    public let prefix: String
    public private(set) var messages: [String] = []
    public init(prefix: String) { self.prefix = prefix }
    public mutating func need(_ ok: Bool, _ name: String, _ what: String) {
        if !ok { messages.append("\(prefix)\(name) must be \(what)") }
    }
    /// `value` in `range` (given in `unit`).
    public mutating func need(_ value: Double, in range: ClosedRange<Double>, _ name: String, _ unit: String) {
        func number(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
        need(range.contains(value), name, "\(number(range.lowerBound))–\(number(range.upperBound)) \(unit)")
    }
}
