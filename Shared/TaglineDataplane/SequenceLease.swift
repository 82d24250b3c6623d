// Outbound ESP sequence numbers, handed out from leases that sa-manager
// grants in blocks. A restarted dataplane requests a new lease and never goes
// back below it, so no sequence number is sent twice under one SA.

import CTaglineShim

/// A block of sequence numbers: `first ..< first + count`.
public struct SequenceLease: Equatable, Sendable {
    public var first: UInt64
    public var count: UInt64

    public init(first: UInt64, count: UInt64) {
        self.first = first
        self.count = count
    }

    /// One past the last number of the lease, saturating at UInt64.max.
    public var end: UInt64 {
        let (sum, overflow) = first.addingReportingOverflow(count)
        return overflow ? UInt64.max : sum
    }
}

/// The sequence numbers one outbound SA may still use. Workers take numbers with
/// `next()` (one atomic add); the control thread adds leases with `grant`.
public final class OutboundSequence: @unchecked Sendable {
    /// Without extended sequence numbers (RFC 4303 §3.3.3), 2^32 - 1 is the last usable value.
    public static let maximum = UInt64(UInt32.max)
    /// With extended sequence numbers, 2^64 - 2 is the last value handed out. One below
    /// UInt64.max, it keeps the shared counter from wrapping to 0 after the last number.
    public static let extendedMaximum = UInt64.max - 1

    /// Last number `next()` hands out: `maximum` or `extendedMaximum`.
    public let limit: UInt64
    private let nextSlot: UnsafeMutablePointer<UInt64>
    private let endSlot: UnsafeMutablePointer<UInt64>

    /// No numbers until the first lease; sequence number 0 is never sent. `maximum` is the
    /// last number handed out, after which the SA must be rekeyed.
    public init(maximum: UInt64 = OutboundSequence.maximum) {
        limit = maximum
        nextSlot = .allocate(capacity: 1)
        nextSlot.initialize(to: 1)
        endSlot = .allocate(capacity: 1)
        endSlot.initialize(to: 1)
    }

    deinit {
        nextSlot.deallocate()
        endSlot.deallocate()
    }

    /// Takes the next number, or nil when the leases granted so far are used up.
    @inline(__always)
    public func next() -> UInt64? {
        // Checking first keeps an exhausted SA from burning numbers of the next lease.
        guard tagline_atomic_load_u64(nextSlot) < tagline_atomic_load_u64(endSlot) else {
            return nil
        }
        let value = tagline_atomic_fetch_add_u64(nextSlot, 1)
        guard value < tagline_atomic_load_u64(endSlot), value <= limit else {
            return nil
        }
        return value
    }

    /// Numbers left before the granted leases run out.
    public var remaining: UInt64 {
        let next = tagline_atomic_load_u64(nextSlot)
        let end = min(tagline_atomic_load_u64(endSlot), limit + 1)
        return end > next ? end - next : 0
    }

    /// Highest number granted so far, plus one.
    public var grantedEnd: UInt64 { tagline_atomic_load_u64(endSlot) }

    /// Adds a lease. A lease that starts at or below the granted end extends it. A lease that
    /// starts above it moves the next number up to its first number, which skips what is
    /// left of the current lease. A lease that ends at or below the granted end changes
    /// nothing. Control thread only.
    public func grant(_ lease: SequenceLease) {
        let end = lease.end
        let grantedEnd = tagline_atomic_load_u64(endSlot)
        guard end > grantedEnd, lease.first >= 1 else { return }
        if lease.first > grantedEnd {
            // Move `next` up before raising `end`, so a worker never takes a number
            // between the old end and the new lease's first number.
            while true {
                let next = tagline_atomic_load_u64(nextSlot)
                if next >= lease.first { break }
                if tagline_atomic_compare_exchange_u64(nextSlot, next, lease.first) != 0 { break }
            }
        }
        tagline_atomic_store_u64(endSlot, end)
    }
}
