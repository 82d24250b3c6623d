// `show dataplane`: interfaces, workers and drop counters.

import TaglineCore

enum DataplaneShow {
    static func format(_ reply: DataplaneStatusReply) -> String {
        var lines = [
            "Dataplane: inside \(reply.insideInterface), outside \(reply.outsideInterface)",
            "  \(reply.installedSAs) SA pairs installed, \(reply.bindings) SGT bindings",
            "",
            pad("Worker", 8) + pad("CPU", 5) + pad("Packets", 14) + pad("Bursts", 12)
                + pad("Busy", 12) + pad("Idle", 12) + pad("Busy %", 8) + "Ring drops",
        ]
        for worker in reply.workers.sorted(by: { $0.worker < $1.worker }) {
            let total = worker.busyNanoseconds &+ worker.idleNanoseconds
            let busy = total == 0 ? 0 : Double(worker.busyNanoseconds) / Double(total) * 100
            let tenths = Int((busy * 10).rounded())
            let busyText = "\(tenths / 10).\(tenths % 10)%"
            lines.append(
                pad(String(worker.worker), 8) + pad(worker.cpu.map(String.init) ?? "-", 5)
                    + pad(String(worker.packets), 14) + pad(String(worker.bursts), 12)
                    + pad(seconds(worker.busyNanoseconds), 12)
                    + pad(seconds(worker.idleNanoseconds), 12) + pad(busyText, 8)
                    + (worker.ringDrops.map(String.init) ?? "-"))
        }
        lines.append("")
        let drops = reply.drops.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        if drops.isEmpty {
            lines.append("Drops: none")
        } else {
            lines.append("Drops:")
            let width = (drops.map(\.key.count).max() ?? 0) + 2
            for (reason, count) in drops {
                lines.append("  " + pad(reason, width) + String(count))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Seconds with milliseconds, as `12.345s`.
    static func seconds(_ nanoseconds: UInt64) -> String {
        let milliseconds = nanoseconds / 1_000_000
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count)
            + fraction + "s"
    }
}
