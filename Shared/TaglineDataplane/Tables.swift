// The immutable tables the workers read: SAs (the SPD and SAD), SGT
// bindings, and interfaces with routes and neighbours. The control thread
// builds a new object on every change and publishes it through a TableSlot.

import TaglineCore

/// Outbound policy (selectors to SA) and inbound SAs (SPI to SA).
public final class SATable: @unchecked Sendable {
    /// Inbound SAs keyed by the SPI in received packets.
    public let inbound: [UInt32: SAState]
    /// `inbound` again, for the per-packet lookup.
    let inboundIndex: SPIIndex
    /// Outbound SAs in the order their selectors are tried: newest first.
    public let outbound: [SAState]
    /// Inbound SPIs of SAs that share their selectors with an older SA, as
    /// after a rekey until the old SA is deleted.
    let successors: Set<UInt32>

    /// Orders outbound SAs newest first, so that while a rekeyed SA and its
    /// successor coexist, traffic leaves on the successor (RFC 7296 §2.8);
    /// equal install times fall back to the inbound SPI, so equal sets give equal tables.
    public init(states: [SAState]) {
        var byInboundSPI = [UInt32: SAState]()
        for state in states { byInboundSPI[state.childSA.inboundSPI] = state }
        inbound = byInboundSPI
        inboundIndex = SPIIndex(byInboundSPI)
        outbound = states.sorted {
            if $0.childSA.installedAt != $1.childSA.installedAt {
                return $0.childSA.installedAt > $1.childSA.installedAt
            }
            return $0.childSA.inboundSPI < $1.childSA.inboundSPI
        }
        var successors = Set<UInt32>()
        for (index, state) in outbound.enumerated() {
            let sa = state.childSA
            let hasOlder = outbound[(index + 1)...].contains {
                $0.childSA.localSelectors == sa.localSelectors
                    && $0.childSA.remoteSelectors == sa.remoteSelectors
            }
            if hasOlder { successors.insert(sa.inboundSPI) }
        }
        self.successors = successors
    }

    public static let empty = SATable(states: [])

    /// Finds the newest SA whose local selectors match the packet's source and whose remote
    /// selectors match its destination. `ports` is nil for protocols without ports, and for a
    /// TCP, UDP or SCTP packet without readable ports (a non-initial fragment), which only
    /// port-agnostic selectors match (RFC 4301 §7). A
    /// successor yields to an older match while it has no sequence numbers leased yet, and,
    /// when it awaits inbound traffic (this gateway responded to the rekey), until a valid
    /// packet has arrived on it. A rekey then costs no packets. With no usable match left,
    /// the newest match is returned.
    public func outboundSA(
        source: IPAddress, destination: IPAddress, ipProtocol: UInt8,
        ports: (source: UInt16, destination: UInt16)?
    ) -> SAState? {
        // TODO: index the selectors (a trie per family) once gateways carry hundreds of SAs.
        let opaquePorts = ports == nil && IPProtocolNumber.hasPorts(ipProtocol)
        var newest: SAState?
        for state in outbound {
            // The plan and selectors, not childSA: a ChildSA copy retains its strings and arrays.
            let plan = state.plan
            let localMatch = state.localSelectors.containsMatch(
                address: source, ipProtocol: ipProtocol, port: ports?.source,
                opaquePorts: opaquePorts)
            guard localMatch else { continue }
            let remoteMatch = state.remoteSelectors.containsMatch(
                address: destination, ipProtocol: ipProtocol, port: ports?.destination,
                opaquePorts: opaquePorts)
            guard remoteMatch else { continue }
            if newest == nil { newest = state }
            guard state.sequence.remaining > 0 else { continue }
            // The rekey responder's new SA waits for proof that the peer has it.
            if plan.awaitsInboundTraffic, successors.contains(plan.inboundSPI),
                state.counters.value(.decrypt) == 0
            {
                continue
            }
            return state
        }
        return newest
    }

    /// Tells whether a decrypted inner packet is one the SA may carry (RFC 4301 §5.2):
    /// its source in the remote selectors and its destination in the local ones. A packet
    /// without readable ports matches only port-agnostic selectors, as in `outboundSA`.
    func inboundSelectorsMatch(
        _ state: SAState, source: IPAddress, destination: IPAddress,
        ipProtocol: UInt8, ports: (source: UInt16, destination: UInt16)?
    )
        -> Bool
    {
        if ports == nil && IPProtocolNumber.hasPorts(ipProtocol) {
            return opaquePortsSelectorsMatch(
                state, source: source, destination: destination, ipProtocol: ipProtocol)
        }
        guard case .v4(let sourceIPv4) = source, case .v4(let destinationIPv4) = destination
        else {
            return addressSelectorsMatch(
                state, source: source, destination: destination, ipProtocol: ipProtocol,
                ports: ports)
        }
        let remoteMatch = state.remoteSelectors.contains {
            $0.matches(ipv4: sourceIPv4, ipProtocol: ipProtocol, port: ports?.source)
        }
        guard remoteMatch else { return false }
        return state.localSelectors.contains {
            $0.matches(ipv4: destinationIPv4, ipProtocol: ipProtocol, port: ports?.destination)
        }
    }

