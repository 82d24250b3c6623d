// A single-threaded event loop over ZeroMQ sockets, plain file descriptors
// and timers, built on zmq_poll. Each service runs exactly one: handlers run
// one at a time, so a service's state needs no locks, and a request that
// arrives while a handler runs waits its turn in the socket's queue.

import CZeroMQ
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// The event loop of one service. Every method except `stop()` must be
/// called on the thread that runs the loop (or before `run()`).
public final class EventLoop {
    private struct Timer {
        var deadline: UInt64
        var interval: UInt64?
        var handler: () -> Void
    }

    private struct SocketWatch {
        var socket: ZMQSocket
        var handler: () -> Void
    }

    private var timers: [Int: Timer] = [:]
    private var nextTimerID = 1
    private var sockets: [ObjectIdentifier: SocketWatch] = [:]
    private var fileDescriptors: [Int32: () -> Void] = [:]

    /// Set by `stop()` from any thread; read by `run()`.
    private var stopRequested = false
    private var stopLock = pthread_mutex_t()
    /// Pipe that `stop()` writes to so a blocked zmq_poll returns at once.
    private var wakeRead: Int32 = -1
    private var wakeWrite: Int32 = -1

    /// Whether this loop stops on SIGTERM and SIGINT and runs `onSignal` handlers.
    public let handlesSignals: Bool
    private var signalHandlers: [Int32: () -> Void] = [:]
    /// The signal that stopped the last `run()`, if one did.
    public private(set) var stoppedBySignal: Int32?

    /// Creates a loop. With `handlesSignals` (the default) the loop installs
    /// SIGTERM and SIGINT handlers when it starts running and stops on them.
    /// Only one loop per process should handle signals; tests that run
    /// several loops in one process pass false.
    public init(handlesSignals: Bool = true) {
        self.handlesSignals = handlesSignals
        pthread_mutex_init(&stopLock, nil)
        (wakeRead, wakeWrite) = makeNonBlockingPipe(purpose: "event loop wake pipe")
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
        pthread_mutex_destroy(&stopLock)
    }

    // MARK: Timers

    /// Calls `handler` every `seconds` until the timer is cancelled; returns its id.
    @discardableResult
    public func addTimer(every seconds: Double, _ handler: @escaping () -> Void) -> Int {
        let interval = EventLoop.nanoseconds(seconds)
        return insertTimer(
            Timer(
                deadline: monotonicNanoseconds() &+ interval,
                interval: max(interval, 1), handler: handler))
    }

    /// Calls `handler` once after `seconds` (0 means on the next loop turn); returns its id.
    @discardableResult
    public func addOneShot(after seconds: Double, _ handler: @escaping () -> Void) -> Int {
        let delay = EventLoop.nanoseconds(seconds)
        return insertTimer(
            Timer(
                deadline: monotonicNanoseconds() &+ delay, interval: nil,
                handler: handler))
    }

    /// Cancels a timer; unknown or already fired ids are ignored.
    public func cancelTimer(_ id: Int) {
        timers[id] = nil
    }

    private func insertTimer(_ timer: Timer) -> Int {
        let id = nextTimerID
        nextTimerID += 1
        timers[id] = timer
        return id
    }

    private static func nanoseconds(_ seconds: Double) -> UInt64 {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        let capped = min(seconds, 1e9)
        return UInt64(capped * 1e9)
    }

    // MARK: Sources

    /// Calls `onReadable` whenever `fd` is readable. The handler must read
    /// what is pending, or it is called again on the next turn.
    public func addFileDescriptor(_ fd: Int32, onReadable: @escaping () -> Void) {
        fileDescriptors[fd] = onReadable
    }

    /// Stops watching `fd`; the caller still owns and closes it.
    public func removeFileDescriptor(_ fd: Int32) {
        fileDescriptors[fd] = nil
    }

    /// Calls `onReadable` whenever `socket` has a message queued.
    func addSocket(_ socket: ZMQSocket, onReadable: @escaping () -> Void) {
        sockets[ObjectIdentifier(socket)] = SocketWatch(socket: socket, handler: onReadable)
    }

    func removeSocket(_ socket: ZMQSocket) {
        sockets[ObjectIdentifier(socket)] = nil
    }

    // MARK: Running

    /// Runs handlers until `stop()` is called or, with `handlesSignals`,
    /// SIGTERM or SIGINT arrives.
    public func run() {
        stoppedBySignal = nil
        if handlesSignals {
            SignalPipe.install(SIGTERM)
            SignalPipe.install(SIGINT)
            for signal in signalHandlers.keys { SignalPipe.install(signal) }
        }
        while !isStopRequested() {
            runOnce(maxWait: -1)
        }
        pthread_mutex_lock(&stopLock)
        stopRequested = false
        pthread_mutex_unlock(&stopLock)
    }

