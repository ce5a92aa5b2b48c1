import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and good enough for simulation; seeded
/// per block or tile so that a slide's bytes do not depend on threads or processing order.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public init(_ parts: UInt64...) {
        var s: UInt64 = 0x9E37_79B9_7F4A_7C15
        for p in parts { s = SplitMix64.mix(s ^ p &+ 0x632B_E59B_D9B4_E019) }
        state = s
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always) public mutating func next() -> UInt64 {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    @inline(__always) public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Standard normal by Box–Muller.
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// Poisson by inversion (small means) or the normal approximation (large means).
    public mutating func poisson(_ mean: Double) -> Int {
        if mean <= 0 { return 0 }
        if mean > 30 { return max(0, Int((mean + mean.squareRoot() * normal()).rounded())) }
        let l = exp(-mean)
        var k = 0, p = uniform()
        while p > l { k += 1; p *= uniform() }
        return k
    }
}

/// Standard-normal deviates for per-pixel noise, where Box–Muller would dominate the cost.
struct FastNormal: Sendable {
    /// Φ⁻¹((i + ½) / 65536) for i < 65536 (a standard normal discretised in probability steps
    /// of 2⁻¹⁶, tails to ±4.3σ), in a fixed random order, then its first `poolSlack` values
    /// again so that a window starting anywhere below 65536 is contiguous.
    ///
    /// A row of noise is the window at a uniformly random start, one random number per row:
    /// each pixel's deviate is one of the quantiles, uniformly, so standard normal; along a
    /// row the deviates are distinct draws; two pixels of different rows share a value with
    /// probability 2⁻¹⁶, as they would with an independent 16-bit table lookup per pixel (the
    /// difference: when two windows overlap, their shared values come in runs).
    static let pool: [Float] = {
        var q = (0..<65536).map { Float(inverseNormalCDF((Double($0) + 0.5) / 65536)) }
        var rng = SplitMix64(0x6E6F_6973_6570_6F6F)   // Fisher–Yates, fixed seed
        for i in stride(from: q.count - 1, to: 0, by: -1) { q.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return q + q[..<poolSlack]
    }()
    static let poolSlack = 4096

    /// The start of a window of `poolSlack` or fewer deviates, from one random number.
    @inline(__always) static func windowStart(_ bits: UInt64) -> Int { Int(bits & 0xFFFF) }

    /// Acklam's rational approximation (relative error < 1.2e-9).
    static func inverseNormalCDF(_ p: Double) -> Double {
        let a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
        let b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01)
        let c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
        let d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
        let lo = 0.02425
        if p < lo {
            let q = (-2 * log(p)).squareRoot()
            return (((((c.0 * q + c.1) * q + c.2) * q + c.3) * q + c.4) * q + c.5) / ((((d.0 * q + d.1) * q + d.2) * q + d.3) * q + 1)
        }
        if p > 1 - lo {
            let q = (-2 * log(1 - p)).squareRoot()
            return -(((((c.0 * q + c.1) * q + c.2) * q + c.3) * q + c.4) * q + c.5) / ((((d.0 * q + d.1) * q + d.2) * q + d.3) * q + 1)
        }
        let q = p - 0.5, r = q * q
        return (((((a.0 * r + a.1) * r + a.2) * r + a.3) * r + a.4) * r + a.5) * q / (((((b.0 * r + b.1) * r + b.2) * r + b.3) * r + b.4) * r + 1)
    }
}

/// A smooth random field: Gaussian values on a lattice of spacing `spacing` (µm), smoothed by a
/// binomial kernel and interpolated bilinearly. Values are roughly standard normal.
struct SmoothField: Sendable {
    let spacing: Double
    let inverseSpacing: Double
    let nx: Int, ny: Int
    let values: [Float]

