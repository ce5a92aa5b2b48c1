import Foundation

/// Decoded blocks (tiles or strips) of one slide, shared by the threads that read it, least
/// recently used dropped first once `capacity` bytes are held.
///
/// A tile pass reads each tile with a halo, and a halo reaches into the neighbours' blocks:
/// with 1024-px tiles, a 74-px halo and 512-px blocks, every tile touches 4 × 4 blocks for its
/// 2 × 2 own ones, so without a cache each block is inflated four times. A block another thread
/// is decoding is waited for, not decoded twice. What is cached is exactly what the decoder
/// gave, so reading through the cache returns the same samples as reading without it.
///
/// A tile pass in bands (`Seams`) would also decode twice the blocks at each seam between two
/// bands: the upper band's tiles reach, with their halo, into the first block row of the band
/// below, and the lower band's into the last block row of the band above, long after the cache
/// has let both go. So a block starting a band is decoded only as far as the halo reaches while
/// the band above reads it (its `head`; once a block of its own band has been decoded whole, the
/// same rows are that band's and read whole), and a block ending a band keeps its last halo rows
/// (its `tail`) when it is decoded, pinned outside the budget until the band below has read them:
/// those of two seams at a time, a strip as wide as the slide and two halos high, where the whole
/// blocks would take two block rows.
public final class BlockCache: @unchecked Sendable {
    struct Key: Hashable {
        let directory: UInt64
        let block: UInt32
        var part: Part = .whole
        /// The same block's `part`.
        func part(_ p: Part) -> Key { Key(directory: directory, block: block, part: p) }
    }

    /// What of a block an entry holds.
    enum Part: UInt8 { case whole, head, tail }

    /// Where the bands of a tile pass meet: every `every` rows of the cached level's file
    /// pixels, with tiles reading `halo` rows across (file pixels).
    public struct Seams: Sendable, Equatable {
        public let every: Int
        public let halo: Int
        public init(every: Int, halo: Int) { self.every = every; self.halo = halo }

        /// Whether the rows `rows` of a block `top ..< top + height` are the head of a band's
        /// first block that the band above reads; `tail`: the end of a band's last block that
        /// the band below reads. Only where seams fall between blocks and a halo is shorter
        /// than a block.
        func head(top: Int, height: Int, rows: Range<Int>) -> Bool {
            applies(height) && top > 0 && top % every == 0 && rows.upperBound <= top + halo
        }
        func tail(top: Int, height: Int, rows: Range<Int>) -> Bool {
            endsBand(top: top, height: height) && rows.lowerBound >= top + height - halo
        }
        /// Whether a block of rows `top ..< top + height` ends a band (its tail is kept).
        func endsBand(top: Int, height: Int) -> Bool { applies(height) && (top + height) % every == 0 }
        private func applies(_ height: Int) -> Bool { halo > 0 && halo < height && every % height == 0 }
    }

    /// One decoded block; freed when the cache and every reader have let it go.
    final class Block: @unchecked Sendable {
        let bytes: UnsafeMutableRawPointer
        let size: Int
        init(size: Int) {
            self.size = size
            bytes = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
        }
        deinit { bytes.deallocate() }
    }

    public let capacity: Int
    public let seams: Seams?
    private let cond = NSCondition()
    private var entries: [Key: (block: Block, used: UInt64)] = [:]
    /// Tails of the blocks that end a band, by the seam's index (its row / `every`), and the
    /// latest seam pinned.
    private var tails: [Key: (block: Block, seam: Int)] = [:]
    private var latestSeam = 0
    /// The last band (row / `Seams.every`) a block has been decoded whole in.
    private var latestBand = 0
    private var decoding = Set<Key>()
    private var clock: UInt64 = 0
    private var held = 0
    /// Buffers of dropped blocks, reused.
    private var spare: [Block] = []
    private(set) var decoded = 0, hits = 0, heads = 0

    public init(capacity: Int, seams: Seams? = nil) { self.capacity = max(0, capacity); self.seams = seams }

    /// The entry `key` if the cache holds it (a tail among the pinned ones), without decoding.
    func cached(_ key: Key) -> Block? {
        cond.lock(); defer { cond.unlock() }
        if let e = entries[key] {
            clock += 1
            entries[key] = (e.block, clock)
            hits += 1
            return e.block
        }
        if let t = tails[key] { hits += 1; return t.block }
        return nil
    }

    /// Notes that a block of band `band` has been decoded whole; whether that has happened
    /// for `band` or a later one.
    func reached(band: Int) {
        cond.lock(); latestBand = max(latestBand, band); cond.unlock()
    }
    func hasReached(band: Int) -> Bool {
        cond.lock(); defer { cond.unlock() }
        return latestBand >= band
    }

    /// Pins `bytes` (`size` of them) as the tail `key` of a block ending the band above seam
    /// `seam`, letting go of the tails of seams before `seam − 1`: the bands below them are done.
    func pinTail(_ key: Key, seam: Int, from bytes: UnsafeRawPointer, size: Int) {
        let b = Block(size: size)
        b.bytes.copyMemory(from: bytes, byteCount: size)
        cond.lock(); defer { cond.unlock() }
        if seam > latestSeam {
            latestSeam = seam
            tails = tails.filter { $0.value.seam >= seam - 1 }
        }
        if seam >= latestSeam - 1 { tails[key] = (b, seam) }
    }

    /// The block `key`, decoded by `decode` into a buffer of `size` bytes unless it is cached
    /// or being decoded by another thread: then this one waits for it, or with `wait` false
    /// returns nil at once (the caller has other blocks to read meanwhile). A failed decode is
    /// not cached: the error goes to this caller, and a waiting thread tries for itself.
    func block(_ key: Key, size: Int, wait: Bool = true, decode: (UnsafeMutableRawPointer) throws -> Void) throws -> Block? {
        cond.lock()
        while true {
            if let e = entries[key] {
                clock += 1
                entries[key] = (e.block, clock)
                hits += 1
                cond.unlock()
                return e.block
            }
            if !decoding.contains(key) { break }
            guard wait else { cond.unlock(); return nil }
            cond.wait()
        }
        decoding.insert(key)
        let b = key.part == .whole && spare.last?.size == size ? spare.removeLast() : Block(size: size)
        cond.unlock()
        do {
            try decode(b.bytes)
        } catch {
            cond.lock(); decoding.remove(key); cond.broadcast(); cond.unlock()
            throw error
        }
        cond.lock()
        decoding.remove(key)
        if key.part == .head { heads += 1 } else { decoded += 1 }
        if size <= capacity {
            clock += 1
            entries[key] = (b, clock)
            held += size
            while held > capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
                var dropped = entries.removeValue(forKey: oldest)!.block
                held -= dropped.size
                // No reader holds it: its buffer serves the next decode (allocating afresh
                // for every block fragmented the heap by more than the cache holds). Whole
                // blocks only: heads are few, and would crowd the spares out.
                if oldest.part == .whole && isKnownUniquelyReferenced(&dropped) && spare.count < 8 { spare.append(dropped) }
            }
        }
        cond.broadcast()
        cond.unlock()
        return b
    }

    /// Blocks decoded whole, blocks served from the cache and heads decoded so far.
    public var counts: (decoded: Int, hits: Int, heads: Int) {
        cond.lock(); defer { cond.unlock() }
        return (decoded, hits, heads)
    }
}
