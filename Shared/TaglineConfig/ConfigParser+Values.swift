// Parsers for the values that commands take: names, numbers, addresses, masks
// and prefixes. Each throws a ConfigLineError that names the value and what was
// expected, and none of them traps on any input.

import TaglineCore

extension ConfigParser {
    /// Rejects any word after the first `count` words of `line`.
    func requireEnd(_ line: ConfigLine, _ count: Int) throws {
        if let extra = line.word(count) {
            throw ConfigLineError(
                "unexpected '\(extra)' after '\(line.words[..<count].joined(separator: " "))'")
        }
    }

    /// Returns the word at `index`, or throws an error naming the missing `field`.
    func requiredWord(_ line: ConfigLine, _ index: Int, _ field: String) throws -> String {
        guard let word = line.word(index) else { throw ConfigLineError("missing \(field)") }
        return word
    }

    /// Parses an object name: printable ASCII without spaces, at most 64 characters.
    func name(_ line: ConfigLine, _ index: Int, _ field: String) throws -> String {
        let word = try requiredWord(line, index, field)
        let printable = word.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
        guard printable, word.count <= 64 else {
            throw ConfigLineError(
                "invalid \(field) '\(word)' (expected up to 64 printable ASCII characters)")
        }
        return word
    }

    /// Parses a decimal integer in `range`.
    func integer(_ line: ConfigLine, _ index: Int, _ field: String, in range: ClosedRange<Int>)
        throws -> Int
    {
        let word = try requiredWord(line, index, field)
        guard word.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(word),
            range.contains(value)
        else {
            throw ConfigLineError(
                "invalid \(field) '\(word)' (expected \(range.lowerBound)-\(range.upperBound))")
        }
        return value
    }

    /// Parses an IPv4 or IPv6 address; nil when `word` is not an address.
    ///
    /// Throws for a dotted quad with a leading zero in an octet, such as 01.2.3.4,
    /// also inside an IPv6 address: IOS rejects it, and some parsers read such an
    /// octet as octal, so the same text could mean two addresses.
    func parseAddress(_ word: String, _ field: String) throws -> IPAddress? {
        guard let address = IPAddress(word) else { return nil }
        let dottedQuad = word.split(separator: ":", omittingEmptySubsequences: false).last ?? ""
        let octets = dottedQuad.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count > 1, octets.contains(where: { $0.count > 1 && $0.first == "0" }) {
            throw ConfigLineError(
                "invalid \(field) '\(word)' (an octet has a leading zero, which IOS rejects "
                    + "because it can mean octal)")
        }
        return address
    }

    /// Parses an IPv4 address in dotted-quad form.
    func ipv4Address(_ line: ConfigLine, _ index: Int, _ field: String) throws -> IPAddress {
        let word = try requiredWord(line, index, field)
        guard !word.contains(":"), let address = try parseAddress(word, field) else {
            throw ConfigLineError("invalid \(field) '\(word)' (expected an IPv4 address)")
        }
        return address
    }

    /// Parses an IPv4 or IPv6 address.
    func anyAddress(_ line: ConfigLine, _ index: Int, _ field: String) throws -> IPAddress {
        let word = try requiredWord(line, index, field)
        guard let address = try parseAddress(word, field) else {
            throw ConfigLineError("invalid \(field) '\(word)' (expected an IPv4 or IPv6 address)")
        }
        return address
    }

    /// Converts a contiguous IPv4 netmask such as 255.255.240.0 to its prefix length.
    func netmask(_ line: ConfigLine, _ index: Int) throws -> Int {
        let word = try requiredWord(line, index, "mask")
        guard !word.contains(":"), let mask = try parseAddress(word, "mask") else {
            throw ConfigLineError(
                "invalid mask '\(word)' (expected a netmask such as 255.255.255.0)")
        }
        guard let length = IPPrefix.length(ofNetmask: mask) else {
            throw ConfigLineError("invalid mask \(word): the one bits are not contiguous")
        }
        return length
    }

    /// Converts a contiguous IPv4 wildcard mask such as 0.0.0.255 to its prefix length.
    func wildcardLength(_ line: ConfigLine, _ index: Int) throws -> Int {
        let word = try requiredWord(line, index, "wildcard mask")
        guard !word.contains(":"), case .v4(let bits)? = try parseAddress(word, "wildcard mask")
        else {
            throw ConfigLineError(
                "invalid wildcard mask '\(word)' (expected a wildcard such as 0.0.0.255)")
        }
        guard let length = IPPrefix.length(ofNetmask: .v4(~bits)) else {
            throw ConfigLineError(
                "non-contiguous wildcard mask \(word) is not supported, because it cannot be "
                    + "expressed as a traffic selector")
        }
        return length
    }

    /// Parses `X::/n` into the address and its length; host bits are allowed.
    func ipv6AddressAndLength(_ line: ConfigLine, _ index: Int, _ field: String) throws
        -> (address: IPAddress, length: Int)
    {
        let word = try requiredWord(line, index, field)
        let parts = word.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = try parseAddress(String(parts[0]), field),
            !address.isIPv4,
            parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), parts[1].count <= 3,
            let length = Int(parts[1]), length <= 128
        else {
            throw ConfigLineError(
                "invalid \(field) '\(word)' (expected an IPv6 prefix such as 2001:db8::1/64)")
        }
        return (address, length)
    }

    /// Parses `A.B.C.D[/LEN]` or `X::[/LEN]` without host bits; a bare address is a host prefix.
    func exactPrefix(_ line: ConfigLine, _ index: Int, _ field: String) throws -> IPPrefix {
        let word = try requiredWord(line, index, field)
        let parts = word.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = try parseAddress(String(parts[0]), field) else {
            throw ConfigLineError("invalid \(field) '\(word)'")
        }
        guard parts.count == 2 else { return IPPrefix(host: address) }
        guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), parts[1].count <= 3,
            let length = Int(parts[1]), length <= address.bitWidth
        else {
            throw ConfigLineError(
                "invalid prefix length in '\(word)' (expected 0-\(address.bitWidth))")
        }
        return try checkedPrefix(address, length)
    }

    /// Builds a prefix, or throws the IOS "inconsistent address and mask" error
    /// naming the network that was probably meant when host bits are set.
    func checkedPrefix(_ address: IPAddress, _ length: Int) throws -> IPPrefix {
        guard let prefix = IPPrefix(address: address, length: length) else {
            let network = IPPrefix(covering: address, length: length)
            throw ConfigLineError(
                "address and mask are inconsistent: \(address)/\(length) has host bits set "
                    + "(network \(network))")
        }
        return prefix
    }
}
