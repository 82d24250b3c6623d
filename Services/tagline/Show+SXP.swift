// `show cts sxp connections [brief]`, laid out as Cisco IOS prints it: the
// global settings, then one block per peer, or one line per peer with brief.

import TaglineCore

enum SXPShow {
    /// Formats the global settings and one block per connection.
    static func formatConnections(_ reply: SXPConnectionsReply) -> String {
        var lines = header(reply)
        for connection in reply.connections {
            lines.append(String(repeating: "-", count: 46))
            lines += [
                field("Peer IP", connection.peer),
                field("Source IP", connection.source),
                field("Conn status", connection.state),
                field("Conn version", connection.version.map(String.init) ?? "-"),
                field(
                    "Conn capability",
                    connection.capabilities.isEmpty
                        ? "-" : connection.capabilities.joined(separator: "-")),
                field("Conn hold time", "\(connection.holdTime) seconds"),
                field("Local mode", "SXP \(connection.mode)"),
                field("Connection inst#", String(connection.instance)),
                field("TCP conn fd", String(connection.fd)),
                field("TCP conn password", passwordText(connection.password)),
                connection.holdTimerRunning ? "Hold timer is running" : "Hold timer is not running",
                "Duration since last state change: "
                    + duration(connection.secondsSinceChange) + " (dd:hr:mm:sec)",
                "",
            ]
        }
        lines.append("Total num of SXP Connections = \(reply.connections.count)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Formats the global settings and one line per connection.
    static func formatBrief(_ reply: SXPConnectionsReply) -> String {
        var lines = header(reply)
        let rule = String(repeating: "-", count: 90)
        lines += [
            rule, pad("Peer_IP", 17) + pad("Source_IP", 17) + pad("Conn Status", 26) + "Duration",
            rule,
        ]
        for connection in reply.connections {
            lines.append(
                pad(connection.peer, 17) + pad(connection.source, 17) + pad(connection.state, 26)
                    + duration(connection.secondsSinceChange) + " (dd:hr:mm:sec)")
        }
        lines += ["", "Total num of SXP Connections = \(reply.connections.count)"]
        return lines.joined(separator: "\n") + "\n"
    }

    private static func header(_ reply: SXPConnectionsReply) -> [String] {
        [
            " SXP              : " + (reply.enabled ? "Enabled" : "Disabled"),
            " Highest Version Supported: \(reply.highestVersion)",
            " Default Password : " + (reply.defaultPasswordSet ? "Set" : "Not Set"),
            " Default Source IP: " + (reply.defaultSourceIP ?? "Not Set"),
            "Connection retry open period: \(reply.retryPeriod) secs",
            "Reconcile period: \(reply.reconciliationPeriod) secs",
        ]
    }

    /// Formats `name` padded to 17 columns, a colon, and `value`.
    private static func field(_ name: String, _ value: String) -> String {
        name + String(repeating: " ", count: max(0, 17 - name.count)) + ": " + value
    }

    private static func passwordText(_ password: String) -> String {
        switch password {
        case "default": return "default SXP password"
        case "connection": return "connection SXP password"
        default: return "none"
        }
    }

    /// Formats seconds as IOS's `dd:hr:mm:sec`, such as 0:00:21:25.
    static func duration(_ seconds: Double) -> String {
        let total = seconds.isFinite ? max(0, Int(seconds)) : 0
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let days = total / 86400
        let hours = total / 3600 % 24
        let minutes = total / 60 % 60
        return "\(days):\(two(hours)):\(two(minutes)):\(two(total % 60))"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
