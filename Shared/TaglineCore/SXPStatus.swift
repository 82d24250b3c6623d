// The reply to the SXP connections request of cts-binding-store, printed by
// `tagline show cts sxp connections`.

/// The state of one SXP connection.
public struct SXPConnectionStatus: Codable, Equatable, Sendable {
    public var peer: String
    /// Local address of the TCP connection, or the configured source; "-" when neither is known.
    public var source: String
    /// "On", "Off", "Pending On" or "Delete Hold Down".
    public var state: String
    /// Negotiated version; nil while the connection is not up.
    public var version: Int?
    /// "IPv4", "IPv6", "Subnet" for the negotiated version.
    public var capabilities: [String]
    /// Negotiated hold time in seconds; 0 when keepalives are off.
    public var holdTime: Int
    /// "Speaker" or "Listener": this gateway's role.
    public var mode: String
    /// Count of TCP connections opened or accepted for this peer.
    public var instance: Int
    /// The TCP socket's descriptor; -1 when closed.
    public var fd: Int32
    /// "default", "none" or "connection" (a key on the connection line).
    public var password: String
    public var holdTimerRunning: Bool
    /// Seconds since the last state change.
    public var secondsSinceChange: Double
    /// Bindings learned from the peer and held now.
    public var learnedBindings: Int

    public init(
        peer: String, source: String, state: String, version: Int?, capabilities: [String],
        holdTime: Int, mode: String, instance: Int, fd: Int32, password: String,
        holdTimerRunning: Bool, secondsSinceChange: Double, learnedBindings: Int
    ) {
        self.peer = peer
        self.source = source
        self.state = state
        self.version = version
        self.capabilities = capabilities
        self.holdTime = holdTime
        self.mode = mode
        self.instance = instance
        self.fd = fd
        self.password = password
        self.holdTimerRunning = holdTimerRunning
        self.secondsSinceChange = secondsSinceChange
        self.learnedBindings = learnedBindings
    }
}

/// The global SXP settings and every connection.
public struct SXPConnectionsReply: Codable, Equatable, Sendable {
    public var enabled: Bool
    public var highestVersion: Int
    public var defaultPasswordSet: Bool
    public var defaultSourceIP: String?
    /// Seconds between connection attempts.
    public var retryPeriod: Int
    /// Seconds a reconnected speaker has to announce its bindings again.
    public var reconciliationPeriod: Int
    public var connections: [SXPConnectionStatus]

    public init(
        enabled: Bool, highestVersion: Int, defaultPasswordSet: Bool, defaultSourceIP: String?,
        retryPeriod: Int, reconciliationPeriod: Int, connections: [SXPConnectionStatus]
    ) {
        self.enabled = enabled
        self.highestVersion = highestVersion
        self.defaultPasswordSet = defaultPasswordSet
        self.defaultSourceIP = defaultSourceIP
        self.retryPeriod = retryPeriod
        self.reconciliationPeriod = reconciliationPeriod
        self.connections = connections
    }
}
