import CTIFF
import Foundation

/// A rectangle of pixels at one pyramid level.
public struct PixelRegion: Equatable, Sendable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    public var count: Int { width * height }
}

/// A multichannel TIFF slide opened for reading.
///
/// Opening reads every directory once, classifies the file (OME-TIFF, QPTIFF, multi-page,
/// multi-sample), checks that every tile of every image plane lies inside the file, and
/// keeps no pixels. Pixels are decoded on demand by `read`, which is safe to call from many
/// threads at once: each thread borrows its own libtiff handle from a per-plane pool, so no
/// handle ever switches directory and no lock is held while decoding.
public final class Slide: @unchecked Sendable {
    public let path: String
    public let format: SlideFormat
    public let isBigTIFF: Bool
    public let channels: [ChannelInfo]
    public let levels: [LevelInfo]
    public let associatedImages: [AssociatedImage]
    /// µm per level-0 pixel, nil when the file records none and no override was given.
    public let pixelSizeUm: Double?
    public let pixelSizeSource: String?
    /// µm per pixel of the file's level 0 (`pixelSizeUm` unless binned).
    public let filePixelSizeUm: Double?
    /// The file's level-0 pixels averaged, along each axis, into one level-0 pixel of this
    /// slide: 1 for the file as it is (see `binned(_:)`).
    public let binning: Int
    let planes: [[Plane]]
    /// For each level of this slide, the file's level (index into `planes`) it reads.
    let fileLevels: [Int]
    /// The file's level-0 size (this slide's own when not binned).
    public let fileWidth: Int, fileHeight: Int
    private let pools: [UInt64: HandlePool]

    public var width: Int { levels[0].width }
    public var height: Int { levels[0].height }

