-- The offices' configuration at runtime: one document (TOML, one
-- [[offices]] table) per office, versioned. A removed office keeps its row
-- with no document, so its history goes on if it comes back.
-- Instants are UTC seconds since the epoch.
CREATE TABLE office_configurations (
    office_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    document   TEXT,
    position   INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT    NOT NULL,
    PRIMARY KEY (office_id),
    CHECK (version > 0)
);

-- Every change: who, when, before and after. The key makes two changes made
-- on the same version collide: one of them is refused.
CREATE TABLE office_configuration_changes (
    office_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    changed_at      INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    document_before TEXT,
    document_after  TEXT,
    reverts         INTEGER,
    PRIMARY KEY (office_id, version)
);
