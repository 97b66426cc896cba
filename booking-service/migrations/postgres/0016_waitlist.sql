-- The waitlist ("Terminwecker"): citizens ask to be offered a time for
-- their concerns within a range of days. An entry takes part once its email
-- address is confirmed; entries are served in the order of confirmation.
CREATE TABLE waitlist_entries (
    office_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    -- The entry's secret (manage link), as SHA-256.
    token_hash       BYTEA    NOT NULL,
    -- The secret of the confirmation mail, as SHA-256; NULL once confirmed.
    confirm_hash     BYTEA,
    concern_ids      TEXT    NOT NULL,
    from_day         TEXT    NOT NULL,
    to_day           TEXT    NOT NULL,
    time_of_day      TEXT    NOT NULL CHECK (time_of_day IN ('any', 'morning', 'afternoon')),
    name             TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL,
    language         TEXT    NOT NULL DEFAULT 'de',
    status           TEXT    NOT NULL
        CHECK (status IN ('unconfirmed', 'active', 'fulfilled', 'withdrawn', 'ended')),
    created_at       TIMESTAMPTZ NOT NULL,
    confirmed_at     TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL,
    offers_made      INTEGER NOT NULL DEFAULT 0,
    -- The offer waiting for an answer, if any.
    open_offer       TEXT,
    PRIMARY KEY (office_id, id),
    CHECK (from_day <= to_day)
);
CREATE INDEX waitlist_entries_queue ON waitlist_entries (office_id, status, confirmed_at);
CREATE INDEX waitlist_entries_email ON waitlist_entries (office_id, email_normalized, status);

-- A time offered to an entry: held for it by a pending booking (`code`)
-- that nobody else can take, until the citizen accepts or declines or the
-- offer expires; then it passes to the next entry.
CREATE TABLE waitlist_offers (
    office_id   TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    entry_id    TEXT        NOT NULL,
    code        TEXT        NOT NULL,
    counter_id  TEXT        NOT NULL,
    start_at    TIMESTAMPTZ NOT NULL,
    end_at      TIMESTAMPTZ NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('offered', 'accepted', 'declined', 'expired')),
    created_at  TIMESTAMPTZ NOT NULL,
    -- When the mail goes out (after quiet hours, if made in them).
    sent_at     TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    answered_at TIMESTAMPTZ,
    -- The hold's booking token, for the answer to an accept; erased then.
    token       TEXT,
    PRIMARY KEY (office_id, id),
    UNIQUE (office_id, code)
);
CREATE INDEX waitlist_offers_entry ON waitlist_offers (office_id, entry_id);
CREATE INDEX waitlist_offers_open ON waitlist_offers (expires_at) WHERE status = 'offered';
-- The citizen's calls name the entry by id alone.
CREATE INDEX waitlist_entries_id ON waitlist_entries (id);
