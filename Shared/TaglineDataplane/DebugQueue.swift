// `debug crypto ipsec metadata sgt` output. Workers push one small event per
// tagged or untagged packet into their own bounded single-producer,
// single-consumer ring. The control thread drains the rings, formats the
// lines as IOS prints them and rate-limits them.

import CTaglineShim
import TaglineCore

/// One SGT insertion or extraction seen by a worker.
public struct SGTDebugEvent: Equatable, Sendable {
    public enum Kind: Sendable { case inserted, extracted }

    public var kind: Kind
    public var sgt: UInt16
    public var source: IPAddress

    public init(kind: Kind, sgt: UInt16, source: IPAddress) {
        self.kind = kind
        self.sgt = sgt
        self.source = source
    }

    /// The line as IOS prints it, such as `IPsec SGT:: inserted SGT = 333 for src ip 192.0.2.2`.
    public var line: String {
        let verb = kind == .inserted ? "inserted" : "extracted"
        return "IPsec SGT:: \(verb) SGT = \(sgt) for src ip \(source)"
    }
}

/// A bounded lock-free ring with one producer thread and one consumer thread.
/// `push` fails instead of blocking when the ring is full.
public final class SPSCQueue<Element>: @unchecked Sendable {
    private let capacity: UInt64
    private let storage: UnsafeMutablePointer<Element>
    /// Next slot to read; written by the consumer only.
    private let head: UnsafeMutablePointer<UInt64>
    /// Next slot to write; written by the producer only.
    private let tail: UnsafeMutablePointer<UInt64>

    /// Creates a ring of `capacity` slots, each initialised to `filler`.
    public init(capacity: Int, filler: Element) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = UInt64(capacity)
        storage = .allocate(capacity: capacity)
        storage.initialize(repeating: filler, count: capacity)
        head = .allocate(capacity: 1)
        head.initialize(to: 0)
        tail = .allocate(capacity: 1)
        tail.initialize(to: 0)
    }

    deinit {
        storage.deinitialize(count: Int(capacity))
        storage.deallocate()
        head.deallocate()
        tail.deallocate()
    }

    /// Adds `element`; returns false when the ring is full. Producer thread only.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        let write = tagline_atomic_load_u64(tail)
        guard write - tagline_atomic_load_u64(head) < capacity else { return false }
        storage[Int(write % capacity)] = element
        tagline_atomic_store_u64(tail, write + 1)
        return true
    }

    /// Removes the oldest element, or returns nil when the ring is empty. Consumer thread only.
    public func pop() -> Element? {
        let read = tagline_atomic_load_u64(head)
        guard read < tagline_atomic_load_u64(tail) else { return nil }
        let element = storage[Int(read % capacity)]
        tagline_atomic_store_u64(head, read + 1)
        return element
    }
}

/// Lets through at most `maximumPerSecond` lines per second and reports how many it held back.
public struct DebugRateLimiter: Sendable {
    public let maximumPerSecond: Int
    private var windowStart: UInt64 = 0
    private var admitted = 0
    private var suppressed = 0

    public init(maximumPerSecond: Int = 100) {
        self.maximumPerSecond = maximumPerSecond
    }

    /// Decides on one line at `now` (monotonic nanoseconds). The second element is a line
    /// saying how many lines the previous second suppressed, printed before this one.
    public mutating func admit(now: UInt64) -> (admit: Bool, summary: String?) {
        var summary: String?
        if now &- windowStart >= 1_000_000_000 {
            summary = flush()
            windowStart = now
            admitted = 0
        }
        if admitted < maximumPerSecond {
            admitted += 1
            return (true, summary)
        }
        suppressed += 1
        return (false, summary)
    }

    /// Returns the summary of lines suppressed so far, or nil, and resets the count.
    public mutating func flush() -> String? {
        guard suppressed > 0 else { return nil }
        defer { suppressed = 0 }
        return "IPsec SGT:: \(suppressed) debug lines suppressed (limit \(maximumPerSecond)/s)"
    }

    /// Returns the summary of the second that ended before `now`, when lines were suppressed in it.
    /// The control thread calls it while no events arrive, so the summary is not held back.
    public mutating func flushIfWindowEnded(now: UInt64) -> String? {
        guard now &- windowStart >= 1_000_000_000 else { return nil }
        return flush()
    }

    /// Counts lines lost before they reached the limiter, such as on a full ring.
    public mutating func addSuppressed(_ count: Int) { suppressed += count }
}
