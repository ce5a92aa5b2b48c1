import Dispatch
import Foundation
import Imaging
import SlideIO

/// One tile's segmentation: the tile's core, the region read around it (core + halo), the
/// nuclei and cells of that region, and which of them the tile owns.
public struct TileSegmentation: Sendable {
    public let index: Int
    public let core: PixelRegion
    public let region: PixelRegion
    public let nuclei: LabelImage
    public let cells: LabelImage
    /// Labels whose nucleus centroid falls in the core, ascending raster order of centroid.
    public let owned: [Int32]
    /// Nucleus centroid (level-0 px, global) by label; index = label.
    public let centroids: [(x: Double, y: Double)]
    /// Channels read for the region (in the order requested), for measurement.
    public let channels: [Image]
}

/// Segments a whole slide tile by tile with a halo. A nucleus belongs to the tile whose core
/// holds its centroid, so no cell is lost or counted twice at a seam; with a halo wide enough
/// for an object's whole neighbourhood (`NucleusParameters.haloMicrons`), the result does not
/// depend on the tile size or the number of threads.
public struct TiledSegmentation: Sendable {
    public let slide: Slide
    public let nucleusChannel: Int
    public let segmenter: NucleusSegmenter
    public let tileSize: Int
    public let threads: Int
    public let halo: Int

    public init(slide: Slide, nucleusChannel: Int, parameters: NucleusParameters, pixelSizeUm: Double,
                tileSize: Int = 1024, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.slide = slide
        self.nucleusChannel = nucleusChannel
        self.segmenter = NucleusSegmenter(parameters: parameters, pixelSizeUm: pixelSizeUm)
        self.tileSize = max(64, tileSize)
        self.threads = max(1, threads)
        self.halo = Int((parameters.haloMicrons / pixelSizeUm).rounded(.up))
    }

    public var tileCount: Int { tilesX * tilesY }
    var tilesX: Int { (slide.width + tileSize - 1) / tileSize }
    var tilesY: Int { (slide.height + tileSize - 1) / tileSize }

    func core(_ i: Int) -> PixelRegion {
        let tx = i % tilesX, ty = i / tilesX
        let x = tx * tileSize, y = ty * tileSize
        return PixelRegion(x: x, y: y, width: min(tileSize, slide.width - x), height: min(tileSize, slide.height - y))
    }

