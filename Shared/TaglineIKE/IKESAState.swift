// The state of one IKE SA as a value type, so that the service can persist
// it and a restarted negotiator can take established SAs back.

import TaglineCore

/// The algorithms an IKE SA negotiated in IKE_SA_INIT.
public struct IKEAlgorithms: Equatable, Sendable, Codable {
    public var encryption: EncryptionAlgorithm
    /// nil for AES-GCM and ChaCha20-Poly1305.
    public var integrity: IntegrityAlgorithm?
    public var prf: PRFAlgorithm
    public var dhGroup: DHGroup

    public init(
        encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?,
        prf: PRFAlgorithm, dhGroup: DHGroup
    ) {
        self.encryption = encryption
        self.integrity = integrity
        self.prf = prf
        self.dhGroup = dhGroup
    }
}

/// The negotiation phase of an IKE SA.
public enum IKESAPhase: String, Sendable, Codable {
    /// Initiator: IKE_SA_INIT request sent, no response yet.
    case initSent
    /// Initiator: IKE_AUTH request sent.
    case authSent
    /// Responder: IKE_SA_INIT response sent, IKE_AUTH not received yet.
    case halfOpen
    /// Both peers authenticated.
    case established
    /// A Delete for the IKE SA was sent; waiting for its response.
    case deleting
}

/// A request this side sent and has not seen the response to.
public struct OutstandingRequest: Equatable, Sendable, Codable {
    public var messageID: UInt32
    public var exchange: ExchangeType
    /// The datagram as sent, retransmitted unchanged.
    public var bytes: [UInt8]
    public var firstSentAt: Double
    /// Transmissions so far, the first one included.
    public var transmissions: Int
    public var nextRetransmitAt: Double
    /// The SKF datagrams sent in place of `bytes` when the message was
    /// fragmented (RFC 7383); every retransmission sends all of them.
    public var fragments: [[UInt8]]?
}

/// The last response this side sent, kept to resend for a retransmitted request.
public struct CachedResponse: Equatable, Sendable, Codable {
    public var messageID: UInt32
    public var bytes: [UInt8]
    /// The SKF datagrams sent in place of `bytes` when the response was fragmented.
    public var fragments: [[UInt8]]?
}

/// The Child SA proposal that the initiator sent in IKE_AUTH or CREATE_CHILD_SA.
public struct PendingChildSA: Equatable, Sendable, Codable {
    public var inboundSPI: UInt32
    public var policy: ChildPolicy
    public var initiatorSelectors: [TrafficSelector]
    public var responderSelectors: [TrafficSelector]
    /// This side's nonce of the CREATE_CHILD_SA exchange; empty in IKE_AUTH.
    public var nonce: [UInt8] = []
    /// Inbound SPI of the Child SA this one rekeys; nil for a new Child SA.
    public var rekeyedInboundSPI: UInt32?
    /// Set when the peer rekeyed the same Child SA while this request was out
    /// (RFC 7296 §2.8.1): the nonces of the peer's exchange and the SA it created.
    public var collision: RekeyCollision?
    /// DH group of the KE payload sent with the request; nil without PFS.
    public var pfsGroup: DHGroup?
    /// The request was already sent again with the group an INVALID_KE_PAYLOAD asked for.
    public var keRetried: Bool?
    /// The private key of the KE payload sent, saved so that a restarted
    /// negotiator can still derive the Child SA's keys from the response.
    public var dhPrivateKey: SecretBytes?
    /// The SA payload offered ESN as well as "no ESN" (`crypto ipsec esn`); nil means false.
    public var offeredExtendedSequenceNumbers: Bool? = nil
}

/// This side's CREATE_CHILD_SA that rekeys the IKE SA (RFC 7296 §1.3.2).
public struct PendingIKERekey: Equatable, Sendable, Codable {
    /// This side's SPI of the new IKE SA, sent in the SA payload.
    public var newSPI: UInt64
    /// This side's nonce of the exchange.
    public var nonce: [UInt8]
    /// DH group of the KE payload sent.
    public var group: DHGroup
    /// Set when the peer's own IKE SA rekey arrived while this one was out (RFC 7296 §2.8.2).
    public var collision: IKERekeyCollision?
    /// The request was already sent again with the group an INVALID_KE_PAYLOAD asked for.
    public var keRetried: Bool?
    /// The private key of the KE payload sent, saved so that a restarted
    /// negotiator can still derive the new IKE SA's keys from the response.
    public var dhPrivateKey: SecretBytes?
}

/// The peer's CREATE_CHILD_SA that rekeyed the same IKE SA as this side's request.
public struct IKERekeyCollision: Equatable, Sendable, Codable {
    public var peerNonce: [UInt8]
    public var ourResponseNonce: [UInt8]
    /// Local SPI of the IKE SA that responding to the peer's request created.
    public var createdSPI: UInt64
}

/// The peer's CREATE_CHILD_SA that rekeyed the same Child SA as this side's request.
public struct RekeyCollision: Equatable, Sendable, Codable {
    public var peerNonce: [UInt8]
    public var ourResponseNonce: [UInt8]
}