    /// - Parameter pixelSizeUm: overrides whatever the file says (µm per level-0 pixel).
    public init(path: String, pixelSizeUm override: Double? = nil) throws {
        self.path = path
        var st = stat()
        guard stat(path, &st) == 0 else { throw Slide.openFailure(path: path, errno: errno) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw SlideError.notATIFF(path: path, detail: "it is a directory") }
        let fileSize = UInt64(st.st_size)
        guard fileSize > 0 else { throw SlideError.empty(path: path) }
        try Slide.checkMagic(path: path)

        let h: TIFFHandle
        do {
            h = try TIFFHandle(path: path, mode: "rm")
        } catch SlideError.notATIFF(_, let why) {
            throw Slide.openingError(path: path, fileSize: fileSize, libtiff: why)
        }
        isBigTIFF = TIFFIsBigTIFF(h.tif) != 0
        var main: [Directory] = []
        var sub: [UInt64: [Directory]] = [:]
        while true {
            main.append(Directory(reading: h))
            if TIFFLastDirectory(h.tif) != 0 { break }
            // What libtiff said while reading pages it could read (an odd tag value) is no error.
            _ = h.messages.take()
            if TIFFReadDirectory(h.tif) == 0 {
                // libtiff stops without a word where the chain loops back to a page it has read:
                // the pages so far are the file's.
                guard let why = h.messages.take() else { break }
                let detail = "page \(main.count) cannot be read: \(why)"
                let inside = Slide.nextDirectoryInside(path: path, after: main[main.count - 1].offset, fileSize: fileSize)
                throw inside ? SlideError.corrupt(path: path, detail: detail) : SlideError.truncated(path: path, detail: detail)
            }
            if main.count > 100_000 { throw SlideError.corrupt(path: path, detail: "more than 100000 pages") }
        }
        for d in main where !d.subIFDs.isEmpty {
            var list: [Directory] = []
            for off in d.subIFDs {
                guard off < fileSize, h.setDirectory(off) else {
                    throw SlideError.truncated(path: path, detail: "sub-resolution directory at byte \(off) cannot be read: \(h.failure("beyond the end of the file"))")
                }
                list.append(Directory(reading: h))
            }
            sub[d.offset] = list
        }
        let layout = try SlideLayout.classify(path: path, main: main, sub: sub)
        guard !layout.planes.isEmpty, !layout.planes[0].isEmpty else {
            throw SlideError.unsupported(path: path, detail: "no image plane found")
        }
        // Every plane must be decodable: supported sample type and blocks inside the file.
        var checked = Set<UInt64>()
        for (k, level) in layout.planes.enumerated() {
            for (c, plane) in level.enumerated() where checked.insert(plane.directory.offset).inserted {
                let d = plane.directory
                let page = "level \(k) channel \(c)"
                guard d.sampleType != nil else {
                    throw SlideError.unsupported(path: path, detail: "\(page): \(d.bitsPerSample)-bit samples of format \(d.sampleFormat); mifq reads 8/16/32-bit integers and 32/64-bit floats")
                }
                guard Int32(d.photometric) != PHOTOMETRIC_YCBCR || d.isYCbCrJPEG else {
                    throw SlideError.unsupported(path: path, detail: "\(page): YCbCr colour with \(d.compressionName) compression; mifq reads YCbCr only JPEG-compressed")
                }
                guard d.width > 0, d.height > 0, d.blockWidth > 0, d.blockHeight > 0 else {
                    throw SlideError.corrupt(path: path, detail: "\(page): zero image or tile size")
                }
                // A block is decoded whole into memory: a damaged tile size (billions of pixels)
                // must fail here, not as an allocation the process cannot survive.
                let samples = d.planarSeparate ? 1 : d.samplesPerPixel
                let blockBytes = Double(d.blockWidth) * Double(d.blockHeight) * Double(samples) * Double(max(1, Int(d.bitsPerSample) / 8))
                guard blockBytes <= Double(Slide.maxBlockBytes) else {
                    let kind = d.tiled ? "tile" : "strip"
                    throw SlideError.corrupt(path: path, detail: "\(page): a \(kind) of \(d.blockWidth) × \(d.blockHeight) px would take \(Int(blockBytes / 1_048_576)) MB decoded (mifq decodes blocks of up to \(Slide.maxBlockBytes >> 20) MB)")
                }
                guard h.setDirectory(d.offset) else {
                    throw SlideError.corrupt(path: path, detail: "\(page): \(h.failure("directory cannot be re-read"))")
                }
                try d.validateBlocks(h, fileSize: fileSize, path: path, page: page)
            }
        }
        format = layout.format
        channels = layout.channels
        planes = layout.planes
        associatedImages = layout.associated
        let w0 = Double(layout.planes[0][0].directory.width)
        levels = layout.planes.enumerated().map { k, lv in
            LevelInfo(index: k, width: lv[0].directory.width, height: lv[0].directory.height,
                      downsample: w0 / Double(lv[0].directory.width))
        }
        binning = 1
        fileLevels = Array(layout.planes.indices)
        fileWidth = layout.planes[0][0].directory.width
        fileHeight = layout.planes[0][0].directory.height
        if let override, override > 0 {
            pixelSizeUm = override; pixelSizeSource = "--pixel-size"
        } else {
            pixelSizeUm = layout.pixelSizeUm; pixelSizeSource = layout.pixelSizeSource
        }
        filePixelSizeUm = pixelSizeUm
        var pools: [UInt64: HandlePool] = [:]
        for lv in planes { for p in lv where pools[p.directory.offset] == nil {
            pools[p.directory.offset] = HandlePool(path: path, directory: p.directory)
        } }
        self.pools = pools
        // Hand the handle we already have to the pool of the last plane it visited.
        if let last = checked.isEmpty ? nil : TIFFCurrentDirOffset(h.tif), let pool = pools[last] { pool.give(pool.ready(h)) }
    }

    /// This slide binned by `f` (`binned(_:)`, Slide+Binning.swift): the file's planes, a level 0
    /// of f × f means, the file's coarser levels.
    init(binning f: Int, of s: Slide) {
        path = s.path; format = s.format; isBigTIFF = s.isBigTIFF; channels = s.channels
        associatedImages = s.associatedImages; pixelSizeSource = s.pixelSizeSource
        planes = s.planes; pools = s.pools; fileWidth = s.fileWidth; fileHeight = s.fileHeight
        pixelSizeUm = s.pixelSizeUm.map { $0 * Double(f) }
        filePixelSizeUm = s.pixelSizeUm
        binning = f
        let w = (s.width + f - 1) / f, h = (s.height + f - 1) / f
        var levels = [LevelInfo(index: 0, width: w, height: h, downsample: 1)]
        var fileLevels = [0]
        // The file's levels coarser than the bins (one of the bins' own size would be a second,
        // differently reduced, level 0).
        for lv in s.levels.dropFirst() where lv.downsample > Double(f) * 1.001 {
            levels.append(LevelInfo(index: levels.count, width: lv.width, height: lv.height, downsample: Double(w) / Double(lv.width)))
            fileLevels.append(lv.index)
        }
        self.levels = levels
        self.fileLevels = fileLevels
    }

