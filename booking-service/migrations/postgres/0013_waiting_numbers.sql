-- Waiting numbers: a citizen who arrives (checked in) gets the next number
-- of the office's day and kind, e.g. T-017 (booked) or W-042 (walk-in). The
-- counter row is taken in the check-in's transaction, so numbers are unique
-- and without gaps under concurrency; a new day starts again at 1.
CREATE TABLE waiting_counters (
    office_id   TEXT    NOT NULL,
    day         TEXT    NOT NULL,
    prefix      TEXT    NOT NULL,
    last_number BIGINT  NOT NULL,
    PRIMARY KEY (office_id, day, prefix)
);
ALTER TABLE bookings ADD COLUMN waiting_number TEXT;
ALTER TABLE bookings ADD COLUMN waiting_day TEXT;
CREATE UNIQUE INDEX bookings_waiting_numbers ON bookings (office_id, waiting_day, waiting_number)
    WHERE waiting_number IS NOT NULL;
