// All SXP connections of one node over TCP: the listening socket, outgoing
// connects with retries, reading and framing, and the actions of each
// connection's state machine. The owner drives it from its event loop: it
// watches the descriptors that `onDescriptorAdded` reports, calls
// `readable(_:now:)` for each readable one, and calls `tick(now:)` often
// (every 100-250 ms), because connects complete and output drains there.

import CTaglineShim
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// One configured peer of an endpoint.
public struct SXPPeerConfig: Sendable {
    public var address: IPAddress
    /// Local address to connect from; nil lets the kernel choose.
    public var source: IPAddress?
    /// TCP-MD5 key; nil or empty for none.
    public var key: [UInt8]?
    /// Whether the key is the default password, for `show cts sxp connections`.
    public var keyIsDefault: Bool
    /// The peer's TCP port.
    public var port: UInt16
    public var settings: SXPPeerSettings

    public init(
        address: IPAddress, source: IPAddress? = nil, key: [UInt8]? = nil,
        keyIsDefault: Bool = false, port: UInt16 = SXPEndpoint.defaultPort,
        settings: SXPPeerSettings
    ) {
        self.address = address
        self.source = source
        self.key = key
        self.keyIsDefault = keyIsDefault
        self.port = port
        self.settings = settings
    }
}

/// The SXP connections of one node.
public final class SXPEndpoint {
    public static let defaultPort: UInt16 = 64999
    /// Output queued on one connection beyond which it is closed, in bytes.
    static let maximumQueuedOutput = 64 << 20

    final class Session {
        let config: SXPPeerConfig
        var connection: SXPConnection
        var fd: Int32 = -1
        var connecting = false
        var framer = SXPFramer()
        var output: [UInt8] = []
        var nextAttempt: Double = 0
        var instance = 0
        /// The state last logged, so that each change to or from On is logged once.
        var loggedState: SXPConnectionState = .off

        init(config: SXPPeerConfig) {
            self.config = config
            self.connection = SXPConnection(settings: config.settings)
        }
    }

    let logger: Logger?
    let retryPeriod: Double
    var sessions: [IPAddress: Session] = [:]
    public private(set) var listenerFD: Int32 = -1

    /// Called with bindings learned from `peer`.
    public var onLearn: (_ peer: IPAddress, _ bindings: [SXPBinding]) -> Void = { _, _ in }
    /// Called with prefixes whose bindings from `peer` are gone.
    public var onForget: (_ peer: IPAddress, _ prefixes: [IPPrefix]) -> Void = { _, _ in }
    /// Returns the bindings to announce to `peer` when a speaker connection comes up.
    public var bindingsToAnnounce: (_ peer: IPAddress) -> [SXPBinding] = { _ in [] }
    /// Called when a descriptor needs watching for readability, and when it is closed.
    public var onDescriptorAdded: (Int32) -> Void = { _ in }
    public var onDescriptorRemoved: (Int32) -> Void = { _ in }

    /// Creates the endpoint and its listening socket on `listenAddress`:`port`,
    /// with each peer's TCP-MD5 key set on it.
    public init(
        peers: [SXPPeerConfig], listenAddress: IPAddress, port: UInt16 = defaultPort,
        retryPeriod: Double = 120, logger: Logger? = nil
    ) throws {
        self.logger = logger
        self.retryPeriod = retryPeriod
        for peer in peers { sessions[peer.address] = Session(config: peer) }
        let keys = peers.compactMap { peer -> (IPAddress, [UInt8])? in
            guard let key = peer.key, !key.isEmpty else { return nil }
            return (peer.address, key)
        }
        listenerFD = try SXPSocket.listen(on: listenAddress, port: port, keys: keys)
    }

    deinit {
        // The owner's callbacks may be gone by now, so none is called here.
        onDescriptorRemoved = { _ in }
        shutdown()
    }

    /// Registers the listening socket and starts connecting to speakers' peers.
    public func start(now: Double) {
        onDescriptorAdded(listenerFD)
        tick(now: now)
    }

    /// Closes every socket. Bindings learned stay with the owner.
    public func shutdown() {
        for session in sessions.values where session.fd >= 0 { closeSocket(session) }
        if listenerFD >= 0 {
            onDescriptorRemoved(listenerFD)
            close(listenerFD)
            listenerFD = -1
        }
    }

    /// Returns the connection state machine of `peer`, for tests and status.
    public func connection(for peer: IPAddress) -> SXPConnection? { sessions[peer]?.connection }

