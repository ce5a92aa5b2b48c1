import Dispatch
import Foundation
import Phenotyping
import SlideIO
import Unmixing

/// Container flavour of a simulated slide.
public enum SlideFlavour: String, Sendable, CaseIterable {
    case ome, qptiff
    public var fileExtension: String { self == .ome ? "ome.tif" : "qptiff" }
}

/// What the simulator knows is in a slide.
public struct SlideTruth: Codable, Sendable {
    public var slideId: String
    public var pixelSizeUm: Double
    public var width: Int
    public var height: Int
    public var cells: Int
    public var tissueAreaMm2: Double
    public var tumorAreaMm2: Double
    public var stromaAreaMm2: Double
    /// phenotype → region ("total", "tumor", "stroma") → count / density
    public var counts: [String: [String: Int]]
    public var densities: [String: [String: Double]]

    enum CodingKeys: String, CodingKey {
        case slideId = "slide_id", pixelSizeUm = "pixel_size_um", width, height, cells
        case tissueAreaMm2 = "tissue_area_mm2", tumorAreaMm2 = "tumor_area_mm2", stromaAreaMm2 = "stroma_area_mm2"
        case counts, densities
    }
}

/// Writes one simulated slide and its ground truth:
/// `slides/<id>.<ext>` and `truth/<id>.cells.csv`, `truth/<id>.nuclei.tif` (uint32, label = cell_id),
/// `truth/<id>.regions.tif` (uint8: 0 background, 1 stroma, 2 tumour; a cell's body past the
/// tissue outline is its region), `truth/<id>.json`.
public struct SlideSimulator: Sendable {
    public let panel: Panel
    public let design: SlideDesign
    public var threads: Int
    public var writeMasks = true
    public var deflate = true
    /// For single-stain controls: the stains to render instead of the panel's.
    public var stainOverride: StainMap?
    static let tile = 512

    /// Autofluorescence emission per channel when the library has none: broad, strongest in
    /// the blue–green channels, as tissue autofluorescence is (peak 1).
    public static func defaultAutofluorescence(channels: Int) -> [Double] {
        let profile = [0.45, 1.0, 0.85, 0.55, 0.35, 0.2, 0.06]
        return (0..<channels).map { $0 < profile.count ? profile[$0] : 0.05 }
    }

    public init(panel: Panel, design: SlideDesign, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.panel = panel; self.design = design; self.threads = max(1, threads)
    }

    func stainMap() -> StainMap {
        func comp(_ marker: String) -> Int? { panel.marker(marker).flatMap { panel.componentIndex($0.component) } }
        var byType: [CellType: Int] = [:]
        byType[.tumor] = comp("panCK")
        byType[.cd8] = comp("CD8")
        byType[.cd4] = comp("CD4")
        byType[.cd68] = comp("CD68")
        byType[.cd11c] = comp("CD11c")
        return StainMap(nucleus: panel.componentIndex(panel.nucleus.component) ?? 0, byType: byType,
                        pdl1: comp("PDL1"), componentCount: panel.library.componentCount)
    }

    static func markerCalls(_ c: SimCell) -> [String: Bool] {
        ["panCK": c.type == .tumor, "CD8": c.type == .cd8, "CD4": c.type == .cd4, "CD68": c.type == .cd68,
         "CD11c": c.type == .cd11c, "PDL1": c.pdl1]
    }

