// Extended IPv4 and IPv6 access lists: `ip access-list extended NAME`,
// `ipv6 access-list NAME` and numbered `access-list N ...` lines.

import TaglineCore

/// Protocol names that access list entries accept, with their IP protocol numbers.
private let protocolNumbers: [String: UInt8] = [
    "ip": 0, "ipv6": 0, "icmp": 1, "igmp": 2, "ipinip": 4, "tcp": 6, "udp": 17, "gre": 47,
    "esp": 50, "ahp": 51, "eigrp": 88, "ospf": 89, "pim": 103, "pcp": 108, "sctp": 132,
]

/// Port names that IOS prints in place of numbers, for the ports Tagline expects
/// to meet; any other port must be written as a number.
private let portNumbers: [String: UInt16] = [
    "bgp": 179, "bootpc": 68, "bootps": 67, "domain": 53, "ftp": 21, "ftp-data": 20,
    "isakmp": 500, "non500-isakmp": 4500, "ntp": 123, "pop3": 110, "smtp": 25, "snmp": 161,
    "snmptrap": 162, "sunrpc": 111, "syslog": 514, "tacacs": 49, "telnet": 23, "tftp": 69,
    "www": 80,
]

extension ConfigParser {
    /// `ip access-list extended NAME` or `ipv6 access-list NAME`.
    mutating func openAccessList(_ line: ConfigLine, isIPv6: Bool, nameIndex: Int) throws
        -> CommandResult
    {
        mode = .rejectedBlock(start: line.number, parent: .global)
        let aclName = try name(line, nameIndex, "access list name")
        try requireEnd(line, nameIndex + 1)
        try createAccessList(aclName, isIPv6: isIPv6, line: line)
        mode = .accessList(aclName)
        return .applied
    }

    private mutating func createAccessList(_ aclName: String, isIPv6: Bool, line: ConfigLine) throws
    {
        if let existing = config.accessLists[aclName] {
            guard existing.isIPv6 == isIPv6 else {
                let family = existing.isIPv6 ? "IPv6" : "IPv4"
                throw ConfigLineError(
                    "access list \(aclName) is already an \(family) access list "
                        + "(line \(existing.line))")
            }
            return
        }
        config.accessLists[aclName] = AccessList(name: aclName, isIPv6: isIPv6, line: line.number)
    }

    mutating func accessListCommand(_ line: ConfigLine, accessList: String) throws -> CommandResult?
    {
        guard let isIPv6 = config.accessLists[accessList]?.isIPv6 else { return nil }
        // An entry may start with a sequence number: `10 permit ...` or `sequence 10 permit ...`.
        var start = 0
        if line.keyword(0) == "sequence" {
            _ = try integer(line, 1, "sequence number", in: 1...2_147_483_647)
            start = 2
        } else if let first = line.keyword(0), first.allSatisfy({ $0.isASCII && $0.isNumber }) {
            _ = try integer(line, 0, "sequence number", in: 1...2_147_483_647)
            start = 1
        }
        switch line.keyword(start) {
        case "permit", "deny":
            let entry = try accessListEntry(line, from: start, isIPv6: isIPv6)
            config.accessLists[accessList]?.entries.append(entry)
            return .applied
        case "remark":
            return .applied
        case "no", "statistics", "evaluate", "dynamic":
            return .ignored
        default:
            if start > 0 {
                throw ConfigLineError("expected permit or deny after the sequence number")
            }
            return nil
        }
    }

    /// `access-list N permit|deny|remark ...` for extended numbers 100-199 and 2000-2699.
    mutating func addNumberedAccessListEntry(_ line: ConfigLine) throws -> CommandResult {
        let aclName = try requiredWord(line, 1, "access list number")
        switch line.keyword(2) {
        case "permit", "deny":
            let entry = try accessListEntry(line, from: 2, isIPv6: false)
            try createAccessList(aclName, isIPv6: false, line: line)
            config.accessLists[aclName]?.entries.append(entry)
            return .applied
        case "remark":
            return .applied
        case nil:
            throw ConfigLineError("missing permit or deny")
        case "dynamic":
            return .ignored
        default:
            throw ConfigLineError.unknown(
                line.words[2], after: "access-list \(aclName)",
                expected: ["permit", "deny", "remark"])
        }
    }

