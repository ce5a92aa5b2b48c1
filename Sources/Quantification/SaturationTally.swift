import Foundation

/// Samples at their channel's ceiling (`Slide.saturationLevel`: where the camera saturated,
/// the light above it lost), counted per channel over a tile pass's cores: a slide pixel is
/// counted once, by the tile whose core holds it. On a binned slide an analysis pixel counts
/// when the mean of its file pixels is at the ceiling, that is when all of them are.
public final class SaturationTally: @unchecked Sendable {
    /// Per channel read (the source's `channelMap` order), its ceiling; nil: not counted.
    public let levels: [Float?]
    /// With a QC picture, its size and level-0 pixels per picture pixel: the picture pixels
    /// holding a saturated sample of any channel are marked (`marked`).
    let picture: (width: Int, height: Int, scale: Double)?
    private var counts: [Int]
    private var marks: [Bool]
    private let lock = NSLock()

    public init(levels: [Double?], picture: (width: Int, height: Int, scale: Double)? = nil) {
        self.levels = levels.map { $0.map(Float.init) }
        self.picture = picture
        counts = [Int](repeating: 0, count: levels.count)
        marks = [Bool](repeating: false, count: picture.map { $0.width * $0.height } ?? 0)
    }

    /// Saturated samples so far, per channel.
    public var pixels: [Int] {
        lock.lock(); defer { lock.unlock() }
        return counts
    }

    /// The picture's pixels (row-major) that hold a saturated sample; empty without a picture.
    public var marked: [Bool] {
        lock.lock(); defer { lock.unlock() }
        return marks
    }

    /// Marks the picture pixel of each sample at `level` among `count` floats of slide row `y`
    /// from column `x0`.
    func mark(_ p: UnsafePointer<Float>, _ count: Int, level: Float, x0: Int, y: Int) {
        guard let picture else { return }
        let py = Int(Double(y) / picture.scale)
        guard py < picture.height else { return }
        lock.lock(); defer { lock.unlock() }
        for x in 0..<count where p[x] >= level {
            let px = Int(Double(x0 + x) / picture.scale)
            if px < picture.width { marks[py * picture.width + px] = true }
        }
    }

    func add(_ c: [Int]) {
        lock.lock(); defer { lock.unlock() }
        for k in counts.indices { counts[k] += c[k] }
    }

    /// How many of `count` floats are at least `level`, eight at a time (a lane's comparison
    /// mask is −1 where true, subtracted from the lane's count).
    static func atLeast(_ level: Float, _ p: UnsafePointer<Float>, _ count: Int) -> Int {
        let l8 = SIMD8<Float>(repeating: level)
        var n8 = SIMD8<Int32>()
        var x = 0
        while x + 8 <= count {
            n8 &-= unsafeBitCast(UnsafeRawPointer(p + x).loadUnaligned(as: SIMD8<Float>.self) .>= l8, to: SIMD8<Int32>.self)
            x += 8
        }
        var n = Int(n8.wrappedSum())
        while x < count { if p[x] >= level { n += 1 }; x += 1 }
        return n
    }

    /// Adds to `into` the samples at each channel's ceiling in `columns` of the rows of a band
    /// (channel planes of `width` × rows, one after another, from slide column `x`; `rows` are
    /// the band's slide rows) that lie `within` the core's rows, and marks their picture pixels.
    func count(_ band: UnsafePointer<Float>, width w: Int, x: Int, rows: Range<Int>, columns: Range<Int>, within: Range<Int>,
               into c: inout [Int]) {
        let ys = rows.clamped(to: within)
        guard !ys.isEmpty, !columns.isEmpty else { return }
        let plane = rows.count * w
        for (k, level) in levels.enumerated() {
            guard let level else { continue }
            var n = 0
            for y in ys {
                let row = band + k * plane + (y - rows.lowerBound) * w + columns.lowerBound
                let found = Self.atLeast(level, row, columns.count)
                if found > 0 { mark(row, columns.count, level: level, x0: x + columns.lowerBound, y: y) }
                n += found
            }
            c[k] += n
        }
    }
}
