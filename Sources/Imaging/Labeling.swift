/// Connected components and mask clean-up.
public enum Labeling {
    /// Labels the connected components of `mask` 1…n in raster order of their first pixel.
    /// - Parameter eightConnected: 8-neighbourhood (default) or 4-neighbourhood.
    public static func components(_ mask: Mask, eightConnected: Bool = true) -> LabelImage {
        let runs = Runs(mask, value: true, eightConnected: eightConnected)
        var labels = [Int32](repeating: 0, count: mask.width * mask.height)
        labels.withUnsafeMutableBufferPointer { out in
            runs.forEachRun { i, row, x0, x1 in
                let v = runs.component[i]
                for x in x0..<x1 { out[row + x] = v }
            }
        }
        return LabelImage(width: mask.width, height: mask.height, labels: labels)
    }

    /// Fills holes: background regions (4-connected) that do not touch the image border and
    /// have at most `maxArea` pixels (all of them by default).
    public static func fillHoles(_ mask: Mask, maxArea: Int = .max) -> Mask {
        let w = mask.width, h = mask.height
        guard w > 0 && h > 0 else { return mask }
        let background = Runs(mask, value: false, eightConnected: false)
        let areas = background.areas()
        var keep = [Bool](repeating: false, count: areas.count)   // background that stays background
        background.forEachRun { i, row, x0, x1 in
            if row == 0 || row == (h - 1) * w || x0 == 0 || x1 == w { keep[Int(background.component[i])] = true }
        }
        for l in areas.indices where areas[l] > maxArea { keep[l] = true }
        var out = mask
        out.bits.withUnsafeMutableBufferPointer { b in
            background.forEachRun { i, row, x0, x1 in
                if !keep[Int(background.component[i])] { for x in x0..<x1 { b[row + x] = true } }
            }
        }
        return out
    }

    /// Removes components (8-connected) smaller than `minArea` pixels (and larger than
    /// `maxArea`) from a mask.
    public static func filterComponents(_ mask: Mask, minArea: Int, maxArea: Int = .max) -> Mask {
        let runs = Runs(mask, value: true, eightConnected: true)
        let areas = runs.areas()
        var out = Mask(width: mask.width, height: mask.height)
        out.bits.withUnsafeMutableBufferPointer { b in
            runs.forEachRun { i, row, x0, x1 in
                let a = areas[Int(runs.component[i])]
                if a >= minArea && a <= maxArea { for x in x0..<x1 { b[row + x] = true } }
            }
        }
        return out
    }

    /// The connected components of the pixels of a mask equal to `value`, as runs (horizontal
    /// stretches) without a label image: mask clean-up needs only each run's component.
    ///
    /// Two passes over runs: the first gives each run a provisional label and unites it with
    /// the runs it touches in the row above (union–find); the second numbers the components
    /// 1…n in the order their first run appears, which is the raster order of their first
    /// pixel (as `scipy.ndimage.label`).
    struct Runs {
        let width: Int
        /// Runs of row y: `rowRuns[y]..<rowRuns[y + 1]`; run i covers `start[i]..<end[i]`.
        var rowRuns: [Int]
        var start: [Int32] = [], end: [Int32] = []
        /// Component of each run, 1…count.
        var component: [Int32] = []
        var count = 0

