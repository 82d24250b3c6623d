// Version 4 attributes. The first byte contains the flags. The C (compact)
// flag selects a 1-byte type with a 1-byte length, or with a 2-byte length
// when E (extended length) is also set. Without C the type takes 24 bits and
// the length 32 bits. Length counts the value only.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |O|N|P|C|E|0 0 0|     Type      |    Length     |  Value ...       C=1 E=0
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |O|N|P|C|E|0 0 0|     Type      |            Length             |  C=1 E=1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |O|N|P|C|E|0 0 0|                    Type (24 bits)             |  C=0
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                          Length (32 bits)                     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// O: optional, N: non-transitive, P: partial. Versions 1-3 use only the
// non-compact form with all flags clear, which reads as a 32-bit type.

import TaglineCore

/// The flags byte of a version 4 attribute.
public struct SXPAttributeFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let optional = SXPAttributeFlags(rawValue: 0x80)
    public static let nonTransitive = SXPAttributeFlags(rawValue: 0x40)
    public static let partial = SXPAttributeFlags(rawValue: 0x20)
    public static let compact = SXPAttributeFlags(rawValue: 0x10)
    public static let extendedLength = SXPAttributeFlags(rawValue: 0x08)
}

/// Attribute and legacy TLV type numbers.
public enum SXPAttributeType: UInt32, Sendable {
    /// Version 1-3 UPDATE: add an IPv4 binding.
    case addIPv4 = 1
    /// Version 2-3 UPDATE: add an IPv6 binding.
    case addIPv6 = 2
    /// Version 1-3 UPDATE: delete an IPv4 binding.
    case deleteIPv4 = 3
    /// Version 2-3 UPDATE: delete an IPv6 binding.
    case deleteIPv6 = 4
    case nodeID = 5
    case capabilities = 6
    case holdTime = 7
    case ipv4DeletePrefix = 11
    case ipv6DeletePrefix = 12
    case ipv4AddPrefix = 13
    case ipv6AddPrefix = 14
    case peerSequence = 16
    case sgt = 17
}

/// One attribute as found on the wire, before its value is interpreted.
struct SXPRawAttribute: Equatable {
    var flags: SXPAttributeFlags
    var type: UInt32
    var value: [UInt8]
    /// Offset of the attribute header from the message start.
    var offset: Int
    /// Offset of the value from the message start.
    var valueOffset: Int

    var knownType: SXPAttributeType? { SXPAttributeType(rawValue: type) }

    /// Reads attributes until the reader's end; throws when a header or a
    /// value runs past the end of the message.
    static func decodeList(_ reader: inout SXPReader) throws -> [SXPRawAttribute] {
        var attributes = [SXPRawAttribute]()
        while !reader.isAtEnd {
            attributes.append(try decodeOne(&reader))
        }
        return attributes
    }

    static func decodeOne(_ reader: inout SXPReader) throws -> SXPRawAttribute {
        let start = reader.offset
        let flags = SXPAttributeFlags(rawValue: try reader.readUInt8("attribute flags"))
        let type: UInt32
        let length: Int
        if flags.contains(.compact) {
            type = UInt32(try reader.readUInt8("attribute type"))
            if flags.contains(.extendedLength) {
                length = Int(try reader.readUInt16("attribute length"))
            } else {
                length = Int(try reader.readUInt8("attribute length"))
            }
        } else {
            type = try reader.readUInt24("attribute type")
            let raw = try reader.readUInt32("attribute length")
            length = Int(exactly: raw) ?? Int.max
        }
        let valueOffset = reader.offset
        guard length <= reader.remaining else {
            throw SXPError.attributeOverrun(
                field: "attribute type \(type)", offset: start, length: length)
        }
        let value = try reader.readBytes(length, "attribute value")
        return SXPRawAttribute(
            flags: flags, type: type, value: value, offset: start, valueOffset: valueOffset)
    }

    /// Encodes an attribute in compact form, with an extended length when the
    /// value is longer than 255 bytes. The C and E flags are set here.
    static func encode(_ type: SXPAttributeType, flags: SXPAttributeFlags, value: [UInt8])
        -> [UInt8]
    {
        var header = flags.subtracting([.compact, .extendedLength]).union(.compact)
        var out = [UInt8]()
        if value.count > Int(UInt8.max) {
            header.insert(.extendedLength)
            out.append(header.rawValue)
            out.append(UInt8(type.rawValue))
            out.appendUInt16(UInt16(value.count))
        } else {
            out.append(header.rawValue)
            out.append(UInt8(type.rawValue))
            out.append(UInt8(value.count))
        }
        out.append(contentsOf: value)
        return out
    }

    /// Encodes a version 1-3 attribute or TLV: 32-bit type, 32-bit length.
    static func encodeLegacy(type: UInt32, value: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.appendUInt32(type)
        out.appendUInt32(UInt32(value.count))
        out.append(contentsOf: value)
        return out
    }
}

/// Prefix lists of the version 4 add-prefix and delete-prefix attributes:
/// each entry is a 1-byte prefix length followed by the ceil(length / 8)
/// leading bytes of the address.
enum SXPPrefixList {
    static func decode(_ attribute: SXPRawAttribute, ipv6: Bool, field: String) throws
        -> [IPPrefix]
    {
        let width = ipv6 ? 128 : 32
        var reader = SXPReader(attribute.value)
        var prefixes = [IPPrefix]()
        while !reader.isAtEnd {
            let entryOffset = attribute.valueOffset + reader.offset
            let length = Int(try reader.readUInt8("\(field) prefix length"))
            guard length <= width else {
                throw SXPError.invalidPrefixLength(
                    field: field, offset: entryOffset, value: length)
            }
            let count = (length + 7) / 8
            guard count <= reader.remaining else {
                throw SXPError.invalidAttributeLength(
                    field: field, offset: attribute.offset, length: attribute.value.count)
            }
            var address = try reader.readBytes(count, "\(field) prefix")
            address += [UInt8](repeating: 0, count: width / 8 - count)
            // Bits past the prefix length in the last byte are ignored.
            let base = IPAddress(bytes: address)!
            prefixes.append(IPPrefix(covering: base, length: length))
        }
        return prefixes
    }

    static func encode(_ prefixes: [IPPrefix]) -> [UInt8] {
        var out = [UInt8]()
        for prefix in prefixes {
            out.append(UInt8(prefix.length))
            out.append(contentsOf: prefix.address.bytes.prefix((prefix.length + 7) / 8))
        }
        return out
    }
}
