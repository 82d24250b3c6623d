// IPv4 and IPv6 addresses and prefixes, parsed and printed without
// Foundation so the dataplane can use them on the packet path.

/// An IPv4 or IPv6 address in network byte order.
public enum IPAddress: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// An IPv4 address as a host-order integer (192.0.2.1 is 0xC000_0201).
    case v4(UInt32)
    /// An IPv6 address as two host-order halves, high 64 bits first.
    case v6(UInt64, UInt64)

    public var isIPv4: Bool {
        if case .v4 = self { return true }
        return false
    }

    /// Bit length of the address family: 32 or 128.
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    /// The address as 4 or 16 bytes in network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a):
            return [UInt8(a >> 24), UInt8(truncatingIfNeeded: a >> 16),
                    UInt8(truncatingIfNeeded: a >> 8), UInt8(truncatingIfNeeded: a)]
        case .v6(let hi, let lo):
            var out = [UInt8]()
            out.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: hi >> UInt64(shift)))
            }
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: lo >> UInt64(shift)))
            }
            return out
        }
    }

    /// Creates an address from 4 or 16 network-order bytes; nil for any other count.
    public init?<C: Collection>(bytes: C) where C.Element == UInt8 {
        let array = Array(bytes)
        if array.count == 4 {
            self = .v4(array.reduce(0) { $0 << 8 | UInt32($1) })
        } else if array.count == 16 {
            let hi = array[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let lo = array[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(hi, lo)
        } else {
            return nil
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` and an
    /// embedded IPv4 tail); nil when the text is not an address.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let v6 = IPAddress.parseIPv6(Substring(text)) else { return nil }
            self = v6
        } else {
            guard let v4 = IPAddress.parseIPv4(Substring(text)) else { return nil }
            self = .v4(v4)
        }
    }

    static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseIPv6(_ text: Substring) -> IPAddress? {
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        let halves = splitOnDoubleColon(String(text))
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ part: String, allowIPv4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if allowIPv4Tail, index == fields.count - 1, field.contains(".") {
                    guard let v4 = parseIPv4(field) else { return nil }
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(truncatingIfNeeded: v4))
                    continue
                }
                guard (1...4).contains(field.count), let group = UInt16(field, radix: 16) else {
                    return nil
                }
                result.append(group)
            }
            return result
        }
        if halves.count == 2 {
            sawDoubleColon = true
            guard let head = parseGroups(halves[0], allowIPv4Tail: false),
                  let rest = parseGroups(halves[1], allowIPv4Tail: true)
            else { return nil }
            groups = head
            tail = rest
            guard groups.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = parseGroups(halves[0], allowIPv4Tail: true), all.count == 8 else {
                return nil
            }
            groups = all
        }
        if sawDoubleColon {
            groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail
        }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<4 { hi = hi << 16 | UInt64(groups[i]) }
        for i in 4..<8 { lo = lo << 16 | UInt64(groups[i]) }
        return .v6(hi, lo)
    }

    /// Splits IPv6 text around each `::`, so "1::2" gives ["1", "2"].
    static func splitOnDoubleColon(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var previousWasColon = false
        for char in text {
            if char == ":" && previousWasColon {
                current.removeLast()
                parts.append(current)
                current = ""
                previousWasColon = false
                continue
            }
            current.append(char)
            previousWasColon = char == ":"
        }
        parts.append(current)
        return parts
    }

    /// Dotted quad for IPv4; RFC 5952 text (lowercase, longest zero run as `::`) for IPv6.
    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
        case .v6(let hi, let lo):
            var groups: [UInt16] = []
            for shift in stride(from: 48, through: 0, by: -16) {
                groups.append(UInt16(truncatingIfNeeded: hi >> UInt64(shift)))
            }
            for shift in stride(from: 48, through: 0, by: -16) {
                groups.append(UInt16(truncatingIfNeeded: lo >> UInt64(shift)))
            }
            var bestStart = -1
            var bestLength = 1
            var index = 0
            while index < 8 {
                if groups[index] == 0 {
                    var end = index
                    while end < 8 && groups[end] == 0 { end += 1 }
                    if end - index > bestLength {
                        bestStart = index
                        bestLength = end - index
                    }
                    index = end
                } else {
                    index += 1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if bestStart < 0 { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let ah, let al), .v6(let bh, let bl)): return (ah, al) < (bh, bl)
        }
    }

    // Codable as its text form, so JSON messages stay readable in traces.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid IP address \(text)"))
        }
        self = address
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An address prefix such as 192.0.2.0/24 or 2001:db8::/32.
public struct IPPrefix: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let address: IPAddress
    public let length: Int

    /// Creates a prefix; nil when `length` exceeds the family's width or host bits are set.
    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitWidth else { return nil }
        guard IPPrefix.masked(address, length) == address else { return nil }
        self.address = address
        self.length = length
    }

    /// Creates a prefix from any address by clearing its host bits.
    public init(covering address: IPAddress, length: Int) {
        let clamped = max(0, min(length, address.bitWidth))
        self.address = IPPrefix.masked(address, clamped)
        self.length = clamped
    }

    /// A host prefix (/32 or /128).
    public init(host address: IPAddress) {
        self.address = address
        self.length = address.bitWidth
    }

    /// Parses `a.b.c.d/n`, `x::y/n`, or a bare address as a host prefix.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), !parts[1].isEmpty,
                  parts[1].count <= 3, let length = Int(parts[1])
            else { return nil }
            self.init(address: address, length: length)
        } else {
            self.init(host: address)
        }
    }

    /// The prefix length of a contiguous IPv4 netmask such as 255.255.255.0; nil otherwise.
    public static func length(ofNetmask mask: IPAddress) -> Int? {
        guard case .v4(let bits) = mask else { return nil }
        let ones = bits.leadingZeroBitCount == 0 ? (~bits).leadingZeroBitCount : 0
        let expected: UInt32 = ones == 0 ? 0 : ~UInt32(0) << UInt32(32 - ones)
        return bits == expected ? ones : nil
    }

    public static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let a):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(a & mask)
        case .v6(let hi, let lo):
            let hiMask: UInt64 = length >= 64 ? ~0 : (length == 0 ? 0 : ~UInt64(0) << UInt64(64 - length))
            let loBits = length - 64
            let loMask: UInt64 = loBits <= 0 ? 0 : (loBits >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - loBits))
            return .v6(hi & hiMask, lo & loMask)
        }
    }

    /// True when `address` is of the same family and inside this prefix.
    public func contains(_ other: IPAddress) -> Bool {
        guard other.isIPv4 == address.isIPv4 else { return false }
        return IPPrefix.masked(other, length) == address
    }

    /// The first and last address of the prefix.
    public var range: ClosedRange<IPAddress> {
        switch address {
        case .v4(let a):
            let hostMask: UInt32 = length == 32 ? 0 : ~UInt32(0) >> UInt32(length)
            return address ... .v4(a | hostMask)
        case .v6(let hi, let lo):
            let hiHost: UInt64 = length >= 64 ? 0 : (length == 0 ? ~0 : ~UInt64(0) >> UInt64(length))
            let loBits = length - 64
            let loHost: UInt64 = loBits <= 0 ? ~0 : (loBits >= 64 ? 0 : ~UInt64(0) >> UInt64(loBits))
            return address ... .v6(hi | hiHost, lo | loHost)
        }
    }

    /// The IPv4 netmask as an address (255.255.255.0 for /24); IPv6 prefixes return the mask too.
    public var netmask: IPAddress {
        switch address {
        case .v4: return IPPrefix.masked(.v4(~0), length)
        case .v6: return IPPrefix.masked(.v6(~0, ~0), length)
        }
    }

    public var description: String { "\(address)/\(length)" }

    public static func < (lhs: IPPrefix, rhs: IPPrefix) -> Bool {
        (lhs.address, lhs.length) < (rhs.address, rhs.length)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let prefix = IPPrefix(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "invalid prefix \(text)"))
        }
        self = prefix
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
