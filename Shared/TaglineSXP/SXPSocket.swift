// TCP sockets for SXP: the listener, non-blocking connects from a chosen
// source address, and TCP-MD5 keys (RFC 2385) set with setsockopt
// TCP_MD5SIG. With a key set for a peer address, the kernel drops every
// segment from that address without a valid signature, SYNs included, so an
// unsigned connection attempt never completes.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// A failed socket call, with the call's name and errno.
public struct SXPSocketError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}

enum SXPSocket {
    /// Runs `body` with `address`:`port` as a sockaddr_in or sockaddr_in6.
    static func withSocketAddress<T>(
        _ address: IPAddress, port: UInt16,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> T
    ) -> T {
        switch address {
        case .v4(let value):
            var storage = sockaddr_in()
            storage.sin_family = sa_family_t(AF_INET)
            storage.sin_port = port.bigEndian
            storage.sin_addr.s_addr = value.bigEndian
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6:
            var storage = sockaddr_in6()
            storage.sin6_family = sa_family_t(AF_INET6)
            storage.sin6_port = port.bigEndian
            let bytes = address.bytes
            withUnsafeMutableBytes(of: &storage.sin6_addr) { raw in
                for index in 0..<16 { raw[index] = bytes[index] }
            }
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Reads the address of a sockaddr_storage filled by accept or getpeername.
    static func address(of storage: sockaddr_storage) -> IPAddress? {
        var copy = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &copy) { raw in
                let sin = raw.load(as: sockaddr_in.self)
                return .v4(UInt32(bigEndian: sin.sin_addr.s_addr))
            }
        case AF_INET6:
            return withUnsafeBytes(of: &copy) { raw in
                let sin6 = raw.load(as: sockaddr_in6.self)
                let bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
                return IPAddress(bytes: bytes)
            }
        default:
            return nil
        }
    }

    static func check(_ result: Int32, _ call: String) throws {
        if result < 0 { throw SXPSocketError(call: call, code: errno) }
    }

    static func family(_ address: IPAddress) -> Int32 { address.isIPv4 ? AF_INET : AF_INET6 }

    /// Sets the TCP-MD5 key for `peer` on `fd`; an empty key removes it.
    static func setMD5Key(_ fd: Int32, peer: IPAddress, key: [UInt8]) throws {
        let result = withSocketAddress(peer, port: 0) { address, length in
            key.withUnsafeBufferPointer {
                tagline_set_tcp_md5(fd, address, length, $0.baseAddress, UInt16(key.count))
            }
        }
        try check(result, "setsockopt(TCP_MD5SIG) for \(peer)")
    }

    /// Opens a non-blocking listening socket on `address`:`port` and sets
    /// the TCP-MD5 key of each peer in `keys`.
    static func listen(
        on address: IPAddress, port: UInt16, keys: [(IPAddress, [UInt8])]
    ) throws -> Int32 {
        let fd = socket(family(address), Int32(SOCK_STREAM.rawValue), 0)
        try check(fd, "socket")
        do {
            var one: Int32 = 1
            try check(
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)),
                "setsockopt(SO_REUSEADDR)")
            for (peer, key) in keys where peer.isIPv4 == address.isIPv4 {
                try setMD5Key(fd, peer: peer, key: key)
            }
            let bound = withSocketAddress(address, port: port) { bind(fd, $0, $1) }
            try check(bound, "bind to \(address) port \(port)")
            try check(Glibc.listen(fd, 64), "listen")
            try check(tagline_set_nonblocking(fd), "fcntl(O_NONBLOCK)")
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Starts a non-blocking connect to `peer`:`port` from `source`, with
    /// the TCP-MD5 key set before the SYN leaves. Completion shows as
    /// writability (see `connectResult`).
    static func connect(
        to peer: IPAddress, port: UInt16, from source: IPAddress?, key: [UInt8]?
    ) throws -> Int32 {
        let fd = socket(family(peer), Int32(SOCK_STREAM.rawValue), 0)
        try check(fd, "socket")
        do {
            try check(tagline_set_nonblocking(fd), "fcntl(O_NONBLOCK)")
            if let key, !key.isEmpty { try setMD5Key(fd, peer: peer, key: key) }
            if let source {
                let bound = withSocketAddress(source, port: 0) { bind(fd, $0, $1) }
                try check(bound, "bind to \(source)")
            }
            let result = withSocketAddress(peer, port: port) { Glibc.connect(fd, $0, $1) }
            if result < 0 && errno != EINPROGRESS {
                throw SXPSocketError(call: "connect to \(peer) port \(port)", code: errno)
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Returns nil while a non-blocking connect is in progress, 0 once it
    /// succeeded, or the errno it failed with.
    static func connectResult(_ fd: Int32) -> Int32? {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&entry, 1, 0) > 0 else { return nil }
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) < 0 { return errno }
        return code
    }

    /// Accepts one pending connection; nil when none is pending.
    static func accept(_ listener: Int32) throws -> (fd: Int32, peer: IPAddress?)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.accept(listener, $0, &length)
            }
        }
        if fd < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
            throw SXPSocketError(call: "accept", code: errno)
        }
        _ = tagline_set_nonblocking(fd)
        return (fd, address(of: storage))
    }

    /// Returns the local address of a connected socket.
    static func localAddress(_ fd: Int32) -> IPAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(fd, $0, &length)
            }
        }
        return result == 0 ? address(of: storage) : nil
    }
}
