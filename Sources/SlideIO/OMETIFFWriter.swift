import CTIFF
import CZlib
import Dispatch
import Foundation

/// How pages are arranged in the file.
public enum TIFFLayout: Sendable, Equatable {
    /// OME-TIFF: one page per channel, reduced levels in SubIFDs, OME-XML on page 0.
    case ome
    /// Akoya QPTIFF style: full-resolution channel pages, an RGB thumbnail, then each reduced
    /// level as a run of channel pages; PerkinElmer-QPI XML on every page (declaring UTF-16
    /// while the bytes are ASCII, as the instruments do). One entry per channel.
    case qptiff([QPIChannel])
}

public struct QPIChannel: Sendable, Equatable {
    public var fluor: String
    public var biomarker: String
    public var color: (UInt8, UInt8, UInt8)
    public init(fluor: String, biomarker: String, color: (UInt8, UInt8, UInt8)) {
        self.fluor = fluor; self.biomarker = biomarker; self.color = color
    }
    public static func == (a: QPIChannel, b: QPIChannel) -> Bool {
        a.fluor == b.fluor && a.biomarker == b.biomarker && a.color == b.color
    }
}

/// What to write: size, channels, sample type, pixel size and layout.
public struct ImageSpec: Sendable {
    public var width: Int
    public var height: Int
    public var channelNames: [String]
    /// uint8, uint16, uint32 or float32.
    public var sampleType: SampleType
    /// µm per level-0 pixel; written as OME PhysicalSizeX/Y and as TIFF resolution (cm).
    public var pixelSizeUm: Double?
    public var tileSize: Int
    /// Number of pyramid levels including level 0; nil halves until the longer side fits in a tile.
    public var levels: Int?
    public var deflate: Bool
    public var layout: TIFFLayout
    /// BigTIFF: nil chooses it when the file could pass 4 GB; true forces it.
    public var bigTIFF: Bool? = nil
    /// The channels are unmixed components: marked so in the metadata (OME: a map annotation
    /// `IsUnmixedComponent` = True; QPTIFF: `<IsUnmixedComponent>True`), so that mifq and other
    /// readers do not unmix them again.
    public var unmixedComponents = false

    public init(width: Int, height: Int, channelNames: [String], sampleType: SampleType,
                pixelSizeUm: Double?, tileSize: Int = 512, levels: Int? = nil, deflate: Bool = true,
                layout: TIFFLayout = .ome) {
        self.width = width; self.height = height; self.channelNames = channelNames
        self.sampleType = sampleType; self.pixelSizeUm = pixelSizeUm
        self.tileSize = tileSize; self.levels = levels; self.deflate = deflate; self.layout = layout
    }

    var levelCount: Int {
        if let levels { return max(1, levels) }
        var n = 1, w = width, h = height
        while max(w, h) > tileSize && min(w, h) >= 2 { w /= 2; h /= 2; n += 1 }
        return n
    }

    func levelSize(_ k: Int) -> (Int, Int) { (max(1, width >> k), max(1, height >> k)) }
}

/// Writes a tiled, pyramidal, multi-channel OME-TIFF the way tifffile and bfconvert do:
/// one page per channel, reduced levels in SubIFDs, OME-XML in the first page.
///
/// Level-0 pixels arrive in any order, from any thread (`write` for disjoint regions is
/// thread-safe), and go to a spool file beside the output, so memory stays bounded by the
/// caller's tiles whatever the image size. The spool holds every plane as its TIFF tiles
/// (edge tiles padded with zeros), so a caller writing whole tiles costs one `pwrite` per tile
/// and channel, and pages are written tile by tile. `finish()` builds the pyramid (box mean of
/// the level-0 pixels each reduced pixel covers), writes to a temporary name and renames, so a
/// reader never sees half a file. BigTIFF is chosen when the uncompressed data could pass 4 GB.
///
/// Uncompressed, the spool is the output itself: its tiles are already what the file holds, so
/// `finish()` builds the pyramid in place, appends the directories (`IFDBuilder`) and renames,
/// and the pixels are written once instead of spooled, read back and written again.
public final class OMETIFFWriter: @unchecked Sendable {
    public let path: String
    public let spec: ImageSpec
    private let spoolPath: String
    private let spoolFD: Int32
    private var done = false
    /// The spool became the output (uncompressed): it is no longer ours to remove.
    private var renamed = false
    /// Uncompressed: tiles are written at their final offsets in the output (under a temporary name).
    private let direct: Bool
    /// Where the planes start in the spool (past the header when the spool is the output).
    private let base: Int
    /// Reduced levels built from whole level-0 tiles as they arrive (nil: built by `finish`).
    private let accumulator: PyramidAccumulator?
    /// Uncompressed: whole tiles go to the disk with O_DIRECT from a background queue (nil when
    /// the file system refuses it, or for deflate, whose spool is read back).
    private let tileWriter: DirectTileWriter?

