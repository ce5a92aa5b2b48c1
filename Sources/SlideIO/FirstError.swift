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
