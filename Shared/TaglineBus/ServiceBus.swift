// The sockets of one service: a ROUTER that takes requests, a PUB that
// carries events, and the XPUB trace mirror. Every handler runs on the
// service's event loop, one at a time.

import CZeroMQ
import Foundation
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// A service's end of the bus.
public final class ServiceBus {
    public let service: ServiceName
    public let paths: BusPaths
    public let loop: EventLoop
    public let logger: Logger
    /// Wall-clock seconds when the bus was opened, returned by `ping`.
    public let startedAt: Double

    private let router: ZMQSocket
    private let publisher: ZMQSocket
    let tracer: Tracer
    private var lockFD: Int32 = -1
    private var isShutDown = false

    typealias RequestHandler = (Envelope, Responder) -> Void
    private var handlers: [String: RequestHandler] = [:]
    private var clients: [ServiceName: BusClient] = [:]
    var subscribers: [ServiceName: Subscriber] = [:]
    /// Timers owned by this bus (clone heartbeats), cancelled at shutdown.
    var ownedTimers: [Int] = []
    /// Clone servers and clients, kept alive as long as the bus.
    var clones: [AnyObject] = []

    /// The request or event whose handler is running, for trace context.
    public internal(set) var currentEnvelope: Envelope?

    /// Debug categories switched on with `debugSet`, such as "crypto ikev2 internal".
    public private(set) var enabledDebugCategories: Set<String> = []
    /// Called on the loop after a `debugSet` request changed a category.
    public var onDebugSet: ((String, Bool) -> Void)?

    /// Binds the service's sockets under `runDirectory`, creating the
    /// directory with mode 0700 if needed. Throws when the directory is
    /// unsafe, when another instance of the service holds its lock file, or
    /// when a bind fails. Registers `ping` and `debugSet` handlers.
    public init(service: ServiceName, runDirectory: String, loop: EventLoop, logger: Logger)
        throws
    {
        self.service = service
        self.paths = BusPaths(runDirectory: runDirectory)
        self.loop = loop
        self.logger = logger
        self.startedAt = wallClockSeconds()
        try paths.prepareRunDirectory()
        lockFD = try ServiceBus.lock(paths.lockFile(service), service: service.rawValue)

        do {
            router = try ZMQSocket(type: ZMQ_ROUTER)
            // Requests are small; refuse anything over 16 MiB instead of buffering it.
            try router.setOption(ZMQ_MAXMSGSIZE, Int64(16 << 20))
            try router.bind(paths.router(service))
            publisher = try ZMQSocket(type: ZMQ_PUB)
            try publisher.bind(paths.publisher(service))
            tracer = try Tracer(endpoint: paths.trace(service), loop: loop, logger: logger)
        } catch {
            close(lockFD)
            throw error
        }
        loop.addSocket(router) { [weak self] in self?.readRequests() }
        registerBuiltinHandlers()
        logger.info("BUS", "\(service.rawValue) listening in \(paths.runDirectory)")
    }

    deinit {
        shutdown()
    }

    /// Closes every socket of the bus, cancels its timers and releases the
    /// lock file, so another instance can start. Called by deinit.
    public func shutdown() {
        guard !isShutDown else { return }
        isShutDown = true
        for id in ownedTimers { loop.cancelTimer(id) }
        loop.removeSocket(router)
        router.close()
        publisher.close()
        tracer.close(loop: loop)
        for subscriber in subscribers.values { subscriber.close(loop: loop) }
        subscribers = [:]
        clients = [:]
        clones = []
        handlers = [:]
        if lockFD >= 0 {
            close(lockFD)
            lockFD = -1
        }
    }