    /// `directIO: false` keeps uncompressed tiles in the page cache too (tests compare both ways).
    public init(path: String, spec: ImageSpec, directIO: Bool = true) throws {
        guard [.uint8, .uint16, .uint32, .float32].contains(spec.sampleType) else {
            throw SlideError.writeFailed(path: path, detail: "sample type \(spec.sampleType) is not writable")
        }
        guard spec.width > 0, spec.height > 0, !spec.channelNames.isEmpty, spec.tileSize % 16 == 0, spec.tileSize > 0 else {
            throw SlideError.writeFailed(path: path, detail: "empty image or a tile size that is not a multiple of 16")
        }
        self.path = path
        self.spec = spec
        direct = !spec.deflate
        base = direct ? 4096 : 0
        accumulator = PyramidAccumulator(spec: spec)
        spoolPath = TemporaryFiles.beside(path: path, suffix: (direct ? ".tmp-" : ".spool-") + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        spoolFD = open(spoolPath, O_RDWR | O_CREAT | O_TRUNC, direct ? 0o666 : 0o600)
        guard spoolFD >= 0 else {
            throw SlideError.writeFailed(path: path, detail: String(cString: strerror(errno)))
        }
        tileWriter = direct && directIO ? DirectTileWriter(path: spoolPath, buffered: spoolFD) : nil
        // Every level's planes: reduced tiles may arrive while level 0 is written.
        let bytes = off_t(base + (0..<spec.levelCount).reduce(0) { $0 + planeBytes(level: $1) } * spec.channelNames.count)
        if ftruncate(spoolFD, bytes) != 0 {
            let why = String(cString: strerror(errno))
            cancel()   // closes and removes the spool (and marks the writer done, so deinit does not again)
            throw SlideError.writeFailed(path: path, detail: "cannot reserve \(bytes) bytes of spool: \(why)")
        }
    }

    deinit {
        if !done { cancel() }
    }

    /// Stores level-0 values of one channel. Integer types are rounded and clamped.
    public func write(channel: Int, region: PixelRegion, values: UnsafeBufferPointer<Float>) throws {
        precondition(values.count >= region.count)
        let type = spec.sampleType
        try spool(channel: channel, region: region) { r, x, n, dst in
            encode(values.baseAddress! + r * region.width + x, count: n, as: type, into: dst)
        }
    }

    /// Stores exact 32-bit labels (a uint32 image), for label masks beyond Float's 2^24.
    public func write(channel: Int, region: PixelRegion, labels: UnsafeBufferPointer<UInt32>) throws {
        precondition(spec.sampleType == .uint32 && labels.count >= region.count)
        try write(channel: channel, region: region, samples: UnsafeRawBufferPointer(labels))
    }

    /// Writes the nonzero labels of a region, each plus `offset`, over what the file holds there
    /// and leaves the rest as it is: a label mask whose objects several tiles write, each only its
    /// own (numbered from 1 in the tile, `offset` the objects before it). One read and one write
    /// per file tile the region overlaps (the rows it spans, whole tile rows), none where the
    /// region's part of a tile holds no label.
    public func overlay(channel: Int, region: PixelRegion, labels: UnsafeBufferPointer<UInt32>, offset: UInt32 = 0) throws {
        precondition(spec.sampleType == .uint32 && labels.count >= region.count)
        precondition(channel >= 0 && channel < spec.channelNames.count)
        precondition(region.x >= 0 && region.y >= 0 && region.x + region.width <= spec.width && region.y + region.height <= spec.height)
        guard region.width > 0, region.height > 0 else { return }
        try tileWriter?.drain()   // queued direct writes land before the read
        accumulator?.abandon()
        let t = spec.tileSize
        let buf = UnsafeMutablePointer<UInt32>.allocate(capacity: t * t)
        defer { buf.deallocate() }
        for ty in (region.y / t)...((region.y + region.height - 1) / t) {
            let y0 = max(region.y, ty * t), y1 = min(region.y + region.height, ty * t + t)
            for tx in (region.x / t)...((region.x + region.width - 1) / t) {
                let x0 = max(region.x, tx * t), x1 = min(region.x + region.width, tx * t + t)
                func label(_ x: Int, _ y: Int) -> UInt32 { labels[(y - region.y) * region.width + x - region.x] }
                guard (y0..<y1).contains(where: { y in (x0..<x1).contains { label($0, y) != 0 } }) else { continue }
                let off = tileOffset(channel: channel, level: 0, tx: tx, ty: ty) + (y0 - ty * t) * t * 4
                let n = (y1 - y0) * t * 4
                try readFully(UnsafeMutableRawPointer(buf), n, at: off)
                for y in y0..<y1 {
                    for x in x0..<x1 { let v = label(x, y); if v != 0 { buf[(y - y0) * t + x - tx * t] = v &+ offset } }
                }
                try writeFully(UnsafeRawPointer(buf), n, at: off)
            }
        }
    }

    /// Stores samples already in the file's sample type (row-major, `region.width` per row).
    /// A region that is exactly one tile wide goes to the file straight from `samples`.
    public func write(channel: Int, region: PixelRegion, samples: UnsafeRawBufferPointer) throws {
        let bps = spec.sampleType.bytes
        precondition(samples.count >= region.count * bps)
        let src = samples.baseAddress!
        try spool(channel: channel, region: region, rows: region.width == spec.tileSize ? src : nil) { r, x, n, dst in
            dst.copyMemory(from: src + (r * region.width + x) * bps, byteCount: n * bps)
        }
    }

    /// Alignment of the buffers `write(channel:tileX:tileY:adopting:)` takes.
    public static let tileAlignment = DirectTileWriter.alignment

    /// Stores one whole level-0 tile (`tileSize²` samples in the file's type, every one inside
    /// the image) and takes ownership of `buffer`, allocated with `tileAlignment`: uncompressed,
    /// it goes to the disk as it is, without a copy. The writer deallocates it.
    public func write(channel: Int, tileX tx: Int, tileY ty: Int, adopting buffer: UnsafeMutableRawPointer) throws {
        let t = spec.tileSize, bps = spec.sampleType.bytes
        precondition(channel >= 0 && channel < spec.channelNames.count && tx >= 0 && ty >= 0
                     && (tx + 1) * t <= spec.width && (ty + 1) * t <= spec.height)
        do {
            try reduceTile(channel: channel, tx: tx, ty: ty, samples: buffer)
        } catch {
            buffer.deallocate()
            throw error
        }
        try writeTile(buffer, t * t * bps, at: tileOffset(channel: channel, level: 0, tx: tx, ty: ty), owned: true)
    }

    /// Moves a level-0 region into the spool tile by tile: where the region covers all of a
    /// tile's columns, the tile's rows are contiguous and go out in one `pwrite`; otherwise row
    /// by row. `fill(row, column, count, destination)` encodes `count` samples of the region;
    /// `rows`, when the region is one tile wide and already encoded, is written from directly.
    private func spool(channel: Int, region: PixelRegion, rows: UnsafeRawPointer? = nil,
                       fill: (_ row: Int, _ x: Int, _ count: Int, _ dst: UnsafeMutableRawPointer) -> Void) throws {
        precondition(channel >= 0 && channel < spec.channelNames.count)
        precondition(region.x >= 0 && region.y >= 0 && region.x + region.width <= spec.width && region.y + region.height <= spec.height)
        guard region.width > 0 && region.height > 0 else { return }
        let t = spec.tileSize, bps = spec.sampleType.bytes
        let buf = UnsafeMutableRawPointer.allocate(byteCount: t * t * bps, alignment: 64)
        defer { buf.deallocate() }
        for ty in (region.y / t)...((region.y + region.height - 1) / t) {
            for tx in (region.x / t)...((region.x + region.width - 1) / t) {
                let x0 = max(region.x, tx * t), x1 = min(region.x + region.width, tx * t + t)
                let y0 = max(region.y, ty * t), y1 = min(region.y + region.height, ty * t + t)
                let tile = tileOffset(channel: channel, level: 0, tx: tx, ty: ty)
                if x0 == tx * t && x1 == min(spec.width, tx * t + t) {
                    // All of the tile's columns: rows y0..<y1 are one contiguous run, padding included.
                    let data: UnsafeRawPointer
                    if let rows, x1 - x0 == t {
                        data = rows + (y0 - region.y) * t * bps
                    } else {
                        if x1 - x0 < t { memset(buf, 0, (y1 - y0) * t * bps) }
                        for y in y0..<y1 { fill(y - region.y, x0 - region.x, x1 - x0, buf + (y - y0) * t * bps) }
                        data = UnsafeRawPointer(buf)
                    }
                    try writeTile(data, (y1 - y0) * t * bps, at: tile + (y0 - ty * t) * t * bps)
                    if y0 == ty * t && y1 == min(spec.height, ty * t + t) {
                        try reduceTile(channel: channel, tx: tx, ty: ty, samples: data)
                    } else {
                        accumulator?.abandon()
                    }
                } else {
                    accumulator?.abandon()
                    for y in y0..<y1 {
                        fill(y - region.y, x0 - region.x, x1 - x0, buf)
                        try writeTile(buf, (x1 - x0) * bps, at: tile + ((y - ty * t) * t + x0 - tx * t) * bps)
                    }
                }
            }
        }
    }

    /// Convenience for whole planes.
    public func write(channel: Int, plane: [Float]) throws {
        try plane.withUnsafeBufferPointer {
            try write(channel: channel, region: PixelRegion(x: 0, y: 0, width: spec.width, height: spec.height), values: $0)
        }
    }

    /// Whether the reduced levels so far came from whole level-0 tiles as they were written
    /// (and `finish` need not build them).
    var pyramidBuiltWhileWriting: Bool { accumulator?.complete ?? false }

    /// Removes the spool and any partial output.
    public func cancel() {
        guard !done else { return }
        done = true
        try? tileWriter?.drain()
        close(spoolFD)
        if !renamed { unlink(spoolPath) }
    }

    func tileCounts(level k: Int) -> (Int, Int) {
        let (w, h) = spec.levelSize(k), t = spec.tileSize
        return ((w + t - 1) / t, (h + t - 1) / t)
    }

    /// Bytes of one channel's plane at one level in the spool: whole tiles.
    func planeBytes(level k: Int) -> Int {
        let (nx, ny) = tileCounts(level: k)
        return nx * ny * spec.tileSize * spec.tileSize * spec.sampleType.bytes
    }

    /// Byte offset of one channel's plane at one level in the spool: level 0 planes first
    /// (as `write` fills them), then each reduced level's planes, built by `finish`.
    func planeOffset(channel c: Int, level k: Int) -> Int {
        let nc = spec.channelNames.count
        var off = base
        for j in 0..<k { off += planeBytes(level: j) * nc }
        return off + c * planeBytes(level: k)
    }

    /// Byte offset of tile (tx, ty): tiles in row-major order, each T × T samples.
    func tileOffset(channel c: Int, level k: Int, tx: Int, ty: Int) -> Int {
        let t = spec.tileSize
        return planeOffset(channel: c, level: k) + (ty * tileCounts(level: k).0 + tx) * t * t * spec.sampleType.bytes
    }

    /// Samples x0..<x0+n of row y of one plane, gathered from the tiles it crosses.
    func readRow(channel c: Int, level k: Int, y: Int, into dst: UnsafeMutableRawPointer) throws {
        let (w, _) = spec.levelSize(k), t = spec.tileSize, bps = spec.sampleType.bytes
        let ty = y / t
        for tx in 0..<tileCounts(level: k).0 {
            let n = min(t, w - tx * t)
            try readFully(dst + tx * t * bps, n * bps, at: tileOffset(channel: c, level: k, tx: tx, ty: ty) + (y - ty * t) * t * bps)
        }
    }

    func readFully(_ buf: UnsafeMutableRawPointer, _ n: Int, at off: Int) throws {
        var got = 0
        while got < n {
            let r = pread(spoolFD, buf + got, n - got, off_t(off + got))
            if r <= 0 { throw SlideError.writeFailed(path: path, detail: "spool read failed") }
            got += r
        }
    }

    /// Hands a whole level-0 tile to the accumulator, writing the reduced tiles it completes.
    private func reduceTile(channel: Int, tx: Int, ty: Int, samples: UnsafeRawPointer) throws {
        let bytes = spec.tileSize * spec.tileSize * spec.sampleType.bytes
        try accumulator?.add(channel: channel, tx: tx, ty: ty, samples: samples) { k, kx, ky, reduced in
            try writeTile(reduced, bytes, at: tileOffset(channel: channel, level: k, tx: kx, ty: ky), owned: true)
        }
    }

    /// Pixels of a plane: page-aligned whole runs go direct when they can (a buffer the writer
    /// owns as it is, a borrowed one copied); anything else waits for the queued ones (so a later
    /// write to the same place is not overtaken) and goes through the page cache. An owned
    /// buffer is freed either way.
    private func writeTile(_ buf: UnsafeRawPointer, _ n: Int, at off: Int, owned: Bool = false) throws {
        var queued = false
        defer { if owned && !queued { UnsafeMutableRawPointer(mutating: buf).deallocate() } }
        if let tw = tileWriter {
            try tw.check()   // a failed tile (a full disk) stops the caller now, not at finish
            queued = owned ? tw.write(adopting: UnsafeMutableRawPointer(mutating: buf), bytes: n, at: off)
                           : tw.write(buf, bytes: n, at: off)
            if queued { return }
            try tw.drain()
        }
        try writeFully(buf, n, at: off)
    }

    private func writeFully(_ buf: UnsafeRawPointer, _ n: Int, at off: Int) throws {
        var put = 0
        while put < n {
            let r = pwrite(spoolFD, buf + put, n - put, off_t(off + put))
            if r <= 0 { throw SlideError.writeFailed(path: path, detail: String(cString: strerror(errno))) }
            put += r
        }
    }

    /// Level k from level k−1: each pixel the mean of the 2×2 block under it (integers rounded),
    /// one output tile from the (up to) four source tiles under it.
    private func buildLevel(_ k: Int, channel c: Int) throws {
        let t = spec.tileSize, bps = spec.sampleType.bytes, type = spec.sampleType
        let (w, h) = spec.levelSize(k)
        let (nx, ny) = tileCounts(level: k), (sx, sy) = tileCounts(level: k - 1)
        let src = UnsafeMutableRawPointer.allocate(byteCount: 4 * t * t * bps, alignment: 64)   // 2T × 2T
        let dst = UnsafeMutableRawPointer.allocate(byteCount: t * t * bps, alignment: 64)
        let one = UnsafeMutableRawPointer.allocate(byteCount: t * t * bps, alignment: 64)
        defer { src.deallocate(); dst.deallocate(); one.deallocate() }
        let sw = 2 * t   // source row length in samples
        for ty in 0..<ny {
            for tx in 0..<nx {
                for j in 0..<2 { for i in 0..<2 where 2 * tx + i < sx && 2 * ty + j < sy {
                    try readFully(one, t * t * bps, at: tileOffset(channel: c, level: k - 1, tx: 2 * tx + i, ty: 2 * ty + j))
                    for r in 0..<t { memcpy(src + ((j * t + r) * sw + i * t) * bps, one + r * t * bps, t * bps) }
                } }
                memset(dst, 0, t * t * bps)
                PyramidAccumulator.reduce(src, stride: sw, into: dst, stride: t,
                                          cols: min(t, w - tx * t), rows: min(t, h - ty * t), type: type)
                try writeFully(dst, t * t * bps, at: tileOffset(channel: c, level: k, tx: tx, ty: ty))
            }
        }
    }

    /// Builds the pyramid in the spool, then writes the TIFF (tiles compressed on `threads`
    /// workers) under a temporary name and renames it into place.
    public func finish(threads: Int) throws {
        defer { cancel() }
        try tileWriter?.drain()
        let bps = spec.sampleType.bytes
        let nc = spec.channelNames.count
        let nLevels = spec.levelCount
        var rawBytes = 0, spoolBytes = 0
        for k in 0..<nLevels { let (w, h) = spec.levelSize(k); rawBytes += w * h * nc * bps; spoolBytes += planeBytes(level: k) * nc }
        if ftruncate(spoolFD, off_t(base + spoolBytes)) != 0 {
            throw SlideError.writeFailed(path: path, detail: "cannot grow the spool: \(String(cString: strerror(errno)))")
        }
        // Reduced levels: already written if every level-0 tile arrived whole, else from level 0.
        let prebuilt = pyramidBuiltWhileWriting
        for k in 1..<max(nLevels, 1) where !prebuilt {
            if threads <= 1 {
                for c in 0..<nc { try buildLevel(k, channel: c) }
            } else {
                let errors = FirstError()
                DispatchQueue.concurrentPerform(iterations: nc) { c in
                    do { try buildLevel(k, channel: c) } catch { errors.set(error) }
                }
                try errors.rethrow()
            }
        }
        if direct { return try finishInPlace(end: base + spoolBytes) }
        let big = spec.bigTIFF ?? (rawBytes > 3_900_000_000)
        let tmp = TemporaryFiles.beside(URL(fileURLWithPath: path)).path
        do {
            let h = try TIFFHandle(path: tmp, mode: big ? "w8" : "w")
            let workers = max(1, threads)
            switch spec.layout {
            case .ome:
                for c in 0..<nc {
                    try writePage(h, channel: c, level: 0, levels: nLevels, threads: workers)
                    for k in 1..<max(nLevels, 1) { try writePage(h, channel: c, level: k, levels: nLevels, threads: workers) }
                }
            case .qptiff(let info):
                for c in 0..<nc { try writePage(h, channel: c, level: 0, levels: 1, threads: workers, qpi: info) }
                try writeThumbnail(h, qpi: info)
                for k in 1..<max(nLevels, 1) {
                    for c in 0..<nc { try writePage(h, channel: c, level: k, levels: 1, threads: workers, qpi: info) }
                }
            }
            guard TIFFFlush(h.tif) == 1 else { throw SlideError.writeFailed(path: path, detail: h.failure("flush failed")) }
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let why = String(cString: strerror(errno))
            unlink(tmp)
            throw SlideError.writeFailed(path: path, detail: why)
        }
    }

    /// A page's tags (all but where its data is), for libtiff or for `IFDBuilder`.
    enum TagValue { case short(UInt16), long(UInt32), rational(Double), string(String) }

    func pageTags(channel c: Int, level k: Int, qpi: [QPIChannel]?) -> [(Int32, TagValue)] {
        let (w, hgt) = spec.levelSize(k)
        let type = spec.sampleType
        var tags: [(Int32, TagValue)] = [
            (TIFFTAG_SUBFILETYPE, .long(UInt32(k == 0 ? 0 : FILETYPE_REDUCEDIMAGE))),
            (TIFFTAG_IMAGEWIDTH, .long(UInt32(w))),
            (TIFFTAG_IMAGELENGTH, .long(UInt32(hgt))),
            (TIFFTAG_BITSPERSAMPLE, .short(UInt16(type.bytes * 8))),
            (TIFFTAG_SAMPLEFORMAT, .short(UInt16(type == .float32 ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT))),
            (TIFFTAG_SAMPLESPERPIXEL, .short(1)),
            (TIFFTAG_PHOTOMETRIC, .short(UInt16(PHOTOMETRIC_MINISBLACK))),
            (TIFFTAG_PLANARCONFIG, .short(UInt16(PLANARCONFIG_CONTIG))),
            (TIFFTAG_TILEWIDTH, .long(UInt32(spec.tileSize))),
            (TIFFTAG_TILELENGTH, .long(UInt32(spec.tileSize))),
            (TIFFTAG_COMPRESSION, .short(UInt16(spec.deflate ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE))),
            (TIFFTAG_SOFTWARE, .string(qpi == nil ? "mifq" : "PerkinElmer-QPI")),
        ]
        if let px = spec.pixelSizeUm, px > 0 {
            let perCm = 10_000 / (px * Double(1 << k))
            tags += [(TIFFTAG_RESOLUTIONUNIT, .short(UInt16(RESUNIT_CENTIMETER))),
                     (TIFFTAG_XRESOLUTION, .rational(perCm)), (TIFFTAG_YRESOLUTION, .rational(perCm))]
        }
        if let qpi {
            tags.append((TIFFTAG_IMAGEDESCRIPTION, .string(qpiXML(type: k == 0 ? "FullResolution" : "ReducedResolution", channel: qpi[c]))))
        } else if k == 0 && c == 0 {
            tags.append((TIFFTAG_IMAGEDESCRIPTION, .string(omeXML())))
        }
        return tags
    }

    private func writePage(_ h: TIFFHandle, channel c: Int, level k: Int, levels: Int, threads: Int,
                           qpi: [QPIChannel]? = nil) throws {
        let (w, hgt) = spec.levelSize(k)
        let t = spec.tileSize
        let type = spec.sampleType
        h.set(pageTags(channel: c, level: k, qpi: qpi))
        var subOffsets = [UInt64](repeating: 0, count: max(levels - 1, 0))
        if k == 0 && levels > 1 {
            subOffsets.withUnsafeMutableBufferPointer { p in
                _ = h.set(TIFFTAG_SUBIFD, UInt32(levels - 1), p.baseAddress!)
            }
        }
        let tileBytes = t * t * type.bytes
        let tilesX = (w + t - 1) / t, tilesY = (hgt + t - 1) / t
        let tiles = TileBuffers(count: tilesX, bytes: tileBytes)
        var index: UInt32 = 0
        for ty in 0..<tilesY {
            // A row of tiles read (and compressed) in parallel, written in order.
            let errors = FirstError()
            let workers = min(threads, tilesX)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                for tx in stride(from: worker, to: tilesX, by: workers) {
                    do { try readFully(tiles.raw[tx], tileBytes, at: tileOffset(channel: c, level: k, tx: tx, ty: ty)) } catch { errors.set(error); return }
                    if spec.deflate { tiles.compress(tx, level: 1) }
                }
            }
            try errors.rethrow()
            for tx in 0..<tilesX {
                let ok = spec.deflate
                    ? TIFFWriteRawTile(h.tif, index, tiles.packed[tx], tmsize_t(tiles.packedSize[tx]))
                    : TIFFWriteEncodedTile(h.tif, index, tiles.raw[tx], tmsize_t(tileBytes))
                if ok < 0 { throw SlideError.writeFailed(path: path, detail: h.failure("tile could not be written")) }
                index += 1
            }
        }
        guard TIFFWriteDirectory(h.tif) == 1 else {
            throw SlideError.writeFailed(path: path, detail: h.failure("directory could not be written"))
        }
    }

