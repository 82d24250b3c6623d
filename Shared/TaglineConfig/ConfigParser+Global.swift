// Global configuration mode: how a line is classified within each command
// family, and the handlers of the one-line global commands.

import TaglineCore

/// A global command, recognised from its first words without side effects.
enum GlobalCommand: Equatable {
    case ikev2Proposal, ikev2Policy, keyring, ikev2Profile, ctsSGT, noCTSSGT
    case transformSet, ipsecProfile, ipsecLifetime, inlineTagging, cryptoMap, dynamicMap
    case replayWindow, extendedSequenceNumbers, cookieChallenge, ikeFragmentation
    case ipsecFragmentation
    case accessList, ipv6AccessList, numberedAccessList, ipRoute, ipv6Route
    case interface, sgtMap
    /// `cts sgt N`: the gateway's own SGT.
    case deviceSGT
    /// `cts sxp ...`.
    case sxp
    /// `banner TYPE DELIMITER ... DELIMITER`, possibly over several lines.
    case banner
    /// A known IOS command that Tagline does not implement.
    case ignored
    /// A line of a family that Tagline implements whose keyword is unknown or
    /// missing. The message starts with "unknown command" or "incomplete command".
    case invalid(String)
    /// Not a global command.
    case unknown
}

extension ConfigParser {
    /// Classifies a line as a global command.
    func globalCommand(_ line: ConfigLine) -> GlobalCommand {
        guard let first = line.keyword(0) else { return .unknown }
        switch first {
        case "crypto":
            return cryptoCommand(line)
        case "ip":
            switch line.keyword(1) {
            case "access-list": return ipAccessListCommand(line)
            case "route": return routeCommand(line, implemented: .ipRoute)
            case nil: return .unknown
            default: return .ignored
            }
        case "ipv6":
            switch line.keyword(1) {
            case "access-list": return .ipv6AccessList
            case "route": return routeCommand(line, implemented: .ipv6Route)
            case nil: return .unknown
            default: return .ignored
            }
        case "access-list":
            return numberedAccessListCommand(line)
        case "interface":
            return line.keyword(1) == "range" ? .ignored : .interface
        case "cts":
            return ctsCommand(line)
        case "no":
            let rest = line.dropping(1)
            if rest.keywords == ["crypto", "ikev2", "cts", "sgt"] { return .noCTSSGT }
            // `no` before a mistyped command of an implemented family is an error too.
            // A second `no` is not looked into, so that a line of many `no` words
            // cannot recurse deeply.
            if rest.keyword(0) != "no", case .invalid(let message) = globalCommand(rest) {
                return .invalid(message)
            }
            return .ignored
        case "banner":
            return .banner
        default:
            return KnownIOSCommands.global.contains(first) ? .ignored : .unknown
        }
    }

    /// Classifies `crypto ...`.
    private func cryptoCommand(_ line: ConfigLine) -> GlobalCommand {
        switch line.keyword(1) {
        case "ikev2":
            return cryptoIKEv2Command(line)
        case "ipsec":
            return cryptoIPsecCommand(line)
        case "map":
            // `crypto map NAME local-address IF` and similar map-wide options.
            if let option = line.keyword(3), KnownIOSCommands.cryptoMapOptions.contains(option) {
                return .ignored
            }
            return .cryptoMap
        case "dynamic-map":
            return .dynamicMap
        case let word?:
            if KnownIOSCommands.crypto.contains(word) { return .ignored }
            return .invalid(
                ConfigLineError.unknown(
                    line.words[1], after: "crypto",
                    expected: ["ikev2", "ipsec", "map", "dynamic-map"]
                ).message)
        case nil:
            return .invalid(
                ConfigLineError.incomplete(
                    "crypto", expected: ["ikev2", "ipsec", "map", "dynamic-map"]
                ).message)
        }
    }

    /// Classifies `crypto ikev2 ...`.
    private func cryptoIKEv2Command(_ line: ConfigLine) -> GlobalCommand {
        let implemented: [String: GlobalCommand] = [
            "proposal": .ikev2Proposal, "policy": .ikev2Policy, "keyring": .keyring,
            "profile": .ikev2Profile, "cts": .ctsSGT, "cookie-challenge": .cookieChallenge,
            "fragmentation": .ikeFragmentation,
        ]
        return classify(
            line, at: 2, implemented: implemented, known: KnownIOSCommands.cryptoIKEv2,
            expected: [
                "proposal", "policy", "keyring", "profile", "cts", "cookie-challenge",
                "fragmentation",
            ])
    }

