-- Bookings of all offices. Every key and constraint starts with office_id.
-- Instants are UTC seconds since the epoch.
CREATE TABLE bookings (
    office_id            TEXT    NOT NULL,
    code                 TEXT    NOT NULL,
    counter_id           TEXT    NOT NULL,
    -- Concern ids in request order, comma-separated (ids never contain commas).
    concern_ids          TEXT    NOT NULL,
    start_at             INTEGER NOT NULL,
    end_at               INTEGER NOT NULL,
    status               TEXT    NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    name                 TEXT    NOT NULL,
    email                TEXT    NOT NULL,
    phone                TEXT    NOT NULL DEFAULT '',
    -- SHA-256 of the secret token; the token itself is never stored.
    token_hash           BLOB    NOT NULL,
    -- Idempotency: hash of the client's key, hash of the request it came
    -- with, and the token sealed with the key so a retry can return it.
    idempotency_key_hash BLOB,
    request_hash         BLOB,
    token_sealed         BLOB,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (office_id, code),
    UNIQUE (office_id, idempotency_key_hash),
    CHECK (start_at < end_at)
);

-- Overlap checks per counter and interval queries per office.
CREATE INDEX bookings_office_counter_time ON bookings (office_id, counter_id, start_at);
CREATE INDEX bookings_office_time ON bookings (office_id, start_at);
-- The public API looks a booking up by its code (and token) alone.
CREATE INDEX bookings_code ON bookings (code);