    /// Uncompressed: the planes are in place in the spool; append the QPTIFF thumbnail and the
    /// directories, write the header, and rename the spool to the output.
    private func finishInPlace(end planesEnd: Int) throws {
        let nc = spec.channelNames.count, nLevels = spec.levelCount
        let big = spec.bigTIFF ?? (planesEnd > 3_900_000_000)
        var end = planesEnd
        var pages: [IFDBuilder] = []
        func tileDirectory(channel c: Int, level k: Int, qpi: [QPIChannel]?) -> IFDBuilder {
            var b = IFDBuilder(big: big)
            b.add(pageTags(channel: c, level: k, qpi: qpi), samplesPerPixel: 1)
            let (nx, ny) = tileCounts(level: k)
            let tileBytes = UInt64(spec.tileSize * spec.tileSize * spec.sampleType.bytes)
            b.offsets(TIFFTAG_TILEOFFSETS, (0..<(nx * ny)).map { UInt64(tileOffset(channel: c, level: k, tx: $0 % nx, ty: $0 / nx)) })
            b.offsets(TIFFTAG_TILEBYTECOUNTS, [UInt64](repeating: tileBytes, count: nx * ny))
            return b
        }
        // Directory order in the file: main pages in chain order, each followed (OME) by its SubIFDs.
        var chain: [Int] = []          // indices into pages of the main chain
        var subs: [Int: [Int]] = [:]   // main page index → its SubIFD page indices
        switch spec.layout {
        case .ome:
            for c in 0..<nc {
                chain.append(pages.count)
                let main = pages.count
                pages.append(tileDirectory(channel: c, level: 0, qpi: nil))
                // Reserve the SubIFDs entry now so the directory's size is final.
                if nLevels > 1 { pages[main].directories(TIFFTAG_SUBIFD, [UInt64](repeating: 0, count: nLevels - 1)) }
                for k in 1..<max(nLevels, 1) { subs[main, default: []].append(pages.count); pages.append(tileDirectory(channel: c, level: k, qpi: nil)) }
            }
        case .qptiff(let info):
            for c in 0..<nc { chain.append(pages.count); pages.append(tileDirectory(channel: c, level: 0, qpi: info)) }
            let thumb = try thumbnail(qpi: info)
            try writeFully(thumb.rgb, thumb.rgb.count, at: end)
            var b = IFDBuilder(big: big)
            b.add(thumbnailTags(width: thumb.width, height: thumb.height), samplesPerPixel: 3)
            b.offsets(TIFFTAG_STRIPOFFSETS, [UInt64(end)])
            b.offsets(TIFFTAG_STRIPBYTECOUNTS, [UInt64(thumb.rgb.count)])
            end += (thumb.rgb.count + 7) & ~7
            chain.append(pages.count); pages.append(b)
            for k in 1..<max(nLevels, 1) {
                for c in 0..<nc { chain.append(pages.count); pages.append(tileDirectory(channel: c, level: k, qpi: info)) }
            }
        }
        // Offsets follow from the sizes (which the offsets' values do not change).
        var at = [Int](repeating: 0, count: pages.count)
        var pos = end
        for i in pages.indices { at[i] = pos; pos += pages[i].size }
        for (main, list) in subs { pages[main].directories(TIFFTAG_SUBIFD, list.map { UInt64(at[$0]) }) }
        var next = [UInt64](repeating: 0, count: pages.count)
        for (j, i) in chain.enumerated() where j + 1 < chain.count { next[i] = UInt64(at[chain[j + 1]]) }
        var blob: [UInt8] = []
        blob.reserveCapacity(pos - end)
        for i in pages.indices { blob += pages[i].serialized(at: at[i], next: next[i]) }
        try writeFully(blob, blob.count, at: end)
        let header = IFDBuilder.header(big: big, first: UInt64(at[chain[0]]))
        try writeFully(header, header.count, at: 0)
        if ftruncate(spoolFD, off_t(pos)) != 0 {
            throw SlideError.writeFailed(path: path, detail: String(cString: strerror(errno)))
        }
        guard rename(spoolPath, path) == 0 else { throw SlideError.writeFailed(path: path, detail: String(cString: strerror(errno))) }
        renamed = true
    }

