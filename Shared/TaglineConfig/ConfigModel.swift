// The typed model of the IOS configuration subset that every Tagline service
// reads. ConfigLoader fills it from the file; the lookups the IKE engine needs
// (keyring peer, profile, proposals, outside interfaces) are in
// GatewayConfig+Lookup.swift. Every object records the line that created it so
// that later messages can point at the file.

import TaglineCore

/// The whole gateway configuration after parsing and reference checks.
public struct GatewayConfig: Equatable, Sendable {
    /// `crypto ikev2 proposal NAME` blocks, by name.
    public var ikev2Proposals: [String: IKEv2Proposal] = [:]
    /// `crypto ikev2 policy NAME` blocks, by name.
    public var ikev2Policies: [String: IKEv2Policy] = [:]
    /// `crypto ikev2 keyring NAME` blocks, by name.
    public var keyrings: [String: Keyring] = [:]
    /// `crypto ikev2 profile NAME` blocks, by name. Every loaded profile has a
    /// remote address match, both authentication lines and a keyring.
    public var ikev2Profiles: [String: IKEv2Profile] = [:]
    /// `crypto ikev2 cts sgt`: offer and accept the CISCO-CTS-SGT Vendor ID.
    public var ctsSGTEnabled = false
    /// `crypto ipsec transform-set NAME ...`, by name.
    public var transformSets: [String: TransformSet] = [:]
    /// `crypto ipsec profile NAME` blocks, by name.
    public var ipsecProfiles: [String: IPsecProfile] = [:]
    /// `crypto map NAME SEQ ipsec-isakmp` entries by map name, in evaluation order:
    /// static entries by sequence number, then dynamic entries by sequence number
    /// and, within one `ipsec-isakmp dynamic` entry, by the sequence number of the
    /// dynamic map. Static entries come first even when a dynamic entry has a lower
    /// sequence number. Cisco advises giving entries that refer to dynamic maps the
    /// highest numbers, and with such numbering this order is plain numeric order. Every
    /// loaded entry has a transform set and an ACL, and every static entry has a peer.
    ///
    /// An entry `crypto map NAME SEQ ipsec-isakmp dynamic DYNMAP` is replaced by
    /// copies of the entries of `dynamicMaps[DYNMAP]` that carry the map name and
    /// sequence number of the crypto map entry (see `CryptoMapEntry.isDynamic`).
    public var cryptoMaps: [String: [CryptoMapEntry]] = [:]
    /// `crypto dynamic-map NAME SEQ` entries by dynamic map name, each list sorted by
    /// sequence number. Here `mapName` is the dynamic map name and `dynamicMapName` is
    /// nil. Every loaded entry has a transform set and an ACL, but `set peer` is optional.
    public var dynamicMaps: [String: [CryptoMapEntry]] = [:]
    /// Named and numbered IPv4 and IPv6 access lists, by name.
    public var accessLists: [String: AccessList] = [:]
    /// `interface NAME` blocks, by name.
    public var interfaces: [String: InterfaceConfig] = [:]
    /// Interface names in the order the file defines them.
    public var interfaceOrder: [String] = []
    /// `ip route` and `ipv6 route` lines in file order.
    public var staticRoutes: [StaticRoute] = []
    /// `cts role-based sgt-map` lines; a later line for the same prefix replaces an earlier one.
    public var sgtBindings: [ConfiguredBinding] = []
    /// `cts sxp` lines.
    public var sxp = SXPConfiguration()
    /// `cts sgt N`: the SGT of the gateway's own addresses (INTERNAL bindings).
    /// Nil without the line: the gateway has no SGT of its own and makes no
    /// INTERNAL binding.
    public var deviceSGT: SGT?
    /// `crypto ipsec security-association lifetime`: the default for entries that set none.
    public var defaultIPsecLifetime = SALifetime()
    /// ESP Next Header value that marks a payload starting with the CMD header.
    ///
    /// Set by Tagline's extension line `crypto ipsec inline-tagging next-header N`.
    /// The vendor's own value is not public, so the default is 253, which RFC 3692
    /// reserves for experimentation and testing. Both peers must use the same value.
    public var cmdNextHeader: UInt8 = GatewayConfig.defaultCMDNextHeader
    /// `crypto ipsec security-association replay window-size N`: the anti-replay window
    /// of every inbound SA, in packets.
    public var replayWindowSize = GatewayConfig.defaultReplayWindowSize
    /// Tagline's extension line `crypto ipsec esn`: offer extended sequence numbers
    /// ("ESN" before "no ESN") and choose ESN when a peer offers both. Without it the
    /// gateway offers only "no ESN" and, as responder, takes ESN only when the peer
    /// offers nothing else.
    public var extendedSequenceNumbers = false
    /// `crypto ipsec fragmentation MODE` in global mode; an interface's own line overrides it.
    public var ipsecFragmentation = IPsecFragmentation.beforeEncryption

