// Routes, neighbours, interface addresses and MTUs read from the kernel over
// rtnetlink dumps (RTM_GETROUTE, RTM_GETNEIGH, RTM_GETADDR, RTM_GETLINK; see
// rtnetlink(7)).
// The control thread reads them periodically and builds a ForwardingTable.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Routes, neighbours, addresses and MTUs from one set of rtnetlink dumps.
public struct KernelSnapshot: Sendable {
    public var routes: [(prefix: IPPrefix, route: Route)] = []
    public var neighbours: [NeighbourKey: MACAddress] = [:]
    /// Addresses per interface index.
    public var addresses: [Int32: [IPAddress]] = [:]
    /// MTU per interface index (IFLA_MTU).
    public var linkMTUs: [Int32: Int] = [:]
    /// MAC address per interface index (IFLA_ADDRESS), which `ip link set address` changes.
    public var linkMACs: [Int32: MACAddress] = [:]
    /// Destinations the kernel delivers to this host: the local, broadcast and anycast routes
    /// of every table, one per address plus prefixes such as 127.0.0.0/8.
    public var localPrefixes: Set<IPPrefix> = []

    public init() {}

    /// Builds the table the workers use for `inside` and `outside`, adding `learned`
    /// neighbours where the kernel has none. An interface takes its MTU from `linkMTUs` and
    /// its MAC address from `linkMACs`, or from its `InterfaceInfo` when the dump did not
    /// list it.
    public func forwardingTable(
        inside: InterfaceInfo, outside: InterfaceInfo,
        learned: [NeighbourKey: MACAddress] = [:]
    ) -> ForwardingTable {
        var table = PrefixTable<Route>()
        for entry in routes { table.insert(entry.prefix, entry.route) }
        var merged = learned
        for (key, mac) in neighbours { merged[key] = mac }
        func interface(_ info: InterfaceInfo) -> DataplaneInterface {
            DataplaneInterface(
                name: info.name, index: info.index, mac: linkMACs[info.index] ?? info.mac,
                mtu: linkMTUs[info.index] ?? info.mtu,
                addresses: addresses[info.index] ?? [])
        }
        return ForwardingTable(
            inside: interface(inside), outside: interface(outside),
            routes: table, neighbours: merged)
    }
}

/// A NETLINK_ROUTE socket for dump requests.
public final class RouteNetlink {
    private let fd: Int32
    private var sequence: UInt32 = 1
    private static let headerSize = MemoryLayout<nlmsghdr>.size
    private static let attributeHeaderSize = MemoryLayout<rtattr>.size

    public init() throws {
        fd = try Syscall.run("socket(AF_NETLINK, NETLINK_ROUTE)") {
            socket(
                AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                NETLINK_ROUTE)
        }
    }

    deinit { close(fd) }

    /// Dumps IPv4 and IPv6 main-table unicast routes, the local destinations of every table,
    /// reachable neighbours, addresses and the MTU of every interface.
    public func snapshot() throws -> KernelSnapshot {
        var result = KernelSnapshot()
        try dump(type: UInt16(RTM_GETLINK), family: UInt8(AF_UNSPEC)) { type, body in
            if type == UInt16(RTM_NEWLINK), let link = RouteNetlink.parseLink(body) {
                result.linkMTUs[link.index] = link.mtu
                result.linkMACs[link.index] = link.mac
            }
        }
        for family in [UInt8(AF_INET), UInt8(AF_INET6)] {
            try dump(type: UInt16(RTM_GETROUTE), family: family) { type, body in
                guard type == UInt16(RTM_NEWROUTE) else { return }
                if let entry = RouteNetlink.parseRoute(body) {
                    result.routes.append(entry)
                } else if let prefix = RouteNetlink.parseLocalRoute(body) {
                    result.localPrefixes.insert(prefix)
                }
            }
            try dump(type: UInt16(RTM_GETNEIGH), family: family) { type, body in
                if type == UInt16(RTM_NEWNEIGH), let (key, mac) = RouteNetlink.parseNeighbour(body)
                {
                    result.neighbours[key] = mac
                }
            }
            try dump(type: UInt16(RTM_GETADDR), family: family) { type, body in
                if type == UInt16(RTM_NEWADDR),
                    let (index, address) = RouteNetlink.parseAddress(body)
                {
                    result.addresses[index, default: []].append(address)
                }
            }
        }
        return result
    }

