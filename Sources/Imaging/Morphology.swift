import Foundation

/// Binary dilation by a disc (all pixels within `radius` of the centre, Euclidean).
///
/// A disc is a stack of horizontal runs, one per row offset dy, of half-width
/// ⌊√(r² − dy²)⌋. A pixel is in the dilation when, for some dy, the nearest set pixel in row
/// y + dy lies within that row's half-width. Each row's horizontal distances are computed once
/// (two sweeps), so the cost is 2r + 1 byte comparisons per pixel. Outside the image is unset.
public enum Morphology {
    /// The disc's runs: half-widths ⌊√(radius² − dy²)⌋ for dy = −r … r, r = ⌊radius⌋; empty
    /// below one pixel.
    public static func discRows(radius: Double) -> [Int] {
        guard radius >= 1 else { return [] }
        let r = Int(radius.rounded(.down))
        return (-r...r).map { dy in Int((radius * radius - Double(dy * dy)).squareRoot().rounded(.down)) }
    }

    public static func dilate(_ m: Mask, radius: Double) -> Mask {
        let w = m.width, h = m.height
        let rows = discRows(radius: radius)
        guard !rows.isEmpty, w > 0, h > 0 else { return m }
        let r = rows.count / 2
        let half = rows.map { UInt8(min(254, $0)) }
        // Horizontal distance to the nearest set pixel in the same row, capped at r + 1.
        let cap = min(r + 1, 255)
        var hd = [UInt8](repeating: UInt8(cap), count: w * h)
        m.bits.withUnsafeBufferPointer { b in
            hd.withUnsafeMutableBufferPointer { d in
                for y in 0..<h {
                    let row = y * w
                    var last = -cap - 1
                    for x in 0..<w {
                        if b[row + x] { last = x }
                        d[row + x] = UInt8(min(x - last, cap))
                    }
                    last = w + cap + 1
                    for x in stride(from: w - 1, through: 0, by: -1) {
                        if b[row + x] { last = x }
                        d[row + x] = min(d[row + x], UInt8(min(last - x, cap)))
                    }
                }
            }
        }
        // Or-ed as bytes (a Bool is the byte 0 or 1) without a branch, so the loop vectorises.
        var out = Mask(width: w, height: h)
        hd.withUnsafeBufferPointer { d in
            out.bits.withUnsafeMutableBufferPointer { ob in ob.withMemoryRebound(to: UInt8.self) { o in
                for y in 0..<h {
                    for dy in max(-r, -y)...min(r, h - 1 - y) {
                        let lim = half[dy + r]
                        let src = d.baseAddress! + (y + dy) * w, dst = o.baseAddress! + y * w
                        for x in 0..<w { dst[x] |= src[x] <= lim ? 1 : 0 }
                    }
                }
            } }
        }
        return out
    }
}
