import Foundation

/// Writes a file to a temporary name beside the target (creating the folder) and renames it
/// into place, so a reader never sees half a table or picture.
public enum AtomicFile {
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try data.write(to: tmp)
        } catch {
            throw SlideError.writeFailed(path: url.path, detail: "\(error.localizedDescription)")
        }
        if rename(tmp.path, url.path) != 0 {
            let why = String(cString: strerror(errno))
            unlink(tmp.path)
            throw SlideError.writeFailed(path: url.path, detail: why)
        }
    }
}
