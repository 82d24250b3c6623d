// Errors of the bus library. Every case names what failed so a caller can
// print it as is.

import CZeroMQ

/// Failure of a bus operation.
public enum BusError: Error, CustomStringConvertible {
    /// No reply to a request of `type` from `service` within the timeout.
    case timeout(service: String, type: String)
    /// The service replied with an "error" envelope; the text is its ErrorReply message.
    case remote(String)
    /// A libzmq call failed; `function` names it and `errno` is `zmq_errno()`.
    case zmq(function: String, errno: Int32)
    /// A body or frame could not be decoded.
    case decode(String)
    /// The runtime directory is missing, unsafe or unusable.
    case runDirectory(String)
    /// Another process already serves this service name in the runtime directory.
    case alreadyRunning(service: String, lockPath: String)

    public var description: String {
        switch self {
        case .timeout(let service, let type):
            return "no reply from \(service) to \(type) within the timeout"
        case .remote(let message):
            return message
        case .zmq(let function, let code):
            return "\(function) failed: \(zmqErrorText(code)) (errno \(code))"
        case .decode(let message):
            return "invalid message: \(message)"
        case .runDirectory(let message):
            return message
        case .alreadyRunning(let service, let lockPath):
            return "\(service) is already running (\(lockPath) is locked by another process)"
        }
    }
}
