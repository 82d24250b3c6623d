// AF_PACKET sockets with PACKET_MMAP rings (see the kernel's
// Documentation/networking/packet_mmap.rst). Each worker opens, per
// interface, one RX socket (TPACKET_V3 ring, virtio-net headers, fanout
// group) and one TX socket (TPACKET_V2 ring, qdisc bypass, per-frame data
// offset). This file contains what both share: the socket, the mapping, the
// interface lookup and the struct size checks.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Layout facts of the kernel structs the rings use, checked against the C headers.
public enum RingLayout {
    static let tpacket2HeaderSize = 32
    static let tpacket3HeaderSize = 48
    static let blockDescriptorStatusOffset = 8
    static let virtioHeaderSize = 10
    static let sockaddrLLSize = 20

    /// Throws when a struct imported from the kernel headers has an unexpected size, which
    /// would put every ring offset in the wrong place.
    public static func verify() throws {
        let checks: [(String, Int, Int)] = [
            ("tpacket2_hdr", MemoryLayout<tpacket2_hdr>.size, tpacket2HeaderSize),
            ("tpacket3_hdr", MemoryLayout<tpacket3_hdr>.size, tpacket3HeaderSize),
            ("tpacket_req", MemoryLayout<tpacket_req>.size, 16),
            ("tpacket_req3", MemoryLayout<tpacket_req3>.size, 28),
            ("virtio_net_hdr", MemoryLayout<virtio_net_hdr>.size, virtioHeaderSize),
            ("sockaddr_ll", MemoryLayout<sockaddr_ll>.size, sockaddrLLSize),
            (
                "tpacket_block_desc.block_status",
                MemoryLayout<tpacket_block_desc>.offset(of: \tpacket_block_desc.hdr)!
                    + MemoryLayout<tpacket_hdr_v1>.offset(of: \tpacket_hdr_v1.block_status)!,
                blockDescriptorStatusOffset
            ),
        ]
        for (name, actual, expected) in checks where actual != expected {
            throw RingError.layoutMismatch(structure: name, actual: actual, expected: expected)
        }
    }

    /// TPACKET_ALIGN of linux/if_packet.h.
    @inline(__always)
    static func align(_ value: Int) -> Int {
        (value + Int(TPACKET_ALIGNMENT) - 1) & ~(Int(TPACKET_ALIGNMENT) - 1)
    }
}

/// Ring setup failures that are not a plain failed system call.
public enum RingError: Error, CustomStringConvertible, Equatable {
    case layoutMismatch(structure: String, actual: Int, expected: Int)
    case interfaceNotFound(String)
    case system(SystemCallError)

    public var description: String {
        switch self {
        case .layoutMismatch(let structure, let actual, let expected):
            return "struct \(structure) is \(actual) bytes in Swift but the ring code expects "
                + "\(expected); the kernel headers changed"
        case .interfaceNotFound(let name):
            return "interface \(name) not found; check --inside and --outside"
        case .system(let error):
            return error.description
        }
    }
}

/// Index, MAC address and MTU of a network interface, read with SIOCGIF* ioctls.
public struct InterfaceInfo: Sendable, Equatable {
    public var name: String
    public var index: Int32
    public var mac: MACAddress
    public var mtu: Int

    /// Reads the interface named `name` in the current network namespace.
    public static func read(_ name: String) throws -> InterfaceInfo {
        let fd = try Syscall.run("socket(AF_INET, SOCK_DGRAM)") {
            socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        }
        defer { close(fd) }
        var request = ifreq()
        guard name.utf8.count < MemoryLayout.size(ofValue: request.ifr_ifrn.ifrn_name) else {
            throw RingError.interfaceNotFound(name)
        }
        func setName(_ request: inout ifreq) {
            withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { buffer in
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                for (offset, byte) in name.utf8.enumerated() { buffer[offset] = byte }
            }
        }
        setName(&request)
        guard tagline_ioctl_ifreq(fd, UInt(SIOCGIFINDEX), &request) == 0 else {
            throw RingError.interfaceNotFound(name)
        }
        let index = request.ifr_ifru.ifru_ivalue
        setName(&request)
        try Syscall.run("ioctl(SIOCGIFHWADDR, \(name))") {
            tagline_ioctl_ifreq(fd, UInt(SIOCGIFHWADDR), &request)
        }
        let macBytes = withUnsafeBytes(of: request.ifr_ifru.ifru_hwaddr.sa_data) {
            Array($0.prefix(6))
        }
        setName(&request)
        try Syscall.run("ioctl(SIOCGIFMTU, \(name))") {
            tagline_ioctl_ifreq(fd, UInt(SIOCGIFMTU), &request)
        }
        let mtu = Int(request.ifr_ifru.ifru_mtu)
        return InterfaceInfo(name: name, index: index, mac: MACAddress(bytes: macBytes)!, mtu: mtu)
    }
}

/// An AF_PACKET socket with one mmapped ring; closes and unmaps in deinit.
final class PacketSocket {
    let fd: Int32
    private(set) var ring: UnsafeMutableRawPointer?
    private(set) var ringSize = 0

    /// Opens a socket that receives nothing until `bind`.
    init() throws {
        fd = try Syscall.run("socket(AF_PACKET, SOCK_RAW)") {
            socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
        }
    }

    deinit {
        if let ring { munmap(ring, ringSize) }
        close(fd)
    }

    func setOption<T>(_ option: Int32, _ value: T, name: String) throws {
        try Syscall.setOption(fd, SOL_PACKET, option, value, name: name)
    }

    /// Maps the ring configured with PACKET_RX_RING or PACKET_TX_RING.
    func mapRing(size: Int) throws {
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0)
        if address == MAP_FAILED || address == nil {
            // MAP_LOCKED fails under a low RLIMIT_MEMLOCK; the ring works unlocked too.
            let unlocked = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            guard unlocked != MAP_FAILED, let unlocked else {
                throw SystemCallError(call: "mmap(packet ring)", errno: errno)
            }
            ring = unlocked
        } else {
            ring = address
        }
        ringSize = size
    }

    /// Returns the frames the kernel dropped because the ring was full, and the times it froze
    /// the ring for that reason, since the last call: reading PACKET_STATISTICS resets them.
    func takeRingStatistics() -> (drops: UInt64, freezes: UInt64) {
        var stats = tpacket_stats_v3()
        var length = socklen_t(MemoryLayout<tpacket_stats_v3>.size)
        guard getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0 else {
            return (0, 0)
        }
        return (UInt64(stats.tp_drops), UInt64(stats.tp_freeze_q_cnt))
    }

    /// Binds to `interfaceIndex` for `protocol` (host order; 0 receives nothing).
    func bind(interfaceIndex: Int32, protocol etherType: UInt16) throws {
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = etherType.bigEndian
        address.sll_ifindex = interfaceIndex
        try Syscall.run("bind(AF_PACKET, ifindex \(interfaceIndex))") {
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
        }
    }
}
