import Foundation
import Unmixing

/// Which library component each simulated stain lands in (resolved from the panel).
public struct StainMap: Sendable {
    public var nucleus: Int?
    public var byType: [CellType: Int]   // tumor → panCK component, cd8 → CD8 component …
    public var pdl1: Int?
    public var componentCount: Int

    public init(nucleus: Int?, byType: [CellType: Int], pdl1: Int?, componentCount: Int) {
        self.nucleus = nucleus; self.byType = byType; self.pdl1 = pdl1; self.componentCount = componentCount
    }
}

/// Renders one tile of a simulated slide: fluor abundances painted per cell, optical blur,
/// autofluorescence, mixing through the spectral library, uneven illumination, photon and
/// read noise. Also the tile's truth: nuclear labels and regions. Deterministic per tile.
struct SlideRenderer: Sendable {
    let design: SlideDesign
    let geometry: TissueGeometry
    let layout: CellLayout
    let library: SpectralLibrary
    let stains: StainMap
    /// Autofluorescence emission per channel (peak 1).
    let autofluorescence: [Float]
    static let blurSigmaPx = 0.6
    static let readNoise: Float = 3

    struct Output {
        var channels: [[Float]]     // observed counts per channel
        var labels: [UInt32]        // nucleus id + 1 (0 = none)
        var regions: [UInt8]
    }

    func render(x0: Int, y0: Int, width w: Int, height h: Int, tileSeed: UInt64) -> Output {
        let px = design.pixelSizeUm
        let halo = 3
        let W = w + 2 * halo, H = h + 2 * halo
        let K = stains.componentCount
        var ab = [[Float]](repeating: [Float](repeating: 0, count: W * H), count: K)
        var labels = [UInt32](repeating: 0, count: w * h)
        var best = [Float](repeating: .infinity, count: w * h)
        let bx0 = Double(x0 - halo) * px, by0 = Double(y0 - halo) * px
        let nearby = layout.cells(inXUm: bx0, Double(x0 + w + halo) * px, yUm: by0, Double(y0 + h + halo) * px, margin: 12)
        for ci in nearby {
            let c = layout.cells[Int(ci)]
            let reach = c.a + c.ring + 1.5
            let pxMin = max(0, Int(((c.x - reach) / px).rounded(.down)) - (x0 - halo))
            let pxMax = min(W - 1, Int(((c.x + reach) / px).rounded(.up)) - (x0 - halo))
            let pyMin = max(0, Int(((c.y - reach) / px).rounded(.down)) - (y0 - halo))
            let pyMax = min(H - 1, Int(((c.y + reach) / px).rounded(.up)) - (y0 - halo))
            if pxMin > pxMax || pyMin > pyMax { continue }
            let cs = cos(c.theta), sn = sin(c.theta)
            let meanAxis = (c.a + c.b) / 2
            let marker = stains.byType[c.type]
            let pd = c.pdl1 ? stains.pdl1 : nil
            for yy in pyMin...pyMax {
                let yUm = (Double(yy + y0 - halo) + 0.5) * px - c.y
                for xx in pxMin...pxMax {
                    let xUm = (Double(xx + x0 - halo) + 0.5) * px - c.x
                    let u = (xUm * cs + yUm * sn) / c.a, v = (-xUm * sn + yUm * cs) / c.b
                    let r = (u * u + v * v).squareRoot()
                    let i = yy * W + xx
                    if r <= 1 {
                        let t = Float(SplitMix64.mix(c.texture &+ UInt64(yy * 131 + xx)) >> 40) / 16_777_216
                        if let nk = stains.nucleus { ab[nk][i] += c.dapi * (0.8 + 0.4 * t) * Float(1 - 0.25 * r * r) }
                        if c.type == .tumor, let m = marker { ab[m][i] += 0.12 * c.level }
                        let lx = xx - halo, ly = yy - halo
                        if lx >= 0 && ly >= 0 && lx < w && ly < h && Float(r) < best[ly * w + lx] {
                            best[ly * w + lx] = Float(r)
                            labels[ly * w + lx] = UInt32(ci) + 1
                        }
                        continue
                    }
                    let out = (r - 1) * meanAxis
                    if out > c.ring { continue }
                    let membrane = out >= c.ring - 1.0
                    if let m = marker {
                        if c.type == .tumor { ab[m][i] += membrane ? 0.7 * c.level : c.level }
                        else { ab[m][i] += membrane ? c.level : 0.25 * c.level }
                    }
                    if let p = pd { ab[p][i] += membrane ? c.pdl1Level : 0.15 * c.pdl1Level }
                }
            }
        }
        // Optics: a slight Gaussian blur of every abundance plane.
        let kernel = gaussianKernel(SlideRenderer.blurSigmaPx)
        for k in 0..<K where ab[k].contains(where: { $0 != 0 }) { blur(&ab[k], W, H, kernel) }

        // Regions, autofluorescence, illumination, mixing, noise.
        var regions = [UInt8](repeating: 0, count: w * h)
        let C = library.channelCount
        var out = [[Float]](repeating: [Float](repeating: 0, count: w * h), count: C)
        var rng = SplitMix64(design.seed, tileSeed, 991)
        let M = library.matrix.map { $0.map(Float.init) }
        let dark = Float(library.darkOffset)
        FastNormal.table.withUnsafeBufferPointer { nt in
            var mixed = [Float](repeating: 0, count: C)
            var a = [Float](repeating: 0, count: K)
            for ly in 0..<h {
                let yUm = (Double(y0 + ly) + 0.5) * px
                for lx in 0..<w {
                    let xUm = (Double(x0 + lx) + 0.5) * px
                    let reg = geometry.region(xUm: xUm, yUm: yUm)
                    regions[ly * w + lx] = reg
                    let i = (ly + halo) * W + lx + halo
                    for k in 0..<K { a[k] = ab[k][i] }
                    var af: Float = 0
                    if design.autofluorescence {
                        let t = Float(SplitMix64.mix(UInt64(y0 + ly) &* 0x1F1F_1F1F &+ UInt64(x0 + lx) &+ design.seed) >> 40) / 16_777_216
                        af = reg == 0 ? 4 : (reg == 1 ? 55 : 40) * (0.8 + 0.4 * t)
                    }
                    let illum: Float = design.illumination ? illumination(x0 + lx, y0 + ly) : 1
                    for c in 0..<C {
                        var s: Float = 0
                        let row = M[c]
                        for k in 0..<K { s += row[k] * a[k] }
                        mixed[c] = (s + af * autofluorescence[c]) * illum
                    }
                    for c in 0..<C {
                        var v = mixed[c]
                        if design.noise {
                            let sd = (max(v, 0) + SlideRenderer.readNoise * SlideRenderer.readNoise).squareRoot()
                            v += sd * FastNormal.draw(rng.next(), nt) + dark   // rounded when written as uint16
                        } else {
                            v += dark
                        }
                        out[c][ly * w + lx] = min(max(v, 0), 65535)
                    }
                }
            }
        }
        return Output(channels: out, labels: labels, regions: regions)
    }

