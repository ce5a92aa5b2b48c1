import Foundation

/// The study's figures as SVG: box plots of PR vs SD with the points (Fig. 4B) and Kaplan–Meier
/// curves of low vs high groups with censor marks, confidence bands, numbers at risk and the
/// log-rank p and the hazard ratio of high against low (Fig. 4C).
public enum Plots {
    static let colours = ("#2b6cb0", "#c53030")

    /// One panel per variable, PR beside SD, in a grid.
    public static func boxPlots(_ c: Comparison, columns: Int = 4) -> String {
        let rows = c.rows.filter { $0.nA + $0.nB > 0 }
        let pw = 230.0, ph = 250.0
        let nCols = max(1, min(columns, rows.count)), nRows = max(1, (rows.count + nCols - 1) / nCols)
        var svg = SVG(width: pw * Double(nCols) + 20, height: ph * Double(nRows) + 20)
        for (i, r) in rows.enumerated() {
            let ox = 10 + Double(i % nCols) * pw, oy = 10 + Double(i / nCols) * ph
            panel(&svg, r, groups: c.groups, ox: ox, oy: oy, w: pw, h: ph)
        }
        return svg.document
    }

    private static func panel(_ svg: inout SVG, _ r: Comparison.Row, groups: (String, String), ox: Double, oy: Double, w: Double, h: Double) {
        let left = ox + 48, right = ox + w - 12, top = oy + 38, bottom = oy + h - 40
        let all = r.valuesA + r.valuesB
        // From 0 (or the lowest value, below it) to 8% of the span above the highest value (or 0):
        // 1.08 × the highest value lies below it when it is negative (z-scores, log ratios).
        let lo = min(0, all.min() ?? 0), peak = max(0, all.max() ?? 1)
        let hi = (peak - lo).isFinite ? peak + (peak - lo) * 0.08 : peak
        func y(_ v: Double) -> Double { bottom - (v - lo) / max(hi - lo, 1e-12) * (bottom - top) }
        svg.text(ox + w / 2, oy + 14, shorten(r.variable, 34), size: 11, anchor: "middle", bold: true)
        svg.text(ox + w / 2, oy + 28, formatP(r.test?.p), size: 10, anchor: "middle", color: "#444")
        svg.line(left, top, left, bottom)
        svg.line(left, bottom, right, bottom)
        for t in SVG.ticks(lo, hi) where t <= hi {
            svg.line(left - 4, y(t), left, y(t))
            svg.text(left - 6, y(t) + 3.5, SVG.label(t), size: 9, anchor: "end")
        }
        svg.text(ox + 12, (top + bottom) / 2, "cells/mm²", size: 9, anchor: "middle", rotate: -90)
        let slots = [(groups.0, r.valuesA, colours.0), (groups.1, r.valuesB, colours.1)]
        for (k, s) in slots.enumerated() {
            let cx = left + (right - left) * (Double(k) + 0.5) / 2, bw = (right - left) * 0.28
            svg.text(cx, bottom + 16, "\(s.0) (n=\(s.1.count))", size: 10, anchor: "middle")
            guard !s.1.isEmpty else { continue }
            let q1 = Quantile.type7(s.1, 0.25), q2 = Quantile.type7(s.1, 0.5), q3 = Quantile.type7(s.1, 0.75)
            let iqr = q3 - q1
            let whiskLo = s.1.filter { $0 >= q1 - 1.5 * iqr }.min() ?? q1, whiskHi = s.1.filter { $0 <= q3 + 1.5 * iqr }.max() ?? q3
            svg.line(cx, y(whiskLo), cx, y(q1), stroke: s.2)
            svg.line(cx, y(q3), cx, y(whiskHi), stroke: s.2)
            svg.line(cx - bw / 4, y(whiskLo), cx + bw / 4, y(whiskLo), stroke: s.2)
            svg.line(cx - bw / 4, y(whiskHi), cx + bw / 4, y(whiskHi), stroke: s.2)
            svg.rect(cx - bw / 2, y(q3), bw, y(q1) - y(q3), fill: s.2, stroke: s.2, opacity: 0.15)
            svg.line(cx - bw / 2, y(q2), cx + bw / 2, y(q2), stroke: s.2, width: 2)
            for (j, v) in s.1.enumerated() {
                let jitter = (Double((j * 7919) % 100) / 100 - 0.5) * bw * 0.8
                svg.circle(cx + jitter, y(v), r: 2.5, fill: s.2, opacity: 0.75)
            }
        }
    }

