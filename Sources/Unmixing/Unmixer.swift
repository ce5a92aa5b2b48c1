import CBLAS
import Foundation

/// OpenBLAS set up before its first use (every BLAS and LAPACK call here touches this first, so
/// all of them run the same kernels): one thread, as mifq parallelises over tiles itself and
/// OpenBLAS's own threads would only oversubscribe the cores; and where OpenBLAS fell back to
/// its SSE3 kernels on a CPU with AVX2 or AVX-512 (Debian 12's OpenBLAS on Intel's newest
/// Xeons), the kernels the CPU runs (`mifq_openblas_prefer_cpu_kernels`): the peer's slide
/// unmixed in 0.58–0.61 CPU s there, 0.22–0.23 s with them.
let configuredBLAS: Void = {
    _ = mifq_openblas_prefer_cpu_kernels()
    openblas_set_num_threads(1)
}()

extension Unmixer {
    /// Sets OpenBLAS up now (`configuredBLAS`), as the program starts: choosing its kernels
    /// sets and clears an environment variable, which is only safe while no other thread may
    /// read the environment. Every BLAS use also does it, for library users.
    public static func prepareBLAS() { _ = configuredBLAS }
}

public enum UnmixingMethod: String, Codable, Sendable, CaseIterable {
    /// Ordinary least squares: abundances = pinv(library) · (observed − dark); one sgemm per tile.
    case ols
    /// Non-negative least squares per pixel (Lawson & Hanson 1974, active set), exact.
    case nnls
}

/// Turns channel tiles into component tiles with a fixed library.
///
/// Tiles are planar: `channels × pixels` floats, channel-major (each channel's pixels
/// contiguous), which is exactly the row-major matrix OLS multiplies, so OLS costs one
/// `cblas_sgemm` of (components × channels)·(channels × pixels) per tile.
public struct Unmixer: Sendable {
    public let library: SpectralLibrary
    public let method: UnmixingMethod
    /// pinv(library), components × channels, row-major Float for sgemm.
    let pinv: [Float]
    /// Gram matrix AᵀA (components²), for NNLS.
    let gram: [Double]
    /// d·(pinv·1) per component (d the dark offset), or nil without one.
    let darkBias: [Float]?

    public init(library: SpectralLibrary, method: UnmixingMethod = .ols) {
        _ = configuredBLAS
        self.library = library
        self.method = method
        pinv = library.pseudoInverse().flatMap { $0.map(Float.init) }
        let m = library.channelCount, n = library.componentCount
        var g = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for c in 0..<m { g[i * n + j] += library.matrix[c][i] * library.matrix[c][j] } } }
        gram = g
        let d = library.darkOffset
        let p = pinv
        darkBias = d == 0 ? nil : (0..<n).map { k in Float(d * (0..<m).reduce(0.0) { $0 + Double(p[k * m + $1]) }) }
    }

    public var componentCount: Int { library.componentCount }
    public var channelCount: Int { library.channelCount }
    /// Pixels per sgemm: the block's 7 input and 7 output rows (2 × 7 × 4 KB × 4 B ≈ 230 KB at
    /// 4096) stay in the core's L2 while OpenBLAS packs and multiplies them.
    static let blockPixels = 4096

    /// Unmixes `pixels` pixels. `observed` holds channelCount planes, `out` componentCount planes;
    /// `observed` is only read.
    public func unmix(observed: UnsafePointer<Float>, pixels: Int, out: UnsafeMutablePointer<Float>) {
        unmix(observed: observed, pixels: pixels, into: (0..<componentCount).map { out + $0 * pixels })
    }

    /// Unmixes `pixels` pixels into one buffer per component (`planes[k]`, `pixels` floats each),
    /// so that a caller's own arrays receive the components without a further copy.
    public func unmix(observed: UnsafePointer<Float>, pixels: Int, into planes: [UnsafeMutablePointer<Float>]) {
        let m = channelCount, n = componentCount
        precondition(planes.count == n)
        // pinv·(obs − d·1) = pinv·obs − d·(pinv·1): the dark offset becomes one bias per
        // component, subtracted while each block's output is copied out of the cache-sized
        // scratch into the planes.
        let block = Unmixer.blockPixels
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: n * block)
        defer { scratch.deallocate() }
        pinv.withUnsafeBufferPointer { p in
            var start = 0
            while start < pixels {
                let w = min(block, pixels - start)
                // (n × m)·(m × w), the input planes addressed with their full leading dimension.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(w), Int32(m),
                            1, p.baseAddress, Int32(m), observed + start, Int32(pixels), 0, scratch, Int32(w))
                for k in 0..<n {
                    let src = scratch + k * w, dst = planes[k] + start
                    if let bias = darkBias {
                        let b = bias[k]
                        for i in 0..<w { dst[i] = src[i] - b }
                    } else {
                        dst.update(from: src, count: w)
                    }
                }
                start += w
            }
        }
        guard method == .nnls else { return }
        var solver = NNLSSolver(library: library, gram: gram)
        let dark = library.darkOffset
        var b = [Double](repeating: 0, count: m)
        var x = [Double](repeating: 0, count: n)
        for px in 0..<pixels {
            var negative = false
            for k in 0..<n where planes[k][px] < 0 { negative = true; break }
            if !negative { continue }  // OLS is feasible, hence optimal for NNLS
            for c in 0..<m { b[c] = Double(observed[c * pixels + px]) - dark }
            solver.solve(b, into: &x)
            for k in 0..<n { planes[k][px] = Float(x[k]) }
        }
    }

    /// Convenience on arrays of planes.
    public func unmix(_ planes: [[Float]]) -> [[Float]] {
        precondition(planes.count == channelCount)
        let n = planes.first?.count ?? 0
        var obs = planes.flatMap { $0 }
        var out = [Float](repeating: 0, count: componentCount * n)
        obs.withUnsafeMutableBufferPointer { o in
            out.withUnsafeMutableBufferPointer { r in unmix(observed: o.baseAddress!, pixels: n, out: r.baseAddress!) }
        }
        return (0..<componentCount).map { Array(out[$0 * n..<($0 + 1) * n]) }
    }
}

