// Persistence of the negotiator's state in STATE_DIR/ike.db: the IKE SAs as
// JSON (keys included, so the file is created with mode 0600) and the
// sa-manager operations not yet confirmed.

import Foundation
import TaglineCore
import TaglineIKE
import TaglineStore

final class IKEStateStore {
    private let database: SQLiteDatabase
    private var lastSaved: [UInt64: [UInt8]] = [:]
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    init(path: String) throws {
        database = try SQLiteDatabase(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS ike_sa (local_spi TEXT PRIMARY KEY, state BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS pending_operation (
                position INTEGER PRIMARY KEY, operation BLOB NOT NULL);
            """)
    }

    /// Reads the saved IKE SAs; entries that no longer decode are skipped.
    func loadStates() throws -> [IKESAState] {
        var states: [IKESAState] = []
        for row in try database.query("SELECT state FROM ike_sa") {
            guard case .blob(let bytes) = row[0],
                let state = try? decoder.decode(IKESAState.self, from: Data(bytes))
            else { continue }
            states.append(state)
            lastSaved[state.localSPI] = bytes
        }
        return states
    }

    /// Writes the SAs that changed since the last call and removes those that are gone.
    func save(_ states: [IKESAState]) throws {
        var current: [UInt64: [UInt8]] = [:]
        for state in states {
            current[state.localSPI] = Array(try encoder.encode(state))
        }
        guard current != lastSaved else { return }
        try database.transaction {
            for (spi, bytes) in current where lastSaved[spi] != bytes {
                try database.run(
                    "INSERT OR REPLACE INTO ike_sa (local_spi, state) VALUES (?, ?)",
                    [.text(String(spi, radix: 16)), .blob(bytes)])
            }
            for spi in lastSaved.keys where current[spi] == nil {
                try database.run(
                    "DELETE FROM ike_sa WHERE local_spi = ?", [.text(String(spi, radix: 16))])
            }
        }
        lastSaved = current
    }

    func loadOperations() throws -> [SAManagerOperation] {
        try database.query("SELECT operation FROM pending_operation ORDER BY position").compactMap {
            guard case .blob(let bytes) = $0[0] else { return nil }
            return try? decoder.decode(SAManagerOperation.self, from: Data(bytes))
        }
    }

    func saveOperations(_ operations: [SAManagerOperation]) throws {
        try database.transaction {
            try database.run("DELETE FROM pending_operation")
            for (position, operation) in operations.enumerated() {
                try database.run(
                    "INSERT INTO pending_operation (position, operation) VALUES (?, ?)",
                    [.integer(Int64(position)), .blob(Array(try encoder.encode(operation)))])
            }
        }
    }
}
