// Cisco Meta Data (CMD) at the start of a decrypted ESP payload. The ESP
// trailer's Next Header is then `CMDHeader.defaultNextHeader` (253, the
// RFC 3692 experimental value, because the vendor's own value is not public)
// and the inner IP packet follows the header.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |    Version    |    Length     |OptLen |   Option Type (1=SGT) |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |              SGT              |        Inner EtherType        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   more option data when OptLen > 0 (OptLen * 8 bytes) ...    |
//
// Length is the whole header in 8-byte units. OptLen (3 bits) is the SGT
// option's extra data in 8-byte units, which follows the fixed 8 bytes.
// The parser honours it: the extra data must fit inside Length, is skipped,
// and the inner packet starts Length * 8 bytes after the header's start.

import TaglineCore

/// One CMD header carrying an SGT option.
public struct CMDHeader: Equatable, Sendable {
    /// Size of the header this gateway sends, and of the fixed part of any header.
    public static let size = 8
    public static let version: UInt8 = 1
    public static let sgtOptionType: UInt16 = 1
    /// ESP Next Header for a payload that starts with a CMD (RFC 3692 experimental value).
    public static let defaultNextHeader: UInt8 = 253
    public static let etherTypeIPv4: UInt16 = 0x0800
    public static let etherTypeIPv6: UInt16 = 0x86DD

    static let versionOffset = 0
    static let lengthOffset = 1
    static let optionOffset = 2
    static let sgtOffset = 4
    static let etherTypeOffset = 6
    static let unitSize = 8
    static let optionLengthShift: UInt16 = 13
    static let optionTypeMask: UInt16 = 0x1FFF

    /// The tag; nil when the sender put 0 (unknown) on the wire.
    public var sgt: SGT?
    /// EtherType of the inner packet: 0x0800 or 0x86DD.
    public var innerEtherType: UInt16
    /// Bytes from the header's start to the inner packet (Length * 8).
    public var headerLength: Int

    /// Creates a header of the size this gateway sends.
    public init(sgt: SGT, innerEtherType: UInt16) {
        self.sgt = sgt
        self.innerEtherType = innerEtherType
        self.headerLength = CMDHeader.size
    }

    /// Parses the header at the start of `payload`, which ends where the ESP padding starts.
    /// Throws the first rule the bytes break; never reads past `payload`.
    @inline(__always)
    public static func parse(_ payload: UnsafeRawBufferPointer) throws(CMDError) -> CMDHeader {
        // Structure: the fixed part, then the length the header announces.
        guard payload.count >= size else {
            throw .truncated(needed: size, available: payload.count)
        }
        let version = payload[versionOffset]
        guard version == CMDHeader.version else { throw .invalidVersion(version) }
        let lengthUnits = payload[lengthOffset]
        guard lengthUnits > 0 else { throw .invalidLength(lengthUnits) }
        let headerLength = Int(lengthUnits) * unitSize
        guard headerLength <= payload.count else {
            throw .truncated(needed: headerLength, available: payload.count)
        }

        // Meaning: one SGT option whose extra data fits inside the header.
        let option = payload.readUInt16(at: optionOffset)
        let optionType = option & optionTypeMask
        guard optionType == sgtOptionType else { throw .unknownOptionType(optionType) }
        let optionLengthUnits = Int(option >> optionLengthShift)
        guard 1 + optionLengthUnits <= Int(lengthUnits) else {
            throw .invalidOptionLength(units: optionLengthUnits, headerUnits: Int(lengthUnits))
        }
        let rawSGT = payload.readUInt16(at: sgtOffset)
        guard rawSGT != 0xFFFF else { throw .reservedSGT }
        let etherType = payload.readUInt16(at: etherTypeOffset)
        guard etherType == etherTypeIPv4 || etherType == etherTypeIPv6 else {
            throw .unknownInnerEtherType(etherType)
        }
        return CMDHeader(sgt: SGT(rawSGT), etherType: etherType, headerLength: headerLength)
    }

    private init(sgt: SGT?, etherType: UInt16, headerLength: Int) {
        self.sgt = sgt
        self.innerEtherType = etherType
        self.headerLength = headerLength
    }

    /// Writes the 8-byte form (Length 1, OptLen 0) at the start of `out`.
    @inline(__always)
    public func write(to out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= CMDHeader.size, "CMD needs \(CMDHeader.size) bytes")
        out[CMDHeader.versionOffset] = CMDHeader.version
        out[CMDHeader.lengthOffset] = 1
        out.writeUInt16(CMDHeader.sgtOptionType, at: CMDHeader.optionOffset)
        out.writeUInt16(sgt?.value ?? 0, at: CMDHeader.sgtOffset)
        out.writeUInt16(innerEtherType, at: CMDHeader.etherTypeOffset)
    }

    /// The 8-byte wire form.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: CMDHeader.size)
        out.withUnsafeMutableBytes { write(to: $0) }
        return out
    }
}

/// A CMD header that breaks a rule; each case names the field and its byte offset.
public enum CMDError: Error, Equatable, CustomStringConvertible {
    /// The header needs `needed` bytes but the payload has `available`.
    case truncated(needed: Int, available: Int)
    /// Version (offset 0) other than 1.
    case invalidVersion(UInt8)
    /// Length (offset 1) of zero.
    case invalidLength(UInt8)
    /// Option length (offset 2, top 3 bits) that does not fit the header length.
    case invalidOptionLength(units: Int, headerUnits: Int)
    /// Option type (offset 2, low 13 bits) other than SGT.
    case unknownOptionType(UInt16)
    /// SGT (offset 4) of 0xFFFF.
    case reservedSGT
    /// Inner EtherType (offset 6) other than 0x0800 or 0x86DD.
    case unknownInnerEtherType(UInt16)

    /// The counter a pipeline increments for this error.
    public var dropReason: DropReason {
        switch self {
        case .truncated: return .cmdTruncated
        case .invalidVersion: return .cmdInvalidVersion
        case .invalidLength: return .cmdInvalidLength
        case .invalidOptionLength, .unknownOptionType: return .cmdInvalidOption
        case .reservedSGT: return .cmdReservedSGT
        case .unknownInnerEtherType: return .cmdUnknownEtherType
        }
    }

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "CMD truncated at offset 0: needs \(needed) bytes, payload has \(available)"
        case .invalidVersion(let value):
            return "CMD version at offset 0 is \(value), expected 1"
        case .invalidLength(let value):
            return "CMD length at offset 1 is \(value), expected at least 1"
        case .invalidOptionLength(let units, let headerUnits):
            return "CMD option length at offset 2 is \(units) units, which does not fit a "
                + "header of \(headerUnits) units"
        case .unknownOptionType(let type):
            return "CMD option type at offset 2 is \(type), expected 1 (SGT)"
        case .reservedSGT:
            return "CMD SGT at offset 4 is 65535, which is reserved"
        case .unknownInnerEtherType(let type):
            return "CMD inner EtherType at offset 6 is 0x\(String(type, radix: 16)), "
                + "expected 0x800 or 0x86dd"
        }
    }
}
