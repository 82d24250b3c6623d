// Persistence of the negotiator's state in STATE_DIR/ike.db: one row per
// established IKE SA, as JSON with its keys (so the file is created with mode
// 0600), and the sa-manager operations not yet confirmed. SAs that are still
// negotiating live in memory only, because a restarted negotiator drops
// them anyway and anyone can create them with IKE_SA_INIT requests.

import Foundation
import TaglineCore
import TaglineIKE
import TaglineStore

final class IKEStateStore {
    /// Largest size, in bytes, the WAL file keeps after a checkpoint. Without
    /// a limit SQLite reuses the file and never shrinks it.
    static let walSizeLimit = 1 << 20

    private let database: SQLiteDatabase
    /// Local SPIs that have a row in `ike_sa`.
    private var savedSPIs: Set<UInt64> = []
    private let encoder = SortedJSONEncoder()
    /// Queue changes not yet written. Writing them with the next batch of SA
    /// changes costs one commit per loop turn instead of two per Child SA.
    private var stagedAppends: [Int64: SAManagerOperation] = [:]
    private var stagedRemovals: [Int64] = []
    private let decoder = JSONDecoder()

    init(path: String) throws {
        database = try SQLiteDatabase(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS ike_sa (local_spi TEXT PRIMARY KEY, state BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS pending_operation (
                position INTEGER PRIMARY KEY, operation BLOB NOT NULL);
            PRAGMA journal_size_limit=\(IKEStateStore.walSizeLimit);
            """)
    }

    /// Reads the saved established IKE SAs. Returns them with the number of
    /// rows deleted because they no longer decode or hold an SA that was not
    /// established (earlier versions saved those too). Compacts the file when
    /// it deleted any.
    func loadStates() throws -> (states: [IKESAState], purged: Int) {
        var states: [IKESAState] = []
        var stale: [String] = []
        for row in try database.query("SELECT local_spi, state FROM ike_sa") {
            guard case .text(let key) = row[0] else { continue }
            guard case .blob(let bytes) = row[1],
                let state = try? decoder.decode(IKESAState.self, from: Data(bytes)),
                state.phase == .established
            else {
                stale.append(key)
                continue
            }
            states.append(state)
            savedSPIs.insert(state.localSPI)
        }
        if !stale.isEmpty {
            try database.transaction {
                for key in stale {
                    try database.run("DELETE FROM ike_sa WHERE local_spi = ?", [.text(key)])
                }
            }
            // VACUUM gives the freed pages back to the file system, and the
            // checkpoint truncates the WAL file that the deletes filled.
            try database.execute("VACUUM")
            try database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
        return (states, stale.count)
    }

    /// Writes the established SAs that changed, deletes the rows of those
    /// that are gone and writes the recorded queue changes, in one
    /// transaction. Does nothing when none of these has an effect, which is
    /// the case for SAs that never got established.
    func apply(_ changes: IKEStateChanges) throws {
        let removed = changes.removed.filter { savedSPIs.contains($0) }
        guard !changes.updated.isEmpty || !removed.isEmpty || hasStagedOperations else { return }
        try database.transaction {
            try writeStagedOperations()
            for state in changes.updated {
                try database.run(
                    "INSERT OR REPLACE INTO ike_sa (local_spi, state) VALUES (?, ?)",
                    [.text(IKEStateStore.key(state.localSPI)), .blob(try encoder.encode(state))])
            }
            for spi in removed {
                try database.run(
                    "DELETE FROM ike_sa WHERE local_spi = ?", [.text(IKEStateStore.key(spi))])
            }
        }
        savedSPIs.formUnion(changes.updated.map(\.localSPI))
        savedSPIs.subtract(removed)
    }

    /// Returns the row key of an SA: its local SPI in hex.
    private static func key(_ localSPI: UInt64) -> String {
        String(localSPI, radix: 16)
    }

    /// Reads the sa-manager operations not yet confirmed, oldest first, with their row ids.
    func loadOperations() throws -> [QueuedOperation] {
        try database.query(
            "SELECT position, operation FROM pending_operation ORDER BY position"
        ).compactMap {
            guard case .integer(let id) = $0[0], case .blob(let bytes) = $0[1],
                let operation = try? decoder.decode(SAManagerOperation.self, from: Data(bytes))
            else { return nil }
            return QueuedOperation(id: id, operation: operation)
        }
    }

    /// Records an operation added at the end of the queue; `flush` or
    /// `apply` writes it, one row per operation.
    func appendOperation(_ queued: QueuedOperation) {
        stagedAppends[queued.id] = queued.operation
    }

    /// Records that the operation with row id `id` left the queue.
    func removeOperation(id: Int64) {
        if stagedAppends.removeValue(forKey: id) == nil { stagedRemovals.append(id) }
    }

    /// True when recorded queue changes wait for `flush` or `apply`.
    var hasStagedOperations: Bool { !stagedAppends.isEmpty || !stagedRemovals.isEmpty }

    /// Writes the recorded queue changes in one transaction. They stay
    /// recorded when writing fails, for the next call.
    func flush() throws {
        guard hasStagedOperations else { return }
        try database.transaction { try writeStagedOperations() }
    }

    private func writeStagedOperations() throws {
        for (id, operation) in stagedAppends.sorted(by: { $0.key < $1.key }) {
            try database.run(
                "INSERT OR REPLACE INTO pending_operation (position, operation) VALUES (?, ?)",
                [.integer(id), .blob(try encoder.encode(operation))])
        }
        for id in stagedRemovals {
            try database.run("DELETE FROM pending_operation WHERE position = ?", [.integer(id)])
        }
        stagedAppends = [:]
        stagedRemovals = []
    }
}
