// Key Exchange payload (RFC 7296 §3.4).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   Diffie-Hellman Group Num    |           RESERVED            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Key Exchange Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

import TaglineCore

/// The sender's Diffie-Hellman public value.
public struct KEPayload: Equatable, Sendable {
    static let groupOffset = 0
    static let dataOffset = 4

    /// Raw group number, kept so that an unsupported group gets INVALID_KE_PAYLOAD.
    public var groupNumber: UInt16
    public var keyExchangeData: [UInt8]

    public init(group: DHGroup, keyExchangeData: [UInt8]) {
        self.groupNumber = group.rawValue
        self.keyExchangeData = keyExchangeData
    }

    init(groupNumber: UInt16, keyExchangeData: [UInt8]) {
        self.groupNumber = groupNumber
        self.keyExchangeData = keyExchangeData
    }

    public var group: DHGroup? { DHGroup(rawValue: groupNumber) }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(groupNumber)
        writer.append(UInt16(0))
        writer.append(contentsOf: keyExchangeData)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> KEPayload {
        let group = try reader.readUInt16("DH group number")
        try reader.skip(2, "KE reserved")
        return KEPayload(groupNumber: group, keyExchangeData: reader.readRest())
    }

    /// Checks the meaning: the data length matches the group (RFC 7296 §3.4).
    func validate() throws {
        guard let group else { return }
        guard keyExchangeData.count == group.publicValueLength else {
            throw IKEProtocolError.invalidPayload(
                "KE data of \(keyExchangeData.count) bytes for group \(group.rawValue)")
        }
    }
}
