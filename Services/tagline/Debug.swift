// `debug crypto ipsec metadata sgt` and `debug crypto ikev2 internal`: switch
// the debug on in the service, print its debug events until Ctrl-C,
// `--duration` or `--count`, then switch it off again.

import TaglineBus
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

enum DebugCommand {
    static func run(
        _ context: CLIContext, service: ServiceName, category: String,
        type: String
    ) throws {
        let duration = try context.arguments.positiveNumber("--duration")
        let maxLines = try context.arguments.positiveInteger("--count")
        let loop = EventLoop()
        var printed = 0

        // Subscribe before switching the debug on, so no early line is lost.
        let endpoint = BusPaths(runDirectory: context.runDirectory).publisher(service)
        let subscriber = try EventSubscriber(endpoint: endpoint, topics: [type], loop: loop) {
            frames in
            guard let envelope = try? Envelope(frames: frames), envelope.type == type,
                let line = try? envelope.decode(DebugLine.self)
            else { return }
            print(IOSTime.debugPrefix(line.time) + line.text)
            fflush(stdout)
            printed += 1
            if let maxLines, printed >= maxLines { loop.stop() }
        }
        defer { subscriber.close() }
        // Let the subscription reach the publisher before the first line can appear.
        loop.runOnce(maxWait: 0.1)

        _ = try context.request(
            service, MessageType.debugSet,
            DebugSetRequest(category: category, enabled: true),
            as: EmptyReply.self)
        print("\(category) debugging is on (\(service.rawValue)); Ctrl-C stops")
        fflush(stdout)
        if let duration { loop.addOneShot(after: duration) { loop.stop() } }
        loop.run()

        // NOTE: the switch is per service, so this also ends the debug for
        // another tagline session watching the same category.
        do {
            _ = try context.request(
                service, MessageType.debugSet,
                DebugSetRequest(category: category, enabled: false),
                as: EmptyReply.self)
            print("\(category) debugging is off")
        } catch let error as CLIError {
            throw CLIError("\(error.message)\n(debugging may still be on in \(service.rawValue))")
        }
    }
}
