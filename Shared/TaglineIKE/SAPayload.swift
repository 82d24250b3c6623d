// Security Association payload and its Proposal substructures (RFC 7296 §3.3).
//
// SA payload body: one or more proposals.
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |         Proposal Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        SPI (variable)                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        <Transforms>                           ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Protocol IDs of proposals, notifies and deletes (RFC 7296 §3.3.1).
public enum SecurityProtocol: UInt8, Sendable, Codable {
    case ike = 1
    case ah = 2
    case esp = 3
}

/// One proposal of an SA payload.
public struct Proposal: Equatable, Sendable {
    static let headerSize = 8
    static let lengthOffset = 2
    /// Last Substruc value of a proposal followed by another one.
    static let moreFollow: UInt8 = 2

    /// Proposal number: 1 for the first, incremented by one for each further proposal.
    public var number: UInt8
    /// Raw protocol ID, so that an AH proposal can be recognized and declined.
    public var rawProtocol: UInt8
    /// Sender's SPI: empty for IKE_SA_INIT, 4 bytes for ESP, 8 for an IKE SA rekey.
    public var spi: [UInt8]
    public var transforms: [Transform]

    public var securityProtocol: SecurityProtocol? { SecurityProtocol(rawValue: rawProtocol) }

    public init(number: UInt8, protocol: SecurityProtocol, spi: [UInt8], transforms: [Transform]) {
        self.number = number
        self.rawProtocol = `protocol`.rawValue
        self.spi = spi
        self.transforms = transforms
    }

    /// Returns the transforms of one type, in the order offered.
    public func transforms(of type: TransformType) -> [Transform] {
        transforms.filter { $0.rawType == type.rawValue }
    }

    /// The ESP SPI as a number; nil unless the SPI is 4 bytes.
    public var espSPI: UInt32? {
        guard spi.count == 4 else { return nil }
        return spi.reduce(0) { $0 << 8 | UInt32($1) }
    }

    func encode(into writer: inout ByteWriter, isLast: Bool) {
        let start = writer.count
        writer.append(isLast ? UInt8(0) : Proposal.moreFollow)
        writer.append(UInt8(0))
        let lengthPosition = writer.placeholder16()
        writer.append(number)
        writer.append(rawProtocol)
        writer.append(UInt8(spi.count))
        writer.append(UInt8(transforms.count))
        writer.append(contentsOf: spi)
        for (index, transform) in transforms.enumerated() {
            transform.encode(into: &writer, isLast: index == transforms.count - 1)
        }
        writer.patchLength16(at: lengthPosition, from: start)
    }

    static func decode(_ reader: inout ByteReader) throws -> (Proposal, isLast: Bool) {
        let start = reader.offset
        let last = try reader.readUInt8("proposal last substructure")
        guard last == 0 || last == moreFollow else {
            throw IKEDecodeError.invalidValue(
                field: "proposal last substructure", offset: start, value: UInt64(last))
        }
        try reader.skip(1, "proposal reserved")
        let length = try reader.readUInt16("proposal length")
        guard Int(length) >= headerSize else {
            throw IKEDecodeError.invalidLength(
                field: "proposal length", offset: start + lengthOffset, value: UInt64(length))
        }
        var body = try ByteReader.substructureBody(
            &reader, start: start, length: Int(length), field: "proposal length")
        let number = try body.readUInt8("proposal number")
        let rawProtocol = try body.readUInt8("protocol ID")
        let spiSize = try body.readUInt8("SPI size")
        let transformCount = try body.readUInt8("number of transforms")
        let spi = try body.readBytes(Int(spiSize), "proposal SPI")

        var transforms: [Transform] = []
        var sawLast = false
        while !body.isAtEnd {
            if sawLast {
                throw IKEDecodeError.invalidLength(
                    field: "proposal length", offset: start + lengthOffset, value: UInt64(length))
            }
            let (transform, isLast) = try Transform.decode(&body)
            transforms.append(transform)
            sawLast = isLast
        }
        guard sawLast, transforms.count == Int(transformCount) else {
            throw IKEDecodeError.invalidValue(
                field: "number of transforms", offset: start + 7, value: UInt64(transformCount))
        }
        var proposal = Proposal(number: number, protocol: .ike, spi: spi, transforms: transforms)
        proposal.rawProtocol = rawProtocol
        return (proposal, last == 0)
    }
}

/// The SA payload: the proposals offered, or the single proposal chosen.
public struct SAPayload: Equatable, Sendable {
    public var proposals: [Proposal]

    public init(proposals: [Proposal]) { self.proposals = proposals }

    func encodeBody(into writer: inout ByteWriter) {
        for (index, proposal) in proposals.enumerated() {
            proposal.encode(into: &writer, isLast: index == proposals.count - 1)
        }
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> SAPayload {
        var proposals: [Proposal] = []
        var sawLast = false
        while !reader.isAtEnd {
            let offset = reader.offset
            if sawLast {
                throw IKEDecodeError.invalidValue(
                    field: "proposal after the last one", offset: offset, value: 0)
            }
            let (proposal, isLast) = try Proposal.decode(&reader)
            // RFC 7296 §3.3.1: each proposal is numbered one higher than the one before.
            // A response carries only the accepted proposal, under its original number.
            if let previous = proposals.last, proposal.number != previous.number &+ 1 {
                throw IKEDecodeError.invalidValue(
                    field: "proposal number", offset: offset + 4, value: UInt64(proposal.number))
            }
            proposals.append(proposal)
            sawLast = isLast
        }
        guard sawLast else {
            throw IKEDecodeError.truncated(
                field: "last proposal", offset: reader.offset, needed: Proposal.headerSize)
        }
        return SAPayload(proposals: proposals)
    }
}
