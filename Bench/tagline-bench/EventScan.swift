// Reads the few fields the IKE rate benchmark needs from an event body by
// searching for their keys instead of decoding the JSON. A round brings a few
// thousand events, and decoding each whole body with JSONDecoder would take
// CPU from the services under test. Bus bodies are written with sorted keys
// and without spaces (Envelope.encodeBody), so each key appears in one form.

enum EventScan {
    /// Returns the tunnel id of an `ike.sa.event` that reports an IKE SA up
    /// with at least one Child SA, or nil for any other event.
    static func upTunnelID(_ body: [UInt8]) -> Int? {
        guard find(#""event":"up""#, in: body) != nil,
            let spis = find(#""childSAInboundSPIs":["#, in: body), spis < body.count,
            body[spis] != UInt8(ascii: "]"),
            let id = find(#""tunnelID":"#, in: body)
        else { return nil }
        return Int(digits(body, from: id))
    }

    /// Returns the inbound SPI of an `sa.child.update` that adds or replaces
    /// a Child SA, or nil for a removal. The key comes after the item, so the
    /// last `"key":"` is the update's own.
    static func addedChildSPI(_ body: [UInt8]) -> UInt32? {
        guard find(#""item":null"#, in: body) == nil,
            let key = find(#""key":""#, in: body, last: true)
        else { return nil }
        return UInt32(digits(body, from: key))
    }

    /// Returns the index just past the first (or last) occurrence of `marker`.
    static func find(_ marker: String, in body: [UInt8], last: Bool = false) -> Int? {
        let pattern = Array(marker.utf8)
        guard body.count >= pattern.count else { return nil }
        let highest = body.count - pattern.count
        let starts =
            last
            ? stride(from: highest, through: 0, by: -1) : stride(from: 0, through: highest, by: 1)
        for start in starts where body[start] == pattern[0] {
            if body[start..<(start + pattern.count)].elementsEqual(pattern) {
                return start + pattern.count
            }
        }
        return nil
    }

    /// Returns the decimal digits that start at `index`.
    static func digits(_ body: [UInt8], from index: Int) -> String {
        var end = index
        while end < body.count, body[end] >= UInt8(ascii: "0"), body[end] <= UInt8(ascii: "9") {
            end += 1
        }
        return String(decoding: body[index..<end], as: UTF8.self)
    }
}