    @discardableResult
    public func write(id: String, to dir: URL, flavour: SlideFlavour) throws -> SlideTruth {
        let slides = dir.appendingPathComponent("slides"), truthDir = dir.appendingPathComponent("truth")
        try AtomicFile.createFolder(slides, named: dir)
        try AtomicFile.createFolder(truthDir, named: dir)
        let geometry = TissueGeometry(design)
        let layout = CellLayout(design: design, geometry: geometry)
        let lib = panel.library
        let renderer = SlideRenderer(design: design, geometry: geometry, layout: layout, library: lib, stains: stainOverride ?? stainMap(),
                                     autofluorescence: SlideSimulator.defaultAutofluorescence(channels: lib.channelCount).map(Float.init))
        let qpi = lib.channels.enumerated().map { (i, ch) -> QPIChannel in
            let m = panel.markers.first { $0.component == lib.components[min(i, lib.componentCount - 1)] }
            let colours: [(UInt8, UInt8, UInt8)] = [(0, 0, 255), (0, 255, 255), (0, 255, 0), (255, 255, 0), (255, 128, 0), (255, 0, 0), (255, 0, 255)]
            return QPIChannel(fluor: ch, biomarker: i == 0 ? "DAPI" : (m?.name ?? ch), color: colours[i % colours.count])
        }
        let spec = ImageSpec(width: design.width, height: design.height, channelNames: lib.channels, sampleType: .uint16,
                             pixelSizeUm: design.pixelSizeUm, tileSize: 512, levels: nil, deflate: deflate,
                             layout: flavour == .ome ? .ome : .qptiff(qpi))
        let slidePath = slides.appendingPathComponent("\(id).\(flavour.fileExtension)").path
        let writer = try OMETIFFWriter(path: slidePath, spec: spec)
        let labelWriter = writeMasks ? try OMETIFFWriter(path: truthDir.appendingPathComponent("\(id).nuclei.tif").path,
            spec: ImageSpec(width: design.width, height: design.height, channelNames: ["nuclei"], sampleType: .uint32,
                            pixelSizeUm: design.pixelSizeUm, tileSize: 512, levels: 1)) : nil
        let regionWriter = writeMasks ? try OMETIFFWriter(path: truthDir.appendingPathComponent("\(id).regions.tif").path,
            spec: ImageSpec(width: design.width, height: design.height, channelNames: ["regions"], sampleType: .uint8,
                            pixelSizeUm: design.pixelSizeUm, tileSize: 512, levels: 1)) : nil

        let t = SlideSimulator.tile
        let tx = (design.width + t - 1) / t, ty = (design.height + t - 1) / t
        let nCells = layout.cells.count
        let totals = TileTotals(cells: nCells)
        let errors = FirstError()
        let gate = DispatchSemaphore(value: threads)
        let group = DispatchGroup()
        let queue = DispatchQueue(label: "mifq.simulate", attributes: .concurrent)
        for i in 0..<(tx * ty) {
            gate.wait()
            queue.async(group: group) {
                defer { gate.signal() }
                let x0 = (i % tx) * t, y0 = (i / tx) * t
                let w = min(t, design.width - x0), h = min(t, design.height - y0)
                let out = renderer.render(x0: x0, y0: y0, width: w, height: h, tileSeed: UInt64(i))
                let r = PixelRegion(x: x0, y: y0, width: w, height: h)
                do {
                    // Whole tiles are handed over (the writer frees them); edge tiles are copied.
                    var handed = 0
                    defer { for p in out.channels[handed...] { p.deallocate() } }
                    for c in 0..<out.channels.count {
                        if w == t && h == t {
                            handed += 1
                            try writer.write(channel: c, tileX: x0 / t, tileY: y0 / t, adopting: UnsafeMutableRawPointer(out.channels[c]))
                        } else {
                            try writer.write(channel: c, region: r, samples: UnsafeRawBufferPointer(start: out.channels[c], count: w * h * 2))
                        }
                    }
                    try out.labels.withUnsafeBufferPointer { try labelWriter?.write(channel: 0, region: r, labels: $0) }
                    if let rw = regionWriter {
                        let f = out.regions.map(Float.init)
                        try f.withUnsafeBufferPointer { try rw.write(channel: 0, region: r, values: $0) }
                    }
                } catch { errors.set(error) }
                totals.add(labels: out.labels, regions: out.regions)
            }
        }
        group.wait()
        try errors.rethrow()
        try writer.finish(threads: threads)
        try labelWriter?.finish(threads: threads)
        try regionWriter?.finish(threads: threads)

        // Truth tables: cells that are visible in the label mask.
        let pxArea = design.pixelSizeUm * design.pixelSizeUm
        let markerNames = panel.markers.map(\.name)
        var csv = "cell_id,x_um,y_um,nucleus_area_um2,region,type," + markerNames.map { "\($0)_positive" }.joined(separator: ",")
        csv += "," + panel.phenotypes.map(\.name).joined(separator: ",") + "\n"
        var counts: [String: [String: Int]] = [:]
        for p in panel.phenotypes { counts[p.name] = ["total": 0, "tumor": 0, "stroma": 0] }
        var visible = 0
        for (i, c) in layout.cells.enumerated() where totals.area[i] > 0 {
            visible += 1
            let calls = SlideSimulator.markerCalls(c)
            let region = c.region == 2 ? "tumor" : "stroma"
            var row = "\(i + 1),\(fmt(c.x)),\(fmt(c.y)),\(fmt(Double(totals.area[i]) * pxArea)),\(region),\(c.type.rawValue)"
            for m in markerNames { row += (calls[m] ?? false) ? ",1" : ",0" }
            for p in panel.phenotypes {
                let hit = p.matches { calls[$0] ?? false }
                row += hit ? ",1" : ",0"
                if hit { counts[p.name]!["total"]! += 1; counts[p.name]![region]! += 1 }
            }
            csv += row + "\n"
        }
        try AtomicFile.write(csv, to: truthDir.appendingPathComponent("\(id).cells.csv"))
        let tumor = Double(totals.tumorPixels) * pxArea / 1e6, stroma = Double(totals.stromaPixels) * pxArea / 1e6
        var dens: [String: [String: Double]] = [:]
        for (p, c) in counts {
            dens[p] = ["total": Double(c["total"]!) / max(tumor + stroma, 1e-12),
                       "tumor": Double(c["tumor"]!) / max(tumor, 1e-12),
                       "stroma": Double(c["stroma"]!) / max(stroma, 1e-12)]
        }
        let truth = SlideTruth(slideId: id, pixelSizeUm: design.pixelSizeUm, width: design.width, height: design.height,
                               cells: visible, tissueAreaMm2: tumor + stroma, tumorAreaMm2: tumor, stromaAreaMm2: stroma,
                               counts: counts, densities: dens)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(String(decoding: try enc.encode(truth), as: UTF8.self), to: truthDir.appendingPathComponent("\(id).json"))
        return truth
    }

    private func fmt(_ v: Double) -> String { String(format: "%.3f", v) }
}

/// Per-cell visible nucleus area and region pixel totals, summed over tiles.
final class TileTotals: @unchecked Sendable {
    private let lock = NSLock()
    var area: [Int]
    var tumorPixels = 0, stromaPixels = 0
    init(cells: Int) { area = [Int](repeating: 0, count: cells) }
    func add(labels: [UInt32], regions: [UInt8]) {
        var t = 0, s = 0
        for r in regions { t += r == 2 ? 1 : 0; s += r == 1 ? 1 : 0 }
        // Labels come in runs along a row: one update per run, not per pixel, straight into the
        // slide's totals (a tile's scan is short next to rendering it).
        lock.lock()
        defer { lock.unlock() }
        area.withUnsafeMutableBufferPointer { a in
            var run: UInt32 = 0, n = 0
            for l in labels {
                if l == run { n += 1; continue }
                if run != 0 { a[Int(run) - 1] += n }
                run = l; n = 1
            }
            if run != 0 { a[Int(run) - 1] += n }
        }
        tumorPixels += t; stromaPixels += s
    }
}
