// `crypto ikev2 initiate [MAP SEQ] [count N]`: sends ike-negotiator the
// request to start new IKE SAs for a crypto map entry, even when one is up
// already. Without MAP SEQ the only configured entry or tunnel is used.

import TaglineCore

extension Parameter {
    /// A crypto map name; the word `count` is left to the keyword.
    static let mapName = Parameter(name: "MAP") { word in
        Command.abbreviates(word, "count") || word.isEmpty
            ? "invalid crypto map name \(word): expected the name of a crypto map" : nil
    }

    /// A crypto map sequence number, 1 to 65535 as on IOS.
    static let mapSequence = Parameter(name: "SEQ") { word in
        if word.allSatisfy(\.isASCIIDigit), let value = Int(word), (1...65535).contains(value) {
            return nil
        }
        return "invalid sequence number \(word): expected a whole number from 1 to 65535"
    }

    /// The number of IKE SAs to start.
    static let initiateCount = Parameter(name: "N") { word in
        if word.allSatisfy(\.isASCIIDigit), let value = Int(word), value >= 1,
            value <= InitiateCommand.maximumCount
        {
            return nil
        }
        return "invalid count \(word): expected a whole number from 1 to "
            + "\(InitiateCommand.maximumCount)"
    }
}

enum InitiateCommand {
    /// The same limit as the negotiator's; larger requests are rejected there too.
    static let maximumCount = 100_000

    /// The four forms of the command, for the command table.
    static var commands: [Command] {
        let prefix: [PatternElement] = [
            .keyword("crypto"), .keyword("ikev2"), .keyword("initiate"),
        ]
        let target: [PatternElement] = [.parameter(.mapName), .parameter(.mapSequence)]
        let count: [PatternElement] = [.keyword("count"), .parameter(.initiateCount)]
        return [
            Command(
                pattern: prefix, options: ["--json"],
                summary: "start a new IKE SA for the only crypto map entry"
            ) { context, _ in
                try run(context, target: nil, count: 1)
            },
            Command(
                pattern: prefix + count, options: ["--json"],
                summary: "start N new IKE SAs at once for the only entry"
            ) { context, bound in
                try run(context, target: nil, count: Int(bound[0])!)
            },
            Command(
                pattern: prefix + target, options: ["--json"],
                summary: "start a new IKE SA for this crypto map entry"
            ) { context, bound in
                try run(context, target: "\(bound[0]) \(bound[1])", count: 1)
            },
            Command(
                pattern: prefix + target + count, options: ["--json"],
                summary: "start N new IKE SAs at once for this entry"
            ) { context, bound in
                try run(context, target: "\(bound[0]) \(bound[1])", count: Int(bound[2])!)
            },
        ]
    }

    /// Sends `ike.initiate` and prints the tunnel ids of the IKE SAs started.
    /// The reply comes once the IKE_SA_INIT requests are sent; `show crypto
    /// ikev2 sa` shows how far each one got.
    static func run(_ context: CLIContext, target: String?, count: Int) throws {
        let reply = try context.request(
            .ikeNegotiator, MessageType.ikeInitiate,
            IKEInitiateRequest(target: target, count: count), as: IKEInitiateReply.self)
        if context.json {
            try context.printJSON(reply)
            return
        }
        guard let first = reply.tunnelIDs.first, let last = reply.tunnelIDs.last else {
            throw CLIError(
                "no IKE SA started for \(reply.target); see the ike-negotiator log for the reason")
        }
        let ids =
            reply.tunnelIDs.count == 1 ? "tunnel id \(first)" : "tunnel ids \(first) to \(last)"
        print("initiating \(counted(reply.tunnelIDs.count, "IKE SA")) for \(reply.target) (\(ids))")
    }
}
