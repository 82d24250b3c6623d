// tagline: the operator's command line. It owns no state; every command is
// one or more requests to the services over the bus.
//
//   tagline [--run-dir DIR] [--json] COMMAND ...     (tagline help lists the commands)

import TaglineBus
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a show command: JSON or the IOS layout.
func show<Rep: Codable>(
    _ context: CLIContext, _ service: ServiceName, _ type: String,
    as replyType: Rep.Type, format: (Rep) -> String
) throws {
    let reply = try context.request(service, type, EmptyRequest(), as: Rep.self)
    if context.json {
        try context.printJSON(reply)
    } else {
        print(format(reply), terminator: "")
    }
}

let commands: [Command] = [
    Command(
        pattern: [
            .keyword("show"), .keyword("crypto"), .keyword("ikev2"), .keyword("sa"),
            .optionalKeyword("detailed"),
        ],
        summary: "IKE SAs from ike-negotiator"
    ) { context, bound in
        try show(context, .ikeNegotiator, MessageType.ikeList, as: IKESAListReply.self) {
            IKEShow.format($0, detailed: !bound.isEmpty)
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("crypto"), .keyword("ipsec"), .keyword("sa"),
            .optionalKeyword("detail"),
        ],
        summary: "Child SAs and counters from sa-manager (--wireshark: esp_sa lines)"
    ) {
        context, bound in
        if context.arguments.flags.contains("--wireshark") {
            let reply = try context.request(
                .saManager, MessageType.childList, EmptyRequest(),
                as: ChildSAListReply.self)
            print(IPsecShow.wiresharkLines(reply), terminator: "")
            return
        }
        try show(context, .saManager, MessageType.childList, as: ChildSAListReply.self) {
            IPsecShow.format($0, detail: !bound.isEmpty, now: wallClockSeconds())
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("cts"), .keyword("role-based"),
            .keyword("sgt-map"), .keyword("all"),
        ],
        summary: "effective IP-SGT bindings and totals per source"
    ) { context, _ in
        try show(context, .bindingStore, MessageType.bindingList, as: BindingListReply.self) {
            CTSShow.formatAll($0)
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("cts"), .keyword("role-based"),
            .keyword("sgt-map"), .address,
        ],
        summary: "the binding that applies to one address (longest prefix)"
    ) {
        context, bound in
        let address = IPAddress(bound[0])!
        let reply = try context.request(
            .bindingStore, MessageType.bindingLookup,
            BindingLookupRequest(address: address),
            as: BindingLookupReply.self)
        if context.json {
            try context.printJSON(reply)
        } else {
            print(CTSShow.formatLookup(reply, address: address), terminator: "")
        }
    },
    Command(
        pattern: [
            .keyword("cts"), .keyword("role-based"), .keyword("sgt-map"),
            .keyword("add"), .word("PREFIX"), .keyword("sgt"), .word("N"),
        ],
        summary: "add a binding with source API"
    ) { context, bound in
        try BindingCommand.add(context, prefixText: bound[0], sgtText: bound[1])
    },
    Command(
        pattern: [
            .keyword("cts"), .keyword("role-based"), .keyword("sgt-map"),
            .keyword("delete"), .word("PREFIX"),
        ],
        summary: "delete a binding with source API (del works too)"
    ) { context, bound in
        try BindingCommand.delete(context, prefixText: bound[0])
    },
    Command(
        pattern: [.keyword("show"), .keyword("dataplane")],
        summary: "dataplane workers and drop counters"
    ) { context, _ in
        try show(
            context, .dataplane, MessageType.dataplaneStatus,
            as: DataplaneStatusReply.self, format: DataplaneShow.format)
    },
    Command(
        pattern: [
            .keyword("debug"), .keyword("crypto"), .keyword("ipsec"),
            .keyword("metadata"), .keyword("sgt"),
        ],
        summary: "stream SGT insert and extract events (--duration S, --count N)"
    ) {
        context, _ in
        try DebugCommand.run(
            context, service: .dataplane, category: "crypto ipsec metadata sgt",
            type: MessageType.debugSGT)
    },
    Command(
        pattern: [
            .keyword("debug"), .keyword("crypto"), .keyword("ikev2"),
            .keyword("internal"),
        ],
        summary: "stream IKEv2 internal events such as Vendor IDs"
    ) { context, _ in
        try DebugCommand.run(
            context, service: .ikeNegotiator, category: "crypto ikev2 internal",
            type: MessageType.debugIKEv2)
    },
    Command(
        pattern: [.keyword("trace")],
        summary: "print every bus message (--follow ID, --duration S, -v, --chrome FILE)"
    ) {
        context, _ in
        try TraceCommand.run(context)
    },
    Command(pattern: [.keyword("ping")], summary: "show which services are running") {
        context, _ in
        try PingCommand.run(context, now: wallClockSeconds())
    },
    Command(
        pattern: [.keyword("clear"), .keyword("crypto"), .keyword("sa")],
        summary: "delete every IKE and Child SA"
    ) { context, _ in
        try ClearCommand.clearAll(context)
    },
    Command(
        pattern: [.keyword("clear"), .keyword("crypto"), .keyword("ikev2"), .keyword("sa")],
        summary: "delete every IKE SA"
    ) { context, _ in
        try ClearCommand.clearIKE(context, tunnelID: nil)
    },
    Command(
        pattern: [
            .keyword("clear"), .keyword("crypto"), .keyword("ikev2"), .keyword("sa"),
            .number,
        ],
        summary: "delete the IKE SA with this tunnel id"
    ) { context, bound in
        try ClearCommand.clearIKE(context, tunnelID: Int(bound[0]))
    },
    Command(
        pattern: [.keyword("config"), .keyword("check"), .word("FILE")],
        summary: "check a configuration file; exit 1 on errors"
    ) { _, bound in
        try ConfigCheckCommand.run(path: bound[0])
    },
    Command(pattern: [.keyword("help")], summary: "print this help") { _, _ in
        print(helpText())
    },
]

