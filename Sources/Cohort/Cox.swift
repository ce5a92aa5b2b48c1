import Foundation

/// Cox proportional hazards with one 0/1 covariate (group 1 against group 0), as R's
/// `coxph(Surv(time, event) ~ group)` with its default Efron handling of tied event times:
/// Newton–Raphson on the log partial likelihood from β = 0, halving a step that lowers it (as
/// `coxph.fit` does), until it changes by less than 1e-12 relative. The hazard ratio exp(β), its
/// Wald 95% interval exp(β ± 1.96·se) with se from the information at β, and the Wald p — what
/// `summary(coxph(...))` prints.
///
/// Not estimable (nil) when a group has no events, or when β runs off towards infinity (|β| > 15,
/// a hazard ratio beyond 3·10⁶): the likelihood then keeps rising and has no maximum (R warns
/// "coefficient may be infinite" and prints a meaningless number).
public struct CoxPH: Sendable {
    public let beta: Double
    public let se: Double
    public let hazardRatio: Double
    public let lower: Double, upper: Double
    public let p: Double

    public init?(times: [Double], events: [Bool], group: [Int]) {
        // Per distinct event time: events in each group, and who is at risk (time ≥ t).
        struct Tie { var d0 = 0, d1 = 0, r0 = 0, r1 = 0 }
        let order = times.indices.sorted { times[$0] > times[$1] }
        var ties: [Tie] = []
        var r0 = 0, r1 = 0, i = 0
        while i < order.count {
            let t = times[order[i]]
            var tie = Tie()
            while i < order.count && times[order[i]] == t {
                let k = order[i]
                if group[k] == 1 { r1 += 1; if events[k] { tie.d1 += 1 } } else { r0 += 1; if events[k] { tie.d0 += 1 } }
                i += 1
            }
            tie.r0 = r0; tie.r1 = r1
            if tie.d0 + tie.d1 > 0 { ties.append(tie) }
        }
        guard ties.contains(where: { $0.d0 > 0 }), ties.contains(where: { $0.d1 > 0 }) else { return nil }

        /// Log partial likelihood, score and information at β (Efron: the l-th of d tied events
        /// sees the risk set less l/d of the tied subjects' weight).
        func evaluate(_ b: Double) -> (loglik: Double, score: Double, information: Double) {
            let w = exp(b)
            var ll = 0.0, u = 0.0, info = 0.0
            for t in ties {
                let d = t.d0 + t.d1
                let s0 = Double(t.r0) + Double(t.r1) * w, s1 = Double(t.r1) * w
                let s0d = Double(t.d0) + Double(t.d1) * w, s1d = Double(t.d1) * w
                ll += b * Double(t.d1); u += Double(t.d1)
                for l in 0..<d {
                    let f = Double(l) / Double(d)
                    let a0 = s0 - f * s0d, a1 = s1 - f * s1d
                    let m = a1 / a0
                    ll -= log(a0); u -= m; info += m - m * m   // Σx² e^{βx} = Σx e^{βx} for x ∈ {0, 1}
                }
            }
            return (ll, u, info)
        }
        var b = 0.0
        var cur = evaluate(b)
        for _ in 0..<100 {
            guard cur.information > 0 else { return nil }
            var step = cur.score / cur.information
            var next = evaluate(b + step)
            var halvings = 0
            // A step that lowers the likelihood, or overflows it (NaN), is halved.
            while !(next.loglik >= cur.loglik) && halvings < 30 { step /= 2; next = evaluate(b + step); halvings += 1 }
            let done = abs(next.loglik - cur.loglik) <= 1e-12 * abs(next.loglik) && abs(step) < 1e-9
            b += step; cur = next
            if done || abs(b) > 15 { break }
        }
        guard abs(b) <= 15, cur.information > 0 else { return nil }
        beta = b
        se = 1 / cur.information.squareRoot()
        hazardRatio = exp(b)
        lower = exp(b - Distributions.z975 * se)
        upper = exp(b + Distributions.z975 * se)
        p = Distributions.chiSquare1Upper((b / se) * (b / se))
    }
}
