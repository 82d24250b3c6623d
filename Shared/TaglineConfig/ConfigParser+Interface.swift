// `interface NAME` blocks and `ip route` / `ipv6 route` lines.

import TaglineCore

extension ConfigParser {
    /// `interface NAME [type tunnel]`; `interface TYPE NUMBER` is joined as IOS does.
    mutating func openInterface(_ line: ConfigLine) throws -> CommandResult {
        mode = .rejectedBlock(start: line.number, parent: .global)
        var interfaceName = try name(line, 1, "interface name")
        var next = 2
        if let second = line.word(2), line.keyword(2) != "type" {
            interfaceName += second
            next = 3
        }
        var isTemplate = false
        if line.keyword(next) == "type" {
            guard line.keyword(next + 1) == "tunnel" else {
                throw ConfigLineError("only 'type tunnel' is supported for an interface")
            }
            isTemplate = true
            next += 2
        }
        try requireEnd(line, next)
        if isTemplate || interfaceName.lowercased().hasPrefix("virtual-template") {
            isTemplate = true
        }

        if config.interfaces[interfaceName] == nil {
            var interface = InterfaceConfig(name: interfaceName, line: line.number)
            interface.isVirtualTemplate = isTemplate
            config.interfaces[interfaceName] = interface
            config.interfaceOrder.append(interfaceName)
        }
        mode = .interface(interfaceName)
        return .applied
    }

    mutating func interfaceCommand(_ line: ConfigLine, interface: String) throws -> CommandResult? {
        guard var current = config.interfaces[interface] else { return nil }
        var negated = false
        var command = line
        if line.keyword(0) == "no" {
            // `no` forms of global commands leave interface mode, except `no crypto map`,
            // which removes the interface's crypto map.
            let rest = line.dropping(1)
            let isInterfaceCryptoMap =
                rest.keyword(0) == "crypto" && rest.keyword(1) == "map"
                && rest.words.count <= 3
            let isInterfaceFragmentation = line.isIndented && Self.isFragmentationLine(rest)
            let global = globalCommand(rest)
            if global != .ignored, global != .unknown, !isInterfaceCryptoMap,
                !isInterfaceFragmentation
            {
                return nil
            }
            negated = true
            command = line.dropping(1)
        }

        let result: CommandResult?
        switch command.keyword(0) {
        case "ip": result = try interfaceIP(command, line, negated: negated, interface: &current)
        case "ipv6" where command.keyword(1) == "crypto":
            result = try interfaceIPv6CryptoMap(
                command, line, negated: negated, interface: &current)
        case "ipv6": result = try interfaceIPv6(command, negated: negated, interface: &current)
        case "tunnel": result = try interfaceTunnel(command, negated: negated, interface: &current)
        case "crypto" where Self.isFragmentationLine(command):
            result = try setInterfaceFragmentation(command, negated: negated, interface: &current)
        case "crypto":
            switch command.keyword(1) {
            case "map":
                break
            case nil:
                throw ConfigLineError.incomplete("crypto", expected: ["map"])
            case let word? where KnownIOSCommands.interfaceCrypto.contains(word):
                return .ignored
            default:
                // Global mode reports a mistyped `crypto` line, or ignores a known one.
                return nil
            }
            if negated {
                current.cryptoMapName = nil
            } else {
                let mapName = try name(command, 2, "crypto map name")
                try requireEnd(command, 3)
                applyCryptoMap(mapName, line, interface: &current)
            }
            result = .applied
        case "cts":
            // Interface forms such as `cts manual` are in the same table as the global
            // ones, so a mistyped or cut-short `cts` line is an error here too.
            if case .invalid(let message) = globalCommand(command) {
                throw ConfigLineError(message)
            }
            result = .ignored
        case "shutdown":
            try requireEnd(command, 1)
            current.shutdown = !negated
            result = .applied
        case "description":
            current.description = negated ? nil : command.rest(after: 1)
            result = .applied
        case let word? where KnownIOSCommands.interface.contains(word):
            result = .ignored
        case let word?:
            // Global mode reports an unknown word. `no WORD` is a global line only at
            // column 0, because global mode ignores every `no` line it does not implement.
            if negated, line.isIndented, globalCommand(command) == .unknown {
                throw ConfigLineError(
                    "unknown command '\(word)' in interface \(interface) mode or global mode"
                )
            }
            result = nil
        case nil:
            result = .ignored
        }
        config.interfaces[interface] = current
        return result
    }

