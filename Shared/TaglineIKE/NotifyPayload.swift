// Notify payload (RFC 7296 §3.10) and the notify message types used here.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                Security Parameter Index (SPI)                 ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Notification Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Notify message types (RFC 7296 §3.10.1): errors below 16384, status from 16384.
public struct NotifyType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let unsupportedCriticalPayload = NotifyType(rawValue: 1)
    public static let invalidIKESPI = NotifyType(rawValue: 4)
    public static let invalidMajorVersion = NotifyType(rawValue: 5)
    public static let invalidSyntax = NotifyType(rawValue: 7)
    public static let invalidMessageID = NotifyType(rawValue: 9)
    public static let invalidSPI = NotifyType(rawValue: 11)
    public static let noProposalChosen = NotifyType(rawValue: 14)
    public static let invalidKEPayload = NotifyType(rawValue: 17)
    public static let authenticationFailed = NotifyType(rawValue: 24)
    public static let singlePairRequired = NotifyType(rawValue: 34)
    public static let noAdditionalSAs = NotifyType(rawValue: 35)
    public static let tsUnacceptable = NotifyType(rawValue: 38)
    public static let temporaryFailure = NotifyType(rawValue: 43)
    public static let childSANotFound = NotifyType(rawValue: 44)
    public static let initialContact = NotifyType(rawValue: 16384)
    public static let natDetectionSourceIP = NotifyType(rawValue: 16388)
    public static let natDetectionDestinationIP = NotifyType(rawValue: 16389)
    public static let cookie = NotifyType(rawValue: 16390)
    public static let useTransportMode = NotifyType(rawValue: 16391)
    public static let rekeySA = NotifyType(rawValue: 16393)
    public static let espTFCPaddingNotSupported = NotifyType(rawValue: 16394)
    /// RFC 7383 §2.3: sent empty in IKE_SA_INIT by a peer that reassembles SKF payloads.
    public static let fragmentationSupported = NotifyType(rawValue: 16430)

    /// Types below 16384 report errors; a peer that receives one in a response gives up.
    public var isError: Bool { rawValue < 16384 }

    public var description: String {
        switch self {
        case .unsupportedCriticalPayload: return "UNSUPPORTED_CRITICAL_PAYLOAD"
        case .invalidIKESPI: return "INVALID_IKE_SPI"
        case .invalidMajorVersion: return "INVALID_MAJOR_VERSION"
        case .invalidSyntax: return "INVALID_SYNTAX"
        case .invalidMessageID: return "INVALID_MESSAGE_ID"
        case .invalidSPI: return "INVALID_SPI"
        case .noProposalChosen: return "NO_PROPOSAL_CHOSEN"
        case .invalidKEPayload: return "INVALID_KE_PAYLOAD"
        case .authenticationFailed: return "AUTHENTICATION_FAILED"
        case .singlePairRequired: return "SINGLE_PAIR_REQUIRED"
        case .noAdditionalSAs: return "NO_ADDITIONAL_SAS"
        case .tsUnacceptable: return "TS_UNACCEPTABLE"
        case .temporaryFailure: return "TEMPORARY_FAILURE"
        case .childSANotFound: return "CHILD_SA_NOT_FOUND"
        case .initialContact: return "INITIAL_CONTACT"
        case .natDetectionSourceIP: return "NAT_DETECTION_SOURCE_IP"
        case .natDetectionDestinationIP: return "NAT_DETECTION_DESTINATION_IP"
        case .cookie: return "COOKIE"
        case .useTransportMode: return "USE_TRANSPORT_MODE"
        case .rekeySA: return "REKEY_SA"
        case .espTFCPaddingNotSupported: return "ESP_TFC_PADDING_NOT_SUPPORTED"
        case .fragmentationSupported: return "IKEV2_FRAGMENTATION_SUPPORTED"
        default: return "notify type \(rawValue)"
        }
    }
}

/// An error or status notification.
public struct NotifyPayload: Equatable, Sendable {
    static let protocolOffset = 0
    static let spiSizeOffset = 1
    static let typeOffset = 2
    static let spiOffset = 4

    /// Protocol of the SA named by `spi`, or 0 when the notify names no SA.
    public var protocolID: UInt8
    public var spi: [UInt8]
    public var type: NotifyType
    public var data: [UInt8]

    public init(type: NotifyType, protocolID: UInt8 = 0, spi: [UInt8] = [], data: [UInt8] = []) {
        self.protocolID = protocolID
        self.spi = spi
        self.type = type
        self.data = data
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(protocolID)
        writer.append(UInt8(spi.count))
        writer.append(type.rawValue)
        writer.append(contentsOf: spi)
        writer.append(contentsOf: data)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> NotifyPayload {
        let protocolID = try reader.readUInt8("notify protocol ID")
        let spiSize = try reader.readUInt8("notify SPI size")
        let type = try reader.readUInt16("notify message type")
        let spi = try reader.readBytes(Int(spiSize), "notify SPI")
        return NotifyPayload(
            type: NotifyType(rawValue: type), protocolID: protocolID, spi: spi,
            data: reader.readRest())
    }
}
