// `crypto ipsec transform-set|profile|security-association`, `crypto map`,
// `crypto dynamic-map`, and the `set` commands that IPsec profiles and crypto
// map entries share.

import TaglineCore

/// The settings that `crypto ipsec profile` and `crypto map` entries share.
protocol IPsecSettings {
    var transformSetNames: [String] { get set }
    var ikev2ProfileName: String? { get set }
    var pfsGroup: DHGroup? { get set }
    var lifetimeSeconds: UInt32? { get set }
    var lifetimeKilobytes: UInt64? { get set }
}

extension IPsecProfile: IPsecSettings {}
extension CryptoMapEntry: IPsecSettings {}

extension ConfigParser {
    // MARK: - Transform sets

    /// `crypto ipsec transform-set NAME TRANSFORM...`; a repeated name replaces the transforms.
    mutating func openTransformSet(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let setName = try name(line, 3, "transform set name")
        guard line.words.count > 4 else { throw ConfigLineError("missing transforms") }
        let transforms = Array(line.keywords[4...])
        let (encryption, integrity) = try parseTransforms(transforms)
        var transformSet = TransformSet(
            name: setName, encryption: encryption, integrity: integrity,
            description: transforms.joined(separator: " "), line: line.number)
        if let existing = config.transformSets[setName] { transformSet.mode = existing.mode }
        config.transformSets[setName] = transformSet
        mode = .transformSet(setName)
        return .applied
    }

    /// Parses `esp-3des`, `esp-aes [128|192|256]`, `esp-gcm [128|256]`,
    /// `esp-chacha20-poly1305`, `esp-null` and one of `esp-md5-hmac`,
    /// `esp-sha-hmac`, `esp-sha256-hmac`.
    private func parseTransforms(_ words: [String]) throws
        -> (EncryptionAlgorithm, IntegrityAlgorithm?)
    {
        var encryption: EncryptionAlgorithm?
        var encryptionWord = ""
        var integrity: IntegrityAlgorithm?
        var index = 0
        while index < words.count {
            let word = words[index]
            let keyBits = index + 1 < words.count ? Int(words[index + 1]) : nil
            var cipher: EncryptionAlgorithm?
            switch word {
            case "esp-3des": cipher = .tripleDES
            case "esp-null": cipher = .null
            case "esp-aes":
                switch keyBits ?? 128 {
                case 128: cipher = .aesCBC128
                case 192: cipher = .aesCBC192
                case 256: cipher = .aesCBC256
                default: throw ConfigLineError("esp-aes key length must be 128, 192 or 256")
                }
                if keyBits != nil { index += 1 }
            case "esp-gcm":
                switch keyBits ?? 128 {
                case 128: cipher = .aesGCM128
                case 256: cipher = .aesGCM256
                default: throw ConfigLineError("esp-gcm key length must be 128 or 256")
                }
                if keyBits != nil { index += 1 }
            case "esp-chacha20-poly1305":
                // Tagline's own keyword, because IOS XE has no ChaCha20-Poly1305
                // ESP transform.
                cipher = .chacha20Poly1305
            case "esp-md5-hmac", "esp-sha-hmac", "esp-sha256-hmac":
                guard integrity == nil else {
                    throw ConfigLineError("a transform set takes one integrity transform")
                }
                let table: [String: IntegrityAlgorithm] = [
                    "esp-md5-hmac": .hmacMD5_96, "esp-sha-hmac": .hmacSHA1_96,
                    "esp-sha256-hmac": .hmacSHA256_128,
                ]
                integrity = table[word]
            default:
                throw ConfigLineError(
                    "unknown or unsupported transform '\(word)' (supported: esp-3des esp-aes "
                        + "esp-gcm esp-chacha20-poly1305 esp-null esp-md5-hmac esp-sha-hmac "
                        + "esp-sha256-hmac)")
            }
            if let cipher {
                guard encryption == nil else {
                    throw ConfigLineError("a transform set takes one encryption transform")
                }
                encryption = cipher
                encryptionWord = word
            }
            index += 1
        }

        // ESP with an integrity transform alone is ESP with NULL encryption.
        let cipher = encryption ?? .null
        if cipher.isAEAD && integrity != nil {
            throw ConfigLineError(
                "\(encryptionWord) authenticates by itself and cannot be combined with an HMAC")
        }
        if cipher == .null && integrity == nil {
            throw ConfigLineError("esp-null needs an integrity transform such as esp-sha-hmac")
        }
        return (cipher, integrity)
    }

    mutating func transformSetCommand(_ line: ConfigLine, transformSet: String) throws
        -> CommandResult?
    {
        switch line.keyword(0) {
        case "mode":
            let word = try requiredWord(line, 1, "mode (tunnel or transport)")
            guard let ipsecMode = IPsecMode(rawValue: word.lowercased()) else {
                throw ConfigLineError("invalid mode '\(word)' (expected tunnel or transport)")
            }
            // `mode transport require` forbids the fallback to tunnel mode.
            if line.keyword(2) != "require" { try requireEnd(line, 2) }
            try requireEnd(line, 3)
            config.transformSets[transformSet]?.mode = ipsecMode
            return .applied
        case "no":
            return .ignored
        default:
            return nil
        }
    }

