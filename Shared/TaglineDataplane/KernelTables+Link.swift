// Interface MTUs read from the kernel with an RTM_GETLINK dump (IFLA_MTU; see
// rtnetlink(7)), so that the dataplane follows `ip link set dev NAME mtu N`
// without a restart.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// An inside or outside interface whose MTU differs from the one the dataplane last used.
public struct InterfaceMTUChange: Sendable, Equatable {
    public var interface: String
    public var previousMTU: Int
    public var mtu: Int

    public init(interface: String, previousMTU: Int, mtu: Int) {
        self.interface = interface
        self.previousMTU = previousMTU
        self.mtu = mtu
    }
}

extension RouteNetlink {
    /// Returns the interface index, IFLA_MTU and 6-byte IFLA_ADDRESS (nil for a link without
    /// one) of one RTM_NEWLINK body, or nil when the body is shorter than `ifinfomsg` or
    /// carries no 4-byte IFLA_MTU.
    static func parseLink(_ body: UnsafeRawBufferPointer) -> (
        index: Int32, mtu: Int, mac: MACAddress?
    )? {
        guard body.count >= MemoryLayout<ifinfomsg>.size else { return nil }
        let message = body.loadUnaligned(as: ifinfomsg.self)
        var mtu: Int?
        var mac: MACAddress?
        forEachAttribute(body, after: MemoryLayout<ifinfomsg>.size) { type, payload in
            if type == UInt16(IFLA_MTU), payload.count == 4 {
                mtu = Int(exactly: payload.loadUnaligned(as: UInt32.self))
            }
            if type == UInt16(IFLA_ADDRESS), payload.count == 6 {
                mac = MACAddress(bytes: Array(payload))
            }
        }
        guard let mtu, message.ifi_index > 0 else { return nil }
        return (message.ifi_index, mtu, mac)
    }
}

extension InterfaceInfo {
    /// Returns this interface with the MTU that `snapshot` read for its index, and the change
    /// when that MTU differs. An interface missing from the dump keeps its MTU.
    func updatingMTU(from snapshot: KernelSnapshot) -> (InterfaceInfo, InterfaceMTUChange?) {
        guard let mtu = snapshot.linkMTUs[index], mtu != self.mtu else { return (self, nil) }
        var updated = self
        updated.mtu = mtu
        return (updated, InterfaceMTUChange(interface: name, previousMTU: self.mtu, mtu: mtu))
    }
}
