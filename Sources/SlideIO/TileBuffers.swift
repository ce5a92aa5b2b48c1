import CZlib
import Foundation

/// One band's tiles: raw buffers and their deflate (zlib) streams, compressed in parallel.
final class TileBuffers: @unchecked Sendable {
    let raw: [UnsafeMutableRawPointer]
    let packed: [UnsafeMutablePointer<UInt8>]
    let packedSize: UnsafeMutablePointer<Int>
    let bytes: Int
    let bound: Int

    init(count: Int, bytes: Int) {
        self.bytes = bytes
        bound = Int(compressBound(uLong(bytes)))
        raw = (0..<count).map { _ in UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        packed = (0..<count).map { [bound] _ in UnsafeMutablePointer<UInt8>.allocate(capacity: bound) }
        packedSize = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        packedSize.initialize(repeating: 0, count: max(count, 1))
    }

    /// Adobe deflate (TIFF compression 8) is a zlib stream, which is what compress2 writes.
    func compress(_ i: Int, level: Int32) {
        var n = uLong(bound)
        _ = compress2(packed[i], &n, raw[i].assumingMemoryBound(to: UInt8.self), uLong(bytes), level)
        packedSize[i] = Int(n)   // distinct index per worker: no overlap
    }

    deinit {
        raw.forEach { $0.deallocate() }
        packed.forEach { $0.deallocate() }
        packedSize.deallocate()
    }
}
