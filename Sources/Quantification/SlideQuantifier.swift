import CMalloc
import Foundation
import Imaging
import Phenotyping
import Segmentation
import SlideIO
import Tissue
import Unmixing

/// Options of one quantify run.
public struct QuantifyOptions: Sendable {
    public var tileSize = 1024
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    public var writeCells = true
    public var writeQC = true
    /// Also write every cell as a QuPath detection (`cells/<slide>.geojson`).
    public var writeGeoJSON = false
    /// Also write the tumour and stroma regions as QuPath annotations (`regions/<slide>.geojson`).
    public var writeRegions = false
    public var pixelSizeUm: Double?
    /// Give freed memory back to the system after each phase and each freed map plane
    /// (`malloc_trim`): it keeps a whole slide's peak down. Small slides do not (quantify's
    /// side-by-side runs): twenty 1024² slides took 3.1 s without and 3.9 s with at two
    /// threads, where each trim took the memory the other slide was about to reuse, and 6.8 s
    /// with at one thread.
    public var giveMemoryBack = true
    public init() {}
}

/// Quantifies one slide: tissue pass (its map made while the nucleus threshold's windows and
/// the QC picture's level are read), then decode → unmix → segment → measure per tile on
/// worker threads, per-cell records spooled to disk, per-slide gates, then the cell table
/// streamed out and phenotypes counted per region.
public struct SlideQuantifier: Sendable {
    public let panel: Panel
    public let panelHash: String
    public let options: QuantifyOptions

    public init(panel: Panel, panelHash: String, options: QuantifyOptions) {
        self.panel = panel; self.panelHash = panelHash; self.options = options
    }

    /// The slide as cells are found on it (`NucleusParameters.analysisSlide`); a file without
    /// a pixel size as it is (quantify then says it has none).
    public static func analysisSlide(path: String, options: QuantifyOptions, nucleus: NucleusParameters) throws -> Slide {
        let file = try Slide(path: path, pixelSizeUm: options.pixelSizeUm)
        return file.pixelSizeUm == nil ? file : try nucleus.analysisSlide(file)
    }

    /// `gates`: thresholds set by hand for some markers (marker → threshold), used instead of
    /// the panel's gates on this slide.
    /// `annotations`: regions drawn on the slide (`Annotations`), applied to the tissue map.
    public func quantify(path: String, slideId: String, patientId: String, outDir: URL, gates: [String: Double] = [:],
                         annotations: AnnotationFile? = nil, progress: ((Int, Int) -> Void)? = nil) throws -> SlideResult {
        let started = Date()
        var phase = Date()
        let timing = ProcessInfo.processInfo.environment["MIFQ_TIMING"] != nil
        // At the end of each phase the memory it freed goes back to the system. The allocator
        // keeps freed memory for reuse (mifq's `mallopt` settings), but the next phase did not
        // reuse it, so each phase's memory came on top of the one before. Peak RSS at 2
        // threads, 4096² / 16384² / 32768²: 393 / 735 / 1170 MB before, 357 / 457 / 1037 MB
        // after (Benchmarks/results-2026-12-04.md and -04c.md); times unchanged.
        func endPhase(_ name: String) {
            #if canImport(Glibc)
            if options.giveMemoryBack { malloc_trim(0) }
            #endif
            if timing {
                FileHandle.standardError.write(Data(String(format: "%@ %.2f s (peak so far %.0f MB)\n", name, Date().timeIntervalSince(phase), StageTimes.peakResidentMB()).utf8))
            }
            phase = Date()
        }
        let slide = try Self.analysisSlide(path: path, options: options, nucleus: panel.nucleus.parameters)
        let px = try slide.requirePixelSize()
        let channelMap = try panel.channelMap(for: slide)
        let plan = TissuePass.plan(slide: slide, panel: panel, pixelSizeUm: px)
        let unmixer = Unmixer(library: panel.library, method: panel.unmixing)
        var source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: unmixer)
        let nucleusIndex = panel.componentIndex(panel.nucleus.component)!
        let params = panel.nucleus.parameters
        let halo = Int((params.haloMicrons / px).rounded(.up))
        // Without a pyramid level near the map's resolution, the map is built from level 0; the
        // tile pass decodes and unmixes level 0 anyway, so it sums the map's boxes as it goes
        // (same sums, same order) instead of a separate pass decoding the slide a second time.
        // (The separate pass unmixes by OLS; components read as they are need no unmixing.)
        let fused = plan.level == 0 && (panel.unmixing == .ols || slide.isUnmixed) && halo >= plan.factor - 1
        if fused { source.mapBoxes = plan }
        var fusedMeans = fused ? TissuePass.Means(plan: plan) : nil
        // The QC picture's samples from level 0 come from the tile pass when it covers the
        // whole slide (no tile skipped), otherwise from a row-by-row read of its level.
        let qcLayout = options.writeQC ? QCImage.Layout(slide: slide, panel: panel) : nil
        let qcFromTiles = fused && qcLayout?.level == 0
        var qcPlanes = qcFromTiles ? [[Float]](repeating: [Float](repeating: 0, count: qcLayout!.width * qcLayout!.height), count: 3) : []
        // Saturated samples are counted on raw channels with a ceiling (not on unmixed
        // components), and marked on the QC picture.
        let saturationLevels = channelMap.map { slide.saturationLevel(channel: $0) }
        if !slide.isUnmixed && saturationLevels.contains(where: { $0 != nil }) {
            source.saturation = SaturationTally(levels: saturationLevels, picture: qcLayout.map { ($0.width, $0.height, $0.scale) })
        }

