import Foundation
import SlideIO

/// One self-contained HTML page from an output folder: cohort summary, comparison and survival
/// tables, and every SVG figure inline (no scripts, no network), printable.
public enum Report {
    public static func html(for dir: URL) throws -> String {
        let fm = FileManager.default
        func read(_ name: String) -> String? { try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8) }
        func csv(_ name: String) throws -> [[String]]? {
            let path = dir.appendingPathComponent(name).path
            guard let data = fm.contents(atPath: path) else { return nil }
            do { return try CSVText.records(data) } catch { throw CohortError.input(path, error.message) }
        }
        let figureFiles = ((try? fm.contentsOfDirectory(atPath: dir.appendingPathComponent("figures").path)) ?? []).sorted()
        let results = SlideResults(dir)
        var sections: [String] = []
        if let run = runSection(dir) { sections.append(run) }
        if let t = try csv("km_summary.csv") {
            // In the summary's order of endpoints (PFS, then OS).
            let overall = t.dropFirst().compactMap { $0.first.flatMap { read("figures/overall_\($0).svg") } }
            sections.append(section("Cohort survival (whole cohort)", table(t)
                                    + (overall.isEmpty ? "" : "<div class=\"grid\">" + overall.map { "<div class=\"fig\">\($0)</div>" }.joined() + "</div>")))
        }
        if let t = try csv("mann_whitney.csv") { sections.append(section("Responders vs non-responders (Mann–Whitney)", table(t, highlightP: pColumns) + notes(read("compare_notes.txt")))) }
        if let svg = read("figures/boxplots.svg") { sections.append(section("Densities by response", svg)) }
        if let t = try csv("logrank.csv") { sections.append(section("Survival by density (log-rank)", table(t, highlightP: pColumns) + notes(read("survival_notes.txt")))) }
        if let t = try csv("hazard_ratios.csv") {
            let forests = figureFiles.filter { $0.hasPrefix("forest_") && $0.hasSuffix(".svg") }.compactMap { read("figures/\($0)") }
            sections.append(section("Hazard ratios, high against low (Cox, Efron ties, Wald 95% CI)",
                                    forests.map { "<div class=\"fig\">\($0)</div>" }.joined() + table(t, highlightP: pColumns)))
        }
        let figs = figureFiles.filter { $0.hasPrefix("km_") && $0.hasSuffix(".svg") }
        if !figs.isEmpty {
            let inner = figs.compactMap { read("figures/\($0)") }.map { "<div class=\"fig\">\($0)</div>" }.joined()
            sections.append(section("Kaplan–Meier curves", "<div class=\"grid\">\(inner)</div>"))
        }
        if let t = try csv("densities.csv") { sections.append(section("Densities per patient (cells/mm²)", table(t))) }
        if let slides = try csv("slides.csv") {
            if let gallery = qcGallery(dir, slides: slides, results: results) { sections.append(gallery) }
            if let id = slides.first?.firstIndex(of: "slide_id"),
               let gates = GatePlots.section(results, slides: slides.dropFirst().compactMap { $0.count > id ? $0[id] : nil }) {
                sections.append(gates)
            }
        }
        guard !sections.isEmpty else {
            throw CohortError.input(dir.path, "holds no mifq results (km_summary.csv, mann_whitney.csv, logrank.csv or densities.csv)")
        }
        let css = """
        body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
        h1{font-size:20px}h2{font-size:16px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}
        table{border-collapse:collapse;font-size:10px;margin:8px 0;width:100%}
        th,td{border:1px solid #ddd;padding:2px 4px;text-align:right;white-space:nowrap}
        th{background:#f3f3f3;white-space:normal;overflow-wrap:anywhere;vertical-align:bottom}
        td:first-child,th:first-child{text-align:left}.sig{background:#fff3c4;font-weight:bold}
        .grid{display:flex;flex-wrap:wrap;gap:12px}.fig svg{max-width:100%;height:auto}svg{max-width:100%;height:auto}
        .notes{font-size:11px;color:#555}.qc figure{width:270px;margin:0}.qc img{width:100%;height:auto;background:#000}.qc figcaption{font-size:10px}
        @media print{@page{size:landscape;margin:12mm}body{margin:0;max-width:none}table{font-size:8px}
        h2{page-break-after:avoid}.fig{page-break-inside:avoid}}
        """
        return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mifq report</title><style>\(css)</style></head><body>"
            + "<h1>mifq report — \(SVG.esc(dir.lastPathComponent))</h1>" + sections.joined() + "</body></html>\n"
    }

    /// Every slide's QC picture (`qc/<slide>.png` beside the report, linked, not embedded: a
    /// cohort's would make the page hundreds of MB), captioned with its areas and cell count
    /// from `slides`, and from its result the pixel size cells were found at (when coarser than
    /// the file's), the thresholds set by hand, the regions drawn and how immune cells at the
    /// tumour edge were placed (`edge_background`); nil without pictures.
    static func qcGallery(_ dir: URL, slides: [[String]], results: SlideResults) -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("qc").path)) ?? [])
            .filter { $0.hasSuffix(".png") && !$0.hasPrefix(".") }.sorted()
        guard !names.isEmpty else { return nil }
        var captions: [String: String] = [:]
        if let header = slides.first, let id = header.firstIndex(of: "slide_id"), let tissue = header.firstIndex(of: "tissue_area_mm2"),
           let tumor = header.firstIndex(of: "tumor_area_mm2"), let cells = header.firstIndex(of: "cells") {
            for r in slides.dropFirst() where r.count == header.count {
                let t = Double(r[tissue]) ?? 0, u = Double(r[tumor]) ?? 0
                captions[r[id]] = String(format: "tissue %.3g mm², tumour %.0f%%, %@ cells", t, t > 0 ? 100 * u / t : 0, r[cells])
            }
        }
        // Thresholds set by hand (`quantify --gates`), regions drawn on the slide
        // (`quantify --annotations`) and channels with saturated pixels are said under the
        // picture they concern.
        for name in names {
            let slide = String(name.dropLast(4))
            guard let result = results[slide] else { continue }
            var parts = captions[slide].map { [$0] } ?? []
            if let file = result["pixel_size_um"] as? Double, let analysed = result["analysis_pixel_size_um"] as? Double, analysed != file {
                parts.append(String(format: "cells found at %g µm (the file's %g µm pixels averaged)", analysed, file))
            }
            if let gates = result["gate_overrides"] as? [String: Double], !gates.isEmpty {
                parts.append("gates set by hand: " + gates.keys.sorted().map { "\($0) \(String(format: "%g", gates[$0]!))" }.joined(separator: ", "))
            }
            if let a = result["annotations"] as? [String: Any] {
                let include = (a["include_polygons"] as? Int) ?? 0, exclude = (a["exclude_polygons"] as? Int) ?? 0
                var drawn = include > 0 ? ["analysed within \(include) drawn region(s)"] : []
                if exclude > 0 { drawn.append("\(exclude) drawn region(s) left out") }
                drawn.append(String(format: "%.3g mm² of tissue removed", (a["removed_tissue_mm2"] as? Double) ?? 0))
                parts.append(drawn.joined(separator: ", "))
            }
            if let levels = result["edge_background"] as? [[String: Any]] {
                let used = levels.filter { ($0["used"] as? NSNumber)?.boolValue == true }.compactMap { $0["marker"] as? String }
                parts.append(used.isEmpty ? "tumour and stroma backgrounds alike: immune cells at the edge placed by the tumour score"
                                          : "immune cells at the edge placed by their background (\(used.joined(separator: ", ")))")
            }
            if let removed = result["tissue_edge_removed_mm2"] as? Double {
                parts.append(String(format: "%.3g mm² of tissue taken off at its edge (local midpoint)", removed))
            }
            if result["tumor_threshold_rule"] as? String == "minimum", let t = result["tumor_threshold"] as? Double {
                parts.append(String(format: "tumour threshold at the panel's minimum, %g (the nests' plateau gave less: no nests, or dim ones)", t))
            }
            if (result["tumor_threshold_undecided"] as? NSNumber)?.boolValue == true {
                parts.append("automatic tumour threshold within the tissue's own level: all tumour or none, which the map cannot tell")
            }
            if let channels = result["saturation"] as? [[String: Any]] {
                let clipped = channels.compactMap { c -> String? in
                    guard let name = c["channel"] as? String, let f = c["fraction_of_tissue"] as? Double, f > 0 else { return nil }
                    return String(format: "%@ %.3g%%", name, 100 * f)
                }
                if !clipped.isEmpty { parts.append("saturated light over the tissue: " + clipped.joined(separator: ", ")) }
            }
            captions[slide] = parts.joined(separator: "; ")
        }
        let figures = names.map { name -> String in
            let slide = String(name.dropLast(4))
            let src = SVG.esc("qc/" + (name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name))
            return "<figure><a href=\"\(src)\"><img src=\"\(src)\" loading=\"lazy\" alt=\"\(SVG.esc(slide))\"></a>"
                + "<figcaption><b>\(SVG.esc(slide))</b> \(SVG.esc(captions[slide] ?? ""))</figcaption></figure>"
        }
        // The dots' colour key, which quantify and merge write beside the pictures.
        let key = FileManager.default.fileExists(atPath: dir.appendingPathComponent("qc/key.svg").path)
            ? "<p><img src=\"qc/key.svg\" alt=\"colour key of the dots\"></p>" : ""
        return section("Slides: QC pictures", "<p>Tumour marker red, first immune marker green, nuclei blue; tissue outline grey, tumour outline yellow; "
                       + "light at the camera's ceiling (saturated) white; "
                       + "a dot per phenotyped cell, in the colour of its first phenotype in the panel's order"
                       + (key.isEmpty ? "" : " (key below)") + ". The pictures are the files in qc/ beside this page.</p>"
                       + key + "<div class=\"grid qc\">\(figures.joined())</div>")
    }

    /// What made the results, from a quantify folder's `run.json`: mifq's version, the panel
    /// (name, file, hash), threads and tile, the slides, those with thresholds set by hand, and
    /// every slide that failed with its error, and the notes the run gave about its slides and
    /// tables (what stderr said, which a reader of the report would not otherwise see); nil
    /// without run.json.
    static func runSection(_ dir: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("run.json").path),
              let run = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        func str(_ k: String) -> String { run[k].map { "\($0)" } ?? "?" }
        let slides = (run["slides"] as? [Any])?.count ?? 0
        let hand = (run["gate_overrides"] as? [String: Any])?.keys.sorted() ?? []
        let errors = (run["errors"] as? [[String: Any]]) ?? []
        var items = ["mifq \(str("mifq_version")); panel <b>\(SVG.esc(str("panel_name")))</b> (\(SVG.esc(str("panel"))), hash \(SVG.esc(str("panel_hash"))))",
                     "\(slides) slide(s) in the tables; \(str("threads")) thread(s), tiles of \(str("tile")) px"]
        if !hand.isEmpty { items.append("thresholds set by hand on \(hand.count) slide(s): \(SVG.esc(hand.joined(separator: ", ")))") }
        let annotated = (run["annotations"] as? [String: Any])?.keys.sorted() ?? []
        if !annotated.isEmpty { items.append("annotations on \(annotated.count) slide(s): \(SVG.esc(annotated.joined(separator: ", ")))") }
        if errors.isEmpty {
            items.append("no slide failed")
        } else {
            items.append("<b>\(errors.count) slide(s) failed</b>: " + errors.map {
                SVG.esc("\($0["slide"] ?? "?"): \($0["error"] ?? "?")")
            }.joined(separator: "; "))
        }
        let said = (run["notes"] as? [String]) ?? []
        let noted = said.isEmpty ? "" : "<p class=\"notes\">The run's notes (\(said.count)):</p>" + notes(lines: said)
        return section("Run", "<ul>" + items.map { "<li>\($0)</li>" }.joined() + "</ul>" + noted)
    }

    /// The slides' results (`slides/<slide>.json`) as JSON, each read once however many
    /// sections use it; nil for a slide without one.
    final class SlideResults {
        let dir: URL
        private var read: [String: [String: Any]?] = [:]
        init(_ dir: URL) { self.dir = dir }

        subscript(_ slide: String) -> [String: Any]? {
            if let known = read[slide] { return known }
            let data = FileManager.default.contents(atPath: dir.appendingPathComponent("slides/\(slide).json").path)
            let json = data.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
            read[slide] = json
            return json
        }
    }

    static func section(_ title: String, _ body: String) -> String { "<section><h2>\(SVG.esc(title))</h2>\(body)</section>" }

    /// The columns whose values below 0.05 are highlighted: the p-value and, where the run asked
    /// for a multiple-testing adjustment, the adjusted one.
    static let pColumns: Set<String> = ["p_value", "p_adjusted"]

    /// A notes file's lines (patients left out, fixed cut-offs, adjustments, estimability) as a
    /// list; empty when there are none.
    static func notes(_ text: String?) -> String {
        notes(lines: (text ?? "").split(whereSeparator: \.isNewline).map(String.init))
    }

    /// The same from the lines themselves.
    static func notes(lines: [String]) -> String {
        let lines = lines.filter { !$0.isEmpty }
        guard !lines.isEmpty else { return "" }
        return "<ul class=\"notes\">" + lines.map { "<li>\(SVG.esc($0))</li>" }.joined() + "</ul>"
    }

    /// An HTML table of CSV records (blank lines already dropped), header first.
    static func table(_ rows: [[String]], highlightP: Set<String> = []) -> String {
        guard let header = rows.first else { return "" }
        let marked = Set(header.indices.filter { highlightP.contains(header[$0]) })
        var h = "<table><thead><tr>" + header.map { "<th>\(SVG.esc($0))</th>" }.joined() + "</tr></thead><tbody>"
        for r in rows.dropFirst() {
            h += "<tr>" + r.enumerated().map { i, v in
                var shown = v
                if let d = Double(v), v.contains(".") || v.contains("e") { shown = d == 0 ? "0" : (abs(d) < 1e-3 ? String(format: "%.2e", d) : String(format: "%.4g", d)) }
                let sig = marked.contains(i) && (Double(v) ?? 1) < 0.05
                return "<td\(sig ? " class=\"sig\"" : "")>\(SVG.esc(shown))</td>"
            }.joined() + "</tr>"
        }
        return h + "</tbody></table>"
    }
}
