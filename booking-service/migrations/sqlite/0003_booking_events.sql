-- The change log of bookings, per office, in commit order: what the
-- availability service's projection follows (WatchBookings). Written in the
-- same transaction as the change itself.
CREATE TABLE booking_events (
    office_id  TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('booked', 'released')),
    code       TEXT    NOT NULL,
    counter_id TEXT    NOT NULL,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (office_id, sequence)
);

-- Bookings made before the log existed enter it once, in booking order.
INSERT INTO booking_events (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at)
SELECT office_id,
       ROW_NUMBER() OVER (PARTITION BY office_id ORDER BY created_at, code),
       'booked', code, counter_id, start_at, end_at, created_at
FROM bookings WHERE status = 'booked';