    /// Why `path` could not be opened (`errno` of the failed call): missing, a link to a missing
    /// file, or the system's reason (permission, a link that loops).
    static func openFailure(path: String, errno code: Int32) -> SlideError {
        guard code == ENOENT else { return .invalid(path: path, detail: "cannot be opened (\(String(cString: strerror(code))))") }
        return InputFile.isDanglingLink(path) ? .invalid(path: path, detail: "a symbolic link to a file that does not exist") : .notFound(path: path)
    }

    private static func checkMagic(path: String) throws {
        guard let f = fopen(path, "rb") else { throw Slide.openFailure(path: path, errno: errno) }
        defer { fclose(f) }
        var b = [UInt8](repeating: 0, count: 8)
        let n = fread(&b, 1, 8, f)
        let ok = n >= 4 && ((b[0] == 0x49 && b[1] == 0x49 && (b[2] == 42 || b[2] == 43) && b[3] == 0)
                            || (b[0] == 0x4D && b[1] == 0x4D && b[2] == 0 && (b[3] == 42 || b[3] == 43)))
        guard ok else {
            let hex = b.prefix(n).map { String(format: "%02X", $0) }.joined(separator: " ")
            var detail = "first bytes are \(hex.isEmpty ? "missing" : hex)"
            if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { detail += ", which is a PNG signature" }
            if b.starts(with: [0xFF, 0xD8]) { detail += ", which is a JPEG signature" }
            if n < 8 { throw SlideError.truncated(path: path, detail: "only \(n) bytes, shorter than a TIFF header") }
            throw SlideError.notATIFF(path: path, detail: detail)
        }
    }

    /// Whether the directory after the one at `offset` lies whole inside the file, read from the
    /// file itself: when libtiff cannot read a page, this tells a cut-off file (copied in part)
    /// from a damaged one.
    private static func nextDirectoryInside(path: String, after offset: UInt64, fileSize: UInt64) -> Bool {
        guard let chain = DirectoryChain(path: path, fileSize: fileSize), let next = chain.next(after: offset) else { return false }
        return chain.fits(next)
    }

    /// Why libtiff could not open a file whose header is a TIFF's: truncated where the first
    /// directory the header points to does not lie whole inside the file (a copy cut short:
    /// writers often put the directories after the pixels), else not a readable TIFF.
    private static func openingError(path: String, fileSize: UInt64, libtiff why: String) -> SlideError {
        if let chain = DirectoryChain(path: path, fileSize: fileSize), let first = chain.first, first >= chain.headerBytes, !chain.fits(first) {
            return .truncated(path: path, detail: "its first page is at byte \(first) of a \(fileSize)-byte file")
        }
        return .notATIFF(path: path, detail: why)
    }

    /// Pixel sizes (µm) mifq works at: slide scanners record 0.1–1 µm, microscopes reach 0.05
    /// and low magnifications a few µm. Outside, the size is almost surely a unit mix-up, and
    /// at a tenth of the range's bottom every tile's halo (tens of µm) would hold gigabytes.
    public static let plausiblePixelSizes = 0.05...20.0

    /// The largest tile or strip mifq decodes (1 GiB: a whole-slide scanner's tiles are under
    /// 4 MB; one strip holding a large image uncompressed comes next, a few hundred MB).
    public static let maxBlockBytes = 1 << 30

    /// µm per level-0 pixel, or the error every area computation must raise without a
    /// plausible one.
    public func requirePixelSize() throws -> Double {
        guard let s = pixelSizeUm else { throw SlideError.noPixelSize(path: path) }
        guard Slide.plausiblePixelSizes.contains(s) else { throw SlideError.implausiblePixelSize(path: path, micrometres: s) }
        return s
    }

