import Foundation

/// A CSV table as users bring it (mifq's densities.csv, HALO or inForm exports, clinical data):
/// header row, comma-separated, optional double quotes, `NA`/empty for missing.
public struct Table: Sendable {
    public let path: String
    public let columns: [String]
    public let rows: [[String]]

    public init(path: String, columns: [String], rows: [[String]]) {
        self.path = path; self.columns = columns; self.rows = rows
    }

    public static func read(_ path: String) throws -> Table {
        guard let data = FileManager.default.contents(atPath: path) else { throw CohortError.input(path, "cannot be read") }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var records = parse(text)
        records.removeAll { $0.count == 1 && $0[0].trimmingCharacters(in: .whitespaces).isEmpty }
        guard let header = records.first, !header.isEmpty else { throw CohortError.input(path, "is empty") }
        let cols = header.map { $0.trimmingCharacters(in: .whitespaces) }
        for (i, r) in records.dropFirst().enumerated() where r.count != cols.count {
            throw CohortError.input(path, "line \(i + 2) has \(r.count) fields, the header has \(cols.count)")
        }
        return Table(path: path, columns: cols, rows: Array(records.dropFirst()).map { $0.map { $0.trimmingCharacters(in: .whitespaces) } })
    }

    static func parse(_ text: String) -> [[String]] {
        var out: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = text.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
                continue
            }
            switch c {
            case "\"": quoted = true
            case ",": row.append(field); field = ""
            case "\n", "\r\n", "\r": row.append(field); field = ""; out.append(row); row = []
            default: field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); out.append(row) }
        return out
    }

    public func index(of column: String) -> Int? { columns.firstIndex(of: column) }

    public func require(_ column: String) throws -> Int {
        guard let i = index(of: column) else {
            throw CohortError.input(path, "has no column \"\(column)\" (columns: \(columns.joined(separator: ", ")))")
        }
        return i
    }

    /// A numeric cell: nil for NA or empty; an error naming row and column for anything else.
    public func number(_ row: Int, _ col: Int) throws -> Double? {
        let s = rows[row][col]
        if s.isEmpty || s == "NA" || s == "NaN" || s == "#N/A" { return nil }
        guard let v = Double(s), v.isFinite else {
            throw CohortError.input(path, "line \(row + 2), column \(columns[col]): \"\(s)\" is not a number")
        }
        return v
    }
}

public enum CohortError: Error, CustomStringConvertible, LocalizedError {
    case input(String, String)
    public var description: String {
        switch self { case .input(let p, let m): return "\(p): \(m)" }
    }
    public var errorDescription: String? { description }
}
