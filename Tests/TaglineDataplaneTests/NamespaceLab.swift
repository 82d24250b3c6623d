// Four network namespaces wired as the lab topology, for tests that run the
// dataplane on real AF_PACKET rings:
//
//   A: a0 192.0.2.2 -- g1i 192.0.2.1 :G1: g1o 198.51.100.1 -- g2o 198.51.100.2 :G2:
//   g2i 203.0.113.1 -- b0 203.0.113.2 :B
//
// Names start with `tgdp<pid>-`, so parallel runs do not collide, and every
// namespace is deleted by `destroy`, which the tests call on every exit path.

import CTaglineShim
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class NamespaceLab {
    let prefix = "tgdp\(getpid())-"
    var hostA: String { prefix + "A" }
    var gateway1: String { prefix + "G1" }
    var gateway2: String { prefix + "G2" }
    var hostB: String { prefix + "B" }
    private var created: [String] = []

    /// Runs `arguments` and returns its exit status and output.
    @discardableResult
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Runs `arguments` and fails with its output unless it exits with 0.
    func must(_ arguments: [String]) throws {
        let (status, output) = try NamespaceLab.run(arguments)
        guard status == 0 else {
            throw LabError.commandFailed(arguments.joined(separator: " "), output)
        }
    }

    enum LabError: Error, CustomStringConvertible {
        case commandFailed(String, String)
        case setnsFailed(String, Int32)

        var description: String {
            switch self {
            case .commandFailed(let command, let output): return "\(command) failed: \(output)"
            case .setnsFailed(let name, let code): return "setns into \(name) failed: errno \(code)"
            }
        }
    }

    /// Creates the namespaces, links, addresses and routes. On failure, removes what it made.
    func create() throws {
        do {
            for name in [hostA, gateway1, gateway2, hostB] {
                try must(["ip", "netns", "add", name])
                created.append(name)
                try must(["ip", "-n", name, "link", "set", "lo", "up"])
            }
            try createHostALink()
            try createOutsideLink()
            try must([
                "ip", "-n", gateway2, "link", "add", "g2i", "type", "veth", "peer", "name",
                "b0", "netns", hostB,
            ])
            try addAddresses([(gateway2, "g2i", "203.0.113.1/24"), (hostB, "b0", "203.0.113.2/24")])
            try must(["ip", "-n", hostB, "route", "add", "default", "via", "203.0.113.1"])
            for gateway in [gateway1, gateway2] {
                try must([
                    "ip", "netns", "exec", gateway, "sysctl", "-q", "-w",
                    "net.ipv4.ip_forward=0",
                ])
            }
        } catch {
            destroy()
            throw error
        }
    }

    /// Creates host A's link to gateway 1 (a0 and g1i), with their addresses and host A's
    /// default route. `create` calls it, and so do tests that delete g1i and create it again.
    func createHostALink() throws {
        try must([
            "ip", "-n", hostA, "link", "add", "a0", "type", "veth", "peer", "name", "g1i",
            "netns", gateway1,
        ])
        try addAddresses([(hostA, "a0", "192.0.2.2/24"), (gateway1, "g1i", "192.0.2.1/24")])
        try must(["ip", "-n", hostA, "route", "add", "default", "via", "192.0.2.1"])
    }

    /// Creates the link between the gateways (g1o and g2o) with their addresses.
    func createOutsideLink() throws {
        try must([
            "ip", "-n", gateway1, "link", "add", "g1o", "type", "veth", "peer", "name",
            "g2o", "netns", gateway2,
        ])
        try addAddresses([
            (gateway1, "g1o", "198.51.100.1/24"), (gateway2, "g2o", "198.51.100.2/24"),
        ])
    }

    /// Adds each (namespace, link, address) and sets the link up.
    private func addAddresses(_ addresses: [(String, String, String)]) throws {
        for (namespace, link, address) in addresses {
            try must(["ip", "-n", namespace, "address", "add", address, "dev", link])
            try must(["ip", "-n", namespace, "link", "set", link, "up"])
        }
    }

    /// Deletes every namespace this lab created; safe to call more than once.
    func destroy() {
        for name in created.reversed() {
            _ = try? NamespaceLab.run(["ip", "netns", "delete", name])
        }
        created.removeAll()
    }

    /// Runs `body` with the calling thread inside namespace `name`, then moves it back.
    /// Sockets created in `body` stay in that namespace.
    func inNamespace<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY)
        let target = open("/var/run/netns/\(name)", O_RDONLY)
        defer {
            close(original)
            close(target)
        }
        let newNet: Int32 = 0x4000_0000  // CLONE_NEWNET
        guard original >= 0, target >= 0, tagline_setns(target, newNet) == 0 else {
            throw LabError.setnsFailed(name, errno)
        }
        defer { _ = tagline_setns(original, newNet) }
        return try body()
    }
}
