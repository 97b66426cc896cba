-- How far each office's change log has been pruned: a reader resuming below
-- this position has missed changes and starts again from a snapshot. (The
-- log's positions may have gaps, so its oldest entry cannot tell.)
CREATE TABLE change_log_horizons (
    office_id      TEXT   NOT NULL,
    pruned_through BIGINT NOT NULL,
    CONSTRAINT change_log_horizons_pkey PRIMARY KEY (office_id)
);

-- Until now the log was gap-free: what lies below its oldest entry was pruned.
INSERT INTO change_log_horizons (office_id, pruned_through)
SELECT office_id, MIN(sequence) - 1 FROM booking_events GROUP BY office_id HAVING MIN(sequence) > 1;
