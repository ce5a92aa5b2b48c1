import Foundation
import SlideIO

/// A CSV table as users bring it (mifq's densities.csv, HALO or inForm exports, clinical data):
/// header row, comma-separated (or tab- or semicolon-separated, as the header shows: a
/// semicolon-separated file's numbers may have a decimal comma), optional double quotes,
/// `NA`/empty for missing.
public struct Table: Sendable {
    public let path: String
    public let columns: [String]
    public let rows: [[String]]
    /// The line of the file each row starts on, for error messages.
    public let lines: [Int]
    /// Numbers are written with a decimal comma (a semicolon-separated file).
    public let decimalComma: Bool

    public init(path: String, columns: [String], rows: [[String]], lines: [Int]? = nil, decimalComma: Bool = false) {
        self.path = path; self.columns = columns; self.rows = rows
        self.lines = lines ?? rows.indices.map { $0 + 2 }
        self.decimalComma = decimalComma
    }

    public static func read(_ path: String) throws -> Table {
        let (records, separator) = try CSVText.file(path) { CohortError.input(path, $0) }
        guard let cols = records.first?.fields, !cols.isEmpty else { throw CohortError.input(path, "is empty") }
        // Two columns of one name: every use would read the first (a second density column of
        // that name was reported with the first one's numbers).
        var seen: [String: Int] = [:]
        for (i, c) in cols.enumerated() {
            if let first = seen[c] {
                throw CohortError.input(path, "column \"\(CSVText.shown(c))\" appears twice (columns \(first + 1) and \(i + 1))")
            }
            seen[c] = i
        }
        for r in records.dropFirst() where r.fields.count != cols.count {
            throw CohortError.input(path, "line \(r.line) has \(r.fields.count) fields, the header has \(cols.count)")
        }
        let rows = records.dropFirst()
        return Table(path: path, columns: cols, rows: rows.map(\.fields), lines: rows.map(\.line), decimalComma: separator == ";")
    }

    public func index(of column: String) -> Int? { columns.firstIndex(of: column) }

    public func require(_ column: String) throws -> Int {
        guard let i = index(of: column) else {
            throw CohortError.input(path, "has no column \"\(column)\" (columns: \(columns.map(CSVText.shown).joined(separator: ", ")))")
        }
        return i
    }

    /// An event cell: a number, or R's logical as `write.csv` writes it (TRUE 1, FALSE 0, any case).
    public func event(_ row: Int, _ col: Int) throws -> Double? {
        switch rows[row][col].uppercased() {
        case "TRUE": return 1
        case "FALSE": return 0
        default: return try number(row, col)
        }
    }

    /// A numeric cell: nil for NA or empty; an error naming row and column for anything else.
    public func number(_ row: Int, _ col: Int) throws -> Double? {
        let s = rows[row][col]
        if s.isEmpty || s == "NA" || s == "NaN" || s == "#N/A" { return nil }
        guard let v = CSVText.number(s, decimalComma: decimalComma) else {
            throw CohortError.input(path, "line \(lines[row]), column \(columns[col]): \"\(CSVText.shown(s))\" is not a number")
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
