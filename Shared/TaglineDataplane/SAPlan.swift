// What the packet path reads of an SA for every packet, and the next hop ESP
// goes to. ChildSA is a large struct of strings and arrays: reading it per
// packet copies it and retains each of them, so SAState keeps these few
// fields apart, and the pipeline keeps the last outbound next hop it looked up.

import TaglineCore

/// The fields of a ChildSA the packet path reads, copied once when the SA is installed.
/// Only plain values, so copying a plan retains nothing. The selectors are arrays, so they
/// sit in `SAState` instead.
struct SAPlan {
    let localAddress: IPAddress
    let remoteAddress: IPAddress
    let outboundSPI: UInt32
    let udpEncapsulation: UDPEncapsulation?
    let taggingNegotiated: Bool
    let inboundSPI: UInt32
    /// True while this gateway, as the rekey responder, waits for a first packet on the SA.
    let awaitsInboundTraffic: Bool
    /// Bytes of the outer IPv4 or IPv6 header, and of the UDP header (0 without NAT traversal).
    let outerIPHeaderSize: Int
    let udpHeaderSize: Int
    /// Checksum sum of the outer IPv4 header fields that stay the same for every packet, as
    /// `IPv4.fixedFieldsSum` computes it. 0 for an IPv6 peer.
    let outerIPv4Sum: UInt64

    init(_ sa: ChildSA) {
        localAddress = sa.localAddress
        remoteAddress = sa.remoteAddress
        outboundSPI = sa.outboundSPI
        udpEncapsulation = sa.udpEncapsulation
        taggingNegotiated = sa.taggingNegotiated
        inboundSPI = sa.inboundSPI
        awaitsInboundTraffic = sa.awaitsInboundTraffic == true
        outerIPHeaderSize = sa.remoteAddress.isIPv4 ? IPv4.minimumHeaderSize : IPv6.headerSize
        udpHeaderSize = sa.udpEncapsulation == nil ? 0 : UDP.headerSize
        outerIPv4Sum =
            sa.remoteAddress.isIPv4
            ? IPv4.fixedFieldsSum(
                ipProtocol: sa.udpEncapsulation == nil
                    ? IPProtocolNumber.esp : IPProtocolNumber.udp,
                source: sa.localAddress, destination: sa.remoteAddress)
            : 0
    }
}

/// A traffic selector with its addresses as integers in `IPAddress` order: IPv4 before
/// IPv6, then by value. `TrafficSelector.matches` lives in another module and compares
/// enum cases, so the packet path matches this copy instead, with the same result.
struct PlanSelector {
    let start: IPAddress.OrderedKey
    let end: IPAddress.OrderedKey
    /// IP protocol number, 0 for any.
    let ipProtocol: UInt8
    let startPort: UInt16
    let endPort: UInt16
    /// First and last IPv4 address in the range, as `start` and `end` order them: up to the
    /// IPv4 end, or up to 255.255.255.255 when the end is IPv6. A range with an IPv6 start
    /// contains no IPv4 address, so it gets the empty range 1...0.
    let ipv4Start: UInt32
    let ipv4End: UInt32

    init(_ selector: TrafficSelector) {
        start = selector.startAddress.orderedKey
        end = selector.endAddress.orderedKey
        ipProtocol = selector.ipProtocol
        startPort = selector.startPort
        endPort = selector.endPort
        switch (selector.startAddress, selector.endAddress) {
        case (.v4(let first), .v4(let last)): (ipv4Start, ipv4End) = (first, last)
        case (.v4(let first), .v6): (ipv4Start, ipv4End) = (first, .max)
        case (.v6, _): (ipv4Start, ipv4End) = (1, 0)
        }
    }