    /// Makes `run()` return after the current handler. Safe from any thread.
    public func stop() {
        pthread_mutex_lock(&stopLock)
        stopRequested = true
        pthread_mutex_unlock(&stopLock)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Runs `handler` on the loop when `signal` arrives (for example SIGHUP
    /// to reload a configuration). Requires `handlesSignals`.
    public func onSignal(_ signal: Int32, _ handler: @escaping () -> Void) {
        precondition(handlesSignals, "onSignal needs a loop created with handlesSignals: true")
        signalHandlers[signal] = handler
        SignalPipe.install(signal)
    }

    private func isStopRequested() -> Bool {
        pthread_mutex_lock(&stopLock)
        defer { pthread_mutex_unlock(&stopLock) }
        return stopRequested
    }

    /// Polls once, waiting at most `maxWait` seconds (negative: until the next
    /// timer or event), then runs every due timer and ready handler.
    public func runOnce(maxWait: Double) {
        // Build the poll set from the current registrations.
        var items: [zmq_pollitem_t] = []
        let readable = Int16(ZMQ_POLLIN)
        items.append(zmq_pollitem_t(socket: nil, fd: wakeRead, events: readable, revents: 0))
        let signalFD = handlesSignals ? SignalPipe.readFD : -1
        if signalFD >= 0 {
            items.append(zmq_pollitem_t(socket: nil, fd: signalFD, events: readable, revents: 0))
        }
        let socketKeys = Array(sockets.keys)
        for key in socketKeys {
            let handle = sockets[key]!.socket.handle
            items.append(zmq_pollitem_t(socket: handle, fd: 0, events: readable, revents: 0))
        }
        let fdKeys = Array(fileDescriptors.keys)
        for fd in fdKeys {
            items.append(zmq_pollitem_t(socket: nil, fd: fd, events: readable, revents: 0))
        }

        // Wait until the nearest timer, capped by maxWait.
        var timeoutMillis = -1
        if let nearest = timers.values.map(\.deadline).min() {
            let now = monotonicNanoseconds()
            let waitNanos = nearest > now ? nearest - now : 0
            timeoutMillis = Int((waitNanos + 999_999) / 1_000_000)
        }
        if maxWait >= 0 {
            let cap = Int(maxWait * 1000)
            timeoutMillis = timeoutMillis < 0 ? cap : min(timeoutMillis, cap)
        }
        let count = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, Int32(buffer.count), timeoutMillis)
        }
        if count < 0 && zmq_errno() != EINTR {
            // zmq_poll fails only on a programming error (ETERM, EFAULT); back
            // off so a persistent failure does not spin a core.
            usleep(10_000)
        }

        // Wake pipe and signals first, so a stop is seen promptly.
        var index = 0
        if items[index].revents != 0 { drainWakePipe() }
        index += 1
        if signalFD >= 0 {
            if items[index].revents != 0 { dispatchSignals() }
            index += 1
        }
        for key in socketKeys {
            let ready = items[index].revents & readable != 0
            index += 1
            if ready, let watch = sockets[key] { watch.handler() }
        }
        for fd in fdKeys {
            let ready = items[index].revents != 0
            index += 1
            if ready, let handler = fileDescriptors[fd] { handler() }
        }
        fireDueTimers()
    }

    private func fireDueTimers() {
        let now = monotonicNanoseconds()
        let due = timers.filter { $0.value.deadline <= now }
            .sorted { $0.value.deadline < $1.value.deadline }
        for (id, timer) in due {
            // A handler that ran earlier in this turn may have cancelled it.
            guard timers[id] != nil else { continue }
            if let interval = timer.interval {
                var next = timer.deadline &+ interval
                if next <= now { next = now &+ interval }
                timers[id]?.deadline = next
            } else {
                timers[id] = nil
            }
            timer.handler()
        }
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    private func dispatchSignals() {
        for signal in SignalPipe.drain() {
            if signal == SIGTERM || signal == SIGINT {
                stoppedBySignal = signal
                stop()
            } else if let handler = signalHandlers[signal] {
                handler()
            }
        }
    }
}

/// The process-wide self-pipe for signals: the handler writes the signal
/// number as one byte, which is async-signal-safe, and the loop reads it.
enum SignalPipe {
    nonisolated(unsafe) static var readFD: Int32 = -1
    nonisolated(unsafe) static var installed: Set<Int32> = []

    /// Installs the handler for `signal` once per process.
    static func install(_ signal: Int32) {
        if signalPipeWriteFD < 0 {
            (readFD, signalPipeWriteFD) = makeNonBlockingPipe(purpose: "signal pipe")
        }
        guard !installed.contains(signal) else { return }
        installed.insert(signal)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = signalPipeHandler
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        sigaction(signal, &action, nil)
    }

    /// Reads every pending signal number.
    static func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        var signals: [Int32] = []
        while true {
            let count = read(readFD, &buffer, buffer.count)
            if count <= 0 { break }
            signals += buffer[0..<count].map { Int32($0) }
        }
        return signals
    }
}

nonisolated(unsafe) private var signalPipeWriteFD: Int32 = -1

private let signalPipeHandler: @convention(c) (Int32) -> Void = { signal in
    let savedErrno = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalPipeWriteFD, &byte, 1)
    errno = savedErrno
}

/// Opens a pipe whose ends are non-blocking and close-on-exec. Failing here
/// means the process is out of file descriptors, which a service cannot
/// recover from at start.
private func makeNonBlockingPipe(purpose: String) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else {
        fatalError("pipe failed for the \(purpose): \(String(cString: strerror(errno)))")
    }
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}