    /// Handles a readable descriptor.
    public func readable(_ fd: Int32, now: Double) {
        if fd == listenerFD {
            acceptPending(now: now)
            return
        }
        guard let session = sessions.values.first(where: { $0.fd == fd }) else { return }
        receive(session, now: now)
    }

    /// Completes connects, drains output, runs the timers and starts retries.
    public func tick(now: Double) {
        for session in sessions.values {
            if session.connecting { checkConnect(session, now: now) }
            if session.fd >= 0, !session.connecting, !session.output.isEmpty {
                flush(session, now: now)
            }
            if let deadline = session.connection.nextDeadline, now >= deadline {
                perform(session.connection.expire(now: now), on: session, now: now)
            }
            // NOTE: only the speaker side opens connections; a listener waits
            // for its speaker, which avoids two TCP connections for one peer.
            if session.fd < 0, session.config.settings.mode == .speaker,
                now >= session.nextAttempt
            {
                connect(session, now: now)
            }
        }
    }

    /// Sends binding changes to every speaker connection that is up, leaving
    /// out `origin`, the peer the change came from.
    public func announce(
        adding: [SXPBinding], removing: [IPPrefix], except origin: IPAddress?, now: Double
    ) {
        for session in sessions.values where session.config.address != origin {
            let messages = session.connection.updates(adding: adding, removing: removing)
            for message in messages { send(message, on: session) }
            if !messages.isEmpty { flush(session, now: now) }
        }
    }

