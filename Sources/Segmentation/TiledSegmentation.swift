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
    /// The source's images of the region (channels or components), for measurement.
    public let channels: [Image]
}

/// Supplies the images of a region: the slide's channels, or unmixed components.
public protocol TileSource: Sendable {
    var width: Int { get }
    var height: Int { get }
    /// The images of `region` (level-0 pixels); index `nucleusIndex` is segmented.
    func images(_ region: PixelRegion) throws -> [Image]
    /// The same for a tile pass's tile: `core` is the part of `region` the tile answers for
    /// (without its halo), where a source may count what it reads once per slide pixel.
    func images(_ region: PixelRegion, core: PixelRegion) throws -> [Image]
    /// The same source keeping decoded blocks for windows of `width` × `height` pixels read one
    /// after another, in a cache of its own, so blocks shared by neighbouring windows decode once.
    func caching(window width: Int, height: Int, seams: BlockCache.Seams?) -> Self
    /// The file's pixels per source pixel along each side (`Slide.binning`).
    var binning: Int { get }
}

extension TileSource {
    public func images(_ region: PixelRegion, core: PixelRegion) throws -> [Image] { try images(region) }
}

/// Raw channels of a slide.
public struct ChannelSource: TileSource {
    public let slide: Slide
    public let channels: [Int]
    var cache: BlockCache?
    public init(slide: Slide, channels: [Int]) { self.slide = slide; self.channels = channels }
    public var width: Int { slide.width }
    public var height: Int { slide.height }
    public var binning: Int { slide.binning }
    public func images(_ region: PixelRegion) throws -> [Image] {
        try StageTimes.measure("decode") { try readImages(slide, channels: channels, region: region, cache: cache) }
    }
    public func caching(window width: Int, height: Int, seams: BlockCache.Seams? = nil) -> ChannelSource {
        var s = self
        s.cache = slide.blockCache(window: width, height: height, channels: channels, seams: seams)
        return s
    }
}

/// Segments a whole slide tile by tile with a halo. A nucleus belongs to the tile whose core
/// holds its centroid, so no cell is lost or counted twice at a seam; with a halo wide enough
/// for an object's whole neighbourhood (`NucleusParameters.haloMicrons`), the result does not
/// depend on the tile size or the number of threads.
public struct TiledSegmentation: Sendable {
    /// The source, with a block cache for the tiles' bands.
    public let source: TileSource
    /// The source as given, without that cache: the threshold windows are read once each, and
    /// cached they would stay resident while the tissue map is made beside them (on a 32k
    /// slide at 2 threads, the map phase's peak 651 → 587 MB).
    let windowSource: TileSource
    public let nucleusIndex: Int
    public let segmenter: NucleusSegmenter
    public let tileSize: Int
    public let threads: Int
    public let halo: Int
    let width: Int, height: Int
    /// The side of a threshold window: 512 of the file's pixels, whatever the binning.
    let windowSide: Int

    /// `bandHeight`: the file's rows per band of tiles (see `bandRows`; smaller in tests).
    public init(source: TileSource, nucleusIndex: Int, parameters: NucleusParameters, pixelSizeUm: Double,
                tileSize: Int = 1024, threads: Int = ProcessInfo.processInfo.activeProcessorCount, bandHeight: Int = 4096) {
        self.nucleusIndex = nucleusIndex
        self.segmenter = NucleusSegmenter(parameters: parameters, pixelSizeUm: pixelSizeUm)
        self.tileSize = max(64, tileSize)
        self.threads = max(1, threads)
        self.halo = Int((parameters.haloMicrons / pixelSizeUm).rounded(.up))
        width = source.width; height = source.height
        windowSide = max(64, 512 / max(1, source.binning))
        windowSource = source
        bandRows = max(1, bandHeight / max(1, source.binning) / self.tileSize)
        self.source = source.caching(window: self.tileSize + 2 * halo, height: bandRows * self.tileSize + 2 * halo,
                                     seams: BlockCache.Seams(every: bandRows * self.tileSize, halo: halo))
    }

    /// Segments one channel of a slide.
    public init(slide: Slide, nucleusChannel: Int, parameters: NucleusParameters, pixelSizeUm: Double,
                tileSize: Int = 1024, threads: Int = ProcessInfo.processInfo.activeProcessorCount, bandHeight: Int = 4096) {
        self.init(source: ChannelSource(slide: slide, channels: [nucleusChannel]), nucleusIndex: 0,
                  parameters: parameters, pixelSizeUm: pixelSizeUm, tileSize: tileSize, threads: threads, bandHeight: bandHeight)
    }

