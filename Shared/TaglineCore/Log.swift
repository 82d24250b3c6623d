// A small leveled logger for the services. Libraries do not log: they
// return errors or count drops, and the executables decide what to print.

#if canImport(Glibc)
import Glibc
#endif

/// Log levels with fixed meanings: notice for audit events (SA up or down),
/// info for control flow, debug for diagnosis, trace for packet bytes.
public enum LogLevel: Int, Comparable, Sendable {
    case error = 0, warning, notice, info, debug, trace

    public var name: String {
        switch self {
        case .error: return "error"
        case .warning: return "warning"
        case .notice: return "notice"
        case .info: return "info"
        case .debug: return "debug"
        case .trace: return "trace"
        }
    }

    public init?(name: String) {
        switch name.lowercased() {
        case "error": self = .error
        case "warning", "warn": self = .warning
        case "notice": self = .notice
        case "info": self = .info
        case "debug": self = .debug
        case "trace": self = .trace
        default: return nil
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Writes `time level [service] SUBSYSTEM message` lines to standard error.
/// The level comes from TAGLINE_LOG_LEVEL (default info).
public final class Logger: @unchecked Sendable {
    public let service: String
    public var level: LogLevel
    private var lock = pthread_mutex_t()

    public init(service: String, level: LogLevel? = nil) {
        self.service = service
        let fromEnvironment = getenv("TAGLINE_LOG_LEVEL").flatMap {
            LogLevel(name: String(cString: $0))
        }
        self.level = level ?? fromEnvironment ?? .info
        pthread_mutex_init(&lock, nil)
    }

    /// Writes one line when `level` is enabled. `subsystem` is a short tag such as IKE, CHILD,
    /// ESP, TAG, BUS or SXP; callers put the SA or peer id first in `message`.
    public func log(_ level: LogLevel, _ subsystem: String, _ message: @autoclosure () -> String) {
        guard level <= self.level else { return }
        let line = "\(Logger.timestamp()) \(level.name) [\(service)] \(subsystem) \(message())\n"
        pthread_mutex_lock(&lock)
        fputs(line, stderr)
        pthread_mutex_unlock(&lock)
    }

    public func error(_ subsystem: String, _ message: @autoclosure () -> String) {
        log(.error, subsystem, message())
    }
    public func warning(_ subsystem: String, _ message: @autoclosure () -> String) {
        log(.warning, subsystem, message())
    }
    public func notice(_ subsystem: String, _ message: @autoclosure () -> String) {
        log(.notice, subsystem, message())
    }
    public func info(_ subsystem: String, _ message: @autoclosure () -> String) {
        log(.info, subsystem, message())
    }
    public func debug(_ subsystem: String, _ message: @autoclosure () -> String) {
        log(.debug, subsystem, message())
    }

    /// UTC wall time as `2026-12-04T16:07:29.123Z`.
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int32(now.tv_nsec / 1_000_000)
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(millis, 3))Z"
    }
}

/// Seconds since the Unix epoch, with sub-second precision.
public func wallClockSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Nanoseconds of CLOCK_MONOTONIC, for timers and durations.
public func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
