// `crypto ikev2 proposal|policy|keyring|profile` blocks and their sub-mode commands.

import TaglineCore

extension ConfigParser {
    // MARK: - Proposal

    /// `crypto ikev2 proposal NAME`.
    mutating func openProposal(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let proposalName = try name(line, 3, "proposal name")
        try requireEnd(line, 4)
        if config.ikev2Proposals[proposalName] == nil {
            config.ikev2Proposals[proposalName] = IKEv2Proposal(
                name: proposalName, line: line.number)
        }
        mode = .ikev2Proposal(proposalName)
        return .applied
    }

    mutating func proposalCommand(_ line: ConfigLine, proposal: String) throws -> CommandResult? {
        guard var current = config.ikev2Proposals[proposal] else { return nil }
        let values = Array(line.keywords.dropFirst())
        switch line.keyword(0) {
        case "encryption":
            guard !values.isEmpty else { throw ConfigLineError("missing encryption algorithm") }
            let added = try values.map(ikeEncryption)
            let all = current.encryption + added
            if let aead = all.first(where: \.isAEAD), !all.allSatisfy(\.isAEAD) {
                throw ConfigLineError(
                    "\(aead.aeadFamilyName) and CBC ciphers cannot share a proposal; "
                        + "configure them in separate proposals"
                )
            }
            if let aead = added.first(where: \.isAEAD), !current.integrity.isEmpty {
                throw ConfigLineError(
                    "\(aead.aeadFamilyName) cannot be combined with an integrity algorithm")
            }
            current.encryption.appendUnique(added)
        case "integrity":
            guard !values.isEmpty else { throw ConfigLineError("missing integrity algorithm") }
            let added = try values.map(ikeIntegrity)
            if let aead = current.encryption.first(where: \.isAEAD) {
                throw ConfigLineError(
                    "integrity cannot be configured with \(aead.aeadFamilyName), "
                        + "which authenticates by itself")
            }
            current.integrity.appendUnique(added)
        case "prf":
            guard !values.isEmpty else { throw ConfigLineError("missing prf algorithm") }
            current.prf.appendUnique(try values.map(ikePRF))
            current.prfConfigured = true
        case "group":
            guard !values.isEmpty else { throw ConfigLineError("missing DH group") }
            current.groups.appendUnique(try values.map(dhGroup))
        case "no":
            return .ignored
        default:
            return nil
        }
        config.ikev2Proposals[proposal] = current
        return .applied
    }

    private func ikeEncryption(_ word: String) throws -> EncryptionAlgorithm {
        guard word != "null", let algorithm = EncryptionAlgorithm(rawValue: word) else {
            throw ConfigLineError(
                "encryption algorithm '\(word)' is not supported "
                    + "(supported: 3des aes-cbc-128 aes-cbc-192 aes-cbc-256 "
                    + "aes-gcm-128 aes-gcm-256 chacha20-poly1305)"
            )
        }
        return algorithm
    }

    private func ikeIntegrity(_ word: String) throws -> IntegrityAlgorithm {
        switch word {
        case "md5": return .hmacMD5_96
        case "sha1": return .hmacSHA1_96
        case "sha256": return .hmacSHA256_128
        default:
            throw ConfigLineError(
                "integrity algorithm '\(word)' is not supported (supported: md5 sha1 sha256)")
        }
    }

    private func ikePRF(_ word: String) throws -> PRFAlgorithm {
        switch word {
        case "md5": return .hmacMD5
        case "sha1": return .hmacSHA1
        case "sha256": return .hmacSHA256
        default:
            throw ConfigLineError(
                "prf algorithm '\(word)' is not supported (supported: md5 sha1 sha256)")
        }
    }

    /// Parses a DH group number such as `14`, or `group14` as `set pfs` writes it.
    /// Groups that `DHGroup` lacks, such as 1, 16 and 24, are rejected as unsupported.
    func dhGroup(_ word: String) throws -> DHGroup {
        let digits = word.hasPrefix("group") ? String(word.dropFirst(5)) : word
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt16(digits),
            let group = DHGroup(rawValue: number)
        else {
            let supported = DHGroup.allCases.map { String($0.rawValue) }.joined(separator: " ")
            throw ConfigLineError(
                "DH group '\(word)' is invalid or not supported (supported: \(supported))")
        }
        return group
    }

    // MARK: - Policy

    /// `crypto ikev2 policy NAME`.
    mutating func openPolicy(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let policyName = try name(line, 3, "policy name")
        try requireEnd(line, 4)
        if config.ikev2Policies[policyName] == nil {
            config.ikev2Policies[policyName] = IKEv2Policy(name: policyName, line: line.number)
        }
        mode = .ikev2Policy(policyName)
        return .applied
    }

    mutating func policyCommand(_ line: ConfigLine, policy: String) throws -> CommandResult? {
        guard var current = config.ikev2Policies[policy] else { return nil }
        switch line.keyword(0) {
        case "proposal":
            guard line.words.count > 1 else { throw ConfigLineError("missing proposal name") }
            for index in 1..<line.words.count {
                let proposalName = try name(line, index, "proposal name")
                guard !current.proposalNames.contains(proposalName) else { continue }
                current.proposalNames.append(proposalName)
                addReference(.ikev2Proposal, proposalName, line) { config in
                    config.ikev2Policies[policy]?.proposalNames.removeAll { $0 == proposalName }
                }
            }
        case "match":
            switch line.keyword(1) {
            case "address":
                guard line.keyword(2) == "local" else {
                    throw ConfigLineError("expected 'match address local ADDRESS'")
                }
                let address = try anyAddress(line, 3, "local address")
                try requireEnd(line, 4)
                if !current.matchLocalAddresses.contains(address) {
                    current.matchLocalAddresses.append(address)
                }
            case "fvrf", "vrf":
                return .ignored
            default:
                throw ConfigLineError("expected 'match address local ADDRESS' or 'match fvrf'")
            }
        case "description", "no":
            return .ignored
        default:
            return nil
        }
        config.ikev2Policies[policy] = current
        return .applied
    }

