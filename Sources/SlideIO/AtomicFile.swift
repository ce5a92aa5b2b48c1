import Foundation

/// Writes text to a temporary file beside the target and renames it into place, so a reader
/// never sees half a table.
public enum AtomicFile {
    public static func write(_ text: String, to url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(text.utf8).write(to: tmp)
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
