import Foundation
import XCTest
@testable import Cohort
import SlideIO

/// The commands' behaviour on users' tables: joins, exclusions, and one-line errors.
final class CohortRunTests: XCTestCase {
    var dir: URL!

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-cohort-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func file(_ name: String, _ text: String) -> String {
        let p = dir.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    var clinical: String {
        file("clinical.csv", """
        patient_id,response,pfs_months,pfs_event,os_months,os_event
        P1,PR,10,1,20,1
        P2,PR,14,0,30,0
        P3,SD,3,1,9,1
        P4,SD,5,1,12,1
        P5,PD,2,1,4,1
        P6,PR,8,1,25,0
        P7,SD,6,0,18,1
        """)
    }

    func testMissingValuesAreExcludedAndReported() throws {
        // HALO-style export: quoted header, NA and empty cells, a patient absent from clinical.
        let d = file("halo.csv", """
        "patient_id","CD8 Positive Cells/mm2","Region"
        P1,300,tumor
        P2,NA,tumor
        P3,120,tumor
        P4,,tumor
        P5,50,tumor
        P6,280,tumor
        P7,100,tumor
        P9,500,tumor
        """)
        let notes = try CohortRun.compare(values: d, clinical: clinical, groups: ("PR", "SD"), out: dir)
        let mw = try String(contentsOf: dir.appendingPathComponent("mann_whitney.csv"), encoding: .utf8)
        // PR: 300, 280 (P2 missing); SD: 120, 100 (P4 missing); W = 4, exact p = 2 × 1/6.
        XCTAssertEqual(mw.split(separator: "\n")[1], "CD8 Positive Cells/mm2,PR,SD,2,2,290,110,4,0.333333333333333,exact")
        XCTAssertTrue(notes.contains("1 patient(s) have densities but no clinical row: P9"), "\(notes)")
        XCTAssertTrue(notes.contains("1 patient(s) with response PD left out of PR vs SD"), "\(notes)")
        XCTAssertTrue(notes.contains("CD8 Positive Cells/mm2: 2 patient(s) without a value excluded"), "\(notes)")
    }

    /// Tables as spreadsheets in other locales save them: Excel's semicolon "CSV" with decimal
    /// commas (here with a byte-order mark and CRLF), and tab-separated text (R, inForm). Each
    /// gives the table the comma-separated file gives, to the byte.
    func testSemicolonAndTabSeparatedTables() throws {
        let d = file("d.csv", "patient_id,A,B\nP1,300.5,1\nP2,250,5\nP3,120.25,2\nP4,110,4\nP6,280,3\nP7,100,6\n")
        let semicolons = file("d-excel.csv", "\u{FEFF}patient_id;A;B\r\nP1;300,5;1\r\nP2;250;5\r\nP3;120,25;2\r\nP4;110;4\r\nP6;280;3\r\nP7;100;6\r\n")
        let tabs = file("d.tsv", "patient_id\tA\tB\nP1\t300.5\t1\nP2\t250\t5\nP3\t120.25\t2\nP4\t110\t4\nP6\t280\t3\nP7\t100\t6\n")
        let clinicalExcel = file("clinical-excel.csv", try String(contentsOfFile: clinical, encoding: .utf8)
            .replacingOccurrences(of: ",", with: ";").replacingOccurrences(of: "P2;PR;14", with: "P2;PR;14,0"))
        func mannWhitney(_ values: String, _ clinical: String) throws -> String {
            _ = try CohortRun.compare(values: values, clinical: clinical, groups: ("PR", "SD"), out: dir)
            return try String(contentsOf: dir.appendingPathComponent("mann_whitney.csv"), encoding: .utf8)
        }
        let expected = try mannWhitney(d, clinical)
        // By hand: A is 300.5, 250, 280 against 120.25, 110, 100, so its PR median is 280.
        XCTAssertTrue(expected.contains("\nA,PR,SD,3,3,280,110,9,0.1,exact\n"), expected)
        XCTAssertEqual(try mannWhitney(semicolons, clinicalExcel), expected)
        XCTAssertEqual(try mannWhitney(tabs, clinical), expected)
        XCTAssertEqual(try Table.read(semicolons).rows[0], ["P1", "300,5", "1"])
        XCTAssertEqual(try Table.read(semicolons).number(0, 1), 300.5)
        // A comma-separated file's "300,5" is no number (a comma there is a separator's slip),
        // nor is a semicolon file's "1,000,5".
        let twoCommas = file("two.csv", "patient_id;A\nP1;1,000,5\n")
        XCTAssertThrowsError(try Table.read(twoCommas).number(0, 1)) {
            XCTAssertEqual("\($0)", "\(twoCommas): line 2, column A: \"1,000,5\" is not a number")
        }
        XCTAssertEqual(Table(path: "t", columns: ["A"], rows: [["300,5"]]).decimalComma, false)
        XCTAssertThrowsError(try Table(path: "t", columns: ["A"], rows: [["300,5"]]).number(0, 0))
    }

    /// Groups of several responses: responders (CR+PR) against non-responders (SD+PD).
    func testGroupsOfSeveralResponses() throws {
        // CR+PR: P1, P2, P6 (no CR here) = 300, 250, 280; SD+PD: P3, P4, P5, P7 = 120, 110, 50, 100.
        // Separated: W = 3 × 4 = 12, exact p = 2 / C(7, 3) = 2/35; medians 280 and 105.
        let d = file("d.csv", "patient_id,A\nP1,300\nP2,250\nP3,120\nP4,110\nP5,50\nP6,280\nP7,100\n")
        let notes = try CohortRun.compare(values: d, clinical: clinical, groups: ("CR+PR", "SD + pd"), out: dir)
        let mw = try String(contentsOf: dir.appendingPathComponent("mann_whitney.csv"), encoding: .utf8)
        XCTAssertEqual(mw.split(separator: "\n")[1], "A,CR+PR,SD + pd,3,4,280,105,12,0.0571428571428571,exact")
        XCTAssertFalse(notes.contains { $0.contains("left out") }, "\(notes)")
        XCTAssertEqual(Comparison.responses(of: "cr+ PR"), ["CR", "PR"])
        XCTAssertThrowsError(try CohortRun.compare(values: d, clinical: clinical, groups: ("CR+MR", "SD"), out: dir)) {
            XCTAssertEqual("\($0)", "\(clinical): no patient with values has response CR or MR (--groups CR+MR,SD; responses present: PD, PR, SD)")
        }
    }

    /// A column named with a comma (HALO's "CD8+, PD-L1+ Cells/mm2") is written quoted, and the
    /// tables read back give it whole (the log-rank table also serves as --cutoffs).
    func testNamesWithCommasAreQuoted() throws {
        let d = file("halo.csv", "patient_id,\"CD8+, PD-L1+ Cells/mm2\"\nP1,300\nP2,250\nP3,120\nP4,110\nP6,280\nP7,100\n")
        _ = try CohortRun.compare(values: d, clinical: clinical, groups: ("PR", "SD"), out: dir)
        let mw = try String(contentsOf: dir.appendingPathComponent("mann_whitney.csv"), encoding: .utf8)
        XCTAssertEqual(mw.split(separator: "\n")[1], "\"CD8+, PD-L1+ Cells/mm2\",PR,SD,3,3,280,110,9,0.1,exact")
        XCTAssertEqual(try Table.read(dir.appendingPathComponent("mann_whitney.csv").path).rows[0][0], "CD8+, PD-L1+ Cells/mm2")
        _ = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                   landmark: 12, confidence: .log, out: dir)
        for table in ["logrank.csv", "hazard_ratios.csv"] {
            let t = try Table.read(dir.appendingPathComponent(table).path)
            XCTAssertEqual(t.rows.map { $0[0] }, ["CD8+, PD-L1+ Cells/mm2"], table)
        }
        XCTAssertEqual(CSVText.field("plain"), "plain")
        XCTAssertEqual(CSVText.field("a \"b\", c"), "\"a \"\"b\"\", c\"")
        XCTAssertEqual(CSVText.field(" x "), " x ")
        XCTAssertEqual(try CSVText.records(Data(("h\n" + CSVText.field("two\nlines, \"q\"") + "\n").utf8)), [["h"], ["two\nlines, \"q\""]])
    }

