// Persistence of the stored datagrams of an IKE SA as hex text. Foundation's
// JSONEncoder writes a [UInt8] as an array of numbers, which costs several
// times the time and space of hex for a datagram of a few hundred bytes, and
// every established IKE SA is written with its last response. Decoding also
// takes the array form, which earlier versions wrote.

import TaglineCore

/// Decodes `key` as hex text, or as an array of numbers.
private func decodeBytes<Key: CodingKey>(
    _ container: KeyedDecodingContainer<Key>, _ key: Key
) throws -> [UInt8] {
    if let text = try? container.decode(String.self, forKey: key) {
        guard let bytes = Hex.decode(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container, debugDescription: "invalid hex datagram")
        }
        return bytes
    }
    return try container.decode([UInt8].self, forKey: key)
}

extension OutstandingRequest {
    private enum CodingKeys: String, CodingKey {
        case messageID, exchange, bytes, firstSentAt, transmissions, nextRetransmitAt
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            messageID: try container.decode(UInt32.self, forKey: .messageID),
            exchange: try container.decode(ExchangeType.self, forKey: .exchange),
            bytes: try decodeBytes(container, .bytes),
            firstSentAt: try container.decode(Double.self, forKey: .firstSentAt),
            transmissions: try container.decode(Int.self, forKey: .transmissions),
            nextRetransmitAt: try container.decode(Double.self, forKey: .nextRetransmitAt))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(messageID, forKey: .messageID)
        try container.encode(exchange, forKey: .exchange)
        try container.encode(Hex.encode(bytes), forKey: .bytes)
        try container.encode(firstSentAt, forKey: .firstSentAt)
        try container.encode(transmissions, forKey: .transmissions)
        try container.encode(nextRetransmitAt, forKey: .nextRetransmitAt)
    }
}

extension CachedResponse {
    private enum CodingKeys: String, CodingKey {
        case messageID, bytes
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            messageID: try container.decode(UInt32.self, forKey: .messageID),
            bytes: try decodeBytes(container, .bytes))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(messageID, forKey: .messageID)
        try container.encode(Hex.encode(bytes), forKey: .bytes)
    }
}
