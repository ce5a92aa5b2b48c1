import Foundation
import SlideIO

/// Densities (or any per-patient numeric table) joined to clinical data.
public struct CohortData: Sendable {
    public struct Patient: Sendable {
        public var id: String
        public var response: String?
        public var times: [String: (time: Double, event: Bool)]
        public var values: [String: Double]
    }

    public let variables: [String]
    public let patients: [Patient]
    /// Patients only in the densities table, and only in the clinical table.
    public let onlyInValues: [String]
    public let onlyInClinical: [String]
    /// The clinical table's path, for errors about what it holds, and whether it has a
    /// `response` column.
    public let clinicalPath: String
    public let hasResponse: Bool

    public static let endpointColumns = ["pfs": ("pfs_months", "pfs_event"), "os": ("os_months", "os_event")]

    public init(values: Table, clinical: Table, endpoints: [String]) throws {
        let vid = try values.require("patient_id"), cid = try clinical.require("patient_id")
        guard !values.rows.isEmpty else { throw CohortError.input(values.path, "has a header but no rows") }
        guard !clinical.rows.isEmpty else { throw CohortError.input(clinical.path, "has a header but no patients") }
        var vars: [String] = []
        for (i, c) in values.columns.enumerated() where i != vid {
            // A variable is a column of numbers (NA allowed); text columns (region names…) are
            // skipped; a column mixing numbers and text is an error at its first text cell.
            // (`try?` flattens: nil for text and for NA alike, a value for a number.)
            let numeric = values.rows.indices.filter { r in (try? values.number(r, i)) != nil }.count
            guard numeric > 0 else { continue }
            for r in values.rows.indices { _ = try values.number(r, i) }
            vars.append(c)
        }
        guard !vars.isEmpty else { throw CohortError.input(values.path, "has no numeric column besides patient_id") }
        // mifq's densities.csv also carries areas: when density columns exist, they are the variables.
        let densities = vars.filter { $0.lowercased().contains("density") }
        if !densities.isEmpty { vars = densities }
        let responseCol = clinical.index(of: "response")
        var endpointCols: [String: (Int, Int)] = [:]
        for e in endpoints {
            guard let (t, ev) = CohortData.endpointColumns[e] else {
                throw CohortError.input(clinical.path, "unknown endpoint \(e) (use pfs or os)")
            }
            endpointCols[e] = (try clinical.require(t), try clinical.require(ev))
        }
        var clinicalByID: [String: Int] = [:]
        for (r, row) in clinical.rows.enumerated() {
            if clinicalByID[row[cid]] != nil { throw CohortError.input(clinical.path, "patient \(CSVText.shown(row[cid])) appears twice") }
            clinicalByID[row[cid]] = r
        }
        var seen = Set<String>()
        var patients: [Patient] = []
        var onlyValues: [String] = []
        for (r, row) in values.rows.enumerated() {
            let id = row[vid]
            guard seen.insert(id).inserted else { throw CohortError.input(values.path, "patient \(CSVText.shown(id)) appears twice") }
            var vals: [String: Double] = [:]
            for v in vars { vals[v] = try values.number(r, values.index(of: v)!) }
            guard let cr = clinicalByID[id] else { onlyValues.append(id); continue }
            var times: [String: (Double, Bool)] = [:]
            for (e, (tc, ec)) in endpointCols {
                guard let t = try clinical.number(cr, tc), let ev = try clinical.event(cr, ec) else { continue }
                guard ev == 0 || ev == 1 else {
                    throw CohortError.input(clinical.path, "line \(clinical.lines[cr]), column \(clinical.columns[ec]): events must be 0 or 1 (or TRUE or FALSE)")
                }
                guard t >= 0 else { throw CohortError.input(clinical.path, "line \(clinical.lines[cr]): negative time") }
                times[e] = (t, ev == 1)
            }
            let resp = responseCol.map { clinical.rows[cr][$0].uppercased() }
            patients.append(Patient(id: id, response: resp?.isEmpty == true ? nil : resp, times: times, values: vals))
        }
        guard !patients.isEmpty else {
            throw CohortError.input(clinical.path, "shares no patient_id with \(values.path) (this file's first: "
                                    + "\(CSVText.shown(clinical.rows[0][cid])), that file's first: \(CSVText.shown(values.rows[0][vid])))")
        }
        variables = vars
        self.patients = patients
        clinicalPath = clinical.path
        hasResponse = responseCol != nil
        onlyInValues = onlyValues
        onlyInClinical = clinical.rows.map { $0[cid] }.filter { !seen.contains($0) }
    }
}
