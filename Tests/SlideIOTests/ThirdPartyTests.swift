import XCTest
@testable import SlideIO

/// Files written by tifffile; EXPECTED.json gives exact decoding targets.
final class ThirdPartyTests: XCTestCase {
    struct Expected {
        let json: [String: Any]
        var levels: [String: Any] { json["levels"] as! [String: Any] }
        func planes(level: Int) -> [[String: Any]] { (levels["\(level)"] as! [String: Any])["planes"] as! [[String: Any]] }
        func shape(level: Int) -> [Int] { (levels["\(level)"] as! [String: Any])["shape"] as! [Int] }
    }

    lazy var expected: Expected = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: TestData.path("third-party/EXPECTED.json")))
        return Expected(json: try! JSONSerialization.jsonObject(with: data) as! [String: Any])
    }()

    /// sha256 of a decoded uint16 plane as little-endian bytes, like EXPECTED.json.
    func planeHash(_ slide: Slide, channel: Int, level: Int) throws -> String {
        let lv = slide.levels[level]
        let v = try slide.read(channel: channel, level: level, region: PixelRegion(x: 0, y: 0, width: lv.width, height: lv.height))
        var bytes = [UInt8](); bytes.reserveCapacity(v.count * 2)
        for f in v { let u = UInt16(f); bytes.append(UInt8(u & 0xff)); bytes.append(UInt8(u >> 8)) }
        return SHA256.hex(bytes)
    }

    func checkPyramidFile(_ name: String, format: SlideFormat, levels: Int) throws {
        let slide = try Slide(path: TestData.path("third-party/\(name)"))
        XCTAssertEqual(slide.format, format)
        XCTAssertEqual(slide.levels.count, levels)
        XCTAssertEqual(slide.pixelSizeUm!, 0.4961, accuracy: 1e-9)
        XCTAssertEqual(slide.channels.map(\.name), ["DAPI", "Opal 480", "Opal 520", "Opal 570", "Opal 620", "Opal 690", "Opal 780"])
        for k in 0..<levels {
            let shape = expected.shape(level: k)
            XCTAssertEqual([slide.channels.count, slide.levels[k].height, slide.levels[k].width], shape, "level \(k)")
            for (c, plane) in expected.planes(level: k).enumerated() {
                XCTAssertEqual(try planeHash(slide, channel: c, level: k), plane["sha256_le"] as? String, "\(name) level \(k) channel \(c)")
            }
        }
        let stats = try ChannelStatistics.compute(slide)
        for (c, plane) in expected.planes(level: 0).enumerated() {
            XCTAssertEqual(stats[c].integerSum, (plane["sum"] as! NSNumber).int64Value)
            XCTAssertEqual(stats[c].min, (plane["min"] as! NSNumber).doubleValue)
            XCTAssertEqual(stats[c].max, (plane["max"] as! NSNumber).doubleValue)
            XCTAssertEqual(stats[c].pixels, 1530 * 1020)
        }
        for k in 1..<levels {
            let s = try ChannelStatistics.compute(slide, level: k)
            XCTAssertEqual(s.map { $0.integerSum! }, expected.planes(level: k).map { ($0["sum"] as! NSNumber).int64Value })
        }
    }

    func testOMEPyramidWithSubIFDs() throws {
        try checkPyramidFile("synth7_ome_pyramid.ome.tif", format: .omeTIFF, levels: 3)
    }

    func testQPTIFFSequentialLevelsAndSkippedPages() throws {
        try checkPyramidFile("synth7_qptiff_like.qptiff", format: .qptiff, levels: 3)
        let slide = try Slide(path: TestData.path("third-party/synth7_qptiff_like.qptiff"))
        XCTAssertEqual(slide.channels.map { $0.biomarker ?? "" }, ["DAPI", "PD-L1", "CD8", "CD4", "CD68", "CD11c", "panCK"])
        XCTAssertEqual(slide.associatedImages.map(\.role), ["Thumbnail", "Overview", "Label"])
        XCTAssertEqual(slide.channelIndex(named: "CD8"), 2)
        XCTAssertEqual(slide.channelIndex(named: "opal 780"), 6)
    }

    func testPlanarLZWStripsAsSamples() throws {
        let slide = try Slide(path: TestData.path("third-party/synth7_lzw_strips_planar.tif"))
        XCTAssertEqual(slide.format, .multiSample)
        XCTAssertEqual(slide.levels.count, 1)
        XCTAssertEqual(slide.pixelSizeUm ?? 0, 0.4961, accuracy: 1e-6)  // resolution tags, cm
        for (c, plane) in expected.planes(level: 0).enumerated() {
            XCTAssertEqual(try planeHash(slide, channel: c, level: 0), plane["sha256_le"] as? String)
        }
    }

    /// Region reads that straddle tiles equal the same pixels cut from a whole-plane read,
    /// also when several threads read at once.
    func testRegionReadsAcrossTilesAndThreads() throws {
        let slide = try Slide(path: TestData.path("third-party/synth7_ome_pyramid.ome.tif"))
        let full = try slide.read(channel: 3, region: PixelRegion(x: 0, y: 0, width: 1530, height: 1020))
        let regions = (0..<24).map { i in PixelRegion(x: (i * 97) % 1200, y: (i * 61) % 700, width: 200 + i * 3, height: 150 + i) }
        var failures = [Int](repeating: 0, count: regions.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: regions.count) { i in
            let r = regions[i]
            var bad = 0
            let multi = (try? { () throws -> [[Float]] in
                var a = [Float](repeating: 0, count: r.count), b = a
                try a.withUnsafeMutableBufferPointer { pa in
                    try b.withUnsafeMutableBufferPointer { pb in
                        try slide.read(channels: [3, 0], region: r, into: [pa, pb])
                    }
                }
                return [a, b]
            }()) ?? []
            if multi.isEmpty { bad = -1 } else {
                for y in 0..<r.height { for x in 0..<r.width where multi[0][y * r.width + x] != full[(r.y + y) * 1530 + r.x + x] { bad += 1 } }
            }
            lock.lock(); failures[i] = bad; lock.unlock()
        }
        XCTAssertEqual(failures, [Int](repeating: 0, count: regions.count))
    }

    /// Reads through the block cache give the same pixels as reads without it, from several
    /// threads at once, with a cache small enough that blocks are dropped and decoded again;
    /// blocks shared by overlapping regions are served from the cache. Tiles in separate pages,
    /// and strips holding every channel as a separate sample.
    func testBlockCacheGivesTheSamePixels() throws {
        for file in ["third-party/synth7_ome_pyramid.ome.tif", "third-party/synth7_lzw_strips_planar.tif"] {
            let plain = try Slide(path: TestData.path(file))
            let W = plain.width, H = plain.height
            let whole = PixelRegion(x: 0, y: 0, width: W, height: H)
            let full = try [3, 0].map { try plain.read(channel: $0, region: whole) }
            let slide = try Slide(path: TestData.path(file))
            let cache = slide.blockCache(window: 300, height: 200, channels: [3, 0])
            XCTAssertLessThan(cache.capacity, W * H * 2 * 2, file)  // smaller than the two planes
            let regions = (0..<40).map { i in
                PixelRegion(x: (i * 97) % (W - 330), y: (i * 61) % (H - 320), width: 200 + i * 3, height: 150 + i)
            }
            var bad = [Int](repeating: -1, count: regions.count)
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: regions.count) { i in
                let r = regions[i]
                var a = [Float](repeating: 0, count: r.count), b = a
                let ok = (try? a.withUnsafeMutableBufferPointer { pa in
                    try b.withUnsafeMutableBufferPointer { pb in try slide.read(channels: [3, 0], region: r, into: [pa, pb], cache: cache) }
                }) != nil
                var n = 0
                for y in 0..<r.height { for x in 0..<r.width {
                    let g = (r.y + y) * W + r.x + x
                    if a[y * r.width + x] != full[0][g] || b[y * r.width + x] != full[1][g] { n += 1 }
                } }
                lock.lock(); bad[i] = ok ? n : -1; lock.unlock()
            }
            XCTAssertEqual(bad, [Int](repeating: 0, count: regions.count), file)
            let counts = cache.counts
            XCTAssertGreaterThan(counts.hits, 0, file)
            XCTAssertGreaterThan(counts.decoded, 0, file)
            XCTAssertEqual(try slide.read(channel: 0, region: whole), full[1], file)
        }
    }

    /// A tile pass in bands decodes every block once, also where two bands meet. The pyramid
    /// file (1530 × 1020, 256-px blocks: 6 × 4 per channel), channels 3 and 0, read as the
    /// tile pass reads it: 256-px tiles with a 40-px halo, in bands of two tile rows (512 px:
    /// one seam, at row 512), column by column within a band, each tile in runs of 30 rows.
    /// Every block is decoded whole once, 48 for the two channels; the band above the seam
    /// reads rows 512–551 of the six blocks below it as their heads (12 heads), and the band
    /// below reads rows 472–511 of the six above from the tails they kept. Every read equals
    /// the file's pixels. The same cache without the seams decodes the blocks on both sides of
    /// the seam again (more than 48).
    func testBandsDecodeTheBlocksAtTheirSeamOnce() throws {
        let slide = try Slide(path: TestData.path("third-party/synth7_ome_pyramid.ome.tif"))
        let W = slide.width, H = slide.height
        XCTAssertEqual([W, H, slide.storage.blockWidth, slide.storage.blockHeight], [1530, 1020, 256, 256])
        let whole = PixelRegion(x: 0, y: 0, width: W, height: H)
        let full = try [3, 0].map { try slide.read(channel: $0, region: whole) }
        let (tile, halo, band) = (256, 40, 512)
        func pass(_ seams: BlockCache.Seams?) throws -> BlockCache {
            let cache = slide.blockCache(window: tile + 2 * halo, height: band + 2 * halo, channels: [3, 0], seams: seams)
            var bad = 0
            for y0 in stride(from: 0, to: H, by: band) { for x in stride(from: 0, to: W, by: tile) {
                for y in stride(from: y0, to: min(H, y0 + band), by: tile) {
                    let top = max(0, y - halo), bottom = min(H, y + tile + halo)
                    let left = max(0, x - halo), right = min(W, x + tile + halo)
                    for r in stride(from: top, to: bottom, by: 30) {
                        let region = PixelRegion(x: left, y: r, width: right - left, height: min(30, bottom - r))
                        var a = [Float](repeating: -1, count: region.count), b = a
                        try a.withUnsafeMutableBufferPointer { pa in
                            try b.withUnsafeMutableBufferPointer { pb in try slide.read(channels: [3, 0], region: region, into: [pa, pb], cache: cache) }
                        }
                        for i in 0..<region.count {
                            let g = (region.y + i / region.width) * W + region.x + i % region.width
                            if a[i] != full[0][g] || b[i] != full[1][g] { bad += 1 }
                        }
                    }
                }
            } }
            XCTAssertEqual(bad, 0, "seams \(String(describing: seams))")
            return cache
        }
        let banded = try pass(BlockCache.Seams(every: band, halo: halo))
        XCTAssertEqual(banded.counts.decoded, 48)
        XCTAssertEqual(banded.counts.heads, 12)
        let plain = try pass(nil)
        XCTAssertGreaterThan(plain.counts.decoded, 48)
        XCTAssertEqual(plain.counts.heads, 0)

        // A head only before its own band has begun: rows 520–529 of the first block below the
        // seam are read from its head (its first 40 rows: one head); once a block of that band
        // has been decoded whole (rows 800–809, the block below), the same rows of another block
        // below the seam are read whole (the band's own tiles read on past the halo): still one
        // head, and two whole blocks.
        let cache = slide.blockCache(window: tile + 2 * halo, height: band + 2 * halo, channels: [0],
                                     seams: BlockCache.Seams(every: band, halo: halo))
        for (x, y) in [(0, 520), (0, 800), (768, 520)] {
            let r = PixelRegion(x: x, y: y, width: 10, height: 10)
            var a = [Float](repeating: -1, count: r.count)
            try a.withUnsafeMutableBufferPointer { try slide.read(channels: [0], region: r, into: [$0], cache: cache) }
            XCTAssertEqual(a, (0..<r.count).map { full[1][(y + $0 / 10) * W + x + $0 % 10] })
        }
        XCTAssertEqual(cache.counts.heads, 1)
        XCTAssertEqual(cache.counts.decoded, 2)
    }

    /// A region read through the cache while another thread is decoding one of its blocks reads
    /// the region's other blocks first and then takes that block as the other thread decoded
    /// it. Deterministic: the other thread's decode is held open until the reader has decoded
    /// the region's second block (with waiting in place of leaving it for last, the reader
    /// would sit on the first block and the test would time out).
    func testBlockBeingDecodedElsewhereIsReadLast() throws {
        let slide = try Slide(path: TestData.path("third-party/synth7_ome_pyramid.ome.tif"))
        let (tiled, bw, bh) = (slide.storage.tiled, slide.storage.blockWidth, slide.storage.blockHeight)
        XCTAssertTrue(tiled)
        XCTAssertEqual([bw, bh, slide.width], [256, 256, 1530])
        XCTAssertEqual(slide.sampleType(channel: 0), .uint16)
        // Block X is the tile in column 1, row 1 (index 1 × 6 + 1); the region covers X, then
        // the tile to its right.
        let blockX = PixelRegion(x: 256, y: 256, width: 256, height: 256)
        let region = PixelRegion(x: 300, y: 300, width: 400, height: 100)
        let xPixels = try slide.read(channel: 0, region: blockX)
        let expected = try slide.read(channel: 0, region: region)
        let cache = slide.blockCache(window: 1024, height: 1024, channels: [0])
        let key = BlockCache.Key(directory: slide.planeDirectoryOffset(channel: 0), block: 7)

        // Another thread decodes X, holding the decode open until the reader (this thread)
        // has decoded the region's next tile, or 10 s have passed.
        final class Count: @unchecked Sendable { var value = -1 }
        let whileHeld = Count()
        let started = DispatchSemaphore(value: 0), done = DispatchGroup()
        DispatchQueue.global().async(group: done) {
            _ = try? cache.block(key, size: bw * bh * 2) { bytes in
                started.signal()
                let deadline = Date().addingTimeInterval(10)
                while cache.counts.decoded < 1 && Date() < deadline { usleep(1000) }
                whileHeld.value = cache.counts.decoded
                let p = bytes.assumingMemoryBound(to: UInt16.self)
                for i in 0..<(bw * bh) { p[i] = UInt16(xPixels[i]) }
            }
        }
        started.wait()
        var got = [Float](repeating: -1, count: region.count)
        try got.withUnsafeMutableBufferPointer { try slide.read(channels: [0], region: region, into: [$0], cache: cache) }
        done.wait()
        XCTAssertEqual(whileHeld.value, 1, "the reader waited on the block being decoded instead of reading the next one")
        XCTAssertEqual(cache.counts.decoded, 2)  // X once (by the other thread), the next tile once
        XCTAssertEqual(got, expected)
    }

    func testPixelSizeOverrideAndMissing() throws {
        let slide = try Slide(path: TestData.path("third-party/synth7_ome_pyramid.ome.tif"), pixelSizeUm: 0.25)
        XCTAssertEqual(slide.pixelSizeUm, 0.25)
        XCTAssertEqual(slide.pixelSizeSource, "--pixel-size")
        let none = try Slide(path: TestData.path("bad/bad_deflate_data.tif"))
        XCTAssertNil(none.pixelSizeUm)
        XCTAssertThrowsError(try none.requirePixelSize()) { e in
            XCTAssertEqual(e as? SlideError, .noPixelSize(path: TestData.path("bad/bad_deflate_data.tif")))
        }
    }

    func testInspectJSONMatchesExpected() throws {
        let r = try TestData.runMifq(["inspect", TestData.path("third-party/synth7_qptiff_like.qptiff"), "--json", "--stats"])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(json["format"] as? String, "QPTIFF")
        XCTAssertEqual(json["pixel_size_um"] as? Double, 0.4961)
        let stats = json["statistics"] as! [[String: Any]]
        XCTAssertEqual(stats.map { ($0["integerSum"] as! NSNumber).int64Value },
                       expected.planes(level: 0).map { ($0["sum"] as! NSNumber).int64Value })
        XCTAssertTrue(r.err.isEmpty, "libtiff must not print to stderr: \(r.err)")
    }
}
