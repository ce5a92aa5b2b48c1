import Foundation
import SlideIO

/// Estimates a spectral library from single-stain control slides (one fluor each) and an
/// unstained slide, the way inForm and HALO build theirs:
///
/// 1. autofluorescence: on the unstained slide, tissue pixels (total signal above the
///    slide's median) give the autofluorescence spectrum (median of each pixel's normalised
///    spectrum) and its typical level;
/// 2. each fluor: the clearly stained pixels (total signal in the top `stainedFraction` of the
///    slide) minus the typical autofluorescence, each normalised to unit sum; the channel-wise
///    median of those spectra, rescaled so its largest channel is 1.
public struct LibraryEstimator: Sendable {
    public var stainedFraction = 0.05
    public var darkOffset: Double = 0
    public init() {}

    public struct Estimate: Sendable {
        public var library: SpectralLibrary
        public var autofluorescence: [Double]
        public var pixelsUsed: [String: Int]
    }

    static func key(_ s: String) -> String { s.lowercased().filter { !" -_.".contains($0) } }

    /// - Parameters:
    ///   - slides: path of each control slide; `fluors`: the library's component names.
    ///   Files are matched to fluors by name (case, spaces, '-', '_' ignored); the unstained
    ///   slide's name contains "unstained" or "autofluorescence". `folder` names where they
    ///   were looked for, in the error when one is missing.
    public func estimate(slides: [String], fluors: [String], channels: [String], folder: String = "the control slides") throws -> Estimate {
        func stem(_ p: String) -> String { LibraryEstimator.key(((p as NSString).lastPathComponent as NSString).deletingPathExtension.replacingOccurrences(of: ".ome", with: "")) }
        guard let unstained = slides.first(where: { stem($0).contains("unstained") || stem($0).contains("autofluorescence") }) else {
            throw SlideError.invalid(path: folder, detail: "has no unstained control slide (a file named unstained.* or autofluorescence.*)")
        }
        let (afSpectrum, afLevel, nAF) = try autofluorescence(unstained, channels: channels)
        var columns: [[Double]] = []
        var used: [String: Int] = ["unstained": nAF]
        for f in fluors {
            guard let path = slides.first(where: { stem($0) == LibraryEstimator.key(f) }) else {
                throw SlideError.invalid(path: folder, detail: "has no single-stain slide for \(f) (a file named \(f.replacingOccurrences(of: " ", with: "")).*)")
            }
            let (col, n) = try fluorSpectrum(path, channels: channels, afSpectrum: afSpectrum, afLevel: afLevel)
            columns.append(col)
            used[f] = n
        }
        let matrix = channels.indices.map { c in columns.map { $0[c] } }
        let lib = SpectralLibrary(channels: channels, components: fluors, matrix: matrix, darkOffset: darkOffset,
                                  source: "mifq library: median normalised spectra of the brightest \(Int(stainedFraction * 100))% of pixels of single-stain controls, autofluorescence removed")
        return Estimate(library: lib, autofluorescence: afSpectrum, pixelsUsed: used)
    }

    /// Observed spectra (dark removed) of every pixel of a slide, channel-major per block.
    private func forEachBlock(_ path: String, channels: [String], _ body: ([[Float]], Int) -> Void) throws {
        let slide = try Slide(path: path)
        let idx = try channels.map { name -> Int in
            guard let i = slide.channelIndex(named: name) ?? slide.channels.firstIndex(where: { LibraryEstimator.key($0.name) == LibraryEstimator.key(name) }) else {
                throw SlideError.badChannel(path: path, detail: "has no channel \(name)")
            }
            return i
        }
        let rows = 256
        for y in stride(from: 0, to: slide.height, by: rows) {
            let r = PixelRegion(x: 0, y: y, width: slide.width, height: min(rows, slide.height - y))
            var planes = [[Float]]()
            for i in idx { planes.append(try slide.read(channel: i, region: r).map { $0 - Float(darkOffset) }) }
            body(planes, r.count)
        }
    }

    private func autofluorescence(_ path: String, channels: [String]) throws -> ([Double], Double, Int) {
        var totals: [Float] = []
        try forEachBlock(path, channels: channels) { p, n in
            for i in 0..<n { var s: Float = 0; for c in p { s += c[i] }; totals.append(s) }
        }
        let cut = median(totals.map(Double.init))
        var spectra = [[Double]](repeating: [], count: channels.count)
        var levels: [Double] = []
        try forEachBlock(path, channels: channels) { p, n in
            for i in 0..<n {
                var s: Float = 0
                for c in p { s += c[i] }
                guard Double(s) > cut, s > 0 else { continue }
                for c in p.indices { spectra[c].append(Double(p[c][i] / s)) }
                levels.append(Double(s))
            }
        }
        var spec = spectra.map(median)
        let total = spec.reduce(0, +)
        spec = spec.map { $0 / max(total, 1e-12) }   // unit sum
        return (spec, median(levels), levels.count)
    }

    private func fluorSpectrum(_ path: String, channels: [String], afSpectrum: [Double], afLevel: Double) throws -> ([Double], Int) {
        var totals: [Double] = []
        try forEachBlock(path, channels: channels) { p, n in
            for i in 0..<n { var s: Float = 0; for c in p { s += c[i] }; totals.append(Double(s)) }
        }
        totals.sort()
        let cut = totals[min(totals.count - 1, Int(Double(totals.count) * (1 - stainedFraction)))]
        var spectra = [[Double]](repeating: [], count: channels.count)
        try forEachBlock(path, channels: channels) { p, n in
            var v = [Double](repeating: 0, count: p.count)
            for i in 0..<n {
                var s = 0.0
                for c in p.indices { v[c] = Double(p[c][i]) - afLevel * afSpectrum[c]; s += v[c] }
                guard s > 0, s + afLevel >= cut else { continue }
                for c in p.indices { spectra[c].append(v[c] / s) }
            }
        }
        var spec = spectra.map(median)
        let peak = spec.max() ?? 1
        spec = spec.map { max(0, $0 / max(peak, 1e-12)) }
        return (spec, spectra.first?.count ?? 0)
    }

    private func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}