    public func sampleType(channel: Int = 0, level: Int = 0) -> SampleType {
        planes[fileLevels[level]][channel].directory.sampleType ?? .float32
    }

    /// The value a channel's samples at `level` take where the camera saturated: the file's
    /// MaxSampleValue when it sets a camera's bit depth below the type's (2ᵏ − 1, k ≥ 10: a
    /// 12-bit camera's 4095 in 16-bit samples; other values are taken for a writer's mistake),
    /// else the integer type's maximum; nil for floating-point samples, which have no ceiling
    /// (unmixed components).
    public func saturationLevel(channel: Int, level: Int = 0) -> Double? {
        let d = planes[fileLevels[level]][channel].directory
        guard let top = d.sampleType?.maximum else { return nil }
        if let m = d.maxSampleValue, m >= 1023, m & (m &+ 1) == 0, Double(m) < top { return Double(m) }
        return top
    }

    /// Summary of how level 0 is stored (the first channel's plane).
    public var storage: (compression: String, tiled: Bool, blockWidth: Int, blockHeight: Int) {
        let d = planes[0][0].directory
        return (d.compressionName, d.tiled, d.blockWidth, d.blockHeight)
    }

    /// Height in rows of the blocks (tiles or strips) that store a level (its first channel's plane).
    public func blockHeight(level: Int) -> Int {
        max(1, planes[fileLevels[level]][0].directory.blockHeight / (level == 0 ? binning : 1))
    }

    /// File offset of a channel's directory at a level (for benchmarks that drive libtiff directly).
    public func planeDirectoryOffset(channel: Int, level: Int = 0) -> UInt64 { planes[fileLevels[level]][channel].directory.offset }

    /// Whether every channel is an unmixed component (the file says so): such a slide's
    /// channels are read as components, not unmixed again.
    public var isUnmixed: Bool { ChannelInfo.allUnmixed(channels) }

    /// Index of the channel whose name or biomarker equals `name` (case-insensitive).
    public func channelIndex(named name: String) -> Int? {
        let key = name.lowercased()
        return channels.first { $0.name.lowercased() == key || $0.biomarker?.lowercased() == key }?.index
    }

    // MARK: reading pixels

    /// A cache for reads of a window of `width` × `height` pixels that moves over `channels`
    /// at `level`: room for every block such a window touches plus one more row and two more
    /// columns of them, so that a block shared by neighbouring windows is decoded once. (A
    /// window that sweeps down a column and then moves over refreshes the blocks the next
    /// column shares as it goes; with one spare column the least recently used rule dropped
    /// some of them before the next column reached them: the 16384² slide's tile pass decoded
    /// 8500–8850 blocks instead of 7252.) At most `budget` bytes. Several threads may read through one cache; each reader that moves its own kind
    /// of window over the slide (tile pass, tissue pass, QC picture) keeps its own. A window
    /// that sweeps bands (the tile pass) gives where they meet, `seams` (in the level's
    /// pixels), so that the blocks there are decoded once too.
    public func blockCache(window width: Int, height: Int, channels wanted: [Int], level: Int = 0, budget: Int = 256 << 20,
                           seams: BlockCache.Seams? = nil) -> BlockCache {
        // A binned level 0 reads windows `binning` times larger from the file's.
        let b = level == 0 ? binning : 1
        let (width, height) = (width * b, height * b)
        var seen = Set<[Int]>()
        var bytes = 0
        for c in wanted where c >= 0 && c < channels.count {
            let p = planes[fileLevels[level]][c], d = p.directory
            guard seen.insert([Int(d.offset), d.planarSeparate ? p.sample : -1]).inserted else { continue }
            let across = min((width + d.blockWidth - 1) / d.blockWidth + 2, (d.width + d.blockWidth - 1) / d.blockWidth)
            let down = min((height + d.blockHeight - 1) / d.blockHeight + 1, (d.height + d.blockHeight - 1) / d.blockHeight)
            let samples = d.planarSeparate ? 1 : d.samplesPerPixel
            bytes += across * down * d.blockWidth * d.blockHeight * samples * max(1, Int(d.bitsPerSample) / 8)
        }
        return BlockCache(capacity: min(bytes, budget), seams: seams.map { BlockCache.Seams(every: $0.every * b, halo: $0.halo * b) })
    }

