// The request side of the bus: a DEALER socket connected to one service's
// ROUTER. Requests are matched to replies by message id (the reply's parent
// id), never by order, so a late reply to an abandoned request is dropped.

import CZeroMQ
import Foundation
import TaglineCore

/// Sends requests to one service. Blocking `request` suits the CLI and
/// start-up code; `send` waits on an event loop without blocking it.
/// Not thread-safe: use a client from one thread.
public final class BusClient {
    public let service: ServiceName
    public let endpoint: String
    /// Sender name put into each envelope: a service name, or "tagline" for the CLI.
    public let sender: String

    private var socket: ZMQSocket
    private weak var loop: EventLoop?
    private var pending: [String: PendingRequest] = [:]
    /// A timed-out request's message may still sit in the socket queue;
    /// the socket is replaced once no other request is waiting on it.
    private var needsReset = false

    /// Trace mirror of the owning service, if any.
    var tracer: Tracer?
    /// Returns the envelope the owning service is handling, so requests
    /// made from a handler inherit its trace id and name it as parent.
    var currentContext: () -> Envelope? = { nil }

    private struct PendingRequest {
        var type: String
        var timerID: Int
        var complete: (Result<Envelope, BusError>) -> Void
    }

    /// Opens a DEALER socket to `service` under `runDirectory`. Connecting
    /// succeeds even when the service is not running yet.
    public init(service: ServiceName, runDirectory: String, sender: String) throws {
        self.service = service
        self.endpoint = BusPaths(runDirectory: runDirectory).router(service)
        self.sender = sender
        self.socket = try BusClient.openSocket(endpoint)
    }

    deinit {
        loop?.removeSocket(socket)
        for request in pending.values { loop?.cancelTimer(request.timerID) }
    }

    private static func openSocket(_ endpoint: String) throws -> ZMQSocket {
        let socket = try ZMQSocket(type: ZMQ_DEALER)
        // Retry quickly, so a restarted service is reachable again within 100 ms.
        try socket.setOption(ZMQ_RECONNECT_IVL, Int32(100))
        try socket.connect(endpoint)
        return socket
    }

    /// Replaces the socket, discarding anything still queued on the old one.
    private func resetSocket() {
        needsReset = false
        do {
            let fresh = try BusClient.openSocket(endpoint)
            loop?.removeSocket(socket)
            socket.close()
            socket = fresh
            if let loop {
                loop.addSocket(socket) { [weak self] in self?.readReplies() }
            }
        } catch {
            // Keep the old socket: replies are still matched by message id.
            needsReset = true
        }
    }

    private func makeEnvelope<Req: Encodable>(_ type: String, _ body: Req, traceID: String?)
        throws -> Envelope
    {
        let context = currentContext()
        return try Envelope(
            type: type, encoding: body,
            traceID: traceID ?? context?.traceID ?? Envelope.newID(),
            parentID: context?.messageID ?? "", sender: sender)
    }

    // MARK: Blocking

    /// Sends a request and waits up to `timeout` seconds for its reply.
    /// Throws `.timeout` when the service does not reply in time, `.remote` with the
    /// service's message when it replied "error", `.decode` on a bad reply.
    public func request<Req: Encodable, Rep: Decodable>(
        _ type: String, _ body: Req, as replyType: Rep.Type, timeout: Double = 2.0,
        traceID: String? = nil
    ) throws -> Rep {
        let envelope = try makeEnvelope(type, body, traceID: traceID)
        guard try socket.send(envelope.frames) else {
            throw BusError.timeout(service: service.rawValue, type: type)
        }
        tracer?.mirror(.send, peer: service.rawValue, envelope)

        let deadline = monotonicNanoseconds() &+ UInt64(max(timeout, 0) * 1e9)
        while true {
            let now = monotonicNanoseconds()
            if now >= deadline { break }
            let remaining = Double(deadline - now) / 1e9
            guard try socket.waitReadable(timeout: remaining) else { continue }
            while let frames = try socket.receive() {
                guard let reply = try? Envelope(frames: frames) else { continue }
                if reply.parentID == envelope.messageID {
                    tracer?.mirror(.receive, peer: service.rawValue, reply)
                    return try BusClient.decodeReply(reply, to: type, as: Rep.self)
                }
                // A reply to a request made with `send`: completed on the loop
                // later, so its handler does not run inside this call.
                deliverToPending(reply, deferred: true)
            }
        }
        if pending.isEmpty { resetSocket() } else { needsReset = true }
        throw BusError.timeout(service: service.rawValue, type: type)
    }

