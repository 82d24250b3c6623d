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
        options: ["--json"],
        summary: "IKE SAs from ike-negotiator"
    ) { context, bound in
        try show(context, .ikeNegotiator, MessageType.ikeList, as: IKESAListReply.self) {
            IKEShow.format($0, detailed: !bound.isEmpty)
        }
    },
    Command(
        pattern: [.keyword("show"), .keyword("crypto"), .keyword("ikev2"), .keyword("stats")],
        options: ["--json"],
        summary: "IKE SA counts and IKE datagram drops by reason"
    ) { context, _ in
        try show(context, .ikeNegotiator, MessageType.ikeStats, as: IKEStatsReply.self) {
            IKEStatsShow.format($0, now: wallClockSeconds())
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("crypto"), .keyword("ipsec"), .keyword("sa"),
            .optionalKeyword("detail"),
        ],
        options: ["--json", "--wireshark"],
        conflicts: [("--json", "--wireshark")],
        summary: "Child SAs and counters from sa-manager"
    ) { context, bound in
        guard context.arguments.flags.contains("--wireshark") else {
            try show(context, .saManager, MessageType.childList, as: ChildSAListReply.self) {
                IPsecShow.format($0, detail: !bound.isEmpty, now: wallClockSeconds())
            }
            return
        }
        guard bound.isEmpty else {
            throw CLIError(
                "--wireshark prints esp_sa lines and cannot be used with detail\n"
                    + "usage: tagline show crypto ipsec sa --wireshark", exitStatus: 2)
        }
        let reply = try context.request(
            .saManager, MessageType.childList, EmptyRequest(), as: ChildSAListReply.self)
        print(IPsecShow.wiresharkLines(reply), terminator: "")
    },
    Command(
        pattern: [.keyword("show"), .keyword("cts"), .keyword("sxp"), .keyword("connections")],
        options: ["--json"], summary: "SXP settings and each connection's state"
    ) { context, _ in
        try show(context, .bindingStore, MessageType.sxpConnections, as: SXPConnectionsReply.self) {
            SXPShow.formatConnections($0)
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("cts"), .keyword("sxp"), .keyword("connections"),
            .keyword("brief"),
        ],
        options: ["--json"], summary: "SXP settings and one line per connection"
    ) { context, _ in
        try show(context, .bindingStore, MessageType.sxpConnections, as: SXPConnectionsReply.self) {
            SXPShow.formatBrief($0)
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("cts"), .keyword("role-based"),
            .keyword("sgt-map"), .keyword("all"),
        ],
        options: ["--json"],
        summary: "bindings in use, totals per source, shadowed bindings"
    ) { context, _ in
        try show(context, .bindingStore, MessageType.bindingList, as: BindingListReply.self) {
            CTSShow.formatAll($0)
        }
    },
    Command(
        pattern: [
            .keyword("show"), .keyword("cts"), .keyword("role-based"),
            .keyword("sgt-map"), .parameter(.address),
        ],
        options: ["--json"],
        summary: "the binding in use for one address (longest prefix)"
    ) { context, bound in
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
            .keyword("add"), .parameter(.prefix), .keyword("sgt"), .parameter(.sgt),
        ],
        summary: "add a binding with source API (see SGT bindings below)"
    ) { context, bound in
        try BindingCommand.add(context, prefix: IPPrefix(bound[0])!, sgt: SGT.parse(bound[1]).get())
    },
    Command(
        pattern: [
            .keyword("cts"), .keyword("role-based"), .keyword("sgt-map"),
            .keyword("delete"), .parameter(.prefix),
        ],
        summary: "delete a binding with source API (del works too)"
    ) { context, bound in
        try BindingCommand.delete(context, prefix: IPPrefix(bound[0])!)
    },
    Command(
        pattern: [.keyword("show"), .keyword("dataplane")],
        options: ["--json"],
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
        options: ["--duration", "--count"],
        summary: "stream SGT insert and extract events"
    ) { context, _ in
        try DebugCommand.run(
            context, service: .dataplane, category: "crypto ipsec metadata sgt",
            type: MessageType.debugSGT)
    },
    Command(
        pattern: [
            .keyword("debug"), .keyword("crypto"), .keyword("ikev2"),
            .keyword("internal"),
        ],
        options: ["--duration", "--count"],
        summary: "stream IKEv2 internal events such as Vendor IDs"
    ) { context, _ in
        try DebugCommand.run(
            context, service: .ikeNegotiator, category: "crypto ikev2 internal",
            type: MessageType.debugIKEv2)
    },
    Command(
        pattern: [.keyword("trace")],
        options: ["--follow", "--duration", "-v", "--chrome"],
        summary: "print every bus message"
    ) { context, _ in
        try TraceCommand.run(context)
    },
    Command(
        pattern: [.keyword("ping")], options: ["--json"],
        summary: "show which services are running"
    ) { context, _ in
        try PingCommand.run(context, now: wallClockSeconds())
    },
    Command(
        pattern: [.keyword("clear"), .keyword("crypto"), .keyword("sa")],
        summary: "delete every Child SA (IPsec SA), keep the IKE SAs"
    ) { context, _ in
        try ClearCommand.clearChildSAs(context, peer: nil)
    },
    Command(
        pattern: [
            .keyword("clear"), .keyword("crypto"), .keyword("sa"), .keyword("peer"),
            .parameter(.address),
        ],
        summary: "delete one peer's Child SAs, keep its IKE SA"
    ) { context, bound in
        try ClearCommand.clearChildSAs(context, peer: IPAddress(bound[0]))
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
            .parameter(.tunnelID),
        ],
        summary: "delete the IKE SA with this tunnel id"
    ) { context, bound in
        try ClearCommand.clearIKE(context, tunnelID: Int(bound[0]))
    },
] + InitiateCommand.commands + [
    Command(
        pattern: [.keyword("config"), .keyword("check"), .parameter(.file)],
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
    lines += ["", "options (--run-dir, --timeout and --help work with every command):"]
    for option in optionSpecs {
        let name = option.name + (option.valueName.map { " " + $0 } ?? "")
        lines.append("  " + pad(name, 16) + option.help)
    }
    lines += [
        "",
        "SGT bindings: of several bindings of one prefix, the one of the first source in",
        "INTERNAL, SXP, CLI (configuration file), API (cts role-based sgt-map add) is in use,",
        "as on IOS. A configured binding thus takes precedence over an added one, and",
        "show cts role-based sgt-map all lists the bindings not in use as shadowed.",
    ]
    return lines.joined(separator: "\n")
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
            arguments: arguments,
            timeout: try arguments.positiveNumber("--timeout", maximum: maxTimeout) ?? 2)
        let (command, bound) = try resolve(arguments.words, in: commands)
        try command.checkOptions(arguments)
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
