import Foundation
import Imaging
import Phenotyping
import SlideIO
import Tissue

/// The per-slide QC picture: a downsampled false-colour composite (nuclear channel blue,
/// tumour marker red, the first immune marker green), the tumour outline in yellow, and a dot
/// per phenotyped cell coloured by its first phenotype.
enum QCImage {
    static let palette: [(UInt8, UInt8, UInt8)] = [(0, 255, 0), (255, 160, 0), (0, 255, 255), (255, 0, 255),
                                                   (255, 255, 255), (255, 80, 80), (160, 120, 255), (120, 255, 120), (255, 200, 200)]

    static func write(slide: Slide, panel: Panel, channelMap: [Int], map: RegionMap, dots: [(Double, Double, Int)], to url: URL) throws {
        // The coarsest level at least 1024 px wide (or level 0), then a further integer step.
        var level = 0
        for lv in slide.levels where max(lv.width, lv.height) >= 1024 { level = lv.index }
        let lv = slide.levels[level]
        let f = max(1, max(lv.width, lv.height) / 1024)
        let w = lv.width / f, h = lv.height / f
        let comp = { (name: String) -> Int? in panel.library.components.firstIndex(of: name) }
        let nucleus = comp(panel.nucleus.component) ?? 0
        let tumor = panel.marker(panel.tissue.tumorMarker).flatMap { comp($0.component) } ?? 0
        let immune = panel.markers.first { $0.name != panel.tissue.tumorMarker }.flatMap { comp($0.component) } ?? 0
        let picks = [tumor, immune, nucleus].map { min($0, channelMap.count - 1) }
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for (ci, libIndex) in picks.enumerated() {
            let v = try slide.read(channel: channelMap[libIndex], level: level,
                                   region: PixelRegion(x: 0, y: 0, width: w * f, height: h * f))
            var small = [Float](repeating: 0, count: w * h)
            for y in 0..<h { for x in 0..<w { small[y * w + x] = v[(y * f) * (w * f) + x * f] } }
            var order = small
            let n = order.count
            let lo = Threshold.kthSmallest(&order, n / 100), hi = max(Threshold.kthSmallest(&order, min(n - 1, n * 997 / 1000)), lo + 1)
            for i in 0..<(w * h) {
                rgb[i * 3 + ci] = UInt8(max(0, min(255, (small[i] - lo) / (hi - lo) * 255)))
            }
        }
        let s = lv.downsample * Double(f)   // level-0 px per picture px
        // Tumour outline.
        for y in 0..<h {
            for x in 0..<w {
                let r = map.region(atX: Double(x) * s, y: Double(y) * s)
                let right = x + 1 < w ? map.region(atX: Double(x + 1) * s, y: Double(y) * s) : r
                let down = y + 1 < h ? map.region(atX: Double(x) * s, y: Double(y + 1) * s) : r
                if (r == RegionMap.tumor) != (right == RegionMap.tumor) || (r == RegionMap.tumor) != (down == RegionMap.tumor) {
                    rgb[(y * w + x) * 3] = 255; rgb[(y * w + x) * 3 + 1] = 255; rgb[(y * w + x) * 3 + 2] = 0
                }
            }
        }
        for (x, y, k) in dots {
            let px = Int(x / s), py = Int(y / s)
            guard px >= 0, py >= 0, px < w, py < h else { continue }
            let c = palette[k % palette.count]
            rgb[(py * w + px) * 3] = c.0; rgb[(py * w + px) * 3 + 1] = c.1; rgb[(py * w + px) * 3 + 2] = c.2
        }
        try PNG.write(rgb: rgb, width: w, height: h, to: url)
    }
}
