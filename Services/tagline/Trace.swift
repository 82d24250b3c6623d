// `tagline trace`: subscribe to every service's trace mirror and print one
// line per message in arrival order, optionally following one trace id and
// writing a Chrome trace-event file that Perfetto opens.

import Foundation
import TaglineBus
import TaglineCore

enum TraceCommand {
    /// Message ids already printed; each message is mirrored by its sender
    /// and by its receiver, and only the first copy is printed.
    private static let dedupeLimit = 20_000

    static func run(_ context: CLIContext) throws {
        let duration = try context.arguments.positiveNumber("--duration")
        let follow = context.arguments.values["--follow"]
        let verbose = context.arguments.flags.contains("-v")
        let chromePath = context.arguments.values["--chrome"]
        // Opened before tracing starts, so a bad path fails at once.
        let chromeFile = try chromePath.map(openChromeFile)
        let paths = BusPaths(runDirectory: context.runDirectory)
        let loop = EventLoop()

        var seen: Set<String> = []
        var seenOrder: [String] = []
        var events: [[String: Any]] = []
        var subscribers: [EventSubscriber] = []
        for service in ServiceName.allCases {
            let subscriber = try EventSubscriber(
                endpoint: paths.trace(service), topics: [""], loop: loop
            ) { frames in
                guard let record = try? TraceRecord(frames: frames, service: service.rawValue)
                else { return }
                let envelope = record.envelope
                if let follow, envelope.traceID != follow { return }
                guard seen.insert(envelope.messageID).inserted else { return }
                seenOrder.append(envelope.messageID)
                if seenOrder.count > dedupeLimit { seen.remove(seenOrder.removeFirst()) }

                print(line(record, verbose: verbose))
                fflush(stdout)
                if chromePath != nil { events.append(chromeEvent(record)) }
            }
            subscribers.append(subscriber)
        }
        let scope = follow.map { "trace \($0)" } ?? "all traces"
        print("tracing \(scope) in \(context.runDirectory); Ctrl-C stops")
        fflush(stdout)
        if let duration { loop.addOneShot(after: duration) { loop.stop() } }
        loop.run()
        for subscriber in subscribers { subscriber.close() }

        if let chromePath, let chromeFile {
            try writeChromeTrace(events, to: chromeFile, path: chromePath)
            print("wrote \(events.count) events to \(chromePath)")
        }
    }

    /// `16:07:29.123456  ike-negotiator -> sa-manager  sa.child.install  trace 1f2e...`
    static func line(_ record: TraceRecord, verbose: Bool) -> String {
        let envelope = record.envelope
        let time = IOSTime.traceTime(Double(envelope.timestampNanos) / 1e9)
        var text =
            "\(time)  \(record.sender) -> \(record.receiver)  \(envelope.type)  "
            + "trace \(envelope.traceID)"
        if verbose {
            // The mirror already redacted key material.
            text += "\n    " + String(decoding: envelope.body, as: UTF8.self)
        }
        return text
    }

    static func chromeEvent(_ record: TraceRecord) -> [String: Any] {
        let envelope = record.envelope
        return [
            "name": envelope.type, "cat": "bus", "ph": "i", "s": "t",
            "ts": Double(envelope.timestampNanos) / 1000,
            "pid": 1, "tid": threadID(record.sender),
            "args": [
                "from": record.sender, "to": record.receiver, "trace": envelope.traceID,
                "message": envelope.messageID, "parent": envelope.parentID,
            ],
        ]
    }

    /// Senders as trace-event threads: the services in table order, then the CLI.
    static let threadNames = ServiceName.allCases.map(\.rawValue) + ["tagline"]

    static func threadID(_ sender: String) -> Int {
        threadNames.firstIndex(of: sender) ?? threadNames.count
    }

    /// Creates or truncates the trace file at `path` for writing.
    static func openChromeFile(_ path: String) throws -> FileHandle {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CLIError("cannot write trace file \(path): \(String(cString: strerror(errno)))")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    /// Writes the Chrome trace-event JSON object format, one thread per sender.
    static func writeChromeTrace(
        _ events: [[String: Any]], to file: FileHandle, path: String
    ) throws {
        let names: [[String: Any]] = threadNames.enumerated().map { index, name in
            ["name": "thread_name", "ph": "M", "pid": 1, "tid": index, "args": ["name": name]]
        }
        let document: [String: Any] = ["traceEvents": names + events, "displayTimeUnit": "ms"]
        do {
            let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            try file.write(contentsOf: data)
            try file.close()
        } catch {
            throw CLIError("cannot write trace file \(path): \(error.localizedDescription)")
        }
    }
}
