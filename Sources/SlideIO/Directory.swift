import CTIFF
import Foundation

/// How a page stores its samples.
public enum SampleType: String, Codable, Sendable {
    case uint8, uint16, uint32, int8, int16, int32, float32, float64

    public var bytes: Int {
        switch self {
        case .uint8, .int8: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .float64: return 8
        }
    }
    public var isInteger: Bool { self != .float32 && self != .float64 }

    /// The largest value the type holds; nil for floating point (no ceiling).
    public var maximum: Double? {
        switch self {
        case .uint8: return Double(UInt8.max)
        case .uint16: return Double(UInt16.max)
        case .uint32: return Double(UInt32.max)
        case .int8: return Double(Int8.max)
        case .int16: return Double(Int16.max)
        case .int32: return Double(Int32.max)
        case .float32, .float64: return nil
        }
    }

    init?(bits: UInt16, format: UInt16) {
        switch (Int32(format), bits) {
        case (SAMPLEFORMAT_UINT, 8): self = .uint8
        case (SAMPLEFORMAT_UINT, 16): self = .uint16
        case (SAMPLEFORMAT_UINT, 32): self = .uint32
        case (SAMPLEFORMAT_INT, 8): self = .int8
        case (SAMPLEFORMAT_INT, 16): self = .int16
        case (SAMPLEFORMAT_INT, 32): self = .int32
        case (SAMPLEFORMAT_IEEEFP, 32): self = .float32
        case (SAMPLEFORMAT_IEEEFP, 64): self = .float64
        default: return nil
        }
    }
}

/// The facts about one TIFF directory (IFD) that decoding needs.
struct Directory {
    var offset: UInt64
    var width: Int
    var height: Int
    var samplesPerPixel: Int
    var planarSeparate: Bool
    var bitsPerSample: UInt16
    var sampleFormat: UInt16
    var sampleType: SampleType?
    /// The MaxSampleValue tag when the file sets it (a 12-bit camera's 4095 in 16-bit samples).
    var maxSampleValue: UInt16?
    var photometric: UInt16
    var compression: UInt16
    var tiled: Bool
    /// Tile size, or (width, rows per strip) for stripped pages.
    var blockWidth: Int
    var blockHeight: Int
    var newSubfileType: UInt32
    var description: String?
    var software: String?
    var pageName: String?
    var xResolution: Float?
    var yResolution: Float?
    var resolutionUnit: UInt16
    var subIFDs: [UInt64]

    var isReducedResolution: Bool { newSubfileType & 1 != 0 }

    /// JPEG blocks stored as YCbCr (brightfield RGB scans): libtiff hands them over subsampled,
    /// as stored, unless it is asked for RGB (`HandlePool.ready`).
    var isYCbCrJPEG: Bool { Int32(photometric) == PHOTOMETRIC_YCBCR && Int32(compression) == COMPRESSION_JPEG }

    var compressionName: String {
        switch Int32(compression) {
        case COMPRESSION_NONE: return "none"
        case COMPRESSION_LZW: return "LZW"
        case COMPRESSION_ADOBE_DEFLATE, COMPRESSION_DEFLATE: return "deflate"
        case COMPRESSION_JPEG, COMPRESSION_OJPEG: return "JPEG"
        case COMPRESSION_PACKBITS: return "PackBits"
        case COMPRESSION_LZMA: return "LZMA"
        case COMPRESSION_ZSTD: return "zstd"
        case COMPRESSION_WEBP: return "WebP"
        case 33003, 33005, 34712: return "JPEG 2000"
        case 50002, 52546: return "JPEG XL"
        default: return "code \(compression)"
        }
    }

