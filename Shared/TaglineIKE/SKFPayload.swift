// Encrypted and Authenticated Fragment payload, SKF (RFC 7383 §2.5).
//
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |        Fragment Number        |        Total Fragments        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Encrypted content                        ~
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |               |             Padding (0-255 octets)            |
// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
// |                                               |  Pad Length   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A message too large for one datagram is sent as several IKE messages with
// the same header fields, each carrying one SKF payload. The encoded inner
// payload chain is cut into pieces and each piece is encrypted and protected
// on its own, as an SK payload would be. The checksum (CBC) or the additional
// data (AEAD) covers the Fragment Number and Total Fragments fields. Fragment
// numbers start at 1. Only fragment 1 names the first inner payload in Next
// Payload; the others carry 0.

import TaglineCore

enum SKFPayload {
    /// The generic payload header plus Fragment Number and Total Fragments.
    static let headerLength = 8
    static let fragmentNumberOffset = 4
    static let totalFragmentsOffset = 6

    /// One fragment after its checksum verified and its content was decrypted.
    struct Fragment: Equatable {
        var number: Int
        var total: Int
        /// Next Payload of the SKF header: the first inner payload in fragment 1.
        var firstInnerType: UInt8
        /// This fragment's piece of the inner payload chain, padding removed.
        var content: [UInt8]
    }

    /// Returns the largest piece of inner payload chain that fits one SKF
    /// message of at most `maximumMessageSize` bytes with `keys`, or nil when
    /// not even one byte fits.
    static func maximumContentLength(keys: SKKeys, maximumMessageSize: Int) -> Int? {
        let overhead = IKEHeader.size + headerLength + keys.ivLength + keys.checksumLength
        let block = keys.encryption.isAEAD ? 1 : keys.encryption.blockSize
        guard maximumMessageSize > overhead, block > 0 else { return nil }
        // Content, padding and the Pad Length byte fill whole cipher blocks.
        let encrypted = (maximumMessageSize - overhead) / block * block
        let content = encrypted - 1
        return content > 0 ? content : nil
    }

    /// Builds the SKF messages that carry `plaintext`, an encoded inner payload
    /// chain whose first payload has type `firstInnerType`. Each message is at
    /// most `maximumMessageSize` bytes. Throws `invalidPayload` when the size
    /// leaves no room for content or the message needs more than 65535 fragments.
    static func seal(
        header: IKEHeader, firstInnerType: UInt8, plaintext: [UInt8], keys: SKKeys,
        maximumMessageSize: Int, random: (Int) -> [UInt8]
    ) throws -> [[UInt8]] {
        guard
            let pieceLength = maximumContentLength(
                keys: keys, maximumMessageSize: maximumMessageSize)
        else {
            throw IKEProtocolError.invalidPayload(
                "fragment size \(maximumMessageSize) leaves no room for content")
        }
        var pieces: [ArraySlice<UInt8>] = []
        var start = 0
        repeat {
            let end = min(plaintext.count, start + pieceLength)
            pieces.append(plaintext[start..<end])
            start = end
        } while start < plaintext.count
        guard let total = UInt16(exactly: pieces.count) else {
            throw IKEProtocolError.invalidPayload("\(pieces.count) fragments needed")
        }

        var fragmentHeader = header
        fragmentHeader.nextPayload = PayloadType.encryptedFragment.rawValue
        var messages: [[UInt8]] = []
        for (index, piece) in pieces.enumerated() {
            var fields = ByteWriter()
            fields.append(UInt16(index + 1))
            fields.append(total)
            messages.append(
                try SKPayload.seal(
                    header: fragmentHeader, firstInnerType: index == 0 ? firstInnerType : 0,
                    plaintext: Array(piece), keys: keys, random: random,
                    headerFields: fields.bytes))
        }
        return messages
    }

    /// Reads the fragment fields of the SKF payload at `offset`, which ends
    /// `message`, then verifies and decrypts it. Throws `IKEDecodeError` for
    /// a Fragment Number of 0 or above Total Fragments, and
    /// `IKEProtocolError.integrityCheckFailed` for a bad checksum.
    static func open(message: [UInt8], offset: Int, firstInnerType: UInt8, keys: SKKeys) throws
        -> Fragment
    {
        var reader = ByteReader(message, offset: offset + fragmentNumberOffset)
        let number = try reader.readUInt16("fragment number")
        let total = try reader.readUInt16("total fragments")
        guard total >= 1 else {
            throw IKEDecodeError.invalidValue(
                field: "total fragments", offset: offset + totalFragmentsOffset, value: 0)
        }
        guard number >= 1, number <= total else {
            throw IKEDecodeError.invalidValue(
                field: "fragment number", offset: offset + fragmentNumberOffset,
                value: UInt64(number))
        }
        let content = try SKPayload.open(
            message: message, skOffset: offset, keys: keys, headerLength: headerLength)
        return Fragment(
            number: Int(number), total: Int(total), firstInnerType: firstInnerType,
            content: content)
    }
}
