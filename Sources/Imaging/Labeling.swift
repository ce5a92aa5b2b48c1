/// Connected components and mask clean-up.
public enum Labeling {
    /// Labels the connected components of `mask` 1…n in raster order of their first pixel.
    /// - Parameter eightConnected: 8-neighbourhood (default) or 4-neighbourhood.
    ///
    /// Two passes over runs (horizontal stretches of set pixels): the first gives each run a
    /// provisional label and unites it with the runs it touches in the row above (union–find);
    /// the second numbers the components in the order their first run appears, which is the
    /// raster order of their first pixel (as `scipy.ndimage.label`).
    public static func components(_ mask: Mask, eightConnected: Bool = true) -> LabelImage {
        let w = mask.width, h = mask.height
        var labels = [Int32](repeating: 0, count: w * h)
        var runStart: [Int] = [], runEnd: [Int] = [], runLabel: [Int32] = []
        var rowRuns = [Int](repeating: 0, count: h + 1)   // runs of row y: rowRuns[y]..<rowRuns[y + 1]
        var parent: [Int32] = [0]
        func find(_ x: Int32) -> Int32 {
            var x = x
            while parent[Int(x)] != x { parent[Int(x)] = parent[Int(parent[Int(x)])]; x = parent[Int(x)] }
            return x
        }
        mask.bits.withUnsafeBufferPointer { b in
            for y in 0..<h {
                rowRuns[y] = runStart.count
                let aboveEnd = rowRuns[y]
                var above = y > 0 ? rowRuns[y - 1] : aboveEnd
                let row = y * w
                var x = 0
                while x < w {
                    guard b[row + x] else { x += 1; continue }
                    let s = x
                    while x < w && b[row + x] { x += 1 }
                    // Runs above that touch [s, x): overlap [s − 1, x + 1) with 8-neighbours.
                    let lo = eightConnected ? s - 1 : s, hi = eightConnected ? x + 1 : x
                    while above < aboveEnd && runEnd[above] <= lo { above += 1 }
                    var label: Int32 = 0
                    var k = above
                    while k < aboveEnd && runStart[k] < hi {
                        let r = find(runLabel[k])
                        if label == 0 { label = r } else if r != label {
                            let (keep, drop) = r < label ? (r, label) : (label, r)
                            parent[Int(drop)] = keep
                            label = keep
                        }
                        k += 1
                    }
                    if label == 0 { label = Int32(parent.count); parent.append(label) }
                    runStart.append(s); runEnd.append(x); runLabel.append(label)
                }
            }
            rowRuns[h] = runStart.count
        }
        var final = [Int32](repeating: 0, count: parent.count)
        var next: Int32 = 0
        labels.withUnsafeMutableBufferPointer { out in
            for y in 0..<h {
                for i in rowRuns[y]..<rowRuns[y + 1] {
                    let root = Int(find(runLabel[i]))
                    if final[root] == 0 { next += 1; final[root] = next }
                    let v = final[root]
                    for x in runStart[i]..<runEnd[i] { out[y * w + x] = v }
                }
            }
        }
        return LabelImage(width: w, height: h, labels: labels)
    }

    /// Fills holes: background regions (4-connected) that do not touch the image border and
    /// have at most `maxArea` pixels (all of them by default).
    public static func fillHoles(_ mask: Mask, maxArea: Int = .max) -> Mask {
        let w = mask.width, h = mask.height
        guard w > 0 && h > 0 else { return mask }
        let background = components(Mask(width: w, height: h, bits: mask.bits.map { !$0 }), eightConnected: false)
        let areas = background.areas()
        var keep = [Bool](repeating: false, count: areas.count)   // background that stays background
        for x in 0..<w { keep[Int(background.labels[x])] = true; keep[Int(background.labels[(h - 1) * w + x])] = true }
        for y in 0..<h { keep[Int(background.labels[y * w])] = true; keep[Int(background.labels[y * w + w - 1])] = true }
        for l in areas.indices where areas[l] > maxArea { keep[l] = true }
        var out = mask
        for i in out.bits.indices where !out.bits[i] && !keep[Int(background.labels[i])] { out.bits[i] = true }
        return out
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
