// The version 4 UPDATE body: a list of attributes read in order. Delete-prefix
// attributes remove bindings; an add-prefix attribute binds its prefixes to
// the SGT and Peer-Sequence attributes last seen before it.
//
//   IPv4/IPv6-Add-Prefix, IPv4/IPv6-Delete-Prefix value (repeated):
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  | Prefix Length |  Prefix (ceil(length / 8) bytes)  ...
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   Peer-Sequence value: node IDs (32 bits each), nearest speaker first.
//   SGT value: 16 bits, 1-65534.

import TaglineCore

/// Prefixes bound to one SGT, with the speakers they passed through.
public struct SXPBindingGroup: Equatable, Sendable {
    /// Node IDs of the speakers the bindings passed through, nearest first.
    /// Empty for bindings learned over versions 1-3.
    public var peerSequence: [UInt32]
    public var sgt: SGT
    public var prefixes: [IPPrefix]

    public init(peerSequence: [UInt32], sgt: SGT, prefixes: [IPPrefix]) {
        self.peerSequence = peerSequence
        self.sgt = sgt
        self.prefixes = prefixes
    }
}

/// An UPDATE body in either version form.
public struct SXPUpdate: Equatable, Sendable {
    /// Prefixes whose bindings the speaker withdraws; applied before additions.
    public var deletions: [IPPrefix]
    public var additions: [SXPBindingGroup]
    /// Unknown optional attributes that were skipped while decoding.
    public var skippedAttributes: Int

    public init(
        deletions: [IPPrefix] = [], additions: [SXPBindingGroup] = [],
        skippedAttributes: Int = 0
    ) {
        self.deletions = deletions
        self.additions = additions
        self.skippedAttributes = skippedAttributes
    }

    static func decodeV4(_ reader: inout SXPReader) throws -> SXPUpdate {
        // Structure first: every attribute header and length is checked
        // before any value is interpreted, so an overrunning attribute
        // rejects the whole message.
        let attributes = try SXPRawAttribute.decodeList(&reader)

        var update = SXPUpdate()
        var peerSequence: [UInt32]?
        var sgt: SGT?
        for attribute in attributes {
            switch attribute.knownType {
            case .ipv4DeletePrefix?:
                update.deletions += try SXPPrefixList.decode(
                    attribute, ipv6: false, field: "IPv4-Delete-Prefix")
            case .ipv6DeletePrefix?:
                update.deletions += try SXPPrefixList.decode(
                    attribute, ipv6: true, field: "IPv6-Delete-Prefix")
            case .peerSequence?:
                peerSequence = try decodePeerSequence(attribute)
            case .sgt?:
                sgt = try decodeSGT(attribute)
            case .ipv4AddPrefix?, .ipv6AddPrefix?:
                let ipv6 = attribute.knownType == .ipv6AddPrefix
                let field = ipv6 ? "IPv6-Add-Prefix" : "IPv4-Add-Prefix"
                let prefixes = try SXPPrefixList.decode(attribute, ipv6: ipv6, field: field)
                guard let sgt else {
                    throw SXPError.missingAttribute(field: "SGT", offset: attribute.offset)
                }
                guard let peerSequence else {
                    throw SXPError.missingAttribute(
                        field: "Peer-Sequence", offset: attribute.offset)
                }
                // An empty prefix list binds nothing, so it adds no group.
                if !prefixes.isEmpty {
                    update.append(
                        SXPBindingGroup(peerSequence: peerSequence, sgt: sgt, prefixes: prefixes))
                }
            case .nodeID?, .capabilities?, .holdTime?:
                throw SXPError.unexpectedAttribute(
                    field: "type \(attribute.type)", offset: attribute.offset)
            default:
                // TODO: an optional transitive attribute should be passed on to our listeners.
                guard attribute.flags.contains(.optional) else {
                    throw SXPError.unknownAttribute(type: attribute.type, offset: attribute.offset)
                }
                update.skippedAttributes += 1
            }
        }
        return update
    }

    private static func decodePeerSequence(_ attribute: SXPRawAttribute) throws -> [UInt32] {
        guard !attribute.value.isEmpty, attribute.value.count % 4 == 0 else {
            throw SXPError.invalidAttributeLength(
                field: "Peer-Sequence", offset: attribute.offset, length: attribute.value.count)
        }
        var reader = SXPReader(attribute.value)
        var nodes = [UInt32]()
        while !reader.isAtEnd { nodes.append(try reader.readUInt32("Peer-Sequence node ID")) }
        return nodes
    }

    private static func decodeSGT(_ attribute: SXPRawAttribute) throws -> SGT {
        guard attribute.value.count == 2 else {
            throw SXPError.invalidAttributeLength(
                field: "SGT", offset: attribute.offset, length: attribute.value.count)
        }
        let raw = UInt16(attribute.value[0]) << 8 | UInt16(attribute.value[1])
        guard let sgt = SGT(raw) else {
            throw SXPError.invalidSGT(offset: attribute.valueOffset, value: raw)
        }
        return sgt
    }

    /// Adds a group, merging it into the last one when SGT and peer sequence match.
    mutating func append(_ group: SXPBindingGroup) {
        if var last = additions.last, last.sgt == group.sgt,
            last.peerSequence == group.peerSequence
        {
            last.prefixes += group.prefixes
            additions[additions.count - 1] = last
        } else {
            additions.append(group)
        }
    }

    func encodeV4Body() -> [UInt8] {
        var out = [UInt8]()
        let v4Deletions = deletions.filter { $0.address.isIPv4 }
        let v6Deletions = deletions.filter { !$0.address.isIPv4 }
        if !v4Deletions.isEmpty {
            out += SXPRawAttribute.encode(
                .ipv4DeletePrefix, flags: [], value: SXPPrefixList.encode(v4Deletions))
        }
        if !v6Deletions.isEmpty {
            out += SXPRawAttribute.encode(
                .ipv6DeletePrefix, flags: [], value: SXPPrefixList.encode(v6Deletions))
        }
        for group in additions {
            var sequence = [UInt8]()
            for node in group.peerSequence { sequence.appendUInt32(node) }
            out += SXPRawAttribute.encode(.peerSequence, flags: [], value: sequence)
            var tag = [UInt8]()
            tag.appendUInt16(group.sgt.value)
            out += SXPRawAttribute.encode(.sgt, flags: [], value: tag)
            let v4 = group.prefixes.filter { $0.address.isIPv4 }
            let v6 = group.prefixes.filter { !$0.address.isIPv4 }
            if !v4.isEmpty {
                out += SXPRawAttribute.encode(
                    .ipv4AddPrefix, flags: [], value: SXPPrefixList.encode(v4))
            }
            if !v6.isEmpty {
                out += SXPRawAttribute.encode(
                    .ipv6AddPrefix, flags: [], value: SXPPrefixList.encode(v6))
            }
        }
        return out
    }
}
