// Bounds-checked big-endian reads and writes for the SXP codec. Every read
// checks the bytes left first and throws `SXPError.truncated` naming the
// field, so no wire value can index past the buffer.

/// A cursor over one message's bytes; `offset` counts from the message start.
struct SXPReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.offset = start
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    private mutating func take(_ count: Int, _ field: String) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else {
            throw SXPError.truncated(field: field, offset: offset, needed: count)
        }
        let slice = bytes[offset..<(offset + count)]
        offset += count
        return slice
    }

    mutating func readUInt8(_ field: String) throws -> UInt8 {
        try take(1, field).first!
    }

    mutating func readUInt16(_ field: String) throws -> UInt16 {
        try take(2, field).reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func readUInt24(_ field: String) throws -> UInt32 {
        try take(3, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func readUInt32(_ field: String) throws -> UInt32 {
        try take(4, field).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func readBytes(_ count: Int, _ field: String) throws -> [UInt8] {
        Array(try take(count, field))
    }

    mutating func skip(_ count: Int, _ field: String) throws {
        _ = try take(count, field)
    }
}

extension Array where Element == UInt8 {
    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    mutating func appendUInt32(_ value: UInt32) {
        append(UInt8(value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    /// Overwrites 4 bytes at `offset` with `value`, for a length patched after the body.
    mutating func patchUInt32(_ value: UInt32, at offset: Int) {
        self[offset] = UInt8(value >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: value)
    }
}
