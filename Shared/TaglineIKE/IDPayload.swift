// Identification payloads IDi and IDr (RFC 7296 §3.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ID Type     |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                   Identification Data                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The body (ID Type, RESERVED, data) is also the RestOfInitIDPayload that
// the AUTH computation of RFC 7296 §2.15 signs.

import TaglineCore

/// Identification types (RFC 7296 §3.5).
public enum IDType: UInt8, Sendable, Codable {
    case ipv4Address = 1
    case fqdn = 2
    case rfc822Address = 3
    case ipv6Address = 5
    case derASN1DN = 9
    case derASN1GN = 10
    case keyID = 11
}

/// An identity of the initiator (IDi) or responder (IDr).
public struct IDPayload: Equatable, Sendable {
    static let typeOffset = 0
    static let dataOffset = 4

    public var rawType: UInt8
    public var data: [UInt8]

    public init(type: IDType, data: [UInt8]) {
        self.rawType = type.rawValue
        self.data = data
    }

    /// Creates an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
    public init(address: IPAddress) {
        self.init(type: address.isIPv4 ? .ipv4Address : .ipv6Address, data: address.bytes)
    }

    init(rawType: UInt8, data: [UInt8]) {
        self.rawType = rawType
        self.data = data
    }

    public var type: IDType? { IDType(rawValue: rawType) }

    /// The address of an address identity; nil for other types or a wrong data length.
    public var address: IPAddress? {
        switch type {
        case .ipv4Address where data.count == 4, .ipv6Address where data.count == 16:
            return IPAddress(bytes: data)
        default:
            return nil
        }
    }

    /// The identity as `show crypto ikev2 sa` prints it.
    public var displayText: String {
        if let address { return address.description }
        switch type {
        case .fqdn, .rfc822Address:
            return String(decoding: data, as: UTF8.self)
        default:
            return "type \(rawType) " + Hex.encode(data)
        }
    }

    /// The payload body, which is what AUTH signs.
    var bodyBytes: [UInt8] {
        var writer = ByteWriter()
        encodeBody(into: &writer)
        return writer.bytes
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(rawType)
        writer.append(contentsOf: [0, 0, 0] as [UInt8])
        writer.append(contentsOf: data)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> IDPayload {
        let type = try reader.readUInt8("ID type")
        try reader.skip(3, "ID reserved")
        return IDPayload(rawType: type, data: reader.readRest())
    }
}
