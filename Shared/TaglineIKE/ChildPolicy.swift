// The Child SAs the configuration requests: the initiation targets (crypto
// map entries with a peer, tunnel interfaces with a destination) and, on the
// responder, the crypto map entry or tunnel that covers a peer's proposal.

import TaglineConfig
import TaglineCore

/// An ESP transform set in the form the engine keeps with an SA.
public struct ESPTransform: Equatable, Sendable, Codable {
    public var name: String
    public var encryption: EncryptionAlgorithm
    /// nil with esp-gcm and esp-chacha20-poly1305.
    public var integrity: IntegrityAlgorithm?
    /// The transform words as configured, such as "esp-aes esp-sha-hmac".
    public var description: String

    public init(_ set: TransformSet) {
        self.name = set.name
        self.encryption = set.encryption
        self.integrity = set.integrity
        self.description = set.description
    }

    /// Creates the transform an installed Child SA uses, so its rekey proposes the same one.
    init(of child: ChildSA) {
        self.name = ""
        self.encryption = child.encryption
        self.integrity = child.integrity
        self.description = child.transformDescription
    }
}

/// The settings for one Child SA: where it comes from, what it may use and what it protects.
public struct ChildPolicy: Equatable, Sendable, Codable {
    /// Crypto map tag, or the tunnel interface name for tunnel protection.
    public var cryptoMapName: String?
    /// Interface that carries the ESP packets.
    public var interfaceName: String?
    /// Transform sets in preference order.
    public var transforms: [ESPTransform]
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    public var lifetime: UInt32
    public var lifetimeKilobytes: UInt64
    /// True for tunnel interfaces, which take whatever selectors the peer proposes.
    public var acceptsAnySelectors: Bool
    /// `set pfs`: the DH group of the KE payload CREATE_CHILD_SA carries; nil for no PFS.
    public var pfsGroup: DHGroup? = nil
}

extension ChildPolicy {
    /// The policy that rekeys `child`: its selectors, transform and lifetimes,
    /// whatever the configuration contains now (RFC 7296 §2.8).
    init(rekeying child: ChildSA) {
        self.init(
            cryptoMapName: child.cryptoMapName, interfaceName: child.interfaceName,
            transforms: [ESPTransform(of: child)], localSelectors: child.localSelectors,
            remoteSelectors: child.remoteSelectors, lifetime: child.lifetimeSeconds,
            lifetimeKilobytes: child.lifetimeKilobytes, acceptsAnySelectors: false,
            pfsGroup: child.pfsGroup)
    }
}

/// A peer this gateway initiates to, with the Child SAs it wants there.
public struct InitiationTarget: Equatable, Sendable {
    /// "MAP SEQ" for a crypto map entry, the interface name for a tunnel.
    public var key: String
    public var local: IPAddress
    public var remote: IPAddress
    public var profileName: String?
    /// One Child SA per ACL permit entry; the first is negotiated in IKE_AUTH.
    public var children: [ChildPolicy]
}

extension GatewayConfig {
    /// Lists what `start()` initiates: every static crypto map entry with a `set peer`
    /// on an interface that carries the map, and every tunnel interface with a
    /// `tunnel destination` and `tunnel protection`. Entries whose local address
    /// or access list is missing are left out.
    public func initiationTargets() -> [InitiationTarget] {
        var targets: [InitiationTarget] = []
        for name in interfaceOrder {
            guard let interface = interfaces[name], !interface.shutdown else { continue }
            if let mapName = interface.cryptoMapName {
                // IKE only responds through dynamic entries and never initiates from them.
                for entry in initiatorCryptoMapEntries(of: mapName) {
                    guard let peer = entry.peers.first,
                        let local = localAddress(of: interface, ipv4: peer.isIPv4),
                        let child = childPolicy(entry: entry, interface: interface)
                    else { continue }
                    targets.append(
                        InitiationTarget(
                            key: "\(mapName) \(entry.sequence)", local: local, remote: peer,
                            profileName: entry.ikev2ProfileName, children: child))
                }
            }
            if let destination = interface.tunnelDestination, !interface.isVirtualTemplate,
                let profileName = interface.tunnelProtectionProfile,
                let profile = ipsecProfiles[profileName],
                let local = localAddress(of: interface, ipv4: destination.isIPv4)
            {
                let child = tunnelPolicy(interface: interface, profile: profile)
                targets.append(
                    InitiationTarget(
                        key: interface.name, local: local, remote: destination,
                        profileName: profile.ikev2ProfileName, children: [child]))
            }
        }
        return targets
    }

    /// Builds one policy per permit entry of the entry's access list.
    func childPolicy(entry: CryptoMapEntry, interface: InterfaceConfig) -> [ChildPolicy]? {
        guard let aclName = entry.accessListName, let acl = accessLists[aclName] else {
            return nil
        }
        let pairs = acl.trafficSelectors()
        guard !pairs.isEmpty else { return nil }
        let transforms = transformSets(named: entry.transformSetNames).map(ESPTransform.init)
        let lifetime = lifetime(of: entry)
        return pairs.map { pair in
            ChildPolicy(
                cryptoMapName: entry.mapName, interfaceName: interface.name,
                transforms: transforms, localSelectors: [pair.local],
                remoteSelectors: [pair.remote], lifetime: lifetime.seconds,
                lifetimeKilobytes: lifetime.kilobytes, acceptsAnySelectors: false,
                pfsGroup: entry.pfsGroup)
        }
    }

