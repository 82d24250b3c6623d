// Nonce payload (RFC 7296 §3.9).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                            Nonce Data                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

/// Random data from the sender, 16 to 256 bytes.
public struct NoncePayload: Equatable, Sendable {
    public static let minimumLength = 16
    public static let maximumLength = 256

    public var nonce: [UInt8]

    public init(nonce: [UInt8]) { self.nonce = nonce }

    func encodeBody(into writer: inout ByteWriter) {
        writer.append(contentsOf: nonce)
    }

    static func decodeBody(_ reader: inout ByteReader) throws -> NoncePayload {
        NoncePayload(nonce: reader.readRest())
    }

    /// Checks the meaning: RFC 7296 §3.9 allows 16 to 256 bytes.
    func validate() throws {
        guard (NoncePayload.minimumLength...NoncePayload.maximumLength).contains(nonce.count)
        else {
            throw IKEProtocolError.invalidPayload("nonce of \(nonce.count) bytes")
        }
    }
}