/// Lawson–Hanson active-set NNLS for min ‖A x − b‖², x ≥ 0, on the normal equations
/// (AᵀA precomputed; Bro & de Jong 1997's formulation), for the handful of components
/// a panel has. Exact: stops when the KKT conditions hold (gradient ≥ −tol on the zero set).
/// All work buffers are allocated once per solver, none per pixel.
struct NNLSSolver {
    let a: [Double]          // channels × components, row-major
    let n: Int
    let m: Int
    let gram: [Double]
    private var atb: [Double]
    private var passive: [Bool]
    private var s: [Double]
    private var idx: [Int]
    private var mat: [Double]

    init(library: SpectralLibrary, gram: [Double]) {
        a = library.matrix.flatMap { $0 }
        m = library.channelCount
        n = library.componentCount
        self.gram = gram
        atb = [Double](repeating: 0, count: n)
        passive = [Bool](repeating: false, count: n)
        s = [Double](repeating: 0, count: n)
        idx = [Int](repeating: 0, count: n)
        mat = [Double](repeating: 0, count: n * (n + 1))
    }

    mutating func solve(_ b: [Double], into x: inout [Double]) {
        var scale = 1.0
        for k in 0..<n {
            var v = 0.0
            for c in 0..<m { v += a[c * n + k] * b[c] }
            atb[k] = v
            scale = max(scale, abs(v))
            x[k] = 0
            passive[k] = false
        }
        let tol = 1e-10 * scale
        var outer = 0
        while outer < 3 * n {
            outer += 1
            // w = Aᵀb − AᵀA x; the most positive entry on the zero set joins the passive set.
            var best = -1, bestW = tol
            for k in 0..<n where !passive[k] {
                var w = atb[k]
                for j in 0..<n { w -= gram[k * n + j] * x[j] }
                if w > bestW { bestW = w; best = k }
            }
            if best < 0 { return }
            passive[best] = true
            var inner = 0
            while inner < 3 * n {
                inner += 1
                solvePassive()
                var allPositive = true
                for k in 0..<n where passive[k] && s[k] <= 0 { allPositive = false; break }
                if allPositive { for k in 0..<n { x[k] = s[k] }; break }
                var alpha = Double.infinity
                for k in 0..<n where passive[k] && s[k] <= 0 {
                    let t = x[k] / (x[k] - s[k])
                    if t < alpha { alpha = t }
                }
                for k in 0..<n {
                    x[k] += alpha * (s[k] - x[k])
                    if passive[k] && x[k] <= 1e-14 * scale { passive[k] = false; x[k] = 0 }
                }
            }
        }
    }

    /// s = argmin over the passive set (unconstrained), zero elsewhere: Gauss–Jordan
    /// elimination with partial pivoting on the passive block of AᵀA.
    private mutating func solvePassive() {
        var p = 0
        for k in 0..<n where passive[k] { idx[p] = k; p += 1 }
        let w = p + 1
        for i in 0..<p {
            for j in 0..<p { mat[i * w + j] = gram[idx[i] * n + idx[j]] }
            mat[i * w + p] = atb[idx[i]]
        }
        for col in 0..<p {
            var piv = col
            for r in (col + 1)..<max(p, col + 1) where abs(mat[r * w + col]) > abs(mat[piv * w + col]) { piv = r }
            if piv != col { for c in 0...p { mat.swapAt(col * w + c, piv * w + c) } }
            let d = mat[col * w + col]
            if abs(d) < 1e-300 { continue }
            for r in 0..<p where r != col {
                let f = mat[r * w + col] / d
                if f == 0 { continue }
                for c in col...p { mat[r * w + c] -= f * mat[col * w + c] }
            }
        }
        for k in 0..<n { s[k] = 0 }
        for i in 0..<p {
            let d = mat[i * w + i]
            s[idx[i]] = abs(d) < 1e-300 ? 0 : mat[i * w + p] / d
        }
    }
}
