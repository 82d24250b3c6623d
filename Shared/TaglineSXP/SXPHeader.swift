// The SXP message header (draft-smith-kandula-sxp, "SXP Message Format"). Every
// message on the TCP stream starts with it; Length counts the whole message,
// header included, so a stream reader knows where the next message starts.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                            Length                             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                             Type                              |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Payload (variable)                     |

/// The SXP message types.
public enum SXPMessageType: UInt32, Sendable, CustomStringConvertible {
    case open = 1
    case openResponse = 2
    case update = 3
    case error = 4
    case purgeAll = 5
    case keepalive = 6

    public var description: String {
        switch self {
        case .open: return "OPEN"
        case .openResponse: return "OPEN_RESP"
        case .update: return "UPDATE"
        case .error: return "ERROR"
        case .purgeAll: return "PURGE_ALL"
        case .keepalive: return "KEEPALIVE"
        }
    }
}

/// The SXP protocol versions. Version 4 brings attributes, prefixes, the
/// peer sequence and keepalives; 1-3 carry bindings in a TLV form (1: IPv4
/// hosts, 2: adds IPv6, 3: adds prefix lengths).
public struct SXPVersion: RawRepresentable, Hashable, Comparable, Sendable,
    CustomStringConvertible
{
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let v1 = SXPVersion(rawValue: 1)
    public static let v2 = SXPVersion(rawValue: 2)
    public static let v3 = SXPVersion(rawValue: 3)
    public static let v4 = SXPVersion(rawValue: 4)
    /// The highest version this implementation speaks.
    public static let highest = v4

    /// True for version 4 and later, whose messages carry flagged attributes.
    public var usesAttributes: Bool { rawValue >= 4 }
    /// True when the version can carry IPv6 bindings (2 and later).
    public var carriesIPv6: Bool { rawValue >= 2 }
    /// True when the version can carry prefixes shorter than a host (3 and later).
    public var carriesPrefixes: Bool { rawValue >= 3 }

    public var description: String { String(rawValue) }
    public static func < (lhs: SXPVersion, rhs: SXPVersion) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

/// The fixed 8-byte header in front of every message.
public struct SXPHeader: Equatable, Sendable {
    public static let size = 8
    /// The maximum message length, header included.
    public static let maximumLength = 4096
    static let lengthOffset = 0
    static let typeOffset = 4

    /// Length of the whole message in bytes, header included.
    public let length: Int
    public let type: SXPMessageType

    /// Decodes a header from the first 8 bytes of `bytes`, or returns nil when
    /// fewer are present so that a stream reader waits for more. Throws for a
    /// Length outside 8...4096 or an unknown Type.
    public static func decode(_ bytes: [UInt8]) throws -> SXPHeader? {
        guard bytes.count >= size else { return nil }
        var reader = SXPReader(bytes, to: size)
        let rawLength = try reader.readUInt32("message length")
        guard let length = Int(exactly: rawLength), (size...maximumLength).contains(length)
        else {
            throw SXPError.invalidMessageLength(offset: lengthOffset, value: rawLength)
        }
        let rawType = try reader.readUInt32("message type")
        guard let type = SXPMessageType(rawValue: rawType) else {
            throw SXPError.unknownMessageType(offset: typeOffset, value: rawType)
        }
        return SXPHeader(length: length, type: type)
    }

    /// Returns `body` with a header in front; Length is the total size.
    static func frame(_ type: SXPMessageType, body: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(size + body.count)
        out.appendUInt32(UInt32(size + body.count))
        out.appendUInt32(type.rawValue)
        out.append(contentsOf: body)
        return out
    }
}