    /// Decodes a reply envelope: an "error" reply becomes `.remote`.
    static func decodeReply<Rep: Decodable>(
        _ reply: Envelope, to requestType: String,
        as: Rep.Type
    ) throws -> Rep {
        if reply.type == MessageType.error {
            let error = try reply.decode(ErrorReply.self)
            throw BusError.remote(error.message)
        }
        guard reply.type == MessageType.reply(to: requestType) else {
            throw BusError.decode("reply to \(requestType) has type \(reply.type)")
        }
        return try reply.decode(Rep.self)
    }

    // MARK: On an event loop

    /// Sends a request and calls `completion` on `loop` with the reply, or
    /// with `.timeout` after `timeout` seconds. Never blocks the loop.
    /// A client serves one loop; the first call attaches it.
    public func send<Req: Encodable, Rep: Decodable>(
        _ type: String, _ body: Req, as replyType: Rep.Type, timeout: Double,
        loop: EventLoop, completion: @escaping (Result<Rep, BusError>) -> Void
    ) {
        attach(to: loop)
        let envelope: Envelope
        do {
            envelope = try makeEnvelope(type, body, traceID: nil)
            guard try socket.send(envelope.frames) else {
                throw BusError.timeout(service: service.rawValue, type: type)
            }
        } catch {
            let failure = error as? BusError ?? .decode("\(error)")
            loop.addOneShot(after: 0) { completion(.failure(failure)) }
            return
        }
        tracer?.mirror(.send, peer: service.rawValue, envelope)

        let messageID = envelope.messageID
        let serviceName = service.rawValue
        let timerID = loop.addOneShot(after: timeout) { [weak self] in
            guard let self, self.pending.removeValue(forKey: messageID) != nil else { return }
            if self.pending.isEmpty { self.resetSocket() } else { self.needsReset = true }
            completion(.failure(.timeout(service: serviceName, type: type)))
        }
        pending[messageID] = PendingRequest(type: type, timerID: timerID) { result in
            switch result {
            case .success(let reply):
                do {
                    completion(.success(try BusClient.decodeReply(reply, to: type, as: Rep.self)))
                } catch let error as BusError {
                    completion(.failure(error))
                } catch {
                    completion(.failure(.decode("\(error)")))
                }
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    /// Number of requests sent with `send` that still wait for a reply.
    public var pendingCount: Int { pending.count }

    private func attach(to loop: EventLoop) {
        if self.loop === loop { return }
        precondition(self.loop == nil, "a BusClient serves a single event loop")
        self.loop = loop
        loop.addSocket(socket) { [weak self] in self?.readReplies() }
    }

    private func readReplies() {
        // Bounded, so a flood of replies cannot starve the rest of the loop.
        for _ in 0..<256 {
            guard let frames = try? socket.receive() else { return }
            guard let reply = try? Envelope(frames: frames) else { continue }
            deliverToPending(reply, deferred: false)
        }
    }

    private func deliverToPending(_ reply: Envelope, deferred: Bool) {
        guard let request = pending.removeValue(forKey: reply.parentID) else { return }
        loop?.cancelTimer(request.timerID)
        tracer?.mirror(.receive, peer: service.rawValue, reply)
        if needsReset && pending.isEmpty { resetSocket() }
        if deferred, let loop {
            loop.addOneShot(after: 0) { request.complete(.success(reply)) }
        } else {
            request.complete(.success(reply))
        }
    }
}
