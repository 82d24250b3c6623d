// A SUB socket for programs that are not services (the CLI): it follows a
// service's events or trace mirror on an event loop, without a ServiceBus.

import CZeroMQ
import TaglineCore

/// Receives the raw frames of every message on `endpoint` whose first frame
/// starts with one of `topics` (an empty topic receives everything).
public final class EventSubscriber {
    private let socket: ZMQSocket
    private weak var loop: EventLoop?

    /// Connects to `endpoint` (a `BusPaths.publisher` or `BusPaths.trace`
    /// endpoint) and calls `handler` on `loop` with each message's frames.
    /// Connecting succeeds while the publisher is down; messages flow once it is up.
    public init(
        endpoint: String, topics: [String], loop: EventLoop,
        handler: @escaping ([[UInt8]]) -> Void
    ) throws {
        socket = try ZMQSocket(type: ZMQ_SUB)
        try socket.setOption(ZMQ_RECONNECT_IVL, Int32(100))
        for topic in topics {
            try socket.setOption(ZMQ_SUBSCRIBE, bytes: Array(topic.utf8))
        }
        try socket.connect(endpoint)
        self.loop = loop
        loop.addSocket(socket) { [weak self] in
            guard let self else { return }
            for _ in 0..<256 {
                guard let frames = try? self.socket.receive() else { return }
                handler(frames)
            }
        }
    }

    deinit {
        close()
    }

    /// Disconnects and stops delivering messages.
    public func close() {
        loop?.removeSocket(socket)
        socket.close()
    }
}
