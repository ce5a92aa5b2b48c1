import Foundation

/// Why JSON text does not parse, for the one-line errors on the files users edit by hand
/// (panels, annotations): Foundation's reason with the place it names given as a line and
/// column ("line 12, column 5: invalid value"), so a missing comma is found without counting
/// characters.
public enum JSONText {
    /// What is wrong with `data` as JSON, or nil if it parses.
    public static func problem(_ data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            let reason = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? ""
            return describe(reason, in: data)
        }
    }

    /// Foundation's `reason` in plain words, its "around character N" (a byte offset into
    /// `data` after any byte-order mark) as a line and column.
    static func describe(_ reason: String, in data: Data) -> String {
        var text = reason.trimmingCharacters(in: .whitespaces)
        if text.hasSuffix(".") { text.removeLast() }
        if text.isEmpty { return "not valid JSON" }
        if let r = text.range(of: " around character "), let offset = Int(text[r.upperBound...]) {
            let what = text[..<r.lowerBound].lowercased()
            let body = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data[...]
            let bytes = [UInt8](body.prefix(max(0, offset)))
            let line = 1 + bytes.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let lineStart = (bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? 0
            let column = 1 + String(decoding: bytes[lineStart...], as: UTF8.self).count
            return "line \(line), column \(column): \(what)"
        }
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
