// Initiation on request: IKE SAs that an operator or a benchmark starts for
// a configured target besides the one that `start()` keeps up. Each is a
// full IKE SA with the target's first Child SA, as if no other SA existed
// (strongSwan calls this reuse_ikesa=no).

import TaglineCore

/// Errors of `IKEEngine.initiateAdditional(targetKey:count:)`.
public enum IKEInitiateError: Error, Equatable, CustomStringConvertible {
    /// No crypto map entry or tunnel has this key.
    case unknownTarget(String, known: [String])
    /// No target was named and the configuration has none or several.
    case targetRequired(known: [String])
    case invalidCount(Int)
    /// The engine is passive and only responds.
    case passive

    public var description: String {
        func list(_ keys: [String]) -> String {
            keys.isEmpty ? "none configured" : keys.joined(separator: ", ")
        }
        switch self {
        case .unknownTarget(let key, let known):
            return "no crypto map entry or tunnel named \(key) (targets: \(list(known)))"
        case .targetRequired(let known):
            return "name a target; several or none are configured (targets: \(list(known)))"
        case .invalidCount(let count):
            return "invalid count \(count): expected 1 to \(IKEEngine.maximumInitiateCount)"
        case .passive:
            return "this negotiator is passive and initiates nothing"
        }
    }
}

extension IKEEngine {
    /// The largest `count` one `initiateAdditional` call accepts.
    public static let maximumInitiateCount = 100_000

    /// Keys of the configured initiation targets ("MAP SEQ" or a tunnel
    /// interface name), sorted.
    public var initiationTargetKeys: [String] { targets.keys.sorted() }

    /// Starts `count` new IKE SAs for the target `targetKey`, or for the only
    /// configured target when nil, even when an IKE SA with that peer is up.
    /// All requests go out at once; the caller learns of each SA from the
    /// delegate's `ikeSAChanged`. Returns the key of the target and the
    /// tunnel ids of the SAs started. An SA whose profile or key is missing
    /// is not started, and is logged.
    public func initiateAdditional(targetKey: String?, count: Int) throws -> (
        target: String, tunnelIDs: [Int]
    ) {
        guard !isPassive else { throw IKEInitiateError.passive }
        guard count >= 1, count <= IKEEngine.maximumInitiateCount else {
            throw IKEInitiateError.invalidCount(count)
        }
        let known = initiationTargetKeys
        let key: String
        if let targetKey {
            guard targets[targetKey] != nil else {
                throw IKEInitiateError.unknownTarget(targetKey, known: known)
            }
            key = targetKey
        } else {
            guard known.count == 1 else { throw IKEInitiateError.targetRequired(known: known) }
            key = known[0]
        }
        var tunnelIDs: [Int] = []
        tunnelIDs.reserveCapacity(count)
        for _ in 0..<count {
            guard let tunnelID = initiate(targetKey: key, reuseExisting: false) else { break }
            tunnelIDs.append(tunnelID)
        }
        return (key, tunnelIDs)
    }
}
