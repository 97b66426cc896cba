-- When a citizen was last called (a recall calls again): the call display
-- shows the latest call first and chimes again for a recall.
ALTER TABLE bookings ADD COLUMN called_at INTEGER;

-- "Sie sind gleich dran": a mail when two numbers remain ahead, once per
-- booking. SQLite cannot change a CHECK constraint in place, so the outbox
-- is rebuilt for the new kind.
ALTER TABLE bookings ADD COLUMN soon_mailed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE mail_outbox_new (
    office_id       TEXT        NOT NULL,
    id              TEXT        NOT NULL,
    code            TEXT        NOT NULL,
    kind            TEXT        NOT NULL
        CHECK (kind IN ('confirmation', 'rescheduled', 'cancelled', 'reminder', 'soon')),
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
