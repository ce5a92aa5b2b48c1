import Foundation

/// Decoded blocks (tiles or strips) of one slide, shared by the threads that read it, least
/// recently used dropped first once `capacity` bytes are held.
///
/// A tile pass reads each tile with a halo, and a halo reaches into the neighbours' blocks:
/// with 1024-px tiles, a 73-px halo and 512-px blocks, every tile touches 4 × 4 blocks for its
/// 2 × 2 own ones, so without a cache each block is inflated four times. A block another thread
/// is decoding is waited for, not decoded twice. What is cached is exactly what the decoder
/// gave, so reading through the cache returns the same samples as reading without it.
public final class BlockCache: @unchecked Sendable {
    struct Key: Hashable {
        let directory: UInt64
        let block: UInt32
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
    private let cond = NSCondition()
    private var entries: [Key: (block: Block, used: UInt64)] = [:]
    private var decoding = Set<Key>()
    private var clock: UInt64 = 0
    private var held = 0
    /// Buffers of dropped blocks, reused.
    private var spare: [Block] = []
    private(set) var decoded = 0, hits = 0

    public init(capacity: Int) { self.capacity = max(0, capacity) }

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
        let b = spare.last?.size == size ? spare.removeLast() : Block(size: size)
        cond.unlock()
        do {
            try decode(b.bytes)
        } catch {
            cond.lock(); decoding.remove(key); cond.broadcast(); cond.unlock()
            throw error
        }
        cond.lock()
        decoding.remove(key)
        decoded += 1
        if size <= capacity {
            clock += 1
            entries[key] = (b, clock)
            held += size
            while held > capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
                var dropped = entries.removeValue(forKey: oldest)!.block
                held -= dropped.size
                // No reader holds it: its buffer serves the next decode (allocating afresh
                // for every block fragmented the heap by more than the cache holds).
                if isKnownUniquelyReferenced(&dropped) && spare.count < 8 { spare.append(dropped) }
            }
        }
        cond.broadcast()
        cond.unlock()
        return b
    }

    /// Blocks decoded and blocks served from the cache so far.
    public var counts: (decoded: Int, hits: Int) {
        cond.lock(); defer { cond.unlock() }
        return (decoded, hits)
    }
}
