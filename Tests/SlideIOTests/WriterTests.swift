import Dispatch
import XCTest
@testable import SlideIO

final class WriterTests: XCTestCase {
    /// The recipe of testdata/written/mifq_writer.ome.tif (see scripts/fixtures/tifffile_reads_mifq.py).
    static func recipe(c: Int, x: Int, y: Int) -> Float { Float((x * 7 + y * 13 + c * 1000) % 4096 + 10) }
    static let spec = ImageSpec(width: 300, height: 200, channelNames: ["DAPI", "CD8 (Opal 570)", "panCK"],
                                sampleType: .uint16, pixelSizeUm: 0.5, tileSize: 64, levels: 3)

    /// The recipe uncompressed (tiles written in place, directories by `IFDBuilder`), as
    /// OME-TIFF and as QPTIFF: testdata/written/mifq_writer_raw.{ome.tif,qptiff}.
    static func rawSpec(_ layout: TIFFLayout) -> ImageSpec {
        var s = spec
        s.deflate = false
        s.layout = layout
        return s
    }
    static let qpi = TIFFLayout.qptiff([QPIChannel(fluor: "DAPI", biomarker: "DAPI", color: (0, 0, 255)),
                                        QPIChannel(fluor: "Opal 570", biomarker: "CD8", color: (255, 255, 0)),
                                        QPIChannel(fluor: "Opal 780", biomarker: "panCK", color: (255, 255, 255))])
    static let rawFixtures: [(file: String, spec: ImageSpec)] = [("mifq_writer_raw.ome.tif", rawSpec(.ome)),
                                                                ("mifq_writer_raw.qptiff", rawSpec(qpi))]

    static func writeRecipe(to path: String, spec: ImageSpec = spec) throws {
        let w = try OMETIFFWriter(path: path, spec: spec)
        // Out-of-order tiles of odd sizes, as a parallel pipeline would deliver them.
        for (ty, tx) in [(100, 150), (0, 0), (0, 150), (100, 0)] {
            for c in 0..<3 {
                let r = PixelRegion(x: tx, y: ty, width: 150, height: 100)
                var v = [Float](repeating: 0, count: r.count)
                for y in 0..<r.height { for x in 0..<r.width { v[y * r.width + x] = recipe(c: c, x: tx + x, y: ty + y) } }
                try v.withUnsafeBufferPointer { try w.write(channel: c, region: r, values: $0) }
            }
        }
        try w.finish(threads: 2)
    }

