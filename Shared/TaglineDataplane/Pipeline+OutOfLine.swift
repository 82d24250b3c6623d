// Rare branches of the packet path, out of line. Each takes the packet bytes
// instead of an IPPacketInfo and parses them again. A call that takes the
// struct made the compiler store all of its fields on the stack for every
// packet, even where the branch was never taken: about 35 instructions per
// packet in deliverPayload, by callgrind.

import TaglineCore

extension Pipeline {
    /// Returns why `packet`, an inner packet of `state` that failed the inbound selector
    /// check, is dropped.
    @inline(never)
    func inboundMismatchReason(
        _ saTable: SATable, _ state: SAState, packet: UnsafeRawBufferPointer
    ) -> DropReason {
        guard let info = IPPacketInfo.parse(packet) else { return .invalidInnerPacket }
        guard ICMPErrorKind.namesOneHost(info.source) else { return .martianSource }
        return saTable.inboundMismatchReason(state, info: info)
    }

    /// Returns why `packet`, an inside packet that matched no outbound SA, is dropped.
    @inline(never)
    func outboundMissReason(_ saTable: SATable, packet: UnsafeRawBufferPointer) -> DropReason {
        guard let info = IPPacketInfo.parse(packet) else { return .invalidIPHeader }
        return saTable.outboundMissReason(for: info)
    }

    /// Runs `deliverFragments` on a decrypted inner packet larger than the inside MTU.
    @inline(never)
    func deliverFragments<Sink: FrameSink, ReplySink: FrameSink>(
        _ packet: UnsafeRawBufferPointer, nextHop: IPAddress, saTable: SATable,
        forwarding: ForwardingTable, sink: Sink, replySink: ReplySink?
    ) -> PacketVerdict {
        guard let info = IPPacketInfo.parse(packet) else { return drop(.invalidInnerPacket) }
        return deliverFragments(
            packet, info: info, nextHop: nextHop, saTable: saTable, forwarding: forwarding,
            sink: sink, replySink: replySink)
    }
}