    /// Reads the current directory of `handle`.
    init(reading h: TIFFHandle) {
        offset = TIFFCurrentDirOffset(h.tif)
        width = Int(h.uint32(TIFFTAG_IMAGEWIDTH) ?? 0)
        height = Int(h.uint32(TIFFTAG_IMAGELENGTH) ?? 0)
        samplesPerPixel = Int(h.uint16(TIFFTAG_SAMPLESPERPIXEL) ?? 1)
        planarSeparate = Int32(h.uint16(TIFFTAG_PLANARCONFIG) ?? UInt16(PLANARCONFIG_CONTIG)) == PLANARCONFIG_SEPARATE
        bitsPerSample = h.uint16(TIFFTAG_BITSPERSAMPLE) ?? 1
        sampleFormat = h.uint16(TIFFTAG_SAMPLEFORMAT) ?? UInt16(SAMPLEFORMAT_UINT)
        sampleType = SampleType(bits: bitsPerSample, format: sampleFormat)
        maxSampleValue = h.uint16(TIFFTAG_MAXSAMPLEVALUE, defaulted: false)
        photometric = h.uint16(TIFFTAG_PHOTOMETRIC, defaulted: false) ?? UInt16(PHOTOMETRIC_MINISBLACK)
        compression = h.uint16(TIFFTAG_COMPRESSION) ?? UInt16(COMPRESSION_NONE)
        tiled = TIFFIsTiled(h.tif) != 0
        if tiled {
            blockWidth = Int(h.uint32(TIFFTAG_TILEWIDTH) ?? 0)
            blockHeight = Int(h.uint32(TIFFTAG_TILELENGTH) ?? 0)
        } else {
            blockWidth = width
            var rps: UInt32 = 0
            let ok = withUnsafeMutablePointer(to: &rps) { p in
                withVaList([p]) { TIFFVGetFieldDefaulted(h.tif, UInt32(TIFFTAG_ROWSPERSTRIP), $0) }
            }
            let rows = ok == 1 ? Int(min(rps, UInt32(max(height, 1)))) : height
            blockHeight = max(rows, 1)
        }
        newSubfileType = h.uint32(TIFFTAG_SUBFILETYPE) ?? 0
        description = h.string(TIFFTAG_IMAGEDESCRIPTION)
        software = h.string(TIFFTAG_SOFTWARE)
        pageName = h.string(TIFFTAG_PAGENAME)
        xResolution = h.float(TIFFTAG_XRESOLUTION)
        yResolution = h.float(TIFFTAG_YRESOLUTION)
        resolutionUnit = h.uint16(TIFFTAG_RESOLUTIONUNIT) ?? UInt16(RESUNIT_INCH)
        subIFDs = h.subIFDOffsets()
    }

    /// µm per pixel from the resolution tags, when the unit is physical.
    var resolutionPixelSizeUm: Double? {
        guard let x = xResolution, x > 0, x.isFinite else { return nil }
        switch Int32(resolutionUnit) {
        case RESUNIT_CENTIMETER: return 10_000 / Double(x)
        case RESUNIT_INCH:
            // Many writers store a meaningless 72 dpi (or 1) for "no resolution".
            if x <= 300 { return nil }
            return 25_400 / Double(x)
        default: return nil
        }
    }

    /// Checks that every tile or strip lies inside the file, so that a truncated or
    /// damaged file fails when it is opened, not halfway through a slide.
    func validateBlocks(_ h: TIFFHandle, fileSize: UInt64, path: String, page: String) throws {
        let count = tiled ? Int(TIFFNumberOfTiles(h.tif)) : Int(TIFFNumberOfStrips(h.tif))
        if count == 0 {
            throw SlideError.corrupt(path: path, detail: "\(page) has no tile or strip offsets")
        }
        let kind = tiled ? "tile" : "strip"
        for i in 0..<count {
            var err: Int32 = 0
            let off = TIFFGetStrileOffsetWithErr(h.tif, UInt32(i), &err)
            let n = TIFFGetStrileByteCountWithErr(h.tif, UInt32(i), &err)
            if err != 0 {
                throw SlideError.corrupt(path: path, detail: "\(page): cannot read the offset of \(kind) \(i)")
            }
            if n == 0 {
                throw SlideError.corrupt(path: path, detail: "\(page): \(kind) \(i) has a byte count of 0")
            }
            if off < 8 || off > fileSize || n > fileSize - off {
                let what = off > fileSize || off + n > fileSize ? SlideError.truncated(
                    path: path,
                    detail: "\(page): \(kind) \(i) ends at byte \(off &+ n) but the file has \(fileSize) bytes")
                    : SlideError.corrupt(path: path, detail: "\(page): \(kind) \(i) has offset \(off)")
                throw what
            }
        }
    }
}
