-- When a citizen was last called (a recall calls again): the call display
-- shows the latest call first and chimes again for a recall.
ALTER TABLE bookings ADD COLUMN called_at TIMESTAMPTZ;

-- "Sie sind gleich dran": a mail when two numbers remain ahead, once per
-- booking.
ALTER TABLE bookings ADD COLUMN soon_mailed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mail_outbox DROP CONSTRAINT mail_outbox_kind_check;
ALTER TABLE mail_outbox ADD CONSTRAINT mail_outbox_kind_check
    CHECK (kind IN ('confirmation', 'rescheduled', 'cancelled', 'reminder', 'soon'));
