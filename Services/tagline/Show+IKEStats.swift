// `show crypto ikev2 stats`: SA counts in the layout of IOS's command of the
// same name, then every IKE datagram drop reason of the negotiator with its count.

import TaglineCore

enum IKEStatsShow {
    static let rule = String(repeating: "-", count: 80)

    /// Formats the counts; `now` gives the negotiator's uptime from `reply.startedAt`.
    static func format(_ reply: IKEStatsReply, now: Double) -> String {
        let total = reply.establishedSAs.addingReportingOverflow(reply.halfOpenSAs)
        let totalText = total.overflow ? "overflow" : String(total.partialValue)
        var lines = [
            rule, pad("", 27) + "Crypto IKEv2 SA Statistics", rule,
            pad("Total IKEv2 SA Count:", 25) + pad(totalText, 9)
                + pad("active:", 15) + pad(String(reply.establishedSAs), 9)
                + "half-open: \(reply.halfOpenSAs)",
        ]

        // Every reason the negotiator sent, zero counts included, sorted by name.
        let drops = reply.drops.sorted { $0.key < $1.key }
        lines.append(pad("IKEv2 packets dropped:", 25) + saturatingSum(drops.map(\.value)))
        let width = (drops.map(\.key.count).max() ?? 0) + 2
        for (reason, count) in drops {
            lines.append("  " + pad(reason, width) + String(count))
        }
        let uptime = PingCommand.uptimeText(now - reply.startedAt)
        lines.append("Drops counted since ike-negotiator started, \(uptime) ago")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Adds `values` and returns the sum as text, or `more than 18446744073709551615`
    /// when the sum overflows UInt64.
    static func saturatingSum(_ values: [UInt64]) -> String {
        var sum: UInt64 = 0
        for value in values {
            let next = sum.addingReportingOverflow(value)
            if next.overflow { return "more than \(UInt64.max)" }
            sum = next.partialValue
        }
        return String(sum)
    }
}
