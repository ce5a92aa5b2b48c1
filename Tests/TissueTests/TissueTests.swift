import XCTest
import Imaging
@testable import Tissue

final class TissueTests: XCTestCase {
    let detector = TissueDetector(sigmaTissueMicrons: 2, tissueOtsuFactor: 1, minTissueAreaMicrons2: 16, fillHolesBelowMicrons2: 16,
                                  sigmaTumorMicrons: 2, tumorThreshold: nil, tumorEdgeFraction: 0.45, minTumorAreaMicrons2: 16)

    /// Glass (≈ 2 counts) around a tissue square (200), tumour in its left half: areas by hand.
    func testGlassTissueTumour() {
        let w = 64, h = 64
        var signal = Image(width: w, height: h, value: 2), marker = Image(width: w, height: h)
        for y in 16..<48 { for x in 16..<48 { signal[x, y] = 200; if x < 32 { marker[x, y] = 100 } } }
        let r = detector.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        let map = RegionMap(width: w, height: h, scale: 1, pixelSizeUm: 1, labels: r.labels, fullWidth: w, fullHeight: h)
        // 32×32 µm of tissue = 1024 µm² = 0.001024 mm²; tumour half of it (± one smoothed column).
        XCTAssertEqual(map.areaMm2(RegionMap.tumor) + map.areaMm2(RegionMap.stroma), 0.001024, accuracy: 0.0001)
        XCTAssertEqual(map.areaMm2(RegionMap.tumor), 0.000512, accuracy: 0.00007)
        XCTAssertEqual(map.region(atX: 2, y: 2), RegionMap.background)
    }

    /// A slide covered by tissue (dim stroma 100, brighter nests 250): no glass, all tissue.
    func testFullyCoveredSlideIsAllTissue() {
        let w = 64, h = 64
        var signal = Image(width: w, height: h, value: 100), marker = Image(width: w, height: h)
        for y in 0..<h { for x in 0..<32 { signal[x, y] = 250; marker[x, y] = 100 } }
        let r = detector.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        XCTAssertFalse(r.labels.contains(RegionMap.background))
    }

    /// Tissue without nests (the tumour marker at the stroma's own level, 3 ± 10%, all tissue):
    /// Otsu splits that level and the automatic threshold (0.45 × the upper class's median,
    /// about 1.4) lies below all of it — all tumour, flagged undecided; with the panel's minimum
    /// of 50 there is no tumour. With nests (200 in the left half) the minimum changes nothing,
    /// and a field that is all nest (200 ± 10%) is all tumour, undecided without a minimum (the
    /// map cannot tell it from no tumour), and decided with one.
    func testTumourThresholdMinimum() {
        let w = 64, h = 64
        func run(nests: ClosedRange<Int>?, everywhere: Float? = nil, minimum: Double?) -> (TissueDetector.Result, Int) {
            let signal = Image(width: w, height: h, value: 200)
            var marker = Image(width: w, height: h)
            for y in 0..<h { for x in 0..<w {
                let level = everywhere ?? 3
                marker[x, y] = level + 0.1 * level * Float(sin(Double(x) / 5) * cos(Double(y) / 7))
                if let nests, nests.contains(x) { marker[x, y] = 200 }
            } }
            var d = detector
            d.tumorThresholdMinimum = minimum
            let r = d.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
            XCTAssertFalse(r.labels.contains(RegionMap.background))
            return (r, r.labels.filter { $0 == RegionMap.tumor }.count)
        }
        var (r, tumour) = run(nests: nil, minimum: nil)
        XCTAssertEqual(r.tumorThresholdRule, .automatic); XCTAssertTrue(r.tumorThresholdUndecided)
        XCTAssertLessThan(r.tumorThreshold, 2.7)
        XCTAssertEqual(tumour, w * h)
        (r, tumour) = run(nests: nil, minimum: 50)
        XCTAssertEqual(r.tumorThresholdRule, .minimum); XCTAssertFalse(r.tumorThresholdUndecided)
        XCTAssertEqual(r.tumorThreshold, 50)
        XCTAssertEqual(tumour, 0)
        for minimum in [nil, 50.0] {
            (r, tumour) = run(nests: 0...31, minimum: minimum)
            XCTAssertEqual(r.tumorThresholdRule, .automatic); XCTAssertFalse(r.tumorThresholdUndecided)
            XCTAssertEqual(r.tumorThreshold, 90, accuracy: 1)
            XCTAssertEqual(Double(tumour), Double(w * h / 2), accuracy: Double(2 * h))
            (r, tumour) = run(nests: nil, everywhere: 200, minimum: minimum)
            XCTAssertEqual(r.tumorThresholdRule, .automatic); XCTAssertEqual(r.tumorThresholdUndecided, minimum == nil)
            XCTAssertEqual(tumour, w * h)
        }
    }