    /// Puts crypto map `mapName` on `interface` and records the reference, which
    /// removes the map from the interface again when the map is never defined.
    private mutating func applyCryptoMap(
        _ mapName: String, _ line: ConfigLine, interface: inout InterfaceConfig
    ) {
        interface.cryptoMapName = mapName
        let interfaceName = interface.name
        addReference(.cryptoMap, mapName, line) { config in
            if config.interfaces[interfaceName]?.cryptoMapName == mapName {
                config.interfaces[interfaceName]?.cryptoMapName = nil
            }
        }
    }

    /// Applies `ipv6 crypto map NAME`. Tagline puts one crypto map on an interface,
    /// whose entries may name IPv4 and IPv6 peers, so it must equal the `crypto map`.
    private mutating func interfaceIPv6CryptoMap(
        _ command: ConfigLine, _ line: ConfigLine, negated: Bool,
        interface: inout InterfaceConfig
    ) throws -> CommandResult {
        guard command.keyword(2) == "map" else {
            if let word = command.word(2) {
                throw ConfigLineError.unknown(word, after: "ipv6 crypto", expected: ["map"])
            }
            throw ConfigLineError.incomplete("ipv6 crypto", expected: ["map"])
        }
        if negated {
            interface.cryptoMapName = nil
            return .applied
        }
        let mapName = try name(command, 3, "crypto map name")
        try requireEnd(command, 4)
        if let existing = interface.cryptoMapName, existing != mapName {
            throw ConfigLineError(
                "interface \(interface.name) already has crypto map \(existing), and Tagline "
                    + "uses one map for IPv4 and IPv6 peers: use 'ipv6 crypto map \(existing)'")
        }
        applyCryptoMap(mapName, line, interface: &interface)
        return .applied
    }

    /// `ip address A MASK [secondary]`, `ip unnumbered IF` and ignored `ip` forms.
    private mutating func interfaceIP(
        _ command: ConfigLine, _ line: ConfigLine, negated: Bool,
        interface: inout InterfaceConfig
    ) throws -> CommandResult? {
        switch command.keyword(1) {
        case "address":
            let settingKey = "interface \(interface.name) ip address"
            if negated {
                interface.ipv4Addresses.removeAll()
                settingLines[settingKey] = nil
                return .applied
            }
            if ["dhcp", "negotiated", "pool"].contains(command.keyword(2)) {
                return .ignored
            }
            let address = try ipv4Address(command, 2, "address")
            let length = try netmask(command, 3)
            let secondary = command.keyword(4) == "secondary"
            try requireEnd(command, secondary ? 5 : 4)
            try checkInterfaceAddress(address, length)
            let entry = InterfaceAddress(
                address: address, prefixLength: length, secondary: secondary)
            if !secondary, let primary = interface.ipv4Addresses.first(where: { !$0.secondary }),
                primary != entry, let earlier = settingLines[settingKey]
            {
                addWarning(
                    line,
                    "replaces primary address \(primary) of interface \(interface.name) from "
                        + "line \(earlier), as IOS does; add 'secondary' to keep both")
            }
            if !secondary { settingLines[settingKey] = line.number }
            if secondary {
                guard interface.ipv4Addresses.contains(where: { !$0.secondary }) else {
                    throw ConfigLineError("configure a primary address before a secondary one")
                }
                interface.ipv4Addresses.removeAll { $0.address == address }
                interface.ipv4Addresses.append(entry)
            } else {
                // A new primary address replaces the old one, as in IOS.
                interface.ipv4Addresses.removeAll { !$0.secondary || $0.address == address }
                interface.ipv4Addresses.insert(entry, at: 0)
            }
            return .applied
        case "unnumbered":
            if negated {
                interface.unnumberedInterface = nil
                return .applied
            }
            let lender = try name(command, 2, "interface name")
            try requireEnd(command, 3)
            interface.unnumberedInterface = lender
            let owner = interface.name
            addReference(.interface, lender, line) { config in
                if config.interfaces[owner]?.unnumberedInterface == lender {
                    config.interfaces[owner]?.unnumberedInterface = nil
                }
            }
            return .applied
        case let word?:
            if KnownIOSCommands.interfaceIP.contains(word) { return .ignored }
            // A global `ip` command, such as `ip forward-protocol nd` at column 0,
            // ends the interface block.
            if word == "access-list" || word == "route" || KnownIOSCommands.globalIP.contains(word)
            {
                return nil
            }
            throw ConfigLineError.unknown(
                command.words[1], after: "ip", expected: ["address", "unnumbered"])
        case nil:
            throw ConfigLineError.incomplete("ip", expected: ["address", "unnumbered"])
        }
    }