        let tiled = TiledSegmentation(source: source, nucleusIndex: nucleusIndex, parameters: params, pixelSizeUm: px,
                                      tileSize: options.tileSize, threads: options.threads)
        // A separate tissue pass reads its level on every thread; finding the regions in its
        // map is mostly one thread's work, and needs nothing from the nucleus threshold or the
        // QC picture's level: with two threads or more, those are read meanwhile.
        var means = fused ? nil : try TissuePass.means(slide: slide, panel: panel, channelMap: channelMap, pixelSizeUm: px, threads: options.threads)
        if !fused { endPhase("tissue level read") }
        var tissue: TissuePass.Output?
        var threshold: Float = 0
        try runBoth(together: options.threads > 1, {
            if let m = means.take() {
                tissue = try TissuePass.detect(m, slide: slide, panel: panel, pixelSizeUm: px, threads: options.threads,
                                               giveMemoryBack: options.giveMemoryBack)
            }
        }, {
            threshold = try tiled.estimateThreshold()
            if let qcLayout, !qcFromTiles { qcPlanes = try qcLayout.read(slide: slide, panel: panel, channelMap: channelMap) }
        })
        // Annotations go on the map before it decides which tiles are read.
        // The tissue before them, against the result's areas for what they removed.
        var tissueBeforeAnnotations = 0.0
        func annotate(_ t: inout TissuePass.Output) {
            guard let annotations else { return }
            let before = t.map.areasMm2()
            tissueBeforeAnnotations = before[Int(RegionMap.tumor)] + before[Int(RegionMap.stroma)]
            annotations.annotations.apply(to: &t.map, binning: slide.binning)
        }
        if tissue != nil { annotate(&tissue!) }
        endPhase(fused ? "threshold" : "tissue map and threshold")
        let components = panel.markers.map { panel.componentIndex($0.component)! }
        let membranePx = max(1, Int((params.membraneWidthMicrons / px).rounded()))
        let expansionPx = params.cellExpansionMicrons / px