    func expanded(_ c: PixelRegion) -> PixelRegion {
        let x0 = max(0, c.x - halo), y0 = max(0, c.y - halo)
        let x1 = min(slide.width, c.x + c.width + halo), y1 = min(slide.height, c.y + c.height + halo)
        return PixelRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// The slide's foreground threshold, estimated on a fixed grid of up to 4×4 windows of
    /// 512² px (the whole image when it is small): independent of tiling and threads.
    public func estimateThreshold() throws -> Float {
        if let t = segmenter.parameters.threshold { return Float(t) }
        let win = 512
        var windows: [PixelRegion] = []
        if slide.width <= 2 * win && slide.height <= 2 * win {
            windows = [PixelRegion(x: 0, y: 0, width: slide.width, height: slide.height)]
        } else {
            let n = 4
            for j in 0..<n {
                for i in 0..<n {
                    let w = min(win, slide.width), h = min(win, slide.height)
                    let x = (slide.width - w) * (2 * i + 1) / (2 * n), y = (slide.height - h) * (2 * j + 1) / (2 * n)
                    windows.append(PixelRegion(x: x, y: y, width: w, height: h))
                }
            }
        }
        var values: [Float] = []
        for r in windows {
            let img = Image(width: r.width, height: r.height, pixels: try slide.read(channel: nucleusChannel, region: r))
            values += segmenter.prepare(img).smoothed.pixels
        }
        return Threshold.otsu(values) * Float(segmenter.parameters.otsuFactor)
    }

    /// Segments tile `i`, reading `channels` (the nucleus channel is read separately when absent).
    public func segmentTile(_ i: Int, threshold: Float, measureChannels: [Int] = [],
                            cellExpansionPx: Double, transform: ((inout [Image]) -> Void)? = nil) throws -> TileSegmentation {
        let c = core(i)
        let r = expanded(c)
        var wanted = measureChannels
        if !wanted.contains(nucleusChannel) { wanted.append(nucleusChannel) }
        var images = try readImages(slide, channels: wanted, region: r)
        transform?(&images)
        let nucleusImage = images[wanted.firstIndex(of: nucleusChannel)!]
        let nuclei = segmenter.segment(nucleusImage, threshold: threshold)
        let n = Int(nuclei.maxLabel)
        var sx = [Double](repeating: 0, count: n + 1), sy = sx, cnt = sx
        for y in 0..<r.height {
            for x in 0..<r.width {
                let l = Int(nuclei.labels[y * r.width + x])
                if l != 0 { sx[l] += Double(x); sy[l] += Double(y); cnt[l] += 1 }
            }
        }
        var centroids = [(x: Double, y: Double)](repeating: (0, 0), count: n + 1)
        var owned: [Int32] = []
        for l in 1...max(n, 1) where l <= n && cnt[l] > 0 {
            let gx = Double(r.x) + sx[l] / cnt[l], gy = Double(r.y) + sy[l] / cnt[l]
            centroids[l] = (gx, gy)
            // Ownership by the pixel holding the centroid (rounded to the nearest pixel centre).
            let px = Int(gx.rounded()), py = Int(gy.rounded())
            if px >= c.x && px < c.x + c.width && py >= c.y && py < c.y + c.height { owned.append(Int32(l)) }
        }
        owned.sort { (centroids[Int($0)].y, centroids[Int($0)].x) < (centroids[Int($1)].y, centroids[Int($1)].x) }
        let cells = Cells.expand(nuclei, distance: cellExpansionPx)
        let measured = measureChannels.isEmpty ? [] : Array(images.prefix(measureChannels.count))
        return TileSegmentation(index: i, core: c, region: r, nuclei: nuclei, cells: cells, owned: owned,
                                centroids: centroids, channels: measured)
    }

    /// Runs every tile on `threads` workers and hands results to `consume` in tile order,
    /// on the calling thread. Tiles are processed in batches, so memory holds at most
    /// 2 × threads tiles.
    public func run(threshold: Float, measureChannels: [Int] = [], cellExpansionPx: Double,
                    transform: (@Sendable (inout [Image]) -> Void)? = nil,
                    consume: (TileSegmentation) throws -> Void) throws {
        let batch = threads * 2
        var next = 0
        let queue = DispatchQueue(label: "mifq.tiles", attributes: .concurrent)
        while next < tileCount {
            let start = next
            let end = min(tileCount, start + batch)
            let results = ResultBox<TileSegmentation>(count: end - start)
            let group = DispatchGroup()
            let gate = DispatchSemaphore(value: threads)
            for i in start..<end {
                gate.wait()
                queue.async(group: group) {
                    defer { gate.signal() }
                    results.set(i - start, Result {
                        try segmentTile(i, threshold: threshold, measureChannels: measureChannels,
                                        cellExpansionPx: cellExpansionPx, transform: transform)
                    })
                }
            }
            group.wait()
            for k in 0..<(end - start) { try consume(try results.get(k)) }
            next = end
        }
    }
}

/// Thread-safe slots for results that arrive out of order.
final class ResultBox<T>: @unchecked Sendable {
    private var slots: [Result<T, Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: Result<T, Error>) { lock.lock(); slots[i] = r; lock.unlock() }
    func get(_ i: Int) throws -> T { lock.lock(); defer { lock.unlock() }; return try slots[i]!.get() }
}

/// Reads `region` of several channels as Images (tiles shared by channels decode once).
public func readImages(_ slide: Slide, channels: [Int], region r: PixelRegion, level: Int = 0) throws -> [Image] {
    let bufs = channels.map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: r.count) }
    defer { bufs.forEach { $0.deallocate() } }
    try slide.read(channels: channels, level: level, region: r, into: bufs)
    return bufs.map { Image(width: r.width, height: r.height, pixels: Array($0)) }
}
