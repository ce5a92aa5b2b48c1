import Foundation
import XCTest
@testable import SlideIO

/// Every damaged file gives one typed error, and the CLI one line on stderr and exit 1.
final class BadInputTests: XCTestCase {
    func assertOpenOrDecodeFails(_ rel: String, contains words: [String], file: StaticString = #filePath, line: UInt = #line) {
        let path = TestData.path(rel)
        var message = ""
        do {
            let s = try Slide(path: path)
            _ = try ChannelStatistics.compute(s)
            XCTFail("\(rel) was accepted", file: file, line: line)
        } catch {
            message = "\(error)"
        }
        XCTAssertTrue(message.hasPrefix(path), "message must name the file: \(message)", file: file, line: line)
        for w in words { XCTAssertTrue(message.contains(w), "'\(w)' missing from: \(message)", file: file, line: line) }
        let r = try? TestData.runMifq(["inspect", path, "--stats"])
        XCTAssertEqual(r?.status, 1, file: file, line: line)
        XCTAssertEqual(r?.out, "", file: file, line: line)
        let lines = r?.err.split(separator: "\n") ?? []
        XCTAssertEqual(lines.count, 1, "stderr: \(r?.err ?? "")", file: file, line: line)
        XCTAssertTrue(lines.first?.contains(path) ?? false, file: file, line: line)
    }

    func testNotATIFF() { assertOpenOrDecodeFails("third-party/bad_not_a_tiff.tif", contains: ["not a TIFF", "PNG"]) }
    func testTruncated() { assertOpenOrDecodeFails("third-party/bad_truncated.tif", contains: ["truncated", "page 4"]) }
    func testTileOffsetBeyondEnd() { assertOpenOrDecodeFails("bad/bad_tile_offset.tif", contains: ["tile 3"]) }
    func testZeroByteCount() { assertOpenOrDecodeFails("bad/bad_zero_bytecount.tif", contains: ["tile 2", "byte count of 0"]) }
    func testCorruptCompressedData() { assertOpenOrDecodeFails("bad/bad_deflate_data.tif", contains: ["tile 1", "cannot be decoded"]) }
    func testUnsupportedSampleFormat() { assertOpenOrDecodeFails("bad/bad_sample_format.tif", contains: ["unsupported", "format 5"]) }
    /// A page libtiff cannot read in a file whose every byte is there is damage, not truncation
    /// (the next directory's extent is read from the file itself).
    func testUnreadablePageOfAWholeFile() {
        assertOpenOrDecodeFails("bad/bad_page_tag.tif", contains: ["corrupt TIFF", "page 2 cannot be read"])
    }
    /// A compression this libtiff cannot decode is not damage: the file opens (inspect describes
    /// it) and the first decode says what to do.
    func testCompressionWithoutADecoder() {
        assertOpenOrDecodeFails("formats/jpeg2000_uint16.tif", contains: ["unsupported", "JPEG 2000 compression, which this system's libtiff cannot decode"])
        XCTAssertNoThrow(try Slide(path: TestData.path("formats/jpeg2000_uint16.tif")))
    }
    /// OME-XML that asks for more channels than the file can hold, or puts one beyond its pages.
    func testOMEChannelsBeyondThePages() {
        assertOpenOrDecodeFails("bad/bad_ome_size_c.ome.tif", contains: ["truncated", "OME-XML lists 100000000000 channels but the file has 3 pages"])
        assertOpenOrDecodeFails("bad/bad_ome_order.ome.tif", contains: ["OME-XML puts channel 2 of 3 on page 1099511627777 but the file has 3 pages"])
    }
    /// Damaged TiffData blocks (an IFD before the first page, a FirstZ of 4·10^18: found by
    /// fuzzing, an index out of range and an overflow) place nothing: the channels are the pages
    /// in order (sums printed by scripts/fixtures/make_bad_tiffs.py from the planes it wrote).
    func testDamagedTiffDataPlacesNothing() throws {
        let s = try Slide(path: TestData.path("bad/bad_ome_tiffdata.ome.tif"))
        XCTAssertEqual(try ChannelStatistics.compute(s).map(\.sum), [2071660, 2118298, 2083180])
    }
    func testHugeTileSize() { assertOpenOrDecodeFails("bad/bad_huge_tile.tif", contains: ["64 × 754975232 px", "92160 MB"]) }
    func testOneBitSamples() { assertOpenOrDecodeFails("bad/bad_one_bit.tif", contains: ["1-bit"]) }

