-- Mails to send (confirmation, move, cancellation, reminder), written in the
-- same transaction as the booking change they announce, and sent by a worker
-- that retries with backoff: a mail server being down never fails or loses
-- a booking.
CREATE TABLE mail_outbox (
    office_id       TEXT        NOT NULL,
    id              TEXT        NOT NULL,
    code            TEXT        NOT NULL,
    kind            TEXT        NOT NULL CHECK (kind IN ('confirmation', 'rescheduled', 'cancelled', 'reminder')),
    -- The booking's secret for the manage link in the mail; erased as soon as
    -- the mail is sent or given up.
    token           TEXT,
    due_at          INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    failed_at       INTEGER,
    last_error      TEXT,
    PRIMARY KEY (office_id, id)
);

CREATE INDEX mail_outbox_pending ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_booking ON mail_outbox (office_id, code);
