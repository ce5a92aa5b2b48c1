import Foundation
import Imaging
import Phenotyping
import SlideIO
import Tissue
import Unmixing

/// The per-slide QC picture: a downsampled false-colour composite of unmixed components
/// (tumour marker red, the first immune marker green, nuclear component blue), the tissue
/// outline in grey, the tumour outline in yellow, and a dot per phenotyped cell coloured by its
/// first phenotype (about 4 µm across, at least a pixel; `qc/key.svg` names the colours).
///
/// A picture pixel is the point sample at level position (x·step, y·step) of the coarsest
/// pyramid level at least 1024 px wide (level 0 without a pyramid). From level 0 the tile pass
/// hands the samples over as it goes (`samples`), so the slide is not decoded a second time;
/// a pyramid level is read row by row (`read`). Either way no level is held whole in memory.
enum QCImage {
    static let palette: [(UInt8, UInt8, UInt8)] = [(0, 255, 0), (255, 160, 0), (0, 255, 255), (255, 0, 255),
                                                   (0, 160, 255), (255, 80, 80), (160, 120, 255), (120, 255, 120), (255, 200, 200)]

    /// Which level the picture samples, at which step, and which components it shows.
    struct Layout: Sendable {
        let level: Int
        let step: Int
        let width: Int, height: Int
        /// Level-0 pixels per picture pixel.
        let scale: Double
        /// Library components shown as red, green, blue.
        let components: [Int]

        /// `size`: the picture's longer side is at least this (or the level's, if smaller).
        init(slide: Slide, panel: Panel, size: Int = 1024) {
            var level = 0
            for lv in slide.levels where max(lv.width, lv.height) >= size { level = lv.index }
            let lv = slide.levels[level]
            let step = max(1, max(lv.width, lv.height) / size)
            self.level = level
            self.step = step
            width = lv.width / step; height = lv.height / step
            scale = lv.downsample * Double(step)
            let nucleus = panel.componentIndex(panel.nucleus.component) ?? 0
            let tumor = panel.marker(panel.tissue.tumorMarker).flatMap { panel.componentIndex($0.component) } ?? 0
            let immune = panel.markers.first { $0.name != panel.tissue.tumorMarker }.flatMap { panel.componentIndex($0.component) } ?? 0
            components = [tumor, immune, nucleus]
        }

        /// Picture pixels whose sample point lies in a level-0 tile's `core`, taken from the
        /// tile's component planes (`region` = the area they cover). Each sample point lies in
        /// exactly one core, so the picture does not depend on the tiling.
        func samples(core: PixelRegion, region: PixelRegion, channels: [Image]) -> [Sample] {
            precondition(level == 0)
            let x0 = (core.x + step - 1) / step, x1 = min(width, (core.x + core.width + step - 1) / step)
            let y0 = (core.y + step - 1) / step, y1 = min(height, (core.y + core.height + step - 1) / step)
            guard x0 < x1, y0 < y1 else { return [] }
            var out: [Sample] = []
            out.reserveCapacity((x1 - x0) * (y1 - y0))
            for y in y0..<y1 {
                let row = (y * step - region.y) * region.width - region.x
                for x in x0..<x1 {
                    let i = row + x * step
                    out.append(Sample(index: y * width + x, values: (channels[components[0]].pixels[i], channels[components[1]].pixels[i],
                                                                     channels[components[2]].pixels[i])))
                }
            }
            return out
        }

