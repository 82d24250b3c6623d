// Time stamps in the forms the CLI prints.

#if canImport(Glibc)
    import Glibc
#endif

enum IOSTime {
    private static let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    /// Formats the prefix IOS puts before a debug line: `*Dec  4 16:07:29.123: `, in local time.
    static func debugPrefix(_ time: Double) -> String {
        let parts = localParts(time)
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        let month = months[Int(parts.tm_mon) % 12]
        return "*\(month) \(day) \(clock(parts, time, fractionDigits: 3)): "
    }

    /// `16:07:29.123456` in local time, for trace lines.
    static func traceTime(_ time: Double) -> String {
        clock(localParts(time), time, fractionDigits: 6)
    }

    private static func localParts(_ time: Double) -> tm {
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return parts
    }

    private static func clock(_ parts: tm, _ time: Double, fractionDigits: Int) -> String {
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var scale = 1.0
        for _ in 0..<fractionDigits { scale *= 10 }
        let fraction = Int(((time - time.rounded(.down)) * scale).rounded(.down))
        let digits = String(fraction)
        let padded = String(repeating: "0", count: max(0, fractionDigits - digits.count)) + digits
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(padded)"
    }
}
