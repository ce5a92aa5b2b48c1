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
