import Foundation
import SlideIO

/// Joins per-slide results from several quantify folders (a cohort split across machines).
public enum MergeRuns {
    /// What a merge joined, and the slides its folders' runs had failed on (none of whose
    /// results is among the merged ones).
    public struct Summary: Sendable {
        public var merged: Int
        public var failures: [QuantifyRun.Failure]
    }

    /// Copies every `slides/<id>.json` (and its cell table and QC picture) into `out`, then
    /// writes the tables and `run.json`: the merged slides' thresholds, hand-set thresholds and
    /// annotation files, the panel and settings of the folders' runs, and the slides those runs
    /// failed on (one job per slide on a cluster reports its bad slide there; the merge keeps
    /// the report). Two folders holding the same slide id is an error, and so are slides
    /// quantified with different panels (their densities do not compare) unless `mixedPanels`.
    @discardableResult
    public static func merge(_ dirs: [URL], into out: URL, mixedPanels: Bool = false) throws -> Summary {
        let fm = FileManager.default
        var all: [SlideResult] = []
        var from: [String: URL] = [:]
        for d in dirs {
            let results = try CohortTables.loadResults(in: d)
            // A run that failed on every slide still has its run.json (the failures); a folder
            // with neither is something else (a simulated cohort's, whose slides/ holds images).
            if results.isEmpty && !fm.fileExists(atPath: d.appendingPathComponent("run.json").path) {
                throw SlideError.invalid(path: d.path, detail: "is not a quantify output folder (no slides/<slide>.json and no run.json)")
            }
            for r in results {
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
        try AtomicFile.createFolder(out.appendingPathComponent("slides"), named: out)
        for r in all {
            let src = from[r.slideId]!
            guard src.standardizedFileURL != out.standardizedFileURL else { continue }
            // The cell table first: a slide's JSON is what marks its results complete.
            if let t = r.cellsTable, fm.fileExists(atPath: src.appendingPathComponent(t).path) {
                try AtomicFile.copy(src.appendingPathComponent(t), to: out.appendingPathComponent(t))
            }
            // The QC picture too, so that the merged folder's report shows every slide, and the
            // cells and regions as QuPath objects where they were written.
            for extra in QuantifyRun.slideExtras(r.slideId) where fm.fileExists(atPath: src.appendingPathComponent(extra).path) {
                try AtomicFile.copy(src.appendingPathComponent(extra), to: out.appendingPathComponent(extra))
            }
            try QuantifyRun.save(r, to: out.appendingPathComponent("slides/\(r.slideId).json"))
        }
        var unique: [String: SlideResult] = [:]
        for r in all { unique[r.slideId] = r }
        let results = unique.values.sorted { $0.slideId < $1.slideId }
        try CohortTables.writeTables(results, phenotypes: CohortTables.phenotypes(of: results), to: out)
        // The pictures' colour key, where they share one (the slides' phenotypes in one order).
        if let first = results.first, results.allSatisfy({ $0.phenotypes == first.phenotypes }),
           results.contains(where: { fm.fileExists(atPath: out.appendingPathComponent("qc/\($0.slideId).png").path) }) {
            try QCImage.writeKey(phenotypes: first.phenotypes, in: out)
        }
        let info = runInfo(dirs, results: results)
        try AtomicFile.write(String(decoding: try CohortTables.encoder().encode(info), as: UTF8.self), to: out.appendingPathComponent("run.json"))
        return Summary(merged: results.count, failures: info.errors)
    }

    /// What merge reads of a folder's `run.json`; every field optional, so a run recorded by an
    /// older mifq (fewer fields) still gives what it has.
    struct RunRecord: Decodable {
        var mifqVersion: String?, panel: String?, panelName: String?, panelHash: String?
        var totalSeconds: Double?, threads: Int?, tile: Int?
        var errors: [QuantifyRun.Failure]?
        var notes: [String]?
        enum CodingKeys: String, CodingKey {
            case mifqVersion = "mifq_version", panel, panelName = "panel_name", panelHash = "panel_hash"
            case totalSeconds = "total_seconds", threads, tile, errors, notes
        }
    }

    /// The merged folder's run record, from the folders' `run.json` (those that have one) and
    /// the merged results. Values the runs disagree on are listed, comma-separated (threads and
    /// tile: the largest, as they do not change results; none recorded: absent); a failure is
    /// kept once, and not at all when the slide has a result; the runs' notes, each once.
    static func runInfo(_ dirs: [URL], results: [SlideResult]) -> QuantifyRun.RunInfo {
        let runs = dirs.compactMap { d in
            FileManager.default.contents(atPath: d.appendingPathComponent("run.json").path)
                .flatMap { try? JSONDecoder().decode(RunRecord.self, from: $0) }
        }
        func listedOnce(_ values: [String]) -> [String] {
            var seen = Set<String>()
            return values.filter { seen.insert($0).inserted }
        }
        func listed(_ values: [String?], otherwise: String = "not recorded") -> String {
            let joined = listedOnce(values.compactMap { $0 }).joined(separator: ", ")
            return joined.isEmpty ? otherwise : joined
        }
        let have = Set(results.map(\.slideId))
        var failed = Set<String>()
        let errors = runs.flatMap { $0.errors ?? [] }.filter { f in
            let id = SlideInputs.slideId(for: f.slide)
            return !have.contains(id) && failed.insert(id).inserted
        }
        return QuantifyRun.RunInfo(results: results, mifqVersion: listed(runs.map(\.mifqVersion), otherwise: mifqVersion),
                                   panel: listed(runs.map(\.panel)), panelName: listed(runs.map(\.panelName)),
                                   panelHash: listed(runs.map(\.panelHash) + results.map(\.panelHash)),
                                   secondsPerSlide: Dictionary(uniqueKeysWithValues: results.map { ($0.slideId, $0.seconds) }),
                                   totalSeconds: runs.compactMap(\.totalSeconds).reduce(0, +),
                                   threads: runs.compactMap(\.threads).max(), tile: runs.compactMap(\.tile).max(),
                                   errors: errors, resumedSkipped: [], notes: listedOnce(runs.flatMap { $0.notes ?? [] }))
    }
}
