import Dispatch
import Foundation

/// CPU seconds spent in each stage of the tile pass, summed over the workers, when the
/// environment sets `MIFQ_TIMING` (for the benchmarks' stage-by-stage figures); otherwise
/// `measure` just runs its body.
public final class StageTimes: @unchecked Sendable {
    public static let shared = StageTimes()
    init() {}
    public static let enabled = ProcessInfo.processInfo.environment["MIFQ_TIMING"] != nil
    private let lock = NSLock()
    private var seconds: [String: Double] = [:]
    private var order: [String] = []

    /// Runs `body`, adding its wall time on this thread to `stage`.
    @inline(__always)
    public static func measure<T>(_ stage: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer { shared.add(stage, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    func add(_ stage: String, _ s: Double) {
        lock.lock(); defer { lock.unlock() }
        if seconds[stage] == nil { order.append(stage) }
        seconds[stage, default: 0] += s
    }

    /// "stage s stage s …" in first-seen order.
    public func report() -> String {
        lock.lock(); defer { lock.unlock() }
        return order.map { String(format: "%@ %.2f s", $0, seconds[$0]!) }.joined(separator: " ")
    }

    /// The process's peak resident memory so far in MB (Linux's VmHWM; 0 where it cannot be
    /// read), for the benchmarks' and the phase marks' memory figures.
    public static func peakResidentMB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return kB / 1024
    }

    public func reset() {
        lock.lock(); defer { lock.unlock() }
        seconds = [:]; order = []
    }
}
