// The TPACKET_V2 transmit ring. The worker writes a frame into the next
// available slot, marks it TP_STATUS_SEND_REQUEST and, once per burst (and
// when the ring fills), calls send() so the kernel transmits every marked
// slot straight to the driver (PACKET_QDISC_BYPASS). PACKET_TX_HAS_OFF lets each frame start at its own
// offset (tp_mac), which the inbound path uses to send a decrypted packet
// where it lies instead of moving it.
//
// Each frame is preceded by a virtio-net header (PACKET_VNET_HDR) whose
// hdr_len covers the frame up to `linearCopyLimit` bytes, so the kernel
// copies the frame into the linear part of its skb. Without it the kernel attaches the ring pages as
// zero-copy fragments, and a veth peer then copies them into freshly
// allocated pages (skb_copy_ubufs) before its own stack may see them.
//
//  slot: | tpacket2_hdr (32) | headroom (16) | data area ... |
//  sent: tp_mac -> | virtio_net_hdr (10) | Ethernet frame |

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// One worker's transmit ring on one interface; it is the pipeline's FrameSink.
public final class TXRing: FrameSink {
    public let interface: InterfaceInfo
    private let socket: PacketSocket
    private let frameSize: Int
    private let frameCount: Int
    // Touched once or twice per frame by the one worker that owns the ring, never across a
    // call, so the dynamic exclusivity check (about 75 instructions per access) is off.
    @exclusivity(unchecked) private var frameIndex = 0
    @exclusivity(unchecked) private var pending = 0
    /// First byte of a slot a frame may use. The kernel reads from TPACKET2_HDRLEN -
    /// sizeof(sockaddr_ll), where the virtio-net header goes, and the room for that header is
    /// rounded up so that frames keep the alignment they had without it.
    private let dataOffset =
        RingLayout.align(RingLayout.tpacket2HeaderSize)
        + RingLayout.align(MemoryLayout<virtio_net_hdr>.size)
    /// Frames the kernel rejected (TP_STATUS_WRONG_FORMAT). With PACKET_LOSS set the kernel
    /// skips a malformed frame instead, so this stays 0 unless that option is missing.
    public private(set) var rejectedFrames: UInt64 = 0
    /// Frames handed to the kernel.
    @exclusivity(unchecked) public private(set) var sentFrames: UInt64 = 0
    /// Largest frame `commitFrame` sends: an Ethernet header and the MTU of the forwarding
    /// table, which the worker sets before each block. Between an MTU drop and the next table
    /// a bigger frame can still reach the kernel. A packet socket with a virtio-net header
    /// does not check the MTU, so the driver then sends or drops it.
    @exclusivity(unchecked) public var maximumFrameLength: Int
    /// Counts the frames `commitFrame` withheld for exceeding `maximumFrameLength`, as `tooBig`.
    private let drops: DropCounters?

    /// Opens the ring on `interface` with `frameCount` slots big enough for its MTU; frames
    /// withheld for exceeding `maximumFrameLength` are counted in `drops`.
    public init(
        interface: InterfaceInfo, frameCount: Int = 512, drops: DropCounters? = nil
    ) throws {
        try RingLayout.verify()
        self.interface = interface
        self.drops = drops
        maximumFrameLength = Ethernet.headerSize + interface.mtu
        // Room for the slot header, an Ethernet frame of the MTU and a VLAN tag, as a power
        // of two so slots never straddle a block.
        // TODO: reopen the ring when the MTU rises past the slot size chosen here.
        var size = 2048
        while size < dataOffset + interface.mtu + Ethernet.headerSize + 4 { size *= 2 }
        frameSize = size
        let blockSize = max(size, 1 << 16)
        let framesPerBlock = blockSize / size
        let blockCount = (frameCount + framesPerBlock - 1) / framesPerBlock
        self.frameCount = blockCount * framesPerBlock
        socket = try PacketSocket()
        try socket.setOption(PACKET_VERSION, Int32(TPACKET_V2.rawValue), name: "PACKET_VERSION")
        try socket.setOption(PACKET_QDISC_BYPASS, Int32(1), name: "PACKET_QDISC_BYPASS")
        try socket.setOption(PACKET_TX_HAS_OFF, Int32(1), name: "PACKET_TX_HAS_OFF")
        // Without PACKET_LOSS the kernel marks a frame it cannot send (a bad length or
        // virtio-net header) TP_STATUS_WRONG_FORMAT and keeps its send position there. No
        // later frame then leaves until this ring writes that slot again, a whole ring later.
        try socket.setOption(PACKET_LOSS, Int32(1), name: "PACKET_LOSS")
        // Set before the ring exists, as the kernel requires.
        try socket.setOption(PACKET_VNET_HDR, Int32(1), name: "PACKET_VNET_HDR")
        var request = tpacket_req()
        request.tp_block_size = UInt32(blockSize)
        request.tp_block_nr = UInt32(blockCount)
        request.tp_frame_size = UInt32(size)
        request.tp_frame_nr = UInt32(self.frameCount)
        try socket.setOption(PACKET_TX_RING, request, name: "PACKET_TX_RING")
        try socket.mapRing(size: blockSize * blockCount)
        // Protocol 0: the TX socket receives nothing.
        try socket.bind(interfaceIndex: interface.index, protocol: 0)
    }

