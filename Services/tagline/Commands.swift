// Commands that send one or a few requests: ping, clear, binding changes
// and the configuration check.

import TaglineBus
import TaglineConfig
import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

enum PingCommand {
    struct Result: Encodable {
        var service: String
        var running: Bool
        var pid: Int32?
        var startedAt: Double?
        var error: String?
    }

    /// Pings every service; fails when any of them does not reply.
    static func run(_ context: CLIContext, now: Double) throws {
        var results: [Result] = []
        for service in ServiceName.allCases {
            do {
                let reply = try context.request(
                    service, MessageType.ping, EmptyRequest(),
                    as: PingReply.self)
                results.append(
                    Result(
                        service: service.rawValue, running: true, pid: reply.pid,
                        startedAt: reply.startedAt))
            } catch let error as CLIError {
                results.append(
                    Result(
                        service: service.rawValue, running: false,
                        error: error.message))
            }
        }
        if context.json {
            try context.printJSON(results)
        } else {
            for result in results {
                if let pid = result.pid, let started = result.startedAt {
                    print(
                        pad(result.service, 20) + pad("up", 6) + pad("pid \(pid)", 12)
                            + "uptime \(uptimeText(now - started))")
                } else {
                    print(
                        pad(result.service, 20) + pad("down", 6)
                            + "(no reply within \(CLIContext.seconds(context.timeout)) s)")
                }
            }
        }
        let down = results.filter { !$0.running }.count
        if down > 0 && access(context.runDirectory, F_OK) != 0 {
            throw CLIError(
                "runtime directory \(context.runDirectory) does not exist; start the services "
                    + "or pass --run-dir")
        }
        if down > 0 { throw CLIError("\(down) of \(results.count) services did not reply") }
    }

    /// `1d02h03m`, `2h03m04s` or `3m04s`.
    static func uptimeText(_ seconds: Double) -> String {
        let total = max(0, Int(seconds))
        let (days, hours, minutes, rest) =
            (total / 86400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if days > 0 { return "\(days)d\(two(hours))h\(two(minutes))m" }
        if hours > 0 { return "\(hours)h\(two(minutes))m\(two(rest))s" }
        return "\(minutes)m\(two(rest))s"
    }
}

enum ClearCommand {
    /// `clear crypto ikev2 sa [N]`: deletes IKE SAs and their Child SAs. The
    /// negotiator replies with an error when no IKE SA has tunnel id N.
    static func clearIKE(_ context: CLIContext, tunnelID: Int?) throws {
        _ = try context.request(
            .ikeNegotiator, MessageType.ikeClear,
            ClearRequest(tunnelID: tunnelID), as: EmptyReply.self)
        print(tunnelID.map { "cleared IKEv2 SA \($0)" } ?? "cleared all IKEv2 SAs")
    }

    /// `clear crypto sa [peer ADDRESS]`: the negotiator deletes the Child SAs
    /// (IPsec SAs), of one peer or of all, with an INFORMATIONAL Delete to
    /// each peer, and keeps the IKE SAs. An initiator then creates fresh Child
    /// SAs for its crypto map. When the negotiator is not running, the Child SAs
    /// are removed from sa-manager directly, which stops the traffic but sends
    /// the peers no Delete.
    static func clearChildSAs(_ context: CLIContext, peer: IPAddress?) throws {
        do {
            let reply = try context.request(
                .ikeNegotiator, MessageType.childClear, ChildSAClearRequest(peer: peer),
                as: ChildSAClearReply.self)
            let scope = peer.map { " of peer \($0)" } ?? ""
            print("cleared \(counted(reply.cleared, "Child SA"))\(scope)")
            return
        } catch let error as CLIError where error.serviceNotRunning {
            print("\(error.message)\nremoving Child SAs from sa-manager directly")
        }
        let list = try context.request(
            .saManager, MessageType.childList, EmptyRequest(),
            as: ChildSAListReply.self)
        for status in list.childSAs where peer == nil || status.childSA.remoteAddress == peer {
            let spi = status.childSA.inboundSPI
            _ = try context.request(
                .saManager, MessageType.childDelete,
                ChildSADeleteRequest(inboundSPI: spi), as: EmptyReply.self)
            print("deleted Child SA \(IPsecShow.spiText(spi))")
        }
        let cleared = list.childSAs.filter { peer == nil || $0.childSA.remoteAddress == peer }
        print("cleared \(counted(cleared.count, "Child SA"))")
    }
}

enum BindingCommand {
    /// `cts role-based sgt-map add PREFIX sgt SGT`, stored with source API. A
    /// binding of a higher-priority source for the same prefix stays in use, and
    /// the output then names it.
    static func add(_ context: CLIContext, prefix: IPPrefix, sgt: SGT) throws {
        _ = try context.request(
            .bindingStore, MessageType.bindingAdd,
            BindingChangeRequest(prefix: prefix, sgt: sgt, source: .api),
            as: EmptyReply.self)
        let added = "added \(CTSShow.prefixText(prefix)) sgt \(sgt) (API)"
        let list: BindingListReply
        do {
            list = try context.request(
                .bindingStore, MessageType.bindingList, EmptyRequest(),
                as: BindingListReply.self)
        } catch let error as CLIError {
            throw CLIError("\(added), but cannot tell whether it is in use: \(error.message)")
        }
        print(added + (shadowNote(list, prefix: prefix).map { "; " + $0 } ?? ""))
    }

    /// `not in use: the configured binding sgt 333 takes precedence` when
    /// another source's binding of `prefix` is in use; nil otherwise.
    static func shadowNote(_ list: BindingListReply, prefix: IPPrefix) -> String? {
        guard let winner = list.effective.first(where: { $0.prefix == prefix }),
            winner.source != .api
        else { return nil }
        return "not in use: the \(CTSShow.sourceAdjective(winner.source)) binding "
            + "sgt \(winner.sgt) takes precedence"
    }

    /// `cts role-based sgt-map del PREFIX`: removes the API binding.
    static func delete(_ context: CLIContext, prefix: IPPrefix) throws {
        _ = try context.request(
            .bindingStore, MessageType.bindingDelete,
            BindingChangeRequest(prefix: prefix, sgt: nil, source: .api),
            as: EmptyReply.self)
        print("deleted \(CTSShow.prefixText(prefix)) (API)")
    }
}

enum ConfigCheckCommand {
    /// Prints every diagnostic of the loader and their counts. Fails when a line
    /// has an error, while warnings and ignored lines leave the exit status 0.
    static func run(path: String) throws {
        let result: ConfigLoadResult
        do {
            result = try ConfigLoader.load(path: path)
        } catch {
            throw CLIError("cannot read \(path): \(error)")
        }
        for diagnostic in result.diagnostics {
            print(diagnostic.description)
        }
        let errors = result.errors.count
        print("\(path): \(result.summary)")
        if errors > 0 {
            throw CLIError("\(path) has \(counted(errors, "invalid line"))", exitStatus: 1)
        }
    }
}

/// `1 error`, `2 errors`: the count with the noun in singular or plural.
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
