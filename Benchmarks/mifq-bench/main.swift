// mifq-bench: throughput kernels measured side by side in one process (release build only).
//
//   mifq-bench decode SLIDE [threads]   libtiff TIFFReadEncodedTile loop vs mifq's Slide.read, every channel
//   mifq-bench unmix SLIDE PANEL        OLS and NNLS unmixing vs a plain memory copy of the same bytes
//
// Each prints one line per measurement: name, seconds, MB/s or Mpx/s, and the process's peak RSS.
import CPUCheck
import CTIFF
import Dispatch
import Foundation
import Phenotyping
import Segmentation
import SlideIO
import Unmixing

func now() -> Double { Date().timeIntervalSince1970 }

/// The decoding floor: libtiff's TIFFReadEncodedTile over every tile of every level-0 channel,
/// one handle per thread and page, no conversion.
func rawDecode(_ slide: Slide, threads: Int) -> (seconds: Double, bytes: Int) {
    let pages = slide.channels.indices.map { slide.planeDirectoryOffset(channel: $0) }
    let t0 = now()
    var total = 0
    let lock = NSLock()
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
        var bytes = 0
        for off in pages {
            guard let tif = TIFFOpen(slide.path, "rm") else { continue }
            defer { TIFFClose(tif) }
            TIFFSetSubDirectory(tif, off)
            let n = TIFFNumberOfTiles(tif)
            let size = TIFFTileSize64(tif)
            let buf = UnsafeMutableRawPointer.allocate(byteCount: Int(size), alignment: 64)
            defer { buf.deallocate() }
            var i = UInt32(worker)
            while i < n {
                let r = TIFFReadEncodedTile(tif, i, buf, tmsize_t(size))
                if r > 0 { bytes += Int(r) }
                i += UInt32(threads)
            }
        }
        lock.lock(); total += bytes; lock.unlock()
    }
    return (now() - t0, total)
}

/// mifq's path: Slide.read of every tile-aligned region, all channels, into Float buffers.
func mifqDecode(_ slide: Slide, threads: Int) throws -> (seconds: Double, bytes: Int) {
    let t = slide.storage.blockWidth, th = slide.storage.blockHeight
    let tx = (slide.width + t - 1) / t, ty = (slide.height + th - 1) / th
    let nc = slide.channels.count
    let bps = slide.sampleType().bytes
    let t0 = now()
    let lock = NSLock()
    var bytes = 0
    var failure: Error?
    DispatchQueue.concurrentPerform(iterations: threads) { worker in
        let bufs = (0..<nc).map { _ in UnsafeMutableBufferPointer<Float>.allocate(capacity: t * th) }
        defer { bufs.forEach { $0.deallocate() } }
        var b = 0
        var i = worker
        while i < tx * ty {
            let x = (i % tx) * t, y = (i / tx) * th
            let r = PixelRegion(x: x, y: y, width: min(t, slide.width - x), height: min(th, slide.height - y))
            do { try slide.read(channels: Array(0..<nc), region: r, into: bufs) } catch { lock.lock(); failure = error; lock.unlock() }
            b += r.count * nc * bps
            i += threads
        }
        lock.lock(); bytes += b; lock.unlock()
    }
    if let failure { throw failure }
    return (now() - t0, bytes)
}

func report(_ name: String, _ seconds: Double, bytes: Int? = nil, pixels: Int? = nil) {
    var line = name.padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %8.2f s", seconds)
    if let bytes { line += String(format: "  %9.1f MB/s", Double(bytes) / 1e6 / seconds) }
    if let pixels { line += String(format: "  %9.1f Mpx/s", Double(pixels) / 1e6 / seconds) }
    line += String(format: "  peak RSS %7.0f MB", StageTimes.peakResidentMB())
    print(line)
}

guard mifq_cpu_supported() != 0 else { exit(1) }   // (CPUCheck has stopped an unsupported CPU already)
let args = CommandLine.arguments
guard args.count >= 3 else {
    print("usage: mifq-bench decode SLIDE [threads] | mifq-bench unmix SLIDE PANEL")
    exit(2)
}
do {
    switch args[1] {
    case "decode-raw", "decode-mifq":
        let slide = try Slide(path: args[2])
        let threads = args.count > 3 ? Int(args[3]) ?? 1 : 1
        if args[1] == "decode-raw" {
            let r = rawDecode(slide, threads: threads)
            report("libtiff loop, \(threads) thread(s)", r.seconds, bytes: r.bytes)
        } else {
            let m = try mifqDecode(slide, threads: threads)
            report("mifq Slide.read, \(threads) thread(s)", m.seconds, bytes: m.bytes)
        }
    case "unmix":
        let slide = try Slide(path: args[2])
        let panel = try Panel.load(args[3])
        let map = try panel.channelMap(for: slide)
        // 32 decoded 512² tiles held in memory, so only the kernels are timed.
        let tile = 512, nTiles = 32, n = tile * tile, c = map.count
        var tiles: [UnsafeMutablePointer<Float>] = []
        for i in 0..<nTiles {
            let x = (i % 8) * tile % max(slide.width - tile, 1), y = (i / 8) * tile % max(slide.height - tile, 1)
            let p = UnsafeMutablePointer<Float>.allocate(capacity: c * n)
            try slide.read(channels: map, region: PixelRegion(x: x, y: y, width: tile, height: tile),
                           into: (0..<c).map { UnsafeMutableBufferPointer(start: p + $0 * n, count: n) })
            tiles.append(p)
        }
        let out = UnsafeMutablePointer<Float>.allocate(capacity: max(c, panel.library.componentCount) * n)
        // Copy and OLS alternate, trial after trial, and the median of each is reported, so that
        // both see the same machine state (this is a shared VM: single runs vary by ±30%).
        let ols = Unmixer(library: panel.library, method: .ols)
        var copyTimes: [Double] = [], olsTimes: [Double] = []
        for _ in 0..<15 {
            var t0 = now()
            for p in tiles { out.update(from: p, count: c * n) }
            copyTimes.append(now() - t0)
            t0 = now()
            for p in tiles { ols.unmix(observed: p, pixels: n, out: out) }
            olsTimes.append(now() - t0)
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let px = nTiles * n
        report("memory copy (same bytes), median of 15", median(copyTimes), bytes: px * c * 4, pixels: px)
        report("unmix ols, 1 thread, median of 15", median(olsTimes), bytes: px * c * 4, pixels: px)
        print(String(format: "ols / copy throughput: %.2f (median of the 15 paired ratios %.2f)",
                     median(copyTimes) / median(olsTimes), median(zip(copyTimes, olsTimes).map { $0 / $1 })))
        let nnls = Unmixer(library: panel.library, method: .nnls)
        let t0 = now()
        for p in tiles { nnls.unmix(observed: p, pixels: n, out: out) }   // ~200× slower: one pass
        report("unmix nnls, 1 thread", now() - t0, bytes: px * c * 4, pixels: px)
    default:
        print("unknown benchmark \(args[1])")
        exit(2)
    }
} catch {
    print("mifq-bench: \(error)")
    exit(1)
}
