-- The administration's audit log: what staff and admins did besides the
-- bookings' own history (sign-ins, absences, configuration changes,
-- webhooks, calendar feeds, staff accounts). No citizen data: booking
-- actions are read from booking_history, whose notes go with the booking's
-- personal data. Instants are UTC seconds since the epoch.
CREATE TABLE audit_events (
    office_id TEXT    NOT NULL,
    id        TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    subject   TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (office_id, id)
);
CREATE INDEX audit_events_office_at ON audit_events (office_id, at);
CREATE INDEX booking_history_office_at ON booking_history (office_id, at);
