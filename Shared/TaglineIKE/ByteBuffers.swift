// Bounds-checked reading and length-patching writing of network-order
// integers, shared by every IKE payload codec.

/// Reads network-order fields from a byte array, checking bounds before each read.
///
/// Offsets are absolute indices into `bytes`, so errors name the same offset a
/// packet capture shows.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int
    /// One past the last byte this reader may read.
    let end: Int

    init(_ bytes: [UInt8], offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        self.offset = offset
        self.end = end ?? bytes.count
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    /// Throws `truncated` unless `count` more bytes are available for `field`.
    func require(_ count: Int, _ field: String) throws {
        if count < 0 || count > end - offset {
            throw IKEDecodeError.truncated(field: field, offset: offset, needed: count)
        }
    }

    mutating func readUInt8(_ field: String) throws -> UInt8 {
        try require(1, field)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt16(_ field: String) throws -> UInt16 {
        try require(2, field)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func readUInt32(_ field: String) throws -> UInt32 {
        try require(4, field)
        var value: UInt32 = 0
        for index in offset..<(offset + 4) { value = value << 8 | UInt32(bytes[index]) }
        offset += 4
        return value
    }

    mutating func readUInt64(_ field: String) throws -> UInt64 {
        try require(8, field)
        var value: UInt64 = 0
        for index in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[index]) }
        offset += 8
        return value
    }

    mutating func readBytes(_ count: Int, _ field: String) throws -> [UInt8] {
        try require(count, field)
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Reads everything up to `end`.
    mutating func readRest() -> [UInt8] {
        defer { offset = end }
        return offset < end ? Array(bytes[offset..<end]) : []
    }

    mutating func skip(_ count: Int, _ field: String) throws {
        try require(count, field)
        offset += count
    }

    /// Returns a reader over the next `count` bytes and moves this reader past them.
    mutating func subReader(_ count: Int, _ field: String) throws -> ByteReader {
        try require(count, field)
        defer { offset += count }
        return ByteReader(bytes, offset: offset, end: offset + count)
    }
}

/// Appends network-order fields to a growing byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init() {}

    var count: Int { bytes.count }

    mutating func append(_ value: UInt8) { bytes.append(value) }

    mutating func append(_ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    mutating func append(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    mutating func append(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    mutating func append<C: Collection>(contentsOf data: C) where C.Element == UInt8 {
        bytes.append(contentsOf: data)
    }

    /// Writes a 16-bit placeholder and returns its position for `patchLength16`.
    mutating func placeholder16() -> Int {
        defer { append(UInt16(0)) }
        return bytes.count
    }

    /// Writes a 32-bit placeholder and returns its position for `patchLength32`.
    mutating func placeholder32() -> Int {
        defer { append(UInt32(0)) }
        return bytes.count
    }

    /// Stores the number of bytes from `start` to the end in the 16-bit field at `position`.
    ///
    /// An encoder only builds payloads whose length fits, so an overflow is a
    /// programming error.
    mutating func patchLength16(at position: Int, from start: Int) {
        let length = bytes.count - start
        precondition(length <= Int(UInt16.max), "IKE payload longer than 65535 bytes")
        bytes[position] = UInt8(length >> 8)
        bytes[position + 1] = UInt8(truncatingIfNeeded: length)
    }

    mutating func patchLength32(at position: Int, from start: Int) {
        let length = UInt32(bytes.count - start)
        for index in 0..<4 {
            bytes[position + index] = UInt8(truncatingIfNeeded: length >> UInt32(24 - 8 * index))
        }
    }
}