    /// The recipe written as whole 64² tiles, in a scrambled order, from two threads, as the
    /// simulator writes (whole tiles adopted by the writer, edge tiles copied): the reduced
    /// levels are then built while writing (`PyramidAccumulator`).
    static func writeRecipeByTiles(to path: String, spec: ImageSpec, repeatTile: Bool = false, directIO: Bool = true) throws -> Bool {
        let w = try OMETIFFWriter(path: path, spec: spec, directIO: directIO)
        let t = spec.tileSize, nx = (spec.width + t - 1) / t, ny = (spec.height + t - 1) / t
        let order = (0..<(nx * ny * 3)).map { ($0 * 7) % (nx * ny * 3) } + (repeatTile ? [5] : [])
        let errors = FirstError()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for i in stride(from: worker, to: order.count, by: 2) {
                let c = order[i] % 3, tile = order[i] / 3
                let r = PixelRegion(x: (tile % nx) * t, y: (tile / nx) * t, width: min(t, spec.width - (tile % nx) * t),
                                    height: min(t, spec.height - (tile / nx) * t))
                // Whole tiles handed over in an aligned buffer the writer frees; edge tiles copied.
                let p = UnsafeMutableRawPointer.allocate(byteCount: r.count * 2, alignment: OMETIFFWriter.tileAlignment)
                let v = p.bindMemory(to: UInt16.self, capacity: r.count)
                for y in 0..<r.height { for x in 0..<r.width { v[y * r.width + x] = UInt16(recipe(c: c, x: r.x + x, y: r.y + y)) } }
                do {
                    if r.width == t && r.height == t {
                        try w.write(channel: c, tileX: r.x / t, tileY: r.y / t, adopting: p)
                    } else {
                        defer { p.deallocate() }
                        try w.write(channel: c, region: r, samples: UnsafeRawBufferPointer(start: p, count: r.count * 2))
                    }
                } catch { errors.set(error) }
            }
        }
        try errors.rethrow()
        let built = w.pyramidBuiltWhileWriting
        try w.finish(threads: 2)
        return built
    }

    /// Pyramids built from whole tiles as they arrive are the very bytes of the committed
    /// fixtures (whose pyramid `finish` built from level 0, and tifffile checked); a tile
    /// written twice falls back to building at `finish`, with the same result.
    func testPyramidBuiltWhileWritingMatchesFixtures() throws {
        for (file, spec) in Self.rawFixtures {
            for (again, directIO) in [(false, true), (true, true), (false, false)] {
                let fresh = TestData.temporaryDirectory().appendingPathComponent(file).path
                XCTAssertEqual(try Self.writeRecipeByTiles(to: fresh, spec: spec, repeatTile: again, directIO: directIO), !again, file)
                XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fresh)),
                               try Data(contentsOf: URL(fileURLWithPath: TestData.path("written/\(file)"))),
                               "\(file) repeat \(again) direct \(directIO)")
            }
        }
        // Deflate: libtiff writes the file; the pixels at every level are the fixture's.
        let fresh = TestData.temporaryDirectory().appendingPathComponent("t.ome.tif").path
        XCTAssertTrue(try Self.writeRecipeByTiles(to: fresh, spec: Self.spec))
        let a = try Slide(path: fresh), b = try Slide(path: TestData.path("written/mifq_writer.ome.tif"))
        for k in 0..<3 {
            let (w, h) = (a.levels[k].width, a.levels[k].height)
            for c in 0..<3 {
                XCTAssertEqual(try a.read(channel: c, level: k, region: PixelRegion(x: 0, y: 0, width: w, height: h)),
                               try b.read(channel: c, level: k, region: PixelRegion(x: 0, y: 0, width: w, height: h)), "level \(k)")
            }
        }
    }

    /// Reduced pixels are 2 × 2 means rounded half away from zero, on both paths (by hand:
    /// 1+1+1+2 → 1.25 → 1, 1+1+2+2 → 1.5 → 2, 1+2+2+2 → 1.75 → 2, 4 × 9 → 9).
    func testReducedLevelRounding() throws {
        let spec = ImageSpec(width: 32, height: 16, channelNames: ["a"], sampleType: .uint16, pixelSizeUm: nil,
                             tileSize: 16, levels: 2, deflate: false)
        // Each 2×2 block holds 1 + its column-block index mod 4 twos in raster order, the rest ones.
        var v = [UInt16](repeating: 1, count: 32 * 16)
        for by in 0..<8 { for bx in 0..<16 {
            let twos = bx % 4
            for j in 0..<twos { v[(2 * by + j / 2) * 32 + 2 * bx + j % 2] = 2 }
            if bx % 8 == 7 { for j in 0..<4 { v[(2 * by + j / 2) * 32 + 2 * bx + j % 2] = 9 } }
        } }
        let expected: [Float] = (0..<16).map { bx in bx % 8 == 7 ? 9 : [1, 1, 2, 2][bx % 4] }
        for wholeTiles in [true, false] {
            let path = TestData.temporaryDirectory().appendingPathComponent("r.ome.tif").path
            let w = try OMETIFFWriter(path: path, spec: spec)
            let strips = wholeTiles ? [PixelRegion(x: 0, y: 0, width: 16, height: 16), PixelRegion(x: 16, y: 0, width: 16, height: 16)]
                                    : [PixelRegion(x: 0, y: 0, width: 32, height: 5), PixelRegion(x: 0, y: 5, width: 32, height: 11)]
            for r in strips {
                var part = [UInt16](repeating: 0, count: r.count)
                for y in 0..<r.height { for x in 0..<r.width { part[y * r.width + x] = v[(r.y + y) * 32 + r.x + x] } }
                try part.withUnsafeBytes { try w.write(channel: 0, region: r, samples: $0) }
            }
            XCTAssertEqual(w.pyramidBuiltWhileWriting, wholeTiles)
            try w.finish(threads: 2)
            let l1 = try Slide(path: path).read(channel: 0, level: 1, region: PixelRegion(x: 0, y: 0, width: 16, height: 8))
            for y in 0..<8 { XCTAssertEqual(Array(l1[(y * 16)..<(y * 16 + 16)]), expected, "row \(y), whole tiles \(wholeTiles)") }
        }
    }

    /// Whole tiles queued for O_DIRECT and later writes to the same place through the page
    /// cache land in the order they were made: the last write wins.
    func testDirectWritesKeepTheirOrder() throws {
        let spec = ImageSpec(width: 128, height: 64, channelNames: ["a"], sampleType: .uint16, pixelSizeUm: nil,
                             tileSize: 64, levels: 1, deflate: false)
        let path = TestData.temporaryDirectory().appendingPathComponent("o.ome.tif").path
        let w = try OMETIFFWriter(path: path, spec: spec)
        func put(_ r: PixelRegion, _ v: UInt16) throws {
            try [UInt16](repeating: v, count: r.count).withUnsafeBytes { try w.write(channel: 0, region: r, samples: $0) }
        }
        try put(PixelRegion(x: 0, y: 0, width: 64, height: 64), 1)     // whole tile: direct where possible
        try put(PixelRegion(x: 64, y: 0, width: 64, height: 64), 2)
        try put(PixelRegion(x: 10, y: 5, width: 3, height: 2), 7)      // part of tile 0: through the cache
        try put(PixelRegion(x: 64, y: 0, width: 64, height: 64), 3)    // tile 1 again, whole
        try w.finish(threads: 2)
        let v = try Slide(path: path).read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 128, height: 64))
        XCTAssertEqual(v[0], 1)
        XCTAssertEqual(v[5 * 128 + 10], 7)
        XCTAssertEqual(v[6 * 128 + 12], 7)
        XCTAssertEqual(v[7 * 128 + 12], 1)
        XCTAssertEqual(Set(v[(64 * 0 + 64)..<128]), [3])
        XCTAssertEqual(v.filter { $0 == 3 }.count, 64 * 64)
        XCTAssertEqual(v.filter { $0 == 7 }.count, 6)
    }

    func testRoundTripWithPyramid() throws {
        let path = TestData.temporaryDirectory().appendingPathComponent("rt.ome.tif").path
        try Self.writeRecipe(to: path)
        let s = try Slide(path: path)
        XCTAssertEqual(s.format, .omeTIFF)
        XCTAssertEqual(s.channels.map(\.name), ["DAPI", "CD8 (Opal 570)", "panCK"])
        XCTAssertEqual(s.pixelSizeUm, 0.5)
        XCTAssertEqual(s.levels.map { [$0.width, $0.height] }, [[300, 200], [150, 100], [75, 50]])
        XCTAssertEqual(s.storage.compression, "deflate")
        for c in 0..<3 {
            let v = try s.read(channel: c, region: PixelRegion(x: 0, y: 0, width: 300, height: 200))
            var bad = 0
            for y in 0..<200 { for x in 0..<300 where v[y * 300 + x] != Self.recipe(c: c, x: x, y: y) { bad += 1 } }
            XCTAssertEqual(bad, 0)
            // Level 2: 2×2 means of the level-1 2×2 means, each rounded half away from zero.
            let l2 = try s.read(channel: c, level: 2, region: PixelRegion(x: 0, y: 0, width: 75, height: 50))
            func l1(_ x: Int, _ y: Int) -> Double {
                var sum = 0.0
                for dy in 0..<2 { for dx in 0..<2 { sum += Double(Self.recipe(c: c, x: x * 2 + dx, y: y * 2 + dy)) } }
                return (sum / 4).rounded()
            }
            for (y, x) in [(0, 0), (10, 33), (49, 74)] {
                let sum = l1(2 * x, 2 * y) + l1(2 * x + 1, 2 * y) + l1(2 * x, 2 * y + 1) + l1(2 * x + 1, 2 * y + 1)
                XCTAssertEqual(l2[y * 75 + x], Float((sum / 4).rounded()), "level 2 (\(x),\(y))")
            }
        }
    }

    /// uint16 encoding rounds half away from zero, clamps, and maps NaN to 0 (checked by hand).
    func testUInt16EncodingRoundsHalfAwayAndClamps() {
        let v: [Float] = [-3, 0.49, 0.5, 1.5, 2.5, 2.4999, 1000.5, 65534.5, 65535.4, 70000, .nan, .infinity, -.infinity]
        var out = [UInt16](repeating: 7, count: v.count)
        v.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { encode(src.baseAddress!, count: v.count, as: .uint16, into: $0.baseAddress!) }
        }
        XCTAssertEqual(out, [0, 0, 1, 2, 3, 2, 1001, 65535, 65535, 65535, 0, 65535, 0])
    }

    func testFloatAndByteTypes() throws {
        let dir = TestData.temporaryDirectory()
        for type in [SampleType.float32, .uint8, .uint32] {
            let path = dir.appendingPathComponent("\(type).ome.tif").path
            let spec = ImageSpec(width: 70, height: 40, channelNames: ["a"], sampleType: type, pixelSizeUm: nil, tileSize: 32, levels: 1)
            let w = try OMETIFFWriter(path: path, spec: spec)
            let plane = (0..<(70 * 40)).map { Float($0 % 251) + (type == .float32 ? 0.25 : 0) }
            try w.write(channel: 0, plane: plane)
            try w.finish(threads: 2)
            let s = try Slide(path: path)
            XCTAssertEqual(s.sampleType(), type)
            XCTAssertNil(s.pixelSizeUm)
            XCTAssertEqual(try s.read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 70, height: 40)), plane)
        }
    }

    /// A 40 × 20 uint32 label file in tiles of 16 with `overlays` laid over it in turn (each
    /// label plus its offset), read back.
    func overlaid(deflate: Bool, _ overlays: [(PixelRegion, [UInt32], offset: UInt32)]) throws -> Slide {
        let path = TestData.temporaryDirectory().appendingPathComponent("labels.ome.tif").path
        var spec = ImageSpec(width: 40, height: 20, channelNames: ["nuclei"], sampleType: .uint32, pixelSizeUm: nil, tileSize: 16, levels: 1)
        spec.deflate = deflate
        let w = try OMETIFFWriter(path: path, spec: spec)
        for (region, labels, offset) in overlays {
            try labels.withUnsafeBufferPointer { try w.overlay(channel: 0, region: region, labels: $0, offset: offset) }
        }
        try w.finish(threads: 2)
        return try Slide(path: path)
    }

    /// Overlaid rows keep what is there wherever their labels are 0: two rows laid over each
    /// other across a tile border, the second's labels numbered after 100 objects, worked out
    /// by hand; deflated and uncompressed files alike.
    func testOverlayKeepsEarlierLabels() throws {
        for deflate in [true, false] {
            let a: [UInt32] = [7, 7, 0, 0, 9, 9, 9, 0, 0, 0]        // x 12..<22, row 3
            let b: [UInt32] = [0, 5, 5, 5, 0, 0, 0, 0, 8, 0, 0, 8]  // x 12..<24, row 3
            let slide = try overlaid(deflate: deflate, [(PixelRegion(x: 12, y: 3, width: 10, height: 1), a, offset: 0),
                                                        (PixelRegion(x: 12, y: 3, width: 12, height: 1), b, offset: 100)])
            let row = try slide.read(channel: 0, region: PixelRegion(x: 10, y: 3, width: 16, height: 1))
            XCTAssertEqual(row, [0, 0, 7, 105, 105, 105, 9, 9, 9, 0, 108, 0, 0, 108, 0, 0], "deflate \(deflate)")
            XCTAssertEqual(try slide.read(channel: 0, region: PixelRegion(x: 0, y: 4, width: 40, height: 1)),
                           [Float](repeating: 0, count: 40))
        }
    }

    /// Overlaid regions of several rows across tile borders in both directions (tiles of 16,
    /// regions over x 12–17 and y 14–17): the second keeps the first's labels wherever its own
    /// are 0; worked out by hand.
    func testOverlayRegionsAcrossTileCorners() throws {
        for deflate in [true, false] {
            let a: [UInt32] = [1, 0, 0, 0, 0, 2,
                               0, 0, 3, 3, 0, 0,
                               0, 0, 0, 0, 0, 0,
                               4, 0, 0, 0, 0, 5]
            let b: [UInt32] = [6, 0, 0, 7,
                               0, 8, 0, 0]
            let slide = try overlaid(deflate: deflate, [(PixelRegion(x: 12, y: 14, width: 6, height: 4), a, offset: 0),
                                                        (PixelRegion(x: 13, y: 15, width: 4, height: 2), b, offset: 0)])
            let got = try slide.read(channel: 0, region: PixelRegion(x: 12, y: 14, width: 6, height: 4))
            XCTAssertEqual(got, [1, 0, 0, 0, 0, 2,
                                 0, 6, 3, 3, 7, 0,
                                 0, 0, 8, 0, 0, 0,
                                 4, 0, 0, 0, 0, 5], "deflate \(deflate)")
            let whole = try slide.read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 40, height: 20))
            XCTAssertEqual(whole.filter { $0 != 0 }.count, 9)   // nothing outside the regions
        }
    }

    func testNothingAppearsUntilFinishAndCancelCleansUp() throws {
        for spec in [Self.spec, Self.rawSpec(.ome)] {
            let dir = TestData.temporaryDirectory()
            let path = dir.appendingPathComponent("x.ome.tif").path
            let w = try OMETIFFWriter(path: path, spec: spec)
            try w.write(channel: 0, plane: [Float](repeating: 1, count: 300 * 200))
            XCTAssertFalse(FileManager.default.fileExists(atPath: path))
            w.cancel()
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
        }
        XCTAssertThrowsError(try OMETIFFWriter(path: "/nonexistent-dir/x.ome.tif", spec: Self.spec)) {
            XCTAssertTrue("\($0)".hasPrefix("/nonexistent-dir/x.ome.tif: cannot write"))
        }
    }

    /// tifffile read the committed file; its view is in mifq_writer.tifffile.json. Our writer
    /// still produces the same pixels, and our reader agrees with tifffile on the committed file.
    func testTifffileReadsWhatWeWrite() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestData.path("written/mifq_writer.tifffile.json")))
        let seen = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(seen["channel_names"] as? [String], Self.spec.channelNames)
        XCTAssertEqual(seen["physical_size_x"] as? Double, 0.5)
        let levels = seen["levels"] as! [[String: Any]]
        let fresh = TestData.temporaryDirectory().appendingPathComponent("w.ome.tif").path
        try Self.writeRecipe(to: fresh)
        for path in [TestData.path("written/mifq_writer.ome.tif"), fresh] {
            let s = try Slide(path: path)
            XCTAssertEqual(s.levels.count, levels.count)
            for (k, lv) in levels.enumerated() {
                XCTAssertEqual(lv["shape"] as? [Int], [3, s.levels[k].height, s.levels[k].width])
                let sums = try ChannelStatistics.compute(s, level: k).map { $0.integerSum! }
                XCTAssertEqual(sums, (lv["sums"] as! [NSNumber]).map(\.int64Value), "\(path) level \(k)")
            }
        }
    }

    /// Uncompressed files, whose directories we build ourselves: tifffile's view of the committed
    /// files (pages, names, thumbnail, sums per level, pixels checked against the recipe by the
    /// script) matches our reader's, the writer still produces those files byte for byte, and
    /// they read exactly like the deflate file libtiff wrote.
    func testUncompressedFilesWrittenInPlace() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestData.path("written/mifq_writer_raw.tifffile.json")))
        let seen = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        let reference = try Slide(path: TestData.path("written/mifq_writer.ome.tif"))
        for (file, spec) in Self.rawFixtures {
            let committed = TestData.path("written/\(file)")
            let fresh = TestData.temporaryDirectory().appendingPathComponent(file).path
            try Self.writeRecipe(to: fresh, spec: spec)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: fresh)), try Data(contentsOf: URL(fileURLWithPath: committed)), file)
            let view = seen[file]!
            let s = try Slide(path: committed)
            XCTAssertEqual(s.storage.compression, "none")
            XCTAssertEqual(s.pixelSizeUm, 0.5)
            XCTAssertEqual(view["pages"] as? Int, file.hasSuffix(".qptiff") ? 3 * 3 + 1 : 3)
            XCTAssertEqual(s.levels.map { [$0.width, $0.height] }, [[300, 200], [150, 100], [75, 50]])
            let names = view["channel_names"] as! [String]
            XCTAssertEqual(names, file.hasSuffix(".qptiff") ? ["DAPI", "Opal 570", "Opal 780"] : Self.spec.channelNames)
            let levels = view["levels"] as! [[String: Any]]
            XCTAssertEqual(levels.count, 3)
            for (k, lv) in levels.enumerated() {
                let sums = try ChannelStatistics.compute(s, level: k).map { $0.integerSum! }
                XCTAssertEqual(sums, (lv["sums"] as! [NSNumber]).map(\.int64Value), "\(file) level \(k)")
                XCTAssertEqual(sums, try ChannelStatistics.compute(reference, level: k).map { $0.integerSum! }, "\(file) level \(k) vs deflate")
            }
            if file.hasSuffix(".qptiff") {
                XCTAssertEqual(view["thumbnail_shape"] as? [Int], [200, 300, 3])
                XCTAssertEqual(s.associatedImages.map(\.role), ["Thumbnail"])
            }
        }
    }

    /// BigTIFF directories (8-byte counts and offsets, LONG8 / IFD8 types) from IFDBuilder, forced
    /// on a small file: libtiff reads them back to the same pixels as the deflate reference, at
    /// every level, with the QPTIFF thumbnail.
    func testUncompressedBigTIFFDirectories() throws {
        let reference = try Slide(path: TestData.path("written/mifq_writer.ome.tif"))
        for (file, var spec) in Self.rawFixtures {
            spec.bigTIFF = true
            let path = TestData.temporaryDirectory().appendingPathComponent(file).path
            try Self.writeRecipe(to: path, spec: spec)
            let s = try Slide(path: path)
            XCTAssertTrue(s.isBigTIFF, file)
            XCTAssertEqual(s.pixelSizeUm, 0.5)
            XCTAssertEqual(s.levels.count, 3)
            for k in 0..<3 {
                XCTAssertEqual(try ChannelStatistics.compute(s, level: k).map { $0.integerSum! },
                               try ChannelStatistics.compute(reference, level: k).map { $0.integerSum! }, "\(file) level \(k)")
            }
            XCTAssertEqual(s.associatedImages.map(\.role), file.hasSuffix(".qptiff") ? ["Thumbnail"] : [])
        }
    }

    /// Set MIFQ_WRITE_FIXTURES=1 to regenerate testdata/written/mifq_writer*.{ome.tif,qptiff},
    /// then run scripts/fixtures/tifffile_reads_mifq.py.
    func testRegenerateFixture() throws {
        guard ProcessInfo.processInfo.environment["MIFQ_WRITE_FIXTURES"] == "1" else { return }
        try Self.writeRecipe(to: TestData.path("written/mifq_writer.ome.tif"))
        for (file, spec) in Self.rawFixtures { try Self.writeRecipe(to: TestData.path("written/\(file)"), spec: spec) }
    }

    /// Non-finite float samples (NaN, ±infinity) are read as 0; every other value as written.
    func testNonFiniteFloatSamplesReadAsZero() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-nonfinite-\(UUID().uuidString).ome.tif").path
        defer { unlink(path) }
        let w = try OMETIFFWriter(path: path, spec: ImageSpec(width: 40, height: 30, channelNames: ["a"], sampleType: .float32,
                                                              pixelSizeUm: 0.5, tileSize: 16))
        var values = (0..<(40 * 30)).map { Float($0) * 0.25 - 100 }
        values[3] = .nan; values[77] = .infinity; values[1199] = -.infinity; values[500] = .greatestFiniteMagnitude
        try values.withUnsafeBufferPointer { try w.write(channel: 0, region: PixelRegion(x: 0, y: 0, width: 40, height: 30), values: $0) }
        try w.finish(threads: 2)
        let read = try Slide(path: path).read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 40, height: 30))
        var expected = values
        expected[3] = 0; expected[77] = 0; expected[1199] = 0
        XCTAssertEqual(read, expected)
        // inspect --stats counts them apart and leaves them out; its JSON can be written.
        let slide = try Slide(path: path)
        let st = try ChannelStatistics.compute(slide)[0]
        XCTAssertEqual(st.nonFinite, 3)
        XCTAssertEqual(st.pixels, 1200)
        XCTAssertEqual(st.min, -100)
        XCTAssertEqual(st.max, Double(Float.greatestFiniteMagnitude))
        let finite = values.filter(\.isFinite).map(Double.init)
        XCTAssertEqual(st.mean, finite.reduce(0, +) / 1197, accuracy: 1e-6 * abs(st.mean))
        let json = try SlideSummary(slide, statistics: [st]).json()
        XCTAssertTrue(json.contains("\"nonFinite\" : 3"), json)
    }

    /// Temporary files left by a process of this host that has exited are removed (from the
    /// folder and its subfolders); a running process's, another host's and other hidden files stay.
    func testLeftoverTemporaryFilesOfExitedProcessesAreRemoved() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mifq-leftovers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cells"), withIntermediateDirectories: true)
        let exited = Process()
        exited.executableURL = URL(fileURLWithPath: "/bin/true")
        try exited.run(); exited.waitUntilExit()
        let dead = exited.processIdentifier, host = TemporaryFiles.host
        let id = UUID().uuidString
        let names = [".spool-\(host)-\(dead)-\(id)", "cells/.a.csv.tmp-\(host)-\(dead)",       // removed
                     ".spool-\(host)-\(getpid())-\(id)", "cells/.b.csv.tmp-\(host)-\(getpid())", // running
                     ".spool-other-\(host)-\(dead)-\(id)", ".c.csv.tmp-other\(host)-\(dead)",     // other hosts
                     ".spool-\(host)-2-\(dead)-\(id)", ".d.csv.tmp-\(host)-2-\(dead)",            // (host "<ours>-2")
                     ".hidden", "cells/.tmp-\(host)-\(dead)x", "slides.csv"]
        for n in names { XCTAssertTrue(FileManager.default.createFile(atPath: dir.appendingPathComponent(n).path, contents: Data())) }
        XCTAssertEqual(TemporaryFiles.removeLeftovers(in: dir), 2)
        for (k, n) in names.enumerated() {
            XCTAssertEqual(FileManager.default.fileExists(atPath: dir.appendingPathComponent(n).path), k >= 2, n)
        }
        // The names the writers use are the ones recognised.
        let url = dir.appendingPathComponent("t.csv")
        XCTAssertEqual(TemporaryFiles.writer(of: TemporaryFiles.beside(url).lastPathComponent), getpid())
        XCTAssertEqual(TemporaryFiles.writer(of: TemporaryFiles.spool(in: dir).lastPathComponent), getpid())
    }

    /// A binned slide (`Slide.binned`), by hand from the recipe of testdata/written/mifq_writer.ome.tif
    /// (300 × 200, levels 1×, 2×, 4×): where the recipe does not wrap it is linear in x and y, so a
    /// block's mean is its value at the block's centre, and blocks at the right and bottom edges
    /// hold fewer pixels.
    func testBinnedSlide() throws {
        let file = try Slide(path: TestData.path("written/mifq_writer.ome.tif"))
        let s = file.binned(7)
        XCTAssertEqual([s.width, s.height, s.binning], [43, 29, 7])
        XCTAssertEqual(s.pixelSizeUm, 3.5)
        XCTAssertEqual(s.filePixelSizeUm, 0.5)
        XCTAssertEqual(s.levels.count, 1, "the file's 2× and 4× levels are finer than the bins")
        let full = PixelRegion(x: 0, y: 0, width: 43, height: 29)
        let c0 = try s.read(channel: 0, region: full)
        XCTAssertEqual(c0[3 * 43 + 2], 441, "x 14–20, y 21–27: 7 · 17 + 13 · 24 + 10")
        XCTAssertEqual(c0[28 * 43], 2598.5, "x 0–6, y 196–199: 7 · 3 + 13 · 197.5 + 10")
        XCTAssertEqual(c0[42], 2124.5, "x 294–299, y 0–6: 7 · 296.5 + 13 · 3 + 10")
        XCTAssertEqual(try s.read(channel: 1, region: PixelRegion(x: 2, y: 3, width: 1, height: 1)), [1441])
        // Any region gives the whole level's pixels, here one that reaches both far edges.
        let c2 = try s.read(channel: 2, region: full)
        let part = try s.read(channel: 2, region: PixelRegion(x: 37, y: 20, width: 6, height: 9))
        for y in 0..<9 { XCTAssertEqual(Array(part[(y * 6)..<(y * 6 + 6)]), Array(c2[((20 + y) * 43 + 37)..<((20 + y) * 43 + 43)])) }
        // Binned by 2: the file's 4× level stays, as a 2× level of the binned slide.
        let b2 = file.binned(2)
        XCTAssertEqual(b2.levels.map(\.width), [150, 75])
        XCTAssertEqual(b2.levels.map(\.downsample), [1, 2])
        let r = PixelRegion(x: 10, y: 5, width: 20, height: 12)
        XCTAssertEqual(try b2.read(channel: 1, level: 1, region: r), try file.read(channel: 1, level: 2, region: r))
        XCTAssertEqual(try b2.read(channel: 0, region: PixelRegion(x: 0, y: 0, width: 1, height: 1)), [(0 + 7 + 13 + 20) / 4 + 10])
        XCTAssertTrue(file.binned(1) === file)
        // Read in bands of rows (here 3, 2 and 1 bins high), the pixels are the same.
        for floats in [3 * 300 * 7, 2 * 300 * 7, 1] {   // the file region is 300 px wide
            var banded = [Float](repeating: -1, count: full.count)
            try banded.withUnsafeMutableBufferPointer { try s.readBinned(channels: [2], region: full, into: [$0], cache: nil, scratchFloats: floats) }
            XCTAssertEqual(banded, c2, "\(floats) floats of scratch")
        }
    }

    /// A write that fails names the file and says what the system said (a full disk: "No space
    /// left on device"), not Foundation's error dump over several fields.
    func testWriteErrorsSayTheSystemsReason() {
        let full = NSError(domain: NSCocoaErrorDomain, code: 640,
                           userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
        XCTAssertEqual(AtomicFile.reason(full), String(cString: strerror(ENOSPC)))
        XCTAssertThrowsError(try AtomicFile.writing("/out/cells/P1.csv") { throw full }) {
            XCTAssertEqual("\($0)", "/out/cells/P1.csv: cannot write (\(String(cString: strerror(ENOSPC))))")
        }
    }

    /// A temporary name fits in a file name's 255 bytes however long the output's name (a slide
    /// id of 243 characters made its cell table's temporary name too long to create), keeps the
    /// name's beginning, tells two long names apart and is still recognised as this process's.
    func testTemporaryNamesOfLongNamesFit() throws {
        let dir = URL(fileURLWithPath: "/out/cells")
        let long = String(repeating: "ä", count: 120) + "b.csv", other = String(repeating: "ä", count: 120) + "c.csv"
        let t = TemporaryFiles.beside(dir.appendingPathComponent(long)).lastPathComponent
        XCTAssertLessThanOrEqual(t.utf8.count, 255)
        XCTAssertTrue(t.hasPrefix("." + String(repeating: "ä", count: 50)))
        XCTAssertTrue(t.hasSuffix(".tmp-\(TemporaryFiles.owner)"))
        XCTAssertNotEqual(t, TemporaryFiles.beside(dir.appendingPathComponent(other)).lastPathComponent)
        XCTAssertEqual(TemporaryFiles.writer(of: t), getpid())
        XCTAssertEqual(TemporaryFiles.beside(dir.appendingPathComponent("P1.csv")).lastPathComponent, ".P1.csv.tmp-\(TemporaryFiles.owner)")
        // The OME-TIFF writer's spool beside a 250-character output name (`mifq segment --out`).
        let spool = TemporaryFiles.beside(path: "/out/" + String(repeating: "l", count: 246) + ".tif", suffix: ".spool-123-4567890123")
        XCTAssertEqual(URL(fileURLWithPath: spool).lastPathComponent.utf8.count, 255)
        XCTAssertTrue(spool.hasPrefix("/out/lll") && spool.hasSuffix(".spool-123-4567890123"))
        XCTAssertEqual(TemporaryFiles.beside(path: "/out/a.tif", suffix: ".spool-1"), "/out/a.tif.spool-1")
    }
}
