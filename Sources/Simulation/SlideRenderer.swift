import Foundation
import Imaging
import SlideIO
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
        /// Observed counts per channel as the camera records them (w × h each), page-aligned
        /// (`OMETIFFWriter.tileAlignment`) so that the writer can adopt them; the caller frees them.
        var channels: [UnsafeMutablePointer<UInt16>]
        var labels: [UInt32]        // nucleus id + 1 (0 = none)
        var regions: [UInt8]
    }

    func render(x0: Int, y0: Int, width w: Int, height h: Int, tileSeed: UInt64) -> Output {
        let px = design.pixelSizeUm, pxf = Float(px)
        let halo = 3
        let W = w + 2 * halo, H = h + 2 * halo
        let K = stains.componentCount
        // Abundance planes (K × W × H, with a halo for the blur), nearest-centre labels.
        let ab = UnsafeMutablePointer<Float>.allocate(capacity: K * W * H)
        memset(ab, 0, K * W * H * MemoryLayout<Float>.stride)
        let best = UnsafeMutablePointer<Float>.allocate(capacity: w * h)
        best.initialize(repeating: .infinity, count: w * h)
        defer { ab.deallocate(); best.deallocate() }
        var labels = [UInt32](repeating: 0, count: w * h)
        var painted = [Bool](repeating: false, count: K)
        let bx0 = Double(x0 - halo) * px, by0 = Double(y0 - halo) * px
        let nearby = layout.cells(inXUm: bx0, Double(x0 + w + halo) * px, yUm: by0, Double(y0 + h + halo) * px, margin: 12)
        // Pass 1: nuclei (DAPI, the tumour marker's nuclear share, labels by nearest centre) and,
        // for every pixel, which cell body it belongs to: the cell it is least far outside the
        // nucleus of (µm), within that cell's reach; the runner-up's distance is kept too, so
        // that membranes can sit where two cells meet. Cells do not overlap: in a cohesive nest
        // each cell is a polygon whose membrane is shared with its neighbours.
        let ownDist = UnsafeMutablePointer<Float>.allocate(capacity: W * H)
        let nextDist = UnsafeMutablePointer<Float>.allocate(capacity: W * H)
        let owner = UnsafeMutablePointer<Int32>.allocate(capacity: W * H)
        ownDist.initialize(repeating: .infinity, count: W * H)
        nextDist.initialize(repeating: .infinity, count: W * H)
        owner.initialize(repeating: -1, count: W * H)
        defer { ownDist.deallocate(); nextDist.deallocate(); owner.deallocate() }
        // What pass 2 paints for each cell that reaches the tile; `owner` holds indices into it.
        struct Body {
            var marker: UnsafeMutablePointer<Float>?, tumor: Bool, level: Float
            var pdl1: UnsafeMutablePointer<Float>?, pdl1Level: Float, membraneFrom: Float
            var region: UInt8
        }
        var bodies: [Body] = []
        labels.withUnsafeMutableBufferPointer { lab in
        for ci in nearby {
            let c = layout.cells[Int(ci)]
            let reach = c.a + c.ring + 1.5
            let pxMin = max(0, Int(((c.x - reach) / px).rounded(.down)) - (x0 - halo))
            let pxMax = min(W - 1, Int(((c.x + reach) / px).rounded(.up)) - (x0 - halo))
            let pyMin = max(0, Int(((c.y - reach) / px).rounded(.down)) - (y0 - halo))
            let pyMax = min(H - 1, Int(((c.y + reach) / px).rounded(.up)) - (y0 - halo))
            if pxMin > pxMax || pyMin > pyMax { continue }
            // Elliptical coordinates (u, v) with the nucleus boundary at r = 1, in Float, the
            // offsets from the cell centre being small.
            let cs = Float(cos(c.theta)), sn = Float(sin(c.theta))
            let ia = Float(1 / c.a), ib = Float(1 / c.b)
            let meanAxis = Float((c.a + c.b) / 2), ring = Float(c.ring)
            let rOuter = 1 + ring / meanAxis, rOuter2 = rOuter * rOuter
            let nucleusPlane = stains.nucleus.map { ab + $0 * W * H }
            let markerPlane = stains.byType[c.type].map { ab + $0 * W * H }
            let tumor = c.type == .tumor
            let body = Int32(bodies.count)
            bodies.append(Body(marker: markerPlane, tumor: tumor, level: c.level,
                               pdl1: c.pdl1 ? stains.pdl1.map { ab + $0 * W * H } : nil, pdl1Level: c.pdl1Level,
                               membraneFrom: ring - 1, region: c.region))
            let dx0 = Float((Double(pxMin + x0 - halo) + 0.5) * px - c.x)
            // The chord of each row through the outer ellipse, (A x + uy)² + (B x + vy)² ≤ rOuter²,
            // solved in Double for a radius 0.1% larger and widened by a pixel: every pixel the
            // Float test below accepts lies inside it, so skipping the rest changes nothing.
            let qa = Double(cs * ia) * Double(cs * ia) + Double(sn * ib) * Double(sn * ib)
            let reach2 = Double(rOuter2) * 1.001
            for yy in pyMin...pyMax {
                let yUm = Float((Double(yy + y0 - halo) + 0.5) * px - c.y)
                let uy = yUm * sn * ia, vy = yUm * cs * ib
                let qb = 2 * (Double(cs * ia) * Double(uy) - Double(sn * ib) * Double(vy))
                let qc = Double(uy) * Double(uy) + Double(vy) * Double(vy) - reach2
                let disc = qb * qb - 4 * qa * qc
                if disc < 0 { continue }
                let root = disc.squareRoot()
                let lo = ((-qb - root) / (2 * qa) - Double(dx0)) / px, hi = ((-qb + root) / (2 * qa) - Double(dx0)) / px
                let xFrom = max(pxMin, pxMin + Int(lo.rounded(.down)) - 1), xTo = min(pxMax, pxMin + Int(hi.rounded(.up)) + 1)
                if xFrom > xTo { continue }
                for xx in xFrom...xTo {
                    let xUm = dx0 + Float(xx - pxMin) * pxf
                    let u = xUm * cs * ia + uy, v = -xUm * sn * ib + vy
                    let r2 = u * u + v * v
                    if r2 > rOuter2 { continue }
                    let i = yy * W + xx
                    let dist: Float
                    if r2 <= 1 {
                        let t = Float(SplitMix64.mix(c.texture &+ UInt64(yy * 131 + xx)) >> 40) / 16_777_216
                        nucleusPlane?[i] += c.dapi * (0.8 + 0.4 * t) * (1 - 0.25 * r2)
                        if tumor { markerPlane?[i] += 0.12 * c.level }
                        let lx = xx - halo, ly = yy - halo
                        if lx >= 0 && ly >= 0 && lx < w && ly < h && r2 < best[ly * w + lx] {
                            best[ly * w + lx] = r2
                            lab[ly * w + lx] = UInt32(ci) + 1
                        }
                        dist = (r2 - 1) * meanAxis   // negative inside the nucleus: its own cell wins
                    } else {
                        dist = (r2.squareRoot() - 1) * meanAxis
                    }
                    if dist < ownDist[i] {
                        nextDist[i] = ownDist[i]; ownDist[i] = dist; owner[i] = body
                    } else if dist < nextDist[i] {
                        nextDist[i] = dist
                    }
                }
            }
            if let n = stains.nucleus { painted[n] = true }
            if let m = stains.byType[c.type] { painted[m] = true }
            if c.pdl1, let p = stains.pdl1 { painted[p] = true }
        }
        }
        // Pass 2: each cell body's cytoplasm and membrane stains. Membrane: the outer 1 µm of the
        // cell's reach, or within 1 µm of the boundary it shares with the runner-up.
        for i in 0..<(W * H) {
            let o = ownDist[i]
            guard owner[i] >= 0, o > 0 else { continue }
            let c = bodies[Int(owner[i])]
            let membrane = o >= c.membraneFrom || nextDist[i] - o <= 2
            if let m = c.marker {
                if c.tumor { m[i] += membrane ? 0.7 * c.level : c.level }
                else { m[i] += membrane ? c.level : 0.25 * c.level }
            }
            if let p = c.pdl1 { p[i] += membrane ? c.pdl1Level : 0.15 * c.pdl1Level }
        }
        // Optics: a slight Gaussian blur of every painted abundance plane (the halo covers the
        // kernel, so the tile's own pixels never see how the plane's edge is padded).
        for k in 0..<K where painted[k] { Filters.gaussianInPlace(ab + k * W * H, width: W, height: H, sigma: SlideRenderer.blurSigmaPx) }

        // Regions, autofluorescence, illumination, mixing and noise, a row at a time: the
        // per-pixel fields first, then each channel as whole-row (vectorised) passes.
        var regions = [UInt8](repeating: 0, count: w * h)
        let C = library.channelCount
        // One buffer per channel, every sample of which the row loop below sets.
        let out = (0..<C).map { _ in
            UnsafeMutableRawPointer.allocate(byteCount: w * h * 2, alignment: OMETIFFWriter.tileAlignment).bindMemory(to: UInt16.self, capacity: w * h)
        }
        var rng = SplitMix64(design.seed, tileSeed, 991)
        let M = library.matrix.flatMap { $0.map(Float.init) }   // C × K
        let dark = Float(library.darkOffset)
        let read2 = SlideRenderer.readNoise * SlideRenderer.readNoise
        let row = UnsafeMutablePointer<Float>.allocate(capacity: 3 * w)
        defer { row.deallocate() }
        let afRow = row, illumRow = row + w, o = row + 2 * w
        // Shading: 1 − 0.04 (fx² + fy²) within each 1000-px camera field.
        var shadeX = [Float](repeating: 0, count: w)
        for lx in 0..<w { let fx = Float((x0 + lx) % 1000) / 500 - 1; shadeX[lx] = fx * fx }
        let drift = Float(design.autofluorescenceDrift), slideWidth = Float(design.width)
        var classifier = TissueGeometry.RowClassifier(geometry, columns: (0..<w).map { TissueGeometry.Column(geometry, xUm: (Double(x0 + $0) + 0.5) * px) })
        // Per channel, the painted abundance planes it records (the library's non-zero entries),
        // in component order, each at the tile's first row and column; and the weights of
        // autofluorescence and of those planes.
        let recorded = (0..<C).map { c in (0..<K).filter { painted[$0] && M[c * K + $0] != 0 } }
        let planes = recorded.map { $0.map { ab + $0 * W * H + halo * W + halo } }
        let weights = (0..<C).map { c in [autofluorescence[c]] + recorded[c].map { M[c * K + $0] } }
        if !design.autofluorescence { afRow.update(repeating: 0, count: w) }
        if !design.illumination { illumRow.update(repeating: 1, count: w) }
        FastNormal.pool.withUnsafeBufferPointer { pool in
        regions.withUnsafeMutableBufferPointer { reg in
        for ly in 0..<h {
            let gy = y0 + ly
            classifier.classify(TissueGeometry.Row(geometry, yUm: (Double(gy) + 0.5) * px), into: reg.baseAddress! + ly * w)
            if design.autofluorescence {
                for lx in 0..<w {
                    let r = reg[ly * w + lx]
                    let t = Float(SplitMix64.mix(UInt64(gy) &* 0x1F1F_1F1F &+ UInt64(x0 + lx) &+ design.seed) >> 40) / 16_777_216
                    afRow[lx] = r == 0 ? 4 : (r == 1 ? 55 : 40) * (0.8 + 0.4 * t) * (1 + drift * (2 * (Float(x0 + lx) + 0.5) / slideWidth - 1))
                }
            }
            // Glass holds no cells: where a cell's body reaches past the tissue's outline (a
            // nest's edge cells, placed by their centres), its pixels are the cell's region in
            // the truth. After the autofluorescence, which stays the outline's.
            for lx in 0..<w where reg[ly * w + lx] == 0 {
                let b = owner[(ly + halo) * W + lx + halo]
                if b >= 0 { reg[ly * w + lx] = bodies[Int(b)].region }
            }
            if design.illumination {
                let fy = Float(gy % 1000) / 500 - 1, fy2 = fy * fy
                for lx in 0..<w { illumRow[lx] = 1 - 0.04 * (shadeX[lx] + fy2) }
            }
            for c in 0..<C {
                do {
                    let d = out[c] + ly * w
                    // Autofluorescence, then each painted component through the library, up to
                    // five terms per pass over the row.
                    weights[c].withUnsafeBufferPointer { k in
                        Filters.addTaps(o, count: w, start: true, k.baseAddress!, taps: k.count) { j in
                            j == 0 ? UnsafePointer(afRow) : UnsafePointer(planes[c][j - 1] + ly * W)
                        }
                    }
                    if design.noise {
                        // Photon (≈ normal, variance = signal) and read noise, then the camera's
                        // dark level; the deviates are windows of the shuffled quantile pool.
                        var x0 = 0
                        while x0 < w {
                            let n = min(w - x0, FastNormal.poolSlack)
                            let z = pool.baseAddress! + FastNormal.windowStart(rng.next()) - x0
                            for x in x0..<(x0 + n) {
                                let v = o[x] * illumRow[x]
                                d[x] = encodeUInt16(v + (max(v, 0) + read2).squareRoot() * z[x] + dark)   // clamps to 0…65535
                            }
                            x0 += n
                        }
                    } else {
                        for x in 0..<w { d[x] = encodeUInt16(o[x] * illumRow[x] + dark) }
                    }
                }
            }
        }
        }
        }
        return Output(channels: out, labels: labels, regions: regions)
    }
}
