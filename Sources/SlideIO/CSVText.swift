import Foundation

/// Comma-separated text as users' spreadsheets and exporters write it (mifq's own tables, HALO
/// and inForm exports, clinical sheets, slide → patient maps): a UTF-8 byte-order mark dropped,
/// any line ending, fields in optional double quotes (a doubled quote inside is one quote),
/// blank lines skipped, spaces around fields trimmed. A header without a comma but with tabs
/// (inForm's and R's tab-separated tables) or semicolons (Excel's "CSV" where the decimal mark
/// is a comma) says the file's separator.
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

    /// The field separator of `data`: a comma unless its first line that is not blank has none
    /// and has a tab (then a tab) or a semicolon (then a semicolon).
    public static func separator(of data: Data) -> Character {
        let header = String(decoding: data.prefix(1 << 16), as: UTF8.self)
            .split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? ""
        if header.contains(",") { return "," }
        return header.contains("\t") ? "\t" : header.contains(";") ? ";" : ","
    }

    /// The numbered records of the table file at `path` and its separator (a `;` file's numbers
    /// may have a decimal comma); a file that cannot be read (`InputFile`) or holds an unclosed
    /// quote throws `failure(reason)`.
    public static func file(_ path: String, _ failure: (String) -> Error) throws -> (records: [(line: Int, fields: [String])], separator: Character) {
        let data = try InputFile.contents(of: path, failure)
        let separator = separator(of: data)
        do { return (try numberedRecords(data, separator: separator), separator) } catch { throw failure(error.message) }
    }

    /// The records of `data` with the line each starts on (for errors that name a line: blank
    /// lines skipped and quoted fields spanning lines still count), fields split at `separator`
    /// (by default the one the header shows).
    public static func numberedRecords(_ data: Data, separator: Character? = nil) throws(UnclosedQuote) -> [(line: Int, fields: [String])] {
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return try parse(text, separator: separator ?? Self.separator(of: data))
            .filter { !($0.fields.count == 1 && $0.fields[0].trimmingCharacters(in: .whitespaces).isEmpty) }
            .map { ($0.line, $0.fields.map { $0.trimmingCharacters(in: .whitespaces) }) }
    }

    /// The records of `text` as written (no trimming, a blank line as one empty field), each
    /// with the line it starts on. A double quote opens a quoted field only at a field's start
    /// (after nothing but spaces), as Python's csv module reads it; elsewhere it is a literal
    /// character.
    static func parse(_ text: String, separator: Character = ",") throws(UnclosedQuote) -> [(line: Int, fields: [String])] {
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
            case separator: row.append(field); field = ""
            case "\n", "\r\n", "\r": row.append(field); field = ""; out.append((recordStart, row)); row = []; recordStart = line
            default: field.append(c)
            }
        }
        if quoted { throw UnclosedQuote(line: openedOn) }
        if !field.isEmpty || !row.isEmpty { row.append(field); out.append((recordStart, row)) }
        return out
    }

    /// `s` as a field of a CSV mifq writes: in double quotes (a quote inside doubled) where it
    /// holds a comma, a quote or a line break (a slide named `P1_a,b.tif`, a HALO column
    /// `CD8+, PD-L1+ Cells`), as it is otherwise; `records` reads it back as `s` (but for spaces
    /// at its ends, which it trims from every field).
    public static func field(_ s: String) -> String {
        s.contains { $0 == "," || $0 == "\"" || $0.isNewline } ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// A number as a spreadsheet writes it: with `decimalComma` (a semicolon-separated file),
    /// "2,5" is 2.5; nil where it is not a finite number.
    public static func number(_ s: String, decimalComma: Bool = false) -> Double? {
        var t = s
        if decimalComma, !t.contains("."), t.filter({ $0 == "," }).count == 1 { t = t.replacingOccurrences(of: ",", with: ".") }
        guard let v = Double(t), v.isFinite else { return nil }
        return v
    }

    /// A cell's text as an error message shows it: on one line, at most 40 characters.
    public static func shown(_ s: String) -> String {
        let flat = s.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
        return flat.count <= 40 ? flat : String(flat.prefix(40)) + "…"
    }
}
