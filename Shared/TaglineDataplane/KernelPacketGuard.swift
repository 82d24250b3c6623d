// Keeps the kernel away from the packets the dataplane owns. An AF_PACKET
// socket is a tap, not a diversion: the kernel still receives every frame
// the rings read. With IP forwarding off it no longer forwards clear traffic
// itself, and a tc clsact ingress filter drops ESP (and ESP-in-UDP on port
// 4500) before the IP stack, so it sends no ICMP "protocol unreachable" and
// wakes no socket. ETH_P_ALL taps run before tc ingress, so the rings still
// see every dropped frame. ARP, IKE (port 500, and 4500 with the zero
// non-ESP marker) and traffic to the gateway itself still reach the kernel.
//
// The filters are classic BPF programs run by cls_bpf in direct-action mode,
// which needs neither the gact action module nor a compiled eBPF object.

#if canImport(Glibc)
    import Glibc
#endif

public enum KernelPacketGuard {
    /// cls_bpf runs the program at ingress with the data starting at the Ethernet header, so
    /// every offset below includes its 14 bytes.
    ///
    /// IPv4: ESP, or UDP to port 4500 whose first 4 payload bytes are not zero, is dropped
    /// (TC_ACT_SHOT = 2); anything else continues (TC_ACT_UNSPEC = -1). Fragments pass.
    ///   0 ldb [23]; 1 jeq #50 -> 10; 2 jeq #17 else 11; 3 ldh [20]; 4 jset #0x1fff -> 11;
    ///   5 ldxb 4*([14]&0xf); 6 ldh [x+16]; 7 jeq #4500 else 11; 8 ld [x+22]; 9 jeq #0 -> 11;
    ///   10 ret #2; 11 ret #-1
    static let ipv4Program =
        "12,48 0 0 23,21 8 0 50,21 0 8 17,40 0 0 20,69 6 0 8191,177 0 0 14,72 0 0 16,"
        + "21 0 3 4500,64 0 0 22,21 1 0 0,6 0 0 2,6 0 0 4294967295"

    /// IPv6: ESP, an ESP fragment (Fragment header right after the fixed header), or UDP to
    /// port 4500 whose first 4 payload bytes are not zero, is dropped. Other extension
    /// headers pass.
    ///   0 ldb [20]; 1 jeq #50 -> 10; 2 jeq #44 -> 8; 3 jeq #17 else 11; 4 ldh [56];
    ///   5 jeq #4500 else 11; 6 ld [62]; 7 jeq #0 -> 11 else 10; 8 ldb [54];
    ///   9 jeq #50 -> 10 else 11; 10 ret #2; 11 ret #-1
    static let ipv6Program =
        "12,48 0 0 20,21 8 0 50,21 5 0 44,21 0 7 17,40 0 0 56,21 0 5 4500,32 0 0 62,"
        + "21 3 2 0,48 0 0 54,21 0 1 50,6 0 0 2,6 0 0 4294967295"