    /// Maximum bytes of a frame the kernel copies into the skb's linear part (hdr_len). A
    /// standard frame fits whole. Of a jumbo frame the rest stays in ring pages, so that the
    /// linear part, with the skb's headroom and shared info, stays within one 4 KiB page.
    static let linearCopyLimit = 3584

    private func slot(_ index: Int) -> UnsafeMutableRawPointer {
        socket.ring! + index * frameSize
    }

    private func statusPointer(_ index: Int) -> UnsafeMutablePointer<UInt32> {
        // tp_status is the first field of tpacket2_hdr.
        slot(index).assumingMemoryBound(to: UInt32.self)
    }

    public func reserveFrame() -> UnsafeMutableRawBufferPointer? {
        var status = tagline_atomic_load_u32(statusPointer(frameIndex))
        if status != UInt32(TP_STATUS_AVAILABLE), status & UInt32(TP_STATUS_WRONG_FORMAT) == 0,
            pending > 0
        {
            // The ring is full of frames marked in this burst, because a block of small frames
            // contains more frames than the ring has slots. Sending them lets the kernel free
            // their slots, so the burst goes on instead of dropping every later frame.
            flush()
            status = tagline_atomic_load_u32(statusPointer(frameIndex))
        }
        if status & UInt32(TP_STATUS_WRONG_FORMAT) != 0 {
            rejectedFrames += 1
            tagline_atomic_store_u32(statusPointer(frameIndex), UInt32(TP_STATUS_AVAILABLE))
        } else if status != UInt32(TP_STATUS_AVAILABLE) {
            return nil
        }
        return UnsafeMutableRawBufferPointer(
            start: slot(frameIndex) + dataOffset,
            count: frameSize - dataOffset)
    }

    /// Marks the reserved frame for sending, or leaves its slot free for the next
    /// `reserveFrame` when `length` exceeds `maximumFrameLength`.
    public func commitFrame(offset: Int, length: Int) {
        guard length <= maximumFrameLength else {
            drops?.increment(.tooBig)
            return
        }
        let vnetSize = MemoryLayout<virtio_net_hdr>.size
        let vnetOffset = dataOffset + offset - vnetSize
        let vnet = (slot(frameIndex) + vnetOffset).bindMemory(to: virtio_net_hdr.self, capacity: 1)
        vnet.pointee = virtio_net_hdr()
        vnet.pointee.hdr_len = UInt16(min(length, Self.linearCopyLimit)).littleEndian
        let header = slot(frameIndex).assumingMemoryBound(to: tpacket2_hdr.self)
        header.pointee.tp_len = UInt32(vnetSize + length)
        header.pointee.tp_snaplen = UInt32(vnetSize + length)
        header.pointee.tp_mac = UInt16(vnetOffset)
        header.pointee.tp_net = 0
        tagline_atomic_store_u32(statusPointer(frameIndex), UInt32(TP_STATUS_SEND_REQUEST))
        frameIndex = (frameIndex + 1) % frameCount
        pending += 1
    }

    /// Asks the kernel to send every frame marked since the last flush, without waiting.
    /// Returns false when the kernel refused with an error other than EAGAIN.
    @discardableResult
    public func flush() -> Bool {
        guard pending > 0 else { return true }
        let count = pending
        pending = 0
        do {
            _ = try Syscall.runNonBlocking("send(TX ring)") {
                send(socket.fd, nil, 0, Int32(MSG_DONTWAIT))
            }
            sentFrames += UInt64(count)
            return true
        } catch {
            return false
        }
    }
}
