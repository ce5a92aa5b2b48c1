import Foundation

/// One TIFF image file directory (classic or BigTIFF, little-endian), built by hand for files
/// whose pixel data is already in place: uncompressed tiles written straight to their final
/// offsets need no encoder, only directories that point at them (TIFF 6.0 §2, BigTIFF spec).
///
/// Entries are kept sorted by tag; values that do not fit in the entry (4 bytes classic, 8
/// BigTIFF) go in a data area right after the directory, each at an 8-byte boundary.
struct IFDBuilder {
    let big: Bool
    private var entries: [(tag: UInt16, type: UInt16, count: Int, bytes: [UInt8])] = []

    init(big: Bool) { self.big = big }

    static let ascii: UInt16 = 2, short: UInt16 = 3, long: UInt16 = 4, rational: UInt16 = 5
    static let ifd: UInt16 = 13, long8: UInt16 = 16, ifd8: UInt16 = 18

    mutating func add(_ tag: Int32, type: UInt16, count: Int, bytes: [UInt8]) {
        let t = UInt16(tag)
        entries.removeAll { $0.tag == t }
        entries.append((t, type, count, bytes))
        entries.sort { $0.tag < $1.tag }
    }

    mutating func shorts(_ tag: Int32, _ v: [UInt16]) { add(tag, type: Self.short, count: v.count, bytes: v.flatMap(Self.le)) }
    mutating func long(_ tag: Int32, _ v: UInt32) { add(tag, type: Self.long, count: 1, bytes: Self.le(v)) }
    mutating func string(_ tag: Int32, _ s: String) {
        let b = Array(s.utf8) + [0]
        add(tag, type: Self.ascii, count: b.count, bytes: b)
    }
    mutating func rational(_ tag: Int32, _ v: Double) {
        // v as n / 1000 (n / 1 when that would overflow), reduced.
        var den: UInt64 = v * 1000 < 4e9 ? 1000 : 1
        var num = UInt64(max(0, min(v * Double(den), 4.29e9)).rounded())
        var a = num, b = den
        while b != 0 { (a, b) = (b, a % b) }
        if a > 1 { num /= a; den /= a }
        add(tag, type: Self.rational, count: 1, bytes: Self.le(UInt32(num)) + Self.le(UInt32(den)))
    }
    /// Offsets or byte counts: LONG in classic TIFF, LONG8 in BigTIFF.
    mutating func offsets(_ tag: Int32, _ v: [UInt64]) {
        if big { add(tag, type: Self.long8, count: v.count, bytes: v.flatMap(Self.le)) }
        else { add(tag, type: Self.long, count: v.count, bytes: v.flatMap { Self.le(UInt32($0)) }) }
    }
    /// Offsets of other directories (SubIFDs): IFD or IFD8.
    mutating func directories(_ tag: Int32, _ v: [UInt64]) {
        if big { add(tag, type: Self.ifd8, count: v.count, bytes: v.flatMap(Self.le)) }
        else { add(tag, type: Self.ifd, count: v.count, bytes: v.flatMap { Self.le(UInt32($0)) }) }
    }

    private var inline: Int { big ? 8 : 4 }
    private var head: Int { (big ? 8 : 2) + entries.count * (big ? 20 : 12) + (big ? 8 : 4) }
    private static func padded(_ n: Int) -> Int { (n + 7) & ~7 }

    /// Bytes the directory and its data area take (a multiple of 8).
    var size: Int {
        Self.padded(head) + entries.reduce(0) { $0 + ($1.bytes.count > inline ? Self.padded($1.bytes.count) : 0) }
    }

    /// The directory as it sits at `offset`, pointing at `next` (0: last).
    func serialized(at offset: Int, next: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var data: [UInt8] = []
        let dataStart = offset + Self.padded(head)
        out += big ? Self.le(UInt64(entries.count)) : Self.le(UInt16(entries.count))
        for e in entries {
            out += Self.le(e.tag) + Self.le(e.type)
            out += big ? Self.le(UInt64(e.count)) : Self.le(UInt32(e.count))
            if e.bytes.count <= inline {
                out += e.bytes + [UInt8](repeating: 0, count: inline - e.bytes.count)
            } else {
                let at = UInt64(dataStart + data.count)
                out += big ? Self.le(at) : Self.le(UInt32(at))
                data += e.bytes + [UInt8](repeating: 0, count: Self.padded(e.bytes.count) - e.bytes.count)
            }
        }
        out += big ? Self.le(next) : Self.le(UInt32(next))
        out += [UInt8](repeating: 0, count: Self.padded(head) - head)
        return out + data
    }

    /// The file header pointing at the first directory.
    static func header(big: Bool, first: UInt64) -> [UInt8] {
        big ? [0x49, 0x49, 43, 0, 8, 0, 0, 0] + le(first) : [0x49, 0x49, 42, 0] + le(UInt32(first))
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }
}
