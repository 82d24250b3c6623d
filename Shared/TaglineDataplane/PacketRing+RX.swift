// The TPACKET_V3 receive ring. The kernel fills blocks of frames and hands a
// block over by setting TP_STATUS_USER in its descriptor, also when the
// retire timeout expires on a partly filled block. The worker walks the
// frames and gives the block back with TP_STATUS_KERNEL.
//
//  block: | tpacket_block_desc | frame | frame | ... |
//  frame: | tpacket3_hdr | sockaddr_ll | ... | virtio_net_hdr | Ethernet frame (at tp_mac) |
//
// The ring receives a copy, before tc ingress. There the kernel's own copy
// of ESP is dropped on the outside (KernelPacketGuard) and that of transit
// packets on the inside (TransitDropFilter).

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Sizes of an RX ring.
public struct RXRingConfiguration: Sendable {
    /// Default ring size: 128 blocks of 128 KiB, an estimated 11,000 frames of 1400 bytes or
    /// 100,000 of 64 bytes, so the ring absorbs pauses of tens of milliseconds while the
    /// worker is descheduled. On a shared 2-core machine under a full-rate trafgen load,
    /// 4 MiB rings lost 1-28 % of the frames (mostly RX ring drops on the encrypting side)
    /// where 16 MiB rings lost 0.2-17 %, at the same rate received.
    public static let defaultMebibytes = 16
    /// Upper bound of `--rx-ring-mib`, per ring. Each worker maps one ring per interface.
    public static let maximumMebibytes = 1024

    /// Bytes per block; a multiple of the page size, and larger than the largest GSO frame
    /// (64 KiB plus headers) so no frame is truncated. A block reaches the worker only when
    /// it is full or retired, so a smaller block adds less delay: 128 KiB of 1400-byte TCP
    /// segments fill in about half a millisecond at 2 Gbit/s.
    public var blockSize: Int = 1 << 17
    public var blockCount: Int = RXRingConfiguration.defaultMebibytes * 8
    /// Milliseconds after which the kernel hands over a block that is not full. 1 is the
    /// smallest value, and it bounds how long a frame of a slow flow waits in each ring.
    public var retireTimeoutMilliseconds: UInt32 = 1

    public init() {}

    /// Creates a ring of `mebibytes` MiB in default-size blocks, clamped to
    /// 1...`maximumMebibytes`.
    public init(mebibytes: Int) {
        let clamped = min(max(mebibytes, 1), RXRingConfiguration.maximumMebibytes)
        blockCount = clamped * (1 << 20) / blockSize
    }
}

/// One worker's receive ring on one interface.
public final class RXRing {
    public let interface: InterfaceInfo
    private let socket: PacketSocket
    private let configuration: RXRingConfiguration
    private var blockIndex = 0
    private static let frameAlignment = Int(TPACKET_ALIGNMENT)

    /// Frames the kernel dropped on this ring, and ring freezes, summed by `collectStatistics`.
    /// Only the control thread reads and writes them.
    private var ringDrops: UInt64 = 0
    private var ringFreezes: UInt64 = 0

    /// Adds the kernel's counters since the last call to the totals and returns the totals.
    /// A system call: the control thread calls it when it reports, never a worker.
    public func collectStatistics() -> (drops: UInt64, freezes: UInt64) {
        let taken = socket.takeRingStatistics()
        ringDrops &+= taken.drops
        ringFreezes &+= taken.freezes
        return (ringDrops, ringFreezes)
    }

    /// File descriptor to poll for readability while idle.
    public var fileDescriptor: Int32 { socket.fd }