    /// Rejects an interface address with mask 0.0.0.0, or one that is the network or
    /// broadcast address of its own subnet, which IOS reports as a bad mask for the address.
    private func checkInterfaceAddress(_ address: IPAddress, _ length: Int) throws {
        guard length > 0 else {
            throw ConfigLineError(
                "invalid mask 0.0.0.0 for interface address \(address) "
                    + "(expected a mask such as 255.255.255.0)")
        }
        guard length < 31 else { return }
        let subnet = IPPrefix(covering: address, length: length)
        if address == subnet.range.lowerBound || address == subnet.range.upperBound {
            throw ConfigLineError(
                "address and mask are inconsistent: \(address) is the network or broadcast "
                    + "address of \(subnet)")
        }
    }

    /// `ipv6 address X/n` and ignored `ipv6` forms.
    private func interfaceIPv6(
        _ command: ConfigLine, negated: Bool,
        interface: inout InterfaceConfig
    ) throws -> CommandResult? {
        switch command.keyword(1) {
        case "address":
            if negated {
                interface.ipv6Addresses.removeAll()
                return .applied
            }
            guard let word = command.word(2) else {
                throw ConfigLineError.incomplete("ipv6 address", expected: ["X:X::X/LENGTH"])
            }
            // `autoconfig`, `dhcp`, a general prefix name or a link-local address.
            guard word.contains("/") else { return .ignored }
            let (address, length) = try ipv6AddressAndLength(command, 2, "IPv6 address")
            guard length > 0 else {
                throw ConfigLineError(
                    "invalid prefix length 0 for interface address \(address) "
                        + "(expected a length such as 64)")
            }
            // `eui-64`, `anycast` and `link-local` variants are not implemented.
            if command.word(3) != nil { return .ignored }
            interface.ipv6Addresses.removeAll { $0.address == address }
            interface.ipv6Addresses.append(InterfaceAddress(address: address, prefixLength: length))
            return .applied
        case let word?:
            if KnownIOSCommands.interfaceIPv6.contains(word) { return .ignored }
            if word == "access-list" || word == "route"
                || KnownIOSCommands.globalIPv6.contains(word)
            {
                return nil
            }
            throw ConfigLineError.unknown(command.words[1], after: "ipv6", expected: ["address"])
        case nil:
            throw ConfigLineError.incomplete("ipv6", expected: ["address"])
        }
    }

    private var tunnelKeywords: [String] { ["source", "destination", "mode", "protection"] }

