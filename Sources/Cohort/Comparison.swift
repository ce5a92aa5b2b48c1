import Foundation
import SlideIO

/// PR vs SD (or any two response groups, each one response or several joined by "+": CR+PR
/// against SD+PD compares responders with non-responders): one Mann–Whitney test per variable.
public struct Comparison: Sendable {
    public struct Row: Sendable {
        public var variable: String
        public var nA: Int, nB: Int
        public var medianA: Double?, medianB: Double?
        public var test: MannWhitney?
        public var missing: Int
        public var valuesA: [Double], valuesB: [Double]
    }

    public let groups: (String, String)
    public let rows: [Row]
    /// Patients whose response is outside the two groups (CR, PD, not evaluable…), by response.
    public let otherResponses: [String: Int]

    /// The responses a group names: "CR+PR" is CR and PR (compared as the clinical table's
    /// responses are, without regard to case).
    public static func responses(of group: String) -> Set<String> {
        Set(group.split(separator: "+", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces).uppercased() })
    }

    public init(_ data: CohortData, groups: (String, String)) throws {
        self.groups = groups
        let a = Self.responses(of: groups.0), b = Self.responses(of: groups.1)
        guard data.hasResponse else {
            throw CohortError.input(data.clinicalPath, "has no column \"response\" (comparing \(groups.0) with \(groups.1) needs one)")
        }
        func within(_ g: Set<String>) -> (CohortData.Patient) -> Bool { { $0.response.map(g.contains) ?? false } }
        // Each group's patients, once (the variables are read from them below).
        let inA = data.patients.filter(within(a)), inB = data.patients.filter(within(b))
        var other: [String: Int] = [:]
        for p in data.patients where !within(a)(p) && !within(b)(p) { other[p.response ?? "missing", default: 0] += 1 }
        otherResponses = other
        for (g, members) in [(a, inA), (b, inB)] where members.isEmpty {
            let present = Set(data.patients.compactMap(\.response)).sorted().joined(separator: ", ")
            throw CohortError.input(data.clinicalPath, "no patient with values has response \(g.sorted().joined(separator: " or ")) "
                                    + "(--groups \(groups.0),\(groups.1); "
                                    + (present.isEmpty ? "none has a response)" : "responses present: \(present))"))
        }
        rows = data.variables.map { v in
            let xa = inA.compactMap { $0.values[v] }, xb = inB.compactMap { $0.values[v] }
            return Row(variable: v, nA: xa.count, nB: xb.count,
                       medianA: xa.isEmpty ? nil : Quantile.median(xa), medianB: xb.isEmpty ? nil : Quantile.median(xb),
                       test: MannWhitney(xa, xb), missing: inA.count + inB.count - xa.count - xb.count, valuesA: xa, valuesB: xb)
        }
    }

    /// mann_whitney.csv; with an adjustment, a last column `p_adjusted` over all the variables
    /// (one family, as `p.adjust(p, method)` on the p_value column).
    public func csv(adjust: PAdjust = .none) -> String {
        var out = "variable,group_a,group_b,n_a,n_b,median_a,median_b,U,p_value,method"
        out += adjust == .none ? "\n" : ",p_adjusted\n"
        let adjusted = adjust.adjust(rows.map { $0.test?.p })
        for (r, q) in zip(rows, adjusted) {
            var fields = [CSVText.field(r.variable), CSVText.field(groups.0), CSVText.field(groups.1), "\(r.nA)", "\(r.nB)", num(r.medianA), num(r.medianB),
                          num(r.test?.w), num(r.test?.p), r.test?.method.rawValue ?? "NA"]
            if adjust != .none { fields.append(num(q)) }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }
}

/// A number as R prints it with 15 significant digits; NA for nil.
func num(_ v: Double?) -> String {
    guard let v, v.isFinite else { return "NA" }
    return String(format: "%.15g", v)
}