    /// Kaplan–Meier curves of the low and high groups of one variable and endpoint.
    public static func kaplanMeier(_ r: SurvivalAnalysis.Row, percentile: Double) -> String {
        let hr = r.cox.map { "HR \(hrText($0.hazardRatio)) (\(hrText($0.lower))–\(hrText($0.upper)))" } ?? "HR not estimable"
        return kaplanMeier(title: "\(r.variable) — \(r.endpoint.uppercased())",
                           subtitle: "cut-off \(SVG.label((r.cutoff * 1000).rounded() / 1000)) (\(r.fixedCutoff ? "fixed" : "P" + SVG.label(percentile))), log-rank \(formatP(r.test?.p)), \(hr)",
                           curves: [("Low (≤ cut-off)", "Low", r.low, colours.0), ("High", "High", r.high, colours.1)])
    }

    /// The whole cohort's curve for one endpoint, with its median and 95% CI ("NE" where a
    /// limit is not reached), as the study's first survival figure.
    public static func kaplanMeierOverall(endpoint: String, curve km: KaplanMeier) -> String {
        let m = km.median
        func t(_ v: Double?) -> String { v.map { SVG.label(($0 * 100).rounded() / 100) } ?? "NE" }
        let median = m.value == nil ? "median not reached" : "median \(t(m.value)) months (95% CI \(t(m.lower))–\(t(m.upper)))"
        return kaplanMeier(title: "All patients — \(endpoint.uppercased())", subtitle: "\(km.events) events; \(median)",
                           curves: [("All patients", "All", km, colours.0)])
    }

