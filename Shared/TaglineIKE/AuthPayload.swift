// Authentication payload (RFC 7296 §3.8).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Auth Method   |                RESERVED                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Authentication Data                      ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Authentication methods (RFC 7296 §3.8).
public enum AuthMethod: UInt8, Sendable, Codable {
    case rsaSignature = 1
    case sharedKeyMIC = 2
    case dssSignature = 3
}

/// The proof of identity of one peer.
public struct AuthPayload: Equatable, Sendable {
    static let methodOffset = 0
    static let dataOffset = 4

    public var rawMethod: UInt8
    public var data: [UInt8]

    public init(method: AuthMethod, data: [UInt8]) {
        self.rawMethod = method.rawValue
        self.data = data
    }

    init(rawMethod: UInt8, data: [UInt8]) {
        self.rawMethod = rawMethod
        self.data = data
    }

    public var method: AuthMethod? { AuthMethod(rawValue: rawMethod) }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(rawMethod)
        writer.append(contentsOf: [0, 0, 0] as [UInt8])
        writer.append(contentsOf: data)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> AuthPayload {
        let method = try reader.readUInt8("auth method")
        try reader.skip(3, "AUTH reserved")
        return AuthPayload(rawMethod: method, data: reader.readRest())
    }
}
