// The state that crosses process boundaries: algorithms, Child SAs, counters
// and SGT bindings. Every type here is Codable because it travels as the JSON
// body of a bus envelope (see Messages.swift).

/// A Security Group Tag. 0 means unknown and 0xFFFF is reserved, so neither
/// is ever bound to an address or inserted into a packet.
public struct SGT: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let value: UInt16

    /// Creates a tag in 1...65534; nil for 0 and 0xFFFF.
    public init?(_ value: UInt16) {
        guard value != 0, value != 0xFFFF else { return nil }
        self.value = value
    }

    /// Validates a tag typed by an operator and explains a rejection.
    public static func parse(_ text: String) -> Result<SGT, SGTError> {
        guard let number = Int(text) else { return .failure(.notANumber(text)) }
        if number == 0 { return .failure(.unknownTag) }
        if number == 0xFFFF { return .failure(.reservedTag) }
        guard (1...0xFFFE).contains(number) else { return .failure(.outOfRange(number)) }
        return .success(SGT(UInt16(number))!)
    }

    public var description: String { String(value) }

    public static func < (lhs: SGT, rhs: SGT) -> Bool { lhs.value < rhs.value }

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(UInt16.self)
        guard let tag = SGT(raw) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid SGT \(raw)"))
        }
        self = tag
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// The reason an operator-supplied SGT was rejected.
public enum SGTError: Error, Equatable, CustomStringConvertible {
    case notANumber(String)
    case unknownTag
    case reservedTag
    case outOfRange(Int)

    public var description: String {
        switch self {
        case .notANumber(let text): return "SGT '\(text)' is not a number"
        case .unknownTag: return "SGT 0 means unknown and cannot be bound"
        case .reservedTag: return "SGT 65535 (0xFFFF) is reserved and cannot be bound"
        case .outOfRange(let n): return "SGT \(n) is out of range (1-65534)"
        }
    }
}

/// ESP and IKE encryption algorithms, with their IKEv2 transform IDs (RFC 7296 §3.3.2, IANA).
public enum EncryptionAlgorithm: String, Codable, Sendable, CaseIterable {
    case tripleDES = "3des"
    case aesCBC128 = "aes-cbc-128"
    case aesCBC192 = "aes-cbc-192"
    case aesCBC256 = "aes-cbc-256"
    case aesGCM128 = "aes-gcm-128"
    case aesGCM256 = "aes-gcm-256"
    case null = "null"
    case chacha20Poly1305 = "chacha20-poly1305"

    /// IKEv2 Transform Type 1 ID: ENCR_3DES 3, ENCR_NULL 11, ENCR_AES_CBC 12, ENCR_AES_GCM_16 20,
    /// ENCR_CHACHA20_POLY1305 28.
    public var transformID: UInt16 {
        switch self {
        case .tripleDES: return 3
        case .null: return 11
        case .aesCBC128, .aesCBC192, .aesCBC256: return 12
        case .aesGCM128, .aesGCM256: return 20
        case .chacha20Poly1305: return 28
        }
    }

    /// Key Length attribute in bits, present only for the AES variants. ChaCha20-Poly1305
    /// has a fixed 256-bit key, so it is sent without the attribute (RFC 7296 §3.3.5).
    public var keyLengthAttribute: UInt16? {
        switch self {
        case .aesCBC128, .aesGCM128: return 128
        case .aesCBC192: return 192
        case .aesCBC256, .aesGCM256: return 256
        case .tripleDES, .null, .chacha20Poly1305: return nil
        }
    }

    /// Key bytes taken from KEYMAT, including the 4-byte salt for GCM (RFC 4106 §8.1)
    /// and ChaCha20-Poly1305 (RFC 7634 §2).
    public var keyMaterialLength: Int {
        switch self {
        case .tripleDES: return 24
        case .aesCBC128: return 16
        case .aesCBC192: return 24
        case .aesCBC256: return 32
        case .aesGCM128: return 20
        case .aesGCM256, .chacha20Poly1305: return 36
        case .null: return 0
        }
    }

    /// True for the ciphers that authenticate by themselves and take no integrity transform.
    public var isAEAD: Bool {
        switch self {
        case .aesGCM128, .aesGCM256, .chacha20Poly1305: return true
        case .tripleDES, .aesCBC128, .aesCBC192, .aesCBC256, .null: return false
        }
    }