    /// `crypto ikev2 cookie-challenge N`: the number of half-open IKE SAs from
    /// which the responder demands a COOKIE. nil leaves the negotiator's default.
    public var cookieChallenge: Int?
    /// The `mtu` of `crypto ikev2 fragmentation mtu N`: the largest IP datagram
    /// of an IKE fragment. nil uses 576 bytes for IPv4 and 1280 for IPv6.
    public var ikeFragmentationMTU: Int?
    /// Range of `crypto ikev2 cookie-challenge`, as on IOS.
    public static let cookieChallengeRange = 1...1000
    /// Range of `crypto ikev2 fragmentation mtu`, as on IOS.
    public static let ikeFragmentationMTURange = 68...1500

    /// Default `replayWindowSize` in packets.
    public static let defaultReplayWindowSize = 1024
    /// Smallest and largest `replayWindowSize`: RFC 4303 §3.4.3 requires at least 32.
    public static let replayWindowSizes = 32...65536
    /// RFC 3692 experimental IP protocol number, the default `cmdNextHeader`.
    public static let defaultCMDNextHeader: UInt8 = 253

    public init() {}
}

// MARK: - IKEv2

/// `crypto ikev2 proposal NAME`: the IKE SA transforms offered or accepted.
public struct IKEv2Proposal: Equatable, Sendable {
    public var name: String
    /// `encryption 3des aes-cbc-128 aes-cbc-256 aes-gcm-128 aes-gcm-256 chacha20-poly1305`,
    /// in preference order.
    public var encryption: [EncryptionAlgorithm] = []
    /// `integrity md5 sha1 sha256`; empty for an AEAD (GCM, ChaCha20-Poly1305) proposal.
    public var integrity: [IntegrityAlgorithm] = []
    /// `prf md5 sha1 sha256`. When the line is absent the loader fills in the
    /// PRFs that match the integrity algorithms, as IOS does.
    public var prf: [PRFAlgorithm] = []
    /// `group 2 5 14 15 19 20 21 31`, in preference order.
    public var groups: [DHGroup] = []
    /// True when `prf` was written in the file rather than derived from `integrity`.
    public var prfConfigured = false
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }

    /// True when the proposal can be offered: encryption, a PRF and a group, plus
    /// integrity unless every cipher is AEAD. The loader reports and removes
    /// incomplete proposals, so every loaded proposal is complete.
    public var isComplete: Bool {
        guard !encryption.isEmpty, !prf.isEmpty, !groups.isEmpty else { return false }
        let isAEAD = encryption.allSatisfy { $0.isAEAD }
        return isAEAD ? integrity.isEmpty : !integrity.isEmpty
    }
}

/// `crypto ikev2 policy NAME`: which proposals apply to which local address.
public struct IKEv2Policy: Equatable, Sendable {
    public var name: String
    /// `proposal NAME` lines, in order.
    public var proposalNames: [String] = []
    /// `match address local A`; empty means every local address.
    public var matchLocalAddresses: [IPAddress] = []
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

/// `crypto ikev2 keyring NAME`: pre-shared keys per peer.
public struct Keyring: Equatable, Sendable {
    public var name: String
    /// `peer NAME` blocks in file order. The loader reports and removes peers
    /// without an address or without a key for both directions.
    public var peers: [KeyringPeer] = []
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

/// `peer NAME` inside a keyring.
public struct KeyringPeer: Equatable, Sendable {
    public var name: String
    /// `address A.B.C.D MASK`, `address A.B.C.D` or `address X::/n` as written;
    /// IOS accepts host bits here, so `prefix` clears them for matching.
    public var address: IPAddress?
    public var prefixLength: Int = 0
    /// `identity address A`: the IKE identity expected from this peer.
    public var identity: IPAddress?
    /// Key that this gateway signs its own AUTH payload with (`pre-shared-key [local] KEY`).
    public var localKey: SecretBytes?
    /// Key that the peer's AUTH payload is checked with (`pre-shared-key [remote] KEY`).
    public var remoteKey: SecretBytes?
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }

