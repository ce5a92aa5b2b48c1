/// IEEE half precision (binary16) by bit manipulation. Swift's `Float16` converts through a
/// library call per value on x86-64 without F16C (≈ 3 ns each); these are branch-free, so loops
/// over whole planes vectorise (≈ 0.5 ns). Rounding is to nearest, ties to even, exactly as
/// `Float16(_:)` (the tests compare every half and every tie).
public enum Half {
    /// The half nearest to `v` (±∞ beyond ±65504 and a bit; NaN stays NaN).
    @inlinable @inline(__always)
    public static func encode(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        let sign = bits & 0x8000_0000
        let a = bits ^ sign
        let infinityOrNaN: UInt32 = a > (255 << 23) ? 0x7e00 : 0x7c00
        // Below 2⁻¹⁴ the half is subnormal: adding 0.5 aligns its 10 bits at the bottom of the
        // float, and the float addition rounds them to nearest even.
        let magic: UInt32 = ((127 - 15) + (23 - 10) + 1) << 23
        let subnormal = (Float(bitPattern: a) + Float(bitPattern: magic)).bitPattern &- magic
        // Normal: rebias the exponent and round the 13 dropped bits to nearest even.
        let normal = (a &+ ((15 &- 127) << 23) &+ 0xfff &+ ((a >> 13) & 1)) >> 13
        let o = a >= ((127 + 16) << 23) ? infinityOrNaN : a < (113 << 23) ? subnormal : normal
        return UInt16(truncatingIfNeeded: o | (sign >> 16))
    }

    /// The float a half stands for (exact: every half is a float).
    @inlinable @inline(__always)
    public static func decode(_ h: UInt16) -> Float {
        let o = UInt32(h & 0x7fff) << 13
        let exponent = o & (0x1f << 23)
        let normal = o &+ ((127 - 15) << 23)
        let infinityOrNaN = normal &+ ((128 - 16) << 23)
        let zeroOrSubnormal = (Float(bitPattern: normal &+ (1 << 23)) - Float(bitPattern: 113 << 23)).bitPattern
        let m = exponent == (0x1f << 23) ? infinityOrNaN : exponent == 0 ? zeroOrSubnormal : normal
        return Float(bitPattern: m | (UInt32(h & 0x8000) << 16))
    }
}

/// A planar single-channel image stored in half precision, for whole-slide maps: the tissue map
/// of a 32k slide holds three planes of 67 M pixels, and halves carry what it needs (three
/// significant decimal digits) in half the memory. Values are worked on as `Float`.
public struct HalfImage: Sendable {
    public var width: Int
    public var height: Int
    public var bits: [UInt16]

    public init(width: Int, height: Int, bits: [UInt16]) {
        precondition(bits.count == width * height, "pixel count does not match size")
        self.width = width; self.height = height; self.bits = bits
    }

    /// Each pixel rounded to the nearest half.
    public init(_ image: Image) {
        self.init(width: image.width, height: image.height, bits: image.pixels.map(Half.encode))
    }

}
