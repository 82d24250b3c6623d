// Errors of the IKEv2 codecs and of the exchange logic. Decoding happens in
// two stages. The structure stage checks bounds and length fields and throws
// `IKEDecodeError`, naming the field and its byte offset. The meaning stage
// applies the RFC 7296 rules of each payload and throws `IKEProtocolError`,
// which maps to the notify that the peer receives in return.

import TaglineCore

/// A structural fault found while decoding an IKE message.
///
/// Offsets count bytes from the start of the buffer being decoded: the UDP
/// payload for the IKE header and the clear payloads, or the decrypted
/// content of an SK payload for the payloads inside it.
public enum IKEDecodeError: Error, Equatable, CustomStringConvertible {
    /// The buffer ends before `field`, which starts at `offset` and needs `needed` bytes.
    case truncated(field: String, offset: Int, needed: Int)
    /// A length field contains a value that is impossible at this point.
    case invalidLength(field: String, offset: Int, value: UInt64)
    /// A field contains a value the RFC does not allow.
    case invalidValue(field: String, offset: Int, value: UInt64)
    /// A payload with the critical bit set whose type this implementation does not know.
    case unsupportedCriticalPayload(type: UInt8, offset: Int)

    public var description: String {
        switch self {
        case .truncated(let field, let offset, let needed):
            return "truncated \(field) at offset \(offset): \(needed) bytes needed"
        case .invalidLength(let field, let offset, let value):
            return "invalid \(field) \(value) at offset \(offset)"
        case .invalidValue(let field, let offset, let value):
            return "invalid \(field) \(value) at offset \(offset)"
        case .unsupportedCriticalPayload(let type, let offset):
            return "unsupported critical payload type \(type) at offset \(offset)"
        }
    }
}

/// A fault in the meaning of a well-formed message, with the notify that
/// RFC 7296 §3.10.1 assigns to it.
public enum IKEProtocolError: Error, Equatable, CustomStringConvertible {
    /// A payload the exchange requires is absent.
    case missingPayload(String)
    /// A payload is present that the exchange does not allow, or appears twice.
    case unexpectedPayload(String)
    /// A field is well-formed but not acceptable, such as a nonce of 8 bytes.
    case invalidPayload(String)
    /// None of the offered proposals matches the configuration.
    case noProposalChosen(String)
    /// The KE payload uses another group than the chosen proposal.
    case invalidKEPayload(expected: DHGroup)
    /// The AUTH payload does not verify, or no pre-shared key is configured for the peer.
    case authenticationFailed(String)
    /// No configured policy covers the proposed traffic selectors.
    case trafficSelectorsUnacceptable(String)
    /// The SK payload failed its integrity check or could not be decrypted.
    case integrityCheckFailed
    /// A local resource, such as an inbound SPI, is not available right now.
    case temporaryFailure(String)
    /// A REKEY_SA notify names a Child SA that does not exist.
    case childSANotFound(String)

    /// The error notify sent to the peer for this fault.
    public var notifyType: NotifyType {
        switch self {
        case .missingPayload, .unexpectedPayload, .invalidPayload, .integrityCheckFailed:
            return .invalidSyntax
        case .noProposalChosen: return .noProposalChosen
        case .invalidKEPayload: return .invalidKEPayload
        case .authenticationFailed: return .authenticationFailed
        case .trafficSelectorsUnacceptable: return .tsUnacceptable
        case .temporaryFailure: return .temporaryFailure
        case .childSANotFound: return .childSANotFound
        }
    }

    public var description: String {
        switch self {
        case .missingPayload(let name): return "missing \(name) payload"
        case .unexpectedPayload(let name): return "unexpected \(name) payload"
        case .invalidPayload(let reason): return "invalid payload: \(reason)"
        case .noProposalChosen(let reason): return "no proposal chosen: \(reason)"
        case .invalidKEPayload(let group): return "KE payload not in group \(group.rawValue)"
        case .authenticationFailed(let reason): return "authentication failed: \(reason)"
        case .trafficSelectorsUnacceptable(let reason):
            return "traffic selectors unacceptable: \(reason)"
        case .integrityCheckFailed: return "SK payload integrity check failed"
        case .temporaryFailure(let reason): return "temporary failure: \(reason)"
        case .childSANotFound(let spi): return "no Child SA with SPI \(spi) to rekey"
        }
    }
}
