// Fragmentation before encryption. An IPv4 packet without DF that is too big
// for the tunnel is cut into fragments (RFC 791 §3.2) that each fit. Each
// fragment travels in its own ESP packet with its own CMD, because every
// fragment carries the source address the tag is looked up for. The
// receiving host reassembles the fragments.

import TaglineCore

extension Pipeline {
    /// Fragments `packet` so each fragment carries at most `maximumLength` bytes, and
    /// encapsulates every fragment. `transportChecksum` is a checksum the sender left to the
    /// device, written into the fragment that contains its field. Packets with IPv4 options
    /// are dropped instead, because the options that may not be copied into later fragments
    /// are not sorted out here.
    func fragmentAndEncapsulate<Sink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, info: IPPacketInfo, maximumLength: Int,
        transportChecksum: (offset: Int, value: UInt16)?, state: SAState, sgt: SGT?,
        forwarding: ForwardingTable, sink: Sink
    ) -> PacketVerdict {
        let headerLength = info.headerLength
        let chunkLength = (maximumLength - headerLength) / 8 * 8
        guard headerLength == IPv4.minimumHeaderSize, chunkLength > 0 else {
            state.counters.add(.encapsFailed)
            return drop(.tooBig)
        }
        let originalFlags = packet.readUInt16(at: IPv4.flagsOffset)
        let originalOffset = Int(originalFlags & IPv4.fragmentOffsetMask)
        let originalMoreFragments = originalFlags & IPv4.moreFragments != 0
        let dataLength = info.length - headerLength

        var frames = SplitFrames()
        var start = 0
        while start < dataLength && !frames.isStopped {
            let length = min(chunkLength, dataLength - start)
            let isLast = start + length >= dataLength
            let moreFragments = !isLast || originalMoreFragments
            let fragmentOffset = UInt16(originalOffset + start / 8)
            let verdict = encapsulate(
                innerLength: headerLength + length, info: info, state: state, sgt: sgt,
                forwarding: forwarding, sink: sink
            ) { out in
                out.copyBytes(from: packet.slice(0, headerLength), at: 0)
                out.copyBytes(from: packet.slice(headerLength + start, length), at: headerLength)
                if let checksum = transportChecksum {
                    let position = checksum.offset - start
                    if position >= headerLength && position + 2 <= headerLength + length {
                        out.writeUInt16(checksum.value, at: position)
                    }
                }
                out.writeUInt16(UInt16(headerLength + length), at: IPv4.totalLengthOffset)
                out.writeUInt16(
                    (moreFragments ? IPv4.moreFragments : 0) | fragmentOffset,
                    at: IPv4.flagsOffset)
                out[IPv4.ttlOffset] &-= 1
                out.writeUInt16(0, at: IPv4.checksumOffset)
                let sum = InternetChecksum.sum(UnsafeRawBufferPointer(out.slice(0, headerLength)))
                out.writeUInt16(InternetChecksum.finish(sum), at: IPv4.checksumOffset)
                return true
            }
            frames.add(verdict)
            start += length
        }
        return frames.verdict(otherwise: .tooBig)
    }
}