    /// Step curves with log-scale CI bands, censor marks, a legend and numbers at risk.
    static func kaplanMeier(title: String, subtitle: String, curves: [(String, String, KaplanMeier?, String)]) -> String {
        let w = 520.0, h = 400.0
        let left = 62.0, right = w - 20, top = 50.0, bottom = h - 120
        var svg = SVG(width: w, height: h)
        let tMax = max(1, curves.compactMap { $0.2?.steps.last?.time }.max() ?? 1)
        let ticks = SVG.ticks(0, tMax, count: 6)
        let xMax = max(tMax, ticks.last ?? tMax)
        func x(_ t: Double) -> Double { left + t / xMax * (right - left) }
        func y(_ s: Double) -> Double { bottom - s * (bottom - top) }
        svg.text(w / 2, 18, title, size: 13, anchor: "middle", bold: true)
        svg.text(w / 2, 34, subtitle, size: 11, anchor: "middle", color: "#444")
        svg.line(left, top, left, bottom); svg.line(left, bottom, right, bottom)
        for s in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg.line(left - 4, y(s), left, y(s)); svg.text(left - 7, y(s) + 4, String(format: "%.2f", s), size: 10, anchor: "end")
        }
        for t in ticks { svg.line(x(t), bottom, x(t), bottom + 4); svg.text(x(t), bottom + 16, SVG.label(t), size: 10, anchor: "middle") }
        svg.text((left + right) / 2, bottom + 32, "Months", size: 11, anchor: "middle")
        svg.text(16, (top + bottom) / 2, "Survival probability", size: 11, anchor: "middle", rotate: -90)
        for (k, c) in curves.enumerated() {
            guard let km = c.2 else { continue }
            // Confidence band, as steps.
            var upper: [(Double, Double)] = [(0, 1)], lower: [(Double, Double)] = [(0, 1)]
            for st in km.steps where st.events > 0 {
                guard let lo = st.lower, let hi = st.upper else { break }
                upper.append((st.time, upper.last!.1)); upper.append((st.time, hi))
                lower.append((st.time, lower.last!.1)); lower.append((st.time, lo))
            }
            let end = km.steps.last?.time ?? 0
            upper.append((end, upper.last!.1)); lower.append((end, lower.last!.1))
            let band = (upper + lower.reversed()).enumerated().map { "\($0.offset == 0 ? "M" : "L")\(SVG.f(x($0.element.0))),\(SVG.f(y($0.element.1)))" }.joined() + "Z"
            svg.path(band, stroke: "none", width: 0, fill: c.3, opacity: 0.12)
            var d = "M\(SVG.f(x(0))),\(SVG.f(y(1)))"
            var s = 1.0
            for st in km.steps {
                d += "L\(SVG.f(x(st.time))),\(SVG.f(y(s)))"
                if st.events > 0 { s = st.survival; d += "L\(SVG.f(x(st.time))),\(SVG.f(y(s)))" }
            }
            d += "L\(SVG.f(x(end))),\(SVG.f(y(s)))"
            svg.path(d, stroke: c.3, width: 2)
            for st in km.steps where st.censored > 0 {
                svg.line(x(st.time), y(st.survival) - 4, x(st.time), y(st.survival) + 4, stroke: c.3, width: 1.5)
            }
            // Legend and numbers at risk.
            let ly = top + 12 + Double(k) * 16
            svg.line(right - 150, ly - 4, right - 130, ly - 4, stroke: c.3, width: 2)
            svg.text(right - 125, ly, "\(c.0) n=\(km.n)", size: 10)
            let ry = bottom + 58 + Double(k) * 16
            svg.text(8, ry, c.1, size: 10, bold: true, color: c.3)
            for t in ticks where t <= xMax {
                let atRisk = km.steps.first { $0.time >= t }?.atRisk ?? 0
                svg.text(x(t), ry, "\(atRisk)", size: 10, anchor: "middle", color: c.3)
            }
        }
        svg.text(8, bottom + 44, "Number at risk", size: 10, bold: true)
        return svg.document
    }

    /// Forest plot of one endpoint: per variable the hazard ratio of high against low with its
    /// 95% CI on a log axis, and the Wald p; variables whose model is not estimable are listed
    /// with "not estimable".
    public static func forest(_ rows: [SurvivalAnalysis.Row], endpoint: String) -> String {
        let rs = rows.filter { $0.endpoint == endpoint }
        let rowH = 18.0, top = 46.0
        let w = 720.0, h = top + rowH * Double(max(rs.count, 1)) + 44
        let left = 250.0, right = 560.0
        var svg = SVG(width: w, height: h)
        svg.text(w / 2, 18, "Hazard ratio, high against low — \(endpoint.uppercased())", size: 13, anchor: "middle", bold: true)
        let fitted = rs.compactMap(\.cox)
        // Axis: powers of ten (and 2, 5 between) covering every interval, clamped to 1e-3…1e3.
        let lo = max(1e-3, min(0.5, fitted.map(\.lower).min() ?? 0.5)), hi = min(1e3, max(2, fitted.map(\.upper).max() ?? 2))
        let a = log10(lo).rounded(.down), b = log10(hi).rounded(.up)
        func x(_ v: Double) -> Double { left + (log10(min(max(v, pow(10, a)), pow(10, b))) - a) / (b - a) * (right - left) }
        let bottom = top + rowH * Double(rs.count)
        svg.text(left - 8, top - 10, "variable", size: 10, anchor: "end", bold: true)
        svg.text(right + 12, top - 10, "HR (95% CI)", size: 10, bold: true)
        svg.text(w - 8, top - 10, "p", size: 10, anchor: "end", bold: true)
        svg.line(x(1), top - 4, x(1), bottom, stroke: "#999", dash: "3,3")
        svg.line(left, bottom, right, bottom)
        var e = a
        while e <= b {
            for m in [1.0, 2, 5] where e + log10(m) <= b + 1e-9 {
                let v = m * pow(10, e)
                svg.line(x(v), bottom, x(v), bottom + 4)
                // 2s and 5s labelled only while the axis spans few decades (they crowd otherwise).
                if m == 1 || (m == 2 && b - a <= 3) || b - a <= 2 { svg.text(x(v), bottom + 15, SVG.label(v), size: 9, anchor: "middle") }
            }
            e += 1
        }
        svg.text((left + right) / 2, bottom + 32, "← lower hazard when high · higher hazard when high →", size: 10, anchor: "middle", color: "#444")
        for (k, r) in rs.enumerated() {
            let y = top + rowH * (Double(k) + 0.5)
            svg.text(left - 8, y + 3.5, shorten(r.variable, 40), size: 10, anchor: "end")
            guard let c = r.cox else {
                svg.text(right + 12, y + 3.5, "not estimable", size: 10, color: "#888")
                continue
            }
            let colour = c.p < 0.05 ? Plots.colours.1 : "#333"
            svg.line(x(c.lower), y, x(c.upper), y, stroke: colour, width: 1.5)
            svg.rect(x(c.hazardRatio) - 3.5, y - 3.5, 7, 7, fill: colour)
            svg.text(right + 12, y + 3.5, "\(hrText(c.hazardRatio)) (\(hrText(c.lower))–\(hrText(c.upper)))", size: 10)
            svg.text(w - 8, y + 3.5, formatP(c.p).replacingOccurrences(of: "p = ", with: ""), size: 10, anchor: "end", color: colour)
        }
        return svg.document
    }

    /// A hazard ratio or CI limit on a figure: two decimals, or two significant digits below
    /// 0.1 (so that 0.0034 does not print as 0.00).
    static func hrText(_ v: Double) -> String { v < 0.1 ? String(format: "%#.2g", v) : String(format: "%.2f", v) }

    static func shorten(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}
