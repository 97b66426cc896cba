-- The booking life cycle: booked -> checked_in -> completed, booked -> no_show,
-- booked -> cancelled. Every status but cancelled keeps its counter busy.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE bookings_new (
    office_id            TEXT    NOT NULL,
    code                 TEXT    NOT NULL,
    counter_id           TEXT    NOT NULL,
    concern_ids          TEXT    NOT NULL,
    start_at             INTEGER NOT NULL,
    end_at               INTEGER NOT NULL,
    status               TEXT    NOT NULL DEFAULT 'booked'
        CHECK (status IN ('booked', 'checked_in', 'completed', 'no_show', 'cancelled')),
    name                 TEXT    NOT NULL,
    email                TEXT    NOT NULL,
    phone                TEXT    NOT NULL DEFAULT '',
    token_hash           BLOB    NOT NULL,
    idempotency_key_hash BLOB,
    request_hash         BLOB,
    token_sealed         BLOB,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    channel              TEXT    NOT NULL DEFAULT 'online' CHECK (channel IN ('online', 'foyer', 'phone')),
    -- The email address as counted for the per-address limit (lower case,
    -- without a "+tag"); emptied with the personal data.
    email_normalized     TEXT    NOT NULL DEFAULT '',
    -- When the retention job removed the personal data.
    anonymised_at        INTEGER,
    PRIMARY KEY (office_id, code),
    UNIQUE (office_id, idempotency_key_hash),
    CHECK (start_at < end_at)
);

INSERT INTO bookings_new (office_id, code, counter_id, concern_ids, start_at, end_at, status, name, email, phone,
    token_hash, idempotency_key_hash, request_hash, token_sealed, created_at, updated_at, channel, email_normalized)
SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, name, email, phone,
    token_hash, idempotency_key_hash, request_hash, token_sealed, created_at, updated_at, channel, lower(email)
FROM bookings;

DROP TABLE bookings;
ALTER TABLE bookings_new RENAME TO bookings;

CREATE INDEX bookings_office_counter_time ON bookings (office_id, counter_id, start_at);
CREATE INDEX bookings_office_time ON bookings (office_id, start_at);
CREATE INDEX bookings_code ON bookings (code);
CREATE INDEX bookings_office_email ON bookings (office_id, email_normalized, start_at);

-- Who changed what, when: one entry per change of a booking.
CREATE TABLE booking_history (
    office_id   TEXT    NOT NULL,
    code        TEXT    NOT NULL,
    entry       INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    -- "citizen", "system" or "staff:<id>"
    actor       TEXT    NOT NULL,
    from_status TEXT,
    to_status   TEXT    NOT NULL,
    -- Free text (e.g. a staff note); personal data, removed by retention.
    detail      TEXT,
    PRIMARY KEY (office_id, code, entry)
);

INSERT INTO booking_history (office_id, code, entry, at, actor, from_status, to_status)
SELECT office_id, code, 1, created_at, 'citizen', NULL, 'booked' FROM bookings;