    private func omeXML() -> String {
        let esc = XML.escape
        let type = spec.sampleType == .float32 ? "float" : spec.sampleType.rawValue
        var phys = ""
        if let px = spec.pixelSizeUm {
            phys = " PhysicalSizeX=\"\(px)\" PhysicalSizeXUnit=\"µm\" PhysicalSizeY=\"\(px)\" PhysicalSizeYUnit=\"µm\""
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        xml += "<OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\" Creator=\"mifq\">"
        xml += "<Image ID=\"Image:0\" Name=\"\(esc((path as NSString).lastPathComponent))\">"
        xml += "<Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"\(type)\" SizeX=\"\(spec.width)\" SizeY=\"\(spec.height)\" SizeC=\"\(spec.channelNames.count)\" SizeZ=\"1\" SizeT=\"1\"\(phys)>"
        for (i, n) in spec.channelNames.enumerated() {
            xml += "<Channel ID=\"Channel:0:\(i)\" Name=\"\(esc(n))\" SamplesPerPixel=\"1\"/>"
        }
        for i in spec.channelNames.indices {
            xml += "<TiffData FirstC=\"\(i)\" FirstZ=\"0\" FirstT=\"0\" IFD=\"\(i)\" PlaneCount=\"1\"/>"
        }
        xml += "</Pixels>"
        if spec.unmixedComponents {
            xml += "<AnnotationRef ID=\"Annotation:Unmixed\"/></Image><StructuredAnnotations>"
            xml += "<MapAnnotation ID=\"Annotation:Unmixed\"><Value><M K=\"IsUnmixedComponent\">True</M></Value></MapAnnotation>"
            xml += "</StructuredAnnotations></OME>"
        } else {
            xml += "</Image></OME>"
        }
        return xml
    }
}

@inline(__always)
func sample(_ p: UnsafeRawPointer, _ t: SampleType, _ i: Int) -> Double {
    switch t {
    case .uint8: return Double(p.load(fromByteOffset: i, as: UInt8.self))
    case .uint16: return Double(p.load(fromByteOffset: i * 2, as: UInt16.self))
    case .uint32: return Double(p.load(fromByteOffset: i * 4, as: UInt32.self))
    default: return Double(p.load(fromByteOffset: i * 4, as: Float.self))
    }
}

@inline(__always)
func store(_ v: Double, _ t: SampleType, _ p: UnsafeMutableRawPointer, _ i: Int) {
    switch t {
    case .uint8: p.storeBytes(of: UInt8(clamping: Int64(v.rounded())), toByteOffset: i, as: UInt8.self)
    case .uint16: p.storeBytes(of: UInt16(clamping: Int64(v.rounded())), toByteOffset: i * 2, as: UInt16.self)
    case .uint32: p.storeBytes(of: UInt32(clamping: Int64(v.rounded())), toByteOffset: i * 4, as: UInt32.self)
    default: p.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
    }
}

/// Float → uint16 sample, rounding half away from zero and clamping; NaN → 0. Branch-free so
/// that loops over it vectorise: clamp (NaN fails both comparisons and becomes 0), round to
/// nearest-even by adding 2^23 (floats there are spaced 1), push exact halves up (half away
/// from zero), and take the integer from the low mantissa bits.
@inlinable @inline(__always)
public func encodeUInt16(_ v: Float) -> UInt16 {
    let magic: Float = 8_388_608
    let c: Float = v > 0 ? (v < 65535 ? v : 65535) : 0
    var r = (c + magic) - magic
    r += c - r == 0.5 ? 1 : 0
    return UInt16(truncatingIfNeeded: (r + magic).bitPattern)
}

/// Float → sample type, rounding half away from zero and clamping integers; NaN → 0.
func encode(_ src: UnsafePointer<Float>, count: Int, as t: SampleType, into dst: UnsafeMutableRawPointer) {
    switch t {
    // Clamped to the type's range first, so truncating v + 0.5 is rounding half away from zero.
    case .uint8:
        let d = dst.assumingMemoryBound(to: UInt8.self)
        for i in 0..<count { let v = src[i]; d[i] = v.isNaN ? 0 : UInt8(max(0, min(255, v)) + 0.5) }
    case .uint16:
        let d = dst.assumingMemoryBound(to: UInt16.self)
        for i in 0..<count { d[i] = encodeUInt16(src[i]) }
    case .uint32:
        let d = dst.assumingMemoryBound(to: UInt32.self)
        for i in 0..<count { let v = Double(src[i]); d[i] = v.isNaN ? 0 : UInt32(max(0, min(4_294_967_295, v.rounded()))) }
    default:
        dst.assumingMemoryBound(to: Float.self).update(from: src, count: count)
    }
}

extension TIFFHandle {
    func set(_ tags: [(Int32, OMETIFFWriter.TagValue)]) {
        for (tag, v) in tags {
            switch v {
            case .short(let x): set(tag, UInt32(x))
            case .long(let x): set(tag, x)
            case .rational(let x): set(tag, x)
            case .string(let x): set(tag, string: x)
            }
        }
    }
}

extension IFDBuilder {
    /// BitsPerSample and SampleFormat take one value per sample, as libtiff writes them.
    mutating func add(_ tags: [(Int32, OMETIFFWriter.TagValue)], samplesPerPixel n: Int) {
        for (tag, v) in tags {
            switch v {
            case .short(let x): shorts(tag, [UInt16](repeating: x, count: tag == TIFFTAG_BITSPERSAMPLE || tag == TIFFTAG_SAMPLEFORMAT ? n : 1))
            case .long(let x): long(tag, x)
            case .rational(let x): rational(tag, x)
            case .string(let x): string(tag, x)
            }
        }
    }
}
