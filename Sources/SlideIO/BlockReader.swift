import CTIFF
import Foundation

/// A decoded tile or strip: `rows` × `columns` valid pixels, each pixel `stride` samples
/// wide in memory (samples per pixel for contiguous pages, else 1), starting at `sample`.
struct RawBlock {
    var data: UnsafeRawPointer
    var type: SampleType
    var rows: Int
    var columns: Int
    /// Samples between the starts of two rows.
    var rowPitch: Int
    var stride: Int
    var sample: Int
}

/// Decodes the blocks of one directory with one handle and converts samples to Float.
struct BlockReader {
    let handle: TIFFHandle
    let directory: Directory
    let path: String

    private var samplesPerBlockPixel: Int { directory.planarSeparate ? 1 : directory.samplesPerPixel }

    private func blockIndex(x: Int, y: Int, sample: Int) -> UInt32 {
        let s = UInt16(directory.planarSeparate ? sample : 0)
        if directory.tiled { return TIFFComputeTile(handle.tif, UInt32(x), UInt32(y), 0, s) }
        return TIFFComputeStrip(handle.tif, UInt32(y), s)
    }

    private var blockBytes: Int {
        directory.tiled ? Int(TIFFTileSize64(handle.tif)) : Int(TIFFStripSize64(handle.tif))
    }

    private func decode(_ index: UInt32, into buffer: UnsafeMutableRawPointer, size: Int) throws {
        let n = directory.tiled
            ? TIFFReadEncodedTile(handle.tif, index, buffer, tmsize_t(size))
            : TIFFReadEncodedStrip(handle.tif, index, buffer, tmsize_t(size))
        if n < 0 {
            let kind = directory.tiled ? "tile" : "strip"
            // No damage: this libtiff has no decoder for the compression (JPEG 2000, JPEG XL).
            guard TIFFIsCODECConfigured(directory.compression) != 0 else {
                _ = handle.messages.take()
                throw SlideError.unsupported(path: path, detail: "\(directory.compressionName) compression, which this system's libtiff cannot decode; "
                                             + "convert the file to one it can (deflate, LZW, zstd), e.g. with bfconvert")
            }
            throw SlideError.corrupt(path: path, detail: "\(kind) \(index) cannot be decoded: \(handle.failure("decoder error"))")
        }
        // A decoder may report success yet queue an error (e.g. short LZW data).
        if let why = handle.messages.take() {
            throw SlideError.corrupt(path: path, detail: "block \(index): \(why)")
        }
    }

