import Foundation
import SlideIO

/// Joins per-slide results from several quantify folders (a cohort split across machines).
public enum MergeRuns {
    /// Copies every `slides/<id>.json` (and its cell table) into `out`, then writes the tables.
    /// Two folders holding the same slide id is an error.
    @discardableResult
    public static func merge(_ dirs: [URL], into out: URL) throws -> Int {
        let fm = FileManager.default
        var all: [SlideResult] = []
        var from: [String: URL] = [:]
        for d in dirs {
            for r in try CohortTables.loadResults(in: d) {
                if let other = from[r.slideId], other.standardizedFileURL != d.standardizedFileURL {
                    throw SlideError.corrupt(path: d.path, detail: "slide \(r.slideId) is also in \(other.path)")
                }
                from[r.slideId] = d
                all.append(r)
            }
        }
        try fm.createDirectory(at: out.appendingPathComponent("slides"), withIntermediateDirectories: true)
        for r in all {
            let src = from[r.slideId]!
            guard src.standardizedFileURL != out.standardizedFileURL else { continue }
            // The cell table first: a slide's JSON is what marks its results complete.
            if let t = r.cellsTable, fm.fileExists(atPath: src.appendingPathComponent(t).path) {
                try AtomicFile.copy(src.appendingPathComponent(t), to: out.appendingPathComponent(t))
            }
            let json = String(decoding: try CohortTables.encoder().encode(r), as: UTF8.self)
            try AtomicFile.write(json, to: out.appendingPathComponent("slides/\(r.slideId).json"))
        }
        var unique: [String: SlideResult] = [:]
        for r in all { unique[r.slideId] = r }
        let results = unique.values.sorted { $0.slideId < $1.slideId }
        try CohortTables.writeTables(results, phenotypes: CohortTables.phenotypes(of: results), to: out)
        return results.count
    }
}