    /// Explicit IV carried in each ESP packet: the cipher block for CBC, 8 bytes for the AEADs.
    public var ivLength: Int {
        switch self {
        case .tripleDES: return 8
        case .aesCBC128, .aesCBC192, .aesCBC256: return 16
        case .aesGCM128, .aesGCM256, .chacha20Poly1305: return 8
        case .null: return 0
        }
    }

    /// Alignment of plaintext plus trailer: the cipher block, or 4 for stream-like modes.
    public var blockSize: Int {
        switch self {
        case .tripleDES: return 8
        case .aesCBC128, .aesCBC192, .aesCBC256: return 16
        case .aesGCM128, .aesGCM256, .chacha20Poly1305, .null: return 4
        }
    }

    /// ICV bytes added by an AEAD cipher (16 for ENCR_AES_GCM_16 and ENCR_CHACHA20_POLY1305),
    /// 0 otherwise.
    public var aeadTagLength: Int { isAEAD ? 16 : 0 }

    /// Looks up an algorithm from an IKEv2 transform ID and optional key length.
    public init?(transformID: UInt16, keyLength: UInt16?) {
        let match = EncryptionAlgorithm.allCases.first {
            $0.transformID == transformID && $0.keyLengthAttribute == keyLength
        }
        guard let match else { return nil }
        self = match
    }
}

/// Integrity algorithms, with their IKEv2 Transform Type 3 IDs.
public enum IntegrityAlgorithm: String, Codable, Sendable, CaseIterable {
    case hmacMD5_96 = "hmac-md5-96"
    case hmacSHA1_96 = "hmac-sha1-96"
    case hmacSHA256_128 = "hmac-sha256-128"

    /// AUTH_HMAC_MD5_96 1, AUTH_HMAC_SHA1_96 2, AUTH_HMAC_SHA2_256_128 12.
    public var transformID: UInt16 {
        switch self {
        case .hmacMD5_96: return 1
        case .hmacSHA1_96: return 2
        case .hmacSHA256_128: return 12
        }
    }

    /// HMAC key length in bytes (the hash output size, RFC 4868 §2.1.1).
    public var keyLength: Int {
        switch self {
        case .hmacMD5_96: return 16
        case .hmacSHA1_96: return 20
        case .hmacSHA256_128: return 32
        }
    }

    /// Truncated ICV length in bytes.
    public var icvLength: Int {
        switch self {
        case .hmacMD5_96, .hmacSHA1_96: return 12
        case .hmacSHA256_128: return 16
        }
    }

    public init?(transformID: UInt16) {
        guard
            let match = IntegrityAlgorithm.allCases.first(where: { $0.transformID == transformID })
        else { return nil }
        self = match
    }
}

/// Pseudo-random functions, with their IKEv2 Transform Type 2 IDs.
public enum PRFAlgorithm: String, Codable, Sendable, CaseIterable {
    case hmacMD5 = "prf-hmac-md5"
    case hmacSHA1 = "prf-hmac-sha1"
    case hmacSHA256 = "prf-hmac-sha256"

    /// PRF_HMAC_MD5 1, PRF_HMAC_SHA1 2, PRF_HMAC_SHA2_256 5.
    public var transformID: UInt16 {
        switch self {
        case .hmacMD5: return 1
        case .hmacSHA1: return 2
        case .hmacSHA256: return 5
        }
    }

    /// Output length in bytes, which is also the preferred key length.
    public var outputLength: Int {
        switch self {
        case .hmacMD5: return 16
        case .hmacSHA1: return 20
        case .hmacSHA256: return 32
        }
    }

    public init?(transformID: UInt16) {
        guard let match = PRFAlgorithm.allCases.first(where: { $0.transformID == transformID })
        else { return nil }
        self = match
    }
}

/// Diffie-Hellman groups, numbered as in the IKEv2 Transform Type 4 registry.
public enum DHGroup: UInt16, Codable, Sendable, CaseIterable {
    case modp1024 = 2
    case modp1536 = 5
    case modp2048 = 14
    case modp3072 = 15
    case ecp256 = 19
    case ecp384 = 20
    case ecp521 = 21
    case curve25519 = 31

