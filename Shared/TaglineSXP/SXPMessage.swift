// A whole SXP message: header plus body, decoded in the form of the version
// that the connection negotiated (UPDATE and ERROR differ between version 4
// and versions 1-3; OPEN names its own version).

import TaglineCore

/// One SXP message.
public enum SXPMessage: Equatable, Sendable {
    case open(SXPOpen)
    case openResponse(SXPOpen)
    case update(SXPUpdate)
    case error(SXPErrorMessage)
    case purgeAll
    case keepalive

    public var type: SXPMessageType {
        switch self {
        case .open: return .open
        case .openResponse: return .openResponse
        case .update: return .update
        case .error: return .error
        case .purgeAll: return .purgeAll
        case .keepalive: return .keepalive
        }
    }

    /// Decodes one message that fills `bytes` exactly. `version` selects the
    /// UPDATE form; it does not matter for the other types.
    public static func decode(_ bytes: [UInt8], version: SXPVersion) throws -> SXPMessage {
        guard let header = try SXPHeader.decode(bytes) else {
            throw SXPError.truncated(field: "message header", offset: 0, needed: SXPHeader.size)
        }
        guard header.length == bytes.count else {
            throw SXPError.invalidMessageLength(offset: 0, value: UInt32(header.length))
        }
        var reader = SXPReader(bytes, from: SXPHeader.size)
        switch header.type {
        case .open:
            return .open(try SXPOpen.decode(&reader))
        case .openResponse:
            return .openResponse(try SXPOpen.decode(&reader))
        case .update:
            if version.usesAttributes {
                return .update(try SXPUpdate.decodeV4(&reader))
            }
            return .update(try SXPUpdate.decodeLegacy(&reader))
        case .error:
            return .error(try SXPErrorMessage.decode(&reader))
        case .purgeAll:
            return .purgeAll
        case .keepalive:
            return .keepalive
        }
    }

    /// Encodes the message for a connection at `version`. An UPDATE longer
    /// than 4096 bytes must first be split with `SXPUpdate.split`.
    public func encode(version: SXPVersion) -> [UInt8] {
        switch self {
        case .open(let open):
            return SXPHeader.frame(.open, body: open.encodeBody())
        case .openResponse(let open):
            return SXPHeader.frame(.openResponse, body: open.encodeBody())
        case .update(let update):
            let body =
                version.usesAttributes
                ? update.encodeV4Body() : update.encodeLegacyBody(version: version)
            return SXPHeader.frame(.update, body: body)
        case .error(let error):
            return SXPHeader.frame(.error, body: error.encodeBody())
        case .purgeAll:
            return SXPHeader.frame(.purgeAll, body: [])
        case .keepalive:
            return SXPHeader.frame(.keepalive, body: [])
        }
    }
}

extension SXPUpdate {
    /// Splits the update into updates whose encoding at `version` fits in
    /// `maximumLength` bytes, keeping deletions ahead of additions.
    public func split(version: SXPVersion, maximumLength: Int = SXPHeader.maximumLength)
        -> [SXPUpdate]
    {
        // Sizes are upper bounds: each attribute header is counted in its
        // 4-byte extended form, each entry at its full width.
        let budget = maximumLength - SXPHeader.size
        var parts = [SXPUpdate]()
        var current = SXPUpdate()
        var used = 0

        func entrySize(_ prefix: IPPrefix) -> Int {
            if version.usesAttributes { return 1 + (prefix.length + 7) / 8 }
            // Mapping header, address, SGT TLV and prefix-length TLV.
            return 8 + prefix.address.bitWidth / 8 + 10 + 9
        }
        func flush() {
            if !current.deletions.isEmpty || !current.additions.isEmpty { parts.append(current) }
            current = SXPUpdate()
            used = 0
        }

        let deletionOverhead = version.usesAttributes ? 2 * 4 : 0
        for prefix in deletions {
            if current.deletions.isEmpty { used += deletionOverhead }
            if used + entrySize(prefix) > budget {
                flush()
                used = deletionOverhead
            }
            current.deletions.append(prefix)
            used += entrySize(prefix)
        }
        for group in additions {
            let groupOverhead =
                version.usesAttributes ? 4 + 4 * group.peerSequence.count + 4 + 2 + 2 * 4 : 0
            var started = false
            for prefix in group.prefixes {
                if !started {
                    used += groupOverhead
                    started = true
                }
                if used + entrySize(prefix) > budget {
                    flush()
                    used = groupOverhead
                }
                current.append(
                    SXPBindingGroup(
                        peerSequence: group.peerSequence, sgt: group.sgt, prefixes: [prefix]))
                used += entrySize(prefix)
            }
        }
        flush()
        return parts
    }
}

/// Cuts a TCP byte stream into whole messages.
public struct SXPFramer: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    /// Appends received bytes.
    public mutating func append<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// Removes and returns the next whole message, or nil until more bytes
    /// arrive. Throws when the header's Length or Type is invalid; the
    /// stream cannot be resynchronized after that, so the connection closes.
    public mutating func next() throws -> (header: SXPHeader, bytes: [UInt8])? {
        guard let header = try SXPHeader.decode(Array(buffer.prefix(SXPHeader.size))) else {
            return nil
        }
        guard buffer.count >= header.length else { return nil }
        let message = Array(buffer[0..<header.length])
        buffer.removeFirst(header.length)
        return (header, message)
    }
}