    /// The addresses this peer entry matches; nil when no `address` line was given.
    public var prefix: IPPrefix? {
        guard let address else { return nil }
        return IPPrefix(covering: address, length: prefixLength)
    }
}

/// Authentication methods of `authentication local|remote`.
public enum AuthenticationMethod: String, Equatable, Sendable {
    case preShare = "pre-share"
}

/// When dead peer detection probes are sent.
public enum DPDMode: String, Equatable, Sendable {
    /// Only when traffic was sent but nothing came back for `interval` seconds.
    case onDemand = "on-demand"
    /// Every `interval` seconds while the SA is idle.
    case periodic
}

/// `dpd INTERVAL RETRY on-demand|periodic`.
public struct DPDSettings: Equatable, Sendable {
    /// Seconds between liveness checks, 10-3600.
    public var interval: Int
    /// Seconds between retransmissions of an unanswered check, 2-60.
    public var retry: Int
    public var mode: DPDMode

    public init(interval: Int, retry: Int, mode: DPDMode) {
        self.interval = interval
        self.retry = retry
        self.mode = mode
    }
}

/// `crypto ikev2 profile NAME`: identities, authentication and keys for a set of peers.
public struct IKEv2Profile: Equatable, Sendable {
    public var name: String
    /// `match identity remote address A [MASK]` and `... address X::/n`. A bare
    /// `0.0.0.0` is stored as 0.0.0.0/0 and a bare host address as /32.
    public var matchRemoteAddresses: [IPPrefix] = []
    /// `identity local address A`; nil means the local IKE address is the identity.
    public var localIdentity: IPAddress?
    /// `authentication local pre-share`.
    public var localAuthentication: AuthenticationMethod?
    /// `authentication remote pre-share` lines.
    public var remoteAuthentication: [AuthenticationMethod] = []
    /// `keyring local NAME` or `keyring NAME`.
    public var keyringName: String?
    /// `lifetime SECONDS` of the IKE SA, 120-86400; IOS defaults to 86400.
    public var lifetimeSeconds: UInt32 = 86400
    /// `dpd INTERVAL RETRY on-demand|periodic`; nil when dead peer detection is off.
    public var dpd: DPDSettings?
    /// `virtual-template N`: clone Virtual-TemplateN for each IKE SA of this profile.
    public var virtualTemplate: Int?
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

// MARK: - IPsec

/// ESP encapsulation mode of a transform set.
public enum IPsecMode: String, Equatable, Sendable {
    case tunnel
    case transport
}

/// `crypto ipsec transform-set NAME TRANSFORM...`.
public struct TransformSet: Equatable, Sendable {
    public var name: String
    public var encryption: EncryptionAlgorithm
    /// nil with `esp-gcm`, which authenticates by itself.
    public var integrity: IntegrityAlgorithm?
    /// `mode tunnel|transport`, tunnel by default.
    public var mode: IPsecMode = .tunnel
    /// The transform words as written, such as "esp-3des esp-sha-hmac".
    public var description: String
    public var line: Int

    public init(
        name: String, encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm?,
        description: String, line: Int
    ) {
        self.name = name
        self.encryption = encryption
        self.integrity = integrity
        self.description = description
        self.line = line
    }
}

/// Child SA lifetimes: a rekey is due when either limit is reached.
public struct SALifetime: Equatable, Sendable {
    /// IOS defaults: 3600 seconds and 4,608,000 kilobytes.
    public var seconds: UInt32 = 3600
    public var kilobytes: UInt64 = 4_608_000

