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

    /// Refuses an output path that is one of `inputs` (the same file, by device and inode, so
    /// another spelling or a link to it counts): writing it would replace the image being read.
    public static func refuseInput(_ output: String, inputs: [String]) throws {
        var o = stat()
        guard stat(output, &o) == 0 else { return }
        for input in inputs {
            var i = stat()
            if stat(input, &i) == 0, i.st_dev == o.st_dev, i.st_ino == o.st_ino {
                throw SlideError.writeFailed(path: output, detail: "it is the input \(input) itself; give another output path")
            }
        }
    }

    /// Creates the folder `url` with its parents; failing that, a one-line error naming
    /// `named` (the output folder the user gave, default `url`) and why: a file where a folder
    /// must be, or the system's reason.
    public static func createFolder(_ url: URL, named: URL? = nil) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw SlideError.writeFailed(path: (named ?? url).path, detail: "cannot create the output folder: \(folderFailure(url, error))")
        }
    }

    /// Why the folder `url` could not be made: the nearest part of its path that exists, where
    /// that is a file; else the system's reason.
    static func folderFailure(_ url: URL, _ error: Error) -> String {
        var u = url.standardizedFileURL
        while u.pathComponents.count > 1 {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: u.path, isDirectory: &isFolder) {
                if !isFolder.boolValue { return "\(u.path) is a file" }
                break
            }
            u = u.deletingLastPathComponent()
        }
        return reason(error)
    }

    /// What the system said, in its own words ("No space left on device"), of a Foundation file
    /// error; Foundation's own wording, or the error, where there is none.
    public static func reason(_ error: Error) -> String {
        if let e = error as? SlideError { return e.description }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? Error {
            let e = underlying as NSError
            if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
        }
        return error.localizedDescription
    }

    /// Runs `body`, turning a file error into a one-line `writeFailed` naming `path`.
    public static func writing<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SlideError { throw e } catch {
            throw SlideError.writeFailed(path: path, detail: reason(error))
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
            throw SlideError.writeFailed(path: url.path, detail: reason(error))
        }
        if rename(tmp.path, url.path) != 0 {
            let why = String(cString: strerror(errno))
            unlink(tmp.path)
            throw SlideError.writeFailed(path: url.path, detail: why)
        }
    }
}
