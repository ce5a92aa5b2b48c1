import Foundation
import SlideIO

/// slides.csv (one row per slide) and densities.csv (one row per patient: counts summed over
/// its slides divided by its summed areas), in ARCHITECTURE.md's layout, and thresholds.csv
/// (one row per slide and marker).
public enum CohortTables {
    static let regions = ["total", "tumor", "stroma"]

    static func num(_ v: Double) -> String {
        guard v.isFinite else { return "NA" }
        return String(format: "%.6g", v)
    }

    /// Density in cells/mm², NA when the area is zero.
    static func density(_ count: Int, _ area: Double) -> String { area > 0 ? num(Double(count) / area) : "NA" }

    public static func slidesCSV(_ results: [SlideResult], phenotypes: [String]) -> String {
        var h = ["slide_id", "patient_id", "pixel_size_um", "tissue_area_mm2", "tumor_area_mm2", "stroma_area_mm2", "cells"]
        for p in phenotypes {
            h += regions.map { "\(p)_count_\($0)" } + regions.map { "\(p)_density_\($0)" }
        }
        var out = h.joined(separator: ",") + "\n"
        for r in results.sorted(by: { $0.slideId < $1.slideId }) {
            var row = [CSVText.field(r.slideId), CSVText.field(r.patientId), num(r.pixelSizeUm), num(r.tissueAreaMm2), num(r.tumorAreaMm2), num(r.stromaAreaMm2), "\(r.cells)"]
            for p in phenotypes {
                row += regions.map { "\(r.count(p, $0))" }
                row += regions.map { density(r.count(p, $0), r.area($0)) }
            }
            out += row.joined(separator: ",") + "\n"
        }
        return out
    }

    public static func densitiesCSV(_ results: [SlideResult], phenotypes: [String]) -> String {
        var h = ["patient_id", "tissue_area_mm2", "tumor_area_mm2", "stroma_area_mm2"]
        for p in phenotypes { h += regions.map { "\(p)_density_\($0)" } }
        var out = h.joined(separator: ",") + "\n"
        let byPatient = Dictionary(grouping: results, by: \.patientId)
        for pid in byPatient.keys.sorted() {
            let rs = byPatient[pid]!
            let area = ["total": rs.map(\.tissueAreaMm2).reduce(0, +), "tumor": rs.map(\.tumorAreaMm2).reduce(0, +),
                        "stroma": rs.map(\.stromaAreaMm2).reduce(0, +)]
            var row = [CSVText.field(pid), num(area["total"]!), num(area["tumor"]!), num(area["stroma"]!)]
            for p in phenotypes {
                row += regions.map { reg in density(rs.map { $0.count(p, reg) }.reduce(0, +), area[reg]!) }
            }
            out += row.joined(separator: ",") + "\n"
        }
        return out
    }

    /// thresholds.csv: per slide and marker the threshold used, what set it (`GateHistogram.rule`:
    /// the gate's method, `minimum`, or `hand`), and the cells above it of the cells in tissue —
    /// the gating a paper's methods report, in a table. Markers in each result's order; `NA` where
    /// a result predates the histograms or a gate had no cells to be set from.
    public static func thresholdsCSV(_ results: [SlideResult]) -> String {
        var out = "slide_id,patient_id,marker,threshold,rule,positive_cells,cells\n"
        for r in results.sorted(by: { $0.slideId < $1.slideId }) {
            let hists = r.gateHistograms ?? []
            let markers = hists.isEmpty ? r.thresholds.keys.sorted() : hists.map(\.marker)
            for m in markers {
                let h = hists.first { $0.marker == m }
                let t = r.thresholds[m] ?? nil
                // The threshold to the last digit (it round-trips): copied into --gates, it gates the same.
                let exact = t.flatMap { $0.isFinite ? ($0 == $0.rounded() && abs($0) < 1e15 ? String(Int($0)) : "\($0)") : nil }
                out += [CSVText.field(r.slideId), CSVText.field(r.patientId), m, exact ?? "NA", h?.rule ?? "NA", h.map { "\($0.above)" } ?? "NA",
                        h.map { "\($0.counts.reduce(0, +))" } ?? "NA"].joined(separator: ",") + "\n"
            }
        }
        return out
    }

    /// Phenotype names in panel order, first-seen across results.
    public static func phenotypes(of results: [SlideResult], preferred: [String] = []) -> [String] {
        var seen = preferred
        for r in results { for p in r.phenotypes where !seen.contains(p) { seen.append(p) } }
        return seen
    }

    /// The slide results in `dir/slides`. A file that is not one is an error, or, with
    /// `unreadable`, passed to it (its path) and left out.
    public static func loadResults(in dir: URL, unreadable: ((String) -> Void)? = nil) throws -> [SlideResult] {
        let sd = dir.appendingPathComponent("slides")
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: sd.path) else {
            throw SlideError.invalid(path: dir.path, detail: "is not a quantify output folder (it has no slides/ folder)")
        }
        return try names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            let url = sd.appendingPathComponent(name)
            do {
                return try JSONDecoder().decode(SlideResult.self, from: Data(contentsOf: url))
            } catch {
                guard let unreadable else { throw SlideError.invalid(path: url.path, detail: "not a mifq slide result") }
                unreadable(url.path)
                return nil
            }
        }
    }

    public static func writeTables(_ results: [SlideResult], phenotypes: [String], to dir: URL) throws {
        try AtomicFile.write(slidesCSV(results, phenotypes: phenotypes), to: dir.appendingPathComponent("slides.csv"))
        try AtomicFile.write(densitiesCSV(results, phenotypes: phenotypes), to: dir.appendingPathComponent("densities.csv"))
        try AtomicFile.write(thresholdsCSV(results), to: dir.appendingPathComponent("thresholds.csv"))
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
