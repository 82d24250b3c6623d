// libFuzzer target for the IKEv2 message decoder. Each input is one UDP
// datagram as the IKE port receives it (without the 4-byte non-ESP marker).
//
// Checks, besides "no crash, hang or leak":
// - a message that decodes re-encodes (`encodeClear`) to bytes that decode to
//   the same payloads (apart from unknown transform attributes, which the
//   decoder only flags), so the codec loses or changes no decoded value;
// - when the chain ends with an SK payload, its body is decoded as if it were
//   the decrypted inner chain, which reaches the inner-chain decoder without
//   the keys (the ICV check would reject every mutated input otherwise).

import TaglineCore

@testable import TaglineIKE

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIKEMessage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let received = try? ReceivedMessage.decode(bytes) else { return 0 }

    let clear = received.clearMessage
    describe(clear)
    checkRoundTrip(clear)

    if let offset = received.encryptedOffset {
        let bodyStart = offset + GenericPayloadHeader.size
        let inner = Array(bytes[bodyStart...])
        if let message = try? received.decodeInner(inner) {
            describe(message)
            checkRoundTrip(message)
        }
    }
    return 0
}

/// Reads the decoded fields that the engine and the logs read, so a getter that
/// traps on some decoded value shows up as a crash.
private func describe(_ message: IKEMessage) {
    var text = message.payloadSummary
    text += "\(message.header)"
    for payload in message.payloads {
        text += payload.name
        switch payload {
        case .securityAssociation(let sa):
            for proposal in sa.proposals {
                text += "\(proposal.securityProtocol as Any) \(proposal.espSPI as Any)"
                for transform in proposal.transforms { text += "\(transform)" }
            }
        case .identificationInitiator(let id), .identificationResponder(let id):
            text += id.displayText + "\(id.address as Any)"
        case .notify(let notify):
            text += "\(notify.type) \(notify.type.isError)"
        case .trafficSelectorInitiator(let ts), .trafficSelectorResponder(let ts):
            for selector in ts.selectors { text += "\(selector)" }
        default:
            text += "\(payload)"
        }
    }
    _ = message.errorNotify
    _ = message.vendorIDs
    _ = message.deletes
    if text.isEmpty { fatalError("empty description") }
}

/// Returns the payload that encoding and decoding `payload` gives back. A
/// transform keeps only a flag for unknown attributes, so they are not encoded again.
private func droppingUnknownAttributes(_ payload: IKEPayload) -> IKEPayload {
    guard case .securityAssociation(var sa) = payload else { return payload }
    for proposalIndex in sa.proposals.indices {
        for transformIndex in sa.proposals[proposalIndex].transforms.indices {
            sa.proposals[proposalIndex].transforms[transformIndex].hasUnknownAttributes = false
        }
    }
    return .securityAssociation(sa)
}

/// Re-encodes `message` in clear and requires the result to decode to the same payloads.
private func checkRoundTrip(_ message: IKEMessage) {
    let encoded = message.encodeClear()
    let decoded: ReceivedMessage
    do {
        decoded = try ReceivedMessage.decode(encoded)
    } catch {
        fatalError("re-encoded message does not decode: \(error)")
    }
    if decoded.encryptedOffset != nil {
        fatalError("re-encoded message has an SK payload")
    }
    let expected = message.payloads.map(droppingUnknownAttributes)
    if decoded.clearPayloads != expected {
        fatalError("re-encoded payloads differ: \(decoded.clearPayloads) vs \(expected)")
    }
}
