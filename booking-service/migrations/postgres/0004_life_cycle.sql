-- The booking life cycle: booked -> checked_in -> completed, booked -> no_show,
-- booked -> cancelled. Every status but cancelled keeps its counter busy.
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('booked', 'checked_in', 'completed', 'no_show', 'cancelled'));
ALTER TABLE bookings DROP CONSTRAINT bookings_no_double_booking;
ALTER TABLE bookings ADD CONSTRAINT bookings_no_double_booking EXCLUDE USING gist (
    office_id WITH =,
    counter_id WITH =,
    tstzrange(start_at, end_at, '[)') WITH &&
) WHERE (status <> 'cancelled');

-- The email address as counted for the per-address limit (lower case,
-- without a "+tag"); emptied with the personal data.
ALTER TABLE bookings ADD COLUMN email_normalized TEXT NOT NULL DEFAULT '';
UPDATE bookings SET email_normalized = lower(email);
-- When the retention job removed the personal data.
ALTER TABLE bookings ADD COLUMN anonymised_at TIMESTAMPTZ;
CREATE INDEX bookings_office_email ON bookings (office_id, email_normalized, start_at);

-- Who changed what, when: one entry per change of a booking.
CREATE TABLE booking_history (
    office_id   TEXT        NOT NULL,
    code        TEXT        NOT NULL,
    entry       INTEGER     NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    -- "citizen", "system" or "staff:<id>"
    actor       TEXT        NOT NULL,
    from_status TEXT,
    to_status   TEXT        NOT NULL,
    -- Free text (e.g. a staff note); personal data, removed by retention.
    detail      TEXT,
    CONSTRAINT booking_history_pkey PRIMARY KEY (office_id, code, entry)
);

INSERT INTO booking_history (office_id, code, entry, at, actor, from_status, to_status)
SELECT office_id, code, 1, created_at, 'citizen', NULL, 'booked' FROM bookings;