    /// `tunnel source|destination|mode|protection`.
    private mutating func interfaceTunnel(
        _ command: ConfigLine, negated: Bool,
        interface: inout InterfaceConfig
    ) throws -> CommandResult {
        let owner = interface.name
        switch command.keyword(1) {
        case "source":
            if negated {
                interface.tunnelSource = nil
                return .applied
            }
            let word = try requiredWord(command, 2, "tunnel source")
            try requireEnd(command, 3)
            if let address = try parseAddress(word, "tunnel source") {
                interface.tunnelSource = .address(address)
            } else {
                let sourceName = try name(command, 2, "tunnel source interface")
                interface.tunnelSource = .interface(sourceName)
                addReference(.interface, sourceName, command) { config in
                    if config.interfaces[owner]?.tunnelSource == .interface(sourceName) {
                        config.interfaces[owner]?.tunnelSource = nil
                    }
                }
            }
        case "destination":
            if negated {
                interface.tunnelDestination = nil
                return .applied
            }
            if command.keyword(2) == "dynamic" { return .ignored }
            interface.tunnelDestination = try anyAddress(command, 2, "tunnel destination")
            try requireEnd(command, 3)
        case "mode":
            if negated {
                interface.tunnelMode = nil
                return .applied
            }
            guard let modeWord = command.keyword(2) else {
                throw ConfigLineError.incomplete("tunnel mode", expected: ["ipsec"])
            }
            guard modeWord == "ipsec" else {
                if KnownIOSCommands.tunnelMode.contains(modeWord) { return .ignored }
                throw ConfigLineError.unknown(
                    command.words[2], after: "tunnel mode", expected: ["ipsec"])
            }
            switch command.keyword(3) {
            case "ipv4": interface.tunnelMode = .ipsecIPv4
            case "ipv6": interface.tunnelMode = .ipsecIPv6
            case let word? where KnownIOSCommands.tunnelModeIPsec.contains(word): return .ignored
            case nil:
                throw ConfigLineError.incomplete("tunnel mode ipsec", expected: ["ipv4", "ipv6"])
            default:
                throw ConfigLineError.unknown(
                    command.words[3], after: "tunnel mode ipsec", expected: ["ipv4", "ipv6"])
            }
            try requireEnd(command, 4)
        case "protection":
            if negated {
                interface.tunnelProtectionProfile = nil
                return .applied
            }
            guard command.keyword(2) == "ipsec", command.keyword(3) == "profile" else {
                throw ConfigLineError("expected 'tunnel protection ipsec profile NAME'")
            }
            let profileName = try name(command, 4, "ipsec profile name")
            if command.keyword(5) != "shared" { try requireEnd(command, 5) }
            try requireEnd(command, 6)
            interface.tunnelProtectionProfile = profileName
            addReference(.ipsecProfile, profileName, command) { config in
                if config.interfaces[owner]?.tunnelProtectionProfile == profileName {
                    config.interfaces[owner]?.tunnelProtectionProfile = nil
                }
            }
        case let word? where KnownIOSCommands.tunnel.contains(word):
            return .ignored
        case let word?:
            throw ConfigLineError.unknown(
                command.words[1], after: "tunnel", expected: tunnelKeywords)
        case nil:
            throw ConfigLineError.incomplete("tunnel", expected: tunnelKeywords)
        }
        return .applied
    }

    // MARK: - Static routes

    /// `ip route PREFIX MASK NEXTHOP|INTERFACE [NEXTHOP] [DISTANCE] [name N|permanent|tag N]`.
    mutating func addIPv4Route(_ line: ConfigLine) throws -> CommandResult {
        let address = try ipv4Address(line, 2, "destination")
        let prefix = try checkedPrefix(address, try netmask(line, 3))
        try addRoute(line, prefix: prefix, from: 4)
        return .applied
    }

    /// `ipv6 route X/n NEXTHOP|INTERFACE [NEXTHOP] [DISTANCE]`.
    mutating func addIPv6Route(_ line: ConfigLine) throws -> CommandResult {
        let (address, length) = try ipv6AddressAndLength(line, 2, "destination prefix")
        try addRoute(line, prefix: try checkedPrefix(address, length), from: 3)
        return .applied
    }

    private mutating func addRoute(_ line: ConfigLine, prefix: IPPrefix, from start: Int) throws {
        var index = start
        let target = try requiredWord(line, index, "next hop or interface")
        var nextHop: IPAddress?
        var interfaceName: String?
        if let address = try parseAddress(target, "next hop") {
            nextHop = address
        } else {
            interfaceName = try name(line, index, "interface name")
            if let word = line.word(index + 1), let address = try parseAddress(word, "next hop") {
                nextHop = address
                index += 1
            }
        }
        if let nextHop, nextHop.isIPv4 != prefix.address.isIPv4 {
            throw ConfigLineError("next hop \(nextHop) is not in the address family of \(prefix)")
        }
        index += 1

        var route = StaticRoute(
            prefix: prefix, nextHop: nextHop, interfaceName: interfaceName,
            line: line.number)
        if let word = line.word(index), word.allSatisfy({ $0.isASCII && $0.isNumber }) {
            route.distance = UInt8(try integer(line, index, "administrative distance", in: 1...255))
            index += 1
        }
        // Options that name, tag or pin the route do not change forwarding.
        while let option = line.keyword(index) {
            switch option {
            case "permanent": index += 1
            case "name", "tag", "track":
                _ = try requiredWord(line, index + 1, "value after \(option)")
                index += 2
            default:
                throw ConfigLineError("unexpected '\(line.words[index])' in a static route")
            }
        }
        config.staticRoutes.append(route)
    }
}
