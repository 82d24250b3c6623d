// Errors of the SXP codec. Decoding happens in two stages. The structure stage
// checks the header, the attribute headers and every length against the
// bytes present. The meaning stage applies the rules of each attribute
// (prefix lengths, SGT values, required attributes). Both throw `SXPError`,
// which names the field and the byte offset from the start of the message,
// and which maps to the ERROR message that the peer receives.

/// A fault found while decoding an SXP message.
public enum SXPError: Error, Equatable, CustomStringConvertible {
    /// The message ends before `field`, which starts at `offset` and needs `needed` bytes.
    case truncated(field: String, offset: Int, needed: Int)
    /// The header Length is below the 8-byte header or above the 4096-byte maximum.
    case invalidMessageLength(offset: Int, value: UInt32)
    /// The header Type is not one of OPEN, OPEN_RESP, UPDATE, ERROR, PURGE_ALL, KEEPALIVE.
    case unknownMessageType(offset: Int, value: UInt32)
    /// An attribute's length runs past the end of the message.
    case attributeOverrun(field: String, offset: Int, length: Int)
    /// An attribute's length does not fit its type, such as a Hold-Time of 3 bytes.
    case invalidAttributeLength(field: String, offset: Int, length: Int)
    /// A field contains a value that SXP does not allow.
    case invalidValue(field: String, offset: Int, value: UInt64)
    /// A prefix length exceeds 32 (IPv4) or 128 (IPv6).
    case invalidPrefixLength(field: String, offset: Int, value: Int)
    /// An SGT of 0 (unknown) or 0xFFFF (reserved) in an UPDATE.
    case invalidSGT(offset: Int, value: UInt16)
    /// A non-optional attribute whose type this implementation does not know.
    case unknownAttribute(type: UInt32, offset: Int)
    /// An attribute that the message type does not allow, or that appears twice.
    case unexpectedAttribute(field: String, offset: Int)
    /// An add-prefix attribute with no SGT (or, in version 4, no Peer-Sequence) before it.
    case missingAttribute(field: String, offset: Int)

    public var description: String {
        switch self {
        case .truncated(let field, let offset, let needed):
            return "truncated \(field) at offset \(offset): \(needed) bytes needed"
        case .invalidMessageLength(let offset, let value):
            return "invalid message length \(value) at offset \(offset) (expected 8-4096)"
        case .unknownMessageType(let offset, let value):
            return "unknown message type \(value) at offset \(offset)"
        case .attributeOverrun(let field, let offset, let length):
            return "\(field) at offset \(offset) has length \(length), past the end of the message"
        case .invalidAttributeLength(let field, let offset, let length):
            return "invalid \(field) length \(length) at offset \(offset)"
        case .invalidValue(let field, let offset, let value):
            return "invalid \(field) \(value) at offset \(offset)"
        case .invalidPrefixLength(let field, let offset, let value):
            return "invalid \(field) prefix length \(value) at offset \(offset)"
        case .invalidSGT(let offset, let value):
            return "invalid SGT \(value) at offset \(offset)"
        case .unknownAttribute(let type, let offset):
            return "unknown non-optional attribute type \(type) at offset \(offset)"
        case .unexpectedAttribute(let field, let offset):
            return "unexpected \(field) attribute at offset \(offset)"
        case .missingAttribute(let field, let offset):
            return "missing \(field) attribute before offset \(offset)"
        }
    }

    /// Returns the ERROR to send for this fault in a message of `type`: the
    /// extended code and sub-code for version 4, or the legacy Message Parse
    /// Error for versions 1-3.
    public func reply(to type: SXPMessageType?, version: SXPVersion) -> SXPErrorMessage {
        guard version.usesAttributes else { return .legacy(.messageParseError) }
        switch self {
        case .invalidMessageLength, .unknownMessageType:
            return .extended(code: .messageHeader, subcode: .none)
        default:
            break
        }
        let code: SXPErrorCode
        switch type {
        case .open?, .openResponse?: code = .openMessage
        case .update?: code = .updateMessage
        default: code = .messageHeader
        }
        let subcode: SXPErrorSubcode
        switch self {
        case .truncated: subcode = .malformedAttributeList
        case .attributeOverrun, .invalidAttributeLength: subcode = .attributeLengthError
        case .invalidPrefixLength, .invalidSGT, .invalidValue: subcode = .malformedAttribute
        case .unknownAttribute, .unexpectedAttribute: subcode = .unexpectedAttribute
        case .missingAttribute: subcode = .missingWellKnownAttribute
        case .invalidMessageLength, .unknownMessageType: subcode = .none
        }
        return .extended(code: code, subcode: subcode)
    }
}