        // Spool per-cell records (Float32) so the cell table never sits in memory; keep only
        // the gating values.
        let spool = try RecordSpool(directory: outDir)
        defer { spool.remove() }
        let nc = Compartment.allCases.count
        let gateSlots = panel.markers.enumerated().map { k, m in k * nc + Compartment.allCases.firstIndex(of: m.compartment)! }
        // Gating values and the map pixel of every cell; cells outside tissue are left out once
        // the map is known.
        var gateValues = [[Float]](repeating: [], count: panel.markers.count)
        var gateMapIndex: [Int32] = []
        // With the map already made (a separate tissue pass), tiles whose core holds no tissue
        // are not read at all, and of the others only the part of the core where tissue is
        // (with the halo around it): every cell elsewhere would lie outside tissue and be left out.
        let tiles: [(index: Int, part: PixelRegion?)]? = tissue.map { t in
            (0..<tiled.tileCount).compactMap { i in
                let c = tiled.core(i)
                return t.map.tissueBounds(x0: c.x, y0: c.y, x1: c.x + c.width, y1: c.y + c.height).map {
                    (i, PixelRegion(x: $0.x0, y: $0.y0, width: $0.x1 - $0.x0, height: $0.y1 - $0.y0))
                }
            }
        }
        let tileTotal = tiles?.count ?? tiled.tileCount
        var done = 0
        StageTimes.shared.reset()   // the tile pass's stages only (slides run one at a time)
        try tiled.run(threshold: threshold, cellExpansionPx: expansionPx, tiles: tiles, map: { tile in
            (StageTimes.measure("measure") { CellMeasurement.measure(tile, components: components, membraneWidthPx: membranePx) },
             fused ? StageTimes.measure("map sums") { TissuePass.blockMeans(plan: plan, core: tile.core, region: tile.region, channels: tile.channels) } : [],
             qcFromTiles ? qcLayout!.samples(core: tile.core, region: tile.region, channels: tile.channels) : [])
        }, consume: { records, blocks, samples in
            for s in samples {
                qcPlanes[0][s.index] = s.values.0; qcPlanes[1][s.index] = s.values.1; qcPlanes[2][s.index] = s.values.2
            }
            if !blocks.isEmpty { fusedMeans!.set(blocks) }
            for r in records {
                let (mx, my) = plan.pixel(atX: r.x, y: r.y)
                try spool.append(r, mapX: mx, mapY: my)
                gateMapIndex.append(Int32(my * plan.width + mx))
                for (k, slot) in gateSlots.enumerated() { gateValues[k].append(r.means[slot]) }
            }
            done += 1
            progress?(done, tileTotal)
        })
        try spool.finishWriting()
        endPhase("tiles (\(tileTotal) of \(tiled.tileCount) hold tissue)")
        if timing { FileHandle.standardError.write(Data("stages (CPU s over all workers): \(StageTimes.shared.report())\n".utf8)) }
        var tissueResult: TissuePass.Output
        if let tissue {
            tissueResult = tissue
        } else {
            tissueResult = try TissuePass.detect(fusedMeans.take()!, slide: slide, panel: panel, pixelSizeUm: px, threads: options.threads,
                                                 giveMemoryBack: options.giveMemoryBack)
            annotate(&tissueResult)
        }
        let map = tissueResult.map
        if fused { endPhase("tissue") }

        var thresholds: [String: Double] = [:]
        var histograms: [GateHistogram] = []
        for (k, m) in panel.markers.enumerated() {
            var inTissue: [Float] = []
            inTissue.reserveCapacity(gateValues[k].count)
            for (v, i) in zip(gateValues[k], gateMapIndex) where map.labels[Int(i)] != RegionMap.background { inTissue.append(v) }
            gateValues[k] = []
            let (t, rule) = gates[m.name].map { ($0, "hand") } ?? Gating.setting(m.gate, values: inTissue)
            thresholds[m.name] = t
            histograms.append(GateHistogram(marker: m.name, rule: rule, values: inTissue, threshold: t))
        }
        gateMapIndex = []

