import Dispatch
import Foundation
import Imaging
import Phenotyping
import SlideIO
import Tissue
import Unmixing

/// The low-resolution pass: reads the pyramid level closest to (not coarser than) the panel's
/// tissue resolution in strips, unmixes it, box-averages to the target resolution, and finds
/// tissue, tumour and stroma. Memory: two Float planes at the map resolution (smoothed in place),
/// plus masks and component labels.
public enum TissuePass {
    public struct Output: Sendable {
        public var map: RegionMap
        public var tissueThreshold: Float
        public var tumorThreshold: Float
        public var level: Int
    }

    public static func run(slide: Slide, panel: Panel, channelMap: [Int], pixelSizeUm px0: Double, threads: Int = 1) throws -> Output {
        let target = panel.tissue.resolutionMicrons
        // Coarsest level whose pixels are no larger than the target.
        var level = 0
        for lv in slide.levels where lv.downsample * px0 <= target * 1.001 { level = lv.index }
        let lv = slide.levels[level]
        let levelPx = px0 * lv.downsample
        let f = max(1, Int((target / levelPx).rounded()))
        let mw = (lv.width + f - 1) / f, mh = (lv.height + f - 1) / f
        let scale = lv.downsample * Double(f)
        let tumorComponent = panel.marker(panel.tissue.tumorMarker).flatMap { panel.componentIndex($0.component) } ?? 0
        let unmixer = Unmixer(library: panel.library, method: .ols)
        let nc = channelMap.count, nk = unmixer.componentCount
        var signal = [Float](repeating: 0, count: mw * mh)
        var marker = [Float](repeating: 0, count: mw * mh)
        let dark = Float(panel.library.darkOffset)
        // Strips of whole map rows, decoded and unmixed on `threads` workers; each strip writes
        // only its own map rows.
        let stripRows = f * max(1, 64 / f)
        let strips = (lv.height + stripRows - 1) / stripRows
        let errors = FirstError()
        signal.withUnsafeMutableBufferPointer { sig in
        marker.withUnsafeMutableBufferPointer { mk in
            let next = WorkCounter()
            DispatchQueue.concurrentPerform(iterations: max(1, min(threads, strips))) { _ in
                while let s = next.take(below: strips) {
                    let y0 = s * stripRows
                    let h = min(stripRows, lv.height - y0)
                    let r = PixelRegion(x: 0, y: y0, width: lv.width, height: h)
                    let n = r.count
                    let obs = UnsafeMutablePointer<Float>.allocate(capacity: nc * n)
                    let comps = UnsafeMutablePointer<Float>.allocate(capacity: nk * n)
                    defer { obs.deallocate(); comps.deallocate() }
                    do {
                        try slide.read(channels: channelMap, level: level, region: r,
                                       into: (0..<nc).map { UnsafeMutableBufferPointer(start: obs + $0 * n, count: n) })
                    } catch { errors.set(error); return }
                    // Total light, dark removed.
                    var total = [Float](repeating: 0, count: n)
                    for c in 0..<nc { for i in 0..<n { total[i] += obs[c * n + i] - dark } }
                    unmixer.unmix(observed: obs, pixels: n, out: comps)
                    let tumorPlane = comps + tumorComponent * n
                    for y in 0..<h {
                        let my = (y0 + y) / f
                        for x in 0..<lv.width {
                            let i = y * lv.width + x, m = my * mw + x / f
                            sig[m] += total[i]
                            mk[m] += tumorPlane[i]
                        }
                    }
                }
            }
        }
        }
        try errors.rethrow()
        // Means: each map pixel covers f × f level pixels, fewer at the right and bottom edges.
        for my in 0..<mh {
            let rows = min(f, lv.height - my * f)
            for mx in 0..<mw {
                let n = Float(rows * min(f, lv.width - mx * f))
                signal[my * mw + mx] /= n; marker[my * mw + mx] /= n
            }
        }
        let t = panel.tissue
        let detector = TissueDetector(sigmaTissueMicrons: t.tissueSigmaMicrons, tissueOtsuFactor: t.tissueOtsuFactor,
                                      minTissueAreaMicrons2: t.minTissueAreaMicrons2, fillHolesBelowMicrons2: t.fillHolesBelowMicrons2,
                                      sigmaTumorMicrons: t.tumorSigmaMicrons, tumorThreshold: t.tumorThreshold,
                                      tumorEdgeFraction: t.tumorEdgeFraction, minTumorAreaMicrons2: t.minTumorAreaMicrons2)
        let mapPx = px0 * scale
        let res = detector.detect(signal: Image(width: mw, height: mh, pixels: consume signal),
                                  tumorMarker: Image(width: mw, height: mh, pixels: consume marker), mapPixelUm: mapPx)
        let map = RegionMap(width: mw, height: mh, scale: scale, pixelSizeUm: px0, labels: res.labels,
                            fullWidth: slide.width, fullHeight: slide.height)
        return Output(map: map, tissueThreshold: res.tissueThreshold, tumorThreshold: res.tumorThreshold, level: level)
    }
}
