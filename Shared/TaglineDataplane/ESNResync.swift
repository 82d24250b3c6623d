// Resynchronization of the ESN high 32 bits after 2^32 or more consecutive
// lost packets (RFC 4303 Appendix A3). The receiver then infers high bits that
// are too small, and every packet fails its ICV. The SA counts consecutive ICV
// failures. Each time the run reaches a multiple of `trigger`, that one
// failing packet is verified again with the next `tries` values of the high
// bits (RFC 4303 Appendix A3.2 selects one bad packet). A packet that
// verifies moves the window to its sequence number, and a valid packet ends
// the run.
//
// Forged packets also lengthen the run, so an attacker can always reach the
// trigger. Retrying one packet per `trigger` failures keeps a flood of them
// at `1 + tries / trigger` ICVs per packet on average, and at most
// `tries + 1` for any one packet. Retrying every failure after the trigger
// would let 64 forged packets make each later one cost `tries + 1` ICVs.

import CTaglineShim

/// The consecutive ICV failures of one inbound SA and the resynchronizations they triggered.
public final class ESNResync: @unchecked Sendable {
    /// Consecutive ICV failures per run, the last of which is retried with higher values.
    public static let defaultTrigger = 64
    /// Higher values of the high 32 bits tried for the packet that completes a run.
    public static let defaultTries = 3

    public let trigger: UInt64
    public let tries: Int
    /// Slot 0 is the failure run, slot 1 the resynchronization count.
    private let slots: UnsafeMutablePointer<UInt64>

    public init(trigger: Int = ESNResync.defaultTrigger, tries: Int = ESNResync.defaultTries) {
        precondition(trigger > 0 && tries > 0, "trigger and tries must be positive")
        self.trigger = UInt64(trigger)
        self.tries = tries
        slots = .allocate(capacity: 2)
        slots.initialize(repeating: 0, count: 2)
    }

    deinit { slots.deallocate() }

    /// Consecutive ICV failures since the last valid packet.
    public var failureRun: UInt64 { tagline_atomic_load_u64(slots) }

    /// Times a packet verified only with higher high bits, moving the window forward.
    public var resynchronizations: UInt64 { tagline_atomic_load_u64(slots + 1) }

    /// Counts one ICV failure and returns how many higher values of the high bits the failing
    /// packet may try: `tries` when the run reaches a multiple of `trigger`, otherwise 0. Of
    /// several workers failing at once, only the one whose failure completes the multiple
    /// retries.
    @inline(__always)
    func recordFailure() -> Int {
        let run = tagline_atomic_fetch_add_u64(slots, 1) &+ 1
        return run % trigger == 0 ? tries : 0
    }

    /// Ends the failure run after a valid packet. The load comes first so that the common
    /// case, no run, writes nothing to the line that all workers of the SA read.
    @inline(__always)
    func recordSuccess() {
        if tagline_atomic_load_u64(slots) != 0 { tagline_atomic_store_u64(slots, 0) }
    }

    /// Counts a packet that verified with higher high bits.
    func recordResynchronization() {
        _ = tagline_atomic_fetch_add_u64(slots + 1, 1)
    }
}
