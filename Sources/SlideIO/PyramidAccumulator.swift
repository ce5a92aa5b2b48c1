import Foundation

/// Builds a tiled pyramid's reduced levels while level 0 is being written, so they need not
/// be read back from disk afterwards.
///
/// A whole level-0 tile holds everything every reduced level needs under it: level k's pixel
/// covers a 2^k × 2^k block, and tiles start at multiples of the tile size (2^k divides it).
/// Each tile is reduced in memory, level after level, with the same 2 × 2 rounding `finish`
/// uses, and each reduced block is copied into the reduced tile it belongs to. A reduced tile
/// is held until every level-0 tile under it has arrived, then handed to `flush`, which owns
/// it from then on (it is allocated with `DirectTileWriter.alignment`). Written in raster order, that keeps about one row of reduced tiles per level.
///
/// Anything else (a tile written in parts, or twice) marks the pyramid incomplete, and the
/// caller rebuilds it from level 0 as before.
final class PyramidAccumulator: @unchecked Sendable {
    private let spec: ImageSpec
    private let levels: Int
    private let tile: Int, bps: Int
    private let lock = NSLock()
    private struct Key: Hashable { var channel: Int, level: Int, tx: Int, ty: Int }
    private var pending: [Key: (buffer: UnsafeMutableRawPointer, received: Int)] = [:]
    private var seen: [Bool]            // channel × level-0 tile: reduced already
    private var arrived = 0
    private var broken = false

    /// nil when there is nothing to reduce, or a level would need more than one tile.
    init?(spec: ImageSpec) {
        levels = spec.levelCount
        guard levels > 1, (1 << (levels - 1)) <= spec.tileSize else { return nil }
        self.spec = spec
        tile = spec.tileSize
        bps = spec.sampleType.bytes
        let (nx, ny) = PyramidAccumulator.tileCounts(spec, level: 0)
        seen = [Bool](repeating: false, count: spec.channelNames.count * nx * ny)
    }

    deinit { for (_, p) in pending { p.buffer.deallocate() } }

    static func tileCounts(_ spec: ImageSpec, level k: Int) -> (Int, Int) {
        let (w, h) = spec.levelSize(k), t = spec.tileSize
        return ((w + t - 1) / t, (h + t - 1) / t)
    }

    /// Every reduced tile has been flushed, from one whole write of each level-0 tile.
    var complete: Bool {
        lock.lock(); defer { lock.unlock() }
        return !broken && pending.isEmpty && arrived == seen.count
    }

    /// A level-0 tile was written in parts: the pyramid will be rebuilt from level 0.
    func abandon() {
        lock.lock(); defer { lock.unlock() }
        guard !broken else { return }
        broken = true
        for (_, p) in pending { p.buffer.deallocate() }
        pending = [:]
    }

    /// Reduces level-0 tile (tx, ty) of `channel` (`tile × tile` samples, row-major, its
    /// valid part being what lies inside the image) and flushes the reduced tiles it completes.
    func add(channel c: Int, tx: Int, ty: Int, samples: UnsafeRawPointer,
             flush: (_ level: Int, _ tx: Int, _ ty: Int, _ buffer: UnsafeMutableRawPointer) throws -> Void) throws {
        let (nx, ny) = PyramidAccumulator.tileCounts(spec, level: 0)
        let index = (c * ny + ty) * nx + tx
        lock.lock()
        if broken || seen[index] { lock.unlock(); return abandon() }
        seen[index] = true; arrived += 1
        lock.unlock()
        let t = tile
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 2 * (t / 2) * (t / 2) * bps, alignment: 64)
        defer { scratch.deallocate() }
        var src = samples, srcStride = t
        var cols = min(t, spec.width - tx * t), rows = min(t, spec.height - ty * t)
        for k in 1..<levels {
            // Level k of this tile: (t >> k)² samples, in alternating halves of the scratch.
            let side = t >> k
            let dst = scratch + ((k - 1) % 2) * (t / 2) * (t / 2) * bps
            cols /= 2; rows /= 2
            guard cols > 0 && rows > 0 else { break }   // nothing of this tile at level k or beyond
            PyramidAccumulator.reduce(src, stride: srcStride, into: dst, stride: side, cols: cols, rows: rows, type: spec.sampleType)
            let key = Key(channel: c, level: k, tx: tx >> k, ty: ty >> k)
            let ox = (tx & ((1 << k) - 1)) * side, oy = (ty & ((1 << k) - 1)) * side
            lock.lock()
            if broken { lock.unlock(); return }
            var entry = pending[key] ?? {
                let b = UnsafeMutableRawPointer.allocate(byteCount: t * t * bps, alignment: DirectTileWriter.alignment)
                memset(b, 0, t * t * bps)
                return (b, 0)
            }()
            for r in 0..<rows { memcpy(entry.buffer + ((oy + r) * t + ox) * bps, dst + r * side * bps, cols * bps) }
            entry.received += 1
            let done = entry.received == expected(level: k, tx: key.tx, ty: key.ty)
            if done { pending[key] = nil } else { pending[key] = entry }
            lock.unlock()
            if done { try flush(k, key.tx, key.ty, entry.buffer) }
            src = UnsafeRawPointer(dst); srcStride = side
        }
    }

    /// How many level-0 tiles put pixels into reduced tile (tx, ty) of level k.
    private func expected(level k: Int, tx: Int, ty: Int) -> Int {
        func along(_ i: Int, _ size: Int, _ tiles: Int) -> Int {
            (i << k..<min((i + 1) << k, tiles)).filter { a in min(tile, size - a * tile) >> k > 0 }.count
        }
        let (nx, ny) = PyramidAccumulator.tileCounts(spec, level: 0)
        return along(tx, spec.width, nx) * along(ty, spec.height, ny)
    }

    /// One reduced level: each pixel the mean of the 2 × 2 block under it, integers rounded
    /// half away from zero (the pyramid `finish` builds uses the same function).
    static func reduce(_ src: UnsafeRawPointer, stride sw: Int, into dst: UnsafeMutableRawPointer, stride dw: Int,
                       cols: Int, rows: Int, type: SampleType) {
        for y in 0..<rows {
            let a = 2 * y * sw, b = a + sw
            if type == .uint16 {
                // Integer form of the same rounding: round(S / 4) half away from zero = (S + 2) >> 2.
                let p = src.assumingMemoryBound(to: UInt16.self), d = dst.assumingMemoryBound(to: UInt16.self) + y * dw
                // Each pair of neighbours read as one 32-bit word (the sum of its halves is the same
                // in either byte order): a loop the compiler vectorises.
                let pa = UnsafeRawPointer(p + a).assumingMemoryBound(to: UInt32.self)
                let pb = UnsafeRawPointer(p + b).assumingMemoryBound(to: UInt32.self)
                for x in 0..<cols {
                    let u = pa[x], v = pb[x]
                    let s = (u & 0xFFFF) &+ (u >> 16) &+ (v & 0xFFFF) &+ (v >> 16)
                    d[x] = UInt16(truncatingIfNeeded: (s &+ 2) >> 2)
                }
            } else {
                for x in 0..<cols {
                    let s = sample(src, type, a + 2 * x) + sample(src, type, a + 2 * x + 1)
                        + sample(src, type, b + 2 * x) + sample(src, type, b + 2 * x + 1)
                    store(s / 4, type, dst, y * dw + x)
                }
            }
        }
    }
}