    /// Length of the KE payload data in bytes: the prime length for MODP (RFC 7296 §3.4),
    /// x || y for ECP (RFC 5903 §7; 66-byte coordinates for P-521), and the 32-byte
    /// X25519 public value for Curve25519 (RFC 8031 §3.1).
    public var publicValueLength: Int {
        switch self {
        case .modp1024: return 128
        case .modp1536: return 192
        case .modp2048: return 256
        case .modp3072: return 384
        case .ecp256: return 64
        case .ecp384: return 96
        case .ecp521: return 132
        case .curve25519: return 32
        }
    }
}

/// A traffic selector range (RFC 7296 §3.13.1) as the SPD uses it.
public struct TrafficSelector: Hashable, Codable, Sendable, CustomStringConvertible {
    public var startAddress: IPAddress
    public var endAddress: IPAddress
    /// IP protocol number, 0 for any.
    public var ipProtocol: UInt8
    public var startPort: UInt16
    public var endPort: UInt16

    public init(
        startAddress: IPAddress, endAddress: IPAddress, ipProtocol: UInt8 = 0,
        startPort: UInt16 = 0, endPort: UInt16 = 65535
    ) {
        self.startAddress = startAddress
        self.endAddress = endAddress
        self.ipProtocol = ipProtocol
        self.startPort = startPort
        self.endPort = endPort
    }

    /// Creates a selector covering every address of a prefix, any protocol and port.
    public init(prefix: IPPrefix) {
        self.init(startAddress: prefix.range.lowerBound, endAddress: prefix.range.upperBound)
    }

    public static let anyIPv4 = TrafficSelector(prefix: IPPrefix("0.0.0.0/0")!)
    public static let anyIPv6 = TrafficSelector(prefix: IPPrefix("::/0")!)

    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == startAddress.isIPv4 && startAddress <= address && address <= endAddress
    }

    /// Matches a packet's address, protocol and port (ports are ignored for a port-less protocol).
    public func matches(address: IPAddress, ipProtocol proto: UInt8, port: UInt16?) -> Bool {
        guard contains(address) else { return false }
        if ipProtocol != 0 && ipProtocol != proto { return false }
        if let port, !(startPort...endPort).contains(port) { return false }
        return true
    }

    public var description: String {
        let ports = (startPort == 0 && endPort == 65535) ? "" : " ports \(startPort)-\(endPort)"
        let proto = ipProtocol == 0 ? "" : " proto \(ipProtocol)"
        return "\(startAddress)-\(endAddress)\(proto)\(ports)"
    }
}

/// Key material that must never reach a log or trace. JSON carries it as hex
/// under a field whose name contains "key", which the bus trace redacts.
public struct SecretBytes: Hashable, Codable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { "<\(bytes.count) secret bytes>" }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = Hex.decode(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid hex key"))
        }
        self.bytes = bytes
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Hex.encode(bytes))
    }
}

/// UDP encapsulation of ESP (RFC 3948) after NAT traversal floated IKE to port 4500.
public struct UDPEncapsulation: Hashable, Codable, Sendable {
    public var localPort: UInt16
    public var remotePort: UInt16

    public init(localPort: UInt16 = 4500, remotePort: UInt16 = 4500) {
        self.localPort = localPort
        self.remotePort = remotePort
    }
}

/// One direction's keys of a Child SA.
public struct ChildSAKeys: Hashable, Codable, Sendable {
    public var encryptionKey: SecretBytes
    public var integrityKey: SecretBytes

    public init(encryptionKey: [UInt8], integrityKey: [UInt8]) {
        self.encryptionKey = SecretBytes(encryptionKey)
        self.integrityKey = SecretBytes(integrityKey)
    }
}

