// IKE message fragmentation (RFC 7383). Both peers announce it with an empty
// IKEV2_FRAGMENTATION_SUPPORTED notify in IKE_SA_INIT. Once both have, a
// protected message longer than the fragment size goes out as SKF messages
// (see SKFPayload.swift), and every retransmission sends all of them again.
//
// The receiver checks each fragment's integrity before storing it, so only
// the holder of the SA's keys can fill the buffer. On a half-open SA that is
// anyone who completed IKE_SA_INIT, before authentication: 1000 half-open SAs
// with 63 KB of IKE_AUTH fragments each grew ike-negotiator by about 70 MB in
// the lab (Tests/integration/hostile.sh) before the total was bounded. It
// keeps at most one message per SA and direction, since the window size is 1.
// A buffer is bounded in fragments and bytes, all buffers together by
// `maximumTotalReassemblyBytes`, and a buffer is dropped when it stays
// incomplete for `reassemblyTimeout` seconds.

import TaglineCore

extension IKEEngine {
    /// A message being reassembled: the request or the response of one IKE SA.
    struct FragmentKey: Hashable {
        var localSPI: UInt64
        var isResponse: Bool
    }

    /// The verified fragments of one message so far.
    struct FragmentBuffer {
        var header: IKEHeader
        var total: Int
        /// Decrypted content by fragment number.
        var contents: [Int: [UInt8]] = [:]
        var byteCount = 0
        /// Next Payload of fragment 1: the first payload of the whole message.
        var firstInnerType: UInt8 = 0
        var startedAt: Double
    }

    /// Returns true when an IKE_SA_INIT message carries IKEV2_FRAGMENTATION_SUPPORTED.
    func offersFragmentation(_ message: IKEMessage) -> Bool {
        message.notify(.fragmentationSupported) != nil
    }

    /// Returns the largest IKE message sent in one datagram for `sa` once fragmentation is on.
    func fragmentMessageLimit(_ sa: IKESAState) -> Int {
        if let maximumFragmentMessageSize { return maximumFragmentMessageSize }
        // `crypto ikev2 fragmentation mtu`, else what RFC 7383 §2.5.1
        // recommends: IP datagrams of at most 576 bytes (IPv4) or 1280 bytes
        // (IPv6), the minimum every link must carry.
        let datagram = config.ikeFragmentationMTU ?? (sa.remote.address.isIPv4 ? 576 : 1280)
        let ipHeader = sa.remote.address.isIPv4 ? 20 : 40
        let udpHeader = 8
        let marker = sa.local.port == IKEEndpoint.natTraversalPort ? 4 : 0
        return datagram - ipHeader - udpHeader - marker
    }

    /// Returns the SKF messages that replace `whole`, the protected encoding
    /// of `message`. It returns nil, so that `whole` goes out as it is, unless
    /// fragmentation is negotiated and `whole` is longer than the fragment size.
    func fragmentsIfNeeded(
        _ message: IKEMessage, whole: [UInt8], _ sa: IKESAState, keys: SKKeys
    ) -> [[UInt8]]? {
        guard sa.fragmentationNegotiated == true, message.header.exchangeType != .ikeSAInit
        else { return nil }
        let limit = fragmentMessageLimit(sa)
        guard whole.count > limit else { return nil }
        var inner = ByteWriter()
        PayloadChain.encode(message.payloads, into: &inner)
        do {
            var header = message.header
            header.length = 0
            let fragments = try SKFPayload.seal(
                header: header, firstInnerType: message.payloads.first?.typeNumber ?? 0,
                plaintext: inner.bytes, keys: keys, maximumMessageSize: limit, random: random)
            let kind = message.header.isResponse ? "response" : "request"
            debug(
                "IKEv2:(\(sa.tunnelID)): Fragmenting \(message.header.exchangeType) \(kind) "
                    + "of \(whole.count) bytes into \(fragments.count) fragments")
            return fragments
        } catch {
            log(
                .warning,
                "\(sa.remote.address): cannot fragment a message of \(whole.count) bytes "
                    + "(\(error)); sending it whole")
            return nil
        }
    }

    /// Sends a message as it was stored: its fragments if it has any, else `bytes`.
    func transmitMessage(_ bytes: [UInt8], fragments: [[UInt8]]?, _ sa: IKESAState) {
        guard let fragments, !fragments.isEmpty else { return transmit(bytes, sa) }
        for fragment in fragments { transmit(fragment, sa) }
    }

    /// Checks and decrypts a protected message of `sa`, collecting SKF
    /// fragments first. Returns nil while a fragmented message is incomplete
    /// and for a fragment that was dropped, which is counted. For a
    /// retransmitted request only fragment 1 returns a message, and an empty
    /// one, so that the cached response goes out once (RFC 7383 §2.6.1).
    func openProtected(
        _ received: ReceivedMessage, _ sa: IKESAState, keys: SKKeys, isRetransmission: Bool,
        _ description: String
    ) -> UnprotectedMessage? {
        let peer = sa.remote.address
        guard received.isFragment, let offset = received.encryptedOffset else {
            return unprotect(received, keys: keys, peer: peer, description)
        }
        guard sa.fragmentationNegotiated == true else {
            drop("unexpected fragment", "\(peer): \(description) is fragmented, not negotiated")
            return nil
        }
        let fragment: SKFPayload.Fragment
        do {
            fragment = try SKFPayload.open(
                message: received.bytes, offset: offset,
                firstInnerType: received.encryptedFirstType, keys: keys)
        } catch IKEProtocolError.integrityCheckFailed {
            drop(
                "integrity check failed",
                "\(peer): fragment of \(description) failed its "
                    + "integrity check", level: .warning)
            return nil
        } catch {
            drop("invalid fragment", "\(peer): invalid fragment of \(description): \(error)")
            return nil
        }
        // The fragment is authentic, so the peer is alive.
        ikeSAs[sa.localSPI]?.lastReceivedAt = clock()
        if isRetransmission {
            guard fragment.number == 1 else { return nil }
            return .authentic(IKEMessage(header: received.header, payloads: []))
        }
        return storeFragment(fragment, received, sa, description)
    }