    /// Checks a packet that is not IPv4 against the SA's selectors, as `inboundSelectorsMatch`
    /// does. It is out of line, so the IPv4 check stays small enough to inline.
    @inline(never)
    func addressSelectorsMatch(
        _ state: SAState, source: IPAddress, destination: IPAddress,
        ipProtocol: UInt8, ports: (source: UInt16, destination: UInt16)?
    ) -> Bool {
        let remoteMatch = state.remoteSelectors.contains {
            $0.matches(address: source, ipProtocol: ipProtocol, port: ports?.source)
        }
        guard remoteMatch else { return false }
        return state.localSelectors.contains {
            $0.matches(address: destination, ipProtocol: ipProtocol, port: ports?.destination)
        }
    }
}

/// IP prefix to SGT bindings, matched on the longest prefix.
public final class BindingTable: @unchecked Sendable {
    public let prefixes: LPMSnapshot
    /// CLOCK_MONOTONIC nanoseconds when the control thread published this table; 0 before.
    public internal(set) var publishedAt: UInt64 = 0
    /// The highest clone sequence whose change this table holds; 0 when unknown.
    public let cloneSequence: UInt64

    /// Bulk builds the table; when a prefix occurs more than once, the last binding wins.
    public init(bindings: [SGTBinding]) {
        var table = LPMTable(bindings: bindings.lazy.map { (prefix: $0.prefix, sgt: $0.sgt) })
        prefixes = table.snapshot()
        cloneSequence = 0
    }

    /// Wraps a snapshot of the publisher's table.
    public init(snapshot: LPMSnapshot, cloneSequence: UInt64 = 0) {
        prefixes = snapshot
        self.cloneSequence = cloneSequence
    }

    public static let empty = BindingTable(bindings: [])

    @inline(__always)
    public func sgt(for source: IPAddress) -> SGT? { prefixes.lookup(source) }

    public var count: Int { prefixes.count }
}

/// An Ethernet address in the low 48 bits.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value & 0xFFFF_FFFF_FFFF }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.init(bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    }

    public static let broadcast = MACAddress(0xFFFF_FFFF_FFFF)

    /// The six bytes in transmission order.
    public var bytes: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: value >> UInt64(40 - 8 * $0)) }
    }

    public var description: String {
        bytes.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined(separator: ":")
    }
}

/// One of the dataplane's two interfaces.
public struct DataplaneInterface: Sendable {
    public var name: String
    public var index: Int32
    public var mac: MACAddress
    public var mtu: Int
    public var addresses: [IPAddress]

    public init(name: String, index: Int32, mac: MACAddress, mtu: Int, addresses: [IPAddress]) {
        self.name = name
        self.index = index
        self.mac = mac
        self.mtu = mtu
        self.addresses = addresses
    }
}

/// A route: the interface that carries a destination and the gateway, if any.
public struct Route: Sendable, Equatable {
    public var interfaceIndex: Int32
    /// Next hop; nil for a directly connected destination.
    public var gateway: IPAddress?

    public init(interfaceIndex: Int32, gateway: IPAddress?) {
        self.interfaceIndex = interfaceIndex
        self.gateway = gateway
    }
}

/// A neighbour table key: an address on one interface.
public struct NeighbourKey: Hashable, Sendable {
    public var interfaceIndex: Int32
    public var address: IPAddress

    public init(interfaceIndex: Int32, address: IPAddress) {
        self.interfaceIndex = interfaceIndex
        self.address = address
    }
}

/// The interfaces, routes, neighbours and local addresses, as the kernel reported them.
public final class ForwardingTable: @unchecked Sendable {
    public let inside: DataplaneInterface
    public let outside: DataplaneInterface
    public let routes: PrefixTable<Route>
    public let neighbours: [NeighbourKey: MACAddress]
    public let localAddresses: Set<IPAddress>
    /// The interface addresses in `IPAddress.orderedKey` form, which the packet path scans.
    let localAddressKeys: [IPAddress.OrderedKey]
    /// The IPv4 interface addresses as integers, which the packet path compares for IPv4.
    let localIPv4Addresses: [UInt32]

    public init(
        inside: DataplaneInterface, outside: DataplaneInterface, routes: PrefixTable<Route>,
        neighbours: [NeighbourKey: MACAddress]
    ) {
        self.inside = inside
        self.outside = outside
        self.routes = routes
        self.neighbours = neighbours
        self.localAddresses = Set(inside.addresses + outside.addresses)
        localAddressKeys = (inside.addresses + outside.addresses).map(\.orderedKey)
        localIPv4Addresses = (inside.addresses + outside.addresses).compactMap {
            if case .v4(let value) = $0 { return value }
            return nil
        }
    }

    /// Returns the next hop for `destination` through `interface`, or nil when the route
    /// table sends it elsewhere or has no route.
    @inline(__always)
    func nextHop(to destination: IPAddress, through interface: DataplaneInterface) -> IPAddress? {
        guard let route = routes.lookup(destination), route.interfaceIndex == interface.index
        else { return nil }
        return route.gateway ?? destination
    }

    @inline(__always)
    func neighbour(_ address: IPAddress, on interface: DataplaneInterface) -> MACAddress? {
        neighbours[NeighbourKey(interfaceIndex: interface.index, address: address)]
    }
}
