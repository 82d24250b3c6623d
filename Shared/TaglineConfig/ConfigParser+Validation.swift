// Checks that run once the whole file has been read: incomplete objects and
// names that no block defines. Objects are checked before the references to
// them, so that a reference to a rejected object names the line that rejected it.

import TaglineCore

extension ConfigParser {
    /// Completes the model and returns it with every diagnostic, sorted by line.
    mutating func finish() -> ConfigLoadResult {
        derivePRFs()
        checkProposals()
        resolveReferences(to: [.ikev2Proposal])
        checkPolicies()
        checkKeyrings()
        resolveReferences(to: [.keyring])
        checkProfiles()
        resolveReferences(to: [.transformSet, .ikev2Profile, .accessList])
        checkIPsecProfiles()
        checkDynamicMaps()
        resolveReferences(to: [.dynamicMap])
        expandDynamicMaps()
        checkCryptoMaps()
        resolveReferences(to: [.cryptoMap, .ipsecProfile, .interface])

        let sorted = diagnostics.enumerated().sorted {
            ($0.element.line, $0.offset) < ($1.element.line, $1.offset)
        }
        return ConfigLoadResult(config: config, diagnostics: sorted.map { $0.element })
    }

    /// Reports an incomplete object on the line that opened it.
    mutating func addIncomplete(
        _ kind: ObjectKind, _ name: String, line: Int,
        _ reason: String
    ) {
        addError(
            line: line, text: lineTexts[line] ?? "",
            "\(kind.rawValue) \(name) is incomplete: \(reason)")
    }

    /// Fills in the PRFs of proposals without a `prf` line from their integrity
    /// algorithms, as IOS does.
    private mutating func derivePRFs() {
        for (name, proposal) in config.ikev2Proposals where proposal.prf.isEmpty {
            config.ikev2Proposals[name]?.prf = proposal.integrity.map { integrity in
                switch integrity {
                case .hmacMD5_96: return .hmacMD5
                case .hmacSHA1_96: return .hmacSHA1
                case .hmacSHA256_128: return .hmacSHA256
                }
            }
        }
    }

    private mutating func checkProposals() {
        for proposal in config.ikev2Proposals.values.sorted(by: { $0.line < $1.line }) {
            let aead = proposal.encryption.first { $0.isAEAD }
            let reason: String
            if proposal.encryption.isEmpty {
                reason = "no encryption"
            } else if aead == nil && proposal.integrity.isEmpty {
                reason = "no integrity"
            } else if proposal.prf.isEmpty {
                let family = aead?.aeadFamilyName ?? "AEAD"
                reason = "no prf, which \(family) proposals must configure"
            } else if proposal.groups.isEmpty {
                reason = "no group"
            } else {
                continue
            }
            addIncomplete(.ikev2Proposal, proposal.name, line: proposal.line, reason)
            config.ikev2Proposals[proposal.name] = nil
            markRejected(.ikev2Proposal, proposal.name, line: proposal.line)
        }
    }

    /// Reports policies without a usable proposal. They stay in the model, so
    /// that IKE fails closed rather than falling back to the default proposal.
    private mutating func checkPolicies() {
        for policy in config.ikev2Policies.values.sorted(by: { $0.line < $1.line })
        where policy.proposalNames.isEmpty {
            addError(
                line: policy.line, text: lineTexts[policy.line] ?? "",
                "ikev2 policy \(policy.name) has no usable proposal, so it matches no IKE SA")
        }
    }

    private mutating func checkKeyrings() {
        for name in config.keyrings.keys.sorted() {
            guard let keyring = config.keyrings[name] else { continue }
            var completePeers: [KeyringPeer] = []
            for peer in keyring.peers {
                let reason: String
                if peer.address == nil {
                    reason = "no address (Tagline matches keyring peers by address)"
                } else if peer.localKey == nil || peer.remoteKey == nil {
                    reason = "no pre-shared-key for both directions"
                } else {
                    completePeers.append(peer)
                    continue
                }
                addError(
                    line: peer.line, text: lineTexts[peer.line] ?? "",
                    "peer \(peer.name) of ikev2 keyring \(name) is incomplete: \(reason)")
            }
            config.keyrings[name]?.peers = completePeers
            warnAboutSharedPeerAddresses(keyring)
        }
    }