    /// Classifies `crypto ipsec ...`.
    private func cryptoIPsecCommand(_ line: ConfigLine) -> GlobalCommand {
        if line.keyword(2) == "security-association" {
            return classify(
                line, at: 3, implemented: ["lifetime": .ipsecLifetime, "replay": .replayWindow],
                known: KnownIOSCommands.securityAssociation, expected: ["lifetime", "replay"])
        }
        let implemented: [String: GlobalCommand] = [
            "transform-set": .transformSet, "profile": .ipsecProfile,
            "inline-tagging": .inlineTagging, "esn": .extendedSequenceNumbers,
            "fragmentation": .ipsecFragmentation,
        ]
        return classify(
            line, at: 2, implemented: implemented, known: KnownIOSCommands.cryptoIPsec,
            expected: [
                "transform-set", "profile", "security-association", "inline-tagging", "esn",
                "fragmentation",
            ])
    }

    /// Classifies `cts ...`. `cts role-based sgt-map` and `cts sxp` are implemented.
    private func ctsCommand(_ line: ConfigLine) -> GlobalCommand {
        if line.keyword(1) == "sxp" { return .sxp }
        if line.keyword(1) == "sgt" { return .deviceSGT }
        guard line.keyword(1) == "role-based" else {
            return classify(
                line, at: 1, implemented: [:], known: KnownIOSCommands.cts,
                expected: ["role-based"])
        }
        if line.keyword(2) == "sgt-map", line.keyword(3) == "vrf" { return .ignored }
        return classify(
            line, at: 2, implemented: ["sgt-map": .sgtMap],
            known: KnownIOSCommands.ctsRoleBased, expected: ["sgt-map"])
    }

    /// Classifies `ip access-list ...`.
    private func ipAccessListCommand(_ line: ConfigLine) -> GlobalCommand {
        classify(
            line, at: 2, implemented: ["extended": .accessList],
            known: KnownIOSCommands.ipAccessList, expected: ["extended"])
    }

    /// Classifies `ip route ...` and `ipv6 route ...`. A route cut short is
    /// rejected by its handler, which names the missing value.
    private func routeCommand(_ line: ConfigLine, implemented: GlobalCommand) -> GlobalCommand {
        guard let word = line.keyword(2), KnownIOSCommands.route.contains(word) else {
            return implemented
        }
        return .ignored
    }

