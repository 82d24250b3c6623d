// Big-endian reads and writes on raw packet buffers. Callers check bounds
// first; these helpers only assert them, so a wire length never reaches an
// unchecked read.

import TaglineCore

extension UnsafeRawBufferPointer {
    /// Reads a network-order UInt16 at `offset`; the caller has checked `offset + 2 <= count`.
    @inline(__always)
    func readUInt16(at offset: Int) -> UInt16 {
        assert(offset >= 0)
        assert(offset + 2 <= count)
        return UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Reads a network-order UInt32 at `offset`; the caller has checked `offset + 4 <= count`.
    @inline(__always)
    func readUInt32(at offset: Int) -> UInt32 {
        assert(offset >= 0)
        assert(offset + 4 <= count)
        return UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Reads a network-order UInt64 at `offset`; the caller has checked `offset + 8 <= count`.
    @inline(__always)
    func readUInt64(at offset: Int) -> UInt64 {
        assert(offset >= 0)
        assert(offset + 8 <= count)
        return UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Reads an IPv4 (4 bytes) or IPv6 (16 bytes) address at `offset`.
    @inline(__always)
    func readAddress(at offset: Int, isIPv4: Bool) -> IPAddress {
        if isIPv4 { return .v4(readUInt32(at: offset)) }
        return .v6(readUInt64(at: offset), readUInt64(at: offset + 8))
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func writeUInt16(_ value: UInt16, at offset: Int) {
        assert(offset >= 0)
        assert(offset + 2 <= count)
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inline(__always)
    func writeUInt32(_ value: UInt32, at offset: Int) {
        assert(offset >= 0)
        assert(offset + 4 <= count)
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inline(__always)
    func writeUInt64(_ value: UInt64, at offset: Int) {
        assert(offset >= 0)
        assert(offset + 8 <= count)
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt64.self)
    }

    /// Writes an IPv4 or IPv6 address in network order at `offset`.
    @inline(__always)
    func writeAddress(_ address: IPAddress, at offset: Int) {
        switch address {
        case .v4(let value): writeUInt32(value, at: offset)
        case .v6(let high, let low):
            writeUInt64(high, at: offset)
            writeUInt64(low, at: offset + 8)
        }
    }

    /// Copies `source` to `offset`; the caller has checked that it fits.
    @inline(__always)
    func copyBytes(from source: UnsafeRawBufferPointer, at offset: Int) {
        assert(offset >= 0)
        assert(offset + source.count <= count)
        guard source.count > 0, let base = baseAddress, let from = source.baseAddress else {
            return
        }
        (base + offset).copyMemory(from: from, byteCount: source.count)
    }
}

extension UnsafeRawBufferPointer {
    /// Returns the bytes in `range` as a buffer of their own; the caller has checked the range.
    @inline(__always)
    func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer {
        assert(offset >= 0)
        assert(length >= 0)
        assert(offset + length <= count)
        // Pointer arithmetic, because `rebasing: self[range]` first builds and checks a Range,
        // which costs several instructions per slice on the packet path.
        guard let base = baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + offset, count: length)
    }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func slice(_ offset: Int, _ length: Int) -> UnsafeMutableRawBufferPointer {
        assert(offset >= 0)
        assert(length >= 0)
        assert(offset + length <= count)
        guard let base = baseAddress else {
            return UnsafeMutableRawBufferPointer(start: nil, count: 0)
        }
        return UnsafeMutableRawBufferPointer(start: base + offset, count: length)
    }
}
