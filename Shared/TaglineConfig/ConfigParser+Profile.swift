// `crypto ikev2 profile NAME` and its sub-mode commands.

import TaglineCore

extension ConfigParser {
    /// `crypto ikev2 profile NAME`.
    mutating func openProfile(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let profileName = try name(line, 3, "profile name")
        try requireEnd(line, 4)
        if config.ikev2Profiles[profileName] == nil {
            config.ikev2Profiles[profileName] = IKEv2Profile(name: profileName, line: line.number)
        }
        mode = .ikev2Profile(profileName)
        return .applied
    }

    mutating func profileCommand(_ line: ConfigLine, profile: String) throws -> CommandResult? {
        guard var current = config.ikev2Profiles[profile] else { return nil }
        switch line.keyword(0) {
        case "match":
            guard try matchIdentity(line, profile: &current) else { return .ignored }
        case "identity":
            guard line.keyword(1) == "local" else {
                throw ConfigLineError("expected 'identity local address ADDRESS'")
            }
            switch line.keyword(2) {
            case "address":
                break
            case let word? where KnownIOSCommands.profileLocalIdentity.contains(word):
                return .ignored
            case let word?:
                throw ConfigLineError.unknown(word, after: "identity local", expected: ["address"])
            case nil:
                throw ConfigLineError.incomplete("identity local", expected: ["address"])
            }
            current.localIdentity = try anyAddress(line, 3, "local identity address")
            try requireEnd(line, 4)
        case "authentication":
            try setAuthentication(line, profile: &current)
        case "keyring":
            guard line.keyword(1) != "aaa" else { return .ignored }
            let index = line.keyword(1) == "local" ? 2 : 1
            let keyringName = try name(line, index, "keyring name")
            try requireEnd(line, index + 1)
            current.keyringName = keyringName
            addReference(.keyring, keyringName, line) { config in
                if config.ikev2Profiles[profile]?.keyringName == keyringName {
                    config.ikev2Profiles[profile]?.keyringName = nil
                }
            }
        case "lifetime":
            current.lifetimeSeconds = UInt32(try integer(line, 1, "lifetime", in: 120...86400))
            try requireEnd(line, 2)
        case "dpd":
            let interval = try integer(line, 1, "DPD interval", in: 10...3600)
            let retry = try integer(line, 2, "DPD retry interval", in: 2...60)
            let modeWord = try requiredWord(line, 3, "DPD mode (on-demand or periodic)")
            guard let dpdMode = DPDMode(rawValue: modeWord.lowercased()) else {
                throw ConfigLineError(
                    "invalid DPD mode '\(modeWord)' (expected on-demand or periodic)")
            }
            try requireEnd(line, 4)
            current.dpd = DPDSettings(interval: interval, retry: retry, mode: dpdMode)
        case "virtual-template":
            let number = try integer(line, 1, "virtual template number", in: 1...65535)
            try requireEnd(line, 2)
            current.virtualTemplate = number
            addReference(.interface, "Virtual-Template\(number)", line) { config in
                if config.ikev2Profiles[profile]?.virtualTemplate == number {
                    config.ikev2Profiles[profile]?.virtualTemplate = nil
                }
            }
        case "aaa", "config-exchange", "description", "dynamic", "initial-contact", "ivrf", "nat",
            "no", "pki", "reconnect", "redirect", "shutdown":
            return .ignored
        default:
            return nil
        }
        config.ikev2Profiles[profile] = current
        return .applied
    }

    /// `match identity remote address ...`; returns false for the `match` forms
    /// that Tagline ignores (fqdn, email, key-id, fvrf, certificate, local address).
    private func matchIdentity(_ line: ConfigLine, profile: inout IKEv2Profile) throws -> Bool {
        guard line.keyword(1) == "identity" else {
            let known: Set<String> = ["fvrf", "address", "certificate", "vrf"]
            guard let second = line.keyword(1), known.contains(second) else {
                throw ConfigLineError("expected 'match identity remote address ADDRESS [MASK]'")
            }
            return false
        }
        guard line.keyword(2) == "remote" else {
            throw ConfigLineError("expected 'match identity remote ...'")
        }
        guard let type = line.keyword(3) else {
            throw ConfigLineError("missing identity type after 'match identity remote'")
        }
        guard type == "address" else {
            let ignoredTypes: Set<String> = ["any", "email", "fqdn", "key-id"]
            guard ignoredTypes.contains(type) else {
                throw ConfigLineError(
                    "unknown identity type '\(line.words[3])' "
                        + "(expected address, fqdn, email or key-id)"
                )
            }
            return false
        }

        let word = try requiredWord(line, 4, "remote address")
        let prefix: IPPrefix
        if word.contains("/") {
            let (address, length) = try ipv6AddressAndLength(line, 4, "remote address")
            prefix = IPPrefix(covering: address, length: length)
            try requireEnd(line, 5)
        } else {
            let address = try anyAddress(line, 4, "remote address")
            if address.isIPv4, line.word(5) != nil {
                prefix = IPPrefix(covering: address, length: try netmask(line, 5))
                try requireEnd(line, 6)
            } else {
                // A bare 0.0.0.0 (or ::) matches every address of its family.
                let isUnspecified = address == .v4(0) || address == .v6(0, 0)
                prefix = IPPrefix(covering: address, length: isUnspecified ? 0 : address.bitWidth)
                try requireEnd(line, 5)
            }
        }
        profile.matchRemoteAddresses.appendUnique([prefix])
        return true
    }

    /// `authentication local|remote pre-share`.
    private func setAuthentication(_ line: ConfigLine, profile: inout IKEv2Profile) throws {
        guard let side = line.keyword(1), side == "local" || side == "remote" else {
            throw ConfigLineError("expected 'authentication local|remote pre-share'")
        }
        let methodWord = try requiredWord(line, 2, "authentication method")
        guard let method = AuthenticationMethod(rawValue: methodWord.lowercased()) else {
            throw ConfigLineError(
                "authentication method '\(methodWord)' is not supported (supported: pre-share)")
        }
        if line.word(3) != nil {
            throw ConfigLineError(
                "keys on the authentication line are not supported; put the key in a keyring")
        }
        if side == "local" {
            profile.localAuthentication = method
        } else {
            profile.remoteAuthentication.appendUnique([method])
        }
    }
}
