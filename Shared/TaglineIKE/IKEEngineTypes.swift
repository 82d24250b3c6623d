// The types through which the engine meets its host: addresses, datagrams
// and the delegate that sends, allocates SPIs, installs Child SAs and logs.

import TaglineCore

/// One side of an IKE conversation: an address and a UDP port (500, or 4500 after NAT-T floating).
public struct IKEEndpoint: Hashable, Sendable, Codable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The standard IKE port.
    public static let ikePort: UInt16 = 500
    /// The port IKE floats to when a NAT is detected, shared with ESP-in-UDP (RFC 3948).
    public static let natTraversalPort: UInt16 = 4500

    public var description: String {
        address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
    }
}

/// An IKE message with its addresses. On port 4500 the bytes start at the IKE
/// header: the socket layer adds and strips the 4-byte non-ESP marker.
public struct IKEDatagram: Sendable {
    public var local: IKEEndpoint
    public var remote: IKEEndpoint
    public var bytes: [UInt8]

    public init(local: IKEEndpoint, remote: IKEEndpoint, bytes: [UInt8]) {
        self.local = local
        self.remote = remote
        self.bytes = bytes
    }
}

/// The host of an `IKEEngine`. All calls happen synchronously on the thread
/// that called into the engine.
public protocol IKEEngineDelegate: AnyObject {
    /// Sends a datagram; the engine retransmits requests itself.
    func engine(_ engine: IKEEngine, send datagram: IKEDatagram)
    /// Allocates an unused inbound ESP SPI; nil when none is available right now.
    func engineAllocateInboundSPI(_ engine: IKEEngine) -> UInt32?
    /// Installs a negotiated Child SA pair.
    func engine(_ engine: IKEEngine, install childSA: ChildSA)
    /// Removes the Child SA pair named by its inbound SPI.
    func engine(_ engine: IKEEngine, deleteChildSA inboundSPI: UInt32)
    /// Emits one line of `debug crypto ikev2 internal` output, in the IOS form.
    func engine(_ engine: IKEEngine, debug line: String)
    /// Emits one log message; the subsystem is IKE and the message starts with the peer.
    func engine(_ engine: IKEEngine, log level: LogLevel, _ message: String)
    /// Reports an IKE SA that came up (`up` true) or went away.
    func engine(_ engine: IKEEngine, ikeSAChanged status: IKESAStatus, up: Bool)
    /// Reports Child SAs that an IKE SA rekey moved to the new IKE SA: their
    /// `ikeSAName` names it, and SPIs, keys and lifetimes are unchanged.
    func engine(_ engine: IKEEngine, moved childSAs: [ChildSA])
}

extension IKEEngineDelegate {
    /// Installs each moved Child SA again, which sa-manager treats as a
    /// replacement of the SA with the same inbound SPI.
    public func engine(_ engine: IKEEngine, moved childSAs: [ChildSA]) {
        for child in childSAs {
            self.engine(engine, install: child)
        }
    }
}

/// The IKE SAs to write to or delete from persistent storage, from `IKEEngine.takeStateChanges()`.
public struct IKEStateChanges: Sendable {
    /// Established SAs that are new or changed.
    public var updated: [IKESAState]
    /// Local SPIs of SAs that are gone or no longer established. Storage may
    /// never have held some of them, such as half-open SAs that expired.
    public var removed: [UInt64]

    public init(updated: [IKESAState], removed: [UInt64]) {
        self.updated = updated
        self.removed = removed
    }

    public var isEmpty: Bool { updated.isEmpty && removed.isEmpty }
}
