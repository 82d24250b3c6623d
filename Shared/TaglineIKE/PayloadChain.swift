// The generic payload header (RFC 7296 §3.2) and the chain of payloads that
// follows the IKE header, each naming the type of the next.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Payload Length includes this 4-byte header.

/// Payload type numbers (RFC 7296 §3.2).
public enum PayloadType: UInt8, Sendable, CustomStringConvertible {
    case none = 0
    case securityAssociation = 33
    case keyExchange = 34
    case identificationInitiator = 35
    case identificationResponder = 36
    case certificate = 37
    case certificateRequest = 38
    case authentication = 39
    case nonce = 40
    case notify = 41
    case delete = 42
    case vendorID = 43
    case trafficSelectorInitiator = 44
    case trafficSelectorResponder = 45
    case encrypted = 46
    case configuration = 47
    case eap = 48
    /// Encrypted and Authenticated Fragment (RFC 7383 §2.5).
    case encryptedFragment = 53

    /// The abbreviation RFC 7296 uses in exchange diagrams.
    public var description: String {
        switch self {
        case .none: return "none"
        case .securityAssociation: return "SA"
        case .keyExchange: return "KE"
        case .identificationInitiator: return "IDi"
        case .identificationResponder: return "IDr"
        case .certificate: return "CERT"
        case .certificateRequest: return "CERTREQ"
        case .authentication: return "AUTH"
        case .nonce: return "Ni/Nr"
        case .notify: return "N"
        case .delete: return "D"
        case .vendorID: return "V"
        case .trafficSelectorInitiator: return "TSi"
        case .trafficSelectorResponder: return "TSr"
        case .encrypted: return "SK"
        case .configuration: return "CP"
        case .eap: return "EAP"
        case .encryptedFragment: return "SKF"
        }
    }
}

/// The generic header that starts every payload.
struct GenericPayloadHeader {
    static let size = 4
    static let nextPayloadOffset = 0
    static let flagsOffset = 1
    static let lengthOffset = 2
    static let criticalFlag: UInt8 = 0x80

    var nextPayload: UInt8
    var isCritical: Bool
    var length: UInt16
}

/// One decoded payload.
public enum IKEPayload: Equatable, Sendable {
    case securityAssociation(SAPayload)
    case keyExchange(KEPayload)
    case identificationInitiator(IDPayload)
    case identificationResponder(IDPayload)
    case authentication(AuthPayload)
    case nonce(NoncePayload)
    case notify(NotifyPayload)
    case delete(DeletePayload)
    case vendorID(VendorIDPayload)
    case trafficSelectorInitiator(TSPayload)
    case trafficSelectorResponder(TSPayload)
    /// A non-critical payload of a type not implemented here, such as CERTREQ; it is ignored.
    case unknown(type: UInt8, body: [UInt8])

    public var typeNumber: UInt8 {
        switch self {
        case .securityAssociation: return PayloadType.securityAssociation.rawValue
        case .keyExchange: return PayloadType.keyExchange.rawValue
        case .identificationInitiator: return PayloadType.identificationInitiator.rawValue
        case .identificationResponder: return PayloadType.identificationResponder.rawValue
        case .authentication: return PayloadType.authentication.rawValue
        case .nonce: return PayloadType.nonce.rawValue
        case .notify: return PayloadType.notify.rawValue
        case .delete: return PayloadType.delete.rawValue
        case .vendorID: return PayloadType.vendorID.rawValue
        case .trafficSelectorInitiator: return PayloadType.trafficSelectorInitiator.rawValue
        case .trafficSelectorResponder: return PayloadType.trafficSelectorResponder.rawValue
        case .unknown(let type, _): return type
        }
    }

    /// The payload name for logs, such as "N(NAT_DETECTION_SOURCE_IP)".
    public var name: String {
        switch self {
        case .notify(let notify): return "N(\(notify.type))"
        case .unknown(let type, _): return "payload \(type)"
        default: return PayloadType(rawValue: typeNumber)?.description ?? "payload \(typeNumber)"
        }
    }

    func encodeBody(into writer: inout ByteWriter) {
        switch self {
        case .securityAssociation(let payload): payload.encodeBody(into: &writer)
        case .keyExchange(let payload): payload.encodeBody(into: &writer)
        case .identificationInitiator(let payload), .identificationResponder(let payload):
            payload.encodeBody(into: &writer)
        case .authentication(let payload): payload.encodeBody(into: &writer)
        case .nonce(let payload): payload.encodeBody(into: &writer)
        case .notify(let payload): payload.encodeBody(into: &writer)
        case .delete(let payload): payload.encodeBody(into: &writer)
        case .vendorID(let payload): payload.encodeBody(into: &writer)
        case .trafficSelectorInitiator(let payload), .trafficSelectorResponder(let payload):
            payload.encodeBody(into: &writer)
        case .unknown(_, let body): writer.append(contentsOf: body)
        }
    }

