import Foundation
import SlideIO

/// What `mifq compare` and `mifq survival` write, and the notes they print.
public enum CohortRun {
    static func write(_ text: String, _ url: URL) throws { try AtomicFile.write(text, to: url) }

    /// Lines describing patients left out, for stderr and the notes file.
    static func joinNotes(_ d: CohortData) -> [String] {
        var n: [String] = []
        if !d.onlyInValues.isEmpty { n.append("\(d.onlyInValues.count) patient(s) have densities but no clinical row: \(d.onlyInValues.joined(separator: " "))") }
        if !d.onlyInClinical.isEmpty { n.append("\(d.onlyInClinical.count) patient(s) have clinical data but no densities: \(d.onlyInClinical.joined(separator: " "))") }
        return n
    }

    /// Mann–Whitney per variable → mann_whitney.csv, figures/boxplots.svg, compare_notes.txt.
    public static func compare(values: String, clinical: String, groups: (String, String), adjust: PAdjust = .none,
                               out: URL) throws -> [String] {
        let data = try CohortData(values: Table.read(values), clinical: Table.read(clinical), endpoints: [])
        let c = try Comparison(data, groups: groups)
        var notes = joinNotes(data)
        for (resp, n) in c.otherResponses.sorted(by: { $0.key < $1.key }) {
            notes.append("\(n) patient(s) with response \(resp) left out of \(groups.0) vs \(groups.1)")
        }
        for r in c.rows where r.missing > 0 { notes.append("\(r.variable): \(r.missing) patient(s) without a value excluded") }
        if adjust != .none {
            notes.append("p_adjusted: p.adjust(method = \"\(adjust.rName)\") over the \(c.rows.filter { $0.test?.p != nil }.count) variables with a p-value")
        }
        try write(c.csv(adjust: adjust), out.appendingPathComponent("mann_whitney.csv"))
        try write(Plots.boxPlots(c), out.appendingPathComponent("figures/boxplots.svg"))
        try write(notes.joined(separator: "\n") + "\n", out.appendingPathComponent("compare_notes.txt"))
        return notes
    }

    /// Percentile split, KM, log-rank and Cox per variable and endpoint → logrank.csv,
    /// hazard_ratios.csv, figures/forest_<endpoint>.svg, km_summary.csv,
    /// figures/overall_<endpoint>.svg, figures/km_<variable>_<endpoint>.svg, survival_notes.txt.
    public static func survival(values: String, clinical: String, endpoints: [String], percentile: Double, rule: CutRule,
                                landmark: Double, confidence: ConfidenceType, adjust: PAdjust = .none, cutoffs: String? = nil,
                                out: URL) throws -> [String] {
        guard percentile > 0 && percentile < 100 else { throw CohortError.input("--percentile", "must be above 0 and below 100") }
        let data = try CohortData(values: Table.read(values), clinical: Table.read(clinical), endpoints: endpoints)
        let fixed = try cutoffs.map { try SurvivalAnalysis.readCutoffs($0, variables: data.variables) } ?? [:]
        let s = SurvivalAnalysis(data, endpoints: endpoints, percentile: percentile, rule: rule, landmark: landmark,
                                 confidence: confidence, cutoffs: fixed)
        var notes = joinNotes(data)
        // A fixed cut-off once per variable, beside the percentile's (on its first endpoint's patients).
        for v in data.variables where fixed[v] != nil {
            guard let r = s.rows.first(where: { $0.variable == v }) else { continue }
            notes.append("\(r.variable): cut-off \(num(r.cutoff)) from \(cutoffs ?? "") (percentile \(num(percentile)) of these patients: \(num(r.percentileCutoff)))")
        }
        for r in s.rows where r.missing > 0 { notes.append("\(r.variable) (\(r.endpoint)): \(r.missing) patient(s) without a value excluded") }
        for r in s.rows where r.low == nil || r.high == nil {
            let n = (r.low?.n ?? 0) + (r.high?.n ?? 0)
            notes.append("\(r.variable) (\(r.endpoint)): all \(n) patient(s) \(r.high == nil ? (rule == .gt ? "at or below" : "below") : (rule == .gt ? "above" : "at or above")) the cut-off \(num(r.cutoff)); no test")
        }
        for r in s.rows where r.cox == nil && r.low != nil && r.high != nil {
            notes.append("\(r.variable) (\(r.endpoint)): hazard ratio not estimable (events in one group only, or only after the other group has left)")
        }
        if adjust != .none {
            notes.append("p_adjusted: p.adjust(method = \"\(adjust.rName)\") within each endpoint, over its variables with a p-value (log-rank and Cox apart)")
        }
        try write(s.csv(adjust: adjust), out.appendingPathComponent("logrank.csv"))
        try write(s.hazardRatiosCSV(adjust: adjust), out.appendingPathComponent("hazard_ratios.csv"))
        for e in endpoints where s.rows.contains(where: { $0.endpoint == e }) {
            try write(Plots.forest(s.rows, endpoint: e), out.appendingPathComponent("figures/forest_\(e).svg"))
        }
        try write(s.summaryCSV(), out.appendingPathComponent("km_summary.csv"))
        for (e, curve) in s.overall where curve.n > 0 {
            try write(Plots.kaplanMeierOverall(endpoint: e, curve: curve), out.appendingPathComponent("figures/overall_\(e).svg"))
        }
        for r in s.rows {
            let safe = r.variable.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" }
            try write(Plots.kaplanMeier(r, percentile: percentile), out.appendingPathComponent("figures/km_\(String(safe))_\(r.endpoint).svg"))
        }
        try write(notes.joined(separator: "\n") + "\n", out.appendingPathComponent("survival_notes.txt"))
        return notes
    }

    public static func report(_ dir: URL) throws -> URL {
        let url = dir.appendingPathComponent("report.html")
        try write(try Report.html(for: dir), url)
        return url
    }
}