    /// Axis ticks: round steps over the range; a range too narrow for its values' size (all at
    /// 1e308: adding the old minimum step left the tick where it was, and compare hung; found by
    /// fuzzing the tables), an infinite or empty one, ends in a few ticks.
    func testAxisTicksEnd() {
        XCTAssertEqual(SVG.ticks(0, 10), [0, 2, 4, 6, 8, 10])
        XCTAssertEqual(SVG.ticks(-3, 7), [-2, 0, 2, 4, 6])
        XCTAssertEqual(SVG.ticks(1e308, 1e308).count, 1)
        XCTAssertLessThanOrEqual(SVG.ticks(1e300, 1e300 * (1 + 1e-15)).count, 2)
        XCTAssertEqual(SVG.ticks(-.infinity, 1), [])
        XCTAssertEqual(SVG.ticks(.nan, 1), [])
        XCTAssertEqual(SVG.ticks(2, 1), [])
        XCTAssertLessThanOrEqual(SVG.ticks(-1e308, 1e308).count, 2)
        XCTAssertEqual(SVG.ticks(.leastNonzeroMagnitude, .leastNonzeroMagnitude).count, 1)
        // Equal values above ~2000: the old minimum step (2e-13) was below their spacing.
        XCTAssertEqual(SVG.ticks(5000, 5000), [5000])
    }

