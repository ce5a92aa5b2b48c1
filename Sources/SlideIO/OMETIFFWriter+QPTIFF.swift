import CTIFF
import Foundation

/// The QPTIFF flavour: PerkinElmer-QPI XML on every page and the RGB thumbnail page.
extension OMETIFFWriter {
    func qpiXML(type: String, channel q: QPIChannel?) -> String {
        var x = "<?xml version=\"1.0\" encoding=\"utf-16\"?>\r\n<PerkinElmer-QPI-ImageDescription>\r\n"
        x += "<DescriptionVersion>2</DescriptionVersion>\r\n<AcquisitionSoftware>mifq simulate</AcquisitionSoftware>\r\n"
        x += "<ImageType>\(type)</ImageType>\r\n"
        if let q {
            if spec.unmixedComponents { x += "<IsUnmixedComponent>True</IsUnmixedComponent>\r\n" }
            x += "<Name>\(q.fluor)</Name>\r\n<Biomarker>\(q.biomarker)</Biomarker>\r\n"
            x += "<Color>\(q.color.0),\(q.color.1),\(q.color.2)</Color>\r\n"
        }
        if let px = spec.pixelSizeUm {
            x += "<ScanProfile><root><ScanResolution><PixelSizeMicrons>\(px)</PixelSizeMicrons></ScanResolution></root></ScanProfile>\r\n"
        }
        x += "</PerkinElmer-QPI-ImageDescription>"
        return x
    }

    /// An RGB (8-bit) overview of the channels, each in its QPI colour, longest side ≤ 512,
    /// sampled from the smallest pyramid level that is still at least that large.
    func writeThumbnail(_ h: TIFFHandle, qpi: [QPIChannel]) throws {
        let thumb = try thumbnail(qpi: qpi)
        var rgb = thumb.rgb
        h.set(thumbnailTags(width: thumb.width, height: thumb.height))
        let ok = rgb.withUnsafeMutableBytes { TIFFWriteEncodedStrip(h.tif, 0, $0.baseAddress, tmsize_t($0.count)) }
        guard ok >= 0, TIFFWriteDirectory(h.tif) == 1 else {
            throw SlideError.writeFailed(path: path, detail: h.failure("thumbnail could not be written"))
        }
    }

    func thumbnailTags(width: Int, height: Int) -> [(Int32, TagValue)] {
        [(TIFFTAG_SUBFILETYPE, .long(UInt32(FILETYPE_REDUCEDIMAGE))),
         (TIFFTAG_IMAGEWIDTH, .long(UInt32(width))), (TIFFTAG_IMAGELENGTH, .long(UInt32(height))),
         (TIFFTAG_BITSPERSAMPLE, .short(8)), (TIFFTAG_SAMPLEFORMAT, .short(UInt16(SAMPLEFORMAT_UINT))),
         (TIFFTAG_SAMPLESPERPIXEL, .short(3)), (TIFFTAG_PHOTOMETRIC, .short(UInt16(PHOTOMETRIC_RGB))),
         (TIFFTAG_PLANARCONFIG, .short(UInt16(PLANARCONFIG_CONTIG))), (TIFFTAG_ROWSPERSTRIP, .long(UInt32(height))),
         (TIFFTAG_COMPRESSION, .short(UInt16(COMPRESSION_NONE))), (TIFFTAG_SOFTWARE, .string("PerkinElmer-QPI")),
         (TIFFTAG_IMAGEDESCRIPTION, .string(qpiXML(type: "Thumbnail", channel: nil)))]
    }

    /// The thumbnail's pixels (interleaved RGB rows).
    func thumbnail(qpi: [QPIChannel]) throws -> (width: Int, height: Int, rgb: [UInt8]) {
        var k = 0
        while k + 1 < spec.levelCount && max(spec.levelSize(k + 1).0, spec.levelSize(k + 1).1) >= 512 { k += 1 }
        let (lw, lh) = spec.levelSize(k)
        let f = max(1, (max(lw, lh) + 511) / 512)
        let w = max(1, lw / f), hgt = max(1, lh / f)
        let bps = spec.sampleType.bytes
        let nc = spec.channelNames.count
        let row = UnsafeMutableRawPointer.allocate(byteCount: (lw + spec.tileSize) * bps, alignment: 16)
        defer { row.deallocate() }
        var acc = [Double](repeating: 0, count: w * hgt * 3)
        for c in 0..<nc {
            var v = [Double](repeating: 0, count: w * hgt)
            for y in 0..<hgt {
                try readRow(channel: c, level: k, y: y * f, into: row)
                for x in 0..<w { v[y * w + x] = sample(row, spec.sampleType, x * f) }
            }
            // Display scale: the 99.5th percentile.
            let sorted = v.sorted()
            let scale = max(sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.995))], 1e-9)
            let col = c < qpi.count ? qpi[c].color : (255, 255, 255)
            for i in 0..<(w * hgt) {
                let t = min(1, v[i] / scale)
                acc[3 * i] += t * Double(col.0); acc[3 * i + 1] += t * Double(col.1); acc[3 * i + 2] += t * Double(col.2)
            }
        }
        return (w, hgt, acc.map { UInt8(min(255, $0)) })
    }
}