    public init(seconds: UInt32 = 3600, kilobytes: UInt64 = 4_608_000) {
        self.seconds = seconds
        self.kilobytes = kilobytes
    }
}

/// `crypto ipsec profile NAME`: Child SA settings for a tunnel interface.
public struct IPsecProfile: Equatable, Sendable {
    public var name: String
    /// `set transform-set NAME...`, in preference order.
    public var transformSetNames: [String] = []
    /// `set ikev2-profile NAME`.
    public var ikev2ProfileName: String?
    /// `set pfs group2|group5|group14|group15|group19|group20|group21|group31`; nil for no PFS.
    public var pfsGroup: DHGroup?
    /// `set security-association lifetime seconds N`; nil keeps the global default.
    public var lifetimeSeconds: UInt32?
    /// `set security-association lifetime kilobytes N`; nil keeps the global default.
    public var lifetimeKilobytes: UInt64?
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

/// `crypto map NAME SEQ ipsec-isakmp` or `crypto dynamic-map NAME SEQ`: one entry
/// of a crypto map or of a dynamic map.
public struct CryptoMapEntry: Equatable, Sendable {
    public var mapName: String
    public var sequence: Int
    /// `set peer A` lines; the first is tried first. On a dynamic entry they only
    /// restrict which peers may match, and an empty list admits every peer.
    public var peers: [IPAddress] = []
    /// `set transform-set NAME...`, in preference order.
    public var transformSetNames: [String] = []
    /// `set ikev2-profile NAME`.
    public var ikev2ProfileName: String?
    /// `match address ACL`: permit entries are the traffic to protect.
    public var accessListName: String?
    /// `set pfs group2|group5|group14|group15|group19|group20|group21|group31`; nil for no PFS.
    public var pfsGroup: DHGroup?
    /// `set security-association lifetime seconds N`; nil keeps the global default.
    public var lifetimeSeconds: UInt32?
    /// `set security-association lifetime kilobytes N`; nil keeps the global default.
    public var lifetimeKilobytes: UInt64?
    /// The dynamic map that this entry was copied from, for an entry of a crypto map
    /// expanded from `crypto map NAME SEQ ipsec-isakmp dynamic DYNMAP`; nil otherwise.
    public var dynamicMapName: String?
    /// The sequence number of the copied entry inside `dynamicMapName`; nil otherwise.
    public var dynamicMapSequence: Int?
    /// The line that opened the entry; for a dynamic entry, the line of its
    /// `crypto dynamic-map` block, where its settings are.
    public var line: Int

    public init(mapName: String, sequence: Int, line: Int) {
        self.mapName = mapName
        self.sequence = sequence
        self.line = line
    }

    /// True for an entry copied from a dynamic map.
    ///
    /// A dynamic entry is used only when responding: IKE never initiates from it.
    /// Its `peers`, when set, restrict which peers may match it.
    public var isDynamic: Bool { dynamicMapName != nil }
}

// MARK: - Access lists

/// Action of an access list entry.
public enum AccessListAction: String, Equatable, Sendable {
    case permit
    case deny
}

/// One side (source or destination) of an access list entry.
public struct AccessListEndpoint: Equatable, Sendable {
    /// `any`, `host A`, `A WILDCARD` or `X::/n`, stored as a prefix because
    /// Tagline accepts only contiguous wildcards.
    public var prefix: IPPrefix
    /// `eq P`, `range A B`, `lt P`, `gt P`; 0...65535 when no port is given.
    public var ports: ClosedRange<UInt16> = 0...65535

    public init(prefix: IPPrefix, ports: ClosedRange<UInt16> = 0...65535) {
        self.prefix = prefix
        self.ports = ports
    }
}

/// `permit|deny PROTO SRC [PORTS] DST [PORTS]`.
public struct AccessListEntry: Equatable, Sendable {
    public var action: AccessListAction
    /// IP protocol number; 0 for `ip` or `ipv6` (every protocol).
    public var ipProtocol: UInt8
    public var source: AccessListEndpoint
    public var destination: AccessListEndpoint
    public var line: Int

    public init(
        action: AccessListAction, ipProtocol: UInt8, source: AccessListEndpoint,
        destination: AccessListEndpoint, line: Int
    ) {
        self.action = action
        self.ipProtocol = ipProtocol
        self.source = source
        self.destination = destination
        self.line = line
    }
}

/// `ip access-list extended NAME`, `access-list N ...` or `ipv6 access-list NAME`.
public struct AccessList: Equatable, Sendable {
    public var name: String
    public var isIPv6: Bool
    public var entries: [AccessListEntry] = []
    public var line: Int

