// Queries over a loaded configuration that the IKE engine and the services
// need: which keyring peer and profile apply to a remote address, which IKE
// proposals apply to a local address, and which interfaces carry ESP.

import TaglineCore

extension GatewayConfig {
    /// The IKEv2 proposal used when no `crypto ikev2 policy` is configured.
    ///
    /// IOS also falls back to a built-in default proposal of AES-CBC, SHA-2 and
    /// SHA-1 integrity and MODP groups. NOTE: the IOS list differs between releases
    /// and includes algorithms Tagline lacks, so this list is Tagline's own choice.
    public static let defaultIKEv2Proposal: IKEv2Proposal = {
        var proposal = IKEv2Proposal(name: "default", line: 0)
        proposal.encryption = [.aesCBC256, .aesCBC192, .aesCBC128]
        proposal.integrity = [.hmacSHA256_128, .hmacSHA1_96, .hmacMD5_96]
        proposal.prf = [.hmacSHA256, .hmacSHA1, .hmacMD5]
        proposal.groups = [.modp2048, .modp1024]
        return proposal
    }()

    /// Finds the peer of `keyring` whose address covers `address`. The longest
    /// prefix wins, so `0.0.0.0 0.0.0.0` and `::/0` act as wildcards; between
    /// equal prefixes the first peer in the file wins. Returns nil when the keyring
    /// does not exist or no peer matches.
    public func keyringPeer(for address: IPAddress, in keyring: String) -> KeyringPeer? {
        guard let ring = keyrings[keyring] else { return nil }
        var best: KeyringPeer?
        for peer in ring.peers {
            guard let prefix = peer.prefix, prefix.contains(address) else { continue }
            if let current = best, current.prefixLength >= peer.prefixLength { continue }
            best = peer
        }
        return best
    }

    /// Finds the IKEv2 profile whose `match identity remote address` covers
    /// `address`. The longest matching prefix wins; between equal prefixes the
    /// profile defined first in the file wins.
    public func profile(matchingRemote address: IPAddress) -> IKEv2Profile? {
        var best: (profile: IKEv2Profile, length: Int)?
        let ordered = ikev2Profiles.values.sorted { ($0.line, $0.name) < ($1.line, $1.name) }
        for profile in ordered {
            for prefix in profile.matchRemoteAddresses where prefix.contains(address) {
                if let current = best, current.length >= prefix.length { continue }
                best = (profile, prefix.length)
            }
        }
        return best?.profile
    }

    /// Selects the IKEv2 proposals for IKE SAs on `address`, in preference order.
    ///
    /// Policies with a `match address local` equal to `address` win over policies
    /// without one, as in IOS. Policies are taken in file order and each proposal
    /// appears once. Without any policy the result is `defaultIKEv2Proposal`; with
    /// policies but none matching, it is empty. Incomplete proposals are skipped.
    public func proposals(forLocal address: IPAddress) -> [IKEv2Proposal] {
        if ikev2Policies.isEmpty { return [GatewayConfig.defaultIKEv2Proposal] }
        let policies = ikev2Policies.values.sorted { ($0.line, $0.name) < ($1.line, $1.name) }
        let specific = policies.filter { $0.matchLocalAddresses.contains(address) }
        let general = policies.filter { $0.matchLocalAddresses.isEmpty }
        let chosen = specific.isEmpty ? general : specific
        var seen = Set<String>()
        var result: [IKEv2Proposal] = []
        for policy in chosen {
            for name in policy.proposalNames where !seen.contains(name) {
                seen.insert(name)
                if let proposal = ikev2Proposals[name], proposal.isComplete {
                    result.append(proposal)
                }
            }
        }
        return result
    }

    /// Interfaces that carry ESP: those with a `crypto map` and those named or
    /// addressed by a `tunnel source`, in file order.
    public var outsideInterfaces: [InterfaceConfig] {
        var sourceNames = Set<String>()
        for interface in interfaces.values {
            switch interface.tunnelSource {
            case .interface(let name):
                sourceNames.insert(name)
            case .address(let address):
                if let owner = self.interface(owning: address) { sourceNames.insert(owner.name) }
            case nil:
                break
            }
        }
        return interfaceOrder.compactMap { interfaces[$0] }.filter {
            $0.cryptoMapName != nil || sourceNames.contains($0.name)
        }
    }