    /// Decodes the body of a payload of `type`; `reader` covers exactly that body.
    static func decodeBody(type: UInt8, _ reader: inout ByteReader) throws -> IKEPayload {
        switch PayloadType(rawValue: type) {
        case .securityAssociation: return .securityAssociation(try SAPayload.decodeBody(&reader))
        case .keyExchange: return .keyExchange(try KEPayload.decodeBody(&reader))
        case .identificationInitiator:
            return .identificationInitiator(try IDPayload.decodeBody(&reader))
        case .identificationResponder:
            return .identificationResponder(try IDPayload.decodeBody(&reader))
        case .authentication: return .authentication(try AuthPayload.decodeBody(&reader))
        case .nonce: return .nonce(try NoncePayload.decodeBody(&reader))
        case .notify: return .notify(try NotifyPayload.decodeBody(&reader))
        case .delete: return .delete(try DeletePayload.decodeBody(&reader))
        case .vendorID: return .vendorID(try VendorIDPayload.decodeBody(&reader))
        case .trafficSelectorInitiator:
            return .trafficSelectorInitiator(try TSPayload.decodeBody(&reader))
        case .trafficSelectorResponder:
            return .trafficSelectorResponder(try TSPayload.decodeBody(&reader))
        default: return .unknown(type: type, body: reader.readRest())
        }
    }
}

/// Encoding and decoding of a payload chain.
enum PayloadChain {
    /// Appends `payloads`, each header naming the type of the next; the last names 0.
    static func encode(_ payloads: [IKEPayload], into writer: inout ByteWriter) {
        for (index, payload) in payloads.enumerated() {
            let start = writer.count
            let next = index + 1 < payloads.count ? payloads[index + 1].typeNumber : 0
            writer.append(next)
            writer.append(UInt8(0))
            let lengthPosition = writer.placeholder16()
            payload.encodeBody(into: &writer)
            writer.patchLength16(at: lengthPosition, from: start)
        }
    }

    /// The result of walking a chain: the payloads in clear, and where an SK
    /// payload starts if the chain ends with one.
    struct Walk {
        var payloads: [IKEPayload] = []
        /// Offset of the SK payload's generic header.
        var encryptedOffset: Int?
        /// Type of the first payload inside the SK payload.
        var encryptedFirstType: UInt8 = 0
        /// SK (46), or SKF (53) for one fragment of a message.
        var encryptedType: UInt8 = PayloadType.encrypted.rawValue
    }

    /// Walks the chain in `reader`, starting with a payload of type `firstType`.
    ///
    /// An SK or SKF payload must be the last one (RFC 7296 §3.14, RFC 7383
    /// §2.5). Its body is left for the caller to decrypt. An unknown payload
    /// with the critical bit set throws `unsupportedCriticalPayload`; one
    /// without it is kept as `.unknown`.
    static func walk(_ reader: inout ByteReader, firstType: UInt8) throws -> Walk {
        var walk = Walk()
        var type = firstType
        while type != 0 {
            let start = reader.offset
            let next = try reader.readUInt8("next payload")
            let flags = try reader.readUInt8("payload flags")
            let length = try reader.readUInt16("payload length")
            guard Int(length) >= GenericPayloadHeader.size, Int(length) - 4 <= reader.remaining
            else {
                throw IKEDecodeError.invalidLength(
                    field: "payload length", offset: start + GenericPayloadHeader.lengthOffset,
                    value: UInt64(length))
            }
            let isCritical = flags & GenericPayloadHeader.criticalFlag != 0
            if type == PayloadType.encrypted.rawValue
                || type == PayloadType.encryptedFragment.rawValue
            {
                guard reader.remaining == Int(length) - 4 else {
                    throw IKEDecodeError.invalidLength(
                        field: "SK payload length", offset: start + 2, value: UInt64(length))
                }
                walk.encryptedOffset = start
                walk.encryptedFirstType = next
                walk.encryptedType = type
                try reader.skip(Int(length) - 4, "SK payload body")
                return walk
            }
            if PayloadType(rawValue: type) == nil, isCritical {
                throw IKEDecodeError.unsupportedCriticalPayload(type: type, offset: start)
            }
            var body = try reader.subReader(Int(length) - 4, "payload body")
            let payload = try IKEPayload.decodeBody(type: type, &body)
            guard body.isAtEnd else {
                throw IKEDecodeError.invalidLength(
                    field: "payload length", offset: start + 2, value: UInt64(length))
            }
            walk.payloads.append(payload)
            type = next
        }
        guard reader.isAtEnd else {
            throw IKEDecodeError.invalidLength(
                field: "bytes after the last payload", offset: reader.offset,
                value: UInt64(reader.remaining))
        }
        return walk
    }
}
