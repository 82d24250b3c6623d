// A thin owner of one libzmq socket: it opens the socket on the process-wide
// context, sends and receives multipart messages, and closes the socket in
// deinit. Everything above this file works with frames as byte arrays.

import CZeroMQ

#if canImport(Glibc)
    import Glibc
#endif

/// The process-wide ZeroMQ context (`zmq_ctx_new`). It is never terminated:
/// `zmq_ctx_term` blocks until every socket is closed, and services exit
/// without waiting for that.
let sharedZMQContext: UnsafeMutableRawPointer = {
    guard let context = zmq_ctx_new() else {
        fatalError("zmq_ctx_new failed: errno \(zmq_errno())")
    }
    return context
}()

/// Throws `BusError.zmq` with the failed function and `zmq_errno()`.
func zmqFailure(_ function: String) -> BusError {
    .zmq(function: function, errno: zmq_errno())
}

/// Returns the text of a libzmq error number (`zmq_strerror`).
public func zmqErrorText(_ code: Int32) -> String {
    String(cString: zmq_strerror(code))
}

/// One ZeroMQ socket. Not thread-safe: a socket belongs to one thread.
final class ZMQSocket {
    let handle: UnsafeMutableRawPointer
    private var isClosed = false
    /// The endpoint passed to bind or connect, for error messages.
    private(set) var endpoint = ""

    /// Opens a socket of `type` (ZMQ_ROUTER, ZMQ_DEALER, ...) with linger 0,
    /// so a close never waits for undelivered messages.
    init(type: Int32) throws {
        guard let handle = zmq_socket(sharedZMQContext, type) else {
            throw zmqFailure("zmq_socket")
        }
        self.handle = handle
        try setOption(ZMQ_LINGER, Int32(0))
    }

    deinit {
        close()
    }

    /// Closes the socket (`zmq_close`); later calls are ignored. The owner
    /// removes it from any event loop first.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    /// Sets an integer option (`zmq_setsockopt`).
    func setOption(_ option: Int32, _ value: Int32) throws {
        var copy = value
        let result = zmq_setsockopt(handle, option, &copy, MemoryLayout<Int32>.size)
        if result != 0 { throw zmqFailure("zmq_setsockopt(\(option))") }
    }

    /// Sets a 64-bit integer option such as ZMQ_MAXMSGSIZE.
    func setOption(_ option: Int32, _ value: Int64) throws {
        var copy = value
        let result = zmq_setsockopt(handle, option, &copy, MemoryLayout<Int64>.size)
        if result != 0 { throw zmqFailure("zmq_setsockopt(\(option))") }
    }

    /// Sets a byte-string option such as ZMQ_SUBSCRIBE.
    func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBytes { raw in
            zmq_setsockopt(handle, option, raw.baseAddress, raw.count)
        }
        if result != 0 { throw zmqFailure("zmq_setsockopt(\(option))") }
    }

    /// Binds to `endpoint` (`zmq_bind`).
    func bind(_ endpoint: String) throws {
        self.endpoint = endpoint
        if zmq_bind(handle, endpoint) != 0 { throw zmqFailure("zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint` (`zmq_connect`). For ipc:// this succeeds even
    /// when no socket is bound yet; libzmq keeps reconnecting in the background.
    func connect(_ endpoint: String) throws {
        self.endpoint = endpoint
        if zmq_connect(handle, endpoint) != 0 { throw zmqFailure("zmq_connect(\(endpoint))") }
    }

    /// Sends all frames as one multipart message (`zmq_send` with ZMQ_SNDMORE).
    /// Returns false when `dontWait` is set and the message would block
    /// (EAGAIN: high-water mark reached or, for ROUTER, no such peer).
    @discardableResult
    func send(_ frames: [[UInt8]], dontWait: Bool = true) throws -> Bool {
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        if isClosed { throw BusError.zmq(function: "zmq_send(\(endpoint))", errno: ENOTSOCK) }
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            let result = frame.withUnsafeBytes { raw in
                zmq_send(handle, raw.baseAddress, raw.count, flags)
            }
            if result < 0 {
                let code = zmq_errno()
                // Only the first frame can fail with EAGAIN; later frames of a
                // message are queued atomically once the first one is accepted.
                if code == EAGAIN && index == 0 { return false }
                throw BusError.zmq(function: "zmq_send(\(endpoint))", errno: code)
            }
        }
        return true
    }

    /// Receives one multipart message (`zmq_msg_recv`); nil when `dontWait`
    /// is set and nothing is queued.
    func receive(dontWait: Bool = true) throws -> [[UInt8]]? {
        if isClosed { throw BusError.zmq(function: "zmq_msg_recv(\(endpoint))", errno: ENOTSOCK) }
        var frames: [[UInt8]] = []
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            let flags: Int32 = (dontWait && frames.isEmpty) ? ZMQ_DONTWAIT : 0
            var result: Int32
            repeat {
                result = zmq_msg_recv(&message, handle, flags)
            } while result < 0 && zmq_errno() == EINTR
            if result < 0 {
                let code = zmq_errno()
                if code == EAGAIN && frames.isEmpty { return nil }
                throw BusError.zmq(function: "zmq_msg_recv(\(endpoint))", errno: code)
            }
            let size = zmq_msg_size(&message)
            if size == 0 {
                frames.append([])
            } else {
                let data = zmq_msg_data(&message)!.assumingMemoryBound(to: UInt8.self)
                frames.append(Array(UnsafeBufferPointer(start: data, count: size)))
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }

    /// Waits up to `timeout` seconds for the socket to become readable
    /// (`zmq_poll` on this socket alone). A negative timeout waits forever.
    func waitReadable(timeout: Double) throws -> Bool {
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let milliseconds = timeout < 0 ? -1 : Int(timeout * 1000)
        let result = zmq_poll(&item, 1, milliseconds)
        if result < 0 {
            if zmq_errno() == EINTR { return false }
            throw zmqFailure("zmq_poll")
        }
        return item.revents & Int16(ZMQ_POLLIN) != 0
    }
}
