// The path MTU of one SA pair's tunnel. An ICMP "fragmentation needed"
// (RFC 1191) or ICMPv6 "packet too big" (RFC 8201) about one of the SA's ESP
// packets lowers it. After 10 minutes, the interval RFC 1191 §6.3 suggests,
// it ages out and the outside interface's MTU applies again. Workers read it
// on every packet, so it lives in atomic slots.

import CTaglineShim
import TaglineCore

/// Path MTU learned for one SA pair, shared by all workers.
public final class PathMTU: @unchecked Sendable {
    /// How long a lowered path MTU stays in force.
    public static let lifetime: UInt64 = 600_000_000_000
    /// Lowest path MTU for an IPv4 outer header: RFC 791's 576-byte datagram.
    public static let minimumIPv4 = 576
    /// Lowest path MTU for an IPv6 outer header: RFC 8200 §5.
    public static let minimumIPv6 = 1280

    /// Slot 0: the MTU, zero when none is learned. Slot 1: its expiry (monotonic ns).
    /// Slot 2: messages that lowered it.
    private let slots: UnsafeMutablePointer<UInt64>

    public init() {
        slots = .allocate(capacity: 3)
        slots.initialize(repeating: 0, count: 3)
    }

    deinit { slots.deallocate() }

    /// Learned MTU still in force at `now`, or nil.
    public func learned(now: UInt64) -> Int? {
        let value = tagline_atomic_load_u64(slots)
        guard value != 0, now < tagline_atomic_load_u64(slots + 1) else { return nil }
        return Int(exactly: value)
    }

    /// MTU that packets of the SA must fit: the learned one, or `interfaceMTU`. Reads the
    /// clock only when an MTU was learned.
    @inline(__always)
    public func effective(interfaceMTU: Int) -> Int {
        guard tagline_atomic_load_u64(slots) != 0,
            let value = learned(now: monotonicNanoseconds())
        else { return interfaceMTU }
        return min(value, interfaceMTU)
    }

    /// Number of messages that lowered the path MTU.
    public var updates: UInt64 { tagline_atomic_load_u64(slots + 2) }

    /// Sets the path MTU to `mtu` until `now + lifetime`.
    func lower(to mtu: Int, now: UInt64) {
        tagline_atomic_store_u64(slots + 1, now &+ PathMTU.lifetime)
        tagline_atomic_store_u64(slots, UInt64(max(mtu, 0)))
        _ = tagline_atomic_fetch_add_u64(slots + 2, 1)
    }
}

/// `crypto ipsec fragmentation`: whether an inner IPv4 packet without DF that does not fit
/// the tunnel is fragmented before encryption (the IOS default) or encrypted whole and the
/// outer packet fragmented. Workers read it, the control thread sets it.
public final class FragmentationSetting: @unchecked Sendable {
    private let flag: UnsafeMutablePointer<UInt64>

    public init() {
        flag = .allocate(capacity: 1)
        flag.initialize(to: 0)
    }

    deinit { flag.deallocate() }

    /// True for `crypto ipsec fragmentation after-encryption`.
    public var afterEncryption: Bool {
        get { tagline_atomic_load_u64(flag) != 0 }
        set { tagline_atomic_store_u64(flag, newValue ? 1 : 0) }
    }
}
