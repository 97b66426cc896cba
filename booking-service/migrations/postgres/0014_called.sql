-- Calling: a citizen who arrived (checked_in) is called to their counter
-- (called), then served (completed) or missed (no_show).
ALTER TABLE bookings DROP CONSTRAINT bookings_status_check;
ALTER TABLE bookings ADD CONSTRAINT bookings_status_check
    CHECK (status IN ('pending', 'booked', 'checked_in', 'called', 'completed', 'no_show', 'cancelled'));