        // Stream the cell table and count phenotypes (per phenotype: total, tumour, stroma).
        var tally = [[Int]](repeating: [0, 0, 0], count: panel.phenotypes.count)
        let table = CellTable(panel: panel, pixelSizeUm: px)
        let cellsURL = outDir.appendingPathComponent("cells").appendingPathComponent("\(slideId).csv")
        let writer = options.writeCells ? try TableWriter(url: cellsURL, header: table.header) : nil
        let geoWriter = options.writeGeoJSON
            ? try TableWriter(url: outDir.appendingPathComponent("cells").appendingPathComponent("\(slideId).geojson"), header: CellGeoJSON.header) : nil
        var geoBytes: [UInt8] = []
        let geo = CellGeoJSON(phenotypes: panel.phenotypes.map(\.name), pixelSizeUm: px, binning: slide.binning)
        var id = 0
        var rowBytes: [UInt8] = []
        var qcDots: [(Double, Double, Int)] = []
        let thresholdList = panel.markers.map { thresholds[$0.name]! }
        // Rules resolved to marker indices once, not per cell.
        let rules = panel.phenotypes.map { $0.indexed(by: panel.markers) }
        var positive = [Bool](repeating: false, count: panel.markers.count)
        var hits = [Bool](repeating: false, count: rules.count)
        let tumorMarkerIndex = panel.markers.firstIndex { $0.name == panel.tissue.tumorMarker }
        let immuneIndices = panel.tissue.tumorExcludeMarkers.compactMap { n in panel.markers.firstIndex { $0.name == n } }
        let cellRegions = CellRegions(map: map, snapMicrons: tumorMarkerIndex == nil ? 0 : panel.tissue.tumorCellSnapMicrons,
                                      immuneThresholdFactor: immuneIndices.isEmpty ? nil : panel.tissue.tumorImmuneThresholdFactor,
                                      edgeZoneMicrons: tumorMarkerIndex == nil || immuneIndices.isEmpty ? 0 : panel.tissue.tumorEdgeBackgroundMicrons)
        // Immune cells at the tumour edge by their background (`EdgeBackground`): the slide's
        // tumour and stroma levels, learnt first from the cells outside the edge zone (in any
        // order: medians), over each cell's nucleus.
        let nucleusSlot = Compartment.allCases.firstIndex(of: .nucleus)!
        let backgroundSlots: [Int?] = panel.markers.indices.map { $0 == tumorMarkerIndex ? nil : $0 * nc + nucleusSlot }
        var background = EdgeBackground(slots: backgroundSlots, width: slide.width, height: slide.height, pixelSizeUm: px)
        if let tumorMarkerIndex, cellRegions.hasEdgeZone {
            try spool.scan(markers: panel.markers.count) { rec, mx, my in
                let label = map.labels[my * map.width + mx]
                guard label != RegionMap.background else { return }
                for (k, slot) in gateSlots.enumerated() { positive[k] = Double(rec.means[slot]) > thresholdList[k] }
                let tumorPositive = positive[tumorMarkerIndex]
                guard label == RegionMap.tumor ? tumorPositive : !tumorPositive, !cellRegions.inEdgeZone(mx, my) else { return }
                background.add(means: rec.means, positive: positive, tumorSide: label == RegionMap.tumor, x: rec.x, y: rec.y)
            }
            background.learn(names: panel.markers.map(\.name), threads: options.threads)
        }
        let useBackground = background.anyUsed
        try spool.forEach(markers: panel.markers.count) { rec, mx, my in
            for (k, slot) in gateSlots.enumerated() { positive[k] = Double(rec.means[slot]) > thresholdList[k] }
            let immunePositive = immuneIndices.contains { positive[$0] }, tumorPositive = tumorMarkerIndex.map { positive[$0] } ?? false
            let region = cellRegions.region(x: rec.x, y: rec.y, mapX: mx, mapY: my, tumorPositive: tumorPositive,
                                            immunePositive: immunePositive,
                                            background: useBackground ? background.position(means: rec.means, positive: positive, x: rec.x, y: rec.y) : nil)
            if region == RegionMap.background { return }   // outside tissue: not counted
            id += 1
            for (p, rule) in rules.enumerated() { hits[p] = rule.matches(positive) }
            let regionName = region == RegionMap.tumor ? "tumor" : "stroma"
            for p in hits.indices where hits[p] {
                tally[p][0] += 1
                tally[p][region == RegionMap.tumor ? 1 : 2] += 1
            }
            if let firstHit = hits.firstIndex(of: true), qcDots.count < 200_000 { qcDots.append((rec.x, rec.y, firstHit)) }
            if let writer {
                table.row(id: id, rec, region: regionName, positive: positive, phenotypes: hits, into: &rowBytes)
                if rowBytes.count > 1 << 20 { try writer.append(bytes: rowBytes); rowBytes.removeAll(keepingCapacity: true) }
            }
            if let geoWriter {
                geo.feature(id: id, rec, region: regionName, hits: hits, into: &geoBytes)
                if geoBytes.count > 1 << 20 { try geoWriter.append(bytes: geoBytes); geoBytes.removeAll(keepingCapacity: true) }
            }
        }
        try writer?.append(bytes: rowBytes)
        try geoWriter?.append(bytes: geoBytes + Array(CellGeoJSON.footer.utf8))
        try geoWriter?.finish()
        var counts: [String: [String: Int]] = [:]
        for (p, t) in zip(panel.phenotypes, tally) { counts[p.name] = ["total": t[0], "tumor": t[1], "stroma": t[2]] }
        try writer?.finish()
        endPhase("table")

