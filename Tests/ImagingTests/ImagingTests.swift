import Foundation
import XCTest
@testable import Imaging

/// Operators against scipy.ndimage / scikit-image (testdata/fixtures/imaging_reference.json,
/// made by scripts/fixtures/imaging_reference.py) and against cases checked by hand.
final class ImagingTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    lazy var ref: [String: Any] = {
        let d = try! Data(contentsOf: Self.root.appendingPathComponent("testdata/fixtures/imaging_reference.json"))
        return try! JSONSerialization.jsonObject(with: d) as! [String: Any]
    }()

    func grid(_ key: String) -> (Int, Int, [Double]) {
        let rows = ref[key] as! [[NSNumber]]
        return (rows[0].count, rows.count, rows.flatMap { $0.map(\.doubleValue) })
    }
    var input: Image { let (w, h, v) = grid("image"); return Image(width: w, height: h, pixels: v.map(Float.init)) }
    var mask: Mask { let (w, h, v) = grid("mask"); return Mask(width: w, height: h, bits: v.map { $0 != 0 }) }

    func assertClose(_ a: [Float], _ b: [Double], tol: Double, _ what: String) {
        XCTAssertEqual(a.count, b.count)
        let worst = zip(a, b).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tol, what)
    }

    /// The in-place Gaussian (for whole-slide maps, with its grouped taps and ring of output
    /// rows) is bit-identical to the convolution written out pixel by pixel with the same
    /// additions in the same order, and to the allocating one, including images smaller than
    /// the kernel and every reflection case (rows read straight from the plane, with reflected
    /// copies at their ends, once a row is 2r wide: widths 2r and 2r + 1 included), on one thread
    /// or several.
    func testGaussianInPlaceMatchesGaussianExactly() {
        var seed: UInt64 = 42
        for (w, h, sigma) in [(37, 23, 1.3), (5, 3, 2.5), (64, 1, 1.0), (1, 50, 3.0), (120, 90, 5.0), (9, 7, 0.6), (3, 4, 0.6), (11, 12, 2.0),
                                 (600, 150, 3.0), (530, 200, 1.4), (40, 130, 20.0), (10, 6, 1.25), (11, 5, 1.25)] {
            let px = (0..<(w * h)).map { _ -> Float in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Float(seed >> 40) / 1000
            }
            let img = Image(width: w, height: h, pixels: px)
            var inPlace = img
            Filters.gaussianInPlace(&inPlace, sigma: sigma)
            XCTAssertEqual(inPlace.pixels, Filters.gaussian(img, sigma: sigma).pixels, "\(w)×\(h) σ \(sigma)")
            let k = Filters.gaussianKernel(sigma: sigma), r = k.count / 2
            var rows = [Float](repeating: 0, count: w * h), direct = rows
            for y in 0..<h { for x in 0..<w {
                var v = k[0] * px[y * w + Filters.reflect(x - r, w)]
                for j in 1..<k.count { v += k[j] * px[y * w + Filters.reflect(x + j - r, w)] }
                rows[y * w + x] = v
            } }
            for y in 0..<h { for x in 0..<w {
                var v: Float = 0
                for j in 0..<k.count { v += k[j] * rows[Filters.reflect(y + j - r, h) * w + x] }
                direct[y * w + x] = v
            } }
            XCTAssertEqual(inPlace.pixels, direct, "\(w)×\(h) σ \(sigma) written out")
            // On more threads (strips of rows, then of columns, on the larger images): the same bits.
            for threads in [2, 3] {
                var split = img
                Filters.gaussianInPlace(&split, sigma: sigma, threads: threads)
                XCTAssertEqual(split.pixels, direct, "\(w)×\(h) σ \(sigma) on \(threads) threads")
            }
            // Streamed row by row (whole-slide maps), written over the planes it reads, two
            // channels at once, in bands of rows on 1–3 threads (bands narrower than the kernel
            // in the 40 × 130, σ 20 case): the same bits.
            let other = px.map { 1 - $0 / 2 }
            for threads in [1, 2, 3] {
                var a = px, b = other
                a.withUnsafeMutableBufferPointer { pa in b.withUnsafeMutableBufferPointer { pb in
                    let planes = [pa.baseAddress!, pb.baseAddress!]
                    Filters.streamSeparable(width: w, height: h, channels: 2, kernel: k, threads: threads,
                                            load: { y, rows in for c in 0..<2 { rows[c].update(from: planes[c] + y * w, count: w) } },
                                            store: { y, rows in for c in 0..<2 { (planes[c] + y * w).update(from: rows[c], count: w) } })
                } }
                XCTAssertEqual(a, direct, "\(w)×\(h) σ \(sigma) streamed on \(threads) threads")
                XCTAssertEqual(b, Filters.gaussian(Image(width: w, height: h, pixels: other), sigma: sigma).pixels,
                               "\(w)×\(h) σ \(sigma) second channel streamed on \(threads) threads")
            }
        }
    }

    /// The blob filter is −σ² × the 5-point Laplacian of the Gaussian-smoothed image (kernel cut
    /// at 3σ), mirrored at the borders: written out pixel by pixel here, the same bits, on
    /// images 1–3 px wide or high and larger ones.
    func testNegativeLoGIsTheWrittenOutLaplacian() {
        var seed: UInt64 = 11
        for (w, h, sigma) in [(1, 1, 1.0), (1, 9, 1.5), (9, 1, 1.5), (2, 3, 2.0), (3, 2, 0.8), (40, 25, 4.0), (67, 33, 2.0)] {
            let px = (0..<(w * h)).map { _ -> Float in
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                return Float(seed >> 40) / 997
            }
            let img = Image(width: w, height: h, pixels: px)
            let g = Filters.separable(img, kernel: Filters.gaussianKernel(sigma: sigma, truncate: 3)).pixels
            let s2 = Float(sigma * sigma)
            var expected = [Float](repeating: 0, count: w * h)
            for y in 0..<h { for x in 0..<w {
                let c = g[y * w + x]
                let lap = g[y * w + Filters.reflect(x - 1, w)] + g[y * w + Filters.reflect(x + 1, w)]
                    + g[Filters.reflect(y - 1, h) * w + x] + g[Filters.reflect(y + 1, h) * w + x] - 4 * c
                expected[y * w + x] = -s2 * lap
            } }
            XCTAssertEqual(Filters.negativeLoG(img, sigma: sigma).pixels.map(\.bitPattern), expected.map(\.bitPattern), "\(w)×\(h) σ \(sigma)")
        }
    }

    /// Half precision by bit manipulation equals Swift's `Float16` conversions: every half
    /// decoded, and encoded from every half's value, every midpoint between neighbouring
    /// halves (ties to even), the floats either side of each midpoint, and a sweep over all
    /// float bit patterns (NaNs as NaN).
    func testHalfMatchesFloat16() {
        func same(_ a: UInt16, _ b: UInt16) -> Bool { a == b || (Float16(bitPattern: a).isNaN && Float16(bitPattern: b).isNaN) }
        var probes: [Float] = []
        for bits in 0...UInt16.max {
            let f = Float(Float16(bitPattern: bits)), d = Half.decode(bits)
            XCTAssert(f.bitPattern == d.bitPattern || (f.isNaN && d.isNaN), "decode \(bits)")
            guard f.isFinite else { continue }
            probes.append(f)
            let next = Float(Float16(bitPattern: bits).nextUp)
            if next.isFinite {
                let mid = f / 2 + next / 2
                probes += [mid, mid.nextUp, mid.nextDown]
            }
        }
        var bits: UInt32 = 0
        while true {
            probes.append(Float(bitPattern: bits))
            let (next, overflow) = bits.addingReportingOverflow(9973)
            if overflow { break }
            bits = next
        }
        var wrong = 0
        for f in probes where !same(Half.encode(f), Float16(f).bitPattern) {
            wrong += 1
            if wrong < 5 { XCTFail("encode \(f): \(Half.encode(f)) against \(Float16(f).bitPattern)") }
        }
        XCTAssertEqual(wrong, 0)
        XCTAssertGreaterThan(probes.count, 600_000)
    }

    func testGaussianMatchesScipy() {
        assertClose(Filters.gaussian(input, sigma: 1.3).pixels, grid("gaussian_sigma_1_3").2, tol: 1e-4, "gaussian")
    }

    func testBoxMeanMatchesScipyUniformFilter() {
        assertClose(Filters.boxMean(input, radius: 2).pixels, grid("uniform_size_5").2, tol: 1e-4, "uniform")
    }

    func testGreyOpeningAndDilationMatchScipy() {
        assertClose(Filters.opening(input, radius: 2).pixels, grid("grey_opening_size_5").2, tol: 0, "opening")
        assertClose(Filters.rank(input, radius: 1, maximum: true).pixels, grid("grey_dilation_size_3").2, tol: 0, "dilation")
    }

    func testDistanceTransformMatchesScipy() {
        assertClose(DistanceTransform.insideDistance(mask).pixels, grid("edt").2, tol: 1e-5, "edt")
        let bg = Mask(width: mask.width, height: mask.height, bits: mask.bits.map { !$0 })
        assertClose(DistanceTransform.insideDistance(bg).pixels, grid("edt_background").2, tol: 1e-5, "edt of background")
    }

    func testNearestFeatureIndexIsAtTheDistance() {
        let (d, idx) = DistanceTransform.nearest(to: mask)
        for i in 0..<mask.width * mask.height {
            let j = Int(idx[i])
            XCTAssertTrue(mask.bits[j])
            let dx = Float(i % mask.width - j % mask.width), dy = Float(i / mask.width - j / mask.width)
            XCTAssertEqual((dx * dx + dy * dy).squareRoot(), d[i], accuracy: 1e-5)
        }
    }

    /// Which of several equally near features a pixel takes, written out: per column the nearest
    /// feature row (the upper one on a tie), then the column p with the smallest (x − p)² + g(p)
    /// (the leftmost on a tie). Lattices of features make ties everywhere.
    func testNearestFeatureTies() {
        var rng = SystemRandomNumberGenerator()
        for (w, h, step, p) in [(40, 30, 4, 1.0), (37, 29, 6, 1.0), (40, 30, 1, 0.05), (25, 33, 3, 0.6)] {
            let m = Mask(width: w, height: h, bits: (0..<(w * h)).map {
                $0 % w % step == 0 && $0 / w % step == 0 && Double.random(in: 0..<1, using: &rng) < p })
            for limit in [nil, 5] as [Int?] {
                let (d, idx) = DistanceTransform.nearest(to: m, limit: limit)
                for y in 0..<h { for x in 0..<w {
                    var best = Int.max, at = -1
                    for c in 0..<w {
                        guard let r = (0..<h).filter({ m[c, $0] }).min(by: { (abs($0 - y), $0) < (abs($1 - y), $1) }) else { continue }
                        let v = (x - c) * (x - c) + (r - y) * (r - y)
                        if v < best { best = v; at = r * w + c }
                    }
                    let within = at >= 0 && (limit == nil || best <= limit! * limit!)
                    XCTAssertEqual(idx[y * w + x], within ? Int32(at) : -1, "\(w)×\(h) step \(step) limit \(String(describing: limit)) at \(x),\(y)")
                    if within { XCTAssertEqual(d[y * w + x], Float(Double(best).squareRoot())) }
                } }
            }
        }
    }

    /// Growing labels gives each unlabelled pixel within the distance the label of the nearest
    /// feature pixel `nearest` reports (ties included: lattices of labelled pixels), for whole
    /// and fractional distances, 0 and below, and distances larger than the image.
    func testGrowLabelsIsNearestFeatureWithinTheDistance() {
        var rng = SystemRandomNumberGenerator()
        // Also a single column and a single row (windows and runs at their narrowest).
        for (w, h, step, p) in [(40, 30, 4, 1.0), (37, 29, 6, 0.7), (50, 31, 1, 0.03), (25, 33, 3, 0.6), (1, 17, 3, 0.5), (19, 1, 4, 0.8)] {
            var labels = LabelImage(width: w, height: h)
            for i in 0..<(w * h) where i % w % step == 0 && i / w % step == 0 && Double.random(in: 0..<1, using: &rng) < p {
                labels.labels[i] = Int32.random(in: 1...5, using: &rng)
            }
            let feature = Mask(width: w, height: h, bits: labels.labels.map { $0 != 0 })
            let (d, idx) = DistanceTransform.nearest(to: feature)
            // Up to 15 px in 16-bit windows, beyond on the envelope: both sides of the switch.
            for distance in [-1, 0, 1e-7, 1, 2.5, 3, 4.2, 8, 15, 15.5, 100] {
                let grown = DistanceTransform.grow(labels, distance: distance)
                let want = (0..<(w * h)).map { i in
                    labels.labels[i] != 0 ? labels.labels[i] : (idx[i] >= 0 && d[i] <= Float(distance) ? labels.labels[Int(idx[i])] : 0)
                }
                XCTAssertEqual(grown.labels, want, "\(w)×\(h) step \(step) distance \(distance)")
            }
        }
    }

    /// With a limit, every pixel within it gets the same distance and nearest feature as without
    /// one, and every pixel beyond it none; found on a random mask.
    func testLimitedDistanceTransformIsExactWithinTheLimit() {
        var rng = SystemRandomNumberGenerator()
        let w = 61, h = 47
        let m = Mask(width: w, height: h, bits: (0..<(w * h)).map { _ in Int.random(in: 0..<40, using: &rng) == 0 })
        let (d, idx) = DistanceTransform.nearest(to: m)
        for limit in [0, 1, 3, 6, 20, 500] {
            let (dl, il) = DistanceTransform.nearest(to: m, limit: limit)
            var wrong = 0
            for i in 0..<(w * h) {
                if d[i] <= Float(limit) {
                    if dl[i] != d[i] || il[i] != idx[i] { wrong += 1 }
                } else if dl[i] != .infinity || il[i] != -1 { wrong += 1 }
            }
            XCTAssertEqual(wrong, 0, "limit \(limit)")
        }
        let inside = DistanceTransform.insideDistance(mask), capped = DistanceTransform.insideDistance(mask, limit: 1)
        for i in inside.pixels.indices {
            XCTAssertEqual(capped.pixels[i], inside.pixels[i] <= 1 ? inside.pixels[i] : Float(mask.width + mask.height))
        }
        // Blobby random masks, limits on both row passes (a window of columns up to 32, in bytes
        // up to 11 and 16-bit integers above; the lower envelope above 32): exact within the
        // limit, `width + height` beyond it.
        for (bw, bh, p) in [(70, 45, 0.93), (33, 80, 0.99), (5, 60, 0.8), (1, 30, 0.8), (30, 1, 0.8)] {
            let blob = Mask(width: bw, height: bh, bits: (0..<(bw * bh)).map { _ in Double.random(in: 0..<1, using: &rng) < p })
            let exact = DistanceTransform.insideDistance(blob)
            for limit in [0, 1, 3, 9, 11, 12, 32, 33] {
                let got = DistanceTransform.insideDistance(blob, limit: limit)
                var wrong = 0
                for i in exact.pixels.indices where got.pixels[i] != (exact.pixels[i] <= Float(limit) ? exact.pixels[i] : Float(bw + bh)) { wrong += 1 }
                XCTAssertEqual(wrong, 0, "\(bw)×\(bh) limit \(limit)")
            }
        }
    }

    /// 500 values from two normal clusters (10 ± 2, 30 ± 4) in 256 bins: the best split is
    /// followed by empty bins (splits 95…111 tie), where skimage's first tie gives 18.1188 and
    /// the middle of the tied splits, computed on skimage's own histogram by the fixture script
    /// in numpy, 19.2289.
    func testOtsuMatchesSkimage() {
        let v = (ref["otsu_values"] as! [NSNumber]).map(\.floatValue)
        XCTAssertEqual(Double(Threshold.otsu(v)), (ref["otsu_middle_of_ties"] as! NSNumber).doubleValue, accuracy: 1e-4)
        XCTAssertGreaterThan(Double(Threshold.otsu(v)), (ref["otsu_skimage"] as! NSNumber).doubleValue + 1)
    }

    /// Otsu over a mask equals Otsu of the values gathered under it, bit for bit (the skimage
    /// values with a random mask, non-finite values mixed in, one value only, and none).
    func testOtsuInsideAMaskEqualsOtsuOfTheGatheredValues() {
        var v = (ref["otsu_values"] as! [NSNumber]).map(\.floatValue)
        v[3] = .nan; v[10] = .infinity
        var state: UInt64 = 99
        let inside = v.indices.map { _ in state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 62 != 0 }
        func masked(_ m: [Bool]) -> Float? {
            v.withUnsafeBufferPointer { vp in m.withUnsafeBufferPointer { Threshold.otsu(vp, inside: $0) } }
        }
        let gathered = v.indices.filter { inside[$0] }.map { v[$0] }
        XCTAssertEqual(masked(inside), Threshold.otsu(gathered))
        let median = Threshold.quantile(v.filter(\.isFinite), 0.5)
        let low = v.map { $0 < median }
        XCTAssertEqual(masked(low), Threshold.otsu(v.filter { $0 < median }))
        XCTAssertLessThan(masked(low)!, Threshold.otsu(v.filter(\.isFinite)), "the mask matters")
        let one = v.indices.map { $0 == 5 }
        XCTAssertEqual(masked(one), v[5])
        XCTAssertNil(masked([Bool](repeating: false, count: v.count)))
    }

    /// A plane of halves tallied by bit pattern gives the same Otsu threshold and the same
    /// quantiles above a floor, bit for bit, as the decoded values (`Threshold.otsu`, tested
    /// against skimage, and `Threshold.quantile`): the skimage values as halves, then random
    /// planes with negative values, zeros of both signs, subnormals, NaN and ±infinity, with and
    /// without a mask, one value only, none, and nothing above the floor.
    func testHalfTallyMatchesTheDecodedValues() {
        func check(_ bits: [UInt16], _ mask: [Bool]?, floor: Float, _ what: String) {
            let tally = bits.withUnsafeBufferPointer { b in
                mask.map { m in m.withUnsafeBufferPointer { HalfTally(b, inside: $0) } } ?? HalfTally(b)
            }
            let values = bits.indices.filter { mask?[$0] ?? true }.map { Half.decode(bits[$0]) }
            XCTAssertEqual(tally.otsu(), values.isEmpty ? nil : Threshold.otsu(values), what)
            for q in [0, 0.25, 0.5, 0.9, 1] {
                XCTAssertEqual(tally.quantile(q, above: floor), Threshold.quantile(values.filter { $0 > floor }, q), "\(what) q \(q)")
            }
        }
        let skimage = (ref["otsu_values"] as! [NSNumber]).map { Half.encode($0.floatValue) }
        check(skimage, nil, floor: Threshold.otsu(skimage.map(Half.decode)), "skimage values")
        var state: UInt64 = 7
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        let specials: [UInt16] = [0x0000, 0x8000, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e00, 0x7bff]
        for trial in 0..<40 {
            let n = 1 + Int(next() % 2000)
            let bits = (0..<n).map { _ -> UInt16 in
                switch next() % 10 {
                case 0: return specials[Int(next() % UInt64(specials.count))]
                case 1: return Half.encode(-Float(next() % 1000) / 7)
                default: return Half.encode(Float(next() % UInt64(trial % 4 == 0 ? 8 : 5000)) / 3)
                }
            }
            let mask = trial % 2 == 0 ? nil : (0..<n).map { _ in next() % 3 != 0 }
            check(bits, mask, floor: trial % 3 == 0 ? -1 : 100, "trial \(trial)")
        }
        // Repeats weigh: a hundred ones, one 5 and one 10 split between 1 and 5 (between-class
        // variance 8450 against 8109 by hand; counted once each, 84.5 against 98: between 5 and 10),
        // in the middle of the empty bins between them: 5 is in bin 113 of 256 over [1, 10], so
        // splits 0…112 tie, and bin 56's centre is 1 + 56.5 × 9/256.
        let skewed = [UInt16](repeating: Half.encode(1), count: 100) + [Half.encode(5), Half.encode(10)]
        check(skewed, nil, floor: 0, "skewed")
        XCTAssertEqual(skewed.withUnsafeBufferPointer { HalfTally($0).otsu()! }, 2.986328125)
        check([Half.encode(2.5)], nil, floor: 0, "one value")
        check([Half.encode(2.5), Half.encode(7)], [false, false], floor: 0, "nothing inside")
        check([Half.encode(2.5), Half.encode(7)], nil, floor: 10, "nothing above the floor")
    }

    /// Values spanning the whole Float range (a damaged float slide) are binned, not trapped
    /// on: max − min overflows Float, so the bins are computed in Double. Ten values at −3e38,
    /// five at 0, ten at 3e38 fall in bins 0, 128 and 255 of 256; the best split puts bin 0
    /// alone below (the centre value sits half a bin above 0, so the other side scores a little
    /// less), and so do the splits after bins 1…127, which are empty: the middle of those
    /// splits' centres, 0.5 + 63.5 bins up.
    func testOtsuOverTheWholeFloatRange() {
        let lo: Float = -3e38, hi: Float = 3e38
        let v = [Float](repeating: lo, count: 10) + [Float](repeating: 0, count: 5) + [Float](repeating: hi, count: 10)
        let width = (Double(hi) - Double(lo)) / 256
        XCTAssertEqual(Threshold.otsu(v), Float(Double(lo) + 64 * width))
    }

    /// Two clusters with empty bins between them: every split in the valley parts them the same
    /// way. 1, 2, 3 and 10, 11, 12 in 256 bins of 11/256 over [1, 12]: 3 is in bin 46, 10 in
    /// bin 209, so splits 46…208 tie, and the threshold is the centre of bin (46 + 208) / 2 =
    /// 127: 1 + 127.5 × 11/256 = 6.478515625 (exact in binary). skimage's `threshold_otsu` takes
    /// the first tie, bin 46's centre 2.998046875: below 3, which its own split counts low, so
    /// `values > threshold` calls 3 high. With 2.9 in place of 3 (bin 44) the valley widens by
    /// two bins and its middle moves one: 1 + 126.5 × 11/256. 0…255, one value a bin, has one
    /// best split, and the threshold is skimage's: bin 127's centre, 127.5 × 255/256.
    func testOtsuTakesTheMiddleOfAnEmptyValley() {
        XCTAssertEqual(Threshold.otsu([1, 2, 3, 10, 11, 12]), 6.478515625)
        XCTAssertEqual(Threshold.otsu([1, 2, 2.9, 10, 11, 12]), 6.435546875)
        XCTAssertEqual(Threshold.otsu((0..<256).map(Float.init)), 127.001953125)
    }

    func testComponentsAndHoles() {
        let lab = Labeling.components(mask)
        XCTAssertEqual(Int(lab.maxLabel), (ref["labels_8_count"] as! NSNumber).intValue)
        let filled = Labeling.fillHoles(mask)
        XCTAssertTrue(filled[6, 4])                       // the one-pixel hole
        XCTAssertEqual(filled.trueCount, mask.trueCount + 1)
        XCTAssertEqual(Labeling.filterComponents(mask, minArea: 2).trueCount, mask.trueCount - 1)  // speck at (0,0) gone
    }

    /// Run-based labelling and hole filling against the plain definitions (a flood fill from each
    /// unlabelled pixel in raster order; background reachable from the border), on random masks
    /// of several densities and shapes, both connectivities.
    func testLabellingMatchesFloodFill() {
        func flood(_ m: Mask, eight: Bool) -> [Int32] {
            let w = m.width, h = m.height
            var lab = [Int32](repeating: 0, count: w * h), next: Int32 = 0
            for s in 0..<(w * h) where m.bits[s] && lab[s] == 0 {
                next += 1; lab[s] = next
                var stack = [s]
                while let p = stack.popLast() {
                    for dy in -1...1 { for dx in -1...1 where (dx != 0 || dy != 0) && (eight || dx == 0 || dy == 0) {
                        let x = p % w + dx, y = p / w + dy
                        if x >= 0, y >= 0, x < w, y < h, m.bits[y * w + x], lab[y * w + x] == 0 { lab[y * w + x] = next; stack.append(y * w + x) }
                    } }
                }
            }
            return lab
        }
        var state: UInt64 = 99
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for trial in 0..<60 {
            let w = 1 + Int(next() % 70), h = 1 + Int(next() % 50)
            let density = [10, 35, 50, 60, 80][trial % 5]
            let m = Mask(width: w, height: h, bits: (0..<(w * h)).map { _ in Int(next() % 100) < density })
            for eight in [true, false] {
                XCTAssertEqual(Labeling.components(m, eightConnected: eight).labels, flood(m, eight: eight), "trial \(trial) eight \(eight)")
            }
            let inverse = Mask(width: w, height: h, bits: m.bits.map { !$0 })
            let outside = flood(inverse, eight: false)
            var border = Set<Int32>()
            for x in 0..<w { border.insert(outside[x]); border.insert(outside[(h - 1) * w + x]) }
            for y in 0..<h { border.insert(outside[y * w]); border.insert(outside[y * w + w - 1]) }
            let filled = (0..<(w * h)).map { m.bits[$0] || !border.contains(outside[$0]) }
            XCTAssertEqual(Labeling.fillHoles(m).bits, filled, "trial \(trial)")
            // Area limits, from the flood fill's areas.
            func areas(_ lab: [Int32]) -> [Int] { lab.reduce(into: [Int](repeating: 0, count: Int(lab.max() ?? 0) + 1)) { $0[Int($1)] += 1 } }
            let holeLimit = 1 + trial % 5
            let holeAreas = areas(outside)
            let smallHolesFilled = (0..<(w * h)).map { m.bits[$0] || (!border.contains(outside[$0]) && holeAreas[Int(outside[$0])] <= holeLimit) }
            XCTAssertEqual(Labeling.fillHoles(m, maxArea: holeLimit).bits, smallHolesFilled, "trial \(trial)")
            let objects = flood(m, eight: true), objectAreas = areas(objects)
            let minArea = 1 + trial % 4, maxArea = minArea + trial % 9
            let kept = (0..<(w * h)).map { m.bits[$0] && (minArea...maxArea).contains(objectAreas[Int(objects[$0])]) }
            XCTAssertEqual(Labeling.filterComponents(m, minArea: minArea, maxArea: maxArea).bits, kept, "trial \(trial)")
            // Objects outside the limits removed, the rest renumbered 1…n by first appearance
            // (labels given in reverse order, so the numbering has to change).
            let top = objects.max() ?? 0
            let reversed = objects.map { $0 == 0 ? 0 : top + 1 - $0 }
            var order: [Int32] = []
            for (l, o) in zip(reversed, objects) where l != 0 && (minArea...maxArea).contains(objectAreas[Int(o)]) && !order.contains(l) { order.append(l) }
            let renumbered = reversed.map { l in order.firstIndex(of: l).map { Int32($0 + 1) } ?? 0 }
            var filtered = LabelImage(width: w, height: h, labels: reversed)
            Labeling.filterObjects(&filtered, minArea: minArea, maxArea: maxArea)
            XCTAssertEqual(filtered.labels, renumbered, "trial \(trial)")
            // A pixel's component looked up in the runs.
            let runs = Labeling.Runs(m, value: true, eightConnected: true)
            XCTAssertEqual((0..<(w * h)).map { runs.component(atX: $0 % w, y: $0 / w) }, objects, "trial \(trial)")
        }
    }

    /// Two overlapping discs (hand-drawn): distance peaks give two seeds; the watershed line
    /// falls at the neck, x = 10 between centres 6 and 14.
    func testWatershedSplitsTwoTouchingDiscs() {
        let w = 21, h = 13
        var m = Mask(width: w, height: h)
        for y in 0..<h { for x in 0..<w {
            let a = (x - 6) * (x - 6) + (y - 6) * (y - 6), b = (x - 14) * (x - 14) + (y - 6) * (y - 6)
            m[x, y] = a <= 25 || b <= 25
        } }
        let d = DistanceTransform.insideDistance(m)
        let seeds = Watershed.peaks(d, mask: m, minDistance: 3)
        XCTAssertEqual(Set(seeds), [6 * w + 6, 6 * w + 14])
        var markers = LabelImage(width: w, height: h)
        markers.labels[6 * w + 6] = 1; markers.labels[6 * w + 14] = 2
        let lab = Watershed.flood(d.map { -$0 }, markers: markers, mask: m)
        XCTAssertEqual(lab[3, 6], 1); XCTAssertEqual(lab[17, 6], 2)
        XCTAssertEqual(lab[9, 6], 1); XCTAssertEqual(lab[11, 6], 2)
        let areas = lab.areas()
        XCTAssertEqual(areas[1] + areas[2], m.trueCount)  // every foreground pixel assigned
        XCTAssertLessThanOrEqual(abs(areas[1] - areas[2]), 11)  // the neck column goes to one side
    }

    /// Peaks against their definition written out with the (2d+1)² maximum filter (reflected
    /// edges, itself checked against scipy): candidates are mask pixels equal to the filtered
    /// value and above the minimum height, accepted greedily by height, then raster order.
    /// Random surfaces with many ties (heights 0–5, so plateaus), blobby masks, several
    /// distances, images narrower than the window.
    func testPeaksMatchTheMaximumFilterDefinition() {
        var seed: UInt64 = 11
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        for (w, h) in [(40, 30), (23, 41), (3, 25), (25, 2), (1, 1)] {
            for trial in 0..<12 {
                let surface = Image(width: w, height: h, pixels: (0..<(w * h)).map { _ in Float(next() % 6) })
                let mask = Mask(width: w, height: h, bits: (0..<(w * h)).map { _ in next() % 4 != 0 })
                let md = 1 + trial % 4
                let minHeight: Float = trial % 3 == 0 ? 2 : -.infinity
                let mx = Filters.rank(surface, radius: md, maximum: true)
                var cand = (0..<(w * h)).filter { mask.bits[$0] && surface.pixels[$0] >= mx.pixels[$0] && surface.pixels[$0] > minHeight }
                cand.sort { surface.pixels[$0] != surface.pixels[$1] ? surface.pixels[$0] > surface.pixels[$1] : $0 < $1 }
                var accepted: [Int] = []
                for p in cand where !accepted.contains(where: { max(abs($0 % w - p % w), abs($0 / w - p / w)) <= md }) { accepted.append(p) }
                XCTAssertEqual(Watershed.peaks(surface, mask: mask, minDistance: md, minHeight: minHeight), accepted, "\(w)×\(h) trial \(trial)")
            }
        }
    }

    /// Flooding component by component gives the labels of Meyer's algorithm with one queue for
    /// the whole image, written out plainly here (the lowest (height, arrival) pixel next, by a
    /// linear search): random surfaces with many ties (heights 0–3), blobby masks of several
    /// components, markers inside and outside the mask, some components without a marker; and
    /// descending on the negated surface.
    func testFloodMatchesOneQueueForTheWholeImage() {
        var seed: UInt64 = 3
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        for (w, h) in [(30, 20), (17, 31), (1, 12), (9, 1)] {
            for _ in 0..<20 {
                let surface = Image(width: w, height: h, pixels: (0..<(w * h)).map { _ in Float(next() % 4) })
                var mask = Mask(width: w, height: h)
                for i in 0..<(w * h) { mask.bits[i] = next() % 5 < 3 }
                var markers = LabelImage(width: w, height: h)
                for i in 0..<(w * h) where next() % 17 == 0 { markers.labels[i] = Int32(1 + next() % 6) }
                // The reference.
                var ref = markers
                var seen = markers.labels.map { $0 != 0 }
                var front: [(height: Float, age: Int, p: Int)] = []
                var age = 0
                for i in 0..<(w * h) where markers.labels[i] != 0 { front.append((surface.pixels[i], age, i)); age += 1 }
                while let k = front.indices.min(by: { (front[$0].height, front[$0].age) < (front[$1].height, front[$1].age) }) {
                    let p = front.remove(at: k).p
                    for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 {
                        let x = p % w + dx, y = p / w + dy
                        guard x >= 0, y >= 0, x < w, y < h, !seen[y * w + x], mask.bits[y * w + x] else { continue }
                        seen[y * w + x] = true
                        ref.labels[y * w + x] = ref.labels[p]
                        front.append((surface.pixels[y * w + x], age, y * w + x)); age += 1
                    } }
                }
                XCTAssertEqual(Watershed.flood(surface, markers: markers, mask: mask).labels, ref.labels, "\(w)×\(h)")
                // Descending on the negated surface (heights 0 become −0): the same flood.
                XCTAssertEqual(Watershed.flood(surface.map { -$0 }, markers: markers, mask: mask, descending: true).labels, ref.labels, "\(w)×\(h)")
            }
        }
    }

    func testQuantileType7() {
        // R: quantile(c(1, 2, 3, 4, 10), 0.3) = 2.2
        XCTAssertEqual(Threshold.quantile([10, 1, 3, 2, 4], 0.3), 2.2, accuracy: 1e-6)
        // Selection against the definition on a sorted copy: many sizes, heavy ties, sorted and
        // reversed inputs, NaN ignored.
        var state: UInt64 = 12345
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for trial in 0..<600 {
            let n = 1 + Int(next() % 300)
            var v = (0..<n).map { _ in Float(next() % UInt64(trial % 3 == 0 ? 5 : 1000)) }
            if trial % 7 == 1 { v.sort() } else if trial % 7 == 2 { v.sort(by: >) }
            if trial % 5 == 0 { v.append(.nan) }
            let sorted = v.filter { $0.isFinite }.sorted()
            for q in [0, 0.1, 0.37, 0.5, 0.99, 1] {
                let h = Double(sorted.count - 1) * q
                let lo = Int(h), hi = min(lo + 1, sorted.count - 1)
                let want = sorted[lo] + Float(h - Double(lo)) * (sorted[hi] - sorted[lo])
                XCTAssertEqual(Threshold.quantile(v, q), want, "n \(n) q \(q)")
            }
            // Order statistics, twice on the same reordered array, and by counting the values'
            // top bits (as the QC picture finds its stretch), on values of both signs.
            var finite = v.filter { $0.isFinite }
            for k in [finite.count / 100, finite.count * 997 / 1000, finite.count - 1] {
                XCTAssertEqual(Threshold.kthSmallest(&finite, k), sorted[k], "n \(n) k \(k)")
            }
            let ks = [0, finite.count / 100, finite.count / 2, finite.count * 997 / 1000, finite.count - 1]
            let signed = v.filter { $0.isFinite }.map { $0 - 500 }
            XCTAssertEqual(Threshold.orderStatistics(signed, ks), ks.map { signed.sorted()[$0] }, "n \(n)")
            if trial < 3 {
                // Beyond 2¹⁶ values the quantile takes its order statistics by counting.
                let big = (0..<70_000 + trial * 30_000).map { _ in Float(Int(next() % UInt64(trial == 1 ? 7 : 200_000)) - 1000) / 8 }
                let bigSorted = big.sorted()
                for q in [0, 0.01, 0.5, 0.737, 0.997, 1] {
                    let h = Double(big.count - 1) * q
                    let lo = Int(h), hi = min(lo + 1, big.count - 1)
                    XCTAssertEqual(Threshold.quantile(big, q), bigSorted[lo] + Float(h - Double(lo)) * (bigSorted[hi] - bigSorted[lo]), "\(big.count) values, q \(q)")
                }
            }
            if trial == 0 {
                let extremes: [Float] = [3e38, -3e38, -0.0, 0, Float.leastNormalMagnitude / 4, -Float.leastNormalMagnitude / 4, 5, 5, -5, 5.000001, .leastNonzeroMagnitude]
                XCTAssertEqual(Threshold.orderStatistics(extremes, Array(extremes.indices)), extremes.sorted())
            }
        }
    }

    /// Outlines along pixel edges, by hand: one pixel; a ring of eight around a hole (the hole's
    /// ring the other way round); two pixels touching at a corner (two regions, the saddle
    /// corner turned right on both); a bar (no corner in the middle of its straight edges).
    func testContoursByHand() {
        func corners(_ c: [(Int32, Int32)]) -> [Contours.Corner] { c.map { Contours.Corner(x: $0.0, y: $0.1) } }
        func mask(_ w: Int, _ rows: [String]) -> Mask { Mask(width: w, height: rows.count, bits: rows.joined().map { $0 == "#" }) }
        XCTAssertEqual(Contours.polygons(mask(3, ["...", "...", "..."])), [])
        XCTAssertEqual(Contours.polygons(mask(3, ["...", ".#.", "..."])).map(\.rings), [[corners([(1, 1), (2, 1), (2, 2), (1, 2)])]])
        XCTAssertEqual(Contours.polygons(mask(3, ["###", "#.#", "###"])).map(\.rings),
                       [[corners([(0, 0), (3, 0), (3, 3), (0, 3)]), corners([(1, 1), (1, 2), (2, 2), (2, 1)])]])
        XCTAssertEqual(Contours.polygons(mask(2, ["#.", ".#"])).map(\.rings),
                       [[corners([(0, 0), (1, 0), (1, 1), (0, 1)])], [corners([(1, 1), (2, 1), (2, 2), (1, 2)])]])
        XCTAssertEqual(Contours.polygons(mask(4, ["....", ".##.", "...."])).map(\.rings), [[corners([(1, 1), (3, 1), (3, 2), (1, 2)])]])
        // A region pinched at corner (2, 2): its outline and a hole touching it there (one ring
        // through the corner twice is no valid ring).
        XCTAssertEqual(Contours.polygons(mask(3, ["###", "#.#", "##."])).map(\.rings),
                       [[corners([(0, 0), (3, 0), (3, 2), (2, 2), (2, 3), (0, 3)]), corners([(1, 1), (1, 2), (2, 2), (2, 1)])]])
        // An L: six corners, clockwise on screen from the top-left.
        XCTAssertEqual(Contours.polygons(mask(2, ["#.", "##"])).map(\.rings), [[corners([(0, 0), (1, 0), (1, 1), (2, 1), (2, 2), (0, 2)])]])
    }

    /// On random masks, against what the polygons must be, checked without mifq's labelling:
    /// every pixel centre inside an odd number of rings exactly where the mask is set; outer
    /// rings' areas less the holes' equal to the pixel count; one polygon per 4-connected
    /// region (counted by a flood fill here); every ring simple and turning at each corner it lists.
    func testContoursAgainstTheMask() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        for trial in 0..<60 {
            let w = 1 + Int(next() % 23), h = 1 + Int(next() % 19)
            // Sparse, dense, and blobs (a random field smoothed by a 3 × 3 majority).
            var bits = (0..<(w * h)).map { _ in next() % 100 < [30, 60, 50][trial % 3] }
            if trial % 3 == 2 {
                bits = (0..<(w * h)).map { i in
                    let x = i % w, y = i / w
                    var n = 0
                    for yy in max(0, y - 1)...min(h - 1, y + 1) { for xx in max(0, x - 1)...min(w - 1, x + 1) where bits[yy * w + xx] { n += 1 } }
                    return n >= 5
                }
            }
            let polygons = Contours.polygons(Mask(width: w, height: h, bits: bits))
            let rings = polygons.flatMap(\.rings)
            for y in 0..<h {
                for x in 0..<w {
                    let cx = Double(x) + 0.5, cy = Double(y) + 0.5
                    var crossings = 0
                    for r in rings {
                        for k in r.indices {
                            let a = r[k], b = r[(k + 1) % r.count]
                            if (Double(a.y) <= cy) != (Double(b.y) <= cy) && Double(a.x) > cx { crossings += 1 }
                        }
                    }
                    XCTAssertEqual(crossings % 2 == 1, bits[y * w + x], "trial \(trial) pixel (\(x), \(y))")
                }
            }
            var area = 0
            for p in polygons {
                for (k, r) in p.rings.enumerated() {
                    var twice = 0
                    for i in r.indices {
                        let a = r[i], b = r[(i + 1) % r.count]
                        twice += Int(a.x) * Int(b.y) - Int(b.x) * Int(a.y)
                        // Axis-aligned edges, and a turn at every listed corner.
                        XCTAssertTrue(a.x == b.x || a.y == b.y)
                        let c = r[(i + 2) % r.count]
                        XCTAssertFalse((a.x == b.x && b.x == c.x) || (a.y == b.y && b.y == c.y), "trial \(trial): a corner without a turn")
                    }
                    XCTAssertEqual(twice > 0, k == 0, "trial \(trial): outer rings positive, holes negative")
                    XCTAssertEqual(Set(r.map { [$0.x, $0.y] }).count, r.count, "trial \(trial): a ring through a corner twice")
                    area += twice / 2
                }
            }
            XCTAssertEqual(area, bits.filter { $0 }.count, "trial \(trial)")
            var seen = [Bool](repeating: false, count: w * h), regions = 0
            for s in 0..<(w * h) where bits[s] && !seen[s] {
                regions += 1
                var stack = [s]
                seen[s] = true
                while let p = stack.popLast() {
                    let x = p % w, y = p / w
                    for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)] where nx >= 0 && ny >= 0 && nx < w && ny < h {
                        let q = ny * w + nx
                        if bits[q] && !seen[q] { seen[q] = true; stack.append(q) }
                    }
                }
            }
            XCTAssertEqual(polygons.count, regions, "trial \(trial)")
        }
    }
}
