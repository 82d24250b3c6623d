// The negotiator's UDP sockets: one per local address and port (500 and
// 4500). On port 4500 IKE messages follow a 4-byte zero non-ESP marker
// (RFC 3948 §2.2), which this file adds and strips. A classic BPF filter
// keeps ESP-in-UDP (whose first 4 bytes are a non-zero SPI) away from the
// socket, so the dataplane's traffic never wakes the negotiator.

import CTaglineShim
import TaglineCore
import TaglineIKE

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call, with the call's name and errno.
struct SystemCallError: Error, CustomStringConvertible {
    var call: String
    var code: Int32

    var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

/// Runs a system call, retrying on EINTR. Returns nil for EAGAIN (nothing to
/// read, or a full send buffer) and throws any other errno with the call's name.
@discardableResult
func systemCall(_ name: String, _ body: () -> Int) throws -> Int? {
    while true {
        let result = body()
        if result >= 0 { return result }
        switch errno {
        case EINTR: continue
        case EAGAIN: return nil
        default: throw SystemCallError(call: name, code: errno)
        }
    }
}

/// A bound, non-blocking UDP socket for IKE.
final class IKESocket {
    /// The 4 zero bytes in front of IKE messages on port 4500.
    static let nonESPMarker: [UInt8] = [0, 0, 0, 0]
    static let maximumDatagram = 65535

    let fd: Int32
    let local: IKEEndpoint
    var isNATTraversal: Bool { local.port == IKEEndpoint.natTraversalPort }

    /// Opens a socket bound to `local` with SO_REUSEADDR; on port 4500 it also
    /// attaches the filter that passes only datagrams starting with the marker.
    init(local: IKEEndpoint) throws {
        self.local = local
        let family = local.address.isIPv4 ? AF_INET : AF_INET6
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(call: "socket", code: errno) }
        self.fd = fd
        do {
            var one: Int32 = 1
            try systemCall("setsockopt(SO_REUSEADDR)") {
                Int(
                    setsockopt(
                        fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)))
            }
            if !local.address.isIPv4 {
                try systemCall("setsockopt(IPV6_V6ONLY)") {
                    Int(
                        setsockopt(
                            fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one,
                            socklen_t(MemoryLayout<Int32>.size)))
                }
            }
            if local.port == IKEEndpoint.natTraversalPort {
                try IKESocket.attachMarkerFilter(fd)
            }
            _ = try SocketAddress(local).withPointer { address, length in
                try systemCall("bind \(local)") { Int(bind(fd, address, length)) }
            }
            guard tagline_set_nonblocking(fd) == 0 else {
                throw SystemCallError(call: "fcntl(O_NONBLOCK)", code: errno)
            }
            IKESocket.enlargeBuffers(fd)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Bytes requested for each of the socket's receive and send buffers.
    /// Many IKE_SA_INIT requests at once (from many peers, or one peer that
    /// starts many SAs) arrive faster than the Diffie-Hellman work drains
    /// them. With Linux's default of about 208 KiB, a burst of a few hundred
    /// datagrams overflows the buffer, and each lost one waits a full
    /// retransmission interval of the initiator.
    static let bufferBytes: Int32 = 4 << 20

    /// Sets both buffers to `bufferBytes`: with SO_RCVBUFFORCE and
    /// SO_SNDBUFFORCE when the process has CAP_NET_ADMIN, otherwise with
    /// SO_RCVBUF and SO_SNDBUF, which the kernel caps at net.core.rmem_max and
    /// wmem_max. A failure leaves the default size, which works at lower rates.
    static func enlargeBuffers(_ fd: Int32) {
        for (forced, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)] {
            var size = bufferBytes
            let length = socklen_t(MemoryLayout<Int32>.size)
            if setsockopt(fd, SOL_SOCKET, forced, &size, length) != 0 {
                _ = setsockopt(fd, SOL_SOCKET, plain, &size, length)
            }
        }
    }