/// A negotiated Child SA pair (one inbound and one outbound ESP SA), as
/// ike-negotiator hands it to sa-manager and sa-manager to the dataplane.
public struct ChildSA: Hashable, Codable, Sendable {
    /// Inbound SPI, allocated by sa-manager; it also names the pair.
    public var inboundSPI: UInt32
    /// SPI the peer allocated, carried in outbound packets.
    public var outboundSPI: UInt32
    /// IKE SA that created or last rekeyed this pair, as "initiatorSPI-responderSPI" in hex.
    public var ikeSAName: String
    public var localAddress: IPAddress
    public var remoteAddress: IPAddress
    public var udpEncapsulation: UDPEncapsulation?
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    public var encryption: EncryptionAlgorithm
    public var integrity: IntegrityAlgorithm?
    public var inboundKeys: ChildSAKeys
    public var outboundKeys: ChildSAKeys
    /// Both peers sent the CISCO-CTS-SGT Vendor ID in the parent IKE SA's IKE_SA_INIT.
    public var taggingNegotiated: Bool
    /// Crypto map tag or tunnel interface that caused the SA, for `show crypto ipsec sa`.
    public var cryptoMapName: String?
    /// Interface that carries the ESP packets (the one with the crypto map).
    public var interfaceName: String?
    /// Transform names as configured, such as "esp-aes esp-sha-hmac".
    public var transformDescription: String
    /// Seconds since the Unix epoch at installation.
    public var installedAt: Double
    public var lifetimeSeconds: UInt32
    public var lifetimeKilobytes: UInt64
    /// PFS group (`set pfs`) of the CREATE_CHILD_SA exchanges that rekey this
    /// SA; nil without PFS. The first Child SA, made in IKE_AUTH, has it too,
    /// although IKE_AUTH carries no KE payload for its own keys.
    public var pfsGroup: DHGroup? = nil
    /// Set on the SA that this gateway created as the responder of a rekey.
    /// While the SA it replaces is installed, outbound traffic stays on that
    /// one until a valid packet arrives on this SA, which shows that the peer
    /// has installed it (RFC 7296 §2.8). nil means false.
    public var awaitsInboundTraffic: Bool?
    /// Extended (64-bit) sequence numbers negotiated with ESN transform 1
    /// (RFC 4303 §2.2.1, RFC 7296 §3.3.2). nil means false, so SAs stored
    /// before the field existed decode as 32-bit SAs.
    public var extendedSequenceNumbers: Bool? = nil

    /// True when the SA uses 64-bit sequence numbers.
    public var usesExtendedSequenceNumbers: Bool { extendedSequenceNumbers ?? false }

    public init(
        inboundSPI: UInt32, outboundSPI: UInt32, ikeSAName: String,
        localAddress: IPAddress, remoteAddress: IPAddress,
        udpEncapsulation: UDPEncapsulation?, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], encryption: EncryptionAlgorithm,
        integrity: IntegrityAlgorithm?, inboundKeys: ChildSAKeys,
        outboundKeys: ChildSAKeys, taggingNegotiated: Bool, cryptoMapName: String?,
        interfaceName: String?, transformDescription: String, installedAt: Double,
        lifetimeSeconds: UInt32 = 3600, lifetimeKilobytes: UInt64 = 4_608_000,
        pfsGroup: DHGroup? = nil
    ) {
        self.inboundSPI = inboundSPI
        self.outboundSPI = outboundSPI
        self.ikeSAName = ikeSAName
        self.localAddress = localAddress
        self.remoteAddress = remoteAddress
        self.udpEncapsulation = udpEncapsulation
        self.localSelectors = localSelectors
        self.remoteSelectors = remoteSelectors
        self.encryption = encryption
        self.integrity = integrity
        self.inboundKeys = inboundKeys
        self.outboundKeys = outboundKeys
        self.taggingNegotiated = taggingNegotiated
        self.cryptoMapName = cryptoMapName
        self.interfaceName = interfaceName
        self.transformDescription = transformDescription
        self.installedAt = installedAt
        self.lifetimeSeconds = lifetimeSeconds
        self.lifetimeKilobytes = lifetimeKilobytes
        self.pfsGroup = pfsGroup
    }
}

/// Per-SA-pair counters with the meaning of `show crypto ipsec sa detail`.
public struct SACounters: Hashable, Codable, Sendable {
    public var encaps: UInt64 = 0
    public var encrypt: UInt64 = 0
    public var digest: UInt64 = 0
    public var decaps: UInt64 = 0
    public var decrypt: UInt64 = 0
    public var verify: UInt64 = 0
    public var verifyFailed: UInt64 = 0
    public var replayFailed: UInt64 = 0
    public var invalidSA: UInt64 = 0
    public var invalidLength: UInt64 = 0
    public var encapsFailed: UInt64 = 0
    public var decapsFailed: UInt64 = 0
    /// CMD inserted on egress.
    public var tagged: UInt64 = 0
    /// CMD extracted on ingress.
    public var untagged: UInt64 = 0
    /// Sent without a CMD: not negotiated, or no SGT for the source.
    public var notTagged: UInt64 = 0
    /// Received without a CMD, or with a CMD that was skipped because tagging was not negotiated.
    public var notUntagged: UInt64 = 0
    public var internalErrorsSend: UInt64 = 0
    public var internalErrorsReceive: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var bytesIn: UInt64 = 0
    /// Successful ESN resynchronizations (RFC 4303 Appendix A3) of the inbound SA; zero
    /// without ESN. Decoded as zero when missing, as from a sender older than the field.
    public var esnResynchronizations: UInt64 = 0

