// Transform substructure and transform attributes (RFC 7296 §3.3.2, §3.3.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |        Transform Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Transform Type |   RESERVED    |          Transform ID         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Transform Attributes                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Attribute (AF = 1: Type/Value with a 2-byte value; AF = 0: Type/Length/Value):
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |A|       Attribute Type        |    AF=0  Attribute Length     |
// |F|                             |    AF=1  Attribute Value      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                   AF=0  Attribute Value                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Transform types (RFC 7296 §3.3.2).
public enum TransformType: UInt8, Sendable, Codable {
    case encryption = 1
    case prf = 2
    case integrity = 3
    case diffieHellman = 4
    case extendedSequenceNumbers = 5
}

/// One transform of a proposal.
public struct Transform: Equatable, Sendable {
    static let headerSize = 8
    static let lastSubstructureOffset = 0
    static let lengthOffset = 2
    static let typeOffset = 4
    static let idOffset = 6
    /// Last Substruc value of a transform followed by another one.
    static let moreFollow: UInt8 = 3

    static let attributeFormatBit: UInt16 = 0x8000
    /// Attribute type 14, Key Length in bits (TV format).
    static let keyLengthAttribute: UInt16 = 14

    /// Raw type, kept so that a proposal with an unknown type can be recognized and skipped.
    public var rawType: UInt8
    public var id: UInt16
    /// The Key Length attribute, for variable-length ciphers such as AES.
    public var keyLength: UInt16?
    /// Set when the transform carried an attribute other than Key Length. RFC
    /// 7296 §3.3.6 makes the proposal unacceptable then.
    public var hasUnknownAttributes: Bool

    public var type: TransformType? { TransformType(rawValue: rawType) }

    public init(type: TransformType, id: UInt16, keyLength: UInt16? = nil) {
        self.rawType = type.rawValue
        self.id = id
        self.keyLength = keyLength
        self.hasUnknownAttributes = false
    }

    init(rawType: UInt8, id: UInt16, keyLength: UInt16?, hasUnknownAttributes: Bool) {
        self.rawType = rawType
        self.id = id
        self.keyLength = keyLength
        self.hasUnknownAttributes = hasUnknownAttributes
    }

    func encode(into writer: inout ByteWriter, isLast: Bool) {
        let start = writer.count
        writer.append(isLast ? UInt8(0) : Transform.moreFollow)
        writer.append(UInt8(0))
        let lengthPosition = writer.placeholder16()
        writer.append(rawType)
        writer.append(UInt8(0))
        writer.append(id)
        if let keyLength {
            writer.append(Transform.attributeFormatBit | Transform.keyLengthAttribute)
            writer.append(keyLength)
        }
        writer.patchLength16(at: lengthPosition, from: start)
    }

    /// Decodes one transform; returns it with its Last Substruc value.
    static func decode(_ reader: inout ByteReader) throws -> (Transform, isLast: Bool) {
        let start = reader.offset
        let last = try reader.readUInt8("transform last substructure")
        guard last == 0 || last == moreFollow else {
            throw IKEDecodeError.invalidValue(
                field: "transform last substructure", offset: start, value: UInt64(last))
        }
        try reader.skip(1, "transform reserved")
        let length = try reader.readUInt16("transform length")
        guard Int(length) >= headerSize else {
            throw IKEDecodeError.invalidLength(
                field: "transform length", offset: start + lengthOffset, value: UInt64(length))
        }
        var body = try ByteReader.substructureBody(
            &reader, start: start, length: Int(length), field: "transform length")
        let rawType = try body.readUInt8("transform type")
        try body.skip(1, "transform reserved")
        let id = try body.readUInt16("transform ID")

        var keyLength: UInt16?
        var unknown = false
        while !body.isAtEnd {
            let typeField = try body.readUInt16("attribute type")
            let attributeType = typeField & ~attributeFormatBit
            if typeField & attributeFormatBit != 0 {
                let value = try body.readUInt16("attribute value")
                if attributeType == keyLengthAttribute {
                    keyLength = value
                } else {
                    unknown = true
                }
            } else {
                let valueLength = try body.readUInt16("attribute length")
                try body.skip(Int(valueLength), "attribute value")
                // Key Length must be TV; a TLV form of it, or any other TLV, is not understood.
                unknown = true
            }
        }
        let transform = Transform(
            rawType: rawType, id: id, keyLength: keyLength, hasUnknownAttributes: unknown)
        return (transform, last == 0)
    }
}

extension ByteReader {
    /// Returns a reader over the rest of a substructure whose 4-byte header was
    /// already read. `length` counts from `start` and includes that header.
    static func substructureBody(
        _ reader: inout ByteReader, start: Int, length: Int, field: String
    ) throws -> ByteReader {
        let bodyLength = length - (reader.offset - start)
        guard bodyLength >= 0, bodyLength <= reader.remaining else {
            throw IKEDecodeError.invalidLength(
                field: field, offset: start + 2, value: UInt64(length))
        }
        return try reader.subReader(bodyLength, field)
    }
}