    /// The TCP port the listener is bound to (useful after binding port 0).
    public var listenerPort: UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(listenerFD, $0, &length)
            }
        }
        return withUnsafeBytes(of: &storage) { raw in
            // sin_port and sin6_port are both at offset 2, in network order.
            UInt16(raw[2]) << 8 | UInt16(raw[3])
        }
    }

    /// Returns the state of every peer, ordered by address.
    public func statuses(now: Double) -> [SXPConnectionStatus] {
        sessions.values.sorted { $0.config.address < $1.config.address }.map { session in
            let connection = session.connection
            let version = connection.version
            var capabilities = [String]()
            if let version {
                capabilities.append("IPv4")
                if version.carriesIPv6 { capabilities.append("IPv6") }
                if version.carriesPrefixes { capabilities.append("Subnet") }
            }
            let source =
                session.fd >= 0 && !session.connecting
                ? SXPSocket.localAddress(session.fd) : session.config.source
            let password: String
            if let key = session.config.key, !key.isEmpty {
                password = session.config.keyIsDefault ? "default" : "connection"
            } else {
                password = "none"
            }
            return SXPConnectionStatus(
                peer: "\(session.config.address)", source: source.map { "\($0)" } ?? "-",
                state: connection.state.rawValue, version: version.map { Int($0.rawValue) },
                capabilities: capabilities, holdTime: Int(connection.holdTime),
                mode: "\(connection.settings.mode)", instance: session.instance,
                fd: session.fd, password: password,
                holdTimerRunning: connection.holdTimerRunning,
                secondsSinceChange: max(0, now - connection.stateChangedAt),
                learnedBindings: connection.learned.count)
        }
    }

    // MARK: - Sockets

    private func acceptPending(now: Double) {
        while true {
            let accepted: (fd: Int32, peer: IPAddress?)?
            do {
                accepted = try SXPSocket.accept(listenerFD)
            } catch {
                logger?.error("SXP", "accept on the listener failed: \(error)")
                return
            }
            guard let (fd, peer) = accepted else { return }
            guard let peer, let session = sessions[peer] else {
                logger?.warning(
                    "SXP",
                    "\(accepted?.peer.map { "\($0)" } ?? "?") connection closed: not a configured peer"
                )
                close(fd)
                continue
            }
            guard session.fd < 0 else {
                logger?.info("SXP", "\(peer) second connection closed: one is already open")
                close(fd)
                continue
            }
            session.fd = fd
            session.connecting = false
            session.instance += 1
            session.framer = SXPFramer()
            session.output = []
            session.connection.accepted(now: now)
            onDescriptorAdded(fd)
            logger?.info("SXP", "\(peer) connection accepted, instance \(session.instance)")
        }
    }

    private func connect(_ session: Session, now: Double) {
        session.nextAttempt = now + max(retryPeriod, 1)
        do {
            session.fd = try SXPSocket.connect(
                to: session.config.address, port: session.config.port,
                from: session.config.source, key: session.config.key)
            session.connecting = true
            session.instance += 1
            session.framer = SXPFramer()
            session.output = []
            logger?.debug(
                "SXP", "\(session.config.address) connecting, instance \(session.instance)")
        } catch {
            logger?.warning("SXP", "\(session.config.address) connect failed: \(error)")
        }
    }

    private func checkConnect(_ session: Session, now: Double) {
        guard let result = SXPSocket.connectResult(session.fd) else { return }
        if result != 0 {
            logger?.info(
                "SXP",
                "\(session.config.address) connect failed: \(String(cString: strerror(result))); "
                    + "retrying in \(Int(retryPeriod)) s")
            closeSocket(session)
            return
        }
        session.connecting = false
        onDescriptorAdded(session.fd)
        perform(session.connection.connected(now: now), on: session, now: now)
    }

    private func receive(_ session: Session, now: Double) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = buffer.withUnsafeMutableBytes { read(session.fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            lost(session, reason: "read failed: \(String(cString: strerror(errno)))", now: now)
            return
        }
        if count == 0 {
            lost(session, reason: "closed by the peer", now: now)
            return
        }
        session.framer.append(buffer[0..<count])

        while session.fd >= 0 {
            let version = session.connection.version ?? session.config.settings.highestVersion
            let frame: (header: SXPHeader, bytes: [UInt8])
            do {
                guard let next = try session.framer.next() else { return }
                frame = next
            } catch let error as SXPError {
                reject(session, error, type: nil, now: now)
                return
            } catch {
                return
            }
            do {
                let message = try SXPMessage.decode(frame.bytes, version: version)
                logger?.debug("SXP", "\(session.config.address) received \(message.type)")
                perform(session.connection.receive(message, now: now), on: session, now: now)
            } catch let error as SXPError {
                reject(session, error, type: frame.header.type, now: now)
                return
            } catch {
                return
            }
        }
    }

    private func reject(_ session: Session, _ error: SXPError, type: SXPMessageType?, now: Double) {
        logger?.warning("SXP", "\(session.config.address) invalid message: \(error)")
        perform(
            session.connection.receiveInvalid(error, type: type, now: now), on: session, now: now)
    }

    private func lost(_ session: Session, reason: String, now: Double) {
        logger?.notice("SXP", "\(session.config.address) connection down: \(reason)")
        closeSocket(session)
        perform(session.connection.disconnected(now: now), on: session, now: now)
    }

    private func closeSocket(_ session: Session) {
        guard session.fd >= 0 else { return }
        if !session.connecting { onDescriptorRemoved(session.fd) }
        close(session.fd)
        session.fd = -1
        session.connecting = false
        session.output = []
    }

    // MARK: - Actions

    private func perform(_ actions: [SXPConnectionAction], on session: Session, now: Double) {
        let peer = session.config.address
        for action in actions {
            switch action {
            case .send(let message):
                send(message, on: session)
            case .close(let reason):
                flush(session, now: now)
                logger?.notice("SXP", "\(peer) connection closed: \(reason)")
                closeSocket(session)
            case .announceAll:
                let messages = session.connection.updates(
                    adding: bindingsToAnnounce(peer), removing: [])
                for message in messages { send(message, on: session) }
            case .learn(let bindings):
                onLearn(peer, bindings)
            case .forget(let prefixes):
                onForget(peer, prefixes)
            }
        }
        let state = session.connection.state
        if state != session.loggedState, state == .on || session.loggedState == .on {
            let version = session.connection.version.map { "\($0)" } ?? "?"
            logger?.notice(
                "SXP",
                state == .on
                    ? "\(peer) connection up, version \(version), "
                        + "hold time \(session.connection.holdTime) s"
                    : "\(peer) connection \(state.rawValue)")
        }
        session.loggedState = state
        flush(session, now: now)
    }

    private func send(_ message: SXPMessage, on session: Session) {
        guard session.fd >= 0 else { return }
        let version = session.connection.version ?? session.config.settings.highestVersion
        session.output += message.encode(version: version)
    }

    private func flush(_ session: Session, now: Double) {
        guard session.fd >= 0, !session.connecting else { return }
        while !session.output.isEmpty {
            let written = session.output.withUnsafeBytes {
                Glibc.send(session.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EAGAIN || errno == EINTR { break }
                let reason = "write failed: \(String(cString: strerror(errno)))"
                lost(session, reason: reason, now: now)
                return
            }
            session.output.removeFirst(written)
        }
        if session.output.count > Self.maximumQueuedOutput {
            logger?.error(
                "SXP", "\(session.config.address) closed: \(session.output.count) bytes queued")
            lost(session, reason: "output queue full", now: now)
        }
    }
}