    /// Warns about a complete keyring peer whose address prefix an earlier peer of the
    /// same keyring already has: the lookup always returns the earlier peer for it.
    private mutating func warnAboutSharedPeerAddresses(_ keyring: Keyring) {
        var firstLines: [IPPrefix: (name: String, line: Int)] = [:]
        for (index, peer) in keyring.peers.enumerated()
        where peer.localKey != nil && peer.remoteKey != nil {
            guard let prefix = peer.prefix else { continue }
            let line = settingLines["keyring \(keyring.name) peer \(index) address"] ?? peer.line
            guard let first = firstLines[prefix] else {
                firstLines[prefix] = (peer.name, line)
                continue
            }
            addWarning(
                line: line, text: lineTexts[line] ?? "",
                "peer \(peer.name) of ikev2 keyring \(keyring.name) has the same address "
                    + "\(prefix) as peer \(first.name) at line \(first.line), so peer "
                    + "\(first.name) is always used for it")
        }
    }

    private mutating func checkProfiles() {
        for profile in config.ikev2Profiles.values.sorted(by: { $0.line < $1.line }) {
            let reason: String
            if profile.matchRemoteAddresses.isEmpty {
                reason = "no 'match identity remote address'"
            } else if profile.localAuthentication == nil {
                reason = "no 'authentication local'"
            } else if profile.remoteAuthentication.isEmpty {
                reason = "no 'authentication remote'"
            } else if profile.keyringName == nil {
                reason = "no keyring for pre-share authentication"
            } else {
                continue
            }
            addIncomplete(.ikev2Profile, profile.name, line: profile.line, reason)
            config.ikev2Profiles[profile.name] = nil
            markRejected(.ikev2Profile, profile.name, line: profile.line)
        }
    }

    private mutating func checkIPsecProfiles() {
        for profile in config.ipsecProfiles.values.sorted(by: { $0.line < $1.line })
        where profile.transformSetNames.isEmpty {
            addIncomplete(.ipsecProfile, profile.name, line: profile.line, "no transform set")
            config.ipsecProfiles[profile.name] = nil
            markRejected(.ipsecProfile, profile.name, line: profile.line)
        }
    }

    /// Checks the static entries; `checkDynamicMaps` has checked the dynamic ones.
    private mutating func checkCryptoMaps() {
        for name in config.cryptoMaps.keys.sorted() {
            var completeEntries: [CryptoMapEntry] = []
            for entry in config.cryptoMaps[name] ?? [] {
                let reason: String
                if entry.isDynamic {
                    completeEntries.append(entry)
                    continue
                } else if entry.peers.isEmpty {
                    reason = "no 'set peer'"
                } else if entry.transformSetNames.isEmpty {
                    reason = "no transform set"
                } else if entry.accessListName == nil {
                    reason = "no 'match address'"
                } else {
                    completeEntries.append(entry)
                    continue
                }
                addIncomplete(.cryptoMap, "\(name) \(entry.sequence)", line: entry.line, reason)
            }
            if completeEntries.isEmpty {
                let firstLine = config.cryptoMaps[name]?.first?.line ?? 0
                config.cryptoMaps[name] = nil
                markRejected(.cryptoMap, name, line: firstLine)
            } else {
                config.cryptoMaps[name] = completeEntries
            }
        }
    }

    /// Reports and removes each reference of `kinds` whose name is not defined.
    private mutating func resolveReferences(to kinds: Set<ObjectKind>) {
        let interfaceNames = Set(config.interfaces.keys.map { $0.lowercased() })
        for reference in references where kinds.contains(reference.kind) {
            let defined: Bool
            switch reference.kind {
            case .ikev2Proposal: defined = config.ikev2Proposals[reference.name] != nil
            case .keyring: defined = config.keyrings[reference.name] != nil
            case .ikev2Profile: defined = config.ikev2Profiles[reference.name] != nil
            case .transformSet: defined = config.transformSets[reference.name] != nil
            case .ipsecProfile: defined = config.ipsecProfiles[reference.name] != nil
            case .accessList: defined = config.accessLists[reference.name] != nil
            case .cryptoMap: defined = !(config.cryptoMaps[reference.name] ?? []).isEmpty
            case .dynamicMap: defined = !(config.dynamicMaps[reference.name] ?? []).isEmpty
            case .interface: defined = interfaceNames.contains(reference.name.lowercased())
            }
            guard !defined else { continue }

            let object = "\(reference.kind.rawValue) \(reference.name)"
            let message: String
            if let line = rejectedObjects[object] {
                message = "\(object) was rejected at line \(line)"
            } else {
                message = "\(object) is not defined"
            }
            addError(line: reference.line, text: reference.text, message)
            reference.remove(&config)
        }
    }
}
