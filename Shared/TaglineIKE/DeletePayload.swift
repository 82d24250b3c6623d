// Delete payload (RFC 7296 §3.11).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Protocol ID   |   SPI Size    |          Num of SPIs          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~               Security Parameter Index(es) (SPI)              ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Deleting the IKE SA itself: protocol 1, SPI size 0, no SPIs.

/// A request to delete the IKE SA or some of its Child SAs.
public struct DeletePayload: Equatable, Sendable {
    static let protocolOffset = 0
    static let spiSizeOffset = 1
    static let countOffset = 2
    static let spisOffset = 4
    static let espSPISize = 4

    public var protocolID: UInt8
    public var spiSize: UInt8
    public var spis: [[UInt8]]

    /// A Delete for the IKE SA that carries it.
    public static let ikeSA = DeletePayload(
        protocolID: SecurityProtocol.ike.rawValue, spiSize: 0,
        spis: [])

    /// Creates a Delete for ESP SAs, naming the SPIs the sender receives on.
    public init(espSPIs: [UInt32]) {
        self.protocolID = SecurityProtocol.esp.rawValue
        self.spiSize = UInt8(DeletePayload.espSPISize)
        self.spis = espSPIs.map { spi in
            (0..<4).map { UInt8(truncatingIfNeeded: spi >> UInt32(24 - 8 * $0)) }
        }
    }

    init(protocolID: UInt8, spiSize: UInt8, spis: [[UInt8]]) {
        self.protocolID = protocolID
        self.spiSize = spiSize
        self.spis = spis
    }

    /// The SPIs as numbers when this deletes ESP or AH SAs.
    public var espSPIs: [UInt32] {
        guard spiSize == 4 else { return [] }
        return spis.map { $0.reduce(0) { $0 << 8 | UInt32($1) } }
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(protocolID)
        writer.append(spiSize)
        writer.append(UInt16(spis.count))
        for spi in spis { writer.append(contentsOf: spi) }
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> DeletePayload {
        let start = reader.offset
        let protocolID = try reader.readUInt8("delete protocol ID")
        let spiSize = try reader.readUInt8("delete SPI size")
        let count = try reader.readUInt16("number of SPIs")
        // An IKE SA Delete names no SPI: the header identifies the SA (RFC 7296 §3.11).
        if protocolID == SecurityProtocol.ike.rawValue, spiSize != 0 || count != 0 {
            throw IKEDecodeError.invalidValue(
                field: "number of SPIs", offset: start + countOffset, value: UInt64(count))
        }
        // The SPIs must fill the payload exactly (checked arithmetic: both factors are small).
        guard Int(spiSize) * Int(count) == reader.remaining else {
            throw IKEDecodeError.invalidLength(
                field: "number of SPIs", offset: start + countOffset, value: UInt64(count))
        }
        var spis: [[UInt8]] = []
        for _ in 0..<Int(count) {
            spis.append(try reader.readBytes(Int(spiSize), "delete SPI"))
        }
        return DeletePayload(protocolID: protocolID, spiSize: spiSize, spis: spis)
    }
}
