import Imaging
import Segmentation
import SlideIO
import Unmixing

/// A slide's regions as unmixed components: the panel's channels are read (tiles shared by
/// channels decode once), unmixed with one sgemm (plus NNLS where OLS goes negative), and
/// returned in library component order.
public struct UnmixedSource: TileSource {
    public let slide: Slide
    /// Slide channel index of each library channel.
    public let channelMap: [Int]
    public let unmixer: Unmixer
    public let level: Int
    /// Also return, after the components, the total light (Σ channels − dark offset), as the
    /// tissue pass sums it, so that the tile pass can build the tissue map itself.
    public var totalLight = false

    public init(slide: Slide, channelMap: [Int], unmixer: Unmixer, level: Int = 0) {
        self.slide = slide; self.channelMap = channelMap; self.unmixer = unmixer; self.level = level
    }

    public var width: Int { slide.levels[level].width }
    public var height: Int { slide.levels[level].height }

    public func prepareWindows(width: Int, height: Int) {
        slide.cacheBlocks(window: width, height: height, channels: channelMap, level: level)
    }

    public func images(_ r: PixelRegion) throws -> [Image] {
        let n = r.count
        let c = channelMap.count, k = unmixer.componentCount
        let obs = UnsafeMutablePointer<Float>.allocate(capacity: c * n)
        let out = UnsafeMutablePointer<Float>.allocate(capacity: k * n)
        defer { obs.deallocate(); out.deallocate() }
        let bufs = (0..<c).map { UnsafeMutableBufferPointer(start: obs + $0 * n, count: n) }
        try slide.read(channels: channelMap, level: level, region: r, into: bufs)
        unmixer.unmix(observed: obs, pixels: n, out: out)
        var planes = (0..<k).map { Image(width: r.width, height: r.height, pixels: Array(UnsafeBufferPointer(start: out + $0 * n, count: n))) }
        if totalLight {
            let dark = Float(unmixer.library.darkOffset)
            var total = [Float](repeating: 0, count: n)
            for ch in 0..<c { for i in 0..<n { total[i] += obs[ch * n + i] - dark } }
            planes.append(Image(width: r.width, height: r.height, pixels: total))
        }
        return planes
    }
}
