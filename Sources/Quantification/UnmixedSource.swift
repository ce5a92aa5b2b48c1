import Imaging
import Segmentation
import SlideIO
import Unmixing

/// A slide's regions as unmixed components: the panel's channels are read (tiles shared by
/// channels decode once), unmixed with one sgemm (plus NNLS where OLS goes negative), and
/// returned in library component order. A slide of unmixed components (inForm component data,
/// an unmixed QPTIFF, `mifq unmix` output) is read as it is, never unmixed twice.
public struct UnmixedSource: TileSource {
    public let slide: Slide
    /// Slide channel index of each library channel (`Panel.channelMap`), or of each library
    /// component when the slide holds components.
    public let channelMap: [Int]
    public let unmixer: Unmixer
    public let level: Int
    /// Also return, after the components, the tissue map's box sums over the region (the
    /// total light, the tumour marker and the excluded markers: `TissuePass.BoxSums`), made as
    /// each band of rows is unmixed, while its values are still in cache: the separate tissue
    /// pass and the tile pass (which builds the map itself on a slide without a pyramid) both
    /// take the map from them.
    public var mapBoxes: TissuePass.Plan?
    /// Decoded blocks kept for this source's reads (see `caching`).
    var cache: BlockCache?
    /// Where set, a tile pass's reads count the samples at their channel's ceiling over each
    /// tile's core (`images(_:core:)`), once per slide pixel.
    public var saturation: SaturationTally?

    public init(slide: Slide, channelMap: [Int], unmixer: Unmixer, level: Int = 0) {
        self.slide = slide; self.channelMap = channelMap; self.unmixer = unmixer; self.level = level
    }

    public var width: Int { slide.levels[level].width }
    public var height: Int { slide.levels[level].height }
    public var binning: Int { level == 0 ? slide.binning : 1 }

    /// This source with a block cache of its own for windows of `width` × `height` pixels
    /// (sweeping bands that meet at `seams`).
    public func caching(window width: Int, height: Int, seams: BlockCache.Seams? = nil) -> UnmixedSource {
        var s = self
        s.cache = slide.blockCache(window: width, height: height, channels: channelMap, level: level, seams: seams)
        return s
    }

    /// Pixels per band of rows when the source has a block cache (see `images`).
    static let bandPixels = 1 << 15

    /// The components of region `r` (then the box sums, with `mapBoxes`). With a block
    /// cache (the tile pass) the region goes in bands of about `bandPixels` pixels, each
    /// decoded into a scratch that stays in the core's cache and unmixed from there into the
    /// components, instead of the whole region's channels going out to memory and back; the
    /// band's blocks come from the cache, so none is decoded twice. Without one, a block under
    /// two bands would be, so the region is one band.
    public func images(_ r: PixelRegion) throws -> [Image] { try images(r, counting: nil) }

    /// The same for a tile of a tile pass, counting saturated samples over `core` (with a
    /// `saturation` tally).
    public func images(_ r: PixelRegion, core: PixelRegion) throws -> [Image] {
        try images(r, counting: saturation == nil ? nil : core)
    }

    func images(_ r: PixelRegion, counting core: PixelRegion?) throws -> [Image] {
        if slide.isUnmixed { return try components(r) }
        let n = r.count, w = r.width
        let c = channelMap.count, k = unmixer.componentCount
        let bandRows = cache == nil ? r.height : max(1, min(r.height, Self.bandPixels / max(1, w)))
        let obs = UnsafeMutablePointer<Float>.allocate(capacity: c * bandRows * w)
        defer { obs.deallocate() }
        var boxes = mapBoxes.map { TissuePass.BoxSums(plan: $0, region: r) }
        let dark = Float(unmixer.library.darkOffset)
        var saturated = [Int](repeating: 0, count: c)
        defer { if let core, core.count > 0 { saturation?.add(saturated) } }
        // The components go straight into the images' arrays.
        let planes = try arrays(k, count: n) { out in
            for y0 in stride(from: 0, to: r.height, by: bandRows) {
                let m = min(bandRows, r.height - y0) * w
                let bufs = (0..<c).map { UnsafeMutableBufferPointer(start: obs + $0 * m, count: m) }
                try StageTimes.measure("decode") {
                    try slide.read(channels: channelMap, level: level, region: PixelRegion(x: r.x, y: r.y + y0, width: w, height: m / w),
                                   into: bufs, cache: cache)
                }
                if let core, let tally = saturation {
                    StageTimes.measure("saturation") {
                        tally.count(obs, width: w, x: r.x, rows: (r.y + y0)..<(r.y + y0 + m / w), columns: (core.x - r.x)..<(core.x - r.x + core.width),
                                    within: core.y..<(core.y + core.height), into: &saturated)
                    }
                }
                StageTimes.measure("unmix") { unmixer.unmix(observed: obs, pixels: m, into: out.map { $0 + y0 * w }) }
                if boxes != nil {
                    StageTimes.measure("map sums") {
                        for y in 0..<(m / w) {
                            boxes!.add(y: r.y + y0 + y, channelCount: c, channels: { UnsafePointer(obs + $0 * m + y * w) }, dark: dark,
                                       components: { UnsafePointer(out[$0] + (y0 + y) * w) })
                        }
                    }
                }
            }
        }.map { Image(width: w, height: r.height, pixels: $0) }
        return planes + (boxes?.images ?? [])
    }
}

extension UnmixedSource {
    /// The components read straight into the images' arrays; the total light is their sum
    /// (there is no dark offset left to take off).
    func components(_ r: PixelRegion) throws -> [Image] {
        let n = r.count, w = r.width
        var boxes = mapBoxes.map { TissuePass.BoxSums(plan: $0, region: r) }
        let planes = try arrays(channelMap.count, count: n) { p in
            try StageTimes.measure("decode") {
                try slide.read(channels: channelMap, level: level, region: r,
                               into: p.map { UnsafeMutableBufferPointer(start: $0, count: n) }, cache: cache)
            }
            for y in 0..<r.height where boxes != nil {
                let row = { (k: Int) in UnsafePointer(p[k] + y * w) }
                boxes!.add(y: r.y + y, channelCount: p.count, channels: row, dark: 0, components: row)
            }
        }
        return planes.map { Image(width: w, height: r.height, pixels: $0) } + (boxes?.images ?? [])
    }
}

/// `k` new arrays of `count` floats each, filled by `fill` through their own storage (no copy).
private func arrays(_ k: Int, count n: Int, _ fill: ([UnsafeMutablePointer<Float>]) throws -> Void) rethrows -> [[Float]] {
    var out = [[Float]](repeating: [], count: k)
    var pointers: [UnsafeMutablePointer<Float>] = []
    func make(_ i: Int) throws {
        guard i < k else { try fill(pointers); return }
        out[i] = try [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
            pointers.append(buffer.baseAddress!)
            try make(i + 1)
            initialized = n
        }
    }
    try make(0)
    return out
}