        init(_ mask: Mask, value: Bool, eightConnected: Bool) {
            let w = mask.width, h = mask.height
            width = w
            rowRuns = [Int](repeating: 0, count: h + 1)
            var provisional: [Int32] = []
            var parent: [Int32] = [0]
            func find(_ x: Int32) -> Int32 {
                var x = x
                while parent[Int(x)] != x { parent[Int(x)] = parent[Int(parent[Int(x)])]; x = parent[Int(x)] }
                return x
            }
            // Bool is one byte, 0 or 1: runs are skipped eight bytes at a time while a whole
            // word holds the same value.
            let same: UInt8 = value ? 1 : 0, other: UInt8 = 1 - same
            @inline(__always) func skip(_ row: UnsafePointer<UInt8>, from x: Int, while v: UInt8) -> Int {
                let word: UInt64 = v == 1 ? 0x0101_0101_0101_0101 : 0
                var x = x
                while x + 8 <= w && UnsafeRawPointer(row + x).loadUnaligned(as: UInt64.self) == word { x += 8 }
                while x < w && row[x] == v { x += 1 }
                return x
            }
            mask.bits.withUnsafeBufferPointer { bb in bb.withMemoryRebound(to: UInt8.self) { b in
                for y in 0..<h {
                    rowRuns[y] = start.count
                    let aboveEnd = rowRuns[y]
                    var above = y > 0 ? rowRuns[y - 1] : aboveEnd
                    let row = b.baseAddress! + y * w
                    var x = skip(row, from: 0, while: other)
                    while x < w {
                        let s = x
                        x = skip(row, from: x, while: same)
                        // Runs above that touch [s, x): overlap [s − 1, x + 1) with 8-neighbours.
                        let lo = eightConnected ? s - 1 : s, hi = eightConnected ? x + 1 : x
                        while above < aboveEnd && Int(end[above]) <= lo { above += 1 }
                        var label: Int32 = 0
                        var k = above
                        while k < aboveEnd && Int(start[k]) < hi {
                            let r = find(provisional[k])
                            if label == 0 { label = r } else if r != label {
                                let (keep, drop) = r < label ? (r, label) : (label, r)
                                parent[Int(drop)] = keep
                                label = keep
                            }
                            k += 1
                        }
                        if label == 0 { label = Int32(parent.count); parent.append(label) }
                        start.append(Int32(s)); end.append(Int32(x)); provisional.append(label)
                        x = skip(row, from: x, while: other)
                    }
                }
                rowRuns[h] = start.count
            } }
            var final = [Int32](repeating: 0, count: parent.count)
            var next: Int32 = 0
            component = provisional.map { p in
                let root = Int(find(p))
                if final[root] == 0 { next += 1; final[root] = next }
                return final[root]
            }
            count = Int(next)
        }

        /// Calls `body(run, rowOffset, x0, x1)` for every run, in raster order.
        @inline(__always) func forEachRun(_ body: (Int, Int, Int, Int) -> Void) {
            for y in 0..<(rowRuns.count - 1) {
                for i in rowRuns[y]..<rowRuns[y + 1] { body(i, y * width, Int(start[i]), Int(end[i])) }
            }
        }

        /// Pixels per component (index 0 unused).
        func areas() -> [Int] {
            var a = [Int](repeating: 0, count: count + 1)
            for i in component.indices { a[Int(component[i])] += Int(end[i] - start[i]) }
            return a
        }

        /// The component of the run holding pixel (x, y), or 0 outside every run.
        func component(atX x: Int, y: Int) -> Int32 {
            var lo = rowRuns[y], hi = rowRuns[y + 1]
            while lo < hi {
                let m = (lo + hi) / 2
                if Int(end[m]) <= x { lo = m + 1 } else { hi = m }
            }
            return lo < rowRuns[y + 1] && Int(start[lo]) <= x ? component[lo] : 0
        }
    }

    /// Zeroes labels whose area lies outside [minArea, maxArea] pixels, then renumbers 1…n.
    /// (One pass does both: a kept label is numbered where it first appears.) In place, so a
    /// tile's label plane is not copied first.
    public static func filterObjects(_ labels: inout LabelImage, minArea: Int, maxArea: Int = .max) {
        labels.labels.withUnsafeMutableBufferPointer { lb in
            guard let p = lb.baseAddress else { return }
            let n = lb.count
            var top: Int32 = 0
            for i in 0..<n { top = max(top, p[i]) }
            guard top > 0 else { return }
            let areas = UnsafeMutablePointer<Int>.allocate(capacity: Int(top) + 1)
            let number = UnsafeMutablePointer<Int32>.allocate(capacity: Int(top) + 1)   // 0: not seen yet (or removed)
            defer { areas.deallocate(); number.deallocate() }
            areas.initialize(repeating: 0, count: Int(top) + 1)
            number.initialize(repeating: 0, count: Int(top) + 1)
            for i in 0..<n where p[i] > 0 { areas[Int(p[i])] &+= 1 }
            var next: Int32 = 0
            for i in 0..<n where p[i] > 0 {
                let l = Int(p[i])
                if areas[l] < minArea || areas[l] > maxArea { p[i] = 0; continue }
                if number[l] == 0 { next += 1; number[l] = next }
                p[i] = number[l]
            }
        }
    }
}
