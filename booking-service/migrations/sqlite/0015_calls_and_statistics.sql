-- When a citizen was last called (a recall calls again): the call display
-- shows the latest call first and chimes again for a recall.
ALTER TABLE bookings ADD COLUMN called_at INTEGER;

-- The steps the statistics count, kept with the booking as they happen (the
-- history has them too, but a year of statistics then needs a join over
-- every entry): first arrival, first call, completion, and whether it was
-- released before its confirmation by mail.
ALTER TABLE bookings ADD COLUMN arrived_at INTEGER;
ALTER TABLE bookings ADD COLUMN first_called_at INTEGER;
ALTER TABLE bookings ADD COLUMN completed_at INTEGER;
ALTER TABLE bookings ADD COLUMN never_confirmed INTEGER NOT NULL DEFAULT 0;
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
-- hold's code). SQLite cannot change a CHECK constraint in place, so the
-- outbox is rebuilt for the new kinds.
ALTER TABLE bookings ADD COLUMN soon_mailed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mail_outbox_new (
    office_id       TEXT        NOT NULL,
    id              TEXT        NOT NULL,
    code            TEXT        NOT NULL,
    kind            TEXT        NOT NULL
        CHECK (kind IN ('confirmation', 'rescheduled', 'cancelled', 'reminder', 'soon', 'waitlist_confirm',
            'waitlist_offer')),
    token           TEXT,
    due_at          INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT,
    PRIMARY KEY (office_id, id)
);
INSERT INTO mail_outbox_new SELECT office_id, id, code, kind, token, due_at, next_attempt_at, attempts, sent_at,
    failed_at, last_error FROM mail_outbox;
DROP TABLE mail_outbox;
ALTER TABLE mail_outbox_new RENAME TO mail_outbox;
CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_booking ON mail_outbox (office_id, code);
