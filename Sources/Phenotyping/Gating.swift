import Foundation
import Imaging

/// Per-slide marker thresholds from the panel's gates.
public enum Gating {
    /// The threshold of one marker on this slide, from its compartment means over the cells in
    /// tissue, and what set it. Otsu: `Threshold.otsu` of the means (of log(1 + mean) with
    /// `log`: "otsu-log"); percentile: R type-7 quantile; both raised to the gate's `minimum`
    /// when given ("minimum" when that was above what the method found); "fixed" as given.
    /// Positive = mean above the threshold; no cells: +∞ (nobody positive).
    public static func setting(_ gate: Gate, values: [Float]) -> (threshold: Double, rule: String) {
        var t: Double
        switch gate.method {
        case .fixed: return (gate.threshold ?? 0, "fixed")
        case .otsu where gate.log == true:
            t = values.isEmpty ? .infinity : Double(expm1(Threshold.otsu(values.map { log1p(max($0, 0)) })))
        case .otsu: t = values.isEmpty ? .infinity : Double(Threshold.otsu(values))
        case .percentile: t = values.isEmpty ? .infinity : Double(Threshold.quantile(values, (gate.percentile ?? 100) / 100))
        }
        if let m = gate.minimum, m > t { return (m, "minimum") }
        return (t, gate.method == .percentile ? "percentile" : gate.log == true ? "otsu-log" : "otsu")
    }
}

/// The distribution a marker's gate was set on, kept so that a gate can be judged by eye (the
/// report draws it with the threshold): the gated compartment's means over a slide's cells in
/// tissue, counted in equal bins of log(1 + mean) from 0 to the largest mean (means at or below
/// 0 in the first bin), how many are above the threshold used, and what set it.
public struct GateHistogram: Codable, Equatable, Sendable {
    public var marker: String
    /// What set the threshold: `Gating.setting`'s rule, or "hand" (`quantify --gates`).
    public var rule: String
    /// log(1 + the largest mean); 0 when no mean is above 0 (then every cell is in bin 0).
    public var logTop: Double
    public var counts: [Int]
    /// Cells whose mean is above the threshold: the marker's positive cells.
    public var above: Int

    public init(marker: String, rule: String, values: [Float], threshold: Double, bins: Int = 40) {
        precondition(bins > 0)
        self.marker = marker; self.rule = rule
        var top: Float = 0
        for v in values where v > top { top = v }
        logTop = Double(log1p(top))
        counts = [Int](repeating: 0, count: bins)
        above = 0
        let scale = logTop > 0 ? Double(bins) / logTop : 0
        for v in values {
            let x = v > 0 ? Double(log1p(v)) : 0   // NaN (never a mean of finite pixels) as 0
            counts[min(bins - 1, Int(x * scale))] += 1
            if Double(v) > threshold { above += 1 }
        }
    }

    enum CodingKeys: String, CodingKey { case marker, rule, logTop = "log_top", counts, above }
}
