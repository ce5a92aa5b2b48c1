import Foundation
import SlideIO

/// Joins per-slide results from several quantify folders (a cohort split across machines).
public enum MergeRuns {
    /// Copies every `slides/<id>.json` (and its cell table and QC picture) into `out`, then
    /// writes the tables.
    /// Two folders holding the same slide id is an error, and so are slides quantified with
    /// different panels (their densities do not compare) unless `mixedPanels`.
    @discardableResult
    public static func merge(_ dirs: [URL], into out: URL, mixedPanels: Bool = false) throws -> Int {
        let fm = FileManager.default
        var all: [SlideResult] = []
        var from: [String: URL] = [:]
        for d in dirs {
            for r in try CohortTables.loadResults(in: d) {
                if let other = from[r.slideId], other.standardizedFileURL != d.standardizedFileURL {
                    throw SlideError.invalid(path: d.path, detail: "slide \(r.slideId) is also in \(other.path)")
                }
                from[r.slideId] = d
                all.append(r)
            }
        }
        if !mixedPanels, let first = all.first, let other = all.first(where: { $0.panelHash != first.panelHash }) {
            throw SlideError.invalid(path: from[other.slideId]!.path, detail: "slide \(other.slideId) was quantified with another panel "
                                        + "(hash \(other.panelHash)) than slide \(first.slideId) in \(from[first.slideId]!.path) (hash \(first.panelHash)); "
                                        + "merge one panel's results (--allow-mixed-panels to join them anyway)")
        }
        try fm.createDirectory(at: out.appendingPathComponent("slides"), withIntermediateDirectories: true)
        for r in all {
            let src = from[r.slideId]!
            guard src.standardizedFileURL != out.standardizedFileURL else { continue }
            // The cell table first: a slide's JSON is what marks its results complete.
            if let t = r.cellsTable, fm.fileExists(atPath: src.appendingPathComponent(t).path) {
                try AtomicFile.copy(src.appendingPathComponent(t), to: out.appendingPathComponent(t))
            }
            // The QC picture too, so that the merged folder's report shows every slide, and the
            // cells as QuPath detections where they were written.
            for extra in ["qc/\(r.slideId).png", "cells/\(r.slideId).geojson"] where fm.fileExists(atPath: src.appendingPathComponent(extra).path) {
                try AtomicFile.copy(src.appendingPathComponent(extra), to: out.appendingPathComponent(extra))
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
