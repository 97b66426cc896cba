-- Each office's latest change sequence, as on PostgreSQL: a change takes the
-- next value with one UPSERT in its own transaction, the same statement on
-- both backends.
CREATE TABLE office_sequences (
    office_id     TEXT    NOT NULL PRIMARY KEY,
    last_sequence INTEGER NOT NULL
);

INSERT INTO office_sequences (office_id, last_sequence)
SELECT office_id, MAX(sequence) FROM booking_events GROUP BY office_id;