    /// Through the block cache, a block that cannot be decoded fails every read that needs it,
    /// from several threads at once, with the same error; nothing waits forever on it and the
    /// good blocks still read.
    func testUndecodableBlockThroughTheCache() throws {
        let path = TestData.path("bad/bad_deflate_data.tif")
        let slide = try Slide(path: path)
        let cache = slide.blockCache(window: slide.width, height: slide.height, channels: [0])
        let whole = PixelRegion(x: 0, y: 0, width: slide.width, height: slide.height)
        var messages = [String](repeating: "", count: 6)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: messages.count) { i in
            var m = "read"
            do { _ = try slide.read(channel: 0, region: whole, cache: cache) } catch { m = "\(error)" }
            lock.lock(); messages[i] = m; lock.unlock()
        }
        for m in messages { XCTAssertTrue(m.hasPrefix(path) && m.contains("tile 1"), m) }
        // The first tile alone decodes.
        let d = slide.storage
        XCTAssertEqual(try slide.read(channel: 0, region: PixelRegion(x: 0, y: 0, width: d.blockWidth, height: d.blockHeight), cache: cache).count,
                       d.blockWidth * d.blockHeight)
    }

    func testEmptyAndMissingFiles() throws {
        let dir = TestData.temporaryDirectory()
        let empty = dir.appendingPathComponent("empty.tif").path
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        XCTAssertThrowsError(try Slide(path: empty)) { XCTAssertEqual($0 as? SlideError, .empty(path: empty)) }
        let tiny = dir.appendingPathComponent("tiny.tif").path
        _ = FileManager.default.createFile(atPath: tiny, contents: Data([0x49, 0x49, 42]))
        XCTAssertThrowsError(try Slide(path: tiny)) { XCTAssertTrue("\($0)".contains("truncated")) }
        XCTAssertThrowsError(try Slide(path: dir.appendingPathComponent("nope.tif").path)) {
            XCTAssertTrue("\($0)".contains("no such file"))
        }
        // Links: to a missing file, and to themselves (the system's reason, as it says it).
        let dangling = dir.appendingPathComponent("dangling.tif").path, loop = dir.appendingPathComponent("loop.tif").path
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: dir.appendingPathComponent("gone.tif").path)
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: loop)
        XCTAssertThrowsError(try Slide(path: dangling)) {
            XCTAssertEqual("\($0)", "\(dangling): a symbolic link to a file that does not exist")
        }
        XCTAssertThrowsError(try Slide(path: loop)) {
            XCTAssertEqual("\($0)", "\(loop): cannot be opened (\(String(cString: strerror(ELOOP))))")
        }
        let r = try TestData.runMifq(["inspect", empty])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "mifq: error: \(empty): file is empty (0 bytes)\n")
    }

    /// Inputs that are not slides (panels, tables, annotation files) say why they cannot be read
    /// as slides do: a folder given for a file had said "no such file", and "cannot be read" for
    /// a table. A pipe (bash's `<(…)`) is read to its end (Foundation had refused it).
    func testInputFilesSayWhyTheyCannotBeRead() throws {
        let dir = TestData.temporaryDirectory()
        struct Failed: Error, Equatable { let why: String }
        func why(_ path: String) -> String? {
            let read = Result { try InputFile.contents(of: path) { Failed(why: $0) } }
            if case .failure(let error) = read { return (error as? Failed)?.why }
            return nil
        }
        let file = dir.appendingPathComponent("t.csv").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("a,b\n1,2\n".utf8))
        XCTAssertEqual(try InputFile.contents(of: file) { Failed(why: $0) }, Data("a,b\n1,2\n".utf8))
        XCTAssertEqual(why(dir.path), "is a folder, not a file")
        XCTAssertEqual(why(dir.appendingPathComponent("nope.csv").path), "no such file")
        let dangling = dir.appendingPathComponent("dangling.csv").path
        try FileManager.default.createSymbolicLink(atPath: dangling, withDestinationPath: dir.appendingPathComponent("gone.csv").path)
        XCTAssertEqual(why(dangling), "a symbolic link to a file that does not exist")
        // A named pipe, written by another thread while it is read.
        let fifo = dir.appendingPathComponent("pipe").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let text = String(repeating: "patient_id,x\nP1,1\n", count: 10_000)
        DispatchQueue.global().async {
            let h = FileHandle(forWritingAtPath: fifo)!
            h.write(Data(text.utf8)); try? h.close()
        }
        XCTAssertEqual(try InputFile.contents(of: fifo) { Failed(why: $0) }, Data(text.utf8))
        // The CLI: a folder given as the clinical table.
        let r = try TestData.runMifq(["compare", file, "--clinical", dir.path, "--out", dir.appendingPathComponent("out").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "mifq: error: \(dir.path): is a folder, not a file\n")
    }

    /// A copy cut short before the directories (mifq's writer, like many, puts them after the
    /// pixels) is a truncated file, not "not a TIFF": the header's first offset lies past the end.
    func testCopyCutBeforeItsFirstDirectory() throws {
        let dir = TestData.temporaryDirectory()
        let whole = try Data(contentsOf: URL(fileURLWithPath: TestData.path("written/mifq_writer.ome.tif")))
        let cut = dir.appendingPathComponent("cut.ome.tif").path
        _ = FileManager.default.createFile(atPath: cut, contents: whole.prefix(20000))
        XCTAssertThrowsError(try Slide(path: cut)) {
            XCTAssertEqual($0 as? SlideError, .truncated(path: cut, detail: "its first page is at byte 36894 of a 20000-byte file"))
        }
        let r = try TestData.runMifq(["inspect", cut])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.err, "mifq: error: \(cut): file is truncated (its first page is at byte 36894 of a 20000-byte file)\n")
        // BigTIFF, big-endian: magic 43, offset size 8, then the 8-byte first offset 4096.
        let big = dir.appendingPathComponent("big.tif").path
        _ = FileManager.default.createFile(atPath: big, contents: Data([0x4D, 0x4D, 0, 43, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0])
                                                                  + Data(count: 84))
        XCTAssertThrowsError(try Slide(path: big)) {
            XCTAssertEqual($0 as? SlideError, .truncated(path: big, detail: "its first page is at byte 4096 of a 100-byte file"))
        }
        // An offset inside the header points at no directory: damage, not a cut.
        let inHeader = dir.appendingPathComponent("header.tif").path
        _ = FileManager.default.createFile(atPath: inHeader, contents: Data([0x49, 0x49, 42, 0, 4, 0, 0, 0]) + Data(count: 92))
        XCTAssertThrowsError(try Slide(path: inHeader)) { XCTAssertTrue("\($0)".contains("not a TIFF"), "\($0)") }
    }

    func testRegionOutsideTheImageIsAnError() throws {
        let s = try Slide(path: TestData.path("third-party/synth7_ome_pyramid.ome.tif"))
        XCTAssertThrowsError(try s.read(channel: 0, region: PixelRegion(x: 1500, y: 0, width: 100, height: 10)))
        XCTAssertThrowsError(try s.read(channel: 9, region: PixelRegion(x: 0, y: 0, width: 10, height: 10)))
        XCTAssertThrowsError(try s.read(channel: 0, level: 5, region: PixelRegion(x: 0, y: 0, width: 10, height: 10)))
    }
}