/// One IKE SA, everything the engine needs to continue it.
public struct IKESAState: Sendable, Codable {
    /// Local number shown as the tunnel id of `show crypto ikev2 sa`.
    public var tunnelID: Int
    public var isInitiator: Bool
    public var initiatorSPI: UInt64
    /// 0 until the IKE_SA_INIT response names it.
    public var responderSPI: UInt64
    public var local: IKEEndpoint
    public var remote: IKEEndpoint
    public var phase: IKESAPhase
    public var algorithms: IKEAlgorithms?
    public var initiatorNonce: [UInt8] = []
    public var responderNonce: [UInt8] = []
    public var keys: IKESAKeys?
    /// Both peers sent the CISCO-CTS-SGT Vendor ID in IKE_SA_INIT. Fixed for the
    /// life of the SA, regardless of later configuration.
    public var taggingNegotiated = false
    /// This side sent the CISCO-CTS-SGT Vendor ID.
    public var sentSGTVendorID = false
    public var nat: NATDetection.Result?
    /// Initiator: the DH group of the KE payload last sent in IKE_SA_INIT.
    public var offeredGroup: DHGroup?
    /// Initiator: IKE_SA_INIT was already repeated with a COOKIE.
    public var cookieUsed = false
    /// Message ID of this side's next request.
    public var nextRequestID: UInt32 = 0
    /// Message ID the peer's next request must carry.
    public var expectedPeerRequestID: UInt32 = 0
    public var outstanding: OutstandingRequest?
    public var lastResponse: CachedResponse?
    /// Both IKE_SA_INIT messages as sent, signed by AUTH; emptied once authenticated.
    public var initRequestBytes: [UInt8] = []
    public var initResponseBytes: [UInt8] = []
    public var pendingChild: PendingChildSA?
    /// Further Child SAs to create with CREATE_CHILD_SA once the IKE SA is up.
    public var queuedChildren: [ChildPolicy] = []
    public var childSAs: [ChildSA] = []
    /// Inbound SPIs of Child SAs waiting to be rekeyed with CREATE_CHILD_SA.
    /// Optional, like the next three, so that states saved before they existed still load.
    public var queuedRekeys: [UInt32]?
    /// Inbound SPIs of Child SAs whose INFORMATIONAL Delete is still to be sent.
    public var queuedChildDeletes: [UInt32]?
    /// When the queued Child SA Deletes and rekeys are due: a rekey Delete
    /// waits `rekeyDeleteDelay`, and a rekey without an SPI is retried later.
    public var childWorkDueAt: Double?
    /// Inbound SPIs named by the Delete request outstanding now.
    public var pendingChildDeletes: [UInt32]?
    /// Inbound SPIs of Child SAs that a rekey replaced; they are not rekeyed again.
    public var replacedChildSPIs: [UInt32]?
    /// The crypto map entry or tunnel this SA was initiated for; nil on the responder.
    public var targetKey: String?
    public var profileName: String?
    public var localID: String = ""
    public var remoteID: String = ""
    public var createdAt: Double
    public var establishedAt: Double?
    public var lifetimeSeconds: Int = 86400
    /// When this side rekeys the IKE SA: a random 85-95% into its lifetime.
    /// Optional, like the rest below, so that states saved before they existed still load.
    public var rekeyAt: Double?
    /// When the IKE SA is deleted if no rekey replaced it.
    public var expiresAt: Double?
    /// This side's IKE SA rekey request, outstanding now.
    public var pendingIKERekey: PendingIKERekey?
    /// Local SPI of the IKE SA that replaced this one; set while this one waits for its Delete.
    public var replacedBySPI: UInt64?
    /// When the last authenticated IKE message came from the peer; nil means
    /// not since `establishedAt`. Dead peer detection starts from it.
    /// Optional, like the fields below, so that older saved states load.
    public var lastReceivedAt: Double?
    /// Message ID of the outstanding empty INFORMATIONAL request that checks liveness.
    public var dpdMessageID: UInt32?
    /// Both peers sent IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT (RFC 7383).
    public var fragmentationNegotiated: Bool?
    /// Initiator: the COOKIE the responder asked for, repeated in every
    /// further IKE_SA_INIT request of this SA (RFC 7296 §2.6).
    public var initCookie: [UInt8]?

    public init(
        tunnelID: Int, isInitiator: Bool, initiatorSPI: UInt64, responderSPI: UInt64,
        local: IKEEndpoint, remote: IKEEndpoint, phase: IKESAPhase, createdAt: Double
    ) {
        self.tunnelID = tunnelID
        self.isInitiator = isInitiator
        self.initiatorSPI = initiatorSPI
        self.responderSPI = responderSPI
        self.local = local
        self.remote = remote
        self.phase = phase
        self.createdAt = createdAt
    }

    /// This side's SPI, under which the engine files the SA.
    public var localSPI: UInt64 { isInitiator ? initiatorSPI : responderSPI }
    public var remoteSPI: UInt64 { isInitiator ? responderSPI : initiatorSPI }

    /// "initiatorSPI-responderSPI" in hex, the `ikeSAName` of its Child SAs.
    public var name: String {
        IKESAState.hex16(initiatorSPI) + "-" + IKESAState.hex16(responderSPI)
    }

    static func hex16(_ value: UInt64) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// Keys protecting what this side sends.
    var sendKeys: SKKeys? { protection(ofInitiator: isInitiator) }
    /// Keys protecting what the peer sends.
    var receiveKeys: SKKeys? { protection(ofInitiator: !isInitiator) }

    private func protection(ofInitiator: Bool) -> SKKeys? {
        guard let keys, let algorithms else { return nil }
        return keys.protection(
            ofInitiator: ofInitiator, encryption: algorithms.encryption,
            integrity: algorithms.integrity)
    }
}
