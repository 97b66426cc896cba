-- When a citizen was last called (a recall calls again): the call display
-- shows the latest call first and chimes again for a recall.
ALTER TABLE bookings ADD COLUMN called_at TIMESTAMPTZ;

-- The steps the statistics count, kept with the booking as they happen (the
-- history has them too, but a year of statistics then needs a join over
-- every entry): first arrival, first call, completion, and whether it was
-- released before its confirmation by mail.
ALTER TABLE bookings ADD COLUMN arrived_at TIMESTAMPTZ;
ALTER TABLE bookings ADD COLUMN first_called_at TIMESTAMPTZ;
ALTER TABLE bookings ADD COLUMN completed_at TIMESTAMPTZ;
ALTER TABLE bookings ADD COLUMN never_confirmed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE bookings SET
    arrived_at = (SELECT MIN(h.at) FROM booking_history h
        WHERE h.office_id = bookings.office_id AND h.code = bookings.code AND h.to_status = 'checked_in'),
    first_called_at = (SELECT MIN(h.at) FROM booking_history h
        WHERE h.office_id = bookings.office_id AND h.code = bookings.code AND h.to_status = 'called'),
    completed_at = (SELECT MIN(h.at) FROM booking_history h
        WHERE h.office_id = bookings.office_id AND h.code = bookings.code AND h.to_status = 'completed'),
    never_confirmed = EXISTS (SELECT 1 FROM booking_history h
        WHERE h.office_id = bookings.office_id AND h.code = bookings.code
        AND h.from_status = 'pending' AND h.to_status = 'cancelled');

-- "Sie sind gleich dran": a mail when two numbers remain ahead, once per
-- booking. The outbox takes it and the waitlist's mails (confirming an
-- entry, offering a time; their `code` is the entry's id or the offered
-- hold's code).
ALTER TABLE bookings ADD COLUMN soon_mailed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('confirmation', 'rescheduled', 'cancelled', 'reminder', 'soon', 'waitlist_confirm',
        'waitlist_offer'));