    /// Builds the any-to-any policy of a tunnel interface, in the family of its tunnel mode.
    func tunnelPolicy(interface: InterfaceConfig, profile: IPsecProfile) -> ChildPolicy {
        let any = interface.tunnelMode == .ipsecIPv6 ? TrafficSelector.anyIPv6 : .anyIPv4
        let lifetime = lifetime(of: profile)
        return ChildPolicy(
            cryptoMapName: interface.name, interfaceName: interface.name,
            transforms: transformSets(named: profile.transformSetNames).map(ESPTransform.init),
            localSelectors: [any], remoteSelectors: [any], lifetime: lifetime.seconds,
            lifetimeKilobytes: lifetime.kilobytes, acceptsAnySelectors: true,
            pfsGroup: profile.pfsGroup)
    }

    /// Finds the policy that covers a Child SA proposed by a peer.
    ///
    /// Crypto map entries come first, and those on the interface that owns
    /// `localAddress` before the others. An entry with `set peer` lines covers
    /// only those peers (by address, or by identity for a peer behind a NAT).
    /// An entry with `set ikev2-profile` covers only that profile.
    /// The first ACL permit entry whose source intersects `proposedLocal` (the
    /// peer's TSr) and whose destination intersects `proposedRemote` (its TSi)
    /// wins, narrowed to those intersections. Then tunnel interfaces: one whose
    /// destination is the peer, or a virtual template named by the profile.
    /// Returns nil when nothing covers the proposal.
    public func responderPolicy(
        localAddress: IPAddress, remoteAddress: IPAddress, remoteIdentity: IPAddress? = nil,
        profile: IKEv2Profile?, proposedLocal: [TrafficSelector], proposedRemote: [TrafficSelector]
    ) -> ChildPolicy? {
        let withMaps = interfaceOrder.compactMap { interfaces[$0] }.filter {
            $0.cryptoMapName != nil && !$0.shutdown
        }
        let owning = withMaps.filter { interface in
            (interface.ipv4Addresses + interface.ipv6Addresses).contains {
                $0.address == localAddress
            } || self.localAddress(of: interface, ipv4: localAddress.isIPv4) == localAddress
        }
        let ordered = owning + withMaps.filter { !owning.contains($0) }
        for interface in ordered {
            guard let mapName = interface.cryptoMapName else { continue }
            for entry in cryptoMaps[mapName] ?? [] {
                let peerMatches =
                    entry.peers.contains(remoteAddress)
                    || remoteIdentity.map { entry.peers.contains($0) } == true
                if !entry.peers.isEmpty, !peerMatches { continue }
                if let wanted = entry.ikev2ProfileName, let profile, wanted != profile.name {
                    continue
                }
                for var policy in childPolicy(entry: entry, interface: interface) ?? [] {
                    let local = TrafficSelector.intersections(
                        proposedLocal, policy.localSelectors)
                    let remote = TrafficSelector.intersections(
                        proposedRemote, policy.remoteSelectors)
                    guard !local.isEmpty, !remote.isEmpty else { continue }
                    policy.localSelectors = local
                    policy.remoteSelectors = remote
                    return policy
                }
            }
        }

        for name in interfaceOrder {
            guard let interface = interfaces[name], !interface.shutdown,
                let profileName = interface.tunnelProtectionProfile,
                let ipsecProfile = ipsecProfiles[profileName]
            else { continue }
            var isTemplateOfProfile = false
            if interface.isVirtualTemplate, let number = profile?.virtualTemplate {
                isTemplateOfProfile = interface.name.lowercased() == "virtual-template\(number)"
            }
            guard interface.tunnelDestination == remoteAddress || isTemplateOfProfile else {
                continue
            }
            var policy = tunnelPolicy(interface: interface, profile: ipsecProfile)
            policy.localSelectors = proposedLocal
            policy.remoteSelectors = proposedRemote
            return policy
        }
        return nil
    }
}

extension TrafficSelector {
    /// Returns the overlap of two selectors, or nil when they share no address,
    /// protocol or port.
    public func intersection(_ other: TrafficSelector) -> TrafficSelector? {
        guard startAddress.isIPv4 == other.startAddress.isIPv4 else { return nil }
        let start = max(startAddress, other.startAddress)
        let end = min(endAddress, other.endAddress)
        guard start <= end else { return nil }
        let proto: UInt8
        if ipProtocol == 0 {
            proto = other.ipProtocol
        } else if other.ipProtocol == 0 || other.ipProtocol == ipProtocol {
            proto = ipProtocol
        } else {
            return nil
        }
        let low = max(startPort, other.startPort)
        let high = min(endPort, other.endPort)
        guard low <= high else { return nil }
        return TrafficSelector(
            startAddress: start, endAddress: end, ipProtocol: proto, startPort: low,
            endPort: high)
    }

    /// Returns every non-empty overlap between a selector of `proposed` and one of `allowed`.
    static func intersections(_ proposed: [TrafficSelector], _ allowed: [TrafficSelector])
        -> [TrafficSelector]
    {
        var result: [TrafficSelector] = []
        for offer in proposed {
            for limit in allowed {
                if let overlap = offer.intersection(limit), !result.contains(overlap) {
                    result.append(overlap)
                }
            }
        }
        return result
    }

    /// True when every address, protocol and port of `self` lies inside `other`.
    func isSubset(of other: TrafficSelector) -> Bool {
        intersection(other) == self
    }
}
