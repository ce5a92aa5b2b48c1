import Foundation

/// The kinds of cell the simulator places.
public enum CellType: String, CaseIterable, Sendable {
    case tumor, cd8, cd4, cd68, cd11c, other
}

/// What one simulated slide contains. Densities are cells per mm² of the region.
public struct SlideDesign: Sendable {
    public var width = 2048
    public var height = 2048
    public var pixelSizeUm = 0.5
    public var seed: UInt64 = 1
    /// Nuclear density in tumour nests and in stroma (all cell types together).
    public var tumorNucleiPerMm2 = 6000.0
    public var stromaNucleiPerMm2 = 2000.0
    /// Immune densities by region (cells/mm²); tumour cells fill the rest of the nests,
    /// "other" (fibroblasts, endothelium) the rest of the stroma.
    public var immuneTumor: [CellType: Double] = [.cd8: 250, .cd4: 120, .cd68: 150, .cd11c: 60]
    public var immuneStroma: [CellType: Double] = [.cd8: 350, .cd4: 300, .cd68: 250, .cd11c: 120]
    /// Shares of tumour cells, DCs and macrophages that carry PD-L1.
    public var pdl1Tumor = 0.25
    public var pdl1DC = 0.4
    public var pdl1Macrophage = 0.3
    /// Share of the tissue in tumour nests (approximate).
    public var tumorFraction = 0.4
    /// Photon noise and read noise on (false gives noiseless, unrounded-free test images).
    public var noise = true
    public var autofluorescence = true
    /// Autofluorescence drifting across the slide, as uneven section thickness or fixation
    /// makes it: scaled by 1 + drift × (2x / width − 1), from 1 − drift at the left edge to
    /// 1 + drift at the right (0: even).
    public var autofluorescenceDrift = 0.0
    public var illumination = true

    public init() {}

    var widthUm: Double { Double(width) * pixelSizeUm }
    var heightUm: Double { Double(height) * pixelSizeUm }
}

/// Where tissue, holes and tumour nests are: smooth random fields thresholded.
struct TissueGeometry: Sendable {
    let design: SlideDesign
    let outline: SmoothField
    let holes: SmoothField
    let nests: SmoothField
    let nestLevel: Float

    init(_ d: SlideDesign) {
        design = d
        let scale = max(d.widthUm, d.heightUm)
        outline = SmoothField(widthUm: d.widthUm, heightUm: d.heightUm, spacing: max(40, scale / 10), seed: d.seed, salt: 11)
        holes = SmoothField(widthUm: d.widthUm, heightUm: d.heightUm, spacing: 30, seed: d.seed, salt: 12)
        nests = SmoothField(widthUm: d.widthUm, heightUm: d.heightUm, spacing: 45, seed: d.seed, salt: 13)
        // Standard-normal quantile for the requested tumour share (fields are ≈ N(0,1)).
        nestLevel = Float(FastNormal.inverseNormalCDF(1 - min(max(d.tumorFraction, 0.01), 0.99)))
    }

    /// 0 background, 1 stroma, 2 tumour.
    @inline(__always) func region(xUm: Double, yUm: Double) -> UInt8 {
        region(Column(self, xUm: xUm), Row(self, yUm: yUm))
    }

    /// What `region` needs of a position's x (its y), computed once per column (row) of a tile.
    struct Column {
        let envelope: Double   // 1 − ex²
        let outline, holes, nests: (index: Int, fraction: Float)
        init(_ g: TissueGeometry, xUm: Double) {
            let ex = (xUm - g.design.widthUm / 2) / (0.47 * g.design.widthUm)
            envelope = 1 - ex * ex
            outline = g.outline.cell(xUm, count: g.outline.nx)
            holes = g.holes.cell(xUm, count: g.holes.nx)
            nests = g.nests.cell(xUm, count: g.nests.nx)
        }
    }
    struct Row {
        let ey2: Double
        let outline, holes, nests: (index: Int, fraction: Float)
        init(_ g: TissueGeometry, yUm: Double) {
            let ey = (yUm - g.design.heightUm / 2) / (0.47 * g.design.heightUm)
            ey2 = ey * ey
            outline = g.outline.cell(yUm, count: g.outline.ny)
            holes = g.holes.cell(yUm, count: g.holes.ny)
            nests = g.nests.cell(yUm, count: g.nests.ny)
        }
    }

    @inline(__always) func region(_ c: Column, _ r: Row) -> UInt8 {
        classify(envelope: Float(c.envelope - r.ey2), outline: outline.value(x: c.outline, y: r.outline),
                 holes: holes.value(x: c.holes, y: r.holes), nests: nests.value(x: c.nests, y: r.nests))
    }

