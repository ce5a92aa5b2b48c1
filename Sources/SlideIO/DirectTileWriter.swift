import Dispatch
import Foundation

/// Whole tiles of an uncompressed output, written with O_DIRECT from a background queue.
///
/// A tile is copied into a page-aligned buffer on the caller's thread and handed to the disk
/// by DMA while the caller goes on: the kernel does not copy it into the page cache (5 GB for a
/// 16k × 16k × 7 slide, seconds of system time on the writing thread), and writing a slide
/// larger than memory does not push everything else out of the cache. The output is then read
/// from disk, not from memory, the first time. At most `inFlight` tiles wait at once.
///
/// nil where the file system refuses O_DIRECT; a write it refuses later (alignment) goes
/// through the ordinary descriptor instead. `drain()` waits for every queued tile and rethrows
/// the first failure; call it before reading the file back or renaming it.
final class DirectTileWriter: @unchecked Sendable {
    private let fd: Int32
    private let buffered: Int32
    private let path: String
    private let queue = DispatchQueue(label: "mifq.direct-write")
    private let group = DispatchGroup()
    private let slots: DispatchSemaphore
    private let errors = FirstError()
    static let alignment = 4096
    /// Linux's O_DIRECT (x86-64 and arm64 differ; Glibc's module does not export it).
    #if arch(arm64)
    private static let oDirect: Int32 = 0o200000
    #else
    private static let oDirect: Int32 = 0o40000
    #endif

    /// `buffered`: the caller's descriptor of the same file, for writes O_DIRECT refuses.
    init?(path: String, buffered: Int32, inFlight: Int = 8) {
        #if os(Linux)
        fd = open(path, O_WRONLY | DirectTileWriter.oDirect)
        #else
        fd = -1
        #endif
        guard fd >= 0 else { return nil }
        self.buffered = buffered
        self.path = path
        slots = DispatchSemaphore(value: inFlight)
    }

    deinit {
        group.wait()
        close(fd)
    }

    /// Queues a copy of `bytes` bytes for file offset `offset`; false (nothing queued) when
    /// offset or size is not a multiple of the alignment.
    func write(_ src: UnsafeRawPointer, bytes: Int, at offset: Int) -> Bool {
        let a = DirectTileWriter.alignment
        guard bytes > 0, offset % a == 0, bytes % a == 0 else { return false }
        let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: a)
        copy.copyMemory(from: src, byteCount: bytes)
        return write(adopting: copy, bytes: bytes, at: offset)
    }

    /// Queues `buffer` itself, which the queue deallocates once written; false (the caller
    /// keeps it) when buffer, offset or size is not aligned.
    func write(adopting buffer: UnsafeMutableRawPointer, bytes: Int, at offset: Int) -> Bool {
        let a = DirectTileWriter.alignment
        guard bytes > 0, offset % a == 0, bytes % a == 0, Int(bitPattern: buffer) % a == 0 else { return false }
        nonisolated(unsafe) let buf = buffer   // owned by the block below from here on
        slots.wait()
        queue.async(group: group) { [self] in
            defer { buf.deallocate(); slots.signal() }
            var put = 0, target = fd
            while put < bytes {
                let r = pwrite(target, buf + put, bytes - put, off_t(offset + put))
                if r < 0 && errno == EINTR { continue }
                if r < 0 && errno == EINVAL && target == fd { target = buffered; continue }   // refused: the page cache after all
                if r <= 0 {
                    errors.set(SlideError.writeFailed(path: path, detail: r < 0 ? String(cString: strerror(errno)) : "short write"))
                    return
                }
                put += r
            }
        }
        return true
    }

    /// Throws the first failure of a tile written so far, without waiting for the queue.
    func check() throws { try errors.rethrow() }

    /// Waits for every queued tile; throws the first failure.
    func drain() throws {
        group.wait()
        try errors.rethrow()
    }
}