    // MARK: - IPsec profiles

    /// `crypto ipsec profile NAME`.
    mutating func openIPsecProfile(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let profileName = try name(line, 3, "ipsec profile name")
        try requireEnd(line, 4)
        if config.ipsecProfiles[profileName] == nil {
            config.ipsecProfiles[profileName] = IPsecProfile(name: profileName, line: line.number)
        }
        mode = .ipsecProfile(profileName)
        return .applied
    }

    mutating func ipsecProfileCommand(_ line: ConfigLine, profile: String) throws -> CommandResult?
    {
        guard var current = config.ipsecProfiles[profile] else { return nil }
        switch line.keyword(0) {
        case "set":
            let result = try applySet(line, to: &current) { config, update in
                if var target = config.ipsecProfiles[profile] {
                    update(&target)
                    config.ipsecProfiles[profile] = target
                }
            }
            config.ipsecProfiles[profile] = current
            return result
        case "description", "no", "responder-only":
            return .ignored
        default:
            return nil
        }
    }

    // MARK: - Crypto maps

    /// `crypto map NAME SEQ [ipsec-isakmp]` and `crypto map NAME SEQ ipsec-isakmp
    /// dynamic DYNMAP`; other entry types, such as `ipsec-manual`, are ignored.
    mutating func openCryptoMap(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let mapName = try name(line, 2, "crypto map name")
        let sequence = try integer(line, 3, "sequence number", in: 1...65535)
        if let type = line.keyword(4) {
            guard type == "ipsec-isakmp" else {
                if KnownIOSCommands.cryptoMapEntryTypes.contains(type) { return .ignored }
                throw ConfigLineError.unknown(
                    line.words[4], after: "crypto map \(mapName) \(sequence)",
                    expected: ["ipsec-isakmp"])
            }
            if line.keyword(5) == "dynamic" {
                return try addDynamicMapReference(line, map: mapName, sequence: sequence)
            }
            try requireEnd(line, 5)
        }
        var entries = config.cryptoMaps[mapName] ?? []
        if let existing = entries.first(where: { $0.sequence == sequence }) {
            if let dynamicName = existing.dynamicMapName {
                throw ConfigLineError(
                    "crypto map \(mapName) \(sequence) already refers to dynamic map "
                        + "\(dynamicName) at line \(existing.line) "
                        + "(choose another sequence number)")
            }
        } else {
            let entry = CryptoMapEntry(mapName: mapName, sequence: sequence, line: line.number)
            let position = entries.firstIndex { $0.sequence > sequence } ?? entries.count
            entries.insert(entry, at: position)
            config.cryptoMaps[mapName] = entries
        }
        mode = .cryptoMap(name: mapName, sequence: sequence)
        return .applied
    }

    /// `crypto dynamic-map NAME SEQ`.
    mutating func openDynamicMap(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let mapName = try name(line, 2, "dynamic map name")
        let sequence = try integer(line, 3, "sequence number", in: 1...65535)
        try requireEnd(line, 4)
        var entries = config.dynamicMaps[mapName] ?? []
        if !entries.contains(where: { $0.sequence == sequence }) {
            let entry = CryptoMapEntry(mapName: mapName, sequence: sequence, line: line.number)
            let position = entries.firstIndex { $0.sequence > sequence } ?? entries.count
            entries.insert(entry, at: position)
            config.dynamicMaps[mapName] = entries
        }
        mode = .dynamicMap(name: mapName, sequence: sequence)
        return .applied
    }

    /// Runs a sub-command of entry `sequence` of map `map` in `table`. Crypto map
    /// entries (`\.cryptoMaps`) and dynamic map entries (`\.dynamicMaps`) take the
    /// same commands.
    mutating func cryptoMapCommand(
        _ line: ConfigLine, table: WritableKeyPath<GatewayConfig, [String: [CryptoMapEntry]]>,
        map: String, sequence: Int
    ) throws -> CommandResult? {
        guard
            let position = config[keyPath: table][map]?.firstIndex(where: {
                $0.sequence == sequence
            }),
            var entry = config[keyPath: table][map]?[position]
        else { return nil }
        // Removes a dangling reference from this entry, wherever it has moved to.
        let updateEntry: (inout GatewayConfig, (inout CryptoMapEntry) -> Void) -> Void = {
            config, update in
            guard
                let index = config[keyPath: table][map]?.firstIndex(where: {
                    $0.sequence == sequence
                })
            else { return }
            update(&config[keyPath: table][map]![index])
        }
        let result: CommandResult
        switch line.keyword(0) {
        case "set" where line.keyword(1) == "peer":
            let peer = try anyAddress(line, 2, "peer address")
            if line.keyword(3) != "default" { try requireEnd(line, 3) }
            try requireEnd(line, 4)
            entry.peers.appendUnique([peer])
            result = .applied
        case "set":
            result = try applySet(line, to: &entry, updateInModel: updateEntry)
        case "match":
            guard line.keyword(1) == "address" else {
                throw ConfigLineError("expected 'match address ACCESS-LIST'")
            }
            let aclName = try name(line, 2, "access list name")
            try requireEnd(line, 3)
            entry.accessListName = aclName
            addReference(.accessList, aclName, line) { config in
                updateEntry(&config) { entry in
                    if entry.accessListName == aclName { entry.accessListName = nil }
                }
            }
            result = .applied
        case "description", "no", "qos", "reverse-route":
            return .ignored
        default:
            return nil
        }
        config[keyPath: table][map]?[position] = entry
        return result
    }