    /// Outside the tissue outline or in a hole: background; else tumour where the nest field is high.
    @inline(__always) func classify(envelope: Float, outline o: Float, holes h: Float, nests n: Float) -> UInt8 {
        envelope * 2.2 + 0.45 * o < 0.25 ? 0 : (h > 2.1 ? 0 : (n > nestLevel ? 2 : 1))
    }

    /// Regions of a tile, row by row. For each field the two x-interpolated edges of the grid
    /// row under the current image row are kept per column and refreshed only when that grid
    /// row changes (every few hundred image rows), so a pixel costs three two-term blends
    /// instead of three bilinear lookups. The arithmetic is `SmoothField.value`'s, in the same
    /// order, so every pixel gets the region `region(_:_:)` gives it.
    struct RowClassifier {
        let geometry: TissueGeometry
        let envelope: [Double]
        var outline: SmoothField.RowEdges, holes: SmoothField.RowEdges, nests: SmoothField.RowEdges

        init(_ g: TissueGeometry, columns: [Column]) {
            geometry = g
            envelope = columns.map(\.envelope)
            outline = SmoothField.RowEdges(g.outline, cells: columns.map(\.outline))
            holes = SmoothField.RowEdges(g.holes, cells: columns.map(\.holes))
            nests = SmoothField.RowEdges(g.nests, cells: columns.map(\.nests))
        }

        mutating func classify(_ r: Row, into reg: UnsafeMutablePointer<UInt8>) {
            outline.load(row: r.outline.index); holes.load(row: r.holes.index); nests.load(row: r.nests.index)
            let (ot, ht, nt) = (r.outline.fraction, r.holes.fraction, r.nests.fraction)
            let (ou, hu, nu) = (1 - ot, 1 - ht, 1 - nt)
            let ey2 = r.ey2, g = geometry
            envelope.withUnsafeBufferPointer { env in
            outline.top.withUnsafeBufferPointer { oa in outline.bottom.withUnsafeBufferPointer { ob in
            holes.top.withUnsafeBufferPointer { ha in holes.bottom.withUnsafeBufferPointer { hb in
            nests.top.withUnsafeBufferPointer { na in nests.bottom.withUnsafeBufferPointer { nb in
                for x in 0..<env.count {
                    reg[x] = g.classify(envelope: Float(env[x] - ey2), outline: SmoothField.across(oa[x], ob[x], ot, ou),
                                        holes: SmoothField.across(ha[x], hb[x], ht, hu), nests: SmoothField.across(na[x], nb[x], nt, nu))
                }
            } } } } } }
            }
        }
    }
}

/// One simulated cell. Lengths in µm, position in µm from the slide's top-left corner.
struct SimCell: Sendable {
    var x: Double, y: Double
    var a: Double, b: Double, theta: Double   // nucleus semi-axes and orientation
    var ring: Double                          // membrane distance outside the nucleus
    var dapi: Float
    var type: CellType
    var region: UInt8
    var pdl1: Bool
    var level: Float                          // marker brightness
    var pdl1Level: Float
    var texture: UInt64
}

/// Places cells in 100 µm blocks, each block with its own seeded generators. Tumour nests are
/// cohesive epithelium: a jittered hexagonal sheet at the tumour nuclear density, so a nest has no
/// cell-free holes and its cells reach its edge (some lattice sites hold infiltrating immune cells).
/// Stroma is a sparser random scatter (candidates thinned to the stroma density) with a minimum
/// spacing that lets nuclei touch but not pile up, checked against everything placed before.
struct CellLayout: Sendable {
    static let blockUm = 100.0
    let cells: [SimCell]
    let blocksX: Int, blocksY: Int
    /// Indices of cells whose centre lies in each block.
    let buckets: [[Int32]]

