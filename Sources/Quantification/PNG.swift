import CZlib
import Foundation
import SlideIO

/// Minimal PNG encoder (8-bit RGB, filter 0, zlib through the system library). zlib's fastest
/// level: on a 1024² QC picture it takes a quarter of the default level's time (0.035 against
/// 0.13 s) for a file 12% larger.
public enum PNG {
    public static func encode(rgb: [UInt8], width: Int, height: Int) -> Data? {
        var raw = [UInt8]()
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw += rgb[(y * width * 3)..<((y + 1) * width * 3)]
        }
        var destLen = compressBound(uLong(raw.count))
        var z = [UInt8](repeating: 0, count: Int(destLen))
        guard compress2(&z, &destLen, raw, uLong(raw.count), Z_BEST_SPEED) == Z_OK else { return nil }
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func chunk(_ type: String, _ body: [UInt8]) {
            var len = UInt32(body.count).bigEndian
            png.append(Data(bytes: &len, count: 4))
            let t = Array(type.utf8)
            png.append(contentsOf: t)
            png.append(contentsOf: body)
            var crc = crc32(0, t, uInt(t.count))
            crc = body.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt(body.count)) }
            var c = UInt32(crc).bigEndian
            png.append(Data(bytes: &c, count: 4))
        }
        func be(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }
        chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
        chunk("IDAT", Array(z[0..<Int(destLen)]))
        chunk("IEND", [])
        return png
    }

    public static func write(rgb: [UInt8], width: Int, height: Int, to url: URL) throws {
        guard let data = encode(rgb: rgb, width: width, height: height) else {
            throw SlideError.writeFailed(path: url.path, detail: "PNG compression failed")
        }
        try AtomicFile.write(data, to: url)
    }
}