    /// Adds a verified fragment to its message's buffer. Returns the whole
    /// message once every fragment is there, and nil until then.
    private func storeFragment(
        _ fragment: SKFPayload.Fragment, _ received: ReceivedMessage, _ sa: IKESAState,
        _ description: String
    ) -> UnprotectedMessage? {
        let peer = sa.remote.address
        let header = received.header
        let key = FragmentKey(localSPI: sa.localSPI, isResponse: header.isResponse)
        guard fragment.total <= maximumFragmentsPerMessage else {
            drop(
                "too many fragments",
                "\(peer): \(description) has \(fragment.total) fragments, more than "
                    + "\(maximumFragmentsPerMessage)")
            return nil
        }

        var buffer = reassembly[key]
        // Another message ID means the old message is no longer awaited. A
        // higher Total Fragments means the peer fragmented the message again
        // with a smaller size (RFC 7383 §2.6), so the old fragments go.
        if let old = buffer, old.header.messageID != header.messageID || fragment.total > old.total
        {
            drop(
                "incomplete fragmented message replaced",
                "\(peer): \(old.contents.count) of \(old.total) fragments of message "
                    + "\(old.header.messageID) discarded for \(description)")
            buffer = nil
        }
        if let old = buffer, fragment.total < old.total {
            drop(
                "invalid fragment",
                "\(peer): fragment of \(description) announces \(fragment.total) fragments "
                    + "after \(old.total)")
            return nil
        }
        var current =
            buffer ?? FragmentBuffer(header: header, total: fragment.total, startedAt: clock())
        guard current.contents[fragment.number] == nil else {
            drop(
                "duplicate fragment", "\(peer): fragment \(fragment.number) of \(description) again"
            )
            return nil
        }
        guard current.byteCount + fragment.content.count <= maximumReassemblyBytes else {
            setReassembly(key, nil)
            drop(
                "fragmented message too large",
                "\(peer): \(description) exceeds \(maximumReassemblyBytes) bytes",
                level: .warning)
            return nil
        }
        let held = reassemblyBytes - (reassembly[key]?.byteCount ?? 0)
        guard held + current.byteCount + fragment.content.count <= maximumTotalReassemblyBytes
        else {
            drop(
                "fragment memory limit reached",
                "\(peer): fragment \(fragment.number) of \(description) would raise the "
                    + "fragments held beyond \(maximumTotalReassemblyBytes) bytes",
                level: .warning)
            return nil
        }
        current.contents[fragment.number] = fragment.content
        current.byteCount += fragment.content.count
        if fragment.number == 1 { current.firstInnerType = fragment.firstInnerType }
        guard current.contents.count == current.total else {
            setReassembly(key, current)
            return nil
        }

        setReassembly(key, nil)
        var plaintext: [UInt8] = []
        plaintext.reserveCapacity(current.byteCount)
        for number in 1...current.total {
            plaintext += current.contents[number] ?? []
        }
        debug(
            "IKEv2:(\(sa.tunnelID)): Reassembled \(description) from \(current.total) "
                + "fragments")
        var whole = received
        whole.encryptedFirstType = current.firstInnerType
        whole.clearPayloads = []
        do {
            return .authentic(try whole.decodeInner(plaintext))
        } catch {
            return .malformedInside(error)
        }
    }

    /// Stores or removes the buffer of `key`, keeping `reassemblyBytes` equal
    /// to the bytes of all buffers.
    private func setReassembly(_ key: FragmentKey, _ buffer: FragmentBuffer?) {
        reassemblyBytes -= reassembly[key]?.byteCount ?? 0
        reassemblyBytes += buffer?.byteCount ?? 0
        reassembly[key] = buffer
    }

    /// Forgets the partial messages of an IKE SA that is gone.
    func discardFragments(of localSPI: UInt64) {
        setReassembly(FragmentKey(localSPI: localSPI, isResponse: false), nil)
        setReassembly(FragmentKey(localSPI: localSPI, isResponse: true), nil)
    }

    /// Drops the messages whose fragments did not all arrive within `reassemblyTimeout`.
    func expireFragmentBuffers(at now: Double) {
        for (key, buffer) in reassembly where now - buffer.startedAt >= reassemblyTimeout {
            setReassembly(key, nil)
            let peer = ikeSAs[key.localSPI].map { "\($0.remote.address)" } ?? "unknown peer"
            drop(
                "fragment reassembly timed out",
                "\(peer): \(buffer.contents.count) of \(buffer.total) fragments of message "
                    + "\(buffer.header.messageID) arrived in \(Int(reassemblyTimeout)) s")
        }
    }

    /// When the oldest incomplete message times out, or nil when none is waiting.
    var nextFragmentExpiry: Double? {
        reassembly.values.map { $0.startedAt + reassemblyTimeout }.min()
    }
}