    // MARK: - Keyring

    /// `crypto ikev2 keyring NAME`.
    mutating func openKeyring(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let keyringName = try name(line, 3, "keyring name")
        try requireEnd(line, 4)
        if config.keyrings[keyringName] == nil {
            config.keyrings[keyringName] = Keyring(name: keyringName, line: line.number)
        }
        mode = .keyring(keyringName)
        return .applied
    }

    mutating func keyringCommand(_ line: ConfigLine, keyring: String) throws -> CommandResult? {
        guard config.keyrings[keyring] != nil else { return nil }
        switch line.keyword(0) {
        case "peer":
            mode = .rejectedBlock(start: line.number, parent: .keyring(keyring))
            let peerName = try name(line, 1, "peer name")
            try requireEnd(line, 2)
            let peers = config.keyrings[keyring]?.peers ?? []
            if let index = peers.firstIndex(where: { $0.name == peerName }) {
                mode = .keyringPeer(keyring: keyring, index: index)
            } else {
                config.keyrings[keyring]?.peers.append(
                    KeyringPeer(name: peerName, line: line.number))
                mode = .keyringPeer(keyring: keyring, index: peers.count)
            }
            return .applied
        case "description", "no":
            return .ignored
        default:
            return nil
        }
    }

    mutating func keyringPeerCommand(_ line: ConfigLine, keyring: String, index: Int) throws
        -> CommandResult?
    {
        guard let peers = config.keyrings[keyring]?.peers, peers.indices.contains(index) else {
            return nil
        }
        var peer = peers[index]
        switch line.keyword(0) {
        case "address":
            let earlierPrefix = peer.prefix
            let word = try requiredWord(line, 1, "peer address")
            if word.contains("/") {
                let (address, length) = try ipv6AddressAndLength(line, 1, "peer address")
                (peer.address, peer.prefixLength) = (address, length)
                try requireEnd(line, 2)
            } else {
                let address = try anyAddress(line, 1, "peer address")
                // IOS accepts host bits here and matches on the masked prefix.
                if address.isIPv4, line.word(2) != nil {
                    peer.prefixLength = try netmask(line, 2)
                    try requireEnd(line, 3)
                } else {
                    peer.prefixLength = address.bitWidth
                    try requireEnd(line, 2)
                }
                peer.address = address
            }
            let settingKey = "keyring \(keyring) peer \(index) address"
            if let earlierPrefix, earlierPrefix != peer.prefix,
                let earlier = settingLines[settingKey]
            {
                addWarning(
                    line,
                    "replaces address \(earlierPrefix) of peer \(peer.name) in ikev2 keyring "
                        + "\(keyring) from line \(earlier); remove one of the two lines")
            }
            settingLines[settingKey] = line.number
        case "identity":
            switch line.keyword(1) {
            case "address":
                break
            case let word? where KnownIOSCommands.peerIdentity.contains(word):
                return .ignored
            case let word?:
                throw ConfigLineError.unknown(word, after: "identity", expected: ["address"])
            case nil:
                throw ConfigLineError.incomplete("identity", expected: ["address"])
            }
            peer.identity = try anyAddress(line, 2, "identity address")
            try requireEnd(line, 3)
        case "pre-shared-key":
            try setPresharedKey(line, peer: &peer)
        case "hostname", "description", "no":
            return .ignored
        default:
            return nil
        }
        config.keyrings[keyring]?.peers[index] = peer
        return .applied
    }

    /// `pre-shared-key [local|remote] [0] KEY`; the key is the rest of the line.
    private func setPresharedKey(_ line: ConfigLine, peer: inout KeyringPeer) throws {
        var index = 1
        let direction = line.keyword(1)
        if direction == "local" || direction == "remote" { index += 1 }
        if let type = line.word(index), line.word(index + 1) != nil, type.count == 1,
            type.allSatisfy({ $0.isNumber })
        {
            guard type == "0" else {
                throw ConfigLineError(
                    "encrypted pre-shared keys (type \(type)) are not supported; "
                        + "configure the key in clear text")
            }
            index += 1
        }
        let key = line.rest(after: index)
        guard !key.isEmpty else { throw ConfigLineError("missing pre-shared key") }
        let secret = SecretBytes(Array(key.utf8))
        if direction != "remote" { peer.localKey = secret }
        if direction != "local" { peer.remoteKey = secret }
    }
}

extension Array where Element: Equatable {
    /// Appends each element of `items` that is not already present.
    mutating func appendUnique(_ items: [Element]) {
        for item in items where !contains(item) { append(item) }
    }
}

extension EncryptionAlgorithm {
    /// The `encryption` keyword family of an AEAD cipher, for messages:
    /// "aes-gcm" or "chacha20-poly1305".
    var aeadFamilyName: String {
        switch self {
        case .aesGCM128, .aesGCM256: return "aes-gcm"
        case .chacha20Poly1305: return "chacha20-poly1305"
        case .tripleDES, .aesCBC128, .aesCBC192, .aesCBC256, .null: return rawValue
        }
    }
}
