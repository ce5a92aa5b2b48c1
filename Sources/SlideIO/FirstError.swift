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

/// Runs `first` and `second`: on two threads at once when `together`, one after the other
/// otherwise. Either way the error thrown is `first`'s if it failed, else `second`'s.
public func runBoth(together: Bool, _ first: () throws -> Void, _ second: () throws -> Void) throws {
    guard together else { try first(); try second(); return }
    var errors: [Error?] = [nil, nil]
    errors.withUnsafeMutableBufferPointer { e in
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            do { try (k == 0 ? first : second)() } catch { e[k] = error }
        }
    }
    if let e = errors[0] ?? errors[1] { throw e }
}
