import Foundation
import Imaging

/// Per-slide marker thresholds from the panel's gates.
public enum Gating {
    /// The threshold of one marker on this slide, from its compartment means over all cells.
    /// Otsu: `Threshold.otsu` of the means (of log(1 + mean) with `log`); percentile: R type-7 quantile; both raised to
    /// the gate's `minimum` when given. Positive = mean above the threshold.
    public static func threshold(_ gate: Gate, values: [Float]) -> Double {
        var t: Double
        switch gate.method {
        case .fixed: t = gate.threshold ?? 0
        case .otsu where gate.log == true:
            t = values.isEmpty ? .infinity : Double(expm1(Threshold.otsu(values.map { log1p(max($0, 0)) })))
        case .otsu: t = values.isEmpty ? .infinity : Double(Threshold.otsu(values))
        case .percentile: t = values.isEmpty ? .infinity : Double(Threshold.quantile(values, (gate.percentile ?? 100) / 100))
        }
        if let m = gate.minimum, gate.method != .fixed { t = max(t, m) }
        return t
    }
}

/// The distribution a marker's gate was set on, kept so that a gate can be judged by eye (the
/// report draws it with the threshold): the gated compartment's means over a slide's cells in
/// tissue, counted in equal bins of log(1 + mean) from 0 to the largest mean (means at or below
/// 0 in the first bin), and how many are above the threshold used.
public struct GateHistogram: Codable, Equatable, Sendable {
    public var marker: String
    /// log(1 + the largest mean); 0 when no mean is above 0 (then every cell is in bin 0).
    public var logTop: Double
    public var counts: [Int]
    /// Cells whose mean is above the threshold: the marker's positive cells.
    public var above: Int

    public init(marker: String, values: [Float], threshold: Double, bins: Int = 40) {
        precondition(bins > 0)
        self.marker = marker
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

    enum CodingKeys: String, CodingKey { case marker, logTop = "log_top", counts, above }
}
