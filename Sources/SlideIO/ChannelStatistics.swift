import Foundation

/// Exact per-channel statistics of one level, computed by streaming blocks.
/// Integer samples are summed in Int64 (exact); floats in Double.
public struct ChannelStatistics: Codable, Equatable, Sendable {
    public var channel: Int
    public var name: String
    public var min: Double
    public var max: Double
    public var mean: Double
    /// Exact for integer samples.
    public var sum: Double
    public var integerSum: Int64?
    public var pixels: Int
    /// Float samples that are NaN or ±infinity (nil for integer samples): left out of min, max,
    /// sum and mean (which are 0 when no sample is finite), as the reader reads them as 0.
    public var nonFinite: Int? = nil
    /// Integer samples at the channel's ceiling (`Slide.saturationLevel`: where the camera
    /// saturated); nil for float samples.
    public var saturated: Int? = nil

    /// Statistics of every channel at `level`, channels in parallel.
    public static func compute(_ slide: Slide, level: Int = 0) throws -> [ChannelStatistics] {
        let n = slide.channels.count
        var results = [Result<ChannelStatistics, Error>?](repeating: nil, count: n)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: n) { c in
            let r = Result { try one(slide, channel: c, level: level) }
            lock.lock(); results[c] = r; lock.unlock()
        }
        return try results.map { try $0!.get() }
    }

    static func one(_ slide: Slide, channel: Int, level: Int) throws -> ChannelStatistics {
        var acc = Accumulator()
        // Above every sample when there is no ceiling (floats are not counted).
        acc.ceiling = slide.saturationLevel(channel: channel, level: level).map { Int64($0) } ?? .max
        try slide.forEachBlock(channel: channel, level: level) { b in
            switch b.type {
            case .uint8: acc.add(b, UInt8.self)
            case .uint16: acc.add(b, UInt16.self)
            case .uint32: acc.add(b, UInt32.self)
            case .int8: acc.add(b, Int8.self)
            case .int16: acc.add(b, Int16.self)
            case .int32: acc.add(b, Int32.self)
            case .float32: acc.addFloat(b, Float.self)
            case .float64: acc.addFloat(b, Double.self)
            }
        }
        let isInt = slide.sampleType(channel: channel, level: level).isInteger
        let sum = isInt ? Double(acc.intSum) : acc.floatSum
        let finite = acc.count - acc.nonFinite
        return ChannelStatistics(channel: channel, name: slide.channels[channel].name,
                                 min: finite > 0 ? acc.minV : 0, max: finite > 0 ? acc.maxV : 0, mean: finite > 0 ? sum / Double(finite) : 0,
                                 sum: sum, integerSum: isInt ? acc.intSum : nil, pixels: acc.count, nonFinite: isInt ? nil : acc.nonFinite,
                                 saturated: isInt ? acc.saturated : nil)
    }

    private struct Accumulator {
        var intSum: Int64 = 0
        var floatSum: Double = 0
        var minV = Double.infinity
        var maxV = -Double.infinity
        var count = 0
        var nonFinite = 0
        var ceiling = Int64.max
        var saturated = 0

        mutating func add<T: BinaryInteger>(_ b: RawBlock, _: T.Type) {
            let p = b.data.assumingMemoryBound(to: T.self)
            var s: Int64 = 0
            var lo = Int64.max, hi = Int64.min
            var clipped = 0
            for r in 0..<b.rows {
                let row = p + r * b.rowPitch + b.sample
                for c in 0..<b.columns {
                    let v = Int64(row[c * b.stride])
                    s += v
                    if v < lo { lo = v }
                    if v > hi { hi = v }
                    clipped &+= v >= ceiling ? 1 : 0
                }
            }
            intSum += s
            saturated += clipped
            minV = Swift.min(minV, Double(lo)); maxV = Swift.max(maxV, Double(hi))
            count += b.rows * b.columns
        }

        mutating func addFloat<T: BinaryFloatingPoint>(_ b: RawBlock, _: T.Type) {
            let p = b.data.assumingMemoryBound(to: T.self)
            for r in 0..<b.rows {
                let row = p + r * b.rowPitch + b.sample
                for c in 0..<b.columns {
                    let v = Double(row[c * b.stride])
                    guard v.isFinite else { nonFinite += 1; continue }
                    floatSum += v
                    if v < minV { minV = v }
                    if v > maxV { maxV = v }
                }
            }
            count += b.rows * b.columns
        }
    }
}
