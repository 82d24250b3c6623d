// Socket paths of the services. All sockets of one gateway share one
// runtime directory of mode 0700, so only its owner can reach the bus.

import TaglineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Socket endpoints under one runtime directory:
/// `ipc://DIR/<service>.router`, `.pub` and `.trace`.
public struct BusPaths: Sendable {
    public let runDirectory: String

    public init(runDirectory: String) {
        var directory = runDirectory
        while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
        self.runDirectory = directory
    }

    /// `$TAGLINE_RUN_DIR` when set and not empty, otherwise `/run/tagline`.
    public static func defaultRunDirectory() -> String {
        if let value = getenv("TAGLINE_RUN_DIR") {
            let text = String(cString: value)
            if !text.isEmpty { return text }
        }
        return "/run/tagline"
    }

    /// Returns the ROUTER endpoint that takes the service's requests.
    public func router(_ service: ServiceName) -> String { endpoint(service.rawValue, "router") }
    /// Returns the PUB endpoint that carries the service's events.
    public func publisher(_ service: ServiceName) -> String { endpoint(service.rawValue, "pub") }
    /// Returns the XPUB endpoint that mirrors the service's traffic while someone subscribes.
    public func trace(_ service: ServiceName) -> String { endpoint(service.rawValue, "trace") }
    /// Returns the lock file that keeps a second instance of a service from stealing its sockets.
    public func lockFile(_ service: ServiceName) -> String {
        "\(runDirectory)/\(service.rawValue).lock"
    }

    func endpoint(_ name: String, _ suffix: String) -> String {
        "ipc://\(runDirectory)/\(name).\(suffix)"
    }

    /// Maximum length of a Unix socket path (`sizeof(sockaddr_un.sun_path) - 1` on Linux).
    static let maxSocketPathLength = 107

    /// Creates the runtime directory with mode 0700, or checks an existing
    /// one: it must be a directory owned by this user with no group or other
    /// permissions. Throws `BusError.runDirectory` explaining what is wrong.
    public func prepareRunDirectory() throws {
        let longest = "\(runDirectory)/\(ServiceName.bindingStore.rawValue).router"
        if longest.utf8.count > BusPaths.maxSocketPathLength {
            throw BusError.runDirectory(
                "runtime directory \(runDirectory) is too long for Unix socket paths "
                    + "(max \(BusPaths.maxSocketPathLength) bytes with the socket name); "
                    + "choose a shorter --run-dir")
        }
        try preparePrivateDirectory(runDirectory, purpose: "runtime directory")
    }

    /// Checks that the runtime directory exists, is a directory, belongs to
    /// this user and has mode 0700 or narrower, without creating it.
    public func checkRunDirectory() throws {
        var info = stat()
        if lstat(runDirectory, &info) != 0 {
            let reason = String(cString: strerror(errno))
            throw BusError.runDirectory(
                "runtime directory \(runDirectory) is not usable: \(reason)")
        }
        try preparePrivateDirectory(runDirectory, purpose: "runtime directory")
    }
}
