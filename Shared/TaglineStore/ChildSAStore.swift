// sa-manager's persistent state: installed Child SAs (as JSON, keys
// included, so the file is created with mode 0600), the SPIs in use, the
// next free outbound sequence number per SA, and the counter totals.

import Foundation
import TaglineCore

/// The SAD of sa-manager in SQLite.
public final class ChildSAStore {
    public let database: SQLiteDatabase
    /// Inbound SPIs below 256 are reserved by RFC 4303 §2.1.
    public static let minimumSPI: UInt32 = 256

    /// Opens (or creates) the SAD tables in `database`.
    public init(database: SQLiteDatabase) throws {
        self.database = database
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS used_spi (
                spi INTEGER PRIMARY KEY,
                reserved_at REAL NOT NULL
            );
            CREATE TABLE IF NOT EXISTS child_sa (
                inbound_spi INTEGER PRIMARY KEY REFERENCES used_spi (spi),
                json TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS sequence_lease (
                inbound_spi INTEGER PRIMARY KEY
                    REFERENCES child_sa (inbound_spi) ON DELETE CASCADE,
                next_sequence INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS counter_total (
                inbound_spi INTEGER PRIMARY KEY
                    REFERENCES child_sa (inbound_spi) ON DELETE CASCADE,
                base TEXT NOT NULL,
                current TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS ledger_state (
                name TEXT PRIMARY KEY,
                value REAL
            );
            """)
    }

    /// Opens (or creates) the database file at `path` with the SAD tables.
    public convenience init(path: String) throws {
        try self.init(database: SQLiteDatabase(path: path))
    }

    // MARK: SPIs

    /// Reserves `spi` at `time` (seconds since the Unix epoch); returns false
    /// when it is already in use or below 256.
    public func reserveSPI(_ spi: UInt32, at time: Double) throws -> Bool {
        guard spi >= ChildSAStore.minimumSPI else { return false }
        try database.run(
            "INSERT OR IGNORE INTO used_spi (spi, reserved_at) VALUES (?, ?)",
            [.integer(Int64(spi)), .real(time)])
        return database.changes > 0
    }

    /// Picks a random unused SPI of at least 256 and reserves it, so two
    /// live SAs never share an inbound SPI. Throws after 1000 collisions,
    /// which takes a table with billions of SPIs in use.
    public func allocateSPI<G: RandomNumberGenerator>(at time: Double, using generator: inout G)
        throws -> UInt32
    {
        for _ in 0..<1000 {
            let spi = UInt32.random(in: ChildSAStore.minimumSPI...UInt32.max, using: &generator)
            if try reserveSPI(spi, at: time) { return spi }
        }
        throw StoreError.noFreeSPI(attempts: 1000)
    }

    /// Reserves `count` random unused SPIs in one transaction, which costs one
    /// commit instead of `count`. Throws like `allocateSPI`.
    public func allocateSPIs<G: RandomNumberGenerator>(
        count: Int, at time: Double, using generator: inout G
    ) throws -> [UInt32] {
        try database.transaction {
            try (0..<count).map { _ in try allocateSPI(at: time, using: &generator) }
        }
    }

    /// Releases a reservation; an SPI that still has an installed SA stays in use.
    public func releaseSPI(_ spi: UInt32) throws {
        try database.run(
            """
            DELETE FROM used_spi WHERE spi = ?
                AND NOT EXISTS (SELECT 1 FROM child_sa WHERE inbound_spi = used_spi.spi)
            """, [.integer(Int64(spi))])
    }

    /// Releases reservations older than `time` that never got an installed
    /// SA (negotiations that failed); returns how many were released.
    @discardableResult
    public func releaseStaleReservations(olderThan time: Double) throws -> Int {
        try database.run(
            """
            DELETE FROM used_spi WHERE reserved_at < ?
                AND NOT EXISTS (SELECT 1 FROM child_sa WHERE inbound_spi = used_spi.spi)
            """, [.real(time)])
        return database.changes
    }

    /// Returns every SPI that is reserved or carries an installed SA.
    public func usedSPIs() throws -> Set<UInt32> {
        let rows = try database.query("SELECT spi FROM used_spi")
        return Set(rows.compactMap { $0.first?.integer.flatMap { UInt32(exactly: $0) } })
    }

    // MARK: Child SAs

    /// Stores or replaces `childSA` under its inbound SPI and marks the SPI
    /// used, in one transaction committed before this returns.
    public func save(_ childSA: ChildSA, at time: Double) throws {
        let json = String(decoding: try SortedJSONEncoder().encode(childSA), as: UTF8.self)
        let spi = SQLiteValue.integer(Int64(childSA.inboundSPI))
        try database.transaction {
            try database.run(
                "INSERT OR IGNORE INTO used_spi (spi, reserved_at) VALUES (?, ?)",
                [spi, .real(time)])
            try database.run(
                "INSERT OR REPLACE INTO child_sa (inbound_spi, json) VALUES (?, ?)",
                [spi, .text(json)])
        }
    }

    /// Stores or replaces `childSAs` in order, as `save(_:at:)` does, in one transaction.
    public func save(_ childSAs: [ChildSA], at time: Double) throws {
        try database.transaction {
            for childSA in childSAs { try save(childSA, at: time) }
        }
    }

    /// Deletes the SA with `inboundSPI`, its lease and counters, and frees the
    /// SPI. Returns false when no such SA was stored.
    @discardableResult
    public func delete(inboundSPI: UInt32) throws -> Bool {
        let spi = SQLiteValue.integer(Int64(inboundSPI))
        return try database.transaction {
            try database.run("DELETE FROM child_sa WHERE inbound_spi = ?", [spi])
            let existed = database.changes > 0
            try database.run("DELETE FROM used_spi WHERE spi = ?", [spi])
            return existed
        }
    }

    /// Loads the SA stored under `inboundSPI`.
    public func childSA(inboundSPI: UInt32) throws -> ChildSA? {
        let rows = try database.query(
            "SELECT inbound_spi, json FROM child_sa WHERE inbound_spi = ?",
            [.integer(Int64(inboundSPI))])
        return try rows.first.map(ChildSAStore.decodeChildSA)
    }

    /// Loads every stored SA, sorted by inbound SPI.
    public func loadAll() throws -> [ChildSA] {
        try database.query("SELECT inbound_spi, json FROM child_sa ORDER BY inbound_spi")
            .map(ChildSAStore.decodeChildSA)
    }

    private static func decodeChildSA(_ row: [SQLiteValue]) throws -> ChildSA {
        let key = row.first.map { "\($0.integer ?? -1)" } ?? "?"
        guard row.count == 2, let json = row[1].text else {
            throw StoreError.invalidRow(table: "child_sa", key: key, reason: "json is not text")
        }
        do {
            return try JSONDecoder().decode(ChildSA.self, from: Data(json.utf8))
        } catch {
            throw StoreError.invalidRow(table: "child_sa", key: key, reason: "\(error)")
        }
    }

    // MARK: Sequence-number leases

    /// Grants the next `count` outbound sequence numbers of an installed SA
    /// and commits the new high-water mark before returning, so a restarted
    /// dataplane never gets a number twice. ESP numbers start at 1. The lease
    /// is cut short at UInt64.max, and is empty once the space is used up.
    /// Returns nil when no SA has `inboundSPI`.
    public func leaseSequenceNumbers(inboundSPI: UInt32, count: UInt64) throws
        -> (first: UInt64, count: UInt64)?
    {
        let spi = SQLiteValue.integer(Int64(inboundSPI))
        return try database.transaction {
            let exists = try database.query("SELECT 1 FROM child_sa WHERE inbound_spi = ?", [spi])
            guard !exists.isEmpty else { return nil }
            let rows = try database.query(
                "SELECT next_sequence FROM sequence_lease WHERE inbound_spi = ?", [spi])
            let first = rows.first?.first?.unsigned ?? 1
            let (end, overflow) = first.addingReportingOverflow(count)
            let next = overflow ? UInt64.max : end
            try database.run(
                "INSERT OR REPLACE INTO sequence_lease (inbound_spi, next_sequence) VALUES (?, ?)",
                [spi, .unsigned(next)])
            return (first, next - first)
        }
    }

    /// Returns the first sequence number not yet leased for `inboundSPI` (1 before any lease).
    public func nextSequence(inboundSPI: UInt32) throws -> UInt64 {
        let rows = try database.query(
            "SELECT next_sequence FROM sequence_lease WHERE inbound_spi = ?",
            [.integer(Int64(inboundSPI))])
        return rows.first?.first?.unsigned ?? 1
    }

    // MARK: Counter totals

    /// Stores the ledger rows of `spis` (those of installed SAs) and the
    /// dataplane start time, in one transaction.
    public func saveCounters(_ ledger: CounterLedger, spis: Set<UInt32>) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try database.transaction {
            try database.run(
                """
                INSERT OR REPLACE INTO ledger_state (name, value)
                VALUES ('dataplane_started_at', ?)
                """,
                [ledger.dataplaneStartedAt.map { .real($0) } ?? .null])
            for spi in spis.sorted() {
                let key = SQLiteValue.integer(Int64(spi))
                let installed = try database.query(
                    "SELECT 1 FROM child_sa WHERE inbound_spi = ?", [key])
                guard !installed.isEmpty else { continue }
                let base = try encoder.encode(ledger.base[spi] ?? SACounters())
                let current = try encoder.encode(ledger.current[spi] ?? SACounters())
                try database.run(
                    """
                    INSERT OR REPLACE INTO counter_total (inbound_spi, base, current)
                    VALUES (?, ?, ?)
                    """,
                    [
                        key, .text(String(decoding: base, as: UTF8.self)),
                        .text(String(decoding: current, as: UTF8.self)),
                    ])
            }
        }
    }

    /// Loads the ledger saved by `saveCounters`.
    public func loadCounters() throws -> CounterLedger {
        let started = try database.query(
            "SELECT value FROM ledger_state WHERE name = 'dataplane_started_at'"
        ).first?.first?.real
        var base: [UInt32: SACounters] = [:]
        var current: [UInt32: SACounters] = [:]
        let decoder = JSONDecoder()
        for row in try database.query("SELECT inbound_spi, base, current FROM counter_total") {
            let key = "\(row.first?.integer ?? -1)"
            guard row.count == 3, let number = row[0].integer, let spi = UInt32(exactly: number),
                let baseText = row[1].text, let currentText = row[2].text
            else {
                throw StoreError.invalidRow(
                    table: "counter_total", key: key,
                    reason: "unexpected column types")
            }
            do {
                base[spi] = try decoder.decode(SACounters.self, from: Data(baseText.utf8))
                current[spi] = try decoder.decode(SACounters.self, from: Data(currentText.utf8))
            } catch {
                throw StoreError.invalidRow(table: "counter_total", key: key, reason: "\(error)")
            }
        }
        return CounterLedger(dataplaneStartedAt: started, base: base, current: current)
    }
}
