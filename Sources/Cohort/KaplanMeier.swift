import Foundation

/// Confidence interval transform for survival curves (R `survfit(conf.type = …)`).
public enum ConfidenceType: String, Sendable, CaseIterable {
    case log
    case logLog = "log-log"
}

/// The Kaplan–Meier estimate as R's `survival::survfit(Surv(time, event) ~ 1)`: one step per
/// distinct event time, Greenwood's variance (the standard error of −log S is
/// √Σ d/(n(n−d))), 95% intervals on the log scale (default) or the log(−log) scale.
public struct KaplanMeier: Sendable {
    public struct Step: Sendable {
        public var time: Double
        public var atRisk: Int
        public var events: Int
        public var censored: Int
        public var survival: Double
        /// Standard error of log S (R's `std.err`).
        public var stdErrLog: Double
        public var lower: Double?
        public var upper: Double?
    }

    public let steps: [Step]        // every distinct time (events or censorings), ascending
    public let n: Int
    public let events: Int
    public let confidence: ConfidenceType

    public init(times: [Double], events: [Bool], confidence: ConfidenceType = .log) {
        self.confidence = confidence
        n = times.count
        self.events = events.filter { $0 }.count
        let order = times.indices.sorted { times[$0] < times[$1] }
        var steps: [Step] = []
        var atRisk = times.count
        var s = 1.0, g = 0.0
        var i = 0
        while i < order.count {
            let t = times[order[i]]
            var d = 0, c = 0
            while i < order.count && times[order[i]] == t {
                if events[order[i]] { d += 1 } else { c += 1 }
                i += 1
            }
            if d > 0 {
                s *= 1 - Double(d) / Double(atRisk)
                g += atRisk > d ? Double(d) / (Double(atRisk) * Double(atRisk - d)) : .infinity
            }
            let se = g.squareRoot()
            var lo: Double?, hi: Double?
            if s > 0 && se.isFinite {
                let z = Distributions.z975
                switch confidence {
                case .log:
                    lo = s * exp(-z * se); hi = min(1, s * exp(z * se))
                case .logLog:
                    // Undefined at S = 1 (log 1 = 0), as in R.
                    if s < 1 {
                        let l = log(s), w = z * se / abs(l)
                        lo = pow(s, exp(w)); hi = pow(s, exp(-w))
                    }
                }
            }
            steps.append(Step(time: t, atRisk: atRisk, events: d, censored: c, survival: s, stdErrLog: se, lower: lo, upper: hi))
            atRisk -= d + c
        }
        self.steps = steps
    }

    /// S(t) with its interval (R `summary(fit, times = t)`); nil beyond the last observed time.
    public func survival(at t: Double) -> (s: Double, lower: Double?, upper: Double?)? {
        guard let last = steps.last, t <= last.time else { return nil }
        var cur: (Double, Double?, Double?) = (1, confidence == .log ? 1 : nil, confidence == .log ? 1 : nil)
        for st in steps where st.time <= t { cur = (st.survival, st.lower, st.upper) }
        return cur
    }

    /// Median survival with its 95% interval, by R's rule (`quantile.survfit`): the first time
    /// the curve is at or below 0.5; where it sits exactly at 0.5 over a stretch, the midpoint
    /// of that stretch's start and the next event time. The interval's ends apply the same rule
    /// to the lower and upper confidence curves. nil = not reached.
    public var median: (value: Double?, lower: Double?, upper: Double?) {
        let eventSteps = steps.filter { $0.events > 0 }
        func cross(_ curve: (Step) -> Double?) -> Double? {
            let eps = 1e-8  // R uses sqrt(.Machine$double.eps) ≈ 1.5e-8 for "equal to 0.5"
            for (k, st) in eventSteps.enumerated() {
                guard let v = curve(st) else { continue }
                if abs(v - 0.5) < eps {
                    // Flat at exactly 0.5 until the next drop: midpoint with the next event time.
                    if k + 1 < eventSteps.count { return (st.time + eventSteps[k + 1].time) / 2 }
                    return st.time   // never drops below 0.5: R keeps the time it got there
                }
                if v < 0.5 { return st.time }
            }
            return nil
        }
        // Undefined interval values (after S reaches 0) never cross, as R's NA.
        return (cross { $0.survival }, cross { $0.lower }, cross { $0.upper })
    }
}

/// The log-rank test as R's `survdiff(Surv(time, event) ~ group, rho = 0)` for two groups:
/// observed and expected events of group 1 and the hypergeometric variance summed over distinct
/// event times; chi-square with 1 degree of freedom.
public struct LogRank: Sendable {
    public let observed: (Int, Int)
    public let expected: (Double, Double)
    public let chiSquare: Double
    public let p: Double

    public init?(times: [Double], events: [Bool], group: [Int]) {
        let n1 = group.filter { $0 == 1 }.count, n0 = group.count - n1
        guard n0 > 0, n1 > 0 else { return nil }
        let order = times.indices.sorted { times[$0] < times[$1] }
        var risk = (n0, n1)
        var o1 = 0, o0 = 0
        var e1 = 0.0, v = 0.0
        var i = 0
        while i < order.count {
            let t = times[order[i]]
            var d = (0, 0), leave = (0, 0)
            while i < order.count && times[order[i]] == t {
                let k = order[i]
                if group[k] == 1 { leave.1 += 1; if events[k] { d.1 += 1 } } else { leave.0 += 1; if events[k] { d.0 += 1 } }
                i += 1
            }
            let dt = d.0 + d.1, nt = risk.0 + risk.1
            if dt > 0 {
                let p1 = Double(risk.1) / Double(nt)
                e1 += Double(dt) * p1
                if nt > 1 { v += Double(dt) * p1 * (1 - p1) * Double(nt - dt) / Double(nt - 1) }
            }
            o1 += d.1; o0 += d.0
            risk.0 -= leave.0; risk.1 -= leave.1
        }
        let total = Double(o0 + o1)
        observed = (o0, o1)
        expected = (total - e1, e1)
        chiSquare = v > 0 ? (Double(o1) - e1) * (Double(o1) - e1) / v : 0
        p = v > 0 ? Distributions.chiSquare1Upper(chiSquare) : 1
    }
}
