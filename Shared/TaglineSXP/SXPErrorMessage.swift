// The ERROR message body. Version 4 uses the extended form, with the E bit
// set; versions 1-3 use a 32-bit legacy code.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |E| Error Code  | Error Sub-Code|           Reserved            |  E = 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Data (variable, optional)                 |
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0|                    Legacy Error Code (31 bits)              |  E = 0
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Extended error codes (version 4).
public enum SXPErrorCode: UInt8, Sendable {
    case none = 0
    case messageHeader = 1
    case openMessage = 2
    case updateMessage = 3
}

/// Extended error sub-codes (version 4).
public enum SXPErrorSubcode: UInt8, Sendable {
    case none = 0
    case malformedAttributeList = 1
    case unexpectedAttribute = 2
    case missingWellKnownAttribute = 3
    case attributeFlagsError = 4
    case attributeLengthError = 5
    case malformedAttribute = 6
    case optionalAttributeError = 7
    case unsupportedVersionNumber = 8
    case unsupportedOptionalAttribute = 9
    case unacceptableHoldTime = 10
}

/// Legacy error codes (versions 1-3).
public enum SXPLegacyErrorCode: UInt32, Sendable {
    case none = 0
    case versionMismatch = 1
    case messageParseError = 2
}

/// An ERROR message body.
public enum SXPErrorMessage: Equatable, Sendable, CustomStringConvertible {
    /// A version 4 error. Codes and sub-codes outside the known tables stay
    /// as raw numbers so a peer's ERROR is always logged as it was sent.
    case extendedRaw(code: UInt8, subcode: UInt8, data: [UInt8])
    /// A version 1-3 error code.
    case legacyRaw(UInt32)

    static let extendedFlag: UInt8 = 0x80
    static let minimumBodySize = 4

    public static func extended(code: SXPErrorCode, subcode: SXPErrorSubcode) -> SXPErrorMessage {
        .extendedRaw(code: code.rawValue, subcode: subcode.rawValue, data: [])
    }

    public static func legacy(_ code: SXPLegacyErrorCode) -> SXPErrorMessage {
        .legacyRaw(code.rawValue)
    }

    public var description: String {
        switch self {
        case .extendedRaw(let code, let subcode, let data):
            let codeName = SXPErrorCode(rawValue: code).map { "\($0)" } ?? "\(code)"
            let subName = SXPErrorSubcode(rawValue: subcode).map { "\($0)" } ?? "\(subcode)"
            return "code \(codeName) sub-code \(subName)"
                + (data.isEmpty ? "" : " with \(data.count) bytes of data")
        case .legacyRaw(let code):
            let name = SXPLegacyErrorCode(rawValue: code).map { "\($0)" } ?? "\(code)"
            return "legacy code \(name)"
        }
    }

    /// Decodes an ERROR body that starts at `reader.offset`.
    static func decode(_ reader: inout SXPReader) throws -> SXPErrorMessage {
        let first = try reader.readUInt8("error code")
        if first & extendedFlag != 0 {
            let subcode = try reader.readUInt8("error sub-code")
            try reader.skip(min(2, reader.remaining), "error reserved")
            let data = try reader.readBytes(reader.remaining, "error data")
            return .extendedRaw(code: first & ~extendedFlag, subcode: subcode, data: data)
        }
        let rest = try reader.readUInt24("legacy error code")
        return .legacyRaw(UInt32(first) << 24 | rest)
    }

    func encodeBody() -> [UInt8] {
        var out = [UInt8]()
        switch self {
        case .extendedRaw(let code, let subcode, let data):
            out.append(Self.extendedFlag | (code & ~Self.extendedFlag))
            out.append(subcode)
            out.appendUInt16(0)
            out.append(contentsOf: data)
        case .legacyRaw(let code):
            out.appendUInt32(code & 0x7FFF_FFFF)
        }
        return out
    }
}
