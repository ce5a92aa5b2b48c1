import XCTest
@testable import SlideIO

/// Layouts beyond the third-party set, written by tifffile (scripts/fixtures/make_format_tiffs.py):
/// BigTIFF with a SubIFD level, PackBits strips, JPEG tiles, contiguous multi-sample, float32 with
/// inch resolution, a readable page libtiff complains about, a page chain that loops, a
/// MaxSampleValue tag. Sums are what tifffile decoded.
final class FormatTests: XCTestCase {
    lazy var expected: [String: [String: Any]] = {
        let d = try! Data(contentsOf: URL(fileURLWithPath: TestData.path("formats/expected.json")))
        return try! JSONSerialization.jsonObject(with: d) as! [String: [String: Any]]
    }()

    func check(_ name: String, format: SlideFormat, container: Bool = false) throws -> Slide {
        let s = try Slide(path: TestData.path("formats/\(name)"))
        let e = expected[name]!
        let shape = e["shape"] as! [Int]
        XCTAssertEqual([s.channels.count, s.height, s.width], shape, name)
        XCTAssertEqual(s.format, format, name)
        let stats = try ChannelStatistics.compute(s)
        let sums = (e["sums"] as! [NSNumber]).map(\.doubleValue)
        let tol = (e["tolerance_mean"] as? NSNumber)?.doubleValue
        for (c, st) in stats.enumerated() {
            if let tol {
                XCTAssertEqual(st.mean, sums[c] / Double(st.pixels), accuracy: tol, "\(name) channel \(c) mean")
            } else {
                XCTAssertEqual(st.sum, sums[c], accuracy: 1e-6 * max(1, abs(sums[c])), "\(name) channel \(c) sum")
                XCTAssertEqual(st.min, (e["mins"] as! [NSNumber])[c].doubleValue, accuracy: 1e-6)
                XCTAssertEqual(st.max, (e["maxs"] as! [NSNumber])[c].doubleValue, accuracy: 1e-6)
            }
        }
        return s
    }

    /// JPEG tiles stored as YCbCr with subsampled chroma (an RGB brightfield scan): decoded to
    /// RGB, every sample as tifffile decodes it (before, libtiff's subsampled blocks were read as
    /// RGB: channel means 110 / 127 / 68 for 127 each on a noise image).
    func testYCbCrJPEGIsReadAsRGB() throws {
        let s = try check("jpeg_ycbcr_rgb.tif", format: .multiSample)
        XCTAssertEqual(s.channels.count, 3)
        let region = PixelRegion(x: 0, y: 0, width: s.width, height: s.height)
        // Through the tile reader too, from a second handle of the pool.
        XCTAssertEqual(try s.read(channel: 2, region: region).reduce(0, { $0 + Double($1) }),
                       (expected["jpeg_ycbcr_rgb.tif"]!["sums"] as! [NSNumber])[2].doubleValue)
    }

    /// OME planes in DimensionOrder: with focal planes fastest (XYZCT), channel c is page 2c of a
    /// two-plane stack, not page c (which is channel 0's second focal plane: channels were read
    /// mixed up). The first focal plane and time point are read.
    func testOMEPlanesFollowDimensionOrder() throws {
        let z = try check("ome_zstack_xyzct.ome.tif", format: .omeTIFF)
        XCTAssertEqual(z.channels.map(\.name), ["DAPI", "CD8", "panCK"])
        let t = try check("ome_time_xyctz.ome.tif", format: .omeTIFF)
        XCTAssertEqual(t.channels.map(\.name), ["DAPI", "CD8"])
    }

    func testBigTIFFWithSubIFDLevel() throws {
        let s = try check("bigtiff_deflate.ome.tif", format: .omeTIFF)
        XCTAssertTrue(s.isBigTIFF)
        XCTAssertEqual(s.channels.map(\.name), ["A", "B", "C"])
        XCTAssertEqual(s.levels.map(\.width), [200, 100])
        XCTAssertEqual(s.pixelSizeUm, 0.5)
    }

