// Persistent IP-SGT bindings, one row per prefix and source. Every change is
// committed before the call returns, so an acknowledged change survives the
// service being killed.

import TaglineCore

/// The bindings of cts-binding-store in SQLite.
public final class BindingStore {
    public let database: SQLiteDatabase

    /// Opens (or creates) the binding tables in `database`.
    public init(database: SQLiteDatabase) throws {
        self.database = database
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS sgt_binding (
                prefix TEXT NOT NULL,
                source TEXT NOT NULL,
                sgt INTEGER NOT NULL CHECK (sgt BETWEEN 1 AND 65534),
                PRIMARY KEY (prefix, source)
            ) WITHOUT ROWID
            """)
    }

    /// Opens (or creates) the database file at `path` with the binding tables.
    public convenience init(path: String) throws {
        try self.init(database: SQLiteDatabase(path: path))
    }

    /// Adds or replaces the binding of `binding.source` for its prefix.
    public func add(_ binding: SGTBinding) throws {
        try database.run(
            "INSERT OR REPLACE INTO sgt_binding (prefix, source, sgt) VALUES (?, ?, ?)",
            [
                .text(binding.prefix.description), .text(binding.source.rawValue),
                .integer(Int64(binding.sgt.value)),
            ])
    }

    /// Deletes the binding of `source` for `prefix`; returns false when there was none.
    @discardableResult
    public func delete(prefix: IPPrefix, source: BindingSource) throws -> Bool {
        try database.run(
            "DELETE FROM sgt_binding WHERE prefix = ? AND source = ?",
            [.text(prefix.description), .text(source.rawValue)])
        return database.changes > 0
    }

    /// Applies adds (`sgt` set) and deletes (`sgt` nil) in order in one transaction, so a
    /// batch costs one commit. Returns, per change, whether it changed a stored row.
    /// Nothing is stored when any change fails.
    public func apply(_ changes: [(prefix: IPPrefix, source: BindingSource, sgt: SGT?)])
        throws -> [Bool]
    {
        try database.transaction {
            try changes.map { change in
                if let sgt = change.sgt {
                    try add(SGTBinding(prefix: change.prefix, sgt: sgt, source: change.source))
                    return true
                }
                return try delete(prefix: change.prefix, source: change.source)
            }
        }
    }

    /// Replaces every binding of `source` with `bindings` in one transaction,
    /// as a configuration reload does. Bindings of other sources are kept.
    public func replaceAll(source: BindingSource, with bindings: [SGTBinding]) throws {
        try database.transaction {
            try database.run("DELETE FROM sgt_binding WHERE source = ?", [.text(source.rawValue)])
            for binding in bindings {
                precondition(binding.source == source, "replaceAll got a \(binding.source) binding")
                try add(binding)
            }
        }
    }

    /// Lists the bindings of `source`, or of every source when nil, sorted by prefix text.
    public func list(source: BindingSource? = nil) throws -> [SGTBinding] {
        let rows: [[SQLiteValue]]
        if let source {
            rows = try database.query(
                "SELECT prefix, source, sgt FROM sgt_binding WHERE source = ? ORDER BY prefix",
                [.text(source.rawValue)])
        } else {
            rows = try database.query(
                "SELECT prefix, source, sgt FROM sgt_binding ORDER BY prefix, source")
        }
        return try rows.map(BindingStore.decode)
    }

    /// Loads every stored binding, for the service's start.
    public func loadAll() throws -> [SGTBinding] {
        try list()
    }

    private static func decode(_ row: [SQLiteValue]) throws -> SGTBinding {
        let key = row.first?.text ?? "?"
        func invalid(_ reason: String) -> StoreError {
            .invalidRow(table: "sgt_binding", key: key, reason: reason)
        }
        guard row.count == 3, let prefixText = row[0].text, let prefix = IPPrefix(prefixText)
        else { throw invalid("prefix is not an IP prefix") }
        guard let sourceText = row[1].text, let source = BindingSource(rawValue: sourceText)
        else { throw invalid("unknown source \(row[1])") }
        guard let number = row[2].integer, let value = UInt16(exactly: number),
            let sgt = SGT(value)
        else { throw invalid("SGT \(row[2]) is outside 1-65534") }
        return SGTBinding(prefix: prefix, sgt: sgt, source: source)
    }
}
