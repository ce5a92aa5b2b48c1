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
            let dark = Float(unmixer.library.darkOffset)
            var total = [Float](repeating: 0, count: n)
            total.withUnsafeMutableBufferPointer { t in
                for ch in 0..<c { let o = obs + ch * n; for i in 0..<n { t[i] += o[i] - dark } }
            }
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
        let planes = try StageTimes.measure("decode") {
            try arrays(channelMap.count, count: n) { p in
                try slide.read(channels: channelMap, level: level, region: r,
                               into: p.map { UnsafeMutableBufferPointer(start: $0, count: n) }, cache: cache)
            }
        }
        var images = planes.map { Image(width: r.width, height: r.height, pixels: $0) }
        if totalLight {
            var total = [Float](repeating: 0, count: n)
            total.withUnsafeMutableBufferPointer { t in
                for plane in planes { plane.withUnsafeBufferPointer { s in for i in 0..<n { t[i] += s[i] } } }
            }
            images.append(Image(width: r.width, height: r.height, pixels: total))
        }
        return images
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
