// Per-SA-pair counters shared by all workers: one atomic 64-bit slot per
// field of SACounters, so workers add without a lock and the control thread
// reads totals at any time.

import CTaglineShim
import TaglineCore

/// Fields of SACounters that the packet path increments.
public enum SACounterField: Int, CaseIterable, Sendable {
    case encaps, encrypt, digest, decaps, decrypt, verify, verifyFailed, replayFailed
    case invalidSA, invalidLength, encapsFailed, decapsFailed
    case tagged, untagged, notTagged, notUntagged
    case internalErrorsSend, internalErrorsReceive, bytesOut, bytesIn
}

/// Atomic counters of one SA pair.
public final class SACounterBlock: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UInt64>

    public init() {
        slots = .allocate(capacity: SACounterField.allCases.count)
        slots.initialize(repeating: 0, count: SACounterField.allCases.count)
    }

    deinit { slots.deallocate() }

    @inline(__always)
    public func add(_ field: SACounterField, _ amount: UInt64 = 1) {
        _ = tagline_atomic_fetch_add_u64(slots + field.rawValue, amount)
    }

    public func value(_ field: SACounterField) -> UInt64 {
        tagline_atomic_load_u64(slots + field.rawValue)
    }

    /// Returns the totals as the bus reports them.
    public func snapshot() -> SACounters {
        var out = SACounters()
        out.encaps = value(.encaps)
        out.encrypt = value(.encrypt)
        out.digest = value(.digest)
        out.decaps = value(.decaps)
        out.decrypt = value(.decrypt)
        out.verify = value(.verify)
        out.verifyFailed = value(.verifyFailed)
        out.replayFailed = value(.replayFailed)
        out.invalidSA = value(.invalidSA)
        out.invalidLength = value(.invalidLength)
        out.encapsFailed = value(.encapsFailed)
        out.decapsFailed = value(.decapsFailed)
        out.tagged = value(.tagged)
        out.untagged = value(.untagged)
        out.notTagged = value(.notTagged)
        out.notUntagged = value(.notUntagged)
        out.internalErrorsSend = value(.internalErrorsSend)
        out.internalErrorsReceive = value(.internalErrorsReceive)
        out.bytesOut = value(.bytesOut)
        out.bytesIn = value(.bytesIn)
        return out
    }
}

/// A test-and-set lock for the replay window of one SA. Inbound packets of one SA
/// normally reach one worker because the fanout hash covers the outer addresses, so
/// the lock is almost never contended. It keeps the window correct when they do not.
final class SpinLock: @unchecked Sendable {
    private let word: UnsafeMutablePointer<UInt64>

    init() {
        word = .allocate(capacity: 1)
        word.initialize(to: 0)
    }

    deinit { word.deallocate() }

    @inline(__always)
    func withLock<T>(_ body: () -> T) -> T {
        while tagline_atomic_compare_exchange_u64(word, 0, 1) == 0 {}
        defer { tagline_atomic_store_u64(word, 0) }
        return body()
    }
}
