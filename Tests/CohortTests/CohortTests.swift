import Foundation
import XCTest
@testable import Cohort

/// Against R (wilcox.test, quantile type 7, survival::survfit/survdiff): fixtures made by
/// scripts/fixtures/cohort_reference.R, compared to a relative 1e-6.
final class CohortTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func table(_ name: String) throws -> Table { try Table.read(root.appendingPathComponent("testdata/fixtures/cohort/\(name)").path) }

    func close(_ a: Double?, _ b: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        if b == "NA" { XCTAssertNil(a, "\(what): R says NA, got \(String(describing: a))", file: file, line: line); return }
        guard let a, let e = Double(b) else { XCTFail("\(what): got nil, R says \(b)", file: file, line: line); return }
        XCTAssertLessThanOrEqual(abs(a - e), 1e-6 * max(abs(e), 1e-300), "\(what): \(a) vs R \(e)", file: file, line: line)
    }

    func testMannWhitneyMatchesR() throws {
        let input = try Self.table("mw_input.csv"), expected = try Self.table("mw_expected.csv")
        for row in expected.rows {
            let c = row[0]
            let x = input.rows.filter { $0[0] == c && $0[1] == "a" }.map { Double($0[2])! }
            let y = input.rows.filter { $0[0] == c && $0[1] == "b" }.map { Double($0[2])! }
            let t = try XCTUnwrap(MannWhitney(x, y))
            close(t.w, row[1], "\(c) W")
            close(t.p, row[2], "\(c) p")
            XCTAssertEqual(t.method.rawValue, row[3], c)
            close(Quantile.median(x), row[4], "\(c) median a")
        }
        // The separated case has p ≈ 1e-165: computed from the tail, not 1 − cdf.
        let sep = expected.rows.first { $0[0] == "separated_500" }!
        XCTAssertLessThan(Double(sep[2])!, 1e-50)
    }

    /// p.adjust (scripts/fixtures/p_adjust_reference.R): every method on random, small, tied and
    /// missing p-values, the Mann–Whitney fixture's p-values and a family of one, to 1e-12.
    func testPAdjustMatchesR() throws {
        let t = try Self.table("p_adjust_expected.csv")
        XCTAssertEqual(Array(t.columns[3...]), ["bonferroni", "holm", "hochberg", "BH", "BY"])
        let methods: [PAdjust] = [.bonferroni, .holm, .hochberg, .bh, .by]
        var cases = 0
        for name in Set(t.rows.map { $0[0] }) {
            let rows = t.rows.filter { $0[0] == name }.sorted { Int($0[1])! < Int($1[1])! }
            let p = rows.map { Double($0[2]) }
            XCTAssertEqual(PAdjust.none.adjust(p), p)
            for (k, m) in methods.enumerated() {
                XCTAssertEqual(m.rName, t.columns[3 + k])
                for (got, row) in zip(m.adjust(p), rows) {
                    if row[3 + k] == "NA" { XCTAssertNil(got, "\(name) \(m)"); continue }
                    let e = Double(row[3 + k])!
                    XCTAssertEqual(got ?? .nan, e, accuracy: 1e-12 * max(e, 1e-300), "\(name) #\(row[1]) \(m)")
                    cases += 1
                }
            }
        }
        XCTAssertEqual(cases, 5 * 35)
    }

    func testQuantileType7MatchesR() throws {
        let v = try Self.table("quantile_input.csv").rows.map { Double($0[0])! }
        for row in try Self.table("quantile_expected.csv").rows {
            close(Quantile.type7(v, Double(row[0])!), row[1], "quantile \(row[0])")
        }
    }

    func testKaplanMeierMatchesR() throws {
        let input = try Self.table("surv_input.csv")
        for row in try Self.table("km_expected.csv").rows {
            let (c, ct, g) = (row[0], row[1], row[2])
            let rs = input.rows.filter { $0[0] == c && (g == "all" || $0[1] == g) }
            let km = KaplanMeier(times: rs.map { Double($0[2])! }, events: rs.map { $0[3] == "1" }, confidence: ct == "log" ? .log : .logLog)
            let what = "\(c) \(ct) group \(g)"
            XCTAssertEqual(km.n, Int(row[3])); XCTAssertEqual(km.events, Int(row[4]))
            let m = km.median
            close(m.value, row[5], "\(what) median")
            close(m.lower, row[6], "\(what) median LCL")
            close(m.upper, row[7], "\(what) median UCL")
            let s = km.survival(at: 12)
            close(s?.s, row[8], "\(what) S(12)")
            close(s?.lower ?? nil, row[9], "\(what) S(12) lower")
            close(s?.upper ?? nil, row[10], "\(what) S(12) upper")
        }
    }

    func testLogRankMatchesR() throws {
        let input = try Self.table("surv_input.csv")
        for row in try Self.table("logrank_expected.csv").rows {
            let rs = input.rows.filter { $0[0] == row[0] }
            let t = try XCTUnwrap(LogRank(times: rs.map { Double($0[2])! }, events: rs.map { $0[3] == "1" }, group: rs.map { Int($0[1])! }))
            close(t.chiSquare, row[1], "\(row[0]) chisq")
            close(t.p, row[2], "\(row[0]) p")
            close(Double(t.observed.1), row[3], "\(row[0]) O1")
            close(t.expected.1, row[4], "\(row[0]) E1")
        }
    }

    /// Hazard ratios against R's coxph (Efron ties) on the same cases: tied times, heavy
    /// censoring, a group of one, 500 and 2000 patients; where R warns that the coefficient may be
    /// infinite (a group without events; events of one group only after the other has left)
    /// mifq calls the model not estimable.
    func testCoxMatchesR() throws {
        let input = try Self.table("surv_input.csv")
        let expected = try Self.table("cox_expected.csv").rows
        XCTAssertEqual(expected.count, 8)
        for row in expected {
            let rs = input.rows.filter { $0[0] == row[0] }
            let c = CoxPH(times: rs.map { Double($0[2])! }, events: rs.map { $0[3] == "1" }, group: rs.map { Int($0[1])! })
            if row[1] == "NA" { XCTAssertNil(c, row[0]); continue }
            let cox = try XCTUnwrap(c, row[0])
            close(cox.beta, row[1], "\(row[0]) coef")
            close(cox.se, row[2], "\(row[0]) se")
            close(cox.hazardRatio, row[3], "\(row[0]) HR")
            close(cox.lower, row[4], "\(row[0]) lower")
            close(cox.upper, row[5], "\(row[0]) upper")
            close(cox.p, row[6], "\(row[0]) p")
        }
    }
}
