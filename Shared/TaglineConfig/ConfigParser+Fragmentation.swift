// `crypto ipsec fragmentation before-encryption | after-encryption`, in
// global mode and, overriding it, in interface mode, as on IOS. Before
// encryption (the default) an inner IPv4 packet without DF that does not fit
// the tunnel is fragmented and each fragment travels in its own ESP packet.
// After encryption it is encrypted whole and the outer packet is fragmented.

import TaglineCore

/// The place of fragmentation for a packet too big for the tunnel.
public enum IPsecFragmentation: String, Equatable, Sendable, CaseIterable {
    case beforeEncryption = "before-encryption"
    case afterEncryption = "after-encryption"
}

extension GatewayConfig {
    /// Returns the fragmentation of tunnels leaving interface `name`: the interface's own
    /// line, or the global one.
    public func ipsecFragmentation(onInterface name: String) -> IPsecFragmentation {
        interfaces[name]?.ipsecFragmentation ?? ipsecFragmentation
    }
}

extension ConfigParser {
    /// `crypto ipsec fragmentation MODE` in global mode. `no crypto ipsec fragmentation`
    /// never reaches here: global mode ignores it, which leaves the default.
    mutating func setGlobalFragmentation(_ line: ConfigLine) throws -> CommandResult {
        config.ipsecFragmentation = try fragmentationMode(line)
        return .applied
    }

    /// `[no] crypto ipsec fragmentation MODE` in interface mode; `no` returns the interface to
    /// the global setting.
    func setInterfaceFragmentation(
        _ command: ConfigLine, negated: Bool, interface: inout InterfaceConfig
    ) throws -> CommandResult {
        if negated {
            interface.ipsecFragmentation = nil
            return .applied
        }
        interface.ipsecFragmentation = try fragmentationMode(command)
        return .applied
    }

    /// True for `crypto ipsec fragmentation ...`.
    static func isFragmentationLine(_ line: ConfigLine) -> Bool {
        line.keyword(0) == "crypto" && line.keyword(1) == "ipsec"
            && line.keyword(2) == "fragmentation"
    }

    private func fragmentationMode(_ line: ConfigLine) throws -> IPsecFragmentation {
        let command = "crypto ipsec fragmentation"
        let expected = IPsecFragmentation.allCases.map(\.rawValue)
        guard let word = line.word(3) else {
            throw ConfigLineError.incomplete(command, expected: expected)
        }
        guard let mode = IPsecFragmentation(rawValue: word.lowercased()) else {
            throw ConfigLineError.unknown(word, after: command, expected: expected)
        }
        try requireEnd(line, 4)
        return mode
    }
}