    /// Stitched-camera shading: each 1000-px field is 8% dimmer at its corners.
    @inline(__always) func illumination(_ x: Int, _ y: Int) -> Float {
        let fx = Float(x % 1000) / 500 - 1, fy = Float(y % 1000) / 500 - 1
        return 1 - 0.04 * (fx * fx + fy * fy)
    }

    private func gaussianKernel(_ sigma: Double) -> [Float] {
        let r = Int((3 * sigma).rounded(.up))
        var k = (-r...r).map { Float(exp(-0.5 * Double($0 * $0) / (sigma * sigma))) }
        let s = k.reduce(0, +)
        k = k.map { $0 / s }
        return k
    }

    /// Separable blur with clamped edges; taps outer, pixels inner, so each tap vectorises.
    private func blur(_ p: inout [Float], _ w: Int, _ h: Int, _ k: [Float]) {
        let r = k.count / 2
        var line = [Float](repeating: 0, count: w + 2 * r)
        var t = [Float](repeating: 0, count: w * h)
        for y in 0..<h {
            for i in 0..<(w + 2 * r) { line[i] = p[y * w + min(max(i - r, 0), w - 1)] }
            line.withUnsafeBufferPointer { l in
                t.withUnsafeMutableBufferPointer { tb in
                    let o = tb.baseAddress! + y * w
                    for x in 0..<w { o[x] = k[0] * l[x] }
                    for j in 1..<k.count { let kv = k[j], lj = l.baseAddress! + j; for x in 0..<w { o[x] += kv * lj[x] } }
                }
            }
        }
        t.withUnsafeBufferPointer { tb in
            p.withUnsafeMutableBufferPointer { pb in
                for y in 0..<h {
                    let o = pb.baseAddress! + y * w
                    for x in 0..<w { o[x] = 0 }
                    for j in 0..<k.count {
                        let kv = k[j], src = tb.baseAddress! + min(max(y + j - r, 0), h - 1) * w
                        for x in 0..<w { o[x] += kv * src[x] }
                    }
                }
            }
        }
    }
}
