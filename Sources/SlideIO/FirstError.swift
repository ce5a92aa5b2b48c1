import Foundation

/// Keeps the first error thrown by any of several concurrent workers.
public final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    public init() {}
    public func set(_ e: Error) { lock.lock(); if stored == nil { stored = e }; lock.unlock() }
    public var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    /// Throws the first error, if any.
    public func rethrow() throws { if let e = error { throw e } }
}

/// Hands out the indices 0..<n to workers pulling them concurrently.
public final class WorkCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    public init() {}
    public func take(below n: Int) -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard next < n else { return nil }
        next += 1
        return next - 1
    }
}

/// Runs `first` and `second`: at the same time when `together` (`second` on a queue of its own,
/// `first` on the calling thread), one after the other otherwise. Either way the error thrown
/// is `first`'s if it failed, else `second`'s. Not `concurrentPerform`: libdispatch runs an
/// apply nested in another one serially, and both tasks use all threads for parts of their work.
public func runBoth(together: Bool, _ first: () throws -> Void, _ second: () throws -> Void) throws {
    guard together else { try first(); try second(); return }
    let secondError = FirstError()
    try withoutActuallyEscaping(second) { second in
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            do { try second() } catch { secondError.set(error) }
        }
        defer { group.wait() }
        try first()
    }
    try secondError.rethrow()
}