    /// Decodes `region` of each channel in `channels` at `level` into the matching buffer
    /// (row-major, `region.width` × `region.height` floats each). Tiles shared by several
    /// channels (contiguous multi-sample pages) are decoded once; with a `cache`, blocks it
    /// holds are not decoded again.
    public func read(channels wanted: [Int], level: Int = 0, region: PixelRegion,
                     into outputs: [UnsafeMutableBufferPointer<Float>], cache: BlockCache? = nil) throws {
        guard level >= 0, level < levels.count else {
            throw SlideError.badRegion(path: path, detail: "level \(level) does not exist (the file has \(levels.count))")
        }
        let lv = levels[level]
        guard region.x >= 0, region.y >= 0, region.width > 0, region.height > 0,
              region.x + region.width <= lv.width, region.y + region.height <= lv.height else {
            throw SlideError.badRegion(path: path, detail: "\(region) lies outside the \(lv.width)×\(lv.height) level \(level)")
        }
        precondition(outputs.count == wanted.count && outputs.allSatisfy { $0.count >= region.count })
        for c in wanted where c < 0 || c >= channels.count {
            throw SlideError.badChannel(path: path, detail: "channel \(c) does not exist (the slide has \(channels.count))")
        }
        if level == 0 && binning > 1 {
            try readBinned(channels: wanted, region: region, into: outputs, cache: cache)
        } else {
            try readFile(channels: wanted, level: fileLevels[level], region: region, into: outputs, cache: cache)
        }
    }

    /// `read` at one of the file's own levels.
    func readFile(channels wanted: [Int], level: Int, region: PixelRegion,
                          into outputs: [UnsafeMutableBufferPointer<Float>], cache: BlockCache?) throws {
        // Group channels that decode from the same blocks.
        var groups: [(offset: UInt64, separate: Int, items: [(Int, Int)])] = []
        for (k, c) in wanted.enumerated() {
            let p = planes[level][c]
            let sep = p.directory.planarSeparate ? p.sample : -1
            if let g = groups.firstIndex(where: { $0.offset == p.directory.offset && $0.separate == sep }) {
                groups[g].items.append((p.sample, k))
            } else {
                groups.append((p.directory.offset, sep, [(p.sample, k)]))
            }
        }
        for g in groups {
            let dir = planes[level][wanted[g.items[0].1]].directory
            try withHandle(dir.offset) { h in
                try BlockReader(handle: h, directory: dir, path: path).read(
                    region: region, separateSample: max(g.separate, 0),
                    targets: g.items.map { ($0.0, outputs[$0.1]) }, cache: cache)
            }
        }
    }

    /// Convenience: one channel's region as a new array.
    public func read(channel: Int, level: Int = 0, region: PixelRegion, cache: BlockCache? = nil) throws -> [Float] {
        var out = [Float](repeating: 0, count: region.count)
        try out.withUnsafeMutableBufferPointer { try read(channels: [channel], level: level, region: region, into: [$0], cache: cache) }
        return out
    }

    /// Calls `body` with every decoded block (tile or strip) of one channel at one level, in
    /// file order, as raw native-endian samples. Used for exact statistics.
    func forEachBlock(channel: Int, level: Int, _ body: (RawBlock) throws -> Void) throws {
        precondition(level > 0 || binning == 1, "the blocks of a binned level 0 are the file's")
        let p = planes[fileLevels[level]][channel]
        try withHandle(p.directory.offset) { h in
            try BlockReader(handle: h, directory: p.directory, path: path).forEachBlock(sample: p.sample, body)
        }
    }

    private func withHandle<T>(_ offset: UInt64, _ body: (TIFFHandle) throws -> T) throws -> T {
        guard let pool = pools[offset] else { preconditionFailure("no pool for directory \(offset)") }
        let h = try pool.take()
        defer { pool.give(h) }
        return try body(h)
    }
}

/// Open libtiff handles positioned at one directory, lent to one thread at a time.
final class HandlePool: @unchecked Sendable {
    let path: String
    let offset: UInt64
    /// The directory's blocks are JPEG stored as YCbCr, which libtiff must be asked for as RGB.
    let rgbFromYCbCr: Bool
    private var free: [TIFFHandle] = []
    private let lock = NSLock()