func helpText() -> String {
    var lines = ["usage: tagline [options] COMMAND", "", "commands (keywords may be abbreviated):"]
    let width = (commands.map(\.syntax.count).max() ?? 0) + 2
    for command in commands {
        lines.append("  " + pad(command.syntax, width) + command.summary)
    }
    lines += ["", "options:"]
    for (name, text) in valueOptions.sorted(by: { $0.key < $1.key }) {
        lines.append("  " + pad("\(name) VALUE", 18) + text)
    }
    for (name, text) in flagOptions.sorted(by: { $0.key < $1.key }) {
        lines.append("  " + pad(name, 18) + text)
    }
    return lines.joined(separator: "\n")
}

/// Finds the one command that `words` match.
func resolve(_ words: [String]) throws -> (Command, [String]) {
    let matches = commands.compactMap { command in command.match(words).map { (command, $0) } }
    if matches.count == 1 { return matches[0] }
    let typed = words.joined(separator: " ")
    if matches.isEmpty {
        throw CLIError(usage: "unknown command: \(typed)")
    }
    let candidates = matches.map { "  " + $0.0.syntax }.joined(separator: "\n")
    throw CLIError(usage: "ambiguous command: \(typed); it matches\n\(candidates)")
}

func main() -> Int32 {
    do {
        let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
        if arguments.flags.contains("--help") || arguments.words.isEmpty {
            print(helpText())
            return arguments.words.isEmpty && !arguments.flags.contains("--help") ? 2 : 0
        }
        let context = CLIContext(
            runDirectory: arguments.values["--run-dir"] ?? BusPaths.defaultRunDirectory(),
            arguments: arguments, timeout: try arguments.positiveNumber("--timeout") ?? 2)
        let (command, bound) = try resolve(arguments.words)
        try command.run(context, bound)
        return 0
    } catch let error as CLIError {
        fputs("tagline: \(error.message)\n", stderr)
        return error.exitStatus
    } catch {
        fputs("tagline: \(error)\n", stderr)
        return 1
    }
}

exit(main())
