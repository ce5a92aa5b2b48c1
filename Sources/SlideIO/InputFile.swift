import Foundation

/// The bytes of an input file that is not a slide (a panel, a table, an annotation file), or
/// why they cannot be had, in the words of a one-line error: "no such file", "is a folder, not
/// a file", "a symbolic link to a file that does not exist", or "cannot be read (the system's
/// reason)". The slides themselves say the same through `Slide.openFailure`.
public enum InputFile {
    /// The file's bytes; otherwise throws `failure(reason)`.
    public static func contents(of path: String, _ failure: (String) -> Error) throws -> Data {
        var st = stat()
        guard stat(path, &st) == 0 else {
            let code = errno
            guard code == ENOENT else { throw failure("cannot be read (\(String(cString: strerror(code))))") }
            throw failure(isDanglingLink(path) ? "a symbolic link to a file that does not exist" : "no such file")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw failure("is a folder, not a file") }
        if (st.st_mode & S_IFMT) == S_IFREG {
            do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch { throw failure("cannot be read (\(AtomicFile.reason(error)))") }
        }
        // A pipe (bash's `<(…)`) or a device: read to its end.
        guard let handle = FileHandle(forReadingAtPath: path) else { throw failure("cannot be read (\(String(cString: strerror(errno))))") }
        defer { try? handle.close() }
        do { return try handle.readToEnd() ?? Data() } catch { throw failure("cannot be read (\(AtomicFile.reason(error)))") }
    }

    /// Whether `path`, which does not exist, is a symbolic link to nothing.
    static func isDanglingLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }
}
