-- Webhooks: an office's subscriptions, and the outbox of their deliveries,
-- written in the transaction of the change they report.
CREATE TABLE webhooks (
    office_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    url           TEXT NOT NULL,
    -- The signing secret: HMAC needs it as it is.
    secret        TEXT NOT NULL,
    -- Event types, comma-separated; empty: all.
    events        TEXT NOT NULL,
    personal_data INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    deleted_at    INTEGER,
    PRIMARY KEY (office_id, id)
);

CREATE TABLE webhook_deliveries (
    office_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    webhook_id      TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    delivered_at    INTEGER,
    failed_at       INTEGER,
    PRIMARY KEY (office_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (office_id, webhook_id, created_at);