    /// Matches a packet's address, protocol and port as `TrafficSelector.matches` does:
    /// the address in range and of the start address's family, the protocol equal unless
    /// the selector allows any, and the port in range unless the protocol has none.
    @inline(__always)
    func matches(address: IPAddress, ipProtocol proto: UInt8, port: UInt16?) -> Bool {
        let key = address.orderedKey
        guard key.family == start.family, start <= key, key <= end else { return false }
        if ipProtocol != 0 && ipProtocol != proto { return false }
        if let port, port < startPort || port > endPort { return false }
        return true
    }

    /// Matches an IPv4 address, protocol and port as `matches(address:ipProtocol:port:)` does,
    /// with two integer compares in place of the three-field keys.
    @inline(__always)
    func matches(ipv4 address: UInt32, ipProtocol proto: UInt8, port: UInt16?) -> Bool {
        guard ipv4Start <= address, address <= ipv4End else { return false }
        if ipProtocol != 0 && ipProtocol != proto { return false }
        if let port, port < startPort || port > endPort { return false }
        return true
    }
}

/// The next hop and link-layer address of the last outbound destination, valid for one
/// forwarding table. Tables are immutable and the cache keeps a reference to its table,
/// so `===` cannot match a new table that reuses a freed one's address.
struct NextHopCache {
    var table: ForwardingTable?
    var destination = IPAddress.v4(0)
    var nextHop = IPAddress.v4(0)
    var mac = MACAddress(0)
}

extension IPAddress {
    /// Family (0 for IPv4, 1 for IPv6), high and low 64 bits: compared as a tuple, the same
    /// order as `IPAddress`, without the call into TaglineCore that its `<` and `==` take.
    typealias OrderedKey = (family: UInt8, high: UInt64, low: UInt64)

    @inline(__always)
    var orderedKey: OrderedKey {
        switch self {
        case .v4(let value): return (0, 0, UInt64(value))
        case .v6(let high, let low): return (1, high, low)
        }
    }
}

extension Pipeline {
    /// Returns the next hop towards `destination` through the outside interface and its
    /// link-layer address (nil while unresolved), or nil without a route. Only addresses
    /// from the forwarding table itself are kept, since learned ones may still change.
    @inline(__always)
    func outboundNextHop(to destination: IPAddress, forwarding: ForwardingTable)
        -> (nextHop: IPAddress, mac: MACAddress?)?
    {
        if nextHopCache.table === forwarding && nextHopCache.destination == destination {
            return (nextHopCache.nextHop, nextHopCache.mac)
        }
        guard let nextHop = forwarding.nextHop(to: destination, through: forwarding.outside)
        else { return nil }
        if let mac = forwarding.neighbour(nextHop, on: forwarding.outside) {
            nextHopCache = NextHopCache(
                table: forwarding, destination: destination, nextHop: nextHop, mac: mac)
            return (nextHop, mac)
        }
        return (nextHop, linkAddress(of: nextHop, on: forwarding.outside, forwarding: forwarding))
    }

    /// Tells whether `address` is one of the gateway's own, scanning the few interface
    /// addresses instead of hashing into `ForwardingTable.localAddresses`. The scan reads
    /// integer keys, so it neither copies the interfaces nor calls into TaglineCore. An IPv4
    /// address scans only the IPv4 addresses, one integer each.
    @inline(__always)
    func isLocalAddress(_ address: IPAddress, forwarding: ForwardingTable) -> Bool {
        if case .v4(let value) = address {
            for local in forwarding.localIPv4Addresses where local == value { return true }
            return false
        }
        let key = address.orderedKey
        for local in forwarding.localAddressKeys where local == key { return true }
        return false
    }
}

extension OutboundLayout {
    init(sa: ChildSA, transform: ESPTransform, payloadLength: Int) {
        self.init(sa: SAPlan(sa), transform: transform, payloadLength: payloadLength)
    }

    static func maximumPayload(sa: ChildSA, transform: ESPTransform, mtu: Int) -> Int {
        maximumPayload(sa: SAPlan(sa), transform: transform, mtu: mtu)
    }
}
