// The IKE header (RFC 7296 §3.1), which starts every IKEv2 message.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Initiator's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Responder's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                          Message ID                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Length                             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Flags: bit 3 (0x08) Initiator, bit 4 (0x10) Version, bit 5 (0x20) Response.

/// IKEv2 exchange types (RFC 7296 §3.1).
public enum ExchangeType: UInt8, Sendable, Codable, CustomStringConvertible {
    case ikeSAInit = 34
    case ikeAuth = 35
    case createChildSA = 36
    case informational = 37

    public var description: String {
        switch self {
        case .ikeSAInit: return "IKE_SA_INIT"
        case .ikeAuth: return "IKE_AUTH"
        case .createChildSA: return "CREATE_CHILD_SA"
        case .informational: return "INFORMATIONAL"
        }
    }
}

/// The fixed 28-byte header of an IKEv2 message.
public struct IKEHeader: Equatable, Sendable {
    public static let size = 28
    static let initiatorSPIOffset = 0
    static let responderSPIOffset = 8
    static let nextPayloadOffset = 16
    static let versionOffset = 17
    static let exchangeTypeOffset = 18
    static let flagsOffset = 19
    static let messageIDOffset = 20
    static let lengthOffset = 24

    /// Major version 2, minor version 0.
    static let version: UInt8 = 0x20
    static let initiatorFlag: UInt8 = 0x08
    static let versionFlag: UInt8 = 0x10
    static let responseFlag: UInt8 = 0x20

    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    /// Type of the first payload; 0 when there is none.
    public var nextPayload: UInt8
    public var exchangeType: ExchangeType
    /// Set when the sender is the original initiator of the IKE SA.
    public var isInitiator: Bool
    public var isResponse: Bool
    public var messageID: UInt32
    /// Length of the whole message, header included.
    public var length: UInt32

    public init(
        initiatorSPI: UInt64, responderSPI: UInt64, nextPayload: UInt8,
        exchangeType: ExchangeType, isInitiator: Bool, isResponse: Bool,
        messageID: UInt32, length: UInt32 = 0
    ) {
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.nextPayload = nextPayload
        self.exchangeType = exchangeType
        self.isInitiator = isInitiator
        self.isResponse = isResponse
        self.messageID = messageID
        self.length = length
    }

    /// Appends the header; the caller patches `length` once the body is known.
    func encode(into writer: inout ByteWriter) {
        writer.append(initiatorSPI)
        writer.append(responderSPI)
        writer.append(nextPayload)
        writer.append(IKEHeader.version)
        writer.append(exchangeType.rawValue)
        var flags: UInt8 = 0
        if isInitiator { flags |= IKEHeader.initiatorFlag }
        if isResponse { flags |= IKEHeader.responseFlag }
        writer.append(flags)
        writer.append(messageID)
        writer.append(length)
    }

    /// Decodes the header at the start of a datagram and checks that its
    /// Length field equals the datagram length.
    public static func decode(_ bytes: [UInt8]) throws -> IKEHeader {
        var reader = ByteReader(bytes)
        let initiatorSPI = try reader.readUInt64("initiator SPI")
        let responderSPI = try reader.readUInt64("responder SPI")
        let nextPayload = try reader.readUInt8("next payload")
        let version = try reader.readUInt8("version")
        // RFC 7296 §3.1: a major version above 2 gets INVALID_MAJOR_VERSION; the minor is ignored.
        guard version >> 4 == 2 else {
            throw IKEDecodeError.invalidValue(
                field: "major version", offset: versionOffset, value: UInt64(version >> 4))
        }
        let rawExchange = try reader.readUInt8("exchange type")
        guard let exchangeType = ExchangeType(rawValue: rawExchange) else {
            throw IKEDecodeError.invalidValue(
                field: "exchange type", offset: exchangeTypeOffset, value: UInt64(rawExchange))
        }
        let flags = try reader.readUInt8("flags")
        let messageID = try reader.readUInt32("message ID")
        let length = try reader.readUInt32("length")
        guard let declared = Int(exactly: length), declared == bytes.count else {
            throw IKEDecodeError.invalidLength(
                field: "IKE message length", offset: lengthOffset, value: UInt64(length))
        }
        return IKEHeader(
            initiatorSPI: initiatorSPI, responderSPI: responderSPI, nextPayload: nextPayload,
            exchangeType: exchangeType, isInitiator: flags & initiatorFlag != 0,
            isResponse: flags & responseFlag != 0, messageID: messageID, length: length)
    }
}