        /// The picture's three planes read from the slide, one sampled level row at a time, or
        /// 32 at a time when every row is sampled (a small slide's picture at full resolution:
        /// a read per row cost more than the row; OLS-unmixed, as the tissue pass reads a level).
        func read(slide: Slide, panel: Panel, channelMap: [Int]) throws -> [[Float]] {
            let levelWidth = slide.levels[level].width
            let rows = step == 1 ? 32 : 1
            let source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: Unmixer(library: panel.library, method: .ols), level: level)
                .caching(window: levelWidth, height: rows)
            var planes = [[Float]](repeating: [Float](repeating: 0, count: width * height), count: 3)
            for y0 in stride(from: 0, to: height, by: rows) {
                let n = min(rows, height - y0)
                let band = try source.images(PixelRegion(x: 0, y: y0 * step, width: levelWidth, height: n))
                for (c, k) in components.enumerated() {
                    for r in 0..<n { for x in 0..<width { planes[c][(y0 + r) * width + x] = band[k].pixels[r * levelWidth + x * step] } }
                }
            }
            return planes
        }
    }

    struct Sample: Sendable {
        var index: Int
        var values: (Float, Float, Float)
    }

    /// Writes the picture from its three planes (each stretched from its 1st to its 99.7th
    /// percentile), the map's tumour outline, the picture pixels `saturated` (white) and the
    /// phenotype dots (level-0 px, on a slide of `pixelSizeUm`).
    static func write(planes: [[Float]], layout: Layout, map: RegionMap, dots: [(Double, Double, Int)], saturated: [Bool]? = nil,
                      pixelSizeUm: Double, to url: URL) throws {
        let w = layout.width, h = layout.height, n = w * h
        var rgb = [UInt8](repeating: 0, count: n * 3)
        for (ci, plane) in planes.enumerated() where n > 0 {
            let stretch = Threshold.orderStatistics(plane, [n / 100, min(n - 1, n * 997 / 1000)])
            let lo = stretch[0], hi = max(stretch[1], lo + 1)
            for i in 0..<n { rgb[i * 3 + ci] = UInt8(max(0, min(255, (plane[i] - lo) / (hi - lo) * 255))) }
        }
        let s = layout.scale
        // Tissue outline (grey: glass, holes and annotated exclusions beyond it), then the tumour
        // outline (yellow) over it. The map pixel under each picture column and row, once.
        let column = (0..<w).map { x in RegionMap.pixel(atX: Double(x) * s, y: 0, width: map.width, height: map.height, scale: map.scale).0 }
        let row = (0..<h).map { y in RegionMap.pixel(atX: 0, y: Double(y) * s, width: map.width, height: map.height, scale: map.scale).1 }
        func region(_ x: Int, _ y: Int) -> UInt8 { map.labels[row[y] * map.width + column[x]] }
        for y in 0..<h {
            for x in 0..<w {
                let r = region(x, y)
                let right = x + 1 < w ? region(x + 1, y) : r
                let down = y + 1 < h ? region(x, y + 1) : r
                let i = (y * w + x) * 3
                if (r == RegionMap.tumor) != (right == RegionMap.tumor) || (r == RegionMap.tumor) != (down == RegionMap.tumor) {
                    rgb[i] = 255; rgb[i + 1] = 255; rgb[i + 2] = 0
                } else if (r == RegionMap.background) != (right == RegionMap.background) || (r == RegionMap.background) != (down == RegionMap.background) {
                    rgb[i] = 140; rgb[i + 1] = 140; rgb[i + 2] = 140
                }
            }
        }
        if let saturated { markSaturated(saturated, into: &rgb) }
        drawDots(dots, radius: dotRadius(micronsPerPixel: s * pixelSizeUm), scale: s, width: w, height: h, into: &rgb)
        try PNG.write(rgb: rgb, width: w, height: h, to: url)
    }

    /// The colour of picture pixels holding light at the camera's ceiling: white, blown out
    /// (no dot takes it; the composite reaches it only where all three of its components are
    /// at the top of their stretch).
    static let saturatedColour: (UInt8, UInt8, UInt8) = (255, 255, 255)

    /// Paints the picture pixels `marked` (row-major, as many as the picture's) white.
    static func markSaturated(_ marked: [Bool], into rgb: inout [UInt8]) {
        for (i, m) in marked.enumerated() where m && i * 3 + 2 < rgb.count {
            (rgb[i * 3], rgb[i * 3 + 1], rgb[i * 3 + 2]) = saturatedColour
        }
    }

    /// The radius in picture pixels of a dot about 4 µm across: 0 (a single pixel) on a whole
    /// slide's picture (8–16 µm per pixel), a disc a reader can see on a small field's.
    static func dotRadius(micronsPerPixel: Double) -> Int { max(0, Int((2 / micronsPerPixel).rounded())) }

    /// Draws each dot (level-0 x, y and phenotype k) as a disc of `radius` in `palette[k]`, in
    /// the order given (a later dot over an earlier one).
    static func drawDots(_ dots: [(Double, Double, Int)], radius r: Int, scale s: Double, width w: Int, height h: Int,
                         into rgb: inout [UInt8]) {
        for (x, y, k) in dots {
            let px = Int(x / s), py = Int(y / s)
            guard px >= 0, py >= 0, px < w, py < h else { continue }
            let c = palette[k % palette.count]
            for yy in max(0, py - r)...min(h - 1, py + r) {
                for xx in max(0, px - r)...min(w - 1, px + r) where (xx - px) * (xx - px) + (yy - py) * (yy - py) <= r * r {
                    let i = (yy * w + xx) * 3
                    rgb[i] = c.0; rgb[i + 1] = c.1; rgb[i + 2] = c.2
                }
            }
        }
    }

    /// Writes `qc/key.svg` in `dir`: the key to the pictures of slides quantified with these
    /// phenotypes.
    static func writeKey(phenotypes: [String], in dir: URL) throws {
        try AtomicFile.write(key(phenotypes: phenotypes), to: dir.appendingPathComponent("qc/key.svg"))
    }

    /// The dots' colour key as SVG: a dot and the name of each phenotype, in the panel's order
    /// (a cell's dot takes the colour of the first phenotype it has).
    static func key(phenotypes: [String]) -> String {
        let rowHeight = 20, width = 24 + 9 * max(8, phenotypes.map(\.count).max() ?? 0)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(rowHeight * phenotypes.count + 8)\" "
            + "font-family=\"sans-serif\" font-size=\"13\"><rect width=\"100%\" height=\"100%\" fill=\"#000\"/>"
        for (k, name) in phenotypes.enumerated() {
            let c = palette[k % palette.count], y = 4 + rowHeight * k + rowHeight / 2
            svg += String(format: "<circle cx=\"12\" cy=\"%d\" r=\"5\" fill=\"#%02x%02x%02x\"/>", y, c.0, c.1, c.2)
            svg += "<text x=\"24\" y=\"\(y + 5)\" fill=\"#fff\">\(XML.escape(name))</text>"
        }
        return svg + "</svg>\n"
    }
}
