/// Connected components and mask clean-up.
public enum Labeling {
    /// Labels the connected components of `mask` 1…n in raster order of their first pixel.
    /// - Parameter eightConnected: 8-neighbourhood (default) or 4-neighbourhood.
    public static func components(_ mask: Mask, eightConnected: Bool = true) -> LabelImage {
        let w = mask.width, h = mask.height
        var labels = [Int32](repeating: 0, count: w * h)
        var stack: [Int] = []
        var next: Int32 = 0
        for start in 0..<(w * h) where mask.bits[start] && labels[start] == 0 {
            next += 1
            labels[start] = next
            stack.append(start)
            while let p = stack.popLast() {
                let x = p % w, y = p / w
                for dy in -1...1 {
                    let yy = y + dy
                    if yy < 0 || yy >= h { continue }
                    for dx in -1...1 {
                        if dx == 0 && dy == 0 { continue }
                        if !eightConnected && dx != 0 && dy != 0 { continue }
                        let xx = x + dx
                        if xx < 0 || xx >= w { continue }
                        let q = yy * w + xx
                        if mask.bits[q] && labels[q] == 0 { labels[q] = next; stack.append(q) }
                    }
                }
            }
        }
        return LabelImage(width: w, height: h, labels: labels)
    }

    /// Fills holes: background regions (4-connected) that do not touch the image border.
    public static func fillHoles(_ mask: Mask) -> Mask {
        let w = mask.width, h = mask.height
        var outside = [Bool](repeating: false, count: w * h)
        var stack: [Int] = []
        func seed(_ p: Int) { if !mask.bits[p] && !outside[p] { outside[p] = true; stack.append(p) } }
        for x in 0..<w { seed(x); seed((h - 1) * w + x) }
        for y in 0..<h { seed(y * w); seed(y * w + w - 1) }
        while let p = stack.popLast() {
            let x = p % w, y = p / w
            if x > 0 { seed(p - 1) }
            if x < w - 1 { seed(p + 1) }
            if y > 0 { seed(p - w) }
            if y < h - 1 { seed(p + w) }
        }
        return Mask(width: w, height: h, bits: outside.map { !$0 })
    }

    /// Removes components smaller than `minArea` pixels (and larger than `maxArea`) from a mask.
    public static func filterComponents(_ mask: Mask, minArea: Int, maxArea: Int = .max) -> Mask {
        let lab = components(mask)
        let areas = lab.areas()
        return Mask(width: mask.width, height: mask.height,
                    bits: lab.labels.map { $0 != 0 && areas[Int($0)] >= minArea && areas[Int($0)] <= maxArea })
    }

    /// Zeroes labels whose area lies outside [minArea, maxArea] pixels, then renumbers 1…n.
    public static func filterObjects(_ labels: LabelImage, minArea: Int, maxArea: Int = .max) -> LabelImage {
        let areas = labels.areas()
        var out = labels
        for i in out.labels.indices {
            let l = Int(out.labels[i])
            if l != 0 && (areas[l] < minArea || areas[l] > maxArea) { out.labels[i] = 0 }
        }
        out.relabelSequential()
        return out
    }
}
