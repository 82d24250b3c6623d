// Event subscriptions: one SUB socket per publishing service, with handlers
// looked up by the exact message type. ZeroMQ filters topics by prefix, so
// a subscription to "sa.child.update" also delivers
// "sa.child.update.heartbeat"; the exact lookup drops types without a handler.

import CZeroMQ
import TaglineCore

extension ServiceBus {
    /// Calls `handler` on the loop for every event of `type` that `service`
    /// publishes. The SUB socket reconnects by itself when the publisher
    /// restarts. Events that do not decode as `T` are logged and skipped.
    public func subscribe<T: Decodable>(
        to target: ServiceName, type: String, _ handler: @escaping (T, Envelope) -> Void
    ) {
        let logger = self.logger
        subscriber(for: target).add(type: type) { envelope in
            do {
                handler(try envelope.decode(T.self), envelope)
            } catch {
                logger.warning("BUS", "dropped \(type) from \(target.rawValue): \(error)")
            }
        }
    }

    func subscriber(for target: ServiceName) -> Subscriber {
        if let existing = subscribers[target] { return existing }
        let subscriber: Subscriber
        do {
            subscriber = try Subscriber(endpoint: paths.publisher(target), loop: loop)
        } catch {
            fatalError("cannot open a SUB socket to \(target.rawValue): \(error)")
        }
        subscriber.onEnvelope = { [weak self] envelope, dispatch in
            guard let self else { return }
            self.tracer.mirror(.receive, peer: envelope.sender, envelope)
            let previous = self.currentEnvelope
            self.currentEnvelope = envelope
            dispatch()
            self.currentEnvelope = previous
        }
        subscribers[target] = subscriber
        return subscriber
    }
}

/// A SUB socket connected to one publisher.
final class Subscriber {
    private let socket: ZMQSocket
    private var handlers: [String: [(Envelope) -> Void]] = [:]
    /// Wraps each dispatch, so the bus can mirror the event and set its context.
    var onEnvelope: (Envelope, () -> Void) -> Void = { _, dispatch in dispatch() }

    init(endpoint: String, loop: EventLoop) throws {
        socket = try ZMQSocket(type: ZMQ_SUB)
        try socket.setOption(ZMQ_RECONNECT_IVL, Int32(100))
        try socket.connect(endpoint)
        loop.addSocket(socket) { [weak self] in self?.readEvents() }
    }

    /// Subscribes to `type` (once per type) and adds a handler for it.
    func add(type: String, handler: @escaping (Envelope) -> Void) {
        if handlers[type] == nil {
            // Setting ZMQ_SUBSCRIBE fails only on a closed socket.
            try? socket.setOption(ZMQ_SUBSCRIBE, bytes: Array(type.utf8))
        }
        handlers[type, default: []].append(handler)
    }

    func close(loop: EventLoop) {
        loop.removeSocket(socket)
        socket.close()
    }

    private func readEvents() {
        for _ in 0..<256 {
            guard let frames = try? socket.receive() else { return }
            guard let envelope = try? Envelope(frames: frames),
                let list = handlers[envelope.type]
            else { continue }
            onEnvelope(envelope) {
                for handler in list { handler(envelope) }
            }
        }
    }
}
