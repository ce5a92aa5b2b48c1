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
        let r = detector.detect(signal: signal, tumorMarker: marker, mapPixelUm: 1)
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
        let r = detector.detect(signal: signal, tumorMarker: marker, mapPixelUm: 1)
        XCTAssertFalse(r.labels.contains(RegionMap.background))
    }

    /// Edge map pixels count only the part inside the slide.
    func testPartialEdgePixels() {
        let map = RegionMap(width: 2, height: 1, scale: 4, pixelSizeUm: 0.5, labels: [1, 1], fullWidth: 6, fullHeight: 4)
        // 6 × 4 level-0 pixels of 0.25 µm² = 6 µm².
        XCTAssertEqual(map.areaMm2(RegionMap.stroma), 6e-6, accuracy: 1e-15)
    }
}
