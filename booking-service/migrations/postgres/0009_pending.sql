-- Bookings an office wants confirmed by email start as 'pending' and hold
-- their counter (the exclusion constraint covers every status but
-- cancelled) until `confirm_by`; unconfirmed, they are released.
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('pending', 'booked', 'checked_in', 'completed', 'no_show', 'cancelled'));
ALTER TABLE bookings ADD COLUMN confirm_by TIMESTAMPTZ;
-- The hash of the secret only the confirmation mail carries.
ALTER TABLE bookings ADD COLUMN confirm_hash BYTEA;
CREATE INDEX bookings_pending ON bookings (confirm_by) WHERE status = 'pending';
