import CBLAS
import Foundation

/// The linear mixing model of a multispectral scan: observed = library × abundances + dark.
///
/// `matrix[c][k]` is how much of component k (a fluor, or autofluorescence) channel c records
/// per unit abundance. Columns are scaled so that each fluor's own (largest) channel is 1,
/// which makes abundances read in that channel's counts.
public struct SpectralLibrary: Codable, Equatable, Sendable {
    /// Channel names as they appear in slides, in matrix row order.
    public var channels: [String]
    /// Component names (fluors, then optionally "Autofluorescence"), in matrix column order.
    public var components: [String]
    public var matrix: [[Double]]
    /// Counts every channel records with no light (camera offset), subtracted before unmixing.
    public var darkOffset: Double
    /// Where the numbers come from.
    public var source: String?

    public init(channels: [String], components: [String], matrix: [[Double]], darkOffset: Double = 0, source: String? = nil) {
        self.channels = channels; self.components = components; self.matrix = matrix
        self.darkOffset = darkOffset; self.source = source
    }

    enum CodingKeys: String, CodingKey { case channels, components, matrix, darkOffset = "dark_offset", source }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        channels = try c.decode([String].self, forKey: .channels)
        components = try c.decode([String].self, forKey: .components)
        matrix = try c.decode([[Double]].self, forKey: .matrix)
        darkOffset = try c.decodeIfPresent(Double.self, forKey: .darkOffset) ?? 0
        source = try c.decodeIfPresent(String.self, forKey: .source)
    }

    public var channelCount: Int { channels.count }
    public var componentCount: Int { components.count }

    /// Problems with the shape or values, as one-line messages (empty when usable).
    public func problems() -> [String] {
        var out: [String] = []
        if channels.isEmpty || components.isEmpty { out.append("the library has no channels or no components") }
        if matrix.count != channels.count {
            out.append("the library matrix has \(matrix.count) rows but \(channels.count) channels")
        }
        for (i, row) in matrix.enumerated() where row.count != components.count {
            out.append("library row \(i) (\(i < channels.count ? channels[i] : "?")) has \(row.count) values but there are \(components.count) components")
        }
        if components.count > channels.count {
            out.append("\(components.count) components cannot be unmixed from \(channels.count) channels")
        }
        if matrix.joined().contains(where: { !$0.isFinite || $0 < 0 }) {
            out.append("the library has negative or non-finite entries")
        }
        return out
    }

    /// Singular values (descending), from LAPACK's dgesvd through OpenBLAS.
    public func singularValues() -> [Double] {
        _ = configuredBLAS
        let m = channelCount, n = componentCount
        var a = [Double](repeating: 0, count: m * n)  // column-major
        for c in 0..<m { for k in 0..<n { a[k * m + c] = matrix[c][k] } }
        var s = [Double](repeating: 0, count: min(m, n))
        var info: Int32 = 0
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), one: Int32 = 1
        var work = [Double](repeating: 0, count: 1)
        var lwork: Int32 = -1
        var du = [Double](repeating: 0, count: 1), dv = [Double](repeating: 0, count: 1)
        var one2: Int32 = 1
        dgesvd_("N", "N", &mm, &nn, &a, &lda, &s, &du, &one, &dv, &one2, &work, &lwork, &info)
        lwork = Int32(work[0])
        work = [Double](repeating: 0, count: Int(lwork))
        dgesvd_("N", "N", &mm, &nn, &a, &lda, &s, &du, &one, &dv, &one2, &work, &lwork, &info)
        return info == 0 ? s : []
    }

    /// Ratio of the largest to the smallest singular value (∞ when singular).
    public var conditionNumber: Double {
        let s = singularValues()
        guard let hi = s.first, let lo = s.last, lo > 0 else { return .infinity }
        return hi / lo
    }

    /// Moore–Penrose pseudo-inverse (components × channels, row-major) by SVD:
    /// pinv = V Σ⁻¹ Uᵀ, singular values below max(m,n)·ε·σ₁ treated as zero (numpy's rcond).
    public func pseudoInverse() -> [[Double]] {
        _ = configuredBLAS
        let m = channelCount, n = componentCount
        var a = [Double](repeating: 0, count: m * n)
        for c in 0..<m { for k in 0..<n { a[k * m + c] = matrix[c][k] } }
        let mn = min(m, n)
        var s = [Double](repeating: 0, count: mn)
        var u = [Double](repeating: 0, count: m * mn)
        var vt = [Double](repeating: 0, count: mn * n)
        var info: Int32 = 0
        var mm = Int32(m), nn = Int32(n), lda = Int32(m), ldu = Int32(m), ldvt = Int32(mn)
        var work = [Double](repeating: 0, count: 1)
        var lwork: Int32 = -1
        dgesvd_("S", "S", &mm, &nn, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &info)
        lwork = Int32(work[0])
        work = [Double](repeating: 0, count: Int(lwork))
        dgesvd_("S", "S", &mm, &nn, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &info)
        let cutoff = Double(max(m, n)) * Double.ulpOfOne * (s.first ?? 0)
        var p = [[Double]](repeating: [Double](repeating: 0, count: m), count: n)
        for k in 0..<n {
            for c in 0..<m {
                var v = 0.0
                for j in 0..<mn where s[j] > cutoff {
                    // V[k][j] = vt[j + k*mn] (column-major vt: mn × n); U[c][j] = u[c + j*m]
                    v += vt[j + k * mn] * u[c + j * m] / s[j]
                }
                p[k][c] = v
            }
        }
        return p
    }
}
