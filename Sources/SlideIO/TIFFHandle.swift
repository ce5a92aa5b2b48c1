import CTIFF
import Foundation

/// Collects libtiff's error and warning messages for one handle, instead of letting
/// libtiff print them to stderr. libtiff ≥ 4.5 passes a per-handle user pointer
/// (`TIFFOpenOptionsSetErrorHandlerExtR`), so concurrent handles never mix messages.
final class TIFFMessages {
    private let lock = NSLock()
    private var errors: [String] = []
    private let prefix: String

    init(path: String) { prefix = path + ": " }

    func record(error message: String) {
        // libtiff often starts with the file name, which our errors name already; and some of
        // its messages run over several lines, where an error is one line on stderr.
        var m = message
        while m.hasPrefix(prefix) { m.removeFirst(prefix.count) }
        m = m.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        lock.lock(); errors.append(m); lock.unlock()
    }
    /// The first error since the last call, and clears the list.
    func take() -> String? {
        lock.lock(); defer { lock.unlock() }
        let first = errors.first
        errors.removeAll()
        return first
    }
}

private func formatMessage(_ fmt: UnsafePointer<CChar>?, _ args: CVaListPointer?) -> String {
    guard let fmt, let args else { return fmt.map { String(cString: $0) } ?? "unknown libtiff error" }
    var buffer = [CChar](repeating: 0, count: 1024)
    _ = vsnprintf(&buffer, buffer.count, fmt, args)
    return String(cString: buffer)
}

private let errorHandler: TIFFErrorHandlerExtR = { _, user, module, fmt, args in
    guard let user else { return 1 }
    let sink = Unmanaged<TIFFMessages>.fromOpaque(user).takeUnretainedValue()
    var text = formatMessage(fmt, args)
    if let module, text.isEmpty { text = String(cString: module) }
    sink.record(error: text)
    return 1  // handled: libtiff must not call the global (stderr) handler
}

/// Warnings (unknown tags, odd but readable values) are not errors: swallowed, never printed.
private let warningHandler: TIFFErrorHandlerExtR = { _, _, _, _, _ in 1 }

/// Silence libtiff's process-wide stderr handlers once; every handle we open reports
/// through its own `TIFFMessages` instead.
let silenceGlobalHandlers: Void = {
    TIFFSetErrorHandler(nil)
    TIFFSetWarningHandler(nil)
}()

/// One open libtiff handle. Not thread-safe: a handle is used by one thread at a time
/// (see `HandlePool`).
final class TIFFHandle {
    let path: String
    let tif: OpaquePointer
    let messages: TIFFMessages
    private let retained: Unmanaged<TIFFMessages>

    /// - Parameter mode: libtiff mode string; "rm" reads without memory-mapping so
    ///   resident memory stays bounded by what we decode, "w"/"w8" write classic/BigTIFF.
    init(path: String, mode: String) throws {
        _ = silenceGlobalHandlers
        self.path = path
        let messages = TIFFMessages(path: path)
        let retained = Unmanaged.passRetained(messages)
        guard let opts = TIFFOpenOptionsAlloc() else {
            retained.release()
            throw SlideError.corrupt(path: path, detail: "libtiff could not allocate open options")
        }
        defer { TIFFOpenOptionsFree(opts) }
        TIFFOpenOptionsSetErrorHandlerExtR(opts, errorHandler, retained.toOpaque())
        TIFFOpenOptionsSetWarningHandlerExtR(opts, warningHandler, retained.toOpaque())
        guard let tif = TIFFOpenExt(path, mode, opts) else {
            retained.release()
            let why = messages.take() ?? "libtiff could not open it"
            throw SlideError.notATIFF(path: path, detail: why)
        }
        self.tif = tif
        self.messages = messages
        self.retained = retained
    }

    deinit {
        TIFFClose(tif)
        retained.release()
    }

    /// The libtiff message explaining the last failure, or a fallback.
    func failure(_ fallback: String) -> String { messages.take() ?? fallback }

    /// Moves to the directory at `offset`. What libtiff says while reading a directory it can
    /// read (an odd tag value) is no error, and must not be taken for the next call's failure.
    func setDirectory(_ offset: UInt64) -> Bool {
        guard TIFFSetSubDirectory(tif, offset) == 1 else { return false }
        _ = messages.take()
        return true
    }

    // MARK: tag access (libtiff's getters are C-variadic; Swift reaches them through va_list)

    func uint16(_ tag: Int32, defaulted: Bool = true) -> UInt16? {
        var value: UInt16 = 0
        let ok = withUnsafeMutablePointer(to: &value) { ptr in
            withVaList([ptr]) { defaulted ? TIFFVGetFieldDefaulted(tif, UInt32(tag), $0) : TIFFVGetField(tif, UInt32(tag), $0) }
        }
        return ok == 1 ? value : nil
    }

    func uint32(_ tag: Int32) -> UInt32? {
        var value: UInt32 = 0
        let ok = withUnsafeMutablePointer(to: &value) { ptr in
            withVaList([ptr]) { TIFFVGetField(tif, UInt32(tag), $0) }
        }
        return ok == 1 ? value : nil
    }

    func float(_ tag: Int32) -> Float? {
        var value: Float = 0
        let ok = withUnsafeMutablePointer(to: &value) { ptr in
            withVaList([ptr]) { TIFFVGetField(tif, UInt32(tag), $0) }
        }
        return ok == 1 ? value : nil
    }

    /// An ASCII tag's text. The bytes are decoded as UTF-8 (lenient); QPTIFF writers that
    /// declare UTF-16 usually wrote ASCII, which is what we get here.
    func string(_ tag: Int32) -> String? {
        var value: UnsafeMutablePointer<CChar>? = nil
        let ok = withUnsafeMutablePointer(to: &value) { ptr in
            withVaList([ptr]) { TIFFVGetField(tif, UInt32(tag), $0) }
        }
        guard ok == 1, let value else { return nil }
        let bytes = UnsafeRawBufferPointer(start: value, count: strlen(value))
        return String(decoding: bytes, as: UTF8.self)
    }

    func subIFDOffsets() -> [UInt64] {
        var count: UInt16 = 0
        var offsets: UnsafeMutablePointer<UInt64>? = nil
        let ok = withUnsafeMutablePointer(to: &count) { c in
            withUnsafeMutablePointer(to: &offsets) { o in
                withVaList([c, o]) { TIFFVGetField(tif, UInt32(TIFFTAG_SUBIFD), $0) }
            }
        }
        guard ok == 1, let offsets, count > 0 else { return [] }
        return (0..<Int(count)).map { offsets[$0] }
    }

    // MARK: setters for writing

    @discardableResult
    func set(_ tag: Int32, string: String) -> Bool {
        string.withCString { p in withVaList([p]) { TIFFVSetField(tif, UInt32(tag), $0) } } == 1
    }

    /// Numeric and pointer arguments only: a Swift String is not a C string here.
    @discardableResult
    func set(_ tag: Int32, _ args: CVarArg...) -> Bool {
        withVaList(args) { TIFFVSetField(tif, UInt32(tag), $0) } == 1
    }
}