    init(design d: SlideDesign, geometry g: TissueGeometry) {
        let B = CellLayout.blockUm
        let bx = Int((d.widthUm / B).rounded(.up)), by = Int((d.heightUm / B).rounded(.up))
        var cells: [SimCell] = []
        var buckets = [[Int32]](repeating: [], count: bx * by)
        func add(_ c: SimCell) {
            let i = min(bx - 1, max(0, Int(c.x / B))), j = min(by - 1, max(0, Int(c.y / B)))
            buckets[j * bx + i].append(Int32(cells.count))
            cells.append(c)
        }
        // Tumour sheet: hexagonal lattice of spacing s (density 2 / (√3 s²)), jittered by ±15% of s.
        let s = (2 / (3.0.squareRoot() * max(d.tumorNucleiPerMm2, 1) / 1e6)).squareRoot()
        let rowH = s * 3.0.squareRoot() / 2
        for j in 0..<by {
            for i in 0..<bx {
                var rng = SplitMix64(d.seed, UInt64(j * bx + i), 78)
                let r0 = Int((Double(j) * B / rowH).rounded(.up)), r1 = Int((Double(j + 1) * B / rowH).rounded(.up))
                for r in r0..<r1 {
                    let shift = r % 2 == 0 ? 0 : s / 2
                    let c0 = Int(((Double(i) * B - shift) / s).rounded(.up)), c1 = Int(((Double(i + 1) * B - shift) / s).rounded(.up))
                    for c in c0..<c1 {
                        let x = Double(c) * s + shift + (rng.uniform() - 0.5) * 0.3 * s
                        let y = Double(r) * rowH + (rng.uniform() - 0.5) * 0.3 * s
                        guard x >= 0, y >= 0, x < d.widthUm, y < d.heightUm, g.region(xUm: x, yUm: y) == 2 else { continue }
                        add(CellLayout.makeCell(x: x, y: y, reg: 2, d: d, rng: &rng))
                    }
                }
            }
        }
        // Stroma scatter.
        let candidates = d.stromaNucleiPerMm2 * 1.6
        let blockArea = B * B / 1e6
        for j in 0..<by {
            for i in 0..<bx {
                var rng = SplitMix64(d.seed, UInt64(j * bx + i), 77)
                let n = rng.poisson(candidates * blockArea)
                for _ in 0..<n {
                    let x = (Double(i) + rng.uniform()) * B
                    let y = (Double(j) + rng.uniform()) * B
                    let u = rng.uniform()
                    guard x < d.widthUm, y < d.heightUm, g.region(xUm: x, yUm: y) == 1, u * 1.6 <= 1 else { continue }
                    let a = rng.uniform(3.0, 5.5)
                    // Spacing: centres at least 0.9 × the sum of the long semi-axes apart.
                    var ok = true
                    check: for jj in max(0, j - 1)...min(by - 1, j + 1) {
                        for ii in max(0, i - 1)...min(bx - 1, i + 1) {
                            for k in buckets[jj * bx + ii] {
                                let c = cells[Int(k)]
                                let dx = c.x - x, dy = c.y - y
                                let minD = 0.9 * (c.a + a)
                                if dx * dx + dy * dy < minD * minD { ok = false; break check }
                            }
                        }
                    }
                    if !ok { continue }
                    add(CellLayout.makeCell(x: x, y: y, reg: 1, d: d, rng: &rng, a: a))
                }
            }
        }
        self.cells = cells
        self.buckets = buckets
        blocksX = bx; blocksY = by
    }

    /// A cell of the region's mix of types, with its shape, stains and PD-L1 status.
    static func makeCell(x: Double, y: Double, reg: UInt8, d: SlideDesign, rng: inout SplitMix64, a given: Double? = nil) -> SimCell {
        let a = given ?? rng.uniform(3.0, 5.5)
        let b = a * rng.uniform(0.6, 0.95)
        let type = CellLayout.pickType(reg: reg, d: d, rng: &rng)
        let pd: Bool
        switch type {
        case .tumor: pd = rng.uniform() < d.pdl1Tumor
        case .cd11c: pd = rng.uniform() < d.pdl1DC
        case .cd68: pd = rng.uniform() < d.pdl1Macrophage
        default: pd = false
        }
        // Epithelial tumour cells have more cytoplasm: nests are cohesive sheets.
        return SimCell(x: x, y: y, a: a, b: b, theta: rng.uniform(0, Double.pi),
                       ring: type == .tumor ? rng.uniform(3.5, 5.5) : rng.uniform(2.5, 4.0), dapi: Float(rng.uniform(900, 2200)),
                       type: type, region: reg, pdl1: pd,
                       level: Float(rng.uniform(type == .tumor ? 500 : 450, type == .tumor ? 1100 : 1300)),
                       pdl1Level: Float(rng.uniform(400, 1100)), texture: rng.next())
    }

    static func pickType(reg: UInt8, d: SlideDesign, rng: inout SplitMix64) -> CellType {
        let total = reg == 2 ? d.tumorNucleiPerMm2 : d.stromaNucleiPerMm2
        let immune = reg == 2 ? d.immuneTumor : d.immuneStroma
        var u = rng.uniform() * total
        for t in [CellType.cd8, .cd4, .cd68, .cd11c] {
            u -= immune[t] ?? 0
            if u < 0 { return t }
        }
        return reg == 2 ? .tumor : .other
    }

    /// Cells whose centre lies within `margin` µm of the rectangle.
    func cells(inXUm x0: Double, _ x1: Double, yUm y0: Double, _ y1: Double, margin: Double) -> [Int32] {
        let b = CellLayout.blockUm
        let i0 = max(0, Int((x0 - margin) / b)), i1 = min(blocksX - 1, Int((x1 + margin) / b))
        let j0 = max(0, Int((y0 - margin) / b)), j1 = min(blocksY - 1, Int((y1 + margin) / b))
        guard i0 <= i1, j0 <= j1 else { return [] }
        var out: [Int32] = []
        for j in j0...j1 { for i in i0...i1 { out += buckets[j * blocksX + i] } }
        return out
    }
}