    public var tileCount: Int { tilesX * tilesY }
    var tilesX: Int { (width + tileSize - 1) / tileSize }
    var tilesY: Int { (height + tileSize - 1) / tileSize }
    /// Tile rows per band: bands about `bandHeight` (4096) of the file's rows high (4096 /
    /// binning of a binned slide's), so the block cache holds a band column of the file's
    /// blocks within its budget. (A 40× slide at 0.5 µm in bands of 4096 of its own rows
    /// needed 411 MB of blocks, over the 256-MB budget: 1983 blocks decoded for the file's
    /// 1792, now 1771 with glass skipped.) The blocks where bands meet are decoded once all
    /// the same (`BlockCache.Seams`).
    let bandRows: Int

    /// Tile `i`'s core. Tiles go in bands of `bandRows` tile rows, column by column within a
    /// band, top to bottom within a column: a tile shares its halo blocks with the tile before
    /// it and with the previous column, both still in the block cache, which then needs room
    /// for one column of a band only — a row-major order would need a whole row of blocks.
    public func core(_ i: Int) -> PixelRegion {
        let band = i / (bandRows * tilesX)
        let rows = min(bandRows, tilesY - band * bandRows)
        let k = i - band * bandRows * tilesX
        let tx = k / rows, ty = band * bandRows + k % rows
        let x = tx * tileSize, y = ty * tileSize
        return PixelRegion(x: x, y: y, width: min(tileSize, width - x), height: min(tileSize, height - y))
    }

    func expanded(_ c: PixelRegion) -> PixelRegion {
        let x0 = max(0, c.x - halo), y0 = max(0, c.y - halo)
        let x1 = min(width, c.x + c.width + halo), y1 = min(height, c.y + c.height + halo)
        return PixelRegion(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
    }

    /// The fixed windows the threshold is estimated on: up to 4×4 windows of 512² px on a
    /// regular grid (the whole image when it is small), independent of tiling and threads.
    /// Along a side of at least 2560 px the windows start on multiples of 512 px, so a slide
    /// stored in 512-px tiles decodes one tile per channel for each window instead of four
    /// (the positions move by at most 256 px and stay distinct and inside the slide).
    /// On a binned slide the windows are 512 of the file's pixels (512 / binning of the
    /// slide's, at least 64), and so are those sides and multiples: the windows decode as much
    /// of the file as they would unbinned, not binning² times more (a 40× slide at 0.5 µm read
    /// a quarter of the file for its threshold).
    public var thresholdWindows: [PixelRegion] {
        let win = windowSide
        if width <= 2 * win && height <= 2 * win { return [PixelRegion(x: 0, y: 0, width: width, height: height)] }
        let n = 4
        func starts(_ side: Int) -> [Int] {
            let span = side - min(win, side)
            return (0..<n).map { i in
                let x = span * (2 * i + 1) / (2 * n)
                return span >= 4 * win ? min(span, (x + win / 2) / win * win) : x
            }
        }
        let w = min(win, width), h = min(win, height)
        return starts(height).flatMap { y in starts(width).map { x in PixelRegion(x: x, y: y, width: w, height: h) } }
    }

    /// The slide's foreground threshold (`NucleusSegmenter.threshold`) on the threshold windows.
    public func estimateThreshold() throws -> Float {
        if let t = segmenter.parameters.threshold { return Float(t) }
        // Windows on the worker threads; pooled in window order, so the threshold is the same.
        let windows = thresholdWindows
        let parts = ResultBox<(smoothed: [Float], differences: [Float])>(count: windows.count)
        let next = WorkCounter()
        DispatchQueue.concurrentPerform(iterations: min(threads, windows.count)) { _ in
            while let i = next.take(below: windows.count) {
                parts.set(i, Result {
                    let raw = try windowSource.images(windows[i])[nucleusIndex]
                    return (segmenter.prepare(raw).smoothed.pixels, NucleusSegmenter.neighbourDifferences(raw))
                })
            }
        }
        var values: [Float] = [], differences: [Float] = []
        for i in windows.indices { let p = try parts.get(i); values += p.smoothed; differences += p.differences }
        return segmenter.threshold(smoothed: values, differences: &differences)
    }

    /// Segments tile `i` (or only the part `within` of its core: cells whose centroids fall
    /// elsewhere in the core are not wanted); the region's images are kept in the result for
    /// measurement. A part gets the same halo, so its cells are the whole tile's.
    public func segmentTile(_ i: Int, within part: PixelRegion? = nil, threshold: Float, cellExpansionPx: Double) throws -> TileSegmentation {
        let c = part ?? core(i)
        let r = expanded(c)
        let images = try source.images(r, core: c)
        let nuclei = StageTimes.measure("segment") { segmenter.segment(images[nucleusIndex], threshold: threshold) }
        let n = Int(nuclei.maxLabel)
        var sx = [Double](repeating: 0, count: n + 1), sy = sx, cnt = sx
        nuclei.labels.withUnsafeBufferPointer { lb in
        sx.withUnsafeMutableBufferPointer { sx in sy.withUnsafeMutableBufferPointer { sy in cnt.withUnsafeMutableBufferPointer { cnt in
            for y in 0..<r.height {
                let row = lb.baseAddress! + y * r.width, gy = Double(r.y + y)
                for x in 0..<r.width {
                    let l = Int(row[x])
                    // Global coordinates, summed exactly, so a centroid is bit-identical whatever tile holds it.
                    if l != 0 { sx[l] += Double(r.x &+ x); sy[l] += gy; cnt[l] += 1 }
                }
            }
        } } }
        }
        var centroids = [(x: Double, y: Double)](repeating: (0, 0), count: n + 1)
        var owned: [Int32] = []
        for l in stride(from: 1, through: n, by: 1) where cnt[l] > 0 {
            let gx = sx[l] / cnt[l], gy = sy[l] / cnt[l]
            centroids[l] = (gx, gy)
            // Owned by the tile whose core holds the pixel the centroid falls in.
            let px = Int(gx.rounded()), py = Int(gy.rounded())
            if px >= c.x && px < c.x + c.width && py >= c.y && py < c.y + c.height { owned.append(Int32(l)) }
        }
        owned.sort { (centroids[Int($0)].y, centroids[Int($0)].x) < (centroids[Int($1)].y, centroids[Int($1)].x) }
        let cells = StageTimes.measure("cells") { Cells.expand(nuclei, distance: cellExpansionPx) }
        return TileSegmentation(index: i, core: c, region: r, nuclei: nuclei, cells: cells, owned: owned,
                                centroids: centroids, channels: images)
    }

    /// Runs every tile on `threads` workers and hands results to `consume` in tile order, on
    /// the calling thread. Workers take the next tile as soon as they are free, at most
    /// `3 × threads` tiles ahead of the one being consumed (which bounds memory), and the
    /// consumer works while they do: no barrier between groups of tiles, so a slow tile holds up
    /// only the consumer, never the other workers.
    public func run(threshold: Float, cellExpansionPx: Double, consume: (TileSegmentation) throws -> Void) throws {
        try run(threshold: threshold, cellExpansionPx: cellExpansionPx, map: { $0 }, consume: consume)
    }

    /// As `run`, with `map` applied to each tile on its worker (e.g. per-cell measurement), so
    /// only its result waits for the in-order `consume`; `tiles` (ascending) limits the run to
    /// those tiles, each to a part of its core when given (default: all tiles, whole).
    public func run<T>(threshold: Float, cellExpansionPx: Double, tiles: [(index: Int, part: PixelRegion?)]? = nil,
                       map: @escaping @Sendable (TileSegmentation) throws -> T, consume: (T) throws -> Void) throws {
        let order = tiles ?? (0..<tileCount).map { ($0, nil) }
        let pipeline = TilePipeline<T>(count: order.count, window: 3 * threads)
        let group = DispatchGroup()
        for _ in 0..<min(threads, order.count) {
            DispatchQueue.global().async(group: group) {
                while let k = pipeline.take() {
                    pipeline.put(k, Result { try map(try segmentTile(order[k].index, within: order[k].part, threshold: threshold, cellExpansionPx: cellExpansionPx)) })
                }
            }
        }
        do {
            for k in order.indices { try consume(try pipeline.result(k).get()) }
        } catch {
            pipeline.stop()
            group.wait()
            throw error
        }
        group.wait()
    }
}

/// Hands out tile indices in order, no further than `window` past the consumer, and keeps the
/// results until the consumer takes them, in order.
final class TilePipeline<T>: @unchecked Sendable {
    private let cond = NSCondition()
    private let count: Int, window: Int
    private var started = 0, consumed = 0, stopped = false
    private var results: [Int: Result<T, Error>] = [:]

