import Dispatch
import Foundation
import SlideIO
import Unmixing

/// Streams a slide through the unmixer into a float32 OME-TIFF, one channel per component.
public enum ComponentExport {
    public static func write(slide: Slide, channelMap: [Int], unmixer: Unmixer, to path: String, tile: Int = 512,
                             threads: Int, progress: ((Int, Int) -> Void)? = nil) throws {
        guard !slide.isUnmixed else {
            throw SlideError.invalid(path: slide.path, detail: "already holds unmixed components (its metadata says so); unmixing them again would be wrong")
        }
        var spec = ImageSpec(width: slide.width, height: slide.height, channelNames: unmixer.library.components,
                             sampleType: .float32, pixelSizeUm: slide.pixelSizeUm, tileSize: 512)
        spec.unmixedComponents = true
        let writer = try OMETIFFWriter(path: path, spec: spec)
        let source = UnmixedSource(slide: slide, channelMap: channelMap, unmixer: unmixer)
        let tx = (slide.width + tile - 1) / tile, ty = (slide.height + tile - 1) / tile
        let errors = FirstError()
        let done = Counter()
        let gate = DispatchSemaphore(value: max(1, threads))
        let group = DispatchGroup()
        let q = DispatchQueue(label: "mifq.unmix", attributes: .concurrent)
        for i in 0..<(tx * ty) {
            gate.wait()
            if errors.error != nil { gate.signal(); break }
            q.async(group: group) {
                defer { gate.signal() }
                let x = (i % tx) * tile, y = (i / tx) * tile
                let r = PixelRegion(x: x, y: y, width: min(tile, slide.width - x), height: min(tile, slide.height - y))
                do {
                    for (k, img) in try source.images(r).enumerated() {
                        try img.pixels.withUnsafeBufferPointer { try writer.write(channel: k, region: r, values: $0) }
                    }
                } catch { errors.set(error) }
                progress?(done.increment(), tx * ty)
            }
        }
        group.wait()
        if let e = errors.error { writer.cancel(); throw e }
        try writer.finish(threads: threads)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
