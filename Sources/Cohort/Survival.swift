import Foundation
import SlideIO

/// Which side of the cut-off counts as high (survminer's `surv_categorize` uses `>`).
public enum CutRule: String, Sendable, CaseIterable {
    case gt, ge
}

/// Per variable and endpoint: the percentile cut-off, Kaplan–Meier curves of the low and high
/// groups, and the log-rank test.
public struct SurvivalAnalysis: Sendable {
    public struct Row: Sendable {
        public var variable: String
        public var endpoint: String
        public var cutoff: Double
        /// The cut-off was given (`--cutoffs`), not the percentile of these patients.
        public var fixedCutoff = false
        /// The percentile's cut-off over these patients (equal to `cutoff` unless fixed).
        public var percentileCutoff: Double
        public var low: KaplanMeier?
        public var high: KaplanMeier?
        public var test: LogRank?
        /// High against low (nil: not estimable).
        public var cox: CoxPH?
        public var missing: Int
    }

    public let percentile: Double
    public let rule: CutRule
    public let landmark: Double
    public let rows: [Row]
    /// Whole-cohort curve per endpoint.
    public let overall: [(endpoint: String, curve: KaplanMeier)]

    /// - Parameter cutoffs: fixed cut-offs by variable (e.g. a discovery cohort's, applied to a
    ///   validation cohort); the other variables are split at the percentile.
    public init(_ data: CohortData, endpoints: [String], percentile: Double, rule: CutRule,
                landmark: Double, confidence: ConfidenceType, cutoffs: [String: Double] = [:]) {
        self.percentile = percentile; self.rule = rule; self.landmark = landmark
        var rows: [Row] = []
        var overall: [(String, KaplanMeier)] = []
        for e in endpoints {
            let withTime = data.patients.filter { $0.times[e] != nil }
            overall.append((e, KaplanMeier(times: withTime.map { $0.times[e]!.time }, events: withTime.map { $0.times[e]!.event },
                                           confidence: confidence)))
        }
        for v in data.variables {
            for e in endpoints {
                let ps = data.patients.filter { $0.times[e] != nil && $0.values[v] != nil }
                let missing = data.patients.filter { $0.times[e] != nil }.count - ps.count
                guard !ps.isEmpty else { continue }
                let values = ps.map { $0.values[v]! }
                let atPercentile = Quantile.type7(values, percentile / 100)
                let cut = cutoffs[v] ?? atPercentile
                let high = values.map { rule == .gt ? $0 > cut : $0 >= cut }
                func curve(_ want: Bool) -> KaplanMeier? {
                    let g = ps.indices.filter { high[$0] == want }
                    guard !g.isEmpty else { return nil }
                    return KaplanMeier(times: g.map { ps[$0].times[e]!.time }, events: g.map { ps[$0].times[e]!.event }, confidence: confidence)
                }
                let (times, events, group) = (ps.map { $0.times[e]!.time }, ps.map { $0.times[e]!.event }, high.map { $0 ? 1 : 0 })
                rows.append(Row(variable: v, endpoint: e, cutoff: cut, fixedCutoff: cutoffs[v] != nil, percentileCutoff: atPercentile,
                                low: curve(false), high: curve(true),
                                test: LogRank(times: times, events: events, group: group),
                                cox: CoxPH(times: times, events: events, group: group), missing: missing))
            }
        }
        self.rows = rows
        self.overall = overall
    }

    /// `p` of every row adjusted within its endpoint (each endpoint's variables are one family).
    func adjustedByEndpoint(_ adjust: PAdjust, _ p: (Row) -> Double?) -> [Double?] {
        var out = [Double?](repeating: nil, count: rows.count)
        for e in Set(rows.map(\.endpoint)) {
            let idx = rows.indices.filter { rows[$0].endpoint == e }
            for (i, q) in zip(idx, adjust.adjust(idx.map { p(rows[$0]) })) { out[i] = q }
        }
        return out
    }