    /// Sends one dump request and calls `handle` with each message type and body until
    /// NLMSG_DONE.
    private func dump(
        type: UInt16, family: UInt8,
        _ handle: (UInt16, UnsafeRawBufferPointer) -> Void
    ) throws {
        // nlmsghdr followed by a family-only body (rtgenmsg), padded to 4 bytes.
        var request = [UInt8](repeating: 0, count: RouteNetlink.headerSize + 4)
        sequence &+= 1
        let currentSequence = sequence
        request.withUnsafeMutableBytes { buffer in
            var header = nlmsghdr()
            header.nlmsg_len = UInt32(buffer.count)
            header.nlmsg_type = type
            header.nlmsg_flags = UInt16(NLM_F_REQUEST | NLM_F_DUMP)
            header.nlmsg_seq = currentSequence
            buffer.storeBytes(of: header, as: nlmsghdr.self)
            buffer[RouteNetlink.headerSize] = family
        }
        var kernel = sockaddr_nl()
        kernel.nl_family = UInt16(AF_NETLINK)
        try Syscall.run("sendto(NETLINK_ROUTE)") {
            request.withUnsafeBytes { bytes in
                withUnsafePointer(to: &kernel) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(
                            fd, bytes.baseAddress, bytes.count, 0, $0,
                            socklen_t(MemoryLayout<sockaddr_nl>.size))
                    }
                }
            }
        }

        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let received = try Syscall.run("recv(NETLINK_ROUTE)") {
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            var done = false
            try buffer.withUnsafeBytes { raw in
                let bytes = raw.slice(0, received)
                var offset = 0
                while offset + RouteNetlink.headerSize <= bytes.count {
                    let header = bytes.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self)
                    let length = Int(header.nlmsg_len)
                    guard length >= RouteNetlink.headerSize, offset + length <= bytes.count else {
                        break
                    }
                    if header.nlmsg_seq == currentSequence {
                        if header.nlmsg_type == UInt16(NLMSG_DONE) {
                            done = true
                            break
                        }
                        if header.nlmsg_type == UInt16(NLMSG_ERROR) {
                            let code = bytes.loadUnaligned(
                                fromByteOffset: offset + RouteNetlink.headerSize, as: Int32.self)
                            if code != 0 {
                                throw SystemCallError(call: "netlink dump \(type)", errno: -code)
                            }
                            done = true
                            break
                        }
                        handle(
                            header.nlmsg_type,
                            bytes.slice(
                                offset + RouteNetlink.headerSize,
                                length - RouteNetlink.headerSize))
                    }
                    offset += (length + 3) & ~3
                }
            }
            if done { return }
        }
    }

    /// Calls `handle` with each route attribute's type and payload after `fixedSize` bytes.
    static func forEachAttribute(
        _ body: UnsafeRawBufferPointer, after fixedSize: Int,
        _ handle: (UInt16, UnsafeRawBufferPointer) -> Void
    ) {
        var offset = (fixedSize + 3) & ~3
        while offset + attributeHeaderSize <= body.count {
            let length = Int(body.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let type = body.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)
            guard length >= attributeHeaderSize, offset + length <= body.count else { return }
            handle(
                type & 0x3FFF,
                body.slice(offset + attributeHeaderSize, length - attributeHeaderSize))
            offset += (length + 3) & ~3
        }
    }

    static func address(_ payload: UnsafeRawBufferPointer, family: UInt8) -> IPAddress? {
        if family == UInt8(AF_INET), payload.count == 4 { return IPAddress(bytes: payload) }
        if family == UInt8(AF_INET6), payload.count == 16 { return IPAddress(bytes: payload) }
        return nil
    }

    static func parseRoute(_ body: UnsafeRawBufferPointer) -> (prefix: IPPrefix, route: Route)? {
        guard body.count >= MemoryLayout<rtmsg>.size else { return nil }
        let message = body.loadUnaligned(as: rtmsg.self)
        guard message.rtm_type == UInt8(RTN_UNICAST) else { return nil }
        var table = UInt32(message.rtm_table)
        var destination: IPAddress?
        var gateway: IPAddress?
        var interfaceIndex: Int32 = 0
        forEachAttribute(body, after: MemoryLayout<rtmsg>.size) { type, payload in
            switch Int32(type) {
            case Int32(RTA_DST.rawValue): destination = address(payload, family: message.rtm_family)
            case Int32(RTA_GATEWAY.rawValue): gateway = address(payload, family: message.rtm_family)
            case Int32(RTA_OIF.rawValue) where payload.count == 4:
                interfaceIndex = payload.loadUnaligned(as: Int32.self)
            case Int32(RTA_TABLE.rawValue) where payload.count == 4:
                table = payload.loadUnaligned(as: UInt32.self)
            default: break
            }
        }
        guard table == UInt32(RT_TABLE_MAIN.rawValue), interfaceIndex != 0 else { return nil }
        let zero: IPAddress = message.rtm_family == UInt8(AF_INET) ? .v4(0) : .v6(0, 0)
        guard let prefix = IPPrefix(address: destination ?? zero, length: Int(message.rtm_dst_len))
        else { return nil }
        return (prefix, Route(interfaceIndex: interfaceIndex, gateway: gateway))
    }

    /// Returns the destination of a local, broadcast or anycast route, which the kernel's
    /// input routing delivers to this host. Nil for any other route. Such routes count in
    /// every table, not only the local table (255): a VRF keeps the local routes of its
    /// addresses in its own table, and a policy rule can lead to a table with `local` routes.
    static func parseLocalRoute(_ body: UnsafeRawBufferPointer) -> IPPrefix? {
        guard body.count >= MemoryLayout<rtmsg>.size else { return nil }
        let message = body.loadUnaligned(as: rtmsg.self)
        let types = [RTN_LOCAL, RTN_BROADCAST, RTN_ANYCAST].map { UInt8($0) }
        guard types.contains(message.rtm_type) else { return nil }
        var destination: IPAddress?
        forEachAttribute(body, after: MemoryLayout<rtmsg>.size) { type, payload in
            if Int32(type) == Int32(RTA_DST.rawValue) {
                destination = address(payload, family: message.rtm_family)
            }
        }
        guard let destination else { return nil }
        return IPPrefix(covering: destination, length: Int(message.rtm_dst_len))
    }

    static func parseNeighbour(_ body: UnsafeRawBufferPointer) -> (NeighbourKey, MACAddress)? {
        guard body.count >= MemoryLayout<ndmsg>.size else { return nil }
        let message = body.loadUnaligned(as: ndmsg.self)
        let usable = UInt16(NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)
        guard message.ndm_state & usable != 0 else { return nil }
        var destination: IPAddress?
        var mac: MACAddress?
        forEachAttribute(body, after: MemoryLayout<ndmsg>.size) { type, payload in
            switch Int32(type) {
            case Int32(NDA_DST): destination = address(payload, family: message.ndm_family)
            case Int32(NDA_LLADDR) where payload.count == 6:
                mac = MACAddress(bytes: Array(payload))
            default: break
            }
        }
        guard let destination, let mac else { return nil }
        return (NeighbourKey(interfaceIndex: message.ndm_ifindex, address: destination), mac)
    }

    static func parseAddress(_ body: UnsafeRawBufferPointer) -> (Int32, IPAddress)? {
        guard body.count >= MemoryLayout<ifaddrmsg>.size else { return nil }
        let message = body.loadUnaligned(as: ifaddrmsg.self)
        var local: IPAddress?
        var address: IPAddress?
        forEachAttribute(body, after: MemoryLayout<ifaddrmsg>.size) { type, payload in
            switch Int32(type) {
            case Int32(IFA_LOCAL): local = RouteNetlink.address(payload, family: message.ifa_family)
            case Int32(IFA_ADDRESS):
                address = RouteNetlink.address(payload, family: message.ifa_family)
            default: break
            }
        }
        guard let found = local ?? address else { return nil }
        return (Int32(message.ifa_index), found)
    }
}