    /// A variable of negative values (z-scores): the box plot's axis runs from the lowest value to
    /// above 0 (its top was 1.08 × the highest value, below it when negative; -1e308 hung compare).
    func testBoxPlotOfNegativeValues() throws {
        let d = file("z.csv", "patient_id,z\nP1,-3\nP2,-5\nP3,-7\nP4,-2\nP6,-1\nP7,-4\n")
        _ = try CohortRun.compare(values: d, clinical: clinical, groups: ("PR", "SD"), out: dir)
        let svg = try String(contentsOf: dir.appendingPathComponent("figures/boxplots.svg"), encoding: .utf8)
        // Axis -7 … 0 + 8% of 7: ticks every 2 from -6 to 0.
        for label in ["-6", "-4", "-2", "0"] { XCTAssertTrue(svg.contains(">\(label)</text>"), label) }
        XCTAssertFalse(svg.contains(">-8</text>") || svg.contains(">2</text>"))
        let huge = file("huge.csv", "patient_id,z\nP1,-1e308\nP3,-1e308\n")
        _ = try CohortRun.compare(values: huge, clinical: clinical, groups: ("PR", "SD"), out: dir)
    }

    func testAdjustedPValues() throws {
        // PR (P1, P2, P6) against SD (P3, P4, P7). A: 300, 250, 280 vs 120, 110, 100 — separated,
        // exact p = 2 / C(6, 3) = 0.1. B: 1, 5, 3 vs 2, 4, 6 — W = 3, p = 2 × 7/20 = 0.7.
        // BH over the two: 0.7 stays, 0.1 → min(2 × 0.1, 0.7) = 0.2.
        let d = file("d.csv", "patient_id,A,B\nP1,300,1\nP2,250,5\nP3,120,2\nP4,110,4\nP6,280,3\nP7,100,6\n")
        let notes = try CohortRun.compare(values: d, clinical: clinical, groups: ("PR", "SD"), adjust: .bh, out: dir)
        let mw = try Table.read(dir.appendingPathComponent("mann_whitney.csv").path)
        XCTAssertEqual(mw.columns.last, "p_adjusted")
        XCTAssertEqual(mw.rows.map { [$0[8], $0[10]] }, [["0.1", "0.2"], ["0.7", "0.7"]])
        XCTAssertTrue(notes.contains { $0.contains("p.adjust(method = \"BH\") over the 2 variables") }, "\(notes)")
        // Without --adjust the contract's columns stay as they are.
        _ = try CohortRun.compare(values: d, clinical: clinical, groups: ("PR", "SD"), out: dir)
        XCTAssertEqual(try Table.read(dir.appendingPathComponent("mann_whitney.csv").path).columns.last, "method")

        // Survival: each endpoint's variables are one family (Bonferroni: × 2, not × 4).
        _ = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs", "os"], percentile: 30, rule: .gt,
                                   landmark: 12, confidence: .log, adjust: .bonferroni, out: dir)
        for name in ["logrank.csv", "hazard_ratios.csv"] {
            let t = try Table.read(dir.appendingPathComponent(name).path)
            XCTAssertEqual(t.columns.suffix(2), ["p_value", "p_adjusted"], name)
            XCTAssertEqual(t.rows.count, 4, name)
            for r in t.rows {
                let p = try XCTUnwrap(Double(r[r.count - 2])), q = try XCTUnwrap(Double(r[r.count - 1]))
                XCTAssertEqual(q, min(1, 2 * p), accuracy: 1e-15, "\(name) \(r[0]) \(r[1])")
            }
        }
        let html = try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<th>p_adjusted</th>").count - 1, 2, "logrank and hazard-ratio tables")
    }

    func testFixedCutoffs() throws {
        let d = file("d.csv", "patient_id,CD8_density_total,CD68_density_total\nP1,300,5\nP2,250,6\nP3,120,7\nP4,110,8\nP5,50,9\nP6,280,10\nP7,NA,11\n")
        let cut = file("cut.csv", "variable,cutoff,source\nCD8_density_total,260,discovery\nCD68_density_total,100,discovery\n")
        let notes = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                           landmark: 12, confidence: .log, cutoffs: cut, out: dir)
        // CD8 at 260, not at the percentile (115): high P1 (300) and P6 (280), low P2–P5.
        // R: survdiff(Surv(c(10,14,3,5,2,8), c(1,0,1,1,1,1)) ~ c(1,0,0,0,0,1)): χ² 0.135084427767355,
        // p 0.7132175023416; coxph: HR 0.70972227140659 (0.11315145906803–4.45160589778772), p 0.71436268204921.
        let lr = try Table.read(dir.appendingPathComponent("logrank.csv").path)
        XCTAssertEqual(Array(lr.rows[0][0..<8]), ["CD8_density_total", "pfs", "high>cutoff", "260", "4", "2", "3", "2"])
        XCTAssertEqual(Double(lr.rows[0][16])!, 0.135084427767355, accuracy: 1e-12)
        XCTAssertEqual(Double(lr.rows[0][17])!, 0.7132175023416, accuracy: 1e-12)
        let hr = try Table.read(dir.appendingPathComponent("hazard_ratios.csv").path)
        for (k, r) in [(8, 0.70972227140659), (9, 0.11315145906803), (10, 4.45160589778772), (11, 0.71436268204921)] {
            XCTAssertEqual(Double(hr.rows[0][k])!, r, accuracy: 1e-9 * r, hr.columns[k])
        }
        XCTAssertTrue(notes.contains("CD8_density_total: cut-off 260 from \(cut) (percentile 30 of these patients: 115)"), "\(notes)")
        // CD68 at 100: every patient low, no test, and said so.
        XCTAssertEqual(Array(lr.rows[1][3..<6]), ["100", "7", "0"])
        XCTAssertEqual(lr.rows[1][17], "NA")
        XCTAssertTrue(notes.contains("CD68_density_total (pfs): all 7 patient(s) at or below the cut-off 100; no test"), "\(notes)")
        let svg = try String(contentsOf: dir.appendingPathComponent("figures/km_CD8_density_total_pfs.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("cut-off 260 (fixed)"), svg)
        let html = try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
        XCTAssertTrue(html.contains("<ul class=\"notes\"><li>CD8_density_total: cut-off 260 from"), "the report lists survival's notes")
        // Hazard ratios below 0.1 keep two significant digits, trailing zero included.
        XCTAssertEqual([0.0697460567159216, 0.0036, 0.0130613591494198, 0.17, 1.92555].map(Plots.hrText), ["0.070", "0.0036", "0.013", "0.17", "1.93"])

        // A variable the values table does not have, a second cut-off, a cut-off that is not a number.
        for (text, message) in [("variable,cutoff\nCD8_density_totl,260\n", "line 2: \"CD8_density_totl\" is not a column of the values table"),
                                ("variable,cutoff\nCD8_density_total,260\nCD8_density_total,200\n", "line 3: a second, different cut-off for CD8_density_total (200 after 260)"),
                                ("variable,cutoff\nCD8_density_total,high\n", "line 2, column cutoff: \"high\" is not a number"),
                                ("variable,threshold\nCD8_density_total,1\n", "has no column \"cutoff\"")] {
            let bad = file("bad.csv", text)
            XCTAssertThrowsError(try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                                        landmark: 12, confidence: .log, cutoffs: bad, out: dir)) { e in
                XCTAssertTrue("\(e)".hasPrefix(bad + ": ") && "\(e)".contains(message), "\(e)")
            }
        }
    }

    /// A run's own logrank.csv fed back as --cutoffs (each variable listed per endpoint, with
    /// the percentile's cut-off) splits the same patients: every table is the same.
    func testLogrankTableServesAsCutoffs() throws {
        let d = file("d.csv", "patient_id,CD8_density_total,CD68_density_total\nP1,300,5\nP2,250,6\nP3,120,7\nP4,110,8\nP5,50,9\nP6,280,10\nP7,NA,11\n")
        let first = dir.appendingPathComponent("first"), second = dir.appendingPathComponent("second")
        _ = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs", "os"], percentile: 30, rule: .gt,
                                   landmark: 12, confidence: .log, out: first)
        let notes = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs", "os"], percentile: 30, rule: .gt, landmark: 12,
                                           confidence: .log, cutoffs: first.appendingPathComponent("logrank.csv").path, out: second)
        XCTAssertEqual(notes.filter { $0.contains("from ") }.count, 2, "\(notes)")
        for f in ["logrank.csv", "hazard_ratios.csv", "km_summary.csv"] {
            XCTAssertEqual(try String(contentsOf: first.appendingPathComponent(f), encoding: .utf8),
                           try String(contentsOf: second.appendingPathComponent(f), encoding: .utf8), f)
        }
    }

    func testSurvivalSplitsAtThePercentile() throws {
        let d = file("d.csv", "patient_id,CD8_density_total\nP1,300\nP2,250\nP3,120\nP4,110\nP5,50\nP6,280\nP7,NA\n")
        _ = try CohortRun.survival(values: d, clinical: clinical, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                   landmark: 12, confidence: .log, out: dir)
        let rows = try Table.read(dir.appendingPathComponent("logrank.csv").path)
        // quantile(c(300,250,120,110,50,280), 0.3) = 115 → low: P3? no: 110, 50 ≤ 115 → n_low 2, high 4.
        XCTAssertEqual(rows.rows[0][3], "115")
        XCTAssertEqual(rows.rows[0][4], "2"); XCTAssertEqual(rows.rows[0][5], "4")
        // R: coxph(Surv(c(10,14,3,8,5,2), c(1,0,1,1,1,1)) ~ c(1,1,1,1,0,0)): HR 0.170978924160519,
        // 95% CI 0.0151820151086794–1.92555417036673, p 0.152826737442335.
        let hr = try Table.read(dir.appendingPathComponent("hazard_ratios.csv").path)
        XCTAssertEqual(hr.columns, ["variable", "endpoint", "rule", "cutoff", "n_low", "n_high", "events_low", "events_high", "hr", "hr_lcl", "hr_ucl", "p_value"])
        XCTAssertEqual(Array(hr.rows[0][0..<8]), ["CD8_density_total", "pfs", "high>cutoff", "115", "2", "4", "2", "3"])
        for (k, r) in [(8, 0.170978924160519), (9, 0.0151820151086794), (10, 1.92555417036673), (11, 0.152826737442335)] {
            XCTAssertEqual(Double(hr.rows[0][k])!, r, accuracy: 1e-9 * r, hr.columns[k])
        }
        let svg = try String(contentsOf: dir.appendingPathComponent("figures/km_CD8_density_total_pfs.svg"), encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("Number at risk") && svg.contains("log-rank p ="))
        XCTAssertTrue(svg.contains("HR 0.17 (0.015–1.93)"), svg)
        // The whole cohort's PFS (all 7 with times): events at 2, 3, 5, 8, 10; S = 6/7, 5/7, 4/7, then
        // 4/7 × 2/3 = 0.38 at 8 (6 censored): median 8.
        let overall = try String(contentsOf: dir.appendingPathComponent("figures/overall_pfs.svg"), encoding: .utf8)
        XCTAssertTrue(overall.contains(">All patients — PFS</text>") && overall.contains(">5 events; median 8 months (95% CI "), overall)
        let forest = try String(contentsOf: dir.appendingPathComponent("figures/forest_pfs.svg"), encoding: .utf8)
        XCTAssertTrue(forest.contains(">CD8_density_total</text>") && forest.contains(">0.17 (0.015–1.93)</text>") && forest.contains(">0.1528</text>"), forest)
        let html = try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
        XCTAssertTrue(html.contains("<svg") && html.contains("Kaplan–Meier curves") && !html.contains("<script"))
        XCTAssertTrue(html.contains("Hazard ratios, high against low"))
        // Events as R's write.csv writes a logical column (TRUE/FALSE): the same tables.
        let logrank = try String(contentsOf: dir.appendingPathComponent("logrank.csv"), encoding: .utf8)
        let logical = file("clinical-logical.csv", try String(contentsOfFile: clinical, encoding: .utf8)
            .replacingOccurrences(of: #",1(,|\n|$)"#, with: ",TRUE$1", options: .regularExpression)
            .replacingOccurrences(of: #",1(,|\n|$)"#, with: ",TRUE$1", options: .regularExpression)
            .replacingOccurrences(of: #",0(,|\n|$)"#, with: ",false$1", options: .regularExpression)
            .replacingOccurrences(of: #",0(,|\n|$)"#, with: ",false$1", options: .regularExpression))
        XCTAssertTrue(try String(contentsOfFile: logical, encoding: .utf8).contains("P2,PR,14,false,30,false\nP3,SD,3,TRUE,9,TRUE"))
        _ = try CohortRun.survival(values: d, clinical: logical, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                   landmark: 12, confidence: .log, out: dir)
        XCTAssertEqual(try String(contentsOf: dir.appendingPathComponent("logrank.csv"), encoding: .utf8), logrank)
        let two = file("clinical-2.csv", "patient_id,pfs_months,pfs_event\nP1,3,2\n")
        XCTAssertThrowsError(try CohortRun.survival(values: d, clinical: two, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                                    landmark: 12, confidence: .log, out: dir)) {
            XCTAssertEqual("\($0)", "\(two): line 2, column pfs_event: events must be 0 or 1 (or TRUE or FALSE)")
        }
    }

    /// A split whose high group has no events: NA hazard ratio, a note, "not estimable" on the
    /// figures; the log-rank test is still there.
    func testHazardRatioNotEstimableIsSaid() throws {
        let d = file("d.csv", "patient_id,CD8_density_total\nP1,300\nP2,250\nP3,120\nP4,110\nP5,50\nP6,280\nP7,200\n")
        let c = file("c.csv", "patient_id,response,pfs_months,pfs_event,os_months,os_event\n"
                     + "P1,PR,10,0,10,0\nP2,PR,14,0,14,0\nP3,SD,3,0,3,0\nP4,SD,5,1,5,1\nP5,PD,2,1,2,1\nP6,PR,8,0,8,0\nP7,SD,6,0,6,0\n")
        let notes = try CohortRun.survival(values: d, clinical: c, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                           landmark: 12, confidence: .log, out: dir)
        XCTAssertEqual(notes, ["CD8_density_total (pfs): hazard ratio not estimable (events in one group only, or only after the other group has left)"])
        let hr = try Table.read(dir.appendingPathComponent("hazard_ratios.csv").path)
        XCTAssertEqual(Array(hr.rows[0][4...]), ["2", "5", "2", "0", "NA", "NA", "NA", "NA"])
        XCTAssertNotEqual(try Table.read(dir.appendingPathComponent("logrank.csv").path).rows[0].last, "NA")
        let km = try String(contentsOf: dir.appendingPathComponent("figures/km_CD8_density_total_pfs.svg"), encoding: .utf8)
        XCTAssertTrue(km.contains("HR not estimable"))
        XCTAssertTrue(try String(contentsOf: dir.appendingPathComponent("figures/forest_pfs.svg"), encoding: .utf8).contains(">not estimable<"))
    }

    /// The report shows every slide's QC picture (linked from qc/, names escaped) captioned
    /// with its areas and cells from slides.csv, and the thresholds set by hand from its result;
    /// the run's provenance and failures from run.json.
    func testReportShowsTheSlidesQCPictures() throws {
        _ = file("densities.csv", "patient_id,CD8_density_total\nP1,300\n")
        _ = file("slides.csv", "slide_id,patient_id,pixel_size_um,tissue_area_mm2,tumor_area_mm2,stroma_area_mm2,cells\n"
                 + "P1 a&b,P1,0.5,2,0.5,1.5,100\nP2,P2,0.5,1,0.25,0.75,50\n")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("qc"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("slides"), withIntermediateDirectories: true)
        _ = file("qc/P1 a&b.png", "png")
        _ = file("qc/P2.png", "png")
        _ = file("run.json", "{\"mifq_version\": \"0.1.0\", \"panel\": \"p.json\", \"panel_name\": \"Study <7>\", \"panel_hash\": \"ab12\", "
                 + "\"slides\": [\"P1 a&b\", \"P2\"], \"threads\": 2, \"tile\": 1024, \"gate_overrides\": {\"P2\": {\"CD8\": 40}}, "
                 + "\"errors\": [{\"slide\": \"in/P3.tif\", \"error\": \"in/P3.tif: file is truncated\"}]}")
        _ = file("slides/P2.json", "{\"slide_id\": \"P2\", \"pixel_size_um\": 0.25, \"analysis_pixel_size_um\": 0.5, \"gate_overrides\": {\"PDL1\": 2.5, \"CD8\": 40}, \"thresholds\": {\"CD8\": 40, \"CD4\": 60.123},"
                 + "\"edge_background\": [{\"marker\": \"CD68\", \"used\": true}, {\"marker\": \"PDL1\", \"used\": false}, {\"marker\": \"CD8\", \"used\": true}], \"tissue_edge_removed_mm2\": 0.0125,"
                 + "\"tumor_threshold_undecided\": true, \"gate_histograms\": [{\"marker\": \"CD8\", \"log_top\": 4.6, \"counts\": [5, 0, 2, 1], \"above\": 3},"
                 + "{\"marker\": \"CD4\", \"rule\": \"minimum\", \"log_top\": 4.6, \"counts\": [7, 1, 0, 0], \"above\": 0}]}")
        let html = try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
        XCTAssertTrue(html.contains("<h2>Run</h2><ul><li>mifq 0.1.0; panel <b>Study &lt;7&gt;</b> (p.json, hash ab12)</li>"
                                    + "<li>2 slide(s) in the tables; 2 thread(s), tiles of 1024 px</li>"
                                    + "<li>thresholds set by hand on 1 slide(s): P2</li>"
                                    + "<li><b>1 slide(s) failed</b>: in/P3.tif: in/P3.tif: file is truncated</li></ul>"), html)
        XCTAssertTrue(html.contains("<h2>Slides: QC pictures</h2>"), html)
        XCTAssertFalse(html.contains("qc/key.svg"), html)   // no key written: none shown
        _ = file("qc/key.svg", "<svg/>")
        XCTAssertTrue(try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
            .contains("(key below). The pictures are the files in qc/ beside this page.</p><p><img src=\"qc/key.svg\" alt=\"colour key of the dots\"></p>"))
        XCTAssertTrue(html.contains("<img src=\"qc/P1%20a&amp;b.png\" loading=\"lazy\" alt=\"P1 a&amp;b\">"), html)
        XCTAssertTrue(html.contains("<b>P1 a&amp;b</b> tissue 2 mm², tumour 25%, 100 cells</figcaption>"), html)
        XCTAssertTrue(html.contains("<b>P2</b> tissue 1 mm², tumour 25%, 50 cells; cells found at 0.5 µm (the file's 0.25 µm pixels averaged); gates set by hand: CD8 40, PDL1 2.5; immune cells at the edge placed by their background (CD68, CD8); 0.0125 mm² of tissue taken off at its edge (local midpoint); automatic tumour threshold within the tissue's own level: all tumour or none, which the map cannot tell</figcaption>"), html)
        // P2's gates, in the result's order, the hand-set one marked; P1 keeps no histograms.
        XCTAssertTrue(html.contains("<h2>Slides: gates</h2>"), html)
        let gates = html.components(separatedBy: "<h2>Slides: gates</h2>").last!
        XCTAssertFalse(gates.contains("<b>P1 a&amp;b</b>"))
        let cd8 = gates.range(of: "CD8 &gt; 40 (by hand) · 3+")!, cd4 = gates.range(of: "CD4 &gt; 60.12 (minimum) · 0+")!
        XCTAssertLessThan(cd8.lowerBound, cd4.lowerBound)
        // Bars, one per non-empty bin: CD8's three (bin centres 0.58, 2.88 and 4.03 on the log
        // axis; only the last is above log 41 = 3.71) and CD4's two (below log 61.1 = 4.11).
        XCTAssertEqual(gates.components(separatedBy: "fill=\"#2b6cb0\"").count - 1, 1)
        XCTAssertEqual(gates.components(separatedBy: "fill=\"#a0aec0\"").count - 1, 4)
        // A slide whose tumour and stroma backgrounds did not differ says so.
        // (And one whose tissue edge took nothing off: a whole number in the JSON.)
        // (And one whose tumour threshold is the panel's minimum, with saturated pixels in two
        // channels, none in a third, and a fraction undefined in a fourth.)
        _ = file("slides/P1 a&b.json", "{\"slide_id\": \"P1 a&b\", \"edge_background\": [{\"marker\": \"CD68\", \"used\": false}], \"tissue_edge_removed_mm2\": 0, "
                 + "\"tumor_threshold\": 50, \"tumor_threshold_rule\": \"minimum\", \"saturation\": ["
                 + "{\"channel\": \"DAPI\", \"level\": 65535, \"pixels\": 20, \"fraction_of_tissue\": 0.0000763}, "
                 + "{\"channel\": \"Opal 480\", \"level\": 65535, \"pixels\": 0, \"fraction_of_tissue\": 0}, "
                 + "{\"channel\": \"Opal 520\", \"level\": 4095, \"pixels\": 300, \"fraction_of_tissue\": 0.00114}, "
                 + "{\"channel\": \"Opal 570\", \"level\": 65535, \"pixels\": 0, \"fraction_of_tissue\": null}]}")
        XCTAssertTrue(try String(contentsOf: try CohortRun.report(dir), encoding: .utf8)
            .contains("<b>P1 a&amp;b</b> tissue 2 mm², tumour 25%, 100 cells; tumour and stroma backgrounds alike: immune cells at the edge placed by the tumour score; 0 mm² of tissue taken off at its edge (local midpoint); tumour threshold at the panel's minimum, 50 (the nests' plateau gave less: no nests, or dim ones); saturated light over the tissue: DAPI 0.00763%, Opal 520 0.114%</figcaption>"))
    }

    func testBadInputsGiveOneLineErrors() throws {
        func expect(_ body: () throws -> Void, _ text: String) {
            XCTAssertThrowsError(try body()) { e in
                XCTAssertTrue("\(e)".contains(text), "\(e)")
                XCTAssertFalse("\(e)".contains("\n"))
            }
        }
        let noID = file("noid.csv", "patient,CD8\nP1,3\n")
        expect({ _ = try CohortRun.compare(values: noID, clinical: self.clinical, groups: ("PR", "SD"), out: self.dir) },
               "noid.csv: has no column \"patient_id\"")
        let text = file("text.csv", "patient_id,CD8\nP1,3\nP2,high\n")
        expect({ _ = try CohortRun.compare(values: text, clinical: self.clinical, groups: ("PR", "SD"), out: self.dir) },
               "text.csv: line 3, column CD8: \"high\" is not a number")
        let ok = file("ok.csv", "patient_id,CD8\nP1,3\nP3,1\n")
        expect({ _ = try CohortRun.compare(values: ok, clinical: self.clinical, groups: ("PR", "CR"), out: self.dir) },
               "clinical.csv: no patient with values has response CR (--groups PR,CR; responses present: PR, SD)")
        // The clinical table's own problems name it, for compare and survival alike.
        let headerOnly = file("c3.csv", "patient_id,response,pfs_months,pfs_event,os_months,os_event\n")
        let others = file("c4.csv", "patient_id,response,pfs_months,pfs_event,os_months,os_event\nX1,PR,3,1,5,1\nX3,SD,2,1,4,1\n")
        let noResponse = file("c5.csv", "patient_id,pfs_months,pfs_event\nP1,3,1\nP3,2,1\n")
        for (c, message) in [(headerOnly, "c3.csv: has a header but no patients"),
                             (others, "c4.csv: shares no patient_id with \(ok) (this file's first: X1, that file's first: P1)")] {
            expect({ _ = try CohortRun.compare(values: ok, clinical: c, groups: ("PR", "SD"), out: self.dir) }, message)
            expect({ _ = try CohortRun.survival(values: ok, clinical: c, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                                landmark: 12, confidence: .log, out: self.dir) }, message)
        }
        expect({ _ = try CohortRun.compare(values: ok, clinical: noResponse, groups: ("PR", "SD"), out: self.dir) },
               "c5.csv: has no column \"response\" (comparing PR with SD needs one)")
        // Survival needs no response column.
        XCTAssertNoThrow(try CohortRun.survival(values: ok, clinical: noResponse, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                                landmark: 12, confidence: .log, out: self.dir))
        let empty = file("empty.csv", "patient_id,CD8\n")
        expect({ _ = try CohortRun.compare(values: empty, clinical: self.clinical, groups: ("PR", "SD"), out: self.dir) },
               "empty.csv: has a header but no rows")
        let noPFS = file("c2.csv", "patient_id,response\nP1,PR\n")
        expect({ _ = try CohortRun.survival(values: ok, clinical: noPFS, endpoints: ["pfs"], percentile: 30, rule: .gt,
                                            landmark: 12, confidence: .log, out: self.dir) }, "c2.csv: has no column \"pfs_months\"")
        let twice = file("twice.csv", "patient_id,A,A\nP1,1,2\nP3,3,4\n")
        expect({ _ = try Table.read(twice) }, "twice.csv: column \"A\" appears twice (columns 2 and 3)")
        let ragged = file("ragged.csv", "patient_id,CD8\nP1,3,4\n")
        expect({ _ = try Table.read(ragged) }, "line 2 has 3 fields")
        // Line numbers are the file's: blank lines and a quoted field over two lines count.
        let gaps = file("gaps.csv", "patient_id,CD8\n\nP1,3\n\n\"P\n2\",x\nP3,1,2\n")
        expect({ _ = try Table.read(gaps) }, "gaps.csv: line 7 has 3 fields")
        let gaps2 = file("gaps2.csv", "patient_id,CD8\n\nP1,3\n\n\"P\n2\",x\n")
        expect({ _ = try CohortRun.compare(values: gaps2, clinical: self.clinical, groups: ("PR", "SD"), out: self.dir) },
               "gaps2.csv: line 5, column CD8: \"x\" is not a number")
        // A quote left open would swallow the rest of the file into one cell.
        let open = file("open.csv", "patient_id,CD8\nP1,3\nP2,\"4\nP3,5\n")
        expect({ _ = try Table.read(open) }, "open.csv: line 3: a quoted field is never closed")
        // A quote inside a field is a character (as Python's csv module reads it); a quoted field
        // may hold commas and doubled quotes; a cell shown in an error stays on one line, cut at 40.
        let inner = try Table.read(file("inner.csv", "patient_id,note\nP1,5\"3\nP2, \"a, \"\"b\"\"\"\n"))
        XCTAssertEqual(inner.rows, [["P1", "5\"3"], ["P2", "a, \"b\""]])
        let long = file("long.csv", "patient_id,CD8\nP1,\"" + String(repeating: "x\n", count: 30) + "\"\nP3,4\n")
        expect({ _ = try CohortRun.compare(values: long, clinical: self.clinical, groups: ("PR", "SD"), out: self.dir) },
               "long.csv: line 2, column CD8: \"" + String(repeating: "x\\n", count: 13) + "x…\" is not a number")
    }
}