    init(widthUm: Double, heightUm: Double, spacing: Double, seed: UInt64, salt: UInt64) {
        self.spacing = spacing
        inverseSpacing = 1 / spacing
        nx = Int(widthUm / spacing) + 3
        ny = Int(heightUm / spacing) + 3
        var rng = SplitMix64(seed, salt)
        var raw = (0..<(nx * ny)).map { _ in Float(rng.normal()) }
        // Two passes of [1 2 1]/4 in each direction; renormalise to unit variance (≈ 0.53 left).
        for _ in 0..<2 {
            var t = raw
            for y in 0..<ny { for x in 0..<nx {
                let l = raw[y * nx + max(x - 1, 0)], r = raw[y * nx + min(x + 1, nx - 1)]
                t[y * nx + x] = 0.25 * l + 0.5 * raw[y * nx + x] + 0.25 * r
            } }
            for y in 0..<ny { for x in 0..<nx {
                let u = t[max(y - 1, 0) * nx + x], d = t[min(y + 1, ny - 1) * nx + x]
                raw[y * nx + x] = 0.25 * u + 0.5 * t[y * nx + x] + 0.25 * d
            } }
        }
        let sd = (raw.map { Double($0 * $0) }.reduce(0, +) / Double(raw.count)).squareRoot()
        values = raw.map { $0 / Float(max(sd, 1e-9)) }
    }

    @inline(__always) func at(xUm: Double, yUm: Double) -> Float {
        value(x: cell(xUm, count: nx), y: cell(yUm, count: ny))
    }

    /// Grid cell and fraction of a coordinate along an axis of `count` nodes: a row of pixels
    /// shares its y, a column its x, so the renderer computes them once per row and column.
    @inline(__always) func cell(_ um: Double, count: Int) -> (index: Int, fraction: Float) {
        let f = um * inverseSpacing
        let i = min(max(Int(f), 0), count - 2)
        return (i, Float(f - Double(i)))
    }

    /// For a run of columns, the x-interpolated values along grid rows iy and iy + 1 (the
    /// `a + (b − a)·tx` and `c + (d − c)·tx` of `value`), kept until the grid row changes.
    struct RowEdges {
        let field: SmoothField
        let cells: [(index: Int, fraction: Float)]
        private(set) var row = -1
        private(set) var top: [Float], bottom: [Float]

        init(_ field: SmoothField, cells: [(index: Int, fraction: Float)]) {
            self.field = field; self.cells = cells
            top = [Float](repeating: 0, count: cells.count); bottom = top
        }

        mutating func load(row iy: Int) {
            guard iy != row else { return }
            row = iy
            let v = field.values, nx = field.nx
            for (x, cell) in cells.enumerated() {
                let ix = cell.index, tx = cell.fraction
                top[x] = SmoothField.along(v[iy * nx + ix], v[iy * nx + ix + 1], tx)
                bottom[x] = SmoothField.along(v[(iy + 1) * nx + ix], v[(iy + 1) * nx + ix + 1], tx)
            }
        }
    }

    /// Bilinear interpolation inside a grid cell: along x on the cell's two grid rows, then
    /// across them (`RowClassifier` does the same two steps, the first once per grid row).
    @inline(__always) func value(x: (index: Int, fraction: Float), y: (index: Int, fraction: Float)) -> Float {
        let ix = x.index, iy = y.index, tx = x.fraction, ty = y.fraction
        return SmoothField.across(SmoothField.along(values[iy * nx + ix], values[iy * nx + ix + 1], tx),
                                  SmoothField.along(values[(iy + 1) * nx + ix], values[(iy + 1) * nx + ix + 1], tx), ty, 1 - ty)
    }

    /// a + (b − a)·t.
    @inline(__always) static func along(_ a: Float, _ b: Float, _ t: Float) -> Float { a + (b - a) * t }
    /// top·(1 − t) + bottom·t, with 1 − t given.
    @inline(__always) static func across(_ top: Float, _ bottom: Float, _ t: Float, _ oneMinusT: Float) -> Float { top * oneMinusT + bottom * t }
}