    init(path: String, directory: Directory) {
        self.path = path; offset = directory.offset; rgbFromYCbCr = directory.isYCbCrJPEG
    }

    func take() throws -> TIFFHandle {
        lock.lock()
        if let h = free.popLast() { lock.unlock(); return h }
        lock.unlock()
        let h = try TIFFHandle(path: path, mode: "rm")
        guard h.setDirectory(offset) else {
            throw SlideError.corrupt(path: path, detail: "directory at byte \(offset): \(h.failure("cannot be read"))")
        }
        return ready(h)
    }

    /// `h`, positioned at this pool's directory, made ready to decode it: YCbCr JPEG blocks come
    /// out as RGB, three samples a pixel, as the directory describes them.
    func ready(_ h: TIFFHandle) -> TIFFHandle {
        if rgbFromYCbCr { h.set(TIFFTAG_JPEGCOLORMODE, Int32(JPEGCOLORMODE_RGB)) }
        return h
    }

    func give(_ h: TIFFHandle) {
        guard TIFFCurrentDirOffset(h.tif) == offset else { return }
        lock.lock(); free.append(h); lock.unlock()
    }
}

/// A TIFF's directory chain read from its bytes, without libtiff: where libtiff refuses a file,
/// this says whether the directories it needed lie inside the file.
struct DirectoryChain {
    let path: String
    let fileSize: UInt64
    let bigTIFF: Bool
    let bigEndian: Bool
    /// The first directory's offset, as the header gives it.
    let first: UInt64?

    /// nil where the file cannot be opened or its header is not a TIFF's.
    init?(path: String, fileSize: UInt64) {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var b = [UInt8](repeating: 0, count: 4)
        guard fread(&b, 1, 4, f) == 4, b[0] == b[1], b[0] == 0x49 || b[0] == 0x4D else { return nil }
        self.path = path
        self.fileSize = fileSize
        bigEndian = b[0] == 0x4D
        bigTIFF = (bigEndian ? b[3] : b[2]) == 43
        // A BigTIFF's header: version, offset size 8, 0, then the 8-byte offset at byte 8.
        first = Self.read(f, at: bigTIFF ? 8 : 4, bytes: bigTIFF ? 8 : 4, fileSize: fileSize, bigEndian: bigEndian)
    }

    /// The header's size: a first offset inside it points at no directory (damage, not a cut).
    var headerBytes: UInt64 { bigTIFF ? 16 : 8 }
    private var countBytes: UInt64 { bigTIFF ? 8 : 2 }
    private var entryBytes: UInt64 { bigTIFF ? 20 : 12 }
    private var offsetBytes: Int { bigTIFF ? 8 : 4 }

    /// The unsigned integer of `n` bytes at `at` in the file's byte order, nil past its end.
    private static func read(_ f: UnsafeMutablePointer<FILE>, at: UInt64, bytes n: Int, fileSize: UInt64, bigEndian: Bool) -> UInt64? {
        guard at < fileSize, fileSize - at >= UInt64(n), fseeko(f, off_t(at), SEEK_SET) == 0 else { return nil }
        var b = [UInt8](repeating: 0, count: n)
        guard fread(&b, 1, n, f) == n else { return nil }
        return (bigEndian ? b : b.reversed()).reduce(0) { $0 << 8 | UInt64($1) }
    }

    private func read(_ at: UInt64, _ n: Int) -> UInt64? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        return Self.read(f, at: at, bytes: n, fileSize: fileSize, bigEndian: bigEndian)
    }

    /// Whether the directory at `offset` (its entry count, entries and next offset) lies whole
    /// inside the file.
    func fits(_ offset: UInt64) -> Bool {
        // Counts above the file's size cannot fit (and must not overflow the product below).
        guard let n = read(offset, Int(countBytes)), n < fileSize else { return false }
        return fileSize - offset >= countBytes + n * entryBytes + UInt64(offsetBytes)
    }

    /// The offset of the directory after the one at `offset`, nil where that one does not fit.
    func next(after offset: UInt64) -> UInt64? {
        guard let n = read(offset, Int(countBytes)), n < fileSize else { return nil }
        return read(offset + countBytes + n * entryBytes, offsetBytes)
    }
}