    /// Fixed cut-offs from a CSV with columns `variable,cutoff` (other columns ignored, so a
    /// discovery run's logrank.csv serves); every variable named must be one of `variables`,
    /// with a finite cut-off, the same wherever it repeats.
    public static func readCutoffs(_ path: String, variables: [String]) throws -> [String: Double] {
        let t = try Table.read(path)
        let vi = try t.require("variable"), ci = try t.require("cutoff")
        var out: [String: Double] = [:]
        for r in t.rows.indices {
            let v = t.rows[r][vi], line = t.lines[r]
            guard !v.isEmpty else { throw CohortError.input(path, "line \(line): the variable is blank") }
            guard variables.contains(v) else {
                throw CohortError.input(path, "line \(line): \"\(CSVText.shown(v))\" is not a column of the values table")
            }
            guard let c = try t.number(r, ci) else { throw CohortError.input(path, "line \(line): no cut-off for \(CSVText.shown(v))") }
            // A variable may repeat with the same cut-off (a run's logrank.csv lists it per endpoint).
            if let earlier = out[v], earlier != c {
                throw CohortError.input(path, "line \(line): a second, different cut-off for \(CSVText.shown(v)) (\(num(c)) after \(num(earlier)))")
            }
            out[v] = c
        }
        return out
    }

    /// logrank.csv; with an adjustment, a last column `p_adjusted`: the log-rank p adjusted over the
    /// variables of its endpoint.
    public func csv(adjust: PAdjust = .none) -> String {
        var out = "variable,endpoint,rule,cutoff,n_low,n_high,events_low,events_high,median_low,median_high,"
        out += "s12_low,s12_low_lcl,s12_low_ucl,s12_high,s12_high_lcl,s12_high_ucl,chisq,p_value"
        out += adjust == .none ? "\n" : ",p_adjusted\n"
        let adjusted = adjustedByEndpoint(adjust) { $0.test?.p }
        for (r, q) in zip(rows, adjusted) {
            let l = r.low, h = r.high
            let sl = l?.survival(at: landmark), sh = h?.survival(at: landmark)
            out += (split(r) + [num(l?.median.value), num(h?.median.value),
                                num(sl?.s), num(sl?.lower), num(sl?.upper), num(sh?.s), num(sh?.lower), num(sh?.upper),
                                num(r.test?.chiSquare), num(r.test?.p)]).joined(separator: ",") + (adjust == .none ? "" : "," + num(q)) + "\n"
        }
        return out
    }

    /// The columns logrank.csv and hazard_ratios.csv both begin with: variable, endpoint, rule,
    /// cut-off, and each group's patients and events.
    func split(_ r: Row) -> [String] {
        [CSVText.field(r.variable), r.endpoint, rule == .gt ? "high>cutoff" : "high>=cutoff", num(r.cutoff),
         "\(r.low?.n ?? 0)", "\(r.high?.n ?? 0)", "\(r.low?.events ?? 0)", "\(r.high?.events ?? 0)"]
    }

    /// Hazard ratio of the high group against the low one per variable and endpoint (Cox, Efron
    /// ties, Wald interval and p as R's `summary(coxph(...))`); NA where not estimable. With an
    /// adjustment, a last column `p_adjusted`: the Wald p adjusted over the variables of its endpoint
    /// whose hazard ratio is estimable.
    public func hazardRatiosCSV(adjust: PAdjust = .none) -> String {
        var out = "variable,endpoint,rule,cutoff,n_low,n_high,events_low,events_high,hr,hr_lcl,hr_ucl,p_value"
        out += adjust == .none ? "\n" : ",p_adjusted\n"
        let adjusted = adjustedByEndpoint(adjust) { $0.cox?.p }
        for (r, q) in zip(rows, adjusted) {
            out += (split(r) + [num(r.cox?.hazardRatio), num(r.cox?.lower), num(r.cox?.upper), num(r.cox?.p)]).joined(separator: ",")
                + (adjust == .none ? "" : "," + num(q)) + "\n"
        }
        return out
    }

    /// The study's cohort summary: medians with 95% CI ("NE" when a limit is not reached) and
    /// survival at the landmark with its CI.
    public func summaryCSV() -> String {
        var out = "endpoint,n,events,median_months,median_lcl,median_ucl,landmark_months,survival,survival_lcl,survival_ucl\n"
        for (e, c) in overall {
            let m = c.median
            let s = c.survival(at: landmark)
            out += [e, "\(c.n)", "\(c.events)", m.value.map { num($0) } ?? "NE", m.lower.map { num($0) } ?? "NE",
                    m.upper.map { num($0) } ?? "NE", num(landmark), num(s?.s), num(s?.lower), num(s?.upper)].joined(separator: ",") + "\n"
        }
        return out
    }
}