    /// A field of glass alone (total light 20 ± 10%): Otsu splits its noise into classes
    /// within 4× of each other, and the rule for a field covered by tissue makes it all tissue;
    /// with a minimum of 50 it has none, and the threshold reported is the minimum. Glass (2)
    /// around a tissue square (200): the threshold lies in the middle of the empty bins between
    /// the two levels, 3 and 201 in log(1 + light), √(3 × 201) − 1 = 23.56 (skimage's first tied
    /// split gave 20.4); the same map with a minimum of 10.
    func testTissueThresholdMinimum() {
        let w = 64, h = 64
        var glass = Image(width: w, height: h)
        for y in 0..<h { for x in 0..<w { glass[x, y] = 20 + 2 * Float(sin(Double(x) / 5) * cos(Double(y) / 7)) } }
        var d = detector
        var r = d.detect(signal: HalfImage(glass), tumorMarker: HalfImage(Image(width: w, height: h)), mapPixelUm: 1)
        XCTAssertFalse(r.labels.contains(RegionMap.background))
        XCTAssertEqual(r.tissueThreshold, 0)
        d.tissueThresholdMinimum = 50
        r = d.detect(signal: HalfImage(glass), tumorMarker: HalfImage(Image(width: w, height: h)), mapPixelUm: 1)
        XCTAssertTrue(r.labels.allSatisfy { $0 == RegionMap.background })
        XCTAssertEqual(r.tissueThreshold, 50, accuracy: 1e-3)
        var signal = Image(width: w, height: h, value: 2), marker = Image(width: w, height: h)
        for y in 16..<48 { for x in 16..<48 { signal[x, y] = 200; if x < 32 { marker[x, y] = 100 } } }
        let plain = detector.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        XCTAssertEqual(plain.tissueThreshold, (3.0 * 201).squareRoot() - 1, accuracy: 0.1)
        d.tissueThresholdMinimum = 10
        let below = d.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        XCTAssertTrue(plain.labels == below.labels, "a minimum below the slide's threshold changes nothing")
        XCTAssertEqual(plain.tissueThreshold, below.tissueThreshold)
    }

    /// Edge map pixels count only the part inside the slide.
    func testPartialEdgePixels() {
        let map = RegionMap(width: 2, height: 1, scale: 4, pixelSizeUm: 0.5, labels: [1, 1], fullWidth: 6, fullHeight: 4)
        // 6 × 4 level-0 pixels of 0.25 µm² = 6 µm².
        XCTAssertEqual(map.areaMm2(RegionMap.stroma), 6e-6, accuracy: 1e-15)
    }

