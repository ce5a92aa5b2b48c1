import Foundation
import SlideIO

/// A small SVG builder: the plots are drawn in user units with explicit sizes so that they
/// render the same in a browser, in print, and inline in the report.
struct SVG {
    let width: Double, height: Double
    private(set) var body = ""

    init(width: Double, height: Double) { self.width = width; self.height = height }

    static func esc(_ s: String) -> String { XML.escape(s) }
    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String = "#333", width w: Double = 1, dash: String? = nil) {
        body += "<line x1=\"\(SVG.f(x1))\" y1=\"\(SVG.f(y1))\" x2=\"\(SVG.f(x2))\" y2=\"\(SVG.f(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(w)\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>"
    }
    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, fill: String, stroke: String = "none", opacity: Double = 1) {
        body += "<rect x=\"\(SVG.f(x))\" y=\"\(SVG.f(y))\" width=\"\(SVG.f(max(w, 0)))\" height=\"\(SVG.f(max(h, 0)))\" fill=\"\(fill)\" stroke=\"\(stroke)\" fill-opacity=\"\(opacity)\"/>"
    }
    mutating func circle(_ x: Double, _ y: Double, r: Double, fill: String, opacity: Double = 1) {
        body += "<circle cx=\"\(SVG.f(x))\" cy=\"\(SVG.f(y))\" r=\"\(r)\" fill=\"\(fill)\" fill-opacity=\"\(opacity)\"/>"
    }
    mutating func path(_ d: String, stroke: String, width w: Double = 1.5, fill: String = "none", opacity: Double = 1) {
        body += "<path d=\"\(d)\" stroke=\"\(stroke)\" stroke-width=\"\(w)\" fill=\"\(fill)\" fill-opacity=\"\(opacity)\"/>"
    }
    mutating func text(_ x: Double, _ y: Double, _ s: String, size: Double = 11, anchor: String = "start", bold: Bool = false,
                       color: String = "#222", rotate: Double? = nil) {
        let rot = rotate.map { " transform=\"rotate(\($0) \(SVG.f(x)) \(SVG.f(y)))\"" } ?? ""
        body += "<text x=\"\(SVG.f(x))\" y=\"\(SVG.f(y))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"\(size)\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "") fill=\"\(color)\"\(rot)>\(SVG.esc(s))</text>"
    }

    var document: String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\">"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>" + body + "</svg>\n"
    }

    /// About five round tick values covering [lo, hi]. The span is at least a billionth of the
    /// values' size, so a step always moves a tick (equal values above ~2000 looped for ever:
    /// adding the old minimum step, 2e-13, left the tick where it was, as did a step from -inf);
    /// [lo, hi] itself where no round step fits, none for an empty or infinite range.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, lo <= hi else { return [] }
        let span = max(hi - lo, max(abs(lo), abs(hi)) * 1e-9, 1e-12)
        let raw = span / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        let first = (lo / step).rounded(.down), last = (hi / step).rounded(.up)
        guard step.isFinite, step > 0, first.isFinite, last.isFinite, last - first <= 1000 else { return lo == hi ? [lo] : [lo, hi] }
        var t = first * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 { if t >= lo - step * 1e-9 { out.append(t) }; t += step }
        return out
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
        return String(format: "%g", v)
    }
}

/// p-value as printed on figures.
func formatP(_ p: Double?) -> String {
    guard let p else { return "p = NA" }
    if p < 1e-4 { return String(format: "p = %.1e", p) }
    return String(format: "p = %.4f", p)
}
