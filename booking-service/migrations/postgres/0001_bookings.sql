-- Bookings of all offices. Every key and constraint starts with office_id, so
-- the table can be distributed by office (Citus) and each booking stays a
-- single-shard transaction.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE bookings (
    office_id            TEXT        NOT NULL,
    code                 TEXT        NOT NULL,
    counter_id           TEXT        NOT NULL,
    -- Concern ids in request order, comma-separated (ids never contain commas).
    concern_ids          TEXT        NOT NULL,
    start_at             TIMESTAMPTZ NOT NULL,
    end_at               TIMESTAMPTZ NOT NULL,
    status               TEXT        NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    name                 TEXT        NOT NULL,
    email                TEXT        NOT NULL,
    phone                TEXT        NOT NULL DEFAULT '',
    -- SHA-256 of the secret token; the token itself is never stored.
    token_hash           BYTEA       NOT NULL,
    -- Idempotency: hash of the client's key, hash of the request it came
    -- with, and the token sealed with the key so a retry can return it.
    idempotency_key_hash BYTEA,
    request_hash         BYTEA,
    token_sealed         BYTEA,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT bookings_pkey PRIMARY KEY (office_id, code),
    CONSTRAINT bookings_idempotency_key UNIQUE (office_id, idempotency_key_hash),
    CONSTRAINT bookings_time_order CHECK (start_at < end_at),
    -- The database itself refuses two active bookings of one counter that
    -- overlap in time, whatever number of booking-service replicas insert.
    CONSTRAINT bookings_no_double_booking EXCLUDE USING gist (
        office_id WITH =,
        counter_id WITH =,
        tstzrange(start_at, end_at, '[)') WITH &&
    ) WHERE (status = 'booked')
);

CREATE INDEX bookings_office_time ON bookings (office_id, start_at);
-- The public API looks a booking up by its code (and token) alone.
CREATE INDEX bookings_code ON bookings (code);
