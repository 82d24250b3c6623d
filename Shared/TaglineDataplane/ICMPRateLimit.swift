// The rate of ICMP errors one worker sends. RFC 1812 §4.3.2.8 recommends that
// routers limit it, so that a flood of expired or oversized packets, whose
// sources may be forged, does not turn into a flood of ICMP messages from the
// gateway. The figures are the defaults of Linux's net.ipv4.icmp_msgs_per_sec
// and net.ipv4.icmp_msgs_burst.

/// Token bucket of the ICMP and ICMPv6 errors of one worker.
struct ICMPRateLimit {
    /// Messages per second once the burst is spent.
    static let messagesPerSecond: UInt64 = 1000
    /// Messages sent back to back from a full bucket.
    static let burst: UInt64 = 50
    static let tokenInterval: UInt64 = 1_000_000_000 / messagesPerSecond

    private var tokens = ICMPRateLimit.burst
    /// Time (monotonic ns) up to which tokens were added.
    private var refilledUntil: UInt64 = 0

    /// Takes a token at `now` (monotonic ns); returns false when the bucket is empty.
    mutating func take(now: UInt64) -> Bool {
        if now > refilledUntil {
            let earned = (now - refilledUntil) / ICMPRateLimit.tokenInterval
            if earned >= ICMPRateLimit.burst - tokens {
                tokens = ICMPRateLimit.burst
                refilledUntil = now
            } else {
                tokens += earned
                refilledUntil += earned * ICMPRateLimit.tokenInterval
            }
        }
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }
}