        if let qcLayout {
            try QCImage.write(planes: qcPlanes, layout: qcLayout, map: map, dots: qcDots, saturated: source.saturation?.marked, pixelSizeUm: px,
                              to: outDir.appendingPathComponent("qc").appendingPathComponent("\(slideId).png"))
            endPhase("qc")
        }
        let areas = map.areasMm2()
        if options.writeRegions {
            try RegionGeoJSON.write(map: map, areasMm2: areas, binning: slide.binning,
                                    to: outDir.appendingPathComponent("regions").appendingPathComponent("\(slideId).geojson"))
            endPhase("regions")
        }
        let tissueArea = areas[Int(RegionMap.tumor)] + areas[Int(RegionMap.stroma)]
        let tissuePixels = tissueArea * 1e6 / (px * px)
        let saturation = source.saturation.map { tally in
            zip(zip(panel.library.channels, saturationLevels), tally.pixels).compactMap { named, n -> SlideResult.ChannelSaturation? in
                named.1.map { SlideResult.ChannelSaturation(channel: named.0, level: $0, pixels: n,
                                                            fractionOfTissue: tissuePixels > 0 ? Double(n) / tissuePixels : nil) }
            }
        }
        return SlideResult(slideId: slideId, patientId: patientId, path: path, pixelSizeUm: slide.filePixelSizeUm ?? px, analysisPixelSizeUm: px,
                           tissueAreaMm2: tissueArea,
                           tumorAreaMm2: areas[Int(RegionMap.tumor)], stromaAreaMm2: areas[Int(RegionMap.stroma)],
                           cells: id, phenotypes: panel.phenotypes.map(\.name), counts: counts, thresholds: thresholds.mapValues(SlideResult.finite),
                           gateOverrides: gates, gateHistograms: histograms,
                           nucleusThreshold: SlideResult.finite(Double(threshold)),
                           tissueThreshold: SlideResult.finite(Double(tissueResult.tissueThreshold)),
                           tumorThreshold: SlideResult.finite(Double(tissueResult.tumorThreshold)),
                           tumorThresholdRule: tissueResult.tumorThresholdRule, tumorThresholdUndecided: tissueResult.tumorThresholdUndecided ? true : nil,
                           tiles: tiled.tileCount, seconds: Date().timeIntervalSince(started), mifqVersion: mifqVersion,
                           panelHash: panelHash, cellsTable: options.writeCells ? "cells/\(slideId).csv" : nil,
                           annotations: annotations.map {
                               SlideResult.AnnotationRecord(file: $0.path, hash: $0.hash, includePolygons: $0.annotations.include.count,
                                                            excludePolygons: $0.annotations.exclude.count, removedTissueMm2: tissueBeforeAnnotations - tissueArea)
                           },
                           edgeBackground: cellRegions.hasEdgeZone ? background.slide.compactMap { $0 } : nil,
                           tissueEdgeRemovedMm2: tissueResult.tissueEdgeRemovedMm2, saturation: saturation)
    }
}

