// Reassembly of outer IPv4 and IPv6 fragments of ESP packets, which RFC 4303
// §3.4.1 requires before any ESP processing. A path with a smaller MTU than
// the sender assumed fragments the ESP packet after encryption, so the CMD
// inside it travels once, in the reassembled packet.
//
// Each worker has its own reassembler: the fanout hash of a fragment covers
// only the addresses and protocol, so every fragment of one datagram reaches
// the same worker.

import TaglineCore

/// Identifies the fragments of one datagram (RFC 791 §3.2, RFC 8200 §4.5).
struct FragmentKey: Hashable {
    var source: IPAddress
    var destination: IPAddress
    var identification: UInt32
    /// The protocol of the reassembled payload: ESP or UDP.
    var ipProtocol: UInt8
}

/// One received fragment: where its data goes in the reassembled payload.
struct FragmentInfo {
    var key: FragmentKey
    /// Byte offset of the data in the reassembled payload (the wire value times 8).
    var offset: Int
    /// More Fragments flag.
    var more: Bool
    /// Position of the fragment's data in the received packet.
    var dataOffset: Int
    var dataLength: Int
}

/// Collects fragments until a datagram is complete.
final class FragmentReassembler {
    enum Outcome {
        /// The datagram still has holes.
        case incomplete
        /// The fragment overlaps another, runs past 65535 bytes or contradicts the end already
        /// known; the datagram is discarded.
        case invalid
        /// The payload after the IP header(s), complete.
        case complete([UInt8])
    }

    private struct Datagram {
        var data: [UInt8] = []
        /// Received byte ranges, sorted by start.
        var ranges: [Range<Int>] = []
        /// Payload length, known once the last fragment arrived.
        var totalLength: Int?
        var started: UInt64
    }

    /// Largest reassembled payload: the IPv4 total length field's limit.
    static let maximumPayload = 65535
    let maximumDatagrams: Int
    let timeout: UInt64
    private var datagrams: [FragmentKey: Datagram] = [:]
    /// Datagrams dropped unfinished (timed out or evicted) since the last `takeDiscarded`.
    private(set) var discarded = 0

    init(maximumDatagrams: Int = 64, timeoutNanoseconds: UInt64 = 2_000_000_000) {
        self.maximumDatagrams = maximumDatagrams
        self.timeout = timeoutNanoseconds
    }

    /// Number of datagrams waiting for fragments.
    var pendingCount: Int { datagrams.count }

    /// Returns and resets the count of datagrams dropped unfinished.
    func takeDiscarded() -> Int {
        defer { discarded = 0 }
        return discarded
    }

    /// Adds the fragment described by `fragment`, whose data is `data`.
    func add(_ fragment: FragmentInfo, data: UnsafeRawBufferPointer, now: UInt64) -> Outcome {
        expire(now: now)
        let start = fragment.offset
        let end = start + data.count
        guard end <= FragmentReassembler.maximumPayload, !data.isEmpty else {
            datagrams[fragment.key] = nil
            return .invalid
        }
        // Every fragment but the last carries a multiple of 8 bytes.
        if fragment.more && data.count % 8 != 0 {
            datagrams[fragment.key] = nil
            return .invalid
        }
        if datagrams[fragment.key] == nil {
            if datagrams.count >= maximumDatagrams,
                let oldest = datagrams.min(by: {
                    $0.value.started < $1.value.started
                })
            {
                datagrams[oldest.key] = nil
                discarded += 1
            }
            datagrams[fragment.key] = Datagram(started: now)
        }
        var datagram = datagrams[fragment.key]!

        // Overlaps are rejected outright (RFC 5722 for IPv6; the same rule for IPv4).
        if datagram.ranges.contains(where: { $0.overlaps(start..<end) }) {
            datagrams[fragment.key] = nil
            return .invalid
        }
        if let total = datagram.totalLength, end > total || (!fragment.more && end != total) {
            datagrams[fragment.key] = nil
            return .invalid
        }
        if !fragment.more {
            guard datagram.ranges.allSatisfy({ $0.upperBound <= end }) else {
                datagrams[fragment.key] = nil
                return .invalid
            }
            datagram.totalLength = end
        }

        // Store the data and the range.
        if datagram.data.count < end {
            datagram.data += [UInt8](repeating: 0, count: end - datagram.data.count)
        }
        datagram.data.withUnsafeMutableBytes { $0.copyBytes(from: data, at: start) }
        let position = datagram.ranges.firstIndex { $0.lowerBound > start } ?? datagram.ranges.count
        datagram.ranges.insert(start..<end, at: position)

        // Complete when the ranges cover 0 ..< total without a hole.
        if let total = datagram.totalLength, isContiguous(datagram.ranges, total: total) {
            datagrams[fragment.key] = nil
            return .complete(Array(datagram.data.prefix(total)))
        }
        datagrams[fragment.key] = datagram
        return .incomplete
    }

    private func isContiguous(_ ranges: [Range<Int>], total: Int) -> Bool {
        var next = 0
        for range in ranges {
            guard range.lowerBound == next else { return false }
            next = range.upperBound
        }
        return next == total
    }

    /// Drops datagrams older than the timeout.
    private func expire(now: UInt64) {
        guard !datagrams.isEmpty else { return }
        let before = datagrams.count
        datagrams = datagrams.filter { now &- $0.value.started < timeout }
        discarded += before - datagrams.count
    }
}