    /// libtiff reads page 2's NumberOfInks 8 (for one sample) and complains through the error
    /// handler while doing so: the complaint is not the next page's failure, nor a decode's.
    func testComplaintAboutAReadablePageIsNoError() throws {
        let s = try check("ink_count_mismatch.tif", format: .multiPage)
        XCTAssertEqual(s.channels.count, 3)
        let r = try TestData.runMifq(["inspect", TestData.path("formats/ink_count_mismatch.tif"), "--stats"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
    }

    /// A page chain that loops back to its first page ends there: the pages are read once.
    func testLoopingPageChain() throws {
        let s = try check("ifd_loop.tif", format: .multiPage)
        XCTAssertEqual(s.channels.count, 3)
    }

    func testPackBitsStrips() throws {
        let s = try check("packbits_uint8.tif", format: .multiPage)
        XCTAssertEqual(s.storage.compression, "PackBits")
        XCTAssertEqual(s.sampleType(), .uint8)
    }

    func testJPEGTiles() throws {
        let s = try check("jpeg_uint8.tif", format: .multiPage)
        XCTAssertEqual(s.storage.compression, "JPEG")
    }

    func testContiguousSamples() throws {
        let s = try check("contig_uint16.tif", format: .multiSample)
        // Reading two of the three samples at once decodes each strip once and splits it.
        let r = PixelRegion(x: 5, y: 7, width: 30, height: 40)
        var a = [Float](repeating: 0, count: r.count), b = a
        try a.withUnsafeMutableBufferPointer { pa in
            try b.withUnsafeMutableBufferPointer { pb in try s.read(channels: [2, 0], region: r, into: [pa, pb]) }
        }
        XCTAssertEqual(a, try s.read(channel: 2, region: r))
        XCTAssertEqual(b, try s.read(channel: 0, region: r))
    }

    /// Where the camera saturates: the file's MaxSampleValue (4095, page 0), else the type's
    /// maximum (page 1, and page 2, whose MaxSampleValue of 255 is no camera's depth beside its
    /// 16-bit samples); floating point has none.
    func testSaturationLevels() throws {
        let s = try check("max_sample_uint16.tif", format: .multiPage)
        let levels = (expected["max_sample_uint16.tif"]!["saturation_levels"] as! [NSNumber]).map(\.doubleValue)
        XCTAssertEqual((0..<3).map { s.saturationLevel(channel: $0) }, levels)
        // `inspect --stats` counts the samples at those ceilings (counted by numpy).
        let saturated = (expected["max_sample_uint16.tif"]!["saturated"] as! [NSNumber]).map(\.intValue)
        XCTAssertEqual(try ChannelStatistics.compute(s).map(\.saturated), saturated)
        XCTAssertEqual(try ChannelStatistics.compute(try Slide(path: TestData.path("formats/float32_none.tif"))).map(\.saturated), [nil, nil])
        // 29 of 1200 samples: 2.42%.
        XCTAssertTrue(SlideSummary(s, statistics: try ChannelStatistics.compute(s)).text().contains("saturated \(saturated[0]) (2.42%)\n"))
        XCTAssertEqual(try Slide(path: TestData.path("formats/packbits_uint8.tif")).saturationLevel(channel: 0), 255)
        XCTAssertNil(try Slide(path: TestData.path("formats/float32_none.tif")).saturationLevel(channel: 0))
        XCTAssertEqual([SampleType.int8, .int16, .int32, .uint32].map(\.maximum), [127, 32767, 2147483647, 4294967295])
    }

    func testFloatWithInchResolution() throws {
        let s = try check("float32_none.tif", format: .multiPage)
        XCTAssertEqual(s.sampleType(), .float32)
        XCTAssertEqual(s.pixelSizeUm ?? 0, 0.5, accuracy: 1e-9)
        XCTAssertEqual(s.pixelSizeSource, "TIFF resolution tags")
    }
}

/// `runBoth`: both tasks run, together or one after the other, and the first task's error is
/// the one thrown when both fail.
final class RunBothTests: XCTestCase {
    struct Failure: Error, Equatable { let which: Int }

    func testBothRunAndTheFirstErrorWins() throws {
        for together in [false, true] {
            var ran = [false, false]
            try runBoth(together: together, { ran[0] = true }, { ran[1] = true })
            XCTAssertEqual(ran, [true, true])
            func failure(_ a: Bool, _ b: Bool) -> Failure? {
                do {
                    try runBoth(together: together, { if a { throw Failure(which: 1) } }, { if b { throw Failure(which: 2) } })
                    return nil
                } catch { return error as? Failure }
            }
            XCTAssertEqual(failure(true, true), Failure(which: 1), "together \(together)")
            XCTAssertEqual(failure(false, true), Failure(which: 2))
            XCTAssertEqual(failure(true, false), Failure(which: 1))
            XCTAssertNil(failure(false, false))
        }
    }

    /// Together, the second task runs while the first is still running (each waits for the
    /// other to start; one after the other, this would never finish).
    func testTogetherTheTasksOverlap() throws {
        let started = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        var met = [false, false]
        try runBoth(together: true, {
            started[0].signal(); met[0] = started[1].wait(timeout: .now() + 10) == .success
        }, {
            started[1].signal(); met[1] = started[0].wait(timeout: .now() + 10) == .success
        })
        XCTAssertEqual(met, [true, true])
    }
}
