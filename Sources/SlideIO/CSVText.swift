import Foundation

/// Comma-separated text as users' spreadsheets and exporters write it (mifq's own tables, HALO
/// and inForm exports, clinical sheets, slide → patient maps): a UTF-8 byte-order mark dropped,
/// any line ending, fields in optional double quotes (a doubled quote inside is one quote),
/// blank lines skipped, spaces around fields trimmed.
public enum CSVText {
    /// A quoted field still open at the end of the text: it would swallow the rest of the file
    /// into one cell. `line` is where it opened.
    public struct UnclosedQuote: Error {
        public let line: Int
        public var message: String { "line \(line): a quoted field is never closed" }
    }

    /// The records of `data`, header first.
    public static func records(_ data: Data) throws(UnclosedQuote) -> [[String]] {
        try numberedRecords(data).map(\.fields)
    }

    /// The records of `data` with the line each starts on (for errors that name a line: blank
    /// lines skipped and quoted fields spanning lines still count).
    public static func numberedRecords(_ data: Data) throws(UnclosedQuote) -> [(line: Int, fields: [String])] {
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return try parse(text)
            .filter { !($0.fields.count == 1 && $0.fields[0].trimmingCharacters(in: .whitespaces).isEmpty) }
            .map { ($0.line, $0.fields.map { $0.trimmingCharacters(in: .whitespaces) }) }
    }

    /// The records of `text` as written (no trimming, a blank line as one empty field), each
    /// with the line it starts on. A double quote opens a quoted field only at a field's start
    /// (after nothing but spaces), as Python's csv module reads it; elsewhere it is a literal
    /// character.
    static func parse(_ text: String) throws(UnclosedQuote) -> [(line: Int, fields: [String])] {
        var out: [(line: Int, fields: [String])] = []
        var row: [String] = []
        var recordStart = 1
        var field = ""
        var quoted = false
        var line = 1, openedOn = 1
        var chars = text.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if c == "\n" || c == "\r\n" || c == "\r" { line += 1 }
            if quoted {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"" where field.allSatisfy({ $0 == " " || $0 == "\t" }): field = ""; quoted = true; openedOn = line
            case ",": row.append(field); field = ""
            case "\n", "\r\n", "\r": row.append(field); field = ""; out.append((recordStart, row)); row = []; recordStart = line
            default: field.append(c)
            }
        }
        if quoted { throw UnclosedQuote(line: openedOn) }
        if !field.isEmpty || !row.isEmpty { row.append(field); out.append((recordStart, row)) }
        return out
    }

    /// A cell's text as an error message shows it: on one line, at most 40 characters.
    public static func shown(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
        return flat.count <= 40 ? flat : String(flat.prefix(40)) + "…"
    }
}
