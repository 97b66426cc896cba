-- A lottery is claimed for a few minutes: finished, it is done; a claim
-- whose replica died before finishing is taken over by another.
ALTER TABLE waitlist_lotteries ADD COLUMN finished_at INTEGER;
