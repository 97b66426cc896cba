-- Whether a citizen gave the interval back (an online cancellation or move):
-- an office's release delay holds such slots back from the online channel.
ALTER TABLE booking_events ADD COLUMN by_citizen BOOLEAN NOT NULL DEFAULT false;
