import Foundation

/// The report's gate figures: for each slide, every marker's gated compartment means over the
/// slide's cells in tissue (a histogram on log(1 + mean)) with the threshold used, read from
/// the slide's result (`slides/<slide>.json`: `gate_histograms`, `thresholds`, `gate_overrides`).
enum GatePlots {
    struct Marker {
        let name: String
        let logTop: Double
        let counts: [Int]
        let above: Int
        let threshold: Double?
        let byHand: Bool
        /// What set the threshold ("otsu", "minimum", …), when the result says.
        let rule: String?
    }

    /// The markers of a slide's result in the panel's order; empty when it keeps no histograms.
    static func markers(_ json: [String: Any]?) -> [Marker] {
        guard let json, let hists = json["gate_histograms"] as? [[String: Any]] else { return [] }
        let thresholds = json["thresholds"] as? [String: Any] ?? [:]
        let hand = json["gate_overrides"] as? [String: Any] ?? [:]
        return hists.compactMap { h in
            guard let name = h["marker"] as? String, let top = (h["log_top"] as? NSNumber)?.doubleValue,
                  let counts = (h["counts"] as? [NSNumber])?.map(\.intValue), !counts.isEmpty,
                  let above = (h["above"] as? NSNumber)?.intValue else { return nil }
            return Marker(name: name, logTop: top, counts: counts, above: above,
                          threshold: (thresholds[name] as? NSNumber)?.doubleValue, byHand: hand[name] != nil, rule: h["rule"] as? String)
        }
    }

    static let panelWidth = 150.0, plotWidth = 136.0, plotHeight = 44.0

    /// One slide's figure: a small histogram per marker, bar heights ∝ √cells (so that a few
    /// hundred positive cells beside tens of thousands of negative ones still show), the bins
    /// above the threshold darker, the threshold a red line (orange when set by hand).
    static func figure(_ markers: [Marker]) -> String {
        var svg = SVG(width: panelWidth * Double(markers.count), height: 84)
        for (k, m) in markers.enumerated() {
            let x0 = Double(k) * panelWidth + 7, y0 = 20.0
            let gate = m.threshold.map { t in "> " + SVG.label((t * 100).rounded() / 100) } ?? "no gate"
            // Hand-set thresholds and gates held at the panel's minimum are the ones to look at.
            let how = m.byHand ? " (by hand)" : m.rule == "minimum" ? " (minimum)" : ""
            svg.text(x0, 11, "\(m.name) \(gate)\(how) · \(m.above)+", size: 9, bold: true,
                     color: m.byHand ? "#b35900" : m.rule == "minimum" ? "#6b46c1" : "#222")
            let peak = Double(m.counts.max() ?? 0).squareRoot()
            let bw = plotWidth / Double(m.counts.count)
            // The threshold on the histogram's axis (the first bin's left edge is 0).
            let cut = m.threshold.map { $0 > 0 ? log1p($0) : 0 }
            for (i, c) in m.counts.enumerated() where c > 0 {
                let h = peak > 0 ? plotHeight * Double(c).squareRoot() / peak : 0
                let centre = (Double(i) + 0.5) / Double(m.counts.count) * m.logTop
                let positive = cut.map { centre > $0 } ?? false
                svg.rect(x0 + Double(i) * bw, y0 + plotHeight - h, bw, h, fill: positive ? "#2b6cb0" : "#a0aec0")
            }
            svg.line(x0, y0 + plotHeight, x0 + plotWidth, y0 + plotHeight, stroke: "#666")
            // Ticks at 0, 1, 10, 100, … within the range.
            var v = 0.0
            while m.logTop > 0, log1p(v) <= m.logTop * 1.0001 {
                let x = x0 + plotWidth * log1p(v) / m.logTop
                svg.line(x, y0 + plotHeight, x, y0 + plotHeight + 3, stroke: "#666")
                svg.text(x, y0 + plotHeight + 12, SVG.label(v), size: 7, anchor: "middle", color: "#555")
                v = v == 0 ? 1 : v * 10
            }
            if let cut, m.logTop > 0 {
                let x = x0 + plotWidth * min(max(cut / m.logTop, 0), 1)
                svg.line(x, y0 - 3, x, y0 + plotHeight, stroke: m.byHand ? "#dd6b20" : "#c53030", width: 1.5)
            }
        }
        return svg.document
    }

    /// The report section for `slides` (in order); nil when none keeps histograms.
    static func section(_ results: Report.SlideResults, slides: [String]) -> String? {
        let figures = slides.compactMap { slide -> String? in
            let markers = markers(results[slide])
            guard !markers.isEmpty else { return nil }
            return "<div class=\"fig gate\"><b>\(SVG.esc(slide))</b><br>\(figure(markers))</div>"
        }
        guard !figures.isEmpty else { return nil }
        return Report.section("Slides: gates", "<p>Per slide and marker, the means of the marker's gated compartment over the "
                              + "slide's cells in tissue (x: the mean on a log(1 + mean) axis; bar height ∝ √cells; darker: above "
                              + "the threshold), the threshold used (red line; orange when set by hand with <code>quantify --gates</code>) "
                              + "and the cells above it (n+). A gate in the wrong valley shows here first.</p>" + figures.joined())
    }
}
