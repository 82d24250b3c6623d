// The version 1-3 UPDATE body: a list of mapping attributes, each with a
// 32-bit type and a 32-bit length. The value is the address (4 or 16 bytes)
// followed by TLVs in the same 32-bit type and length form: type 1 is the
// SGT (16 bits), type 2 the prefix length (8 bits, version 3 only). Add
// attributes carry an SGT TLV; delete attributes carry none.
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Type (1-4, 32 bits)                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Length (32 bits)                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Address (4 or 16 bytes), then TLVs: type, length, value   |

import TaglineCore

enum SXPLegacyTLV: UInt32 {
    case sgt = 1
    case prefixLength = 2
}

extension SXPUpdate {
    static func decodeLegacy(_ reader: inout SXPReader) throws -> SXPUpdate {
        var update = SXPUpdate()
        while !reader.isAtEnd {
            let start = reader.offset
            let type = try reader.readUInt32("mapping type")
            let rawLength = try reader.readUInt32("mapping length")
            guard let length = Int(exactly: rawLength), length <= reader.remaining else {
                throw SXPError.attributeOverrun(
                    field: "mapping type \(type)", offset: start, length: Int(rawLength))
            }
            let valueStart = reader.offset
            var value = SXPReader(reader.bytes, from: valueStart, to: valueStart + length)
            try reader.skip(length, "mapping value")

            guard let kind = SXPAttributeType(rawValue: type), kind.rawValue <= 4 else {
                throw SXPError.unknownAttribute(type: type, offset: start)
            }
            let ipv6 = kind == .addIPv6 || kind == .deleteIPv6
            let width = ipv6 ? 128 : 32
            let address = IPAddress(bytes: try value.readBytes(width / 8, "mapping address"))!

            var sgt: SGT?
            var prefixLength = width
            while !value.isAtEnd {
                let tlvStart = value.offset
                let tlvType = try value.readUInt32("TLV type")
                let tlvLength = try value.readUInt32("TLV length")
                switch (SXPLegacyTLV(rawValue: tlvType), tlvLength) {
                case (.sgt?, 2):
                    let raw = try value.readUInt16("SGT")
                    guard let tag = SGT(raw) else {
                        throw SXPError.invalidSGT(offset: value.offset - 2, value: raw)
                    }
                    sgt = tag
                case (.prefixLength?, 1):
                    prefixLength = Int(try value.readUInt8("prefix length"))
                    guard prefixLength <= width else {
                        throw SXPError.invalidPrefixLength(
                            field: "mapping", offset: value.offset - 1, value: prefixLength)
                    }
                default:
                    throw SXPError.invalidAttributeLength(
                        field: "TLV type \(tlvType)", offset: tlvStart, length: Int(tlvLength))
                }
            }

            let prefix = IPPrefix(covering: address, length: prefixLength)
            switch kind {
            case .addIPv4, .addIPv6:
                guard let sgt else {
                    throw SXPError.missingAttribute(field: "SGT TLV", offset: start)
                }
                update.append(SXPBindingGroup(peerSequence: [], sgt: sgt, prefixes: [prefix]))
            default:
                update.deletions.append(prefix)
            }
        }
        return update
    }

    /// Encodes for `version` 1-3. Bindings the version cannot carry (IPv6
    /// before version 2, prefixes shorter than a host before version 3) are
    /// left out.
    func encodeLegacyBody(version: SXPVersion) -> [UInt8] {
        var out = [UInt8]()
        for prefix in deletions where Self.fits(prefix, version) {
            let type: SXPAttributeType = prefix.address.isIPv4 ? .deleteIPv4 : .deleteIPv6
            out += Self.encodeMapping(type, prefix: prefix, sgt: nil, version: version)
        }
        for group in additions {
            for prefix in group.prefixes where Self.fits(prefix, version) {
                let type: SXPAttributeType = prefix.address.isIPv4 ? .addIPv4 : .addIPv6
                out += Self.encodeMapping(type, prefix: prefix, sgt: group.sgt, version: version)
            }
        }
        return out
    }

    static func fits(_ prefix: IPPrefix, _ version: SXPVersion) -> Bool {
        if !prefix.address.isIPv4 && !version.carriesIPv6 { return false }
        return version.carriesPrefixes || prefix.length == prefix.address.bitWidth
    }

    private static func encodeMapping(
        _ type: SXPAttributeType, prefix: IPPrefix, sgt: SGT?, version: SXPVersion
    ) -> [UInt8] {
        var value = prefix.address.bytes
        if let sgt {
            var tag = [UInt8]()
            tag.appendUInt16(sgt.value)
            value += SXPRawAttribute.encodeLegacy(type: SXPLegacyTLV.sgt.rawValue, value: tag)
        }
        if version.carriesPrefixes {
            value += SXPRawAttribute.encodeLegacy(
                type: SXPLegacyTLV.prefixLength.rawValue, value: [UInt8(prefix.length)])
        }
        return SXPRawAttribute.encodeLegacy(type: type.rawValue, value: value)
    }
}
