-- Calendar feeds: secret iCalendar addresses of an office's (or a
-- counter's) coming bookings for staff calendars.
CREATE TABLE calendar_feeds (
    office_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    -- The address's secret, as SHA-256.
    token_hash BYTEA NOT NULL,
    -- Empty: the whole office.
    counter_id TEXT NOT NULL,
    names      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at TIMESTAMPTZ,
    PRIMARY KEY (office_id, id)
);
CREATE UNIQUE INDEX calendar_feeds_token ON calendar_feeds (office_id, token_hash);
