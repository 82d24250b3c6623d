// The OPEN and OPEN_RESP message bodies. Both carry the sender's version and
// mode. In version 4, attributes follow them: the speaker's Node-ID, the
// listener's Capabilities, and the Hold-Time (the listener's range or the
// speaker's minimum).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                            Version                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           SXP Mode                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Attributes (version 4 and later)              |
//
// Capabilities value: a list of (code: 8 bits, length: 8 bits, value).
// Hold-Time value: minimum (16 bits), then maximum (16 bits) from a listener.

/// The role of one end of an SXP connection.
public enum SXPMode: UInt32, Sendable, CustomStringConvertible {
    /// Sends bindings.
    case speaker = 1
    /// Receives bindings.
    case listener = 2

    public var description: String { self == .speaker ? "Speaker" : "Listener" }
}

/// A capability announced in a version 4 OPEN or OPEN_RESP.
public struct SXPCapability: Hashable, Sendable {
    public let code: UInt8
    public let value: [UInt8]

    public init(code: UInt8, value: [UInt8] = []) {
        self.code = code
        self.value = value
    }

    public static let ipv4Unicast = SXPCapability(code: 1)
    public static let ipv6Unicast = SXPCapability(code: 2)
    public static let subnetBindings = SXPCapability(code: 3)
    /// The capabilities of this implementation.
    public static let all: [SXPCapability] = [.ipv4Unicast, .ipv6Unicast, .subnetBindings]
}

/// A hold time in seconds: a listener sends its acceptable range, a speaker
/// its minimum only. 0 means no keepalives.
public struct SXPHoldTime: Equatable, Sendable {
    public let minimum: UInt16
    public let maximum: UInt16?

    public init(minimum: UInt16, maximum: UInt16? = nil) {
        self.minimum = minimum
        self.maximum = maximum
    }
}

/// An OPEN or OPEN_RESP body.
public struct SXPOpen: Equatable, Sendable {
    /// The sender's version: in an OPEN the highest it speaks, in an
    /// OPEN_RESP the version chosen for the connection.
    public var version: SXPVersion
    public var mode: SXPMode
    /// The speaker's node ID, usually one of its IPv4 addresses.
    public var nodeID: UInt32?
    public var capabilities: [SXPCapability]
    public var holdTime: SXPHoldTime?

    public init(
        version: SXPVersion, mode: SXPMode, nodeID: UInt32? = nil,
        capabilities: [SXPCapability] = [], holdTime: SXPHoldTime? = nil
    ) {
        self.version = version
        self.mode = mode
        self.nodeID = nodeID
        self.capabilities = capabilities
        self.holdTime = holdTime
    }

    static let versionOffset = SXPHeader.size
    static let modeOffset = SXPHeader.size + 4

    static func decode(_ reader: inout SXPReader) throws -> SXPOpen {
        let rawVersion = try reader.readUInt32("version")
        guard rawVersion >= 1 else {
            throw SXPError.invalidValue(
                field: "version", offset: versionOffset, value: UInt64(rawVersion))
        }
        let version = SXPVersion(rawValue: rawVersion)
        let rawMode = try reader.readUInt32("SXP mode")
        guard let mode = SXPMode(rawValue: rawMode) else {
            throw SXPError.invalidValue(
                field: "SXP mode", offset: modeOffset, value: UInt64(rawMode))
        }
        var open = SXPOpen(version: version, mode: mode)
        // Versions 1-3 have no attributes; trailing bytes there are ignored.
        guard version.usesAttributes else { return open }

        var seen = Set<UInt32>()
        for attribute in try SXPRawAttribute.decodeList(&reader) {
            guard seen.insert(attribute.type).inserted else {
                throw SXPError.unexpectedAttribute(
                    field: "duplicate type \(attribute.type)", offset: attribute.offset)
            }
            switch attribute.knownType {
            case .nodeID?:
                open.nodeID = try decodeNodeID(attribute)
            case .capabilities?:
                open.capabilities = try decodeCapabilities(attribute)
            case .holdTime?:
                open.holdTime = try decodeHoldTime(attribute)
            default:
                guard attribute.flags.contains(.optional) else {
                    throw SXPError.unknownAttribute(
                        type: attribute.type, offset: attribute.offset)
                }
            }
        }
        return open
    }

    private static func decodeNodeID(_ attribute: SXPRawAttribute) throws -> UInt32 {
        guard attribute.value.count == 4 else {
            throw SXPError.invalidAttributeLength(
                field: "Node-ID", offset: attribute.offset, length: attribute.value.count)
        }
        var reader = SXPReader(attribute.value)
        return try reader.readUInt32("Node-ID")
    }

    private static func decodeCapabilities(_ attribute: SXPRawAttribute) throws
        -> [SXPCapability]
    {
        var reader = SXPReader(attribute.value)
        var capabilities = [SXPCapability]()
        while !reader.isAtEnd {
            let code = try reader.readUInt8("capability code")
            let length = Int(try reader.readUInt8("capability length"))
            guard length <= reader.remaining else {
                throw SXPError.invalidAttributeLength(
                    field: "Capabilities", offset: attribute.offset,
                    length: attribute.value.count)
            }
            capabilities.append(
                SXPCapability(code: code, value: try reader.readBytes(length, "capability")))
        }
        return capabilities
    }

    private static func decodeHoldTime(_ attribute: SXPRawAttribute) throws -> SXPHoldTime {
        var reader = SXPReader(attribute.value)
        switch attribute.value.count {
        case 2:
            return SXPHoldTime(minimum: try reader.readUInt16("minimum hold time"))
        case 4:
            let minimum = try reader.readUInt16("minimum hold time")
            let maximum = try reader.readUInt16("maximum hold time")
            guard minimum <= maximum else {
                throw SXPError.invalidValue(
                    field: "maximum hold time", offset: attribute.valueOffset + 2,
                    value: UInt64(maximum))
            }
            return SXPHoldTime(minimum: minimum, maximum: maximum)
        default:
            throw SXPError.invalidAttributeLength(
                field: "Hold-Time", offset: attribute.offset, length: attribute.value.count)
        }
    }

    func encodeBody() -> [UInt8] {
        var out = [UInt8]()
        out.appendUInt32(version.rawValue)
        out.appendUInt32(mode.rawValue)
        guard version.usesAttributes else { return out }

        if let nodeID {
            var value = [UInt8]()
            value.appendUInt32(nodeID)
            out += SXPRawAttribute.encode(.nodeID, flags: [], value: value)
        }
        if !capabilities.isEmpty {
            var value = [UInt8]()
            for capability in capabilities {
                value.append(capability.code)
                value.append(UInt8(capability.value.count))
                value += capability.value
            }
            out += SXPRawAttribute.encode(.capabilities, flags: [], value: value)
        }
        if let holdTime {
            var value = [UInt8]()
            value.appendUInt16(holdTime.minimum)
            if let maximum = holdTime.maximum { value.appendUInt16(maximum) }
            out += SXPRawAttribute.encode(
                .holdTime, flags: [.optional, .nonTransitive], value: value)
        }
        return out
    }
}