    /// Finds the interface that has `address` configured, IPv4 or IPv6.
    public func interface(owning address: IPAddress) -> InterfaceConfig? {
        for name in interfaceOrder {
            guard let interface = interfaces[name] else { continue }
            let all = interface.ipv4Addresses + interface.ipv6Addresses
            if all.contains(where: { $0.address == address }) { return interface }
        }
        return nil
    }

    /// Finds the address that IKE and ESP use on `interface` for one address
    /// family: the `tunnel source` when there is one, else the primary address,
    /// else the address of the `ip unnumbered` interface. Nil when there is none.
    public func localAddress(of interface: InterfaceConfig, ipv4: Bool) -> IPAddress? {
        switch interface.tunnelSource {
        case .address(let address):
            return address.isIPv4 == ipv4 ? address : nil
        case .interface(let name):
            guard let source = interfaces[name], source.name != interface.name else { return nil }
            return ownAddress(of: source, ipv4: ipv4)
        case nil:
            return ownAddress(of: interface, ipv4: ipv4)
        }
    }

    private func ownAddress(of interface: InterfaceConfig, ipv4: Bool) -> IPAddress? {
        let list = ipv4 ? interface.ipv4Addresses : interface.ipv6Addresses
        if let primary = list.first(where: { !$0.secondary }) { return primary.address }
        guard ipv4, let lender = interface.unnumberedInterface, lender != interface.name,
            let source = interfaces[lender]
        else { return nil }
        return source.ipv4Addresses.first(where: { !$0.secondary })?.address
    }

    /// Finds the interface that carries crypto map `mapName`.
    public func interface(carryingCryptoMap mapName: String) -> InterfaceConfig? {
        interfaceOrder.compactMap { interfaces[$0] }.first { $0.cryptoMapName == mapName }
    }

    /// Looks up the transform sets named in `names`, in the same order, skipping unknown names.
    public func transformSets(named names: [String]) -> [TransformSet] {
        names.compactMap { transformSets[$0] }
    }

    /// Computes the Child SA lifetime of a crypto map entry; unset limits take the global default.
    public func lifetime(of entry: CryptoMapEntry) -> SALifetime {
        SALifetime(
            seconds: entry.lifetimeSeconds ?? defaultIPsecLifetime.seconds,
            kilobytes: entry.lifetimeKilobytes ?? defaultIPsecLifetime.kilobytes)
    }

    /// Computes the Child SA lifetime of an IPsec profile; unset limits take the global default.
    public func lifetime(of profile: IPsecProfile) -> SALifetime {
        SALifetime(
            seconds: profile.lifetimeSeconds ?? defaultIPsecLifetime.seconds,
            kilobytes: profile.lifetimeKilobytes ?? defaultIPsecLifetime.kilobytes)
    }

    /// Every crypto map entry of every map, static and dynamic: by map name, then
    /// in the order of `responderCryptoMapEntries(of:)`. IKE never initiates from a
    /// dynamic entry, so an initiator skips entries where `isDynamic` is true.
    public var allCryptoMapEntries: [CryptoMapEntry] {
        cryptoMaps.keys.sorted().flatMap { responderCryptoMapEntries(of: $0) }
    }

    /// Lists the entries of crypto map `mapName` that a responder matches a peer's
    /// proposal against, in evaluation order: static entries by sequence number,
    /// then dynamic entries by sequence number and dynamic map sequence number.
    /// A dynamic entry with `set peer` lines matches only those peers, and one
    /// without matches every peer.
    public func responderCryptoMapEntries(of mapName: String) -> [CryptoMapEntry] {
        cryptoMaps[mapName] ?? []
    }

    /// Lists the static entries of crypto map `mapName` by sequence number: the
    /// entries IKE initiates from. Each of them has at least one peer.
    public func initiatorCryptoMapEntries(of mapName: String) -> [CryptoMapEntry] {
        (cryptoMaps[mapName] ?? []).filter { !$0.isDynamic }
    }

    /// The SGT bindings as the binding store keeps them, with source `.config`.
    public var bindings: [SGTBinding] { sgtBindings.map { $0.binding } }
}
