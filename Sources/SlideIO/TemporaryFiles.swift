import Foundation

/// The temporary files mifq writes beside its outputs (a table or picture before its rename,
/// a slide's cell spool). Their names carry the host and the process, so a later run in the
/// same folder can tell a file left by an interrupted run on this machine (its process is gone)
/// from one another run is still writing, here or on another machine sharing the folder.
public enum TemporaryFiles {
    static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "host" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "host" : name.replacingOccurrences(of: "/", with: "_")
    }()

    /// "<host>-<pid>".
    static var owner: String { "\(host)-\(getpid())" }

    /// The temporary name for `url`, beside it and hidden. A name too long to take the suffix
    /// within a file name's 255 bytes (a slide id of 240 characters) keeps as much of itself as
    /// fits, then a hash of the whole, so two long names sharing a beginning stay apart.
    public static func beside(_ url: URL) -> URL {
        let suffix = ".tmp-\(owner)"
        return url.deletingLastPathComponent().appendingPathComponent("." + fitting(url.lastPathComponent, room: 255 - 1 - suffix.utf8.count) + suffix)
    }

    /// `name` if it has at most `room` bytes, else as much of its beginning as fits with a
    /// hash of the whole (FNV-1a) after a "~".
    static func fitting(_ name: String, room: Int) -> String {
        guard name.utf8.count > room else { return name }
        var hash: UInt64 = 0xcbf29ce484222325
        for b in name.utf8 { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        var kept = ""
        for c in name {
            guard kept.utf8.count + c.utf8.count <= room - 17 else { break }
            kept.append(c)
        }
        return kept + "~" + String(format: "%016llx", hash)
    }

    /// The path of a temporary file beside `path` named `path`'s name then `suffix`, that name
    /// shortened (`fitting`) to stay within a file name's 255 bytes.
    public static func beside(path: String, suffix: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(fitting(url.lastPathComponent, room: 255 - suffix.utf8.count) + suffix).path
    }

    /// A new hidden spool file name in `folder`.
    public static func spool(in folder: URL) -> URL {
        folder.appendingPathComponent(".spool-\(owner)-\(UUID().uuidString)")
    }

    /// The process that wrote a temporary file of this host, from its name; nil for other names.
    static func writer(of name: String) -> pid_t? {
        guard name.hasPrefix(".") else { return nil }
        let digits: Substring
        if let r = name.range(of: ".tmp-\(host)-") {
            digits = name[r.upperBound...]
        } else if name.hasPrefix(".spool-\(host)-") {
            // "<pid>-<UUID>": anything else is not ours (another host whose name starts with ours).
            let rest = name.dropFirst(".spool-\(host)-".count)
            digits = rest.prefix { $0 != "-" }
            guard UUID(uuidString: String(rest.dropFirst(digits.count + 1))) != nil else { return nil }
        } else {
            return nil
        }
        return digits.allSatisfy(\.isNumber) ? pid_t(digits) : nil
    }

    /// Removes from `folder` and its immediate subfolders the temporary files of this host
    /// whose process no longer runs; returns how many.
    @discardableResult
    public static func removeLeftovers(in folder: URL) -> Int {
        let fm = FileManager.default
        var folders = [folder]
        for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] {
            var isDir: ObjCBool = false
            let u = folder.appendingPathComponent(name)
            if fm.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue { folders.append(u) }
        }
        var removed = 0
        for dir in folders {
            for name in (try? fm.contentsOfDirectory(atPath: dir.path)) ?? [] {
                guard let pid = writer(of: name), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
                if unlink(dir.appendingPathComponent(name).path) == 0 { removed += 1 }
            }
        }
        return removed
    }
}