    /// Classifies `access-list N ...`: extended numbers 100-199 and 2000-2699 are
    /// implemented and other numbers, such as standard lists, are ignored.
    private func numberedAccessListCommand(_ line: ConfigLine) -> GlobalCommand {
        guard let word = line.keyword(1) else {
            return .invalid(
                ConfigLineError.incomplete("access-list", expected: ["a list number"]).message)
        }
        guard word.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            if KnownIOSCommands.accessList.contains(word) { return .ignored }
            return .invalid(
                ConfigLineError.unknown(
                    line.words[1], after: "access-list", expected: ["a list number"]
                ).message)
        }
        guard let number = Int(word) else { return .ignored }
        let extended = (100...199).contains(number) || (2000...2699).contains(number)
        return extended ? .numberedAccessList : .ignored
    }

    /// Classifies a line by its keyword at `index`: implemented, known to IOS
    /// (ignored), unknown or missing. The words before `index` name the command.
    private func classify(
        _ line: ConfigLine, at index: Int, implemented: [String: GlobalCommand],
        known: Set<String>, expected: [String]
    ) -> GlobalCommand {
        let command = line.keywords.prefix(index).joined(separator: " ")
        guard let word = line.keyword(index) else {
            return .invalid(ConfigLineError.incomplete(command, expected: expected).message)
        }
        if let found = implemented[word] { return found }
        if known.contains(word) { return .ignored }
        return .invalid(
            ConfigLineError.unknown(line.words[index], after: command, expected: expected)
                .message)
    }

    /// Runs a recognised global command.
    mutating func runGlobalCommand(_ command: GlobalCommand, _ line: ConfigLine) throws
        -> CommandResult
    {
        switch command {
        case .ikev2Proposal: return try openProposal(line)
        case .ikev2Policy: return try openPolicy(line)
        case .keyring: return try openKeyring(line)
        case .ikev2Profile: return try openProfile(line)
        case .ctsSGT: return try setCTSSGT(line, enabled: true, sgtIndex: 3)
        case .noCTSSGT: return try setCTSSGT(line, enabled: false, sgtIndex: 4)
        case .transformSet: return try openTransformSet(line)
        case .ipsecProfile: return try openIPsecProfile(line)
        case .ipsecLifetime: return try setGlobalLifetime(line)
        case .inlineTagging: return try setInlineTagging(line)
        case .replayWindow: return try setReplayWindow(line)
        case .extendedSequenceNumbers: return try setExtendedSequenceNumbers(line)
        case .cookieChallenge: return try setCookieChallenge(line)
        case .ikeFragmentation: return try setIKEFragmentation(line)
        case .ipsecFragmentation: return try setGlobalFragmentation(line)
        case .cryptoMap: return try openCryptoMap(line)
        case .dynamicMap: return try openDynamicMap(line)
        case .accessList: return try openAccessList(line, isIPv6: false, nameIndex: 3)
        case .ipv6AccessList: return try openAccessList(line, isIPv6: true, nameIndex: 2)
        case .numberedAccessList: return try addNumberedAccessListEntry(line)
        case .ipRoute: return try addIPv4Route(line)
        case .ipv6Route: return try addIPv6Route(line)
        case .interface: return try openInterface(line)
        case .sgtMap: return try addSGTMap(line)
        case .deviceSGT: return try setDeviceSGT(line)
        case .sxp: return try applySXP(line)
        case .banner: return startBanner(line)
        case .ignored: return .ignored
        case .invalid(let message): throw ConfigLineError(message)
        case .unknown: throw ConfigLineError("unknown command")
        }
    }

    /// `crypto ikev2 cts sgt` and `no crypto ikev2 cts sgt`.
    private mutating func setCTSSGT(_ line: ConfigLine, enabled: Bool, sgtIndex: Int) throws
        -> CommandResult
    {
        let command = line.keywords.prefix(sgtIndex).joined(separator: " ")
        guard let word = line.word(sgtIndex) else {
            throw ConfigLineError.incomplete(command, expected: ["sgt"])
        }
        guard word.lowercased() == "sgt" else {
            throw ConfigLineError.unknown(word, after: command, expected: ["sgt"])
        }
        try requireEnd(line, sgtIndex + 1)
        config.ctsSGTEnabled = enabled
        return .applied
    }

    /// `crypto ipsec inline-tagging next-header N`, Tagline's own extension.
    private mutating func setInlineTagging(_ line: ConfigLine) throws -> CommandResult {
        let command = "crypto ipsec inline-tagging"
        guard let word = line.word(3) else {
            throw ConfigLineError.incomplete(command, expected: ["next-header"])
        }
        guard word.lowercased() == "next-header" else {
            throw ConfigLineError.unknown(word, after: command, expected: ["next-header"])
        }
        let value = try integer(line, 4, "next-header value", in: 1...255)
        // These values already mean an untagged payload in the ESP trailer, so a
        // CMD marked with them would be read as a plain packet.
        let reserved: [Int: String] = [4: "IPv4", 41: "IPv6", 59: "no next header (dummy packet)"]
        if let meaning = reserved[value] {
            throw ConfigLineError(
                "next-header \(value) already means \(meaning) in ESP; choose another value "
                    + "(default \(GatewayConfig.defaultCMDNextHeader))")
        }
        try requireEnd(line, 5)
        config.cmdNextHeader = UInt8(value)
        return .applied
    }

    /// `banner TYPE ^C ... ^C`: ignored, but its text must not be read as commands.
    private mutating func startBanner(_ line: ConfigLine) -> CommandResult {
        let body = line.rest(after: 2)
        guard !body.isEmpty else { return .ignored }
        let delimiter = body.hasPrefix("^C") ? "^C" : String(body.prefix(1))
        let afterOpening = body.dropFirst(delimiter.count)
        addIgnored(line, "not implemented")
        mode = afterOpening.contains(delimiter) ? .global : .banner(delimiter: delimiter)
        return .applied
    }

    /// `cts role-based sgt-map ADDRESS[/LEN] sgt N` or `... host ADDRESS sgt N`.
    private mutating func addSGTMap(_ line: ConfigLine) throws -> CommandResult {
        var index = 3
        let prefix: IPPrefix
        if line.keyword(index) == "host" {
            let address = try anyAddress(line, index + 1, "host address")
            prefix = IPPrefix(host: address)
            index += 2
        } else {
            prefix = try exactPrefix(line, index, "address or prefix")
            index += 1
        }
        guard line.keyword(index) == "sgt" else {
            throw ConfigLineError("missing keyword 'sgt' after \(prefix)")
        }
        guard let text = line.word(index + 1) else { throw ConfigLineError("missing SGT value") }
        // Int() accepts a leading plus sign, which IOS does not.
        guard !text.hasPrefix("+") else {
            throw ConfigLineError("SGT '\(text)' is not a plain decimal number (expected 1-65534)")
        }
        let sgt: SGT
        switch SGT.parse(text) {
        case .success(let value): sgt = value
        case .failure(let error): throw ConfigLineError(error.description)
        }
        try requireEnd(line, index + 2)

        let binding = ConfiguredBinding(prefix: prefix, sgt: sgt, line: line.number)
        if let position = bindingIndex[prefix] {
            let earlier = config.sgtBindings[position]
            if earlier.sgt != sgt {
                addWarning(
                    line,
                    "replaces SGT \(earlier.sgt) for \(prefix) from line \(earlier.line) "
                        + "with SGT \(sgt), as IOS does; remove one of the two lines")
            }
            config.sgtBindings[position] = binding
        } else {
            bindingIndex[prefix] = config.sgtBindings.count
            config.sgtBindings.append(binding)
        }
        return .applied
    }
}
