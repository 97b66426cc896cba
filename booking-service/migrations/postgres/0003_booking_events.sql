-- The change log of bookings, per office, in commit order: what the
-- availability service's projection follows (WatchBookings). Written in the
-- same transaction as the change itself; the office's row in
-- office_sequences is locked while doing so, so sequence order is commit
-- order and a reader never sees a gap fill later.
CREATE TABLE office_sequences (
    office_id     TEXT   NOT NULL,
    last_sequence BIGINT NOT NULL,
    CONSTRAINT office_sequences_pkey PRIMARY KEY (office_id)
);

CREATE TABLE booking_events (
    office_id  TEXT        NOT NULL,
    sequence   BIGINT      NOT NULL,
    kind       TEXT        NOT NULL CHECK (kind IN ('booked', 'released')),
    code       TEXT        NOT NULL,
    counter_id TEXT        NOT NULL,
    start_at   TIMESTAMPTZ NOT NULL,
    end_at     TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT booking_events_pkey PRIMARY KEY (office_id, sequence)
);

-- Bookings made before the log existed enter it once, in booking order.
INSERT INTO booking_events (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at)
SELECT office_id,
       ROW_NUMBER() OVER (PARTITION BY office_id ORDER BY created_at, code),
       'booked', code, counter_id, start_at, end_at, created_at
FROM bookings WHERE status = 'booked';

INSERT INTO office_sequences (office_id, last_sequence)
SELECT office_id, MAX(sequence) FROM booking_events GROUP BY office_id;
