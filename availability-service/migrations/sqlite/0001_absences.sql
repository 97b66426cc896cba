-- Counter absences (illness, leave, training) recorded by staff at runtime.
-- Instants are UTC seconds since the epoch.
CREATE TABLE absences (
    office_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    counter_id TEXT    NOT NULL,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (office_id, id),
    CHECK (start_at < end_at)
);

CREATE INDEX absences_office_end ON absences (office_id, end_at);
