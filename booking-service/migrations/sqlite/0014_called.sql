-- Calling: a citizen who arrived (checked_in) is called to their counter
-- (called), then served (completed) or missed (no_show). SQLite cannot
-- change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE bookings_new (
    office_id            TEXT    NOT NULL,
    code                 TEXT    NOT NULL,
    counter_id           TEXT    NOT NULL,
    concern_ids          TEXT    NOT NULL,
    start_at             INTEGER NOT NULL,
    end_at               INTEGER NOT NULL,
    status               TEXT    NOT NULL DEFAULT 'booked'
        CHECK (status IN ('pending', 'booked', 'checked_in', 'called', 'completed', 'no_show', 'cancelled')),
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
    email_normalized     TEXT    NOT NULL DEFAULT '',
    anonymised_at        INTEGER,
    client_key           BLOB,
    confirm_by           INTEGER,
    confirm_hash         BLOB,
    language             TEXT    NOT NULL DEFAULT 'de',
    waiting_number       TEXT,
    waiting_day          TEXT,
    PRIMARY KEY (office_id, code),
    UNIQUE (office_id, idempotency_key_hash),
    CHECK (start_at < end_at)
);

INSERT INTO bookings_new (office_id, code, counter_id, concern_ids, start_at, end_at, status, name, email, phone,
    token_hash, idempotency_key_hash, request_hash, token_sealed, created_at, updated_at, channel, email_normalized,
    anonymised_at, client_key, confirm_by, confirm_hash, language, waiting_number, waiting_day)
SELECT office_id, code, counter_id, concern_ids, start_at, end_at, status, name, email, phone,
    token_hash, idempotency_key_hash, request_hash, token_sealed, created_at, updated_at, channel, email_normalized,
    anonymised_at, client_key, confirm_by, confirm_hash, language, waiting_number, waiting_day
FROM bookings;

DROP TABLE bookings;
ALTER TABLE bookings_new RENAME TO bookings;

CREATE INDEX bookings_office_counter_time ON bookings (office_id, counter_id, start_at);
CREATE INDEX bookings_office_time ON bookings (office_id, start_at);
CREATE INDEX bookings_code ON bookings (code);
CREATE INDEX bookings_office_email ON bookings (office_id, email_normalized, start_at);
CREATE INDEX bookings_client_quota ON bookings (office_id, client_key, created_at);
CREATE INDEX bookings_pending ON bookings (confirm_by) WHERE status = 'pending';
CREATE UNIQUE INDEX bookings_waiting_numbers ON bookings (office_id, waiting_day, waiting_number)
    WHERE waiting_number IS NOT NULL;
