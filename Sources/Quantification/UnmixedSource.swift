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
    /// Also return, after the components, the total light (Σ channels − dark offset), as the
    /// tissue pass sums it, so that the tile pass can build the tissue map itself.
    public var totalLight = false
    /// Decoded blocks kept for this source's reads (see `caching`).
    var cache: BlockCache?

    public init(slide: Slide, channelMap: [Int], unmixer: Unmixer, level: Int = 0) {
        self.slide = slide; self.channelMap = channelMap; self.unmixer = unmixer; self.level = level
    }

    public var width: Int { slide.levels[level].width }
    public var height: Int { slide.levels[level].height }
    public var binning: Int { level == 0 ? slide.binning : 1 }

    /// This source with a block cache of its own for windows of `width` × `height` pixels.
    public func caching(window width: Int, height: Int) -> UnmixedSource {
        var s = self
        s.cache = slide.blockCache(window: width, height: height, channels: channelMap, level: level)
        return s
    }

    public func images(_ r: PixelRegion) throws -> [Image] {
        if slide.isUnmixed { return try components(r) }
        let n = r.count
        let c = channelMap.count, k = unmixer.componentCount
        let obs = UnsafeMutablePointer<Float>.allocate(capacity: c * n)
        defer { obs.deallocate() }
        let bufs = (0..<c).map { UnsafeMutableBufferPointer(start: obs + $0 * n, count: n) }
        try StageTimes.measure("decode") { try slide.read(channels: channelMap, level: level, region: r, into: bufs, cache: cache) }
        // The components go straight into the images' arrays.
        var planes = StageTimes.measure("unmix") { arrays(k, count: n) { unmixer.unmix(observed: obs, pixels: n, into: $0) } }
            .map { Image(width: r.width, height: r.height, pixels: $0) }
        if totalLight {
            let total = Self.totalLight((0..<c).map { UnsafePointer(obs + $0 * n) }, count: n, dark: Float(unmixer.library.darkOffset))
            planes.append(Image(width: r.width, height: r.height, pixels: total))
        }
        return planes
    }
}

extension UnmixedSource {
    /// The components read straight into the images' arrays; the total light is their sum
    /// (there is no dark offset left to take off).
    func components(_ r: PixelRegion) throws -> [Image] {
        let n = r.count
        var total: [Float]? = nil
        let planes = try arrays(channelMap.count, count: n) { p in
            try StageTimes.measure("decode") {
                try slide.read(channels: channelMap, level: level, region: r,
                               into: p.map { UnsafeMutableBufferPointer(start: $0, count: n) }, cache: cache)
            }
            if totalLight { total = Self.totalLight(p.map { UnsafePointer($0) }, count: n, dark: 0) }
        }
        return (planes + (total.map { [$0] } ?? [])).map { Image(width: r.width, height: r.height, pixels: $0) }
    }

    /// The total light the tissue map sums: Σ over the planes of (value − dark), added plane
    /// by plane in order.
    static func totalLight(_ planes: [UnsafePointer<Float>], count n: Int, dark: Float) -> [Float] {
        var total = [Float](repeating: 0, count: n)
        total.withUnsafeMutableBufferPointer { t in
            for o in planes { for i in 0..<n { t[i] += o[i] - dark } }
        }
        return total
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
