-- An offer's mail carries its own secret: it opens the offer's page and
-- answers the offer (the entry's token does too). Only its hash is kept.
-- The hold's booking token is drawn when the offer is accepted, so no
-- token waits in the table.
ALTER TABLE waitlist_offers ADD COLUMN secret_hash BLOB;
ALTER TABLE waitlist_offers DROP COLUMN token;
CREATE INDEX waitlist_offers_code ON waitlist_offers (office_id, code);
-- The order of confirmation, per office: confirmed_at alone ties within a
-- second on SQLite, which keeps instants in seconds.
ALTER TABLE waitlist_entries ADD COLUMN place INTEGER NOT NULL DEFAULT 0;
CREATE INDEX waitlist_entries_place ON waitlist_entries (office_id, place);
-- The lottery of a newly released day, drawn once per office and day: the
-- replica that inserts the row draws it.
CREATE TABLE waitlist_lotteries (
    office_id TEXT NOT NULL,
    day       TEXT NOT NULL,
    drawn_at  INTEGER NOT NULL,
    PRIMARY KEY (office_id, day)
);
