// Traffic Selector payloads TSi and TSr (RFC 7296 §3.13).
//
// Payload body:
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Number of TSs |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       <Traffic Selectors>                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Each traffic selector (§3.13.1):
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   TS Type     |IP Protocol ID*|       Selector Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Start Port*         |           End Port*           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Starting Address*                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Ending Address*                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import TaglineCore

/// The traffic selectors of one side of a Child SA.
public struct TSPayload: Equatable, Sendable {
    static let countOffset = 0
    static let selectorsOffset = 4
    static let selectorHeaderSize = 8
    /// TS_IPV4_ADDR_RANGE: 8-byte header and two 4-byte addresses.
    static let ipv4RangeType: UInt8 = 7
    static let ipv4SelectorLength = 16
    /// TS_IPV6_ADDR_RANGE: 8-byte header and two 16-byte addresses.
    static let ipv6RangeType: UInt8 = 8
    static let ipv6SelectorLength = 40

    public var selectors: [TrafficSelector]

    public init(selectors: [TrafficSelector]) { self.selectors = selectors }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(UInt8(selectors.count))
        writer.append(contentsOf: [0, 0, 0] as [UInt8])
        for selector in selectors {
            let isIPv4 = selector.startAddress.isIPv4
            writer.append(isIPv4 ? TSPayload.ipv4RangeType : TSPayload.ipv6RangeType)
            writer.append(selector.ipProtocol)
            let length = isIPv4 ? TSPayload.ipv4SelectorLength : TSPayload.ipv6SelectorLength
            writer.append(UInt16(length))
            writer.append(selector.startPort)
            writer.append(selector.endPort)
            writer.append(contentsOf: selector.startAddress.bytes)
            writer.append(contentsOf: selector.endAddress.bytes)
        }
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> TSPayload {
        let countOffset = reader.offset
        let count = try reader.readUInt8("number of TSs")
        guard count > 0 else {
            throw IKEDecodeError.invalidValue(field: "number of TSs", offset: countOffset, value: 0)
        }
        try reader.skip(3, "TS reserved")
        var selectors: [TrafficSelector] = []
        for _ in 0..<Int(count) {
            let start = reader.offset
            let type = try reader.readUInt8("TS type")
            let ipProtocol = try reader.readUInt8("TS IP protocol ID")
            let length = try reader.readUInt16("selector length")
            let addressLength: Int
            switch type {
            case ipv4RangeType:
                addressLength = 4
                guard Int(length) == ipv4SelectorLength else {
                    throw IKEDecodeError.invalidLength(
                        field: "selector length", offset: start + 2, value: UInt64(length))
                }
            case ipv6RangeType:
                addressLength = 16
                guard Int(length) == ipv6SelectorLength else {
                    throw IKEDecodeError.invalidLength(
                        field: "selector length", offset: start + 2, value: UInt64(length))
                }
            default:
                throw IKEDecodeError.invalidValue(
                    field: "TS type", offset: start, value: UInt64(type))
            }
            let startPort = try reader.readUInt16("TS start port")
            let endPort = try reader.readUInt16("TS end port")
            let startBytes = try reader.readBytes(addressLength, "TS starting address")
            let endBytes = try reader.readBytes(addressLength, "TS ending address")
            // Both arrays have exactly 4 or 16 bytes here, so the addresses always exist.
            selectors.append(
                TrafficSelector(
                    startAddress: IPAddress(bytes: startBytes)!,
                    endAddress: IPAddress(bytes: endBytes)!, ipProtocol: ipProtocol,
                    startPort: startPort, endPort: endPort))
        }
        guard reader.isAtEnd else {
            throw IKEDecodeError.invalidLength(
                field: "TS payload trailing bytes", offset: reader.offset,
                value: UInt64(reader.remaining))
        }
        return TSPayload(selectors: selectors)
    }
}