    // MARK: - Shared settings

    /// `set transform-set`, `set ikev2-profile`, `set pfs` and
    /// `set security-association lifetime`. The other `set` forms of IOS, listed in
    /// `KnownIOSCommands`, are ignored, and any other word is an error.
    /// `updateInModel` applies a change to the same object inside a model, so a
    /// dangling reference can be removed after the whole file is read.
    private mutating func applySet<Target: IPsecSettings>(
        _ line: ConfigLine, to target: inout Target,
        updateInModel: @escaping (inout GatewayConfig, (inout Target) -> Void) -> Void
    ) throws -> CommandResult {
        switch line.keyword(1) {
        case "transform-set":
            guard line.words.count > 2 else { throw ConfigLineError("missing transform set name") }
            var names: [String] = []
            for index in 2..<line.words.count {
                names.appendUnique([try name(line, index, "transform set name")])
            }
            target.transformSetNames = names
            for setName in names {
                addReference(.transformSet, setName, line) { config in
                    updateInModel(&config) { $0.transformSetNames.removeAll { $0 == setName } }
                }
            }
        case "ikev2-profile":
            let profileName = try name(line, 2, "ikev2 profile name")
            try requireEnd(line, 3)
            target.ikev2ProfileName = profileName
            addReference(.ikev2Profile, profileName, line) { config in
                updateInModel(&config) { settings in
                    if settings.ikev2ProfileName == profileName { settings.ikev2ProfileName = nil }
                }
            }
        case "pfs":
            let word = try requiredWord(line, 2, "PFS group such as group14 or group19")
            target.pfsGroup = try dhGroup(word.lowercased())
            try requireEnd(line, 3)
        case "security-association":
            switch line.keyword(2) {
            case "lifetime":
                break
            case let word? where KnownIOSCommands.securityAssociation.contains(word):
                return .ignored
            case let word?:
                throw ConfigLineError.unknown(
                    word, after: "set security-association", expected: ["lifetime"])
            case nil:
                throw ConfigLineError.incomplete("set security-association", expected: ["lifetime"])
            }
            let lifetime = try lifetimeValue(line, 3)
            if let seconds = lifetime.seconds { target.lifetimeSeconds = seconds }
            if let kilobytes = lifetime.kilobytes { target.lifetimeKilobytes = kilobytes }
        case nil:
            throw ConfigLineError("missing setting after 'set'")
        case let word? where KnownIOSCommands.set.contains(word):
            return .ignored
        case .some:
            throw ConfigLineError.unknown(
                line.words[1], after: "set",
                expected: ["transform-set", "ikev2-profile", "pfs", "security-association"])
        }
        return .applied
    }

    /// `seconds N` or `kilobytes N` starting at word `index`.
    private func lifetimeValue(_ line: ConfigLine, _ index: Int) throws
        -> (seconds: UInt32?, kilobytes: UInt64?)
    {
        switch line.keyword(index) {
        case "seconds":
            let value = try integer(line, index + 1, "lifetime in seconds", in: 120...86400)
            try requireEnd(line, index + 2)
            return (UInt32(value), nil)
        case "kilobytes":
            let value = try integer(
                line, index + 1, "lifetime in kilobytes", in: 2560...4_294_967_295)
            try requireEnd(line, index + 2)
            return (nil, UInt64(value))
        default:
            throw ConfigLineError("expected 'lifetime seconds N' or 'lifetime kilobytes N'")
        }
    }

    /// `crypto ipsec security-association lifetime seconds|kilobytes N`.
    mutating func setGlobalLifetime(_ line: ConfigLine) throws -> CommandResult {
        let lifetime = try lifetimeValue(line, 4)
        if let seconds = lifetime.seconds { config.defaultIPsecLifetime.seconds = seconds }
        if let kilobytes = lifetime.kilobytes { config.defaultIPsecLifetime.kilobytes = kilobytes }
        return .applied
    }
}