/// The per-cell CSV layout (ARCHITECTURE.md): identity, position, areas, region, then per
/// marker its four compartment means and its call, then one 0/1 column per phenotype.
struct CellTable {
    let panel: Panel
    let pixelSizeUm: Double

    var header: String {
        var h = ["cell_id", "x_um", "y_um", "nucleus_area_um2", "cell_area_um2", "region"]
        for m in panel.markers {
            for c in Compartment.allCases { h.append("\(m.name)_\(c.rawValue)_mean") }
            h.append("\(m.name)_positive")
        }
        h += panel.phenotypes.map(\.name)
        return h.joined(separator: ",")
    }

    /// Appends one row (and its newline) to `out` as UTF-8 bytes.
    func row(id: Int, _ r: CellRecord, region: String, positive: [Bool], phenotypes: [Bool], into out: inout [UInt8]) {
        let a = pixelSizeUm * pixelSizeUm
        out += String(id).utf8
        for v in [(r.x + 0.5) * pixelSizeUm, (r.y + 0.5) * pixelSizeUm, Double(r.nucleusPixels) * a, Double(r.cellPixels) * a] {
            out.append(UInt8(ascii: ",")); Self.f3(v, into: &out)
        }
        out.append(UInt8(ascii: ",")); out += region.utf8
        let nc = Compartment.allCases.count
        for k in 0..<panel.markers.count {
            for c in 0..<nc { out.append(UInt8(ascii: ",")); Self.f3(Double(r.means[k * nc + c]), into: &out) }
            out += positive[k] ? [44, 49] : [44, 48]   // ",1" / ",0"
        }
        for h in phenotypes { out += h ? [44, 49] : [44, 48] }
        out.append(10)
    }

    /// Appends `v` as "%.3f" prints it. Values below 10⁶ whose thousandths are not within
    /// 10⁻⁶ of a rounding tie are rounded here in integers (the product v·1000 is off by less
    /// than 10⁻⁷, so the side of the tie is certain); the rest go through the C library. A
    /// cell row has ~40 numbers, and the library's formatting was most of the table's time.
    static func f3(_ v: Double, into out: inout [UInt8]) {
        let s = abs(v) * 1000
        if v.isFinite && s < 1e9 {
            let down = s.rounded(.down), frac = s - down
            if abs(frac - 0.5) > 1e-6 {
                var n = Int(down) + (frac > 0.5 ? 1 : 0)
                if v.sign == .minus { out.append(UInt8(ascii: "-")) }
                var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                var count = 0
                withUnsafeMutableBytes(of: &digits) { d in
                    repeat {
                        d[count] = UInt8(48 + n % 10); n /= 10; count += 1
                        if count == 3 { d[count] = UInt8(ascii: "."); count += 1 }
                    } while n > 0 || count <= 4
                    for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
                }
                return
            }
        }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 48) { buf in
            let n = Int(withVaList([v]) { vsnprintf(buf.baseAddress!, 48, "%.3f", $0) })
            if n > 0 && n < 48 {
                buf.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: n) { out.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
            } else {
                out += String(format: "%.3f", v).utf8
            }
        }
    }
}
