// The trace mirror of one service: an XPUB socket that copies every message
// the service sends or receives, but only while someone subscribes. XPUB
// reports subscriptions as messages (first byte 1 subscribe, 0 unsubscribe,
// then the topic), so with no subscriber the mirror skips all work.
//
// A mirrored message is nine frames:
//   frame 0  direction  "send" or "recv", also the subscription topic
//   frame 1  peer       the other end: a service name, "tagline", or "*"
//                       for a PUB event that goes to every subscriber
//   frames 2-8          the envelope, body redacted by JSONRedactor

import CZeroMQ
import TaglineCore

/// Direction of a mirrored message, seen from the service that mirrors it.
public enum TraceDirection: String, Sendable {
    case send
    case receive = "recv"
}

/// One mirrored message as a trace subscriber receives it.
public struct TraceRecord: Sendable {
    public var direction: TraceDirection
    public var peer: String
    public var envelope: Envelope

    /// Service whose trace socket mirrored the message.
    public var service: String

    /// Parses the nine frames of a message mirrored by `service`.
    public init(frames: [[UInt8]], service: String) throws {
        guard frames.count == Envelope.frameCount + 2 else {
            throw BusError.decode("trace message has \(frames.count) frames, expected 9")
        }
        let directionText = String(decoding: frames[0], as: UTF8.self)
        guard let direction = TraceDirection(rawValue: directionText) else {
            throw BusError.decode("trace frame 0 (direction) is \(directionText)")
        }
        self.direction = direction
        self.service = service
        peer = String(decoding: frames[1], as: UTF8.self)
        envelope = try Envelope(frames: frames[2...])
    }

    /// The end that sent the message.
    public var sender: String { envelope.sender }
    /// The end that received it: the peer of a send, the mirroring service of a receive.
    public var receiver: String { direction == .send ? peer : service }
}

/// The XPUB mirror socket of a service.
final class Tracer {
    private let socket: ZMQSocket
    private var topics: Set<[UInt8]> = []
    private let logger: Logger

    /// True while at least one subscriber listens.
    var isActive: Bool { !topics.isEmpty }

    init(endpoint: String, loop: EventLoop, logger: Logger) throws {
        socket = try ZMQSocket(type: ZMQ_XPUB)
        self.logger = logger
        // A slow trace reader must never hold up the service: drop beyond 10k messages.
        try socket.setOption(ZMQ_SNDHWM, Int32(10_000))
        try socket.bind(endpoint)
        loop.addSocket(socket) { [weak self] in self?.readSubscriptions() }
    }

    private func readSubscriptions() {
        while let frames = try? socket.receive(), let first = frames.first, !first.isEmpty {
            let topic = Array(first.dropFirst())
            if first[0] == 1 {
                topics.insert(topic)
                logger.info("BUS", "trace subscriber joined")
            } else if first[0] == 0 {
                topics.remove(topic)
                if topics.isEmpty { logger.info("BUS", "last trace subscriber left") }
            }
        }
    }

    /// Stops the mirror and closes its socket.
    func close(loop: EventLoop) {
        loop.removeSocket(socket)
        socket.close()
        topics = []
    }

    /// Mirrors one message when someone listens; the body is redacted first.
    func mirror(_ direction: TraceDirection, peer: String, _ envelope: Envelope) {
        guard isActive else { return }
        var copy = envelope
        copy.body = JSONRedactor.redact(envelope.body)
        let frames = [Array(direction.rawValue.utf8), Array(peer.utf8)] + copy.frames
        do {
            try socket.send(frames)
        } catch {
            logger.debug("BUS", "trace mirror failed: \(error)")
        }
    }
}