    init(count: Int, window: Int) { self.count = count; self.window = max(1, window) }

    /// The next tile to work on, or nil when all are taken (or the run stopped).
    func take() -> Int? {
        cond.lock(); defer { cond.unlock() }
        while !stopped && started < count && started >= consumed + window { cond.wait() }
        guard !stopped && started < count else { return nil }
        started += 1
        return started - 1
    }

    func put(_ i: Int, _ r: Result<T, Error>) {
        cond.lock(); results[i] = r; cond.broadcast(); cond.unlock()
    }

    /// Waits for tile k's result and removes it.
    func result(_ k: Int) -> Result<T, Error> {
        cond.lock(); defer { cond.unlock() }
        while results[k] == nil { cond.wait() }
        consumed = k + 1
        cond.broadcast()
        return results.removeValue(forKey: k)!
    }

    /// No more tiles are handed out (workers finish the one they have).
    func stop() {
        cond.lock(); stopped = true; cond.broadcast(); cond.unlock()
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
public func readImages(_ slide: Slide, channels: [Int], region r: PixelRegion, level: Int = 0, cache: BlockCache? = nil) throws -> [Image] {
    let bufs = channels.map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: r.count) }
    defer { bufs.forEach { $0.deallocate() } }
    try slide.read(channels: channels, level: level, region: r, into: bufs, cache: cache)
    return bufs.map { Image(width: r.width, height: r.height, pixels: Array($0)) }
}
