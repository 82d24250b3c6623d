// Reasons the pipeline drops a packet, and the per-worker counters behind
// them. The packet path never throws: each drop increments one counter here
// (or one field of the SA's SACounters when the SA is known).

import CTaglineShim

/// Reason a packet was dropped. The raw value is the name used in `CounterReport.drops`.
public enum DropReason: String, CaseIterable, Sendable {
    /// Frame shorter than the headers it announces (Ethernet, IP, UDP or ESP).
    case runt
    /// IPv4 header with a bad version, IHL or total length, or an IPv6 length past the frame.
    case invalidIPHeader
    /// IPv6 extension header chain that runs past the frame or never ends.
    case invalidExtensionHeader
    /// Outer fragment of an ESP packet that overlaps another or runs past 65535 bytes, or
    /// whose datagram was evicted, unfinished, to stay within the reassembler's limits.
    case reassemblyFailed
    /// Outer fragments of a datagram still incomplete after `FragmentReassembler.timeout`.
    case reassemblyTimeout
    /// ESP packet whose SPI matches no inbound SA.
    case noSA
    /// ICMP "fragmentation needed" or ICMPv6 "packet too big" whose quoted packet is not one
    /// of an outbound SA (addresses, SPI and UDP ports), or is cut before the SPI.
    case packetTooBigMismatch
    /// "Packet too big" about an outbound SA whose MTU is zero, above the outside interface's
    /// MTU, or above the path MTU already in force.
    case packetTooBigIgnored
    /// Clear packet whose addresses match no outbound SA selector.
    case noPolicy
    /// Packet to forward, in either direction, whose source names no single host:
    /// unspecified, loopback, multicast, class E or limited broadcast (RFC 1812 §5.3.7).
    case martianSource
    /// Non-initial fragment (or other TCP, UDP or SCTP packet without readable ports) that
    /// only SAs limited to some ports would carry. RFC 4301 §7 allows such a packet only on
    /// an SA whose port selectors are ANY or OPAQUE. Counted in both directions.
    case nonInitialFragmentPortLimited
    /// ICV or AEAD tag mismatch.
    case integrityFailed
    /// ICV or AEAD tag mismatch under the inferred ESN high bits and under each higher value
    /// tried to resynchronize after a run of ICV failures.
    case resyncFailed
    /// Sequence number already seen or left of the replay window.
    case replay
    /// Ciphertext that is not a multiple of the cipher block size.
    case invalidCiphertextLength
    /// Pad Length past the payload or padding bytes that are not 1, 2, 3, ...
    case invalidPadding
    /// ESP Next Header that is neither IPv4, IPv6 nor the CMD value.
    case unknownNextHeader
    /// CMD version other than 1.
    case cmdInvalidVersion
    /// CMD length of zero units.
    case cmdInvalidLength
    /// CMD option length that does not fit the header, or an option type other than SGT.
    case cmdInvalidOption
    /// CMD header that runs past the decrypted payload.
    case cmdTruncated
    /// CMD carrying SGT 0xFFFF.
    case cmdReservedSGT
    /// CMD inner EtherType other than IPv4 or IPv6.
    case cmdUnknownEtherType
    /// Decrypted inner packet that is not a valid IPv4 or IPv6 packet.
    case invalidInnerPacket
    /// Decrypted inner packet whose addresses are outside the SA's traffic selectors.
    case policyMismatch
    /// TTL or hop limit of 1 or less on a packet to be forwarded.
    case ttlExpired
    /// No route for the destination through the interface that must carry it.
    case noRoute
    /// Next hop without a link-layer address, and its share of the worker's unresolved queue
    /// (3 frames) or the whole queue (64 frames) already full.
    case unresolvedQueueFull
    /// Frame held for a next hop whose link-layer address did not arrive within a second.
    case unresolvedTimeout
    /// Outbound sequence lease used up before the next one arrived.
    case sequenceExhausted
    /// Packet that would not fit the TX frame or the outgoing MTU.
    case tooBig
    /// No free TX frame.
    case txRingFull
    /// Segmentation-offload frame of a kind the dataplane cannot segment.
    case unsupportedOffload
    /// Cipher or MAC call failed (OpenSSL error).
    case cryptoError
    /// An ICMP error about a dropped packet was not sent: the worker's rate limit was reached.
    case icmpRateLimited
    /// An ICMP error about a decrypted packet was not sent back through the tunnel: no
    /// outbound SA covers the error from the inside address to the packet's source.
    case icmpErrorNoPolicy

    /// Position of the counter in a `DropCounters` block.
    @inline(__always)
    var index: Int { DropReason.indexTable[self]! }

    private static let indexTable: [DropReason: Int] = {
        var table = [DropReason: Int]()
        for (position, reason) in DropReason.allCases.enumerated() { table[reason] = position }
        return table
    }()
}

/// One worker's drop counters. The worker increments them and any thread may
/// read them; every access is atomic, so no lock is needed.
public final class DropCounters: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<UInt64>
    private let count = DropReason.allCases.count

    public init() {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: 0, count: count)
    }

    deinit { slots.deallocate() }

    @inline(__always)
    public func increment(_ reason: DropReason) {
        _ = tagline_atomic_fetch_add_u64(slots + reason.index, 1)
    }

    public func value(_ reason: DropReason) -> UInt64 {
        tagline_atomic_load_u64(slots + reason.index)
    }

    /// Non-zero counters keyed by reason name.
    public func snapshot() -> [String: UInt64] {
        var out = [String: UInt64]()
        for reason in DropReason.allCases {
            let value = value(reason)
            if value > 0 { out[reason.rawValue] = value }
        }
        return out
    }
}
