// The outbound SA of the last flow a worker encrypted, so that a burst of one
// flow walks the selectors once instead of per packet. An entry is kept only
// when exactly one SA matched. Among several matching SAs, as during a rekey,
// the choice depends on sequence leases and received packets. Those change
// without a new table, so such flows take the full walk every time. A packet
// without ports (a non-initial fragment) has a flow key of its own, so it
// never takes the SA cached for the ported packets of the same addresses.
// That SA may be limited to ports, and RFC 4301 §7 keeps fragments off such SAs.

import TaglineCore

/// One flow's outbound SA, valid for one SA table. The entry keeps a reference to its table,
/// so `===` cannot match a new table that reuses a freed one's address.
struct OutboundSACache {
    var table: SATable?
    var source: IPAddress.OrderedKey = (0, 0, 0)
    var destination: IPAddress.OrderedKey = (0, 0, 0)
    /// Protocol, ports and whether the packet has ports, packed by `OutboundSACache.flow`.
    var flow: UInt64 = 0
    var state: SAState?
    /// `state` without ownership, for lookups that borrow it while the entry lives.
    var unretained: Unmanaged<SAState>?

    @inline(__always)
    static func flow(ipProtocol: UInt8, ports: (source: UInt16, destination: UInt16)?) -> UInt64 {
        guard let ports else { return UInt64(ipProtocol) << 40 }
        return UInt64(ipProtocol) << 40 | 1 << 32 | UInt64(ports.source) << 16
            | UInt64(ports.destination)
    }
}

extension SATable {
    /// Tells whether exactly one outbound SA's selectors match the packet, so that
    /// `outboundSA` returns that SA whatever its lease and counters are.
    func hasSingleOutboundMatch(
        source: IPAddress, destination: IPAddress, ipProtocol: UInt8,
        ports: (source: UInt16, destination: UInt16)?
    ) -> Bool {
        let opaquePorts = ports == nil && IPProtocolNumber.hasPorts(ipProtocol)
        var matches = 0
        for state in outbound {
            let localMatch = state.localSelectors.containsMatch(
                address: source, ipProtocol: ipProtocol, port: ports?.source,
                opaquePorts: opaquePorts)
            guard localMatch else { continue }
            let remoteMatch = state.remoteSelectors.containsMatch(
                address: destination, ipProtocol: ipProtocol, port: ports?.destination,
                opaquePorts: opaquePorts)
            guard remoteMatch else { continue }
            matches += 1
            if matches > 1 { return false }
        }
        return matches == 1
    }
}

extension Pipeline {
    /// Returns what `table.outboundSA` returns for the packet, from the cache when the
    /// packet belongs to the last flow and the table has not changed since.
    @inline(__always)
    func outboundSA(_ table: SATable, for info: IPPacketInfo) -> SAState? {
        let source = info.source.orderedKey
        let destination = info.destination.orderedKey
        let flow = OutboundSACache.flow(ipProtocol: info.ipProtocol, ports: info.ports)
        if outboundSACache.table === table, outboundSACache.flow == flow,
            outboundSACache.source == source, outboundSACache.destination == destination
        {
            return outboundSACache.state
        }
        let state = table.outboundSA(
            source: info.source, destination: info.destination, ipProtocol: info.ipProtocol,
            ports: info.ports)
        if state != nil,
            table.hasSingleOutboundMatch(
                source: info.source, destination: info.destination,
                ipProtocol: info.ipProtocol, ports: info.ports)
        {
            outboundSACache = OutboundSACache(
                table: table, source: source, destination: destination, flow: flow, state: state,
                unretained: state.map(Unmanaged.passUnretained))
        }
        return state
    }

    /// Returns what `outboundSA` returns, without a retain. `table` keeps the SA alive, so
    /// the reference is valid while the caller holds the table.
    @inline(__always)
    func unretainedOutboundSA(_ table: SATable, for info: IPPacketInfo) -> Unmanaged<SAState>? {
        let source = info.source.orderedKey
        let destination = info.destination.orderedKey
        let flow = OutboundSACache.flow(ipProtocol: info.ipProtocol, ports: info.ports)
        if outboundSACache.table === table, outboundSACache.flow == flow,
            outboundSACache.source == source, outboundSACache.destination == destination
        {
            return outboundSACache.unretained
        }
        return lookUpOutboundSA(table, for: info)
    }

    /// Looks up the SA on a cache miss of `unretainedOutboundSA`, out of line so that the hit
    /// stays small.
    @inline(never)
    private func lookUpOutboundSA(_ table: SATable, for info: IPPacketInfo)
        -> Unmanaged<SAState>?
    {
        outboundSA(table, for: info).map(Unmanaged.passUnretained)
    }
}

extension Pipeline {
    /// Forgets the cached outbound SA. A worker calls it before it sleeps, so that while it
    /// is idle the cache keeps no replaced SA table alive, nor the keys of its deleted SAs.
    func forgetOutboundSA() {
        outboundSACache = OutboundSACache()
    }
}