    /// Opens the ring on `interface` and joins fanout group `fanoutGroup` (PACKET_FANOUT_HASH),
    /// so several workers share the interface's flows. A lone worker passes nil and joins no
    /// group: the kernel then skips the flow hash it would compute for every frame.
    public init(
        interface: InterfaceInfo, fanoutGroup: UInt16?,
        configuration: RXRingConfiguration = RXRingConfiguration()
    ) throws {
        try RingLayout.verify()
        self.interface = interface
        self.configuration = configuration
        socket = try PacketSocket()
        try socket.setOption(PACKET_VERSION, Int32(TPACKET_V3.rawValue), name: "PACKET_VERSION")
        // Offload metadata (checksum state, GSO size) in front of each frame.
        try socket.setOption(PACKET_VNET_HDR, Int32(1), name: "PACKET_VNET_HDR")
        var request = tpacket_req3()
        request.tp_block_size = UInt32(configuration.blockSize)
        request.tp_block_nr = UInt32(configuration.blockCount)
        // TPACKET_V3 packs frames of any size; frame_size only has to divide the block.
        request.tp_frame_size = UInt32(2048)
        request.tp_frame_nr = UInt32(configuration.blockSize / 2048 * configuration.blockCount)
        request.tp_retire_blk_tov = configuration.retireTimeoutMilliseconds
        try socket.setOption(PACKET_RX_RING, request, name: "PACKET_RX_RING")
        try socket.mapRing(size: configuration.blockSize * configuration.blockCount)
        try socket.bind(interfaceIndex: interface.index, protocol: UInt16(ETH_P_ALL))
        if let fanoutGroup {
            let fanout = UInt32(fanoutGroup) | UInt32(PACKET_FANOUT_HASH) << 16
            try socket.setOption(PACKET_FANOUT, fanout, name: "PACKET_FANOUT")
        }
    }

    /// Hands every frame of the next ready block to `handle`, then returns the block to the
    /// kernel. Frames the host itself sent (PACKET_OUTGOING) are skipped. Returns the number
    /// of frames handled; 0 when no block is ready.
    @discardableResult
    public func receiveBlock(
        _ handle: (UnsafeRawBufferPointer, OffloadHeader) -> Void
    ) -> Int {
        guard let ring = socket.ring else { return 0 }
        let block = ring + blockIndex * configuration.blockSize
        let statusPointer = (block + RingLayout.blockDescriptorStatusOffset)
            .assumingMemoryBound(to: UInt32.self)
        guard tagline_atomic_load_u32(statusPointer) & UInt32(TP_STATUS_USER) != 0 else { return 0 }

        let descriptor = block.assumingMemoryBound(to: tpacket_block_desc.self).pointee.hdr.bh1
        var frameOffset = Int(descriptor.offset_to_first_pkt)
        var handled = 0
        let addressOffset = RingLayout.align(RingLayout.tpacket3HeaderSize)
        for _ in 0..<Int(descriptor.num_pkts) {
            let frame = block + frameOffset
            let header = frame.assumingMemoryBound(to: tpacket3_hdr.self).pointee
            let address = (frame + addressOffset).assumingMemoryBound(to: sockaddr_ll.self).pointee
            let macOffset = Int(header.tp_mac)
            let length = Int(header.tp_snaplen)
            // Truncated frames (snaplen < len) cannot be forwarded; they are skipped.
            if address.sll_pkttype != UInt8(PACKET_OUTGOING), header.tp_snaplen == header.tp_len,
                macOffset >= RingLayout.virtioHeaderSize,
                frameOffset + macOffset + length <= configuration.blockSize
            {
                let virtio = (frame + macOffset - RingLayout.virtioHeaderSize)
                    .loadUnaligned(as: virtio_net_hdr.self)
                handle(
                    UnsafeRawBufferPointer(start: frame + macOffset, count: length),
                    OffloadHeader(virtio))
                handled += 1
            }
            if header.tp_next_offset == 0 { break }
            frameOffset += Int(header.tp_next_offset)
        }
        tagline_atomic_store_u32(statusPointer, UInt32(TP_STATUS_KERNEL))
        blockIndex = (blockIndex + 1) % configuration.blockCount
        return handled
    }
}
