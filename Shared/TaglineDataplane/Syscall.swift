// The one helper every system call of the dataplane goes through: it
// retries EINTR, reports EAGAIN as a value, and throws the errno with the
// call's name otherwise.

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call.
public struct SystemCallError: Error, CustomStringConvertible, Equatable {
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

enum Syscall {
    /// Result of a call that may find nothing to do.
    enum Outcome<Value> {
        case done(Value)
        case wouldBlock
    }

    /// Runs `body` until it does not fail with EINTR. Throws on any failure.
    @discardableResult
    static func run<Value: BinaryInteger>(_ name: String, _ body: () -> Value) throws -> Value {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemCallError(call: name, errno: code)
        }
    }

    /// Like `run`, but EAGAIN and EWOULDBLOCK come back as `.wouldBlock`.
    static func runNonBlocking<Value: BinaryInteger>(_ name: String, _ body: () -> Value) throws
        -> Outcome<Value>
    {
        while true {
            let result = body()
            if result >= 0 { return .done(result) }
            let code = Glibc.errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw SystemCallError(call: name, errno: code)
        }
    }

    /// setsockopt with a value of any plain type.
    static func setOption<T>(
        _ fd: Int32, _ level: Int32, _ option: Int32, _ value: T,
        name: String
    ) throws {
        var copy = value
        try run("setsockopt(\(name))") {
            setsockopt(fd, level, option, &copy, socklen_t(MemoryLayout<T>.size))
        }
    }
}