    /// Turns IPv4 and IPv6 forwarding off in the calling thread's network namespace.
    public static func disableForwarding() throws {
        try writeSysctl("/proc/sys/net/ipv4/ip_forward", "0")
        try writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "0")
    }

    /// Adds the clsact qdisc unless `interface` has one, and puts both drop filters on it.
    /// Returns the commands run.
    @discardableResult
    public static func installESPDropFilter(interface: String) throws -> [String] {
        var commands: [String] = []
        // A clsact left by a crashed run is kept. Its filters have the same priority and
        // handle, so they are replaced, never doubled.
        if let command = addClsact(interface: interface) { commands.append(command) }
        try checkPrioritiesFree(interface: interface)
        for (family, priority, program) in [("ip", "1", ipv4Program), ("ipv6", "2", ipv6Program)] {
            commands.append(
                try runTC([
                    "filter", "replace", "dev", interface, "ingress", "protocol", family, "prio",
                    priority, "handle", "1", "bpf", "bytecode", program, "da",
                ]))
        }
        return commands
    }

    /// Adds a blackhole IPv6 default route with the highest metric. With forwarding
    /// off the kernel drops IPv4 packets for other hosts silently, but replies to an
    /// IPv6 packet it has no route for with ICMPv6 "no route", so inside hosts would
    /// get an error for every packet the dataplane carries. The dataplane reads only
    /// unicast routes, so it does not see this one. Returns the command run.
    @discardableResult
    public static func installIPv6Blackhole() throws -> String {
        try run("ip", ["-6", "route", "replace", "blackhole", "default", "metric", "4294967295"])
    }

    /// Adds the clsact qdisc to `interface` and returns the command, or returns nil when the
    /// interface has one already (or the command failed). An existing qdisc is kept, because
    /// deleting and adding it lost 2 of 1000 echo replies in 40 such cycles on a veth.
    static func addClsact(interface: String) -> String? {
        try? runTC(["qdisc", "add", "dev", interface, "clsact"])
    }

    /// The ingress priorities of this gateway's filters (ESP or transit), each with its
    /// protocol. Each filter is the `bpf` filter with handle 1 at its priority.
    static let ownPriorities = [(family: "ip", priority: "1"), (family: "ipv6", priority: "2")]

    /// Removes this gateway's ingress filters (ESP or transit: `protocol ip prio 1` and
    /// `protocol ipv6 prio 2`, `handle 1 bpf`) from `interface`, then the clsact qdisc unless
    /// other filters remain on it, such as an operator's own. Returns the commands run.
    @discardableResult
    public static func removeFilters(interface: String) throws -> [String] {
        // A deleted interface took its qdisc and filters with it.
        guard if_nametoindex(interface) != 0 else { return [] }
        var commands: [String] = []
        for (family, priority) in ownPriorities {
            // A filter that is missing (a failed install, or one removed by hand) is not an
            // error here: the goal is that it is gone. Naming the handle spares another
            // filter that was added at the same priority while the dataplane ran.
            if let command = try? runTC(ownFilterDelete(interface: interface, family, priority)) {
                commands.append(command)
            }
        }
        var remaining = ""
        for direction in ["ingress", "egress"] {
            remaining += try runCapturing("tc", ["filter", "show", "dev", interface, direction])
        }
        if remaining.allSatisfy(\.isWhitespace) {
            commands.append(try runTC(["qdisc", "del", "dev", interface, "clsact"]))
        }
        return commands
    }

    /// Returns the tc arguments that delete this gateway's filter for `family` at `priority`,
    /// and no other filter at that priority.
    static func ownFilterDelete(interface: String, _ family: String, _ priority: String)
        -> [String]
    {
        [
            "filter", "delete", "dev", interface, "ingress", "protocol", family, "prio",
            priority, "handle", "1", "bpf",
        ]
    }

    /// Throws `GuardError.priorityInUse` when an ingress filter of `interface` that is not
    /// this gateway's is at priority 1 or 2. Replacing the filters there would fail with a
    /// bare exit status for another protocol or kind, and a stop would remove them.
    /// Throws `GuardError.interfaceNotFound` when the interface does not exist.
    /// NOTE: a `bpf` filter with handle 1 and the right protocol looks like one left by a
    /// dataplane that was killed, so it is replaced without an error.
    static func checkPrioritiesFree(interface: String) throws {
        guard if_nametoindex(interface) != 0 else {
            throw GuardError.interfaceNotFound(interface)
        }
        let output = try runCapturing("tc", ["filter", "show", "dev", interface, "ingress"])
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            func value(after word: String) -> String? {
                guard let index = words.firstIndex(of: word), index + 1 < words.count else {
                    return nil
                }
                return words[index + 1]
            }
            // "filter protocol ip pref 1 bpf chain 0 handle 0x1 direct-action ..."
            guard let at = words.firstIndex(of: "pref"), at + 2 < words.count,
                let own = ownPriorities.first(where: { $0.priority == words[at + 1] }),
                (value(after: "chain") ?? "0") == "0"
            else { continue }
            let kind = words[at + 2]
            let handle = value(after: "handle")
            if value(after: "protocol") != own.family || kind != "bpf"
                || (handle != nil && handle != "0x1")
            {
                throw GuardError.priorityInUse(interface: interface, filter: String(line))
            }
        }
    }

    private static func writeSysctl(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw SystemCallError(call: "open(\(path))", errno: errno) }
        defer { close(fd) }
        let written = value.withCString { write(fd, $0, strlen($0)) }
        guard written >= 0 else { throw SystemCallError(call: "write(\(path))", errno: errno) }
    }

    /// Runs `tc` with `arguments` and waits; throws unless it exits with 0.
    static func runTC(_ arguments: [String]) throws -> String {
        try run("tc", arguments)
    }

    /// Runs `program` with `arguments` and waits; throws unless it exits with 0.
    private static func run(_ program: String, _ arguments: [String]) throws -> String {
        let pid = try spawnOnly(program, arguments, output: nil)
        try wait(pid, program, arguments)
        return ([program] + arguments).joined(separator: " ")
    }

    /// Runs `program` with `arguments`, waits, and returns what it wrote to standard output.
    /// Throws unless it exits with 0.
    static func runCapturing(_ program: String, _ arguments: [String]) throws -> String {
        var ends: [Int32] = [0, 0]
        try Syscall.run("pipe") { pipe(&ends) }
        defer { close(ends[0]) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            // Once this side's write end is closed, the read ends when the program exits.
            defer { close(ends[1]) }
            pid = try spawnOnly(program, arguments, output: ends[1])
        }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        var readError: Error?
        do {
            while true {
                let count = try chunk.withUnsafeMutableBytes { buffer in
                    try Syscall.run("read(\(program))") {
                        read(ends[0], buffer.baseAddress, buffer.count)
                    }
                }
                if count == 0 { break }
                output += chunk[0..<count]
            }
        } catch {
            readError = error
        }
        // The child is reaped even when the read failed.
        try wait(pid, program, arguments)
        if let readError { throw readError }
        return String(decoding: output, as: UTF8.self)
    }

    /// Starts `program` with standard error on /dev/null and returns its PID.
    private static func spawnOnly(_ program: String, _ arguments: [String], output: Int32?)
        throws -> pid_t
    {
        var argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let spawned = posix_spawnp(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw SystemCallError(call: "posix_spawnp(\(program))", errno: spawned)
        }
        return pid
    }

    /// Waits for `pid` and throws unless it exited with 0.
    private static func wait(_ pid: pid_t, _ program: String, _ arguments: [String]) throws {
        var status: Int32 = 0
        try Syscall.run("waitpid(\(program))") { waitpid(pid, &status, 0) }
        guard status == 0 else {
            let command = ([program] + arguments).joined(separator: " ")
            throw GuardError.commandFailed(command, status: status)
        }
    }

    public enum GuardError: Error, CustomStringConvertible, Equatable {
        case commandFailed(String, status: Int32)
        /// A filter that is not this gateway's at one of its ingress priorities.
        case priorityInUse(interface: String, filter: String)
        /// The interface to filter does not exist, or was deleted.
        case interfaceNotFound(String)

        public var description: String {
            switch self {
            case .interfaceNotFound(let interface):
                return "interface \(interface) not found"
            case .priorityInUse(let interface, let filter):
                return "ingress priorities 1 and 2 of \(interface) are reserved for the "
                    + "dataplane's filters, but another filter uses one (\(filter)); move that "
                    + "filter to another priority"
            case .commandFailed(let command, let status):
                if command.hasPrefix("ip ") {
                    return "\(command) failed with wait status \(status); check that iproute2 "
                        + "is installed and the kernel has IPv6"
                }
                return "\(command) failed with wait status \(status); check that the kernel has "
                    + "sch_ingress (clsact) and cls_bpf"
            }
        }
    }
}
