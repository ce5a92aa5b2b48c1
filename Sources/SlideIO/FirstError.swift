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