    /// Attaches a classic BPF program that accepts a datagram only when the 32-bit
    /// word after the 8-byte UDP header is zero, because a socket filter on a UDP
    /// socket runs on the packet from the UDP header on. The kernel drops a
    /// datagram too short for the load, so NAT keepalives (one 0xFF byte) go too.
    static func attachMarkerFilter(_ fd: Int32) throws {
        var program: [sock_filter] = [
            // A = 32-bit word at offset 8 (the first 4 payload bytes).
            sock_filter(code: UInt16(BPF_LD | BPF_W | BPF_ABS), jt: 0, jf: 0, k: 8),
            // A == 0 ? next : skip one.
            sock_filter(code: UInt16(BPF_JMP | BPF_JEQ | BPF_K), jt: 0, jf: 1, k: 0),
            // Accept the whole datagram.
            sock_filter(code: UInt16(BPF_RET | BPF_K), jt: 0, jf: 0, k: 0xFFFF_FFFF),
            // Drop it.
            sock_filter(code: UInt16(BPF_RET | BPF_K), jt: 0, jf: 0, k: 0),
        ]
        try program.withUnsafeMutableBufferPointer { instructions in
            var filter = sock_fprog(
                len: UInt16(instructions.count), filter: instructions.baseAddress)
            try systemCall("setsockopt(SO_ATTACH_FILTER)") {
                Int(
                    setsockopt(
                        fd, SOL_SOCKET, SO_ATTACH_FILTER, &filter,
                        socklen_t(MemoryLayout<sock_fprog>.size)))
            }
        }
    }

    /// The outcome of one read.
    enum Received {
        case datagram(IKEDatagram)
        /// A datagram on port 4500 without the non-ESP marker, which the filter
        /// normally drops in the kernel.
        case missingMarker
        case nothing
    }

    /// Reads one datagram. On port 4500 the non-ESP marker is stripped.
    func receive() throws -> Received {
        var buffer = [UInt8](repeating: 0, count: IKESocket.maximumDatagram)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = try withUnsafeMutablePointer(to: &storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                try systemCall("recvfrom") {
                    buffer.withUnsafeMutableBytes {
                        recvfrom(fd, $0.baseAddress, $0.count, 0, address, &length)
                    }
                }
            }
        }
        guard let count else { return .nothing }
        guard let remote = SocketAddress.endpoint(from: storage) else { return .nothing }
        var bytes = Array(buffer[0..<count])
        if isNATTraversal {
            guard bytes.count >= 4, Array(bytes[0..<4]) == IKESocket.nonESPMarker else {
                return .missingMarker
            }
            bytes.removeFirst(4)
        }
        return .datagram(IKEDatagram(local: local, remote: remote, bytes: bytes))
    }

    /// Sends one IKE message to `remote`, with the marker in front on port 4500.
    func send(_ bytes: [UInt8], to remote: IKEEndpoint) throws {
        let payload = isNATTraversal ? IKESocket.nonESPMarker + bytes : bytes
        try SocketAddress(remote).withPointer { address, length in
            let sent = try systemCall("sendto \(remote)") {
                payload.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, 0, address, length)
                }
            }
            if sent == nil {
                throw SystemCallError(call: "sendto \(remote)", code: EAGAIN)
            }
        }
    }
}

/// A sockaddr_in or sockaddr_in6 built from an endpoint.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t

    init(_ endpoint: IKEEndpoint) {
        switch endpoint.address {
        case .v4(let value):
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = endpoint.port.bigEndian
            address.sin_addr = in_addr(s_addr: value.bigEndian)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
        case .v6:
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = endpoint.port.bigEndian
            withUnsafeMutableBytes(of: &address.sin6_addr) { target in
                endpoint.address.bytes.withUnsafeBytes { target.copyMemory(from: $0) }
            }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
        }
    }

    func withPointer<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        var copy = storage
        return try withUnsafePointer(to: &copy) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, length)
            }
        }
    }

    /// Returns the address and port of a received sockaddr, or nil for other families.
    static func endpoint(from storage: sockaddr_storage) -> IKEEndpoint? {
        var copy = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &copy) { raw in
                let address = raw.load(as: sockaddr_in.self)
                return IKEEndpoint(
                    address: .v4(UInt32(bigEndian: address.sin_addr.s_addr)),
                    port: UInt16(bigEndian: address.sin_port))
            }
        case AF_INET6:
            return withUnsafeBytes(of: &copy) { raw in
                let address = raw.load(as: sockaddr_in6.self)
                let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
                guard let ip = IPAddress(bytes: bytes) else { return nil }
                return IKEEndpoint(address: ip, port: UInt16(bigEndian: address.sin6_port))
            }
        default:
            return nil
        }
    }
}