    /// A nest (left half, marker 100) with a 6 × 6 "lymphocyte" at its edge carrying no tumour
    /// marker but the excluded marker. Smoothed plainly (σ 2 px) the cell dents the nest and
    /// its centre is stroma; with the cell left out of the average (normalised convolution) it
    /// is tumour. Values by scipy.ndimage.gaussian_filter (reflect) + skimage Otsu: the plain
    /// smoothing gives 22.5 at the cell centre and 2018 tumour pixels, the normalised one 85.4
    /// and 2040 (threshold 45 both; 2048 would be the whole half).
    func testExcludedCellsDoNotDentTheNest() {
        let w = 64, h = 64
        let signal = Image(width: w, height: h, value: 200)
        var marker = Image(width: w, height: h), exclude = Image(width: w, height: h)
        for y in 0..<h { for x in 0..<32 { marker[x, y] = 100 } }
        for y in 29..<35 { for x in 26..<32 { marker[x, y] = 0; exclude[x, y] = 50 } }
        let count = { (labels: [UInt8]) in labels.filter { $0 == RegionMap.tumor }.count }
        let plain = detector.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        XCTAssertEqual(plain.tumorThreshold, 45, accuracy: 0.01)
        XCTAssertEqual(plain.labels[31 * w + 28], RegionMap.stroma)
        XCTAssertEqual(count(plain.labels), 2018, accuracy: 3)
        let excluded = detector.detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), exclude: HalfImage(exclude), mapPixelUm: 1)
        XCTAssertEqual(excluded.tumorThreshold, 45, accuracy: 0.01)
        XCTAssertEqual(excluded.labels[31 * w + 28], RegionMap.tumor)
        XCTAssertEqual(excluded.labels[32 * w + 30], RegionMap.stroma)
        XCTAssertEqual(count(excluded.labels), 2040, accuracy: 3)
        // The score is the smoothed marker over the threshold × 100: 22.5 / 45 and 85.4 / 45.
        XCTAssertEqual(plain.tumorScore[31 * w + 28], 50, accuracy: 1)
        XCTAssertEqual(excluded.tumorScore[31 * w + 28], 190, accuracy: 1)
    }

    /// Glass (2) beside dim tissue (1500, columns 30…79) and bright tissue (60000, columns
    /// 110…159), tissue smoothed σ 3 px: the slide-wide threshold (Otsu, 4.6, nearer glass's
    /// 1.4 than the bright tissue's 11.0) widens the bright stripe by a column each side; held to
    /// the midpoint between glass and the tissue's own level nearby (σ 10 px) it is exactly its
    /// 50 columns, and the dim stripe, which the slide-wide threshold cuts near its own
    /// midpoint, keeps its run. Runs by scripts/fixtures/tissue_edge_reference.py (scipy,
    /// scikit-image): the bright stripe's decisive pixels are 0.45 from Otsu's threshold and
    /// 0.18 from the midpoints; the dim stripe's edge pixel is within 0.02 of Otsu's threshold
    /// (less than a bin of its histogram), so only its being unchanged is asserted.
    func testBrightTissueDoesNotWidenItsEdge() {
        let w = 200, h = 16
        var signal = Image(width: w, height: h, value: 2)
        for y in 0..<h { for x in 30..<80 { signal[x, y] = 1500 }; for x in 110..<160 { signal[x, y] = 60000 } }
        var removed: [Int?] = []
        func runs(edgeSigma: Double) -> [[Int]] {
            let r = TissueDetector(sigmaTissueMicrons: 3, tissueOtsuFactor: 1, minTissueAreaMicrons2: 16, fillHolesBelowMicrons2: 16,
                                   sigmaTumorMicrons: 2, tumorThreshold: 1, tumorEdgeFraction: 0.5, minTumorAreaMicrons2: 16,
                                   edgeSigmaMicrons: edgeSigma)
                .detect(signal: HalfImage(signal), tumorMarker: HalfImage(Image(width: w, height: h)), mapPixelUm: 1)
            removed.append(r.edgeRemovedPixels)
            var rows = Set<[[Int]]>()
            for y in 0..<h {
                var row: [[Int]] = [], x = 0
                while x < w {
                    guard r.labels[y * w + x] != RegionMap.background else { x += 1; continue }
                    let x0 = x
                    while x < w && r.labels[y * w + x] != RegionMap.background { x += 1 }
                    row.append([x0, x])
                }
                rows.insert(row)
            }
            XCTAssertEqual(rows.count, 1, "every row alike")
            return rows.first ?? []
        }
        let plain = runs(edgeSigma: 0), local = runs(edgeSigma: 10)
        XCTAssertEqual(plain.count, 2)
        XCTAssertEqual(plain.last, [109, 161])
        XCTAssertEqual(local.last, [110, 160])
        XCTAssertEqual(local.first, plain.first)
        XCTAssertEqual(Double(plain.first?[0] ?? 0), 30, accuracy: 1)
        // Off: not run; on: columns 109 and 160 of the 16 rows.
        XCTAssertEqual(removed, [nil, 32])
    }

    /// The local midpoint is tested near glass only. Tissue at 10 from column 5 on, glass 0
    /// before it, two strips of 4 px at 4: one at columns 8…11 (3 px from glass), one at
    /// 100…103. With σ 10 px the tissue's level at a strip is above 8 (the strip's 4 columns
    /// weigh at most 4 / (√(2π) · 10) ≈ 0.16 of it, so 10 − 6 × 0.16), its midpoint above 4:
    /// both strips lie below their midpoints, and every pixel at 10 above its own (≤ 5). Reach
    /// 9 px with 5-px blocks tests blocks within two of the glass block, columns 0…14: the near
    /// strip goes, the far one (a dim band of stroma between bright nests, say) stays.
    func testLocalEdgeOnlyNearGlass() {
        let w = 200, h = 20
        var s = Image(width: w, height: h, value: 10)
        var tissue = Mask(width: w, height: h)
        for y in 0..<h {
            for x in 0..<5 { s[x, y] = 0 }
            for x in Array(8..<12) + Array(100..<104) { s[x, y] = 4 }
            for x in 5..<w { tissue.bits[y * w + x] = true }
        }
        for threads in [1, 2] {
            var d = detector
            d.threads = threads
            var kept = tissue
            XCTAssertEqual(d.keepAboveLocalMidpoint(HalfImage(s), &kept, glass: 0, sigma: 10, reach: 9), 4 * h)
            for y in 0..<h {
                for x in 0..<w {
                    XCTAssertEqual(kept.bits[y * w + x], x >= 5 && !(8..<12).contains(x), "(\(x), \(y)), \(threads) thread(s)")
                }
            }
        }
    }

    /// A nest (left 40 columns, marker 100, fixed threshold 45, σ 2 px) with three holes in it:
    /// an 8 × 8 marker-free island (smoothed centre 100 × (1 − erf(√2)²) ≈ 8.9, so stroma), a
    /// 16 × 16 one (centre ≈ 0), and an 8 × 8 patch of glass. Filling stroma islands below
    /// 100 µm² makes the small island tumour and leaves the large one stroma and the glass
    /// background; nothing else changes.
    func testSmallStromaIslandsInNestsBecomeTumour() {
        let w = 64, h = 64
        var signal = Image(width: w, height: h, value: 200), marker = Image(width: w, height: h)
        for y in 0..<h { for x in 0..<40 { marker[x, y] = 100 } }
        for y in 6..<14 { for x in 10..<18 { marker[x, y] = 0 } }          // small island, centre (14, 10)
        for y in 24..<40 { for x in 8..<24 { marker[x, y] = 0 } }          // large island, centre (16, 32)
        for y in 50..<58 { for x in 12..<20 { signal[x, y] = 2; marker[x, y] = 0 } }   // glass, centre (16, 54)
        func detect(fill: Double) -> TissueDetector.Result {
            TissueDetector(sigmaTissueMicrons: 1, tissueOtsuFactor: 1, minTissueAreaMicrons2: 16, fillHolesBelowMicrons2: 16,
                           sigmaTumorMicrons: 2, tumorThreshold: 45, tumorEdgeFraction: 0.45, minTumorAreaMicrons2: 16,
                           fillTumorHolesBelowMicrons2: fill)
                .detect(signal: HalfImage(signal), tumorMarker: HalfImage(marker), mapPixelUm: 1)
        }
        let plain = detect(fill: 0), filled = detect(fill: 100)
        XCTAssertEqual(plain.labels[10 * w + 14], RegionMap.stroma)
        XCTAssertEqual(filled.labels[10 * w + 14], RegionMap.tumor)
        XCTAssertEqual(filled.labels[32 * w + 16], RegionMap.stroma)
        XCTAssertEqual(plain.labels[54 * w + 16], RegionMap.background)
        XCTAssertEqual(filled.labels[54 * w + 16], RegionMap.background)
        var changed = 0
        for y in 0..<h {
            for x in 0..<w where plain.labels[y * w + x] != filled.labels[y * w + x] {
                changed += 1
                XCTAssertTrue((6..<14).contains(y) && (10..<18).contains(x), "changed outside the small island at (\(x), \(y))")
                XCTAssertEqual(plain.labels[y * w + x], RegionMap.stroma)
            }
        }
        XCTAssertGreaterThan(changed, 16)
        XCTAssertEqual(plain.tumorScore, filled.tumorScore)
    }

    /// The part of a core where a counted cell's rounded centroid can fall, by hand: a 3 × 2
    /// map of 4-px pixels with tissue in its middle column only (level-0 x 4…7, so centroids in
    /// tissue lie in [4, 8) and round to 4…8).
    func testTissueBounds() {
        let map = RegionMap(width: 3, height: 2, scale: 4, pixelSizeUm: 0.5, labels: [0, 1, 0, 0, 2, 0], fullWidth: 12, fullHeight: 8)
        func bounds(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> [Int]? {
            map.tissueBounds(x0: x0, y0: y0, x1: x1, y1: y1).map { [$0.x0, $0.y0, $0.x1, $0.y1] }
        }
        XCTAssertEqual(bounds(0, 0, 4, 8), [3, 0, 4, 8], "the core's last column, one pixel beside the tissue")
        XCTAssertEqual(bounds(8, 0, 12, 8), [8, 0, 9, 8], "a centroid at x 7.5 rounds into this core")
        XCTAssertNil(bounds(9, 0, 12, 8), "nothing in tissue rounds to x 9 or beyond")
        XCTAssertEqual(bounds(4, 4, 8, 8), [4, 4, 8, 8])
        XCTAssertEqual(bounds(0, 0, 12, 8), [3, 0, 9, 8])
        XCTAssertEqual(bounds(5, 5, 6, 6), [5, 5, 6, 6])
        XCTAssertNil(bounds(5, 5, 5, 6), "empty")
        let glass = RegionMap(width: 3, height: 2, scale: 4, pixelSizeUm: 0.5, labels: [0, 0, 0, 0, 0, 0], fullWidth: 12, fullHeight: 8)
        XCTAssertNil(glass.tissueBounds(x0: 0, y0: 0, x1: 12, y1: 8))
    }

    /// The score between map pixel centres, bilinear by hand (map pixels of 4 level-0 pixels,
    /// centres at 2 and 6), clamped beyond the outer centres.
    func testTumourScoreInterpolation() {
        let map = RegionMap(width: 2, height: 2, scale: 4, pixelSizeUm: 0.5, labels: [1, 2, 2, 1], tumorScore: [0, 100, 200, 40],
                            fullWidth: 8, fullHeight: 8)
        XCTAssertEqual(map.tumorScore(atX: 2, y: 2), 0)
        XCTAssertEqual(map.tumorScore(atX: 6, y: 2), 100)
        XCTAssertEqual(map.tumorScore(atX: 4, y: 2), 50)
        XCTAssertEqual(map.tumorScore(atX: 2, y: 4), 100)
        XCTAssertEqual(map.tumorScore(atX: 4, y: 4), 85)
        XCTAssertEqual(map.tumorScore(atX: 5, y: 3), 0.75 * 0.75 * 100 + 0.25 * 0.25 * 200 + 0.75 * 0.25 * 40, accuracy: 1e-12)
        XCTAssertEqual(map.tumorScore(atX: 0, y: 0), 0)
        XCTAssertEqual(map.tumorScore(atX: 100, y: 100), 40)
    }

    /// Disc dilation by hand: one pixel at radius 2 covers 5 + 3 + 3 + 1 + 1 = 13 pixels (the
    /// rows at dy = ±1 reach ⌊√3⌋ = 1); at a corner only the quarter inside the image, 6 pixels.
    func testDiscDilation() {
        var m = Mask(width: 9, height: 9)
        m[4, 4] = true
        let d = Morphology.dilate(m, radius: 2)
        XCTAssertEqual(d.bits.filter { $0 }.count, 13)
        XCTAssertTrue(d[6, 4] && d[4, 2] && d[5, 5] && !d[6, 5] && !d[5, 6])
        var c = Mask(width: 9, height: 9)
        c[0, 0] = true
        XCTAssertEqual(Morphology.dilate(c, radius: 2).bits.filter { $0 }.count, 6)
        XCTAssertEqual(Morphology.dilate(c, radius: 0.5), c)
        // Random masks against the definition: set where some set pixel is within the radius.
        var seed: UInt64 = 7
        for (w, h, radius, density) in [(40, 30, 1.5, 0.02), (33, 47, 4.0, 0.01), (50, 20, 3.7, 0.2), (6, 5, 9.0, 0.05)] {
            var r = Mask(width: w, height: h)
            for i in r.bits.indices {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                r.bits[i] = Double(seed >> 11) / Double(1 << 53) < density
            }
            let got = Morphology.dilate(r, radius: radius)
            for y in 0..<h { for x in 0..<w {
                var near = false
                for v in 0..<h { for u in 0..<w where r[u, v] && Double((u - x) * (u - x) + (v - y) * (v - y)) <= radius * radius { near = true } }
                XCTAssertEqual(got[x, y], near, "\(w)×\(h) r \(radius) at \(x),\(y)")
            } }
        }
    }

    /// The cell-level edge rules on a hand-made map: three tumour columns (score 150), then
    /// stroma at scores 90, 60, 20; map pixels of 4 level-0 pixels (2 µm), centres at 2, 6, 10 …
    func testCellRegionRules() {
        let w = 6
        var labels = [UInt8](repeating: 0, count: w * 3), score = labels
        for y in 0..<3 { for x in 0..<w { labels[y * w + x] = x < 3 ? 2 : 1; score[y * w + x] = x < 3 ? 150 : [90, 60, 20][x - 3] } }
        labels[5] = 0
        let map = RegionMap(width: w, height: 3, scale: 4, pixelSizeUm: 0.5, labels: labels, tumorScore: score, fullWidth: 24, fullHeight: 12)
        let rules = CellRegions(map: map, snapMicrons: 4, immuneThresholdFactor: 0.95)
        func at(_ x: Double, tumor: Bool = false, immune: Bool = false, _ r: CellRegions = rules) -> UInt8 {
            r.region(x: x, y: 6, mapX: min(Int(x / 4), w - 1), mapY: 1, tumorPositive: tumor, immunePositive: immune)
        }
        // Tumour-marker-positive cells: snapped within 4 µm (two map pixels) of the tumour map.
        XCTAssertEqual(at(18, tumor: true), RegionMap.tumor)
        XCTAssertEqual(at(22, tumor: true), RegionMap.stroma)
        XCTAssertEqual(at(18), RegionMap.stroma)
        // Immune cells: beside the map and score ≥ 95 at the centroid. At x 12, halfway between
        // the centres of columns 2 and 3, the score is (150 + 90) / 2 = 120; at 14 it is 90.
        XCTAssertEqual(at(12, immune: true), RegionMap.tumor)
        XCTAssertEqual(at(12), RegionMap.stroma)
        XCTAssertEqual(at(14, immune: true), RegionMap.stroma)
        XCTAssertEqual(at(14, immune: true, CellRegions(map: map, snapMicrons: 4, immuneThresholdFactor: 0.85)), RegionMap.tumor)
        XCTAssertEqual(at(18, immune: true, CellRegions(map: map, snapMicrons: 4, immuneThresholdFactor: 0.1)), RegionMap.stroma, "not beside the map")
        XCTAssertEqual(at(6, immune: true), RegionMap.tumor)
        // Off: the labels alone. Background stays background.
        let off = CellRegions(map: map, snapMicrons: 0, immuneThresholdFactor: nil)
        XCTAssertEqual(at(18, tumor: true, off), RegionMap.stroma)
        XCTAssertEqual(at(12, immune: true, off), RegionMap.stroma)
        XCTAssertEqual(rules.region(x: 22, y: 2, mapX: 5, mapY: 0, tumorPositive: true, immunePositive: true), RegionMap.background)
        // Away from the map's edge the label decides: a filled stroma island inside a nest is
        // tumour with a low score (here 20 at the centre of a 5 × 5 all-tumour map).
        var island = [UInt8](repeating: 150, count: 25)
        island[12] = 20
        let nest = RegionMap(width: 5, height: 5, scale: 4, pixelSizeUm: 0.5, labels: [UInt8](repeating: 2, count: 25),
                             tumorScore: island, fullWidth: 20, fullHeight: 20)
        XCTAssertEqual(CellRegions(map: nest, snapMicrons: 4, immuneThresholdFactor: 0.95)
            .region(x: 10, y: 10, mapX: 2, mapY: 2, tumorPositive: false, immunePositive: true), RegionMap.tumor)
    }

    /// The edge rules look at each cell's neighbourhood; that is the same as dilating the whole
    /// map (the tumour by the snap disc, tumour and non-tumour by 3 × 3) and reading the
    /// dilations under the cell. Random maps, every map pixel, snap radii 1 to 4.5 map pixels,
    /// including the map's borders.
    func testCellRegionsMatchTheDilatedMaps() {
        var state: UInt64 = 12345
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        for (w, h, snapPx) in [(9, 7, 1.0), (12, 5, 2.5), (16, 16, 4.5), (1, 6, 2.0), (7, 1, 3.0)] {
            let labels = (0..<(w * h)).map { _ in UInt8(next() % 3) }
            let score = (0..<(w * h)).map { _ in UInt8(next() % 200) }
            let map = RegionMap(width: w, height: h, scale: 4, pixelSizeUm: 0.5, labels: labels, tumorScore: score,
                                fullWidth: 4 * w, fullHeight: 4 * h)
            let rules = CellRegions(map: map, snapMicrons: snapPx * 2, immuneThresholdFactor: 0.95)
            let tumor = Mask(width: w, height: h, bits: labels.map { $0 == RegionMap.tumor })
            let near = Morphology.dilate(tumor, radius: snapPx)
            let besideTumor = Morphology.dilate(tumor, radius: 1.5)
            let besideOther = Morphology.dilate(Mask(width: w, height: h, bits: labels.map { $0 != RegionMap.tumor }), radius: 1.5)
            for my in 0..<h {
                for mx in 0..<w {
                    let i = my * w + mx
                    let x = Double(mx * 4) + 1.5, y = Double(my * 4) + 2.5
                    var expected = labels[i]
                    if labels[i] != RegionMap.background, besideTumor.bits[i] && besideOther.bits[i] {
                        expected = map.tumorScore(atX: x, y: y) >= 95 ? RegionMap.tumor : RegionMap.stroma
                    }
                    XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: false, immunePositive: true), expected,
                                   "immune \(w)×\(h) at \(mx),\(my)")
                    let snapped = labels[i] == RegionMap.stroma && near.bits[i] ? RegionMap.tumor : labels[i]
                    XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: true, immunePositive: false), snapped,
                                   "snap \(w)×\(h) r \(snapPx) at \(mx),\(my)")
                }
            }
        }
    }

    /// The edge zone looks at each cell's disc; that is the same as dilating the other side by
    /// the zone's disc (tumour for a stroma pixel, stroma for a tumour pixel; background never
    /// in it) and reading the dilation under the cell. Random maps with large patches, so that
    /// some blocks hold one side only, every map pixel, zone radii of 1 to 6.5 map pixels. In
    /// the zone a known background decides an immune cell's side (below one half tumour);
    /// outside it, or for other cells, the rules without it; anywhere, it brings a
    /// tumour-marker-positive cell from stroma into tumour when it is the tumour's.
    func testEdgeZoneMatchesTheDilatedMaps() {
        var state: UInt64 = 99
        func next() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) }
        for (w, h, zonePx) in [(9, 7, 1.0), (23, 17, 3.2), (40, 31, 6.5), (1, 6, 2.0), (7, 1, 3.0), (30, 30, 2.5)] {
            // Labels constant over 5 × 5 patches, a few pixels changed.
            let patch = (0..<((w / 5 + 1) * (h / 5 + 1))).map { _ in UInt8(next() % 3) }
            var labels = (0..<(w * h)).map { i in patch[(i / w / 5) * (w / 5 + 1) + (i % w) / 5] }
            for _ in 0..<(w * h / 20) { labels[next() % (w * h)] = UInt8(next() % 3) }
            let map = RegionMap(width: w, height: h, scale: 4, pixelSizeUm: 0.5, labels: labels, tumorScore: [],
                                fullWidth: 4 * w, fullHeight: 4 * h)
            let rules = CellRegions(map: map, snapMicrons: 0, immuneThresholdFactor: nil, edgeZoneMicrons: zonePx * 2)
            XCTAssertTrue(rules.hasEdgeZone)
            let nearTumor = Morphology.dilate(Mask(width: w, height: h, bits: labels.map { $0 == RegionMap.tumor }), radius: zonePx)
            let nearStroma = Morphology.dilate(Mask(width: w, height: h, bits: labels.map { $0 == RegionMap.stroma }), radius: zonePx)
            var inZone = 0
            for my in 0..<h {
                for mx in 0..<w {
                    let i = my * w + mx
                    let expected = labels[i] == RegionMap.tumor ? nearStroma.bits[i] : labels[i] == RegionMap.stroma && nearTumor.bits[i]
                    XCTAssertEqual(rules.inEdgeZone(mx, my), expected, "\(w)×\(h) r \(zonePx) at \(mx),\(my)")
                    if expected { inZone += 1 }
                    let x = Double(mx * 4) + 1.5, y = Double(my * 4) + 2.5
                    for (background, side) in [(0.49, RegionMap.tumor), (0.5, RegionMap.stroma)] {
                        XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: false, immunePositive: true, background: background),
                                       expected ? side : labels[i])
                        XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: false, immunePositive: false, background: background),
                                       labels[i])
                        // A tumour-marker-positive cell is only ever brought into tumour, in the
                        // zone or not.
                        XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: true, immunePositive: false, background: background),
                                       labels[i] == RegionMap.stroma && side == RegionMap.tumor ? RegionMap.tumor : labels[i])
                    }
                    XCTAssertEqual(rules.region(x: x, y: y, mapX: mx, mapY: my, tumorPositive: false, immunePositive: true, background: nil), labels[i])
                }
            }
            if w * h > 100 { XCTAssertGreaterThan(inZone, 0); XCTAssertLessThan(inZone, w * h) }
        }
        let none = RegionMap(width: 3, height: 3, scale: 4, pixelSizeUm: 0.5, labels: [UInt8](repeating: 2, count: 9), fullWidth: 12, fullHeight: 12)
        XCTAssertFalse(CellRegions(map: none, snapMicrons: 0, immuneThresholdFactor: nil, edgeZoneMicrons: 1.9).hasEdgeZone, "below one map pixel: off")
    }

    func file(_ text: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-ann-\(UUID().uuidString).geojson").path
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    /// QuPath-style GeoJSON on a 20 × 20 map of 4 px pixels, all tissue. Included: a 40 px
    /// square with a hole [8, 16)² (pixel centres (i + ½)·4 in [0, 40): 10 × 10, less the hole's
    /// 2 × 2 = 96) and, as a MultiPolygon, the square [60, 80)² (5 × 5 = 25). Excluded ("Ignore*"):
    /// the triangle x + y < 40, centres with i + j ≤ 8: 45 pixels, 4 of them in the hole. Kept
    /// 96 − 41 + 25 = 80 (also counted by brute force in Python). A point is left out.
    func testAnnotationsByHand() throws {
        let path = file("""
        {"type": "FeatureCollection", "features": [
          {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[40,0],[40,40],[0,40],[0,0]], [[8,8],[16,8],[16,16],[8,16]]]},
           "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}}},
          {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [[[[60,60],[80,60],[80,80],[60,80]]]]}, "properties": {}},
          {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[40,0],[0,40]]]},
           "properties": {"classification": {"name": "Ignore*"}}},
          {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}, "properties": {}}
        ]}
        """)
        let a = try Annotations.read(path)
        XCTAssertEqual(a.include.count, 2); XCTAssertEqual(a.exclude.count, 1); XCTAssertEqual(a.otherFeatures, 1)
        var map = RegionMap(width: 20, height: 20, scale: 4, pixelSizeUm: 0.5, labels: [UInt8](repeating: 1, count: 400), fullWidth: 80, fullHeight: 80)
        XCTAssertEqual(a.apply(to: &map), 320)
        XCTAssertEqual(map.labels.filter { $0 != RegionMap.background }.count, 80)
        XCTAssertEqual(map.region(atX: 2, y: 2), RegionMap.background)           // triangle
        XCTAssertEqual(map.region(atX: 38, y: 38), RegionMap.stroma)              // square, beyond the triangle
        XCTAssertEqual(map.region(atX: 13, y: 13), RegionMap.background)          // hole (and triangle)
        XCTAssertEqual(map.region(atX: 50, y: 50), RegionMap.background)          // between the squares
        XCTAssertEqual(map.region(atX: 70, y: 70), RegionMap.stroma)
        XCTAssertEqual(map.areaMm2(RegionMap.stroma), 80 * 4 / 1e6, accuracy: 1e-15)   // 80 pixels of 2 × 2 µm

        // Only exclusions: the rest of the tissue stays; a bare geometry and an array of features read too.
        let ignore = try Annotations.read(file(#"[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[40,0],[0,40]]]}, "properties": {"classification": "Exclude"}}]"#))
        var whole = RegionMap(width: 20, height: 20, scale: 4, pixelSizeUm: 0.5, labels: [UInt8](repeating: 2, count: 400), fullWidth: 80, fullHeight: 80)
        XCTAssertEqual(ignore.apply(to: &whole), 45)
        XCTAssertEqual(try Annotations.read(file(#"{"type": "Polygon", "coordinates": [[[0,0],[4,0],[4,4]]]}"#)).include.count, 1)
        // Vertices out at ±10⁹ px still rasterise (140 pixel centres, by brute force in Python);
        // beyond that a file is refused (the arithmetic overflowed to NaN and trapped).
        let far = try Annotations.read(file(#"{"type": "Polygon", "coordinates": [[[-1e9,2],[1e9,100],[0,300]]]}"#))
        var farMap = RegionMap(width: 20, height: 20, scale: 4, pixelSizeUm: 0.5, labels: [UInt8](repeating: 1, count: 400), fullWidth: 80, fullHeight: 80)
        XCTAssertEqual(far.apply(to: &farMap), 400 - 140)
        XCTAssertEqual(["Ignore*", "ignore", " EXCLUDED", "Exclusion zone"].map(Annotations.isExclusion), [true, true, true, true])
        XCTAssertEqual(["Tumor", "Stroma", "Region*", nil].map(Annotations.isExclusion), [false, false, false, false])

        for (text, message) in [("{not json", "is not JSON (GeoJSON annotations expected): line 1, column 2: invalid value"),
                                ("{\"type\": \"Polygon\",\n \"coordinates\": [[[0,0],[4,0] [4,4]]]}", "is not JSON (GeoJSON annotations expected): line 2, column 31: invalid value"),
                                (#"{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}]}"#, "holds no Polygon or MultiPolygon"),
                                (#"{"type": "Polygon", "coordinates": [[[0,0],[4,0]]]}"#, "feature 1: a ring has fewer than 3 points"),
                                (#"{"type": "Polygon", "coordinates": [[[0,0],[4,"a"],[4,4]]]}"#, "feature 1: a point is not a pair of numbers"),
                                (#"{"type": "FeatureCollection"}"#, "FeatureCollection without a \"features\" array"),
                                (#"{"type": "Polygon", "coordinates": [[[-1e308,2],[1e308,100],[0,300]]]}"#, "feature 1: a point lies beyond ±10⁹ pixels")] {
            let p = file(text)
            XCTAssertThrowsError(try Annotations.read(p)) { e in
                XCTAssertEqual((e as? LocalizedError)?.errorDescription?.hasPrefix(p + ": "), true)
                XCTAssertTrue("\((e as? LocalizedError)?.errorDescription ?? "")".contains(message), "\(e)")
            }
        }
    }
}
