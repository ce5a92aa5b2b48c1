import ArgumentParser
import Cohort
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare densities between two response groups (two-sided Mann–Whitney, as R's wilcox.test).",
        discussion: "Writes DIR/mann_whitney.csv, DIR/figures/boxplots.svg and DIR/compare_notes.txt. Any CSV with patient_id and numeric columns works (NA or empty = missing).")

    @Argument(help: "Per-patient table: patient_id and numeric columns (e.g. densities.csv).")
    var densities: String

    @Option(help: "Clinical table: patient_id,response,pfs_months,pfs_event,os_months,os_event.")
    var clinical: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "The two response groups, first,second; a group may join responses with + (CR+PR,SD+PD: responders against non-responders).")
    var groups = "PR,SD"

    @Option(help: "Multiple-testing adjustment as R's p.adjust, added as a last column p_adjusted: none, bh, by, holm, hochberg, bonferroni.")
    var adjust: PAdjust = .none

    /// The two groups as given, each checked: named, no response empty, none in both.
    var groupNames: (String, String) {
        get throws {
            let g = groups.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard g.count == 2, g.allSatisfy({ !$0.isEmpty && !Comparison.responses(of: $0).contains("") }),
                  Comparison.responses(of: g[0]).isDisjoint(with: Comparison.responses(of: g[1])) else {
                throw ValidationError("--groups takes two groups with no response in both, e.g. PR,SD or CR+PR,SD+PD (got \(groups))")
            }
            return (g[0], g[1])
        }
    }

    func validate() throws { _ = try groupNames }

    func run() throws {
        let g = try groupNames
        do {
            let notes = try CohortRun.compare(values: densities, clinical: clinical, groups: g, adjust: adjust,
                                               out: URL(fileURLWithPath: out))
            for n in notes { note(n) }
            print("\(out)/mann_whitney.csv, \(out)/figures/boxplots.svg")
        } catch { fail(error) }
    }
}

extension CutRule: ExpressibleByArgument {}
extension ConfidenceType: ExpressibleByArgument {}
extension PAdjust: ExpressibleByArgument {}

struct SurvivalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "survival",
        abstract: "Split patients at a percentile of each density (or at given cut-offs); Kaplan–Meier, log-rank and Cox for PFS and OS.",
        discussion: "Writes DIR/logrank.csv, DIR/hazard_ratios.csv, DIR/km_summary.csv, DIR/figures/km_<variable>_<endpoint>.svg, DIR/figures/forest_<endpoint>.svg, DIR/figures/overall_<endpoint>.svg and DIR/survival_notes.txt. Conventions as R: quantile type 7, survfit (Greenwood, log CI), survdiff, coxph (Efron ties).")

    @Argument(help: "Per-patient table: patient_id and numeric columns.")
    var densities: String

    @Option(help: "Clinical table with pfs_months,pfs_event,os_months,os_event.")
    var clinical: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Cut-off percentile (R quantile type 7).")
    var percentile = 30.0

    @Option(help: "Endpoints, comma-separated: pfs,os.")
    var endpoints = "pfs,os"

    @Option(help: "gt: high = value > cut-off (survminer); ge: high = value ≥ cut-off.")
    var rule: CutRule = .gt

    @Option(help: "Confidence interval transform: log (R's default) or log-log.")
    var ci: ConfidenceType = .log

    @Option(help: "Landmark time in months for survival rates.")
    var landmark = 12.0

    @Option(help: "CSV of fixed cut-offs (variable,cutoff), e.g. a discovery cohort's; the variables it names are split there instead of at the percentile.")
    var cutoffs: String?

    @Option(help: "Multiple-testing adjustment as R's p.adjust within each endpoint, added as a last column p_adjusted: none, bh, by, holm, hochberg, bonferroni.")
    var adjust: PAdjust = .none

    func validate() throws {
        guard landmark.isFinite && landmark > 0 else { throw ValidationError("--landmark must be a time above 0 months (got \(landmark))") }
        guard percentile > 0 && percentile < 100 else { throw ValidationError("--percentile must be above 0 and below 100 (got \(percentile))") }
    }

    func run() throws {
        let e = endpoints.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces).lowercased() }
        do {
            let notes = try CohortRun.survival(values: densities, clinical: clinical, endpoints: e, percentile: percentile, rule: rule,
                                               landmark: landmark, confidence: ci, adjust: adjust, cutoffs: cutoffs,
                                               out: URL(fileURLWithPath: out))
            for n in notes { note(n) }
            print("\(out)/logrank.csv, \(out)/hazard_ratios.csv, \(out)/km_summary.csv, \(out)/figures/")
        } catch { fail(error) }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write DIR/report.html: one self-contained page with the tables and figures of a run.")

    @Argument(help: "A folder holding quantify, compare and/or survival outputs.")
    var dir: String

    func run() throws {
        do { print(try CohortRun.report(URL(fileURLWithPath: dir)).path) } catch { fail(error) }
    }
}