    /// `permit|deny PROTO SRC [PORTS] DST [PORTS] [log|log-input]`, starting at word `start`.
    private func accessListEntry(_ line: ConfigLine, from start: Int, isIPv6: Bool) throws
        -> AccessListEntry
    {
        let action = AccessListAction(rawValue: line.keywords[start])!
        var index = start + 1
        let protocolWord = try requiredWord(line, index, "protocol").lowercased()
        var ipProtocol: UInt8
        if let named = protocolNumbers[protocolWord] {
            ipProtocol = named
        } else {
            ipProtocol = UInt8(try integer(line, index, "protocol", in: 0...255))
        }
        if isIPv6 && protocolWord == "icmp" { ipProtocol = 58 }
        if isIPv6 && protocolWord == "ip" {
            throw ConfigLineError("use 'ipv6' as the protocol of an IPv6 access list")
        }
        if !isIPv6 && protocolWord == "ipv6" {
            throw ConfigLineError("use 'ip' as the protocol of an IPv4 access list")
        }
        index += 1

        let hasPorts = ipProtocol == 6 || ipProtocol == 17 || ipProtocol == 132
        var source = try endpoint(line, &index, isIPv6: isIPv6, field: "source")
        source.ports = try ports(line, &index, allowed: hasPorts)
        var destination = try endpoint(line, &index, isIPv6: isIPv6, field: "destination")
        destination.ports = try ports(line, &index, allowed: hasPorts)

        while let option = line.keyword(index) {
            guard option == "log" || option == "log-input" else {
                throw ConfigLineError(
                    "unsupported option '\(line.words[index])' in an access list entry "
                        + "(only log and log-input are accepted)")
            }
            index += 1
        }
        return AccessListEntry(
            action: action, ipProtocol: ipProtocol, source: source,
            destination: destination, line: line.number)
    }

    /// `any`, `host A`, `A WILDCARD` (IPv4) or `X/n` (IPv6).
    private func endpoint(_ line: ConfigLine, _ index: inout Int, isIPv6: Bool, field: String)
        throws -> AccessListEndpoint
    {
        let word = try requiredWord(line, index, "\(field) address")
        let prefix: IPPrefix
        if word.lowercased() == "any" {
            prefix = IPPrefix(covering: isIPv6 ? .v6(0, 0) : .v4(0), length: 0)
            index += 1
        } else if word.lowercased() == "host" {
            let address = try anyAddress(line, index + 1, "\(field) host address")
            guard address.isIPv4 != isIPv6 else {
                throw ConfigLineError(
                    "\(field) \(address) does not match the access list's address family")
            }
            prefix = IPPrefix(host: address)
            index += 2
        } else if isIPv6 {
            let (address, length) = try ipv6AddressAndLength(line, index, "\(field) prefix")
            prefix = try checkedPrefix(address, length)
            index += 1
        } else {
            let address = try ipv4Address(line, index, "\(field) address")
            // IOS clears address bits that the wildcard marks as "don't care".
            prefix = IPPrefix(covering: address, length: try wildcardLength(line, index + 1))
            index += 2
        }
        return AccessListEndpoint(prefix: prefix)
    }

    /// `eq P`, `range A B`, `lt P` or `gt P`; all ports when none follows.
    private func ports(_ line: ConfigLine, _ index: inout Int, allowed: Bool) throws
        -> ClosedRange<UInt16>
    {
        guard let operation = line.keyword(index),
            ["eq", "range", "lt", "gt", "neq"].contains(operation)
        else { return 0...65535 }
        guard allowed else { throw ConfigLineError("port matching needs tcp, udp or sctp") }
        let first = try port(line, index + 1)
        switch operation {
        case "eq":
            index += 2
            if line.word(index) != nil, (try? port(line, index)) != nil {
                throw ConfigLineError(
                    "several ports after eq are not supported; write one entry per port")
            }
            return first...first
        case "range":
            let last = try port(line, index + 2)
            guard first <= last else {
                throw ConfigLineError("port range \(first)-\(last) is empty")
            }
            index += 3
            return first...last
        case "lt":
            guard first > 0 else { throw ConfigLineError("'lt 0' matches no port") }
            index += 2
            return 0...(first - 1)
        case "gt":
            guard first < 65535 else { throw ConfigLineError("'gt 65535' matches no port") }
            index += 2
            return (first + 1)...65535
        default:
            throw ConfigLineError(
                "neq is not supported, because it cannot be expressed as one port range")
        }
    }

    private func port(_ line: ConfigLine, _ index: Int) throws -> UInt16 {
        let word = try requiredWord(line, index, "port")
        if let named = portNumbers[word.lowercased()] { return named }
        return UInt16(try integer(line, index, "port", in: 0...65535))
    }
}