    /// Decodes `region` and scatters each requested sample to its output buffer.
    /// With a `cache`, blocks come from it (and decoded ones go into it).
    func read(region: PixelRegion, separateSample: Int, targets: [(sample: Int, out: UnsafeMutableBufferPointer<Float>)],
              cache: BlockCache? = nil) throws {
        let bw = directory.blockWidth, bh = directory.blockHeight
        let size = blockBytes
        let scratch = cache == nil ? UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64) : nil
        defer { scratch?.deallocate() }
        let spp = samplesPerBlockPixel
        let type = directory.sampleType ?? .float32
        /// Copies the part of block (bx, by) inside the region into the targets, from `data`
        /// holding the block's rows from file row `first` on (`by`, or its tail's first).
        func copy(_ bx: Int, _ by: Int, from data: UnsafeRawPointer, first: Int) {
            let x0 = max(bx, region.x), x1 = min(bx + bw, region.x + region.width)
            let y0 = max(by, region.y), y1 = min(by + bh, region.y + region.height)
            for t in targets {
                let sampleInPixel = directory.planarSeparate ? 0 : t.sample
                for yy in y0..<y1 {
                    let src = ((yy - first) * bw + (x0 - bx)) * spp + sampleInPixel
                    let dst = (yy - region.y) * region.width + (x0 - region.x)
                    convert(type, data, from: src, stride: spp, count: x1 - x0, to: t.out.baseAddress! + dst)
                }
            }
        }
        // With a cache, a block another thread is decoding is left for last: the others are
        // read meanwhile, instead of waiting for it (each block lands in its own part of the
        // targets, so the order does not change what they hold).
        var later: [(Int, Int)] = []
        for pass in 0..<2 {
            var blocks: [(Int, Int)] = []
            if pass == 0 {
                for by in stride(from: (region.y / bh) * bh, to: region.y + region.height, by: bh) {
                    for bx in stride(from: (region.x / bw) * bw, to: region.x + region.width, by: bw) { blocks.append((bx, by)) }
                }
            } else {
                blocks = later
            }
            for (bx, by) in blocks {
                let index = blockIndex(x: bx, y: by, sample: separateSample)
                guard let cache else {
                    try decode(index, into: scratch!, size: size)
                    copy(bx, by, from: UnsafeRawPointer(scratch!), first: by)
                    continue
                }
                // The block stays alive while it is read, even if the cache drops it meanwhile.
                func copyOut(_ block: BlockCache.Block, first: Int) {
                    withExtendedLifetime(block) { copy(bx, by, from: UnsafeRawPointer(block.bytes), first: first) }
                }
                let key = BlockCache.Key(directory: directory.offset, block: index)
                // At a seam between bands (`BlockCache`): the block whole if the cache has it,
                // else the tail kept of it, else (a head, while the band below has not begun)
                // only the rows the band above reads.
                let rows = max(by, region.y)..<min(by + bh, region.y + region.height)
                let seams = cache.seams
                let tail = seams?.tail(top: by, height: bh, rows: rows) == true
                let head = seams.map { $0.head(top: by, height: bh, rows: rows) && !cache.hasReached(band: by / $0.every) } == true
                if tail || head, let whole = cache.cached(key) { copyOut(whole, first: by); continue }
                if tail, let s = seams, let kept = cache.cached(key.part(.tail)) { copyOut(kept, first: by + bh - s.halo); continue }
                let rowBytes = size / bh
                let bytes = head ? seams!.halo * rowBytes : size
                guard let block = try cache.block(head ? key.part(.head) : key, size: bytes, wait: pass == 1, decode: { buffer in
                    try decode(index, into: buffer, size: bytes)
                    if !head, let s = seams {
                        cache.reached(band: by / s.every)
                        if s.endsBand(top: by, height: bh), by + bh < directory.height {
                            cache.pinTail(key.part(.tail), seam: (by + bh) / s.every, from: buffer + size - s.halo * rowBytes, size: s.halo * rowBytes)
                        }
                    }
                }) else {
                    later.append((bx, by))
                    continue
                }
                copyOut(block, first: by)
            }
        }
    }

    /// Visits every block of one sample in order with its valid extent.
    func forEachBlock(sample: Int, _ body: (RawBlock) throws -> Void) throws {
        let bw = directory.blockWidth, bh = directory.blockHeight
        let size = blockBytes
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        defer { scratch.deallocate() }
        let spp = samplesPerBlockPixel
        for by in stride(from: 0, to: directory.height, by: bh) {
            for bx in stride(from: 0, to: directory.width, by: bw) {
                try decode(blockIndex(x: bx, y: by, sample: sample), into: scratch, size: size)
                try body(RawBlock(data: UnsafeRawPointer(scratch), type: directory.sampleType ?? .float32,
                                  rows: min(bh, directory.height - by), columns: min(bw, directory.width - bx),
                                  rowPitch: bw * spp, stride: spp,
                                  sample: directory.planarSeparate ? 0 : sample))
            }
        }
    }
}

/// Converts `count` samples starting at sample index `from`, `stride` apart, to Float. A
/// non-finite float sample (NaN or ±infinity: a masked or damaged pixel of a component file)
/// is read as 0, no signal: one such pixel would otherwise spread through every filter around
/// it, and 200 of them (0.3%) left a 256² slide without a single cell or any tissue.
@inline(__always)
func convert(_ type: SampleType, _ src: UnsafeRawPointer, from: Int, stride: Int, count: Int,
             to dst: UnsafeMutablePointer<Float>) {
    switch type {
    case .uint8: convertSamples(src.assumingMemoryBound(to: UInt8.self), from, stride, count, dst)
    case .uint16: convertSamples(src.assumingMemoryBound(to: UInt16.self), from, stride, count, dst)
    case .uint32: convertSamples(src.assumingMemoryBound(to: UInt32.self), from, stride, count, dst)
    case .int8: convertSamples(src.assumingMemoryBound(to: Int8.self), from, stride, count, dst)
    case .int16: convertSamples(src.assumingMemoryBound(to: Int16.self), from, stride, count, dst)
    case .int32: convertSamples(src.assumingMemoryBound(to: Int32.self), from, stride, count, dst)
    case .float32:
        let s = src.assumingMemoryBound(to: Float.self)
        for i in 0..<count { let v = s[from + i * stride]; dst[i] = v.isFinite ? v : 0 }
    case .float64:
        let s = src.assumingMemoryBound(to: Double.self)
        for i in 0..<count { let v = Float(s[from + i * stride]); dst[i] = v.isFinite ? v : 0 }
    }
}

@inline(__always)
private func convertSamples<T: BinaryInteger>(_ s: UnsafePointer<T>, _ from: Int, _ stride: Int, _ count: Int,
                                              _ dst: UnsafeMutablePointer<Float>) {
    if stride == 1 {
        let p = s + from
        for i in 0..<count { dst[i] = Float(p[i]) }
    } else {
        for i in 0..<count { dst[i] = Float(s[from + i * stride]) }
    }
}