    public init(name: String, isIPv6: Bool, line: Int) {
        self.name = name
        self.isIPv6 = isIPv6
        self.line = line
    }

    /// Converts the permit entries, in order, into traffic selector pairs. As in
    /// IOS, the source is the local protected side and the destination the remote
    /// side. Deny entries produce no pair.
    public func trafficSelectors() -> [(local: TrafficSelector, remote: TrafficSelector)] {
        entries.filter { $0.action == .permit }.map { entry in
            (
                local: Self.selector(entry.source, entry.ipProtocol),
                remote: Self.selector(entry.destination, entry.ipProtocol)
            )
        }
    }

    private static func selector(_ endpoint: AccessListEndpoint, _ ipProtocol: UInt8)
        -> TrafficSelector
    {
        let range = endpoint.prefix.range
        return TrafficSelector(
            startAddress: range.lowerBound, endAddress: range.upperBound,
            ipProtocol: ipProtocol, startPort: endpoint.ports.lowerBound,
            endPort: endpoint.ports.upperBound)
    }
}

// MARK: - Interfaces and routes

/// An interface address with its prefix length; host bits are kept.
public struct InterfaceAddress: Equatable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int
    /// `ip address A MASK secondary`.
    public var secondary: Bool

    public init(address: IPAddress, prefixLength: Int, secondary: Bool = false) {
        self.address = address
        self.prefixLength = prefixLength
        self.secondary = secondary
    }

    /// The connected subnet.
    public var subnet: IPPrefix { IPPrefix(covering: address, length: prefixLength) }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// `tunnel source IF|ADDR`.
public enum TunnelSource: Equatable, Sendable {
    case interface(String)
    case address(IPAddress)
}

/// `tunnel mode ipsec ipv4|ipv6`.
public enum TunnelMode: String, Equatable, Sendable {
    case ipsecIPv4 = "ipsec ipv4"
    case ipsecIPv6 = "ipsec ipv6"
}

/// `interface NAME [type tunnel]`.
public struct InterfaceConfig: Equatable, Sendable {
    public var name: String
    /// `description TEXT`.
    public var description: String?
    /// `ip address A MASK [secondary]`; the primary address comes first.
    public var ipv4Addresses: [InterfaceAddress] = []
    /// `ipv6 address X/n`.
    public var ipv6Addresses: [InterfaceAddress] = []
    /// `ip unnumbered IF`: borrow the IPv4 address of another interface.
    public var unnumberedInterface: String?
    /// `crypto map NAME`.
    public var cryptoMapName: String?
    /// `crypto ipsec fragmentation MODE` in interface mode; nil follows the global line.
    public var ipsecFragmentation: IPsecFragmentation?
    public var tunnelSource: TunnelSource?
    public var tunnelDestination: IPAddress?
    public var tunnelMode: TunnelMode?
    /// `tunnel protection ipsec profile NAME`.
    public var tunnelProtectionProfile: String?
    /// `interface Virtual-TemplateN type tunnel`: a template cloned per IKE SA.
    public var isVirtualTemplate = false
    /// `shutdown`.
    public var shutdown = false
    public var line: Int

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }
}

/// A static route: `ip route PREFIX MASK NEXTHOP|INTERFACE` or `ipv6 route X/n NEXTHOP`.
public struct StaticRoute: Equatable, Sendable {
    public var prefix: IPPrefix
    public var nextHop: IPAddress?
    public var interfaceName: String?
    /// Administrative distance; IOS uses 1 when none is written.
    public var distance: UInt8 = 1
    public var line: Int

    public init(prefix: IPPrefix, nextHop: IPAddress?, interfaceName: String?, line: Int) {
        self.prefix = prefix
        self.nextHop = nextHop
        self.interfaceName = interfaceName
        self.line = line
    }
}

/// `cts role-based sgt-map PREFIX sgt N`.
public struct ConfiguredBinding: Equatable, Sendable {
    public var prefix: IPPrefix
    public var sgt: SGT
    public var line: Int

    public init(prefix: IPPrefix, sgt: SGT, line: Int) {
        self.prefix = prefix
        self.sgt = sgt
        self.line = line
    }

    /// The binding as the binding store keeps it, with source `.config`.
    public var binding: SGTBinding { SGTBinding(prefix: prefix, sgt: sgt, source: .config) }
}
