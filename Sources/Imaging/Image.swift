/// A planar single-channel float image, row-major. The working type of every operator.
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [Float]

    public init(width: Int, height: Int, pixels: [Float]) {
        precondition(pixels.count == width * height, "pixel count does not match size")
        self.width = width; self.height = height; self.pixels = pixels
    }

    public init(width: Int, height: Int, value: Float = 0) {
        self.init(width: width, height: height, pixels: [Float](repeating: value, count: width * height))
    }

    public var count: Int { width * height }

    @inline(__always) public subscript(x: Int, y: Int) -> Float {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    public func map(_ f: (Float) -> Float) -> Image { Image(width: width, height: height, pixels: pixels.map(f)) }
}

/// An integer label image: 0 is background, 1…n are objects.
public struct LabelImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var labels: [Int32]
    public var count: Int { width * height }

    public init(width: Int, height: Int, labels: [Int32]) {
        precondition(labels.count == width * height)
        self.width = width; self.height = height; self.labels = labels
    }

    public init(width: Int, height: Int) {
        self.init(width: width, height: height, labels: [Int32](repeating: 0, count: width * height))
    }

    @inline(__always) public subscript(x: Int, y: Int) -> Int32 {
        get { labels[y * width + x] }
        set { labels[y * width + x] = newValue }
    }

    public var maxLabel: Int32 { labels.max() ?? 0 }

    /// Pixel count of every label (index = label; index 0 = background).
    public func areas() -> [Int] {
        var a = [Int](repeating: 0, count: Int(maxLabel) + 1)
        a.withUnsafeMutableBufferPointer { ab in
            labels.withUnsafeBufferPointer { lb in for l in lb { ab[Int(l)] += 1 } }
        }
        return a
    }

    /// Renumbers labels to 1…n in order of first appearance (row-major); returns n.
    @discardableResult
    public mutating func relabelSequential() -> Int {
        guard let top = labels.max(), top > 0 else { return 0 }
        var map = [Int32](repeating: 0, count: Int(top) + 1)   // 0: not seen yet
        var next: Int32 = 0
        labels.withUnsafeMutableBufferPointer { lb in
            for i in lb.indices where lb[i] > 0 {
                let l = Int(lb[i])
                if map[l] == 0 { next += 1; map[l] = next }
                lb[i] = map[l]
            }
        }
        return Int(next)
    }
}

/// A binary mask.
public struct Mask: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var bits: [Bool]
    public init(width: Int, height: Int, bits: [Bool]) {
        precondition(bits.count == width * height)
        self.width = width; self.height = height; self.bits = bits
    }
    public init(width: Int, height: Int, value: Bool = false) {
        self.init(width: width, height: height, bits: [Bool](repeating: value, count: width * height))
    }
    @inline(__always) public subscript(x: Int, y: Int) -> Bool {
        get { bits[y * width + x] }
        set { bits[y * width + x] = newValue }
    }
    public var trueCount: Int { bits.reduce(0) { $0 + ($1 ? 1 : 0) } }
}
