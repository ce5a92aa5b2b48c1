import Foundation
import Phenotyping
import SlideIO

/// Per-cell records on disk (Float32 fields), written once and read back in order.
final class RecordSpool {
    let url: URL
    private var handle: FileHandle?
    private var buffer = [Float]()
    private(set) var count = 0

    /// The spool lies in `directory` (the slide's output folder), which its errors name.
    let directory: URL

    init(directory: URL) throws {
        self.directory = directory
        url = TemporaryFiles.spool(in: directory)
        try AtomicFile.writing(directory.path) {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw SlideError.writeFailed(path: directory.path, detail: "cannot create a spool file")
            }
            handle = try FileHandle(forWritingTo: url)
        }
    }

    /// `mapX`, `mapY`: the tissue-map pixel under the centroid (exact in Float below 2^24).
    func append(_ r: CellRecord, mapX: Int, mapY: Int) throws {
        buffer += [Float(r.x), Float(r.y), Float(r.nucleusPixels), Float(r.cellPixels), Float(mapX), Float(mapY)]
        buffer += r.means
        count += 1
        if buffer.count > 1 << 18 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        let data = buffer.withUnsafeBufferPointer { Data(buffer: $0) }
        try AtomicFile.writing(directory.path) { try handle?.write(contentsOf: data) }
        buffer.removeAll(keepingCapacity: true)
    }

    func finishWriting() throws {
        try flush()
        try AtomicFile.writing(directory.path) { try handle?.close() }
        handle = nil
    }

    /// Reads records back in raster order of their centroids (rows, then columns), which does
    /// not depend on the tiling; `markers` fixes the record width. Holds the sort keys; the
    /// records are read from the file mapped in memory (pages the kernel can drop).
    func forEach(markers: Int, _ body: (CellRecord, _ mapX: Int, _ mapY: Int) throws -> Void) throws {
        let width = 6 + markers * Compartment.allCases.count
        let reader = try FileHandle(forReadingFrom: url)
        defer { try? reader.close() }
        var keys: [(Float, Float, Int32)] = []
        keys.reserveCapacity(count)
        let chunkRecords = 4096
        var n: Int32 = 0
        while true {
            guard let data = try reader.read(upToCount: chunkRecords * width * 4), !data.isEmpty else { break }
            data.withUnsafeBytes { raw in
                let f = raw.bindMemory(to: Float.self)
                var i = 0
                while i + width <= f.count { keys.append((f[i + 1], f[i], n)); n += 1; i += width }
            }
        }
        keys.sort { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        // Records in sorted order straight from the file mapped in memory: no read per record.
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        try data.withUnsafeBytes { raw in
            let all = raw.bindMemory(to: Float.self)
            for k in keys {
                let base = Int(k.2) * width
                guard base + width <= all.count else {
                    throw SlideError.corrupt(path: url.path, detail: "spool record \(k.2) is short")
                }
                try body(Self.record(all, base, width), Int(all[base + 4]), Int(all[base + 5]))
            }
        }
    }

    /// Reads records back in the order they were written (tile order, which depends on the
    /// tiling: for what does not depend on the order, such as a median).
    func scan(markers: Int, _ body: (CellRecord, _ mapX: Int, _ mapY: Int) throws -> Void) throws {
        let width = 6 + markers * Compartment.allCases.count
        let data = try Data(contentsOf: url, options: .alwaysMapped)
        try data.withUnsafeBytes { raw in
            let all = raw.bindMemory(to: Float.self)
            var base = 0
            while base + width <= all.count {
                try body(Self.record(all, base, width), Int(all[base + 4]), Int(all[base + 5]))
                base += width
            }
        }
    }

    static func record(_ all: UnsafeBufferPointer<Float>, _ base: Int, _ width: Int) -> CellRecord {
        CellRecord(x: Double(all[base]), y: Double(all[base + 1]), nucleusPixels: Int(all[base + 2]),
                   cellPixels: Int(all[base + 3]), means: Array(all[(base + 6)..<(base + width)]))
    }

    func remove() {
        try? handle?.close()
        try? FileManager.default.removeItem(at: url)
    }
}

/// A CSV written in chunks of encoded lines to a temporary file and renamed into place on `finish`.
public final class TableWriter {
    let url: URL
    let tmp: URL
    private let handle: FileHandle

    public init(url: URL, header: String) throws {
        self.url = url
        let tmp = TemporaryFiles.beside(url)
        self.tmp = tmp
        handle = try AtomicFile.writing(url.path) {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
                throw SlideError.writeFailed(path: url.path, detail: "cannot create the file")
            }
            return try FileHandle(forWritingTo: tmp)
        }
        try append(bytes: Array((header + "\n").utf8))
    }

    /// Appends lines already encoded as UTF-8 (each ending in a newline).
    public func append(bytes: [UInt8]) throws {
        try AtomicFile.writing(url.path) { try handle.write(contentsOf: Data(bytes)) }
    }

    public func finish() throws {
        try AtomicFile.writing(url.path) { try handle.close() }
        guard rename(tmp.path, url.path) == 0 else {
            throw SlideError.writeFailed(path: url.path, detail: String(cString: strerror(errno)))
        }
    }

    deinit {
        if FileManager.default.fileExists(atPath: tmp.path) { try? handle.close(); unlink(tmp.path) }
    }
}