    /// Takes an exclusive flock on the service's lock file. The kernel drops
    /// the lock when the process dies, even by SIGKILL, so no stale lock remains.
    private static func lock(_ path: String, service: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 {
            throw BusError.runDirectory(
                "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw BusError.alreadyRunning(service: service, lockPath: path)
        }
        return fd
    }

    // MARK: Requests

    /// Registers the handler for requests of `type`. Its return value is
    /// sent as a `type + ".reply"` envelope; a thrown error becomes an
    /// "error" reply whose ErrorReply message is the error's description.
    /// A later registration for the same type replaces the earlier one.
    public func handle<Req: Decodable, Rep: Encodable>(
        _ type: String, _ handler: @escaping (Req, Envelope) throws -> Rep
    ) {
        handlers[type] = { envelope, responder in
            do {
                let request = try envelope.decode(Req.self)
                responder.reply(try handler(request, envelope))
            } catch {
                responder.fail(error)
            }
        }
    }

    /// Registers a handler that replies later, for requests that need
    /// another service's reply first. Call `responder.reply` or
    /// `responder.fail` exactly once; the client times out otherwise.
    public func handleDeferred<Req: Decodable>(
        _ type: String, _ handler: @escaping (Req, Envelope, Responder) -> Void
    ) {
        handlers[type] = { envelope, responder in
            do {
                handler(try envelope.decode(Req.self), envelope, responder)
            } catch {
                responder.fail(error)
            }
        }
    }

    private func readRequests() {
        // Bounded per turn so timers and other sockets still get their turn.
        for _ in 0..<256 {
            let frames: [[UInt8]]
            do {
                guard let received = try router.receive() else { return }
                frames = received
            } catch {
                logger.warning("BUS", "receiving a request failed: \(error)")
                return
            }
            guard frames.count == Envelope.frameCount + 1 else {
                logger.warning("BUS", "dropped a request with \(frames.count) frames, expected 8")
                continue
            }
            let envelope: Envelope
            do {
                envelope = try Envelope(frames: frames[1...])
            } catch {
                logger.warning("BUS", "dropped a request: \(error)")
                continue
            }
            dispatch(envelope, identity: frames[0])
        }
    }

    private func dispatch(_ envelope: Envelope, identity: [UInt8]) {
        tracer.mirror(.receive, peer: envelope.sender, envelope)
        let responder = Responder(bus: self, identity: identity, request: envelope)
        guard let handler = handlers[envelope.type] else {
            responder.fail(
                ErrorReply(
                    message: "\(service.rawValue) does not handle requests of type \(envelope.type)"
                ))
            return
        }
        let previous = currentEnvelope
        currentEnvelope = envelope
        handler(envelope, responder)
        currentEnvelope = previous
    }

    /// Sends a reply envelope to the client behind `identity`.
    func sendReply(_ reply: Envelope, identity: [UInt8], to peer: String) {
        do {
            // With the default ROUTER behaviour a reply to a vanished client
            // is dropped silently; the client has timed out by then anyway.
            try router.send([identity] + reply.frames)
            tracer.mirror(.send, peer: peer, reply)
        } catch {
            logger.warning("BUS", "reply \(reply.type) to \(peer) failed: \(error)")
        }
    }

    private func registerBuiltinHandlers() {
        handle(MessageType.ping) { [unowned self] (_: EmptyRequest, _) in
            PingReply(service: service.rawValue, pid: getpid(), startedAt: startedAt)
        }
        handle(MessageType.debugSet) { [unowned self] (request: DebugSetRequest, envelope) in
            if request.enabled {
                enabledDebugCategories.insert(request.category)
            } else {
                enabledDebugCategories.remove(request.category)
            }
            let state = request.enabled ? "on" : "off"
            logger.notice("BUS", "debug \(request.category) \(state) (from \(envelope.sender))")
            onDebugSet?(request.category, request.enabled)
            return EmptyReply()
        }
    }

    /// True when `debugSet` switched `category` on.
    public func isDebugEnabled(_ category: String) -> Bool {
        enabledDebugCategories.contains(category)
    }

    // MARK: Events

    /// Publishes an event of `type` on the service's PUB socket. The trace
    /// id defaults to the one of the message being handled, or a new one.
    public func publish<T: Encodable>(_ type: String, _ body: T, traceID: String? = nil) {
        do {
            let envelope = try Envelope(
                type: type, encoding: body,
                traceID: traceID ?? currentEnvelope?.traceID ?? Envelope.newID(),
                parentID: currentEnvelope?.messageID ?? "", sender: service.rawValue)
            // PUB never blocks: with no subscriber or a full queue the event is dropped.
            try publisher.send(envelope.frames)
            tracer.mirror(.send, peer: "*", envelope)
        } catch {
            logger.warning("BUS", "publishing \(type) failed: \(error)")
        }
    }

    /// Publishes a DebugLine of `type` when `category` is switched on.
    public func publishDebug(_ type: String, category: String, _ text: @autoclosure () -> String) {
        guard isDebugEnabled(category) else { return }
        publish(type, DebugLine(time: wallClockSeconds(), text: text()))
    }

    /// Returns the request client for `target`, one per target, sending as this service.
    public func client(_ target: ServiceName) -> BusClient {
        if let existing = clients[target] { return existing }
        // The run directory was checked at init, so opening a DEALER fails
        // only when libzmq is out of sockets (EMFILE) or memory.
        let client: BusClient
        do {
            client = try BusClient(
                service: target, runDirectory: paths.runDirectory,
                sender: service.rawValue)
        } catch {
            fatalError("cannot open a DEALER socket to \(target.rawValue): \(error)")
        }
        client.tracer = tracer
        client.currentContext = { [weak self] in self?.currentEnvelope }
        clients[target] = client
        return client
    }
}

/// Sender of the one reply to a request. Handlers registered with
/// `handleDeferred` keep it until the reply is known.
public final class Responder {
    private weak var bus: ServiceBus?
    private let identity: [UInt8]
    /// The request this responder replies to.
    public let request: Envelope
    private var replied = false

    init(bus: ServiceBus, identity: [UInt8], request: Envelope) {
        self.bus = bus
        self.identity = identity
        self.request = request
    }

    /// Sends `body` as the `.reply` envelope; later calls are ignored.
    public func reply<Rep: Encodable>(_ body: Rep) {
        send(type: MessageType.reply(to: request.type), body: body)
    }

    /// Sends an "error" reply whose message is the error's description.
    public func fail(_ error: Error) {
        let message: String
        if let reply = error as? ErrorReply {
            message = reply.message
        } else {
            message = "\(error)"
        }
        bus?.logger.info("BUS", "\(request.type) from \(request.sender) failed: \(message)")
        send(type: MessageType.error, body: ErrorReply(message: message))
    }

    private func send<T: Encodable>(type: String, body: T) {
        guard !replied, let bus else { return }
        replied = true
        let bodyBytes: [UInt8]
        var replyType = type
        do {
            bodyBytes = try Envelope.encodeBody(body)
        } catch {
            replyType = MessageType.error
            bodyBytes = (try? Envelope.encodeBody(ErrorReply(message: "\(error)"))) ?? []
        }
        let envelope = Envelope(
            type: replyType, traceID: request.traceID,
            parentID: request.messageID, sender: bus.service.rawValue,
            body: bodyBytes)
        bus.sendReply(envelope, identity: identity, to: request.sender)
    }
}
