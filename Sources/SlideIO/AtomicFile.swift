import Foundation

/// Writes a file to a temporary name beside the target (creating the folder) and renames it
/// into place, so a reader never sees half a table or picture.
public enum AtomicFile {
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    public static func write(_ data: Data, to url: URL) throws {
        try replace(url) { try data.write(to: $0) }
    }

    /// A copy of `source` at `url`, made under the temporary name and renamed into place (a
    /// cell table is copied by the file system, never read whole into memory).
    public static func copy(_ source: URL, to url: URL) throws {
        try replace(url) { try FileManager.default.copyItem(at: source, to: $0) }
    }

    /// Creates the folder `url` with its parents; failing that, a one-line error naming
    /// `named` (the output folder the user gave, default `url`).
    public static func createFolder(_ url: URL, named: URL? = nil) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SlideError.writeFailed(path: (named ?? url).path, detail: "cannot create the output folder")
        }
    }

    /// `fill` writes the temporary file beside `url`, which is then renamed over `url`.
    static func replace(_ url: URL, _ fill: (URL) throws -> Void) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = TemporaryFiles.beside(url)
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: tmp)
            try fill(tmp)
        } catch {
            unlink(tmp.path)
            throw SlideError.writeFailed(path: url.path, detail: "\(error.localizedDescription)")
        }
        if rename(tmp.path, url.path) != 0 {
            let why = String(cString: strerror(errno))
            unlink(tmp.path)
            throw SlideError.writeFailed(path: url.path, detail: why)
        }
    }
}
