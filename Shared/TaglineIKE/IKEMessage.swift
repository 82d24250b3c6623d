// A whole IKEv2 message: the IKE header, then a payload chain. Messages of
// IKE_SA_INIT travel in clear; every later message carries its payloads
// inside one SK payload (see SKPayload.swift).

import TaglineCore

/// An IKE message as the engine builds it or reads it.
public struct IKEMessage: Equatable, Sendable {
    public var header: IKEHeader
    /// The payloads in order: in clear for IKE_SA_INIT, the decrypted ones otherwise.
    public var payloads: [IKEPayload]

    public init(header: IKEHeader, payloads: [IKEPayload]) {
        self.header = header
        self.payloads = payloads
    }

    /// Encodes a message whose payloads travel in clear.
    public func encodeClear() -> [UInt8] {
        var writer = ByteWriter()
        var header = self.header
        header.nextPayload = payloads.first?.typeNumber ?? 0
        header.encode(into: &writer)
        PayloadChain.encode(payloads, into: &writer)
        writer.patchLength32(at: IKEHeader.lengthOffset, from: 0)
        return writer.bytes
    }

    /// Encodes a message whose payloads travel inside an SK payload protected with `keys`.
    public func encodeProtected(with keys: SKKeys, random: (Int) -> [UInt8]) throws -> [UInt8] {
        var inner = ByteWriter()
        PayloadChain.encode(payloads, into: &inner)
        var header = self.header
        header.nextPayload = PayloadType.encrypted.rawValue
        return try SKPayload.seal(
            header: header, firstInnerType: payloads.first?.typeNumber ?? 0,
            plaintext: inner.bytes, keys: keys, random: random)
    }

    // MARK: Queries used by the exchanges

    public var notifies: [NotifyPayload] {
        payloads.compactMap { if case .notify(let n) = $0 { return n } else { return nil } }
    }

    public func notify(_ type: NotifyType) -> NotifyPayload? {
        notifies.first { $0.type == type }
    }

    /// The first error notify, which ends the exchange it responds to.
    public var errorNotify: NotifyPayload? { notifies.first { $0.type.isError } }

    public var vendorIDs: [VendorIDPayload] {
        payloads.compactMap { if case .vendorID(let v) = $0 { return v } else { return nil } }
    }

    public var securityAssociation: SAPayload? {
        for case .securityAssociation(let sa) in payloads { return sa }
        return nil
    }

    public var keyExchange: KEPayload? {
        for case .keyExchange(let ke) in payloads { return ke }
        return nil
    }

    public var nonce: NoncePayload? {
        for case .nonce(let nonce) in payloads { return nonce }
        return nil
    }

    public var initiatorID: IDPayload? {
        for case .identificationInitiator(let id) in payloads { return id }
        return nil
    }

    public var responderID: IDPayload? {
        for case .identificationResponder(let id) in payloads { return id }
        return nil
    }

    public var authentication: AuthPayload? {
        for case .authentication(let auth) in payloads { return auth }
        return nil
    }

    public var initiatorSelectors: TSPayload? {
        for case .trafficSelectorInitiator(let ts) in payloads { return ts }
        return nil
    }

    public var responderSelectors: TSPayload? {
        for case .trafficSelectorResponder(let ts) in payloads { return ts }
        return nil
    }

    public var deletes: [DeletePayload] {
        payloads.compactMap { if case .delete(let d) = $0 { return d } else { return nil } }
    }

    /// Payload names as RFC 7296 diagrams write them, such as
    /// "SA KE Ni/Nr N(NAT_DETECTION_SOURCE_IP)".
    public var payloadSummary: String {
        payloads.map(\.name).joined(separator: " ")
    }
}

/// A datagram after the structure stage: the header, the clear payloads and,
/// when present, the still-encrypted SK payload.
public struct ReceivedMessage: Sendable {
    public var header: IKEHeader
    public var clearPayloads: [IKEPayload]
    /// The whole datagram, needed to check the SK integrity and to sign IKE_SA_INIT in AUTH.
    public var bytes: [UInt8]
    /// Offset of the SK payload's generic header; nil when the message has no SK payload.
    public var encryptedOffset: Int?
    var encryptedFirstType: UInt8
    /// True when the encrypted payload is an SKF payload, one fragment of a message.
    var isFragment = false

    /// Decodes the header and the payload chain up to (not into) an SK payload.
    public static func decode(_ bytes: [UInt8]) throws -> ReceivedMessage {
        let header = try IKEHeader.decode(bytes)
        var reader = ByteReader(bytes, offset: IKEHeader.size)
        let walk = try PayloadChain.walk(&reader, firstType: header.nextPayload)
        return ReceivedMessage(
            header: header, clearPayloads: walk.payloads, bytes: bytes,
            encryptedOffset: walk.encryptedOffset, encryptedFirstType: walk.encryptedFirstType,
            isFragment: walk.encryptedType == PayloadType.encryptedFragment.rawValue)
    }

    /// Checks and decrypts the SK payload, returning the message with its inner payloads.
    ///
    /// Throws `IKEProtocolError.integrityCheckFailed` when the ICV or AEAD tag does
    /// not verify, `IKEDecodeError` when the decrypted chain is malformed, and
    /// `IKEProtocolError.missingPayload` when the message has no SK payload.
    public func decrypt(with keys: SKKeys) throws -> IKEMessage {
        try decodeInner(openSK(with: keys))
    }

    /// Checks and decrypts the SK payload, returning the inner payload chain
    /// still encoded. Until this succeeds, nothing in the message is known to
    /// come from the peer.
    func openSK(with keys: SKKeys) throws -> [UInt8] {
        guard let offset = encryptedOffset else {
            throw IKEProtocolError.missingPayload("SK")
        }
        return try SKPayload.open(message: bytes, skOffset: offset, keys: keys)
    }

    /// Decodes the inner payload chain that `openSK(with:)` returned.
    func decodeInner(_ plaintext: [UInt8]) throws -> IKEMessage {
        var reader = ByteReader(plaintext)
        let walk = try PayloadChain.walk(&reader, firstType: encryptedFirstType)
        guard walk.encryptedOffset == nil else {
            throw IKEProtocolError.unexpectedPayload("SK inside SK")
        }
        return IKEMessage(header: header, payloads: clearPayloads + walk.payloads)
    }

    /// The message with its clear payloads only, for IKE_SA_INIT.
    public var clearMessage: IKEMessage { IKEMessage(header: header, payloads: clearPayloads) }
}