    public init() {}

    /// Adds every field of `other` into this one.
    public mutating func add(_ other: SACounters) {
        encaps &+= other.encaps
        encrypt &+= other.encrypt
        digest &+= other.digest
        decaps &+= other.decaps
        decrypt &+= other.decrypt
        verify &+= other.verify
        verifyFailed &+= other.verifyFailed
        replayFailed &+= other.replayFailed
        invalidSA &+= other.invalidSA
        invalidLength &+= other.invalidLength
        encapsFailed &+= other.encapsFailed
        decapsFailed &+= other.decapsFailed
        tagged &+= other.tagged
        untagged &+= other.untagged
        notTagged &+= other.notTagged
        notUntagged &+= other.notUntagged
        internalErrorsSend &+= other.internalErrorsSend
        internalErrorsReceive &+= other.internalErrorsReceive
        bytesOut &+= other.bytesOut
        bytesIn &+= other.bytesIn
        esnResynchronizations &+= other.esnResynchronizations
    }
}

// A missing counter decodes as zero, so that a reply from a service built before the counter
// was added still decodes. Encoding stays synthesized.
extension SACounters {
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func counter(_ key: CodingKeys) throws -> UInt64 {
            try container.decodeIfPresent(UInt64.self, forKey: key) ?? 0
        }
        self.init()
        encaps = try counter(.encaps)
        encrypt = try counter(.encrypt)
        digest = try counter(.digest)
        decaps = try counter(.decaps)
        decrypt = try counter(.decrypt)
        verify = try counter(.verify)
        verifyFailed = try counter(.verifyFailed)
        replayFailed = try counter(.replayFailed)
        invalidSA = try counter(.invalidSA)
        invalidLength = try counter(.invalidLength)
        encapsFailed = try counter(.encapsFailed)
        decapsFailed = try counter(.decapsFailed)
        tagged = try counter(.tagged)
        untagged = try counter(.untagged)
        notTagged = try counter(.notTagged)
        notUntagged = try counter(.notUntagged)
        internalErrorsSend = try counter(.internalErrorsSend)
        internalErrorsReceive = try counter(.internalErrorsReceive)
        bytesOut = try counter(.bytesOut)
        bytesIn = try counter(.bytesIn)
        esnResynchronizations = try counter(.esnResynchronizations)
    }
}

/// The origin of a binding. The raw value is the Source column of `show cts role-based sgt-map`.
public enum BindingSource: String, Codable, Sendable, CaseIterable, Comparable {
    /// The gateway's own interface addresses.
    case `internal` = "INTERNAL"
    /// `cts role-based sgt-map` in the configuration file.
    case config = "CLI"
    /// `tagline cts role-based sgt-map add` at run time.
    case api = "API"
    /// Learned from an SXP peer.
    case sxp = "SXP"

    /// Lower wins when two sources bind the same prefix. The order follows
    /// IOS, whose TrustSec configuration guide ranks INTERNAL above SXP and SXP
    /// above CLI. API bindings are run-time `cts role-based sgt-map` lines, so
    /// they rank with CLI, just below the configuration file's.
    public var priority: Int {
        switch self {
        case .internal: return 0
        case .sxp: return 1
        case .config: return 2
        case .api: return 3
        }
    }

    public static func < (lhs: BindingSource, rhs: BindingSource) -> Bool {
        lhs.priority < rhs.priority
    }
}

/// One IP-prefix-to-SGT binding.
public struct SGTBinding: Hashable, Codable, Sendable {
    public var prefix: IPPrefix
    public var sgt: SGT
    public var source: BindingSource

    public init(prefix: IPPrefix, sgt: SGT, source: BindingSource) {
        self.prefix = prefix
        self.sgt = sgt
        self.source = source
    }
}

/// Lowercase hex without separators.
public enum Hex {
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex, ignoring spaces and colons; nil on an odd count or a non-hex digit.
    public static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        var high: UInt8?
        for char in text.utf8 {
            if char == UInt8(ascii: " ") || char == UInt8(ascii: ":") || char == UInt8(ascii: "\n")
            {
                continue
            }
            let nibble: UInt8
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = char - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = char - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? out : nil
    }
}
