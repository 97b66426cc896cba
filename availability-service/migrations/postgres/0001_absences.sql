-- Counter absences (illness, leave, training) recorded by staff at runtime.
CREATE TABLE absences (
    office_id  TEXT        NOT NULL,
    id         TEXT        NOT NULL,
    counter_id TEXT        NOT NULL,
    start_at   TIMESTAMPTZ NOT NULL,
    end_at     TIMESTAMPTZ NOT NULL,
    reason     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT absences_pkey PRIMARY KEY (office_id, id),
    CONSTRAINT absences_time_order CHECK (start_at < end_at)
);

CREATE INDEX absences_office_end ON absences (office_id, end_at);
