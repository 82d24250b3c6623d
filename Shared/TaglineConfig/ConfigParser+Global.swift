// Global configuration mode: which commands Tagline implements, which known
// IOS commands it ignores, and the handlers of the one-line global commands.

import TaglineCore

/// A global command, recognised from its first words without side effects.
enum GlobalCommand: Equatable {
    case ikev2Proposal, ikev2Policy, keyring, ikev2Profile, ctsSGT, noCTSSGT
    case transformSet, ipsecProfile, ipsecLifetime, inlineTagging, cryptoMap, dynamicMap
    case accessList, ipv6AccessList, numberedAccessList, ipRoute, ipv6Route
    case interface, sgtMap
    /// `banner TYPE DELIMITER ... DELIMITER`, possibly over several lines.
    case banner
    /// A known IOS command that Tagline does not implement.
    case ignored
    /// Not a global command.
    case unknown
}

/// First words of global IOS commands that Tagline ignores. A line starting with
/// any other word that Tagline does not implement is an error.
let ignoredGlobalWords: Set<String> = [
    "aaa", "access-session", "alias", "application", "archive", "authentication", "auto",
    "autoinstall", "bfd", "boot", "boot-end-marker", "boot-start-marker", "bridge", "call-home",
    "card", "ccm-manager", "cdp", "chat-script", "class-map", "clock", "config-register",
    "control-plane", "controller", "crypto", "cts", "default", "device-tracking", "diagnostic",
    "dial-peer", "dialer", "dialer-list", "dot1x", "dspfarm", "enable", "energywise", "ephone",
    "ephone-dn", "epm", "errdisable", "ethernet", "event", "exception", "file", "flow", "ftp",
    "gatekeeper", "gateway", "hostname", "hw-module", "ip", "ipv6", "isdn", "key", "kron",
    "l2tp-class", "license", "line", "lldp", "logging", "login", "mac", "mac-address-table",
    "macro", "management", "memory", "memory-size", "mgcp", "mls", "mmi", "monitor", "mpls",
    "multilink", "netconf", "no", "ntp", "object-group", "parameter-map", "parser", "platform",
    "pnp", "policy-map", "port-channel", "power", "privilege", "process", "pseudowire-class",
    "qos", "radius", "radius-server", "redundancy", "restconf", "rmon", "route-map", "router",
    "sccp", "scheduler", "sdm", "security", "segment-routing", "service", "shell", "sip-ua",
    "snmp", "snmp-server", "sntp", "spanning-tree", "stcapp", "subscriber", "switch", "system",
    "tacacs", "tacacs-server", "telephony-service", "template", "tftp-server", "track",
    "transceiver", "udld", "username", "version", "vlan", "voice", "voice-card", "vpdn", "vrf",
    "vstack", "vtp", "wsma", "zone", "zone-pair",
]

extension ConfigParser {
    /// Classifies a line as a global command.
    func globalCommand(_ line: ConfigLine) -> GlobalCommand {
        guard let first = line.keyword(0) else { return .unknown }
        switch first {
        case "crypto":
            return cryptoCommand(line)
        case "ip":
            switch line.keyword(1) {
            case "access-list": return line.keyword(2) == "extended" ? .accessList : .ignored
            case "route": return line.keyword(2) == "vrf" ? .ignored : .ipRoute
            case nil: return .unknown
            default: return .ignored
            }
        case "ipv6":
            switch line.keyword(1) {
            case "access-list": return .ipv6AccessList
            case "route": return line.keyword(2) == "vrf" ? .ignored : .ipv6Route
            case nil: return .unknown
            default: return .ignored
            }
        case "access-list":
            guard let number = line.keyword(1).flatMap({ Int($0) }) else { return .ignored }
            let extended = (100...199).contains(number) || (2000...2699).contains(number)
            return extended ? .numberedAccessList : .ignored
        case "interface":
            return line.keyword(1) == "range" ? .ignored : .interface
        case "cts":
            let isMap = line.keyword(1) == "role-based" && line.keyword(2) == "sgt-map"
            return isMap && line.keyword(3) != "vrf" ? .sgtMap : .ignored
        case "no":
            let words = Array(line.keywords.dropFirst())
            return words == ["crypto", "ikev2", "cts", "sgt"] ? .noCTSSGT : .ignored
        case "banner":
            return .banner
        default:
            return ignoredGlobalWords.contains(first) ? .ignored : .unknown
        }
    }

    private func cryptoCommand(_ line: ConfigLine) -> GlobalCommand {
        switch (line.keyword(1), line.keyword(2)) {
        case ("ikev2", "proposal"): return .ikev2Proposal
        case ("ikev2", "policy"): return .ikev2Policy
        case ("ikev2", "keyring"): return .keyring
        case ("ikev2", "profile"): return .ikev2Profile
        case ("ikev2", "cts"): return .ctsSGT
        case ("ipsec", "transform-set"): return .transformSet
        case ("ipsec", "profile"): return .ipsecProfile
        case ("ipsec", "security-association"):
            return line.keyword(3) == "lifetime" ? .ipsecLifetime : .ignored
        case ("ipsec", "inline-tagging"): return .inlineTagging
        case ("map", _):
            // `crypto map NAME local-address IF` and similar map-wide options.
            let mapWide: Set<String> = ["local-address", "redundancy", "client", "isakmp", "gdoi"]
            if let option = line.keyword(3), mapWide.contains(option) { return .ignored }
            return .cryptoMap
        case ("dynamic-map", _): return .dynamicMap
        case (nil, _): return .unknown
        default: return .ignored
        }
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
        case .cryptoMap: return try openCryptoMap(line)
        case .dynamicMap: return try openDynamicMap(line)
        case .accessList: return try openAccessList(line, isIPv6: false, nameIndex: 3)
        case .ipv6AccessList: return try openAccessList(line, isIPv6: true, nameIndex: 2)
        case .numberedAccessList: return try addNumberedAccessListEntry(line)
        case .ipRoute: return try addIPv4Route(line)
        case .ipv6Route: return try addIPv6Route(line)
        case .interface: return try openInterface(line)
        case .sgtMap: return try addSGTMap(line)
        case .banner: return startBanner(line)
        case .ignored: return .ignored
        case .unknown: throw ConfigLineError("unknown command")
        }
    }

    /// `crypto ikev2 cts sgt` and `no crypto ikev2 cts sgt`.
    private mutating func setCTSSGT(_ line: ConfigLine, enabled: Bool, sgtIndex: Int) throws
        -> CommandResult
    {
        guard line.keyword(sgtIndex) == "sgt" else {
            throw ConfigLineError("expected 'crypto ikev2 cts sgt'")
        }
        try requireEnd(line, sgtIndex + 1)
        config.ctsSGTEnabled = enabled
        return .applied
    }

    /// `crypto ipsec inline-tagging next-header N`, Tagline's own extension.
    private mutating func setInlineTagging(_ line: ConfigLine) throws -> CommandResult {
        guard line.keyword(3) == "next-header" else {
            throw ConfigLineError("expected 'crypto ipsec inline-tagging next-header N'")
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
        let sgt: SGT
        switch SGT.parse(text) {
        case .success(let value): sgt = value
        case .failure(let error): throw ConfigLineError(error.description)
        }
        try requireEnd(line, index + 2)

        let binding = ConfiguredBinding(prefix: prefix, sgt: sgt, line: line.number)
        if let position = bindingIndex[prefix] {
            config.sgtBindings[position] = binding
        } else {
            bindingIndex[prefix] = config.sgtBindings.count
            config.sgtBindings.append(binding)
        }
        return .applied
    }
}
